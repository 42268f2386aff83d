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

typedef struct async_state {
	ms__uffd_state u;
	ms__uffd_scanner scan;
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
	((async_state *)state)->scan.pagemap = -1;
}

/* The descriptor that PAGEMAP_SCAN reads the written pages through. */
static int prepare(ms_view *v)
{
	int fd = ms__open("/proc/self/pagemap", O_RDONLY, 0);
	if (fd < 0)
		return fd;
	state_of(v)->scan.pagemap = fd;
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
	ms__os_close(st->scan.pagemap);
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

static int collect(ms_view *v)
{
	/* The first time, protecting the view and finding the pages written
	 * before is the whole collection. */
	if (state_of(v)->u.pending)
		return ms__uffd_settle(v);
	/* Read only: restore copies into these pages next, and they must stay
	 * writable until rearm(). */
	return ms__uffd_scan_written(&state_of(v)->scan, v, 0, v->npages, MS__SCAN_RECORD);
}

static int rearm(ms_view *v)
{
	int err = ms__uffd_settle(v);
	return err ? err : ms__uffd_rearm_written(&state_of(v)->scan, state_of(v)->u.uffd, v);
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
