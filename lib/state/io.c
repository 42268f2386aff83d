#define _GNU_SOURCE
#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int ms__afile_create(ms__afile *f, const char *path)
{
	f->fd = MS__OS_FD_NONE;
	f->tmp = NULL;
	f->path = strdup(path);
	if (!f->path)
		return -ENOMEM;
	/* The temporary file goes next to the destination (same directory,
	 * so the replacement is one step): its name is the destination's
	 * directory part, then a hidden name made from the base. */
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	if (!*base) {
		free(f->path);
		f->path = NULL;
		return -EISDIR;
	}
	int dir_len = (int)(base - path);
	int err = -EEXIST;
	/* A name unique to this call: pid, clock and the struct's address;
	 * creating it new makes a clash a retry, never a shared file. */
	for (unsigned attempt = 0; attempt < 100 && err == -EEXIST; attempt++) {
		free(f->tmp);
		if (asprintf(&f->tmp, "%.*s.%s.tmp-%ld-%llx-%u", dir_len, path, base,
			     (long)ms__os_pid(), (unsigned long long)(ms__now_ns() ^ (uintptr_t)f),
			     attempt) < 0) {
			f->tmp = NULL;
			err = -ENOMEM;
			break;
		}
		err = ms__os_open(f->tmp, MS__OS_OPEN_CREATE_NEW, &f->fd);
	}
	if (err) {
		free(f->tmp);
		free(f->path);
		f->tmp = f->path = NULL;
		return err;
	}
	return 0;
}

int ms__afile_truncate(ms__afile *f, uint64_t size)
{
	return ms__os_set_size(f->fd, size);
}

void ms__afile_abort(ms__afile *f)
{
	ms__os_close(f->fd);
	if (f->tmp)
		(void)ms__os_remove(f->tmp);
	free(f->tmp);
	free(f->path);
	f->fd = MS__OS_FD_NONE;
	f->tmp = f->path = NULL;
}

int ms__afile_commit(ms__afile *f)
{
	int err = ms__os_sync(f->fd);
	if (!err) {
		err = ms__os_close(f->fd);
		f->fd = MS__OS_FD_NONE;
	}
	if (err) {
		ms__afile_abort(f);
		return err;
	}
	err = ms__os_replace(f->tmp, f->path);
	if (err) /* still there when the replacement failed before its step */
		(void)ms__os_remove(f->tmp);
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
	return err;
}

/* Whether the plain snapshot `root` holds only holes in [pos, pos + len). */
static bool root_hole(const ms_snapshot *root, size_t pos, size_t len)
{
	uint64_t data;
	int err = ms__os_next_data(root->fd, root->offset + pos, &data, NULL);
	if (err)
		return err == -ENXIO; /* ENXIO: only holes follow */
	return data - root->offset >= pos + len;
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
	ms_os_fd fd;
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
	ms__os_span *spans = malloc(per_chunk * sizeof *spans);
	uint8_t *zero = calloc(1, ps);
	XXH3_state_t *h = XXH3_createState();
	uint64_t zero_full = 0;
	bool zero_full_known = false;
	if (!spans || !zero || !h)
		goto out;
	ms_snapshot *root = snap->root;
	for (size_t c = lo; c < hi; c++) {
		size_t i0 = c * per_chunk;
		size_t k = job->n - i0 < per_chunk ? job->n - i0 : per_chunk;
		size_t first = job->first;
		/* A chunk of consecutive pages that the root stores as holes
		 * and no stacked level overrides is left as a hole. */
		bool hole = !pages && root->fd != MS__OS_FD_NONE &&
			    root_hole(root, (first + i0) << shift, k << shift);
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
			if (m > 0 && (uint8_t *)spans[m - 1].addr + spans[m - 1].len == src)
				spans[m - 1].len += ps;
			else
				spans[m++] = (ms__os_span){(void *)src, ps};
		}
		if (hashes)
			hashes[c] = XXH3_64bits_digest(h);
		err = ms__os_write_spans_at(job->fd, spans, m, job->off + ((uint64_t)i0 << shift));
		if (err)
			goto out;
	}
	err = 0;
out:
	free(spans);
	free(zero);
	XXH3_freeState(h);
	return err;
}

/* Chunks per thread at the least: below that, starting a thread costs more
 * than it saves. */
enum { WRITE_GRAIN = 16 };

int ms__write_pages(ms_os_fd fd, uint64_t off, ms_snapshot *snap, const size_t *pages, size_t first,
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
