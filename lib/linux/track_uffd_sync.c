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
	int uffd;
	int slot;
	bool pending; /* not protected yet (ms__uffd_start) */
} sync_state;

static sync_state *state_of(ms_view *v)
{
	return v->tracker_state;
}

static int probe(void)
{
	return ms__uffd_probe(UFFD_FEATURE_SIGBUS | UFFD_FEATURE_PAGEFAULT_FLAG_WP, false);
}

static void release(ms_view *v)
{
	sync_state *st = state_of(v);
	if (!st)
		return;
	ms__sigtrack_remove(st->slot);
	ms__close(st->uffd);
	free(st);
	v->tracker_state = NULL;
}

static int attach(ms_view *v)
{
	sync_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->uffd = st->slot = -1;
	v->tracker_state = st;
	uint64_t offered = 0;
	int err = ms__uffd_new(UFFD_FEATURE_SIGBUS, false, &offered);
	if (err < 0)
		goto fail;
	st->uffd = err;
	err = ms__uffd_register_wp(st->uffd, v->base, v->size);
	if (err)
		goto fail;
	ms__sigtrack_spec spec = {
	    .kind = MS__SIGTRACK_UFFD,
	    .uffd = st->uffd,
	};
	err = ms__sigtrack_add(v, &spec);
	if (err < 0)
		goto fail;
	st->slot = err;
	err = ms__uffd_start(st->uffd, offered, v, &st->pending);
	if (err)
		goto fail;
	return 0;
fail:
	release(v);
	return err;
}

static void detach(ms_view *v)
{
	release(v);
}

static int collect(ms_view *v)
{
	/* Once protected, the handler records pages as they are written. */
	sync_state *st = state_of(v);
	return ms__uffd_settle(st->uffd, v, &st->pending);
}

static int rearm(ms_view *v)
{
	sync_state *st = state_of(v);
	int err = ms__uffd_settle(st->uffd, v, &st->pending);
	return err ? err : ms__uffd_rearm_view(st->uffd, v);
}

static int unprotect(ms_view *v, size_t first, size_t n)
{
	return ms__uffd_unprotect_view(state_of(v)->uffd, v, first, n);
}

const ms__tracker_ops ms__tracker_uffd_sync = {
    .id = MS_TRACKER_UFFD_SYNC,
    .name = "uffd-sync",
    .probe = probe,
    .attach = attach,
    .detach = detach,
    .collect = collect,
    .rearm = rearm,
    .unprotect = unprotect,
    .fault_driven = true,
};
