#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "linux/prim.h"
#include "pool.h"
#include "ptab.h"

size_t ms_page_size(void)
{
	static atomic_size_t cached;
	size_t ps = atomic_load_explicit(&cached, memory_order_relaxed);
	if (!ps) {
		ps = (size_t)sysconf(_SC_PAGESIZE);
		atomic_store_explicit(&cached, ps, memory_order_relaxed);
	}
	return ps;
}

unsigned ms__page_shift(void)
{
	return (unsigned)__builtin_ctzl(ms_page_size());
}

static int round_size(size_t size, size_t *out)
{
	size_t ps = ms_page_size();
	if (size > SIZE_MAX - ps + 1 || size > (size_t)INT64_MAX)
		return -EOVERFLOW;
	*out = (size + ps - 1) & ~(ps - 1);
	return 0;
}

static ms_snapshot *snap_alloc(size_t size)
{
	ms_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	s->size = size;
	s->npages = size >> ms__page_shift();
	s->fd = -1;
	s->root = s;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void snap_destroy(ms_snapshot *s)
{
	if (s->rmap)
		ms__unmap((void *)s->rmap, s->size);
	if (s->own_slots) /* the root, and so its pool, outlives s */
		ms__pool_free(s->root->pool, s->own_slots, s->own_n);
	ms__pool_destroy(s->pool);
	ms__close(s->fd);
	ms__ptab_free(s->ptab);
	free(s->own_pages);
	free(s->own_slots);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Finish a plain snapshot around `fd` (owned): map it for reading. */
static int snap_plain(int fd, off_t offset, size_t size, bool writable, bool file_backed,
		      ms_snapshot **out)
{
	ms_snapshot *s = snap_alloc(size);
	if (!s) {
		ms__close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	s->offset = offset;
	s->writable = writable;
	s->file_backed = file_backed;
	if (size > 0) {
		void *p;
		int err =
		    ms__map(NULL, size, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, offset, &p);
		if (err) {
			snap_destroy(s);
			return err;
		}
		s->rmap = p;
	}
	*out = s;
	return 0;
}

int ms_snapshot_zeroed(size_t size, ms_snapshot **out)
{
	if (!out)
		return -EINVAL;
	int err = round_size(size, &size);
	if (err)
		return err;
	int fd = ms__memfd_new("memsnap", size);
	if (fd < 0)
		return fd;
	/* Nobody holding the descriptor (another process through
	 * /proc/PID/fd, say) may shrink the memfd from under the views:
	 * their pages would raise SIGBUS. Shared views still write. */
	err = ms__seal(fd, F_SEAL_SHRINK | F_SEAL_GROW);
	if (err) {
		ms__close(fd);
		return err;
	}
	return snap_plain(fd, 0, size, true, false, out);
}

int ms_snapshot_from_buffer(const void *buf, size_t len, ms_snapshot **out)
{
	if (!out || (!buf && len > 0))
		return -EINVAL;
	ms_snapshot *s;
	int err = ms_snapshot_zeroed(len, &s);
	if (err)
		return err;
	err = ms__pwrite_all(s->fd, buf, len, 0);
	if (err) {
		ms_snapshot_unref(s);
		return err;
	}
	*out = s;
	return 0;
}

int ms_snapshot_from_fd(ms_os_fd fd, ms_snapshot **out)
{
	return ms_snapshot_from_fd_range(fd, 0, SIZE_MAX, out);
}

int ms_snapshot_from_fd_range(ms_os_fd fd, uint64_t offset, size_t size, ms_snapshot **out)
{
	if (!out || (offset & (ms_page_size() - 1)) || offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if ((fl & O_ACCMODE) == O_WRONLY)
		return -EBADF; /* a snapshot must be readable */
	struct stat st;
	int err = ms__fstat(fd, &st);
	if (err)
		return err;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	bool whole = size == SIZE_MAX;
	if (whole)
		size = offset < (uint64_t)st.st_size ? (size_t)((uint64_t)st.st_size - offset) : 0;
	else if (offset > (uint64_t)st.st_size || size > (uint64_t)st.st_size - offset)
		return -EINVAL; /* the range must lie inside the file */
	err = round_size(size, &size);
	if (err)
		return err;
	int nfd = ms__dup(fd);
	if (nfd < 0)
		return nfd;
	return snap_plain(nfd, (off_t)offset, size, (fl & O_ACCMODE) == O_RDWR, true, out);
}

int ms_snapshot_from_file(const char *path, ms_snapshot **out)
{
	if (!path || !out)
		return -EINVAL;
	/* O_NONBLOCK so that a FIFO or device given by mistake is rejected
	 * by from_fd instead of blocking the open. */
	int fd = ms__open(path, O_RDWR | O_NONBLOCK, 0);
	if (fd == -EACCES || fd == -EROFS || fd == -EPERM || fd == -ETXTBSY)
		fd = ms__open(path, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	int err = ms_snapshot_from_fd(fd, out);
	ms__close(fd);
	return err;
}

size_t ms_snapshot_size(const ms_snapshot *snap)
{
	return snap ? snap->size : 0;
}

size_t ms_snapshot_depth(const ms_snapshot *snap)
{
	return snap ? snap->depth : 0;
}

size_t ms_snapshot_own_bytes(const ms_snapshot *snap)
{
	if (!snap)
		return 0;
	if (snap->parent)
		return snap->own_n << ms__page_shift();
	struct stat st;
	if (snap->file_backed || ms__fstat(snap->fd, &st) != 0)
		return 0;
	return (size_t)st.st_blocks * 512;
}

ms_snapshot *ms_snapshot_ref(ms_snapshot *snap)
{
	if (snap)
		atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
	return snap;
}

void ms_snapshot_unref(ms_snapshot *snap)
{
	/* A loop, not recursion: dropping the last level of a long chain
	 * releases its parents one after another. */
	while (snap && atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1) {
		ms_snapshot *parent = snap->parent;
		snap_destroy(snap);
		snap = parent;
	}
}

const uint8_t *ms__snapshot_page(const ms_snapshot *snap, size_t pg)
{
	if (snap->ptab) {
		const uint8_t *p = ms__ptab_get(snap->ptab, pg);
		if (p)
			return p;
	}
	return snap->root->rmap + (pg << ms__page_shift());
}

int ms_snapshot_read(ms_snapshot *snap, size_t offset, void *dst, size_t len)
{
	if (!snap || (!dst && len) || offset > snap->size || len > snap->size - offset)
		return -EINVAL;
	size_t ps = ms_page_size();
	uint8_t *d = dst;
	while (len > 0) {
		size_t in = offset & (ps - 1);
		size_t n = ps - in < len ? ps - in : len;
		memcpy(d, ms__snapshot_page(snap, offset >> ms__page_shift()) + in, n);
		d += n;
		offset += n;
		len -= n;
	}
	return 0;
}

int ms__snapshot_attach_view(ms_snapshot *snap, ms_view_mode mode)
{
	int err = 0;
	pthread_mutex_lock(&snap->lock);
	if (snap->shared_views > 0)
		err = -EBUSY;
	else if (mode == MS_VIEW_SHARED && snap->cow_views > 0)
		err = -EBUSY;
	else if (mode == MS_VIEW_SHARED && (snap->frozen || snap->parent))
		err = -EROFS;
	else if (mode == MS_VIEW_SHARED && !snap->writable)
		err = -EACCES;
	else if (mode == MS_VIEW_SHARED)
		snap->shared_views++;
	else
		snap->cow_views++;
	pthread_mutex_unlock(&snap->lock);
	return err;
}

void ms__snapshot_detach_view(ms_snapshot *snap, ms_view_mode mode)
{
	pthread_mutex_lock(&snap->lock);
	if (mode == MS_VIEW_SHARED)
		snap->shared_views--;
	else
		snap->cow_views--;
	pthread_mutex_unlock(&snap->lock);
}

/* Mark `snap` as a base others depend on. Its memfd (when it is ours) is
 * sealed against future writes, so no holder of the descriptor can change
 * what stacked snapshots read through it. */
static void freeze(ms_snapshot *snap)
{
	pthread_mutex_lock(&snap->lock);
	bool first = !snap->frozen;
	snap->frozen = true;
	pthread_mutex_unlock(&snap->lock);
	if (first && !snap->file_backed && snap->fd >= 0)
		(void)ms__seal(snap->fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE);
}

/* The pool of the snapshots stacked on `root`, created on first use. */
static ms__pool *root_pool(ms_snapshot *root)
{
	pthread_mutex_lock(&root->lock);
	if (!root->pool)
		root->pool = ms__pool_new(ms_page_size());
	ms__pool *p = root->pool;
	pthread_mutex_unlock(&root->lock);
	return p;
}

int ms__snapshot_stack(ms_snapshot *parent, const uint8_t *src, const size_t *pages, size_t n,
		       ms_snapshot **out)
{
	return ms__snapshot_stack_ex(parent, src, pages, n, false, out);
}

int ms__snapshot_stack_ex(ms_snapshot *parent, const uint8_t *src, const size_t *pages, size_t n,
			  bool checked, ms_snapshot **out)
{
	unsigned shift = ms__page_shift();
	size_t ps = (size_t)1 << shift;
	ms_snapshot *s = snap_alloc(parent->size);
	if (!s)
		return -ENOMEM;
	s->root = parent->root;
	s->depth = parent->depth + 1;
	int err = -ENOMEM;
	uint8_t **slots = malloc((n ? n : 1) * sizeof *slots);
	s->own_pages = malloc((n ? n : 1) * sizeof *s->own_pages);
	ms__pool *pool = root_pool(s->root);
	if (!slots || !s->own_pages || !pool)
		goto fail;
	memcpy(s->own_pages, pages, n * sizeof *pages);
	err = ms__pool_alloc(pool, n, slots);
	if (err)
		goto fail;
	s->own_slots = slots;
	s->own_n = n;
	/* The copy is the whole cost of a small snapshot: pooled slots are
	 * already backed, so there is no allocation, zeroing or system call
	 * per page (a memfd per snapshot cost ~3.5x more at 16 pages). */
	for (size_t i = 0; i < n; i++) {
		const uint8_t *from = src + (pages[i] << shift);
		if (!checked) {
			memcpy(slots[i], from, ps);
			continue;
		}
		err = ms__copy_checked(slots[i], from, ps);
		if (err)
			goto fail;
	}

	ms__ptab *base = parent->ptab;
	ms__ptab *empty = NULL;
	if (!base) {
		base = empty = ms__ptab_new(parent->npages);
		if (!empty) {
			err = -ENOMEM;
			goto fail;
		}
	}
	s->ptab = ms__ptab_set_many(base, pages, (const uint8_t *const *)slots, n);
	ms__ptab_free(empty);
	if (!s->ptab) {
		err = -ENOMEM;
		goto fail;
	}
	freeze(parent);
	freeze(parent->root);
	s->parent = ms_snapshot_ref(parent);
	*out = s;
	return 0;
fail:
	if (!s->own_slots)
		free(slots);
	snap_destroy(s);
	return err;
}

/* Copy the content of `snap` into the (zero-filled) descriptor fd. Holes of
 * the plain base stay holes, so cloning a sparse snapshot stays sparse. */
static void copy_override(size_t pg, const uint8_t *src, void *ud)
{
	int *state = ud; /* state[0] = fd, state[1] = first error */
	if (state[1] == 0)
		state[1] =
		    ms__pwrite_all(state[0], src, ms_page_size(), (off_t)(pg << ms__page_shift()));
}

static int copy_content(ms_snapshot *snap, int fd)
{
	ms_snapshot *root = snap->root;
	off_t base = root->offset;
	off_t end = (off_t)root->size;
	off_t pos = 0;
	while (pos < end) {
		off_t data = lseek(root->fd, base + pos, SEEK_DATA) - base;
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only holes remain */
			data = pos;    /* no SEEK_DATA here: copy everything */
		}
		if (data >= end)
			break;
		off_t hole = lseek(root->fd, base + data, SEEK_HOLE) - base;
		if (hole <= data || hole > end)
			hole = end;
		int err = ms__pwrite_all(fd, root->rmap + data, (size_t)(hole - data), data);
		if (err)
			return err;
		pos = hole;
	}
	if (snap->ptab) {
		int state[2] = {fd, 0};
		ms__ptab_foreach(snap->ptab, copy_override, state);
		return state[1];
	}
	return 0;
}

int ms_snapshot_clone(ms_snapshot *snap, ms_snapshot **out)
{
	if (!snap || !out)
		return -EINVAL;
	ms_snapshot *s;
	int err = ms_snapshot_zeroed(snap->size, &s);
	if (err)
		return err;
	err = copy_content(snap, s->fd);
	if (err) {
		ms_snapshot_unref(s);
		return err;
	}
	*out = s;
	return 0;
}

void ms__snapshot_foreach_between(const ms_snapshot *a, const ms_snapshot *b,
				  void (*fn)(void *ctx, const ms_snapshot *level), void *ctx)
{
	/* Walk the deeper one up until they meet (depth is the distance to
	 * the root). */
	while (a != b) {
		const ms_snapshot **deeper = a->depth >= b->depth ? &a : &b;
		fn(ctx, *deeper);
		*deeper = (*deeper)->parent;
	}
}

/* The pages of the levels between two snapshots, gathered into a list. */
typedef struct level_pages {
	size_t *pages;
	size_t n;
} level_pages;

static void count_level(void *ud, const ms_snapshot *level)
{
	((level_pages *)ud)->n += level->own_n;
}

static void gather_level(void *ud, const ms_snapshot *level)
{
	level_pages *lp = ud;
	memcpy(lp->pages + lp->n, level->own_pages, level->own_n * sizeof *lp->pages);
	lp->n += level->own_n;
}

long ms_snapshot_diff_ranges(const ms_snapshot *a, const ms_snapshot *b, ms_range *ranges,
			     size_t cap)
{
	if (!a || !b || (!ranges && cap) || a->size != b->size)
		return -EINVAL;
	if (a->root != b->root)
		return -EXDEV;
	level_pages lp = {NULL, 0};
	ms__snapshot_foreach_between(a, b, count_level, &lp);
	if (lp.n == 0)
		return 0;
	lp.pages = malloc(lp.n * sizeof *lp.pages);
	if (!lp.pages)
		return -ENOMEM;
	lp.n = 0;
	ms__snapshot_foreach_between(a, b, gather_level, &lp);
	size_t *pages = lp.pages, n = lp.n;
	ms__pages_sort(pages, n);
	long runs = ms__pages_to_ranges(pages, n, ranges, cap);
	free(pages);
	return runs;
}
