/*
 * The uffd-sync tracker: userfaultfd write-protect in synchronous mode with
 * UFFD_FEATURE_SIGBUS.
 *
 * Every page of the view is write-protected when tracking starts (on the
 * private file mapping of a view, never-touched pages get a marker, so their
 * first write is caught too). The first user store to a protected page
 * raises SIGBUS; the handler in sigtrack.c records the page and lifts its
 * protection with UFFDIO_WRITEPROTECT, and the store is retried. Nothing is
 * left to collect, so restore costs only the dirty pages: rearm() protects
 * them again, one ioctl per run.
 *
 * A write by the kernel (read(2) into the view, ...) to a protected page
 * cannot raise a signal: it fails with EFAULT. Callers announce such writes
 * with ms_view_note_written(), which un-protects the pages (unprotect()).
 *
 * The kernel offers synchronous write-protect only on anonymous memory,
 * memfd/shmem and hugetlbfs: views of snapshots backed by regular files
 * cannot use this tracker (attach returns -EOPNOTSUPP).
 *
 * A SIGBUS that is not a write-protect fault (a read, or any access past
 * the end of a file its owner shrank; our own memfds are sealed against
 * that) is passed on like any other (sigtrack.c).
 *
 * State per view: its userfaultfd and its registry slot (sigtrack.c holds
 * the one piece of global state, the registry and the SIGBUS handler).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "../internal.h"
#include "prim.h"
#include "sigtrack.h"
#include "uffd.h"

typedef struct sync_state {
	ms__uffd_state u;
	int slot;
} sync_state;

static sync_state *state_of(ms_view *v)
{
	return v->tracker_state;
}

static int probe(void)
{
	return ms__uffd_probe(UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP, false);
}

static void init(void *state)
{
	((sync_state *)state)->slot = -1;
}

/* The SIGBUS handler's entry for the view. */
static int prepare(ms_view *v)
{
	sync_state *st = state_of(v);
	ms__sigtrack_spec spec = {
	    .kind = MS__SIGTRACK_UFFD,
	    .uffd = st->u.uffd,
	};
	int slot = ms__sigtrack_add(v, &spec);
	if (slot < 0)
		return slot;
	st->slot = slot;
	return 0;
}

static void release(ms_view *v)
{
	sync_state *st = state_of(v);
	if (!st)
		return;
	ms__sigtrack_remove(st->slot);
	ms__os_close(st->u.uffd);
	free(st);
	v->tracker_state = NULL;
}

static const ms__uffd_kind kind = {
    .features = UFFD_FEATURE_SIGBUS,
    .state_size = sizeof(sync_state),
    .init = init,
    .prepare = prepare,
    .release = release,
};

static int attach(ms_view *v)
{
	return ms__uffd_attach(v, &kind);
}

const ms__tracker_ops ms__tracker_uffd_sync = {
    .id = MS_TRACKER_UFFD_SYNC,
    .name = "uffd-sync",
    .probe = probe,
    .attach = attach,
    .detach = release,
    .collect = ms__uffd_settle,
    .rearm = ms__uffd_rearm,
    .unprotect = ms__uffd_unprotect,
    .fault_driven = true,
};
