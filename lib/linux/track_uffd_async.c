/*
 * The uffd-async tracker: userfaultfd write-protect in asynchronous mode,
 * read back with PAGEMAP_SCAN.
 *
 * Every page of the view is write-protected when tracking starts. A write
 * to a protected page, by a user store or by the kernel (read(2) into the
 * view), makes the kernel drop the protection itself, without a signal or a
 * message; the page then reads as "written" in the page tables. collect()
 * asks PAGEMAP_SCAN for the written runs; rearm() protects exactly the dirty
 * pages again once restore has copied them back.
 *
 * A view's memory is a private mapping of a memfd or a regular file, which
 * the kernel treats as file memory: write-protecting a page that was never
 * touched leaves a marker in its page table entry, so first writes to such
 * pages are caught without UFFD_FEATURE_WP_UNPOPULATED (which only changes
 * anonymous memory). Without the markers a page merely read would look
 * written, so tracking protects the whole range (O(size), once per view),
 * when it is first needed (ms__uffd_attach in uffd.h). Telling written
 * pages apart by kind instead (private copies against the snapshot's file
 * pages, PAGE_IS_FILE) would spare the markers, but the scan then reads
 * each page's descriptor and runs many times slower over a populated view
 * (docs/tracking.md).
 *
 * State per view: the userfaultfd and a descriptor of /proc/self/pagemap,
 * both of the process that attached. A child forked from it inherits them
 * but refers to the parent's memory through them: the core never calls the
 * tracker in such a child before it remapped the view, and detach() there
 * only closes the descriptors. No global state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "prim.h"
#include "uffd.h"

/* Regions returned per PAGEMAP_SCAN call. Below 512: past that, the kernel
 * may report a stale walk_end. */
enum { VEC_LEN = 256 };

/* rearm() protects the dirty pages run by run (one ioctl each: O(runs)) or
 * with one PAGEMAP_SCAN over the span from the first to the last dirty page
 * (one call plus O(span), about 1/256 of an ioctl a page: figures in
 * docs/tracking.md). The scan wins when there are more runs than
 * span / SCAN_PAGES_PER_RUN. */
enum { SCAN_PAGES_PER_RUN = 256 };

typedef struct async_state {
	ms__uffd_state u;
	int pagemap;
	struct page_region vec[VEC_LEN];
} async_state;

static async_state *state_of(ms_view *v)
{
	return v->tracker_state;
}

static int probe(void)
{
	return ms__uffd_probe(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_PAGEFAULT_FLAG_WP, false);
}

static void init(void *state)
{
	((async_state *)state)->pagemap = -1;
}

/* The descriptor that PAGEMAP_SCAN reads the written pages through. */
static int prepare(ms_view *v)
{
	int fd = ms__open("/proc/self/pagemap", O_RDONLY, 0);
	if (fd < 0)
		return fd;
	state_of(v)->pagemap = fd;
	return 0;
}

/* Closing the userfaultfd ends the registration (in a forked child it only
 * drops the child's reference to the parent's). */
static void release(ms_view *v)
{
	async_state *st = state_of(v);
	if (!st)
		return;
	ms__os_close(st->u.uffd);
	ms__os_close(st->pagemap);
	free(st);
	v->tracker_state = NULL;
}

static const ms__uffd_kind kind = {
    .features = UFFD_FEATURE_WP_ASYNC,
    .state_size = sizeof(async_state),
    .init = init,
    .prepare = prepare,
    .release = release,
};

static int attach(ms_view *v)
{
	return ms__uffd_attach(v, &kind);
}

/* One PAGEMAP_SCAN pass over [first, first+n) for written pages; with
 * `rearm`, the kernel write-protects them again as it reports them. Runs
 * found are added to v->dirty when `record`. */
static int scan(ms_view *v, size_t first, size_t n, bool rearm, bool record)
{
	async_state *st = state_of(v);
	unsigned shift = ms__page_shift();
	uint64_t start = (uintptr_t)v->base + ((uint64_t)first << shift);
	uint64_t end = start + ((uint64_t)n << shift);
	while (start < end) {
		/* Zeroed so that tools unaware of this ioctl see defined memory. */
		memset(st->vec, 0, sizeof st->vec);
		struct pm_scan_arg arg = {
		    .size = sizeof arg,
		    .flags = PM_SCAN_CHECK_WPASYNC | (rearm ? PM_SCAN_WP_MATCHING : 0),
		    .start = start,
		    .end = end,
		    .vec = (uintptr_t)st->vec,
		    .vec_len = VEC_LEN,
		    .category_mask = PAGE_IS_WRITTEN,
		    .return_mask = PAGE_IS_WRITTEN,
		};
		long got = ms__ioctl_count(st->pagemap, PAGEMAP_SCAN, &arg);
		if (got < 0)
			return (int)got;
		for (long i = 0; record && i < got; i++) {
			size_t pg = (size_t)((st->vec[i].start - (uintptr_t)v->base) >> shift);
			size_t cnt = (size_t)((st->vec[i].end - st->vec[i].start) >> shift);
			ms__dirty_add_run(&v->dirty, pg, cnt);
		}
		/* A partly filled vector means the walk reached `end`; test that
		 * rather than walk_end, which can be stale. */
		if (got < VEC_LEN)
			break;
		uint64_t next = st->vec[got - 1].end;
		start = arg.walk_end > next ? arg.walk_end : next;
	}
	return 0;
}

static int collect(ms_view *v)
{
	/* The first time, protecting the view and finding the pages written
	 * before is the whole collection. */
	if (state_of(v)->u.pending)
		return ms__uffd_settle(v);
	/* Read only: restore copies into these pages next, and they must stay
	 * writable until rearm(). */
	return scan(v, 0, v->npages, false, true);
}

static int rearm(ms_view *v)
{
	int err = ms__uffd_settle(v);
	if (err)
		return err;
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
		return scan(v, lo, span, true, false);
	}
	return ms__uffd_wp_pages(state_of(v)->u.uffd, v->base, list, n, true);
}

const ms__tracker_ops ms__tracker_uffd_async = {
    .id = MS_TRACKER_UFFD_ASYNC,
    .name = "uffd-async",
    .probe = probe,
    .attach = attach,
    .detach = release,
    .collect = collect,
    .rearm = rearm,
    .unprotect = ms__uffd_unprotect,
};
