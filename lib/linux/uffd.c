/* userfaultfd helpers shared by the userfaultfd trackers. */
#define _GNU_SOURCE
#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "../internal.h"
#include "prim.h"

static int api(int uffd, uint64_t features, uint64_t *offered)
{
	struct uffdio_api a = {.api = UFFD_API, .features = features};
	int err = ms__ioctl(uffd, UFFDIO_API, &a);
	if (err == -EINVAL)
		return -EOPNOTSUPP; /* a requested feature is unknown here */
	if (!err && offered)
		*offered = a.features;
	return err;
}

int ms__uffd_probe(uint64_t features, bool kernel_faults)
{
	int uffd = ms__uffd_open(kernel_faults);
	if (uffd < 0)
		return uffd == -ENOSYS ? -EOPNOTSUPP : uffd;
	/* Asking for no feature reports every feature the kernel offers. */
	uint64_t offered = 0;
	int err = api(uffd, 0, &offered);
	ms__os_close(uffd);
	if (err)
		return err;
	return (offered & features) == features ? 0 : -EOPNOTSUPP;
}

int ms__uffd_new(uint64_t features, bool kernel_faults, uint64_t *offered)
{
	int uffd = ms__uffd_open(kernel_faults);
	if (uffd < 0)
		return uffd == -ENOSYS ? -EOPNOTSUPP : uffd;
	int err = api(uffd, features, offered);
	if (err) {
		ms__os_close(uffd);
		return err;
	}
	return uffd;
}

int ms__uffd_register_wp(int uffd, void *addr, size_t len)
{
	struct uffdio_register r = {
	    .range = {.start = (uintptr_t)addr, .len = len},
	    .mode = UFFDIO_REGISTER_MODE_WP,
	};
	int err = ms__ioctl(uffd, UFFDIO_REGISTER, &r);
	return err == -EINVAL ? -EOPNOTSUPP : err;
}

int ms__uffd_wp(int uffd, void *addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
	    .range = {.start = (uintptr_t)addr, .len = len},
	    .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	return ms__ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

int ms__uffd_unregister(int uffd, void *addr, size_t len)
{
	struct uffdio_range r = {.start = (uintptr_t)addr, .len = len};
	return ms__ioctl(uffd, UFFDIO_UNREGISTER, &r);
}

int ms__uffd_wp_pages(int uffd, uint8_t *base, const size_t *list, size_t n, bool protect)
{
	unsigned shift = ms__page_shift();
	size_t i = 0;
	ms__page_run run;
	while (ms__next_run(list, n, &i, &run)) {
		int err = ms__uffd_wp(uffd, base + (run.first << shift), run.n << shift, protect);
		if (err)
			return err;
	}
	return 0;
}

/* Protecting never-touched pages leaves a marker in a page-table entry for
 * each: 8 bytes a page (a 1 TiB view needs 2 GiB). Refuse what would take
 * more than half the memory the system has free, rather than let the
 * allocation invite the OOM killer. */
static int check_tables(size_t len)
{
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t avail = ((uint64_t)si.freeram + si.bufferram) * si.mem_unit;
		uint64_t tables = (uint64_t)(len >> ms__page_shift()) * 8;
		if (tables > avail / 2)
			return -ENOMEM;
	}
	return 0;
}

int ms__uffd_arm(int uffd, void *addr, size_t len)
{
	int err = check_tables(len);
	return err ? err : ms__uffd_wp(uffd, addr, len, true);
}

/* The PAGEMAP_SCAN loop: the pages of [start, end) of v that `what` (its
 * flags and categories) selects, MS__SCAN_VEC runs a call into `vec`, added
 * to v->dirty when `record`. Returns how many runs there are, or -errno. */
static long scan(int pagemap, struct page_region *vec, ms_view *v, uint64_t start, uint64_t end,
		 const struct pm_scan_arg *what, bool record)
{
	long runs = 0;
	unsigned shift = ms__page_shift();
	while (start < end) {
		/* Zeroed so that tools unaware of this ioctl see defined memory. */
		memset(vec, 0, MS__SCAN_VEC * sizeof *vec);
		struct pm_scan_arg arg = *what;
		arg.size = sizeof arg;
		arg.start = start;
		arg.end = end;
		arg.vec = (uintptr_t)vec;
		arg.vec_len = MS__SCAN_VEC;
		long got = ms__ioctl_count(pagemap, PAGEMAP_SCAN, &arg);
		if (got < 0)
			return got;
		runs += got;
		for (long i = 0; record && i < got; i++)
			ms__dirty_add_run(&v->dirty,
					  (size_t)((vec[i].start - (uintptr_t)v->base) >> shift),
					  (size_t)((vec[i].end - vec[i].start) >> shift));
		/* A partly filled vector means the walk reached `end`; test that
		 * rather than walk_end, which can be stale. */
		if (got < MS__SCAN_VEC)
			break;
		start = arg.walk_end > vec[got - 1].end ? arg.walk_end : vec[got - 1].end;
	}
	return runs;
}

/* PAGEMAP_SCAN over the whole view for its private copies (not the
 * snapshot's file pages) that are present, or also swapped out (only
 * before the view is protected: the kernel reports protected never-touched
 * pages as swapped too). They are added to v->dirty when `record`; returns
 * how many runs there are. */
static long scan_private(int pagemap, ms_view *v, bool swapped, bool record)
{
	uint64_t where = PAGE_IS_PRESENT | (swapped ? PAGE_IS_SWAPPED : 0);
	struct pm_scan_arg what = {
	    .category_inverted = PAGE_IS_FILE,
	    .category_mask = PAGE_IS_FILE,
	    .category_anyof_mask = where,
	    .return_mask = where,
	};
	struct page_region vec[MS__SCAN_VEC];
	uint64_t start = (uintptr_t)v->base;
	return scan(pagemap, vec, v, start, start + v->size, &what, record);
}

/* The start of tracking (uffd.h): protect now, or leave the view pending
 * for ms__uffd_settle. */
static int start(ms__uffd_state *u, uint64_t offered, ms_view *v)
{
	u->pending = false;
	int err = check_tables(v->size);
	if (err)
		return err;
	/* PAGEMAP_SCAN came with asynchronous write-protect (Linux 6.7). A
	 * view that holds private copies already (the pages of a stacked
	 * snapshot, copied in when it was mapped) is protected at once: a
	 * later scan could not tell them from written pages. */
	if (offered & UFFD_FEATURE_WP_ASYNC) {
		int pagemap = ms__open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
		if (pagemap < 0)
			return pagemap;
		long runs = scan_private(pagemap, v, true, false);
		ms__os_close(pagemap);
		if (runs < 0)
			return (int)runs;
		if (runs == 0) {
			u->pending = true;
			return 0;
		}
	}
	return ms__uffd_wp(u->uffd, v->base, v->size, true);
}

int ms__uffd_attach(ms_view *v, const ms__uffd_kind *k)
{
	ms__uffd_state *u = calloc(1, k->state_size);
	if (!u)
		return -ENOMEM;
	u->uffd = -1;
	if (k->init)
		k->init(u);
	v->tracker_state = u;
	uint64_t offered = 0;
	int err = ms__uffd_new(k->features, k->kernel_faults, &offered);
	if (err >= 0) {
		u->uffd = err;
		err = ms__uffd_register_wp(u->uffd, v->base, v->size);
	}
	if (!err && k->prepare)
		err = k->prepare(v);
	if (!err)
		err = start(u, offered, v);
	if (err)
		k->release(v);
	return err;
}

int ms__uffd_settle(ms_view *v)
{
	ms__uffd_state *u = v->tracker_state;
	if (!u->pending)
		return 0;
	/* The private copies made so far, swapped out or not; then the
	 * protection; then the copies made by writes from other threads while
	 * it was being set (present: they are new). Any later write faults
	 * and is recorded by the tracker. */
	int pagemap = ms__open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC, 0);
	if (pagemap < 0)
		return pagemap;
	long runs = scan_private(pagemap, v, true, true);
	int err = runs < 0 ? (int)runs : ms__uffd_wp(u->uffd, v->base, v->size, true);
	if (!err)
		runs = scan_private(pagemap, v, false, true);
	if (!err && runs < 0)
		err = (int)runs;
	ms__os_close(pagemap);
	/* Pages in the dirty set stay writable (the trackers' contract): the
	 * copies just found, and pages announced with ms_view_note_written. */
	if (!err)
		err = ms__uffd_wp_pages(u->uffd, v->base, v->dirty.list, atomic_load(&v->dirty.n),
					false);
	if (!err)
		u->pending = false;
	return err;
}

int ms__uffd_rearm(ms_view *v)
{
	ms__uffd_state *u = v->tracker_state;
	int err = ms__uffd_settle(v);
	return err ? err
		   : ms__uffd_wp_pages(u->uffd, v->base, v->dirty.list, atomic_load(&v->dirty.n),
				       true);
}

int ms__uffd_unprotect(ms_view *v, size_t first, size_t n)
{
	ms__uffd_state *u = v->tracker_state;
	unsigned shift = ms__page_shift();
	return ms__uffd_wp(u->uffd, v->base + (first << shift), n << shift, false);
}

int ms__uffd_scan_written(ms__uffd_scanner *s, ms_view *v, size_t first, size_t n,
			  ms__scan_mode mode)
{
	unsigned shift = ms__page_shift();
	uint64_t start = (uintptr_t)v->base + ((uint64_t)first << shift);
	struct pm_scan_arg what = {
	    .flags = mode == MS__SCAN_WALK    ? 0
		     : mode == MS__SCAN_REARM ? PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING
					      : PM_SCAN_CHECK_WPASYNC,
	    .category_mask = PAGE_IS_WRITTEN,
	    .return_mask = PAGE_IS_WRITTEN,
	};
	long runs = scan(s->pagemap, s->vec, v, start, start + ((uint64_t)n << shift), &what,
			 mode == MS__SCAN_RECORD);
	return runs < 0 ? (int)runs : 0;
}

/* ms__uffd_rearm_written protects the dirty pages run by run (one ioctl
 * each: O(runs)) or with one PAGEMAP_SCAN over the span from the first to
 * the last dirty page (one call plus O(span), about 1/256 of an ioctl a
 * page: figures in docs/tracking.md). The scan wins when there are more
 * runs than span / SCAN_PAGES_PER_RUN. */
enum { SCAN_PAGES_PER_RUN = 256 };

int ms__uffd_rearm_written(ms__uffd_scanner *s, int uffd, ms_view *v)
{
	size_t n = atomic_load(&v->dirty.n);
	if (n == 0)
		return 0;
	const size_t *list = v->dirty.list;
	size_t runs = 0, lo = list[0], hi = list[0], i = 0;
	ms__page_run run;
	while (ms__next_run(list, n, &i, &run)) {
		runs++;
		lo = run.first < lo ? run.first : lo;
		hi = run.first + run.n - 1 > hi ? run.first + run.n - 1 : hi;
	}
	size_t span = hi - lo + 1;
	if (runs > 1 && runs > span / SCAN_PAGES_PER_RUN) {
		/* Every written page in the span is dirty (collect() found them
		 * all and writes since went to dirty pages), so re-arming every
		 * written page there re-arms exactly the dirty set. */
		return ms__uffd_scan_written(s, v, lo, span, MS__SCAN_REARM);
	}
	return ms__uffd_wp_pages(uffd, v->base, list, n, true);
}
