#define _GNU_SOURCE
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "linux/prim.h"

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int ms__afile_create(ms__afile *f, const char *path)
{
	f->fd = -1;
	f->tmp = NULL;
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	char *dir = dir_of(path);
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!dir || !*base) {
		free(dir);
		free(f->path);
		f->path = NULL;
		return dir ? -EISDIR : -ENOMEM;
	}
	int err = -EEXIST;
	/* A name unique to this call: pid, clock and the struct's address;
	 * O_EXCL makes a clash a retry, never a shared file. */
	for (unsigned attempt = 0; attempt < 100 && err == -EEXIST; attempt++) {
		free(f->tmp);
		if (asprintf(&f->tmp, "%s/.%s.tmp-%ld-%llx-%u", dir, base, (long)getpid(),
			     (unsigned long long)(ms__now_ns() ^ (uintptr_t)f), attempt) < 0) {
			f->tmp = NULL;
			err = -ENOMEM;
			break;
		}
		err = ms__open(f->tmp, O_RDWR | O_CREAT | O_EXCL, 0666);
	}
	free(dir);
	if (err < 0) {
		free(f->tmp);
		free(f->path);
		f->tmp = f->path = NULL;
		return err;
	}
	f->fd = err;
	return 0;
}

int ms__afile_truncate(ms__afile *f, uint64_t size)
{
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	int fault = ms__fault_hit(MS__SYS_FTRUNCATE);
	if (fault)
		return fault;
	return ftruncate(f->fd, (off_t)size) == 0 ? 0 : -errno;
}

void ms__afile_abort(ms__afile *f)
{
	if (f->fd >= 0)
		ms__close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	f->fd = -1;
	f->tmp = f->path = NULL;
}

int ms__afile_commit(ms__afile *f)
{
	int err = ms__fsync(f->fd);
	if (!err) {
		err = ms__close(f->fd);
		f->fd = -1;
	}
	if (!err)
		err = ms__rename(f->tmp, f->path);
	if (err) {
		ms__afile_abort(f);
		return err;
	}
	/* The rename is only durable once the directory is synced. */
	char *dir = dir_of(f->path);
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
	if (!dir)
		return -ENOMEM;
	int dfd = ms__open(dir, O_RDONLY | O_DIRECTORY, 0);
	free(dir);
	if (dfd < 0)
		return dfd;
	err = ms__fsync(dfd);
	ms__close(dfd);
	/* Some file systems cannot sync a directory; the data is written. */
	return err == -EINVAL || err == -EROFS ? 0 : err;
}

int ms__pwritev_all(int fd, struct iovec *iov, size_t n, uint64_t off)
{
	while (n > 0) {
		int k = n > IOV_MAX ? IOV_MAX : (int)n;
		int fault = ms__fault_hit(MS__SYS_WRITE);
		ssize_t w = fault ? -1 : pwritev(fd, iov, k, (off_t)off);
		if (w < 0) {
			if (!fault && errno == EINTR)
				continue;
			return fault ? fault : -errno;
		}
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		size_t skip = (size_t)w;
		while (n > 0 && skip >= iov->iov_len) {
			skip -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + skip;
			iov->iov_len -= skip;
		}
	}
	return 0;
}

/* Whether the plain snapshot `root` holds only holes in [pos, pos + len). */
static bool root_hole(const ms_snapshot *root, size_t pos, size_t len)
{
	off_t base = root->offset;
	off_t data = lseek(root->fd, base + (off_t)pos, SEEK_DATA);
	if (data < 0)
		return errno == ENXIO; /* ENXIO: only holes follow */
	return (uint64_t)(data - base) >= pos + len;
}

static uint64_t hash_zero(size_t len, const uint8_t *zero, size_t ps)
{
	XXH3_state_t *h = XXH3_createState();
	if (!h)
		return 0;
	XXH3_64bits_reset(h);
	for (size_t done = 0; done < len; done += ps)
		XXH3_64bits_update(h, zero, ps);
	uint64_t v = XXH3_64bits_digest(h);
	XXH3_freeState(h);
	return v;
}

/* What write_chunks writes: ms__write_pages's arguments. */
typedef struct write_job {
	int fd;
	uint64_t off;
	ms_snapshot *snap;
	const size_t *pages;
	size_t first, n, chunk;
	uint64_t *hashes;
} write_job;

/* Write (and hash) chunks [lo, hi) of a job. Chunks are independent: each
 * has its own place in the file and its own checksum. */
static int write_chunks(void *ctx, size_t lo, size_t hi)
{
	const write_job *job = ctx;
	const size_t *pages = job->pages;
	uint64_t *hashes = job->hashes;
	ms_snapshot *snap = job->snap;
	size_t ps = ms_page_size();
	unsigned shift = ms__page_shift();
	size_t per_chunk = job->chunk >> shift;
	int err = -ENOMEM;
	struct iovec *iov = malloc(per_chunk * sizeof *iov);
	uint8_t *zero = calloc(1, ps);
	XXH3_state_t *h = XXH3_createState();
	uint64_t zero_full = 0;
	bool zero_full_known = false;
	if (!iov || !zero || !h)
		goto out;
	ms_snapshot *root = snap->root;
	for (size_t c = lo; c < hi; c++) {
		size_t i0 = c * per_chunk;
		size_t k = job->n - i0 < per_chunk ? job->n - i0 : per_chunk;
		size_t first = job->first;
		/* A chunk of consecutive pages that the root stores as holes
		 * and no stacked level overrides is left as a hole. */
		bool hole =
		    !pages && root->fd >= 0 && root_hole(root, (first + i0) << shift, k << shift);
		for (size_t j = 0; hole && snap->ptab && j < k; j++)
			hole = ms__snapshot_page(snap, first + i0 + j) ==
			       root->rmap + ((first + i0 + j) << shift);
		if (hole) {
			if (hashes) {
				if (k < per_chunk) {
					hashes[c] = hash_zero(k << shift, zero, ps);
				} else {
					if (!zero_full_known)
						zero_full = hash_zero(job->chunk, zero, ps);
					zero_full_known = true;
					hashes[c] = zero_full;
				}
			}
			continue;
		}
		size_t m = 0;
		if (hashes)
			XXH3_64bits_reset(h);
		for (size_t j = 0; j < k; j++) {
			size_t pg = pages ? pages[i0 + j] : first + i0 + j;
			const uint8_t *src = ms__snapshot_page(snap, pg);
			if (hashes)
				XXH3_64bits_update(h, src, ps);
			if (m > 0 && (uint8_t *)iov[m - 1].iov_base + iov[m - 1].iov_len == src) {
				iov[m - 1].iov_len += ps;
			} else {
				iov[m].iov_base = (void *)src;
				iov[m].iov_len = ps;
				m++;
			}
		}
		if (hashes)
			hashes[c] = XXH3_64bits_digest(h);
		err = ms__pwritev_all(job->fd, iov, m, job->off + ((uint64_t)i0 << shift));
		if (err)
			goto out;
	}
	err = 0;
out:
	free(iov);
	free(zero);
	XXH3_freeState(h);
	return err;
}

/* Chunks per thread at the least: below that, starting a thread costs more
 * than it saves. */
enum { WRITE_GRAIN = 16 };

int ms__write_pages(int fd, uint64_t off, ms_snapshot *snap, const size_t *pages, size_t first,
		    size_t n, size_t chunk, uint64_t *hashes)
{
	write_job job = {.fd = fd,
			 .off = off,
			 .snap = snap,
			 .pages = pages,
			 .first = first,
			 .n = n,
			 .chunk = chunk,
			 .hashes = hashes};
	size_t per_chunk = chunk >> ms__page_shift();
	size_t chunks = (n + per_chunk - 1) / per_chunk;
	return ms__parallel(chunks, WRITE_GRAIN, write_chunks, &job);
}
