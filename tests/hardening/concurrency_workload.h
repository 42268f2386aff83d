/* The concurrency workload: threads with their own copy-on-write views of
 * one snapshot write, restore and take snapshots at full speed while
 * references to shared snapshots are taken and dropped across threads.
 * Shared by the Criterion test and the plain program TSan runs (Criterion's
 * worker arena cannot start under TSan). */
#ifndef MEMSNAP_CONCURRENCY_WORKLOAD_H
#define MEMSNAP_CONCURRENCY_WORKLOAD_H
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "memsnap/memsnap.h"

enum { THREADS = 8, ROUNDS = 300, PAGES = 64 };

static ms_snapshot *shared_snap;
static _Atomic(ms_snapshot *) handoff;
static atomic_int failures;

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	ms_view *v;
	if (ms_view_new(shared_snap, MS_VIEW_COW, &v) != 0) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	unsigned char *p = ms_view_data(v);
	for (int r = 0; r < ROUNDS; r++) {
		size_t pg = (size_t)(r * 7 + id) % PAGES;
		p[pg * 4096 + (size_t)id] = (unsigned char)(id + 1);
		ms_snapshot *t;
		if (ms_view_take_snapshot(v, &t) != 0) {
			atomic_fetch_add(&failures, 1);
			continue;
		}
		unsigned char back;
		if (ms_snapshot_read(t, pg * 4096 + (size_t)id, &back, 1) != 0 ||
		    back != (unsigned char)(id + 1))
			atomic_fetch_add(&failures, 1);
		/* Hand the snapshot to whichever thread comes next; drop the
		 * one handed to us. References cross threads. */
		ms_snapshot *old = atomic_exchange(&handoff, t);
		ms_snapshot_unref(old);
		if (ms_view_restore(v) < 0 || p[pg * 4096 + (size_t)id] != (unsigned char)pg)
			atomic_fetch_add(&failures, 1);
		ms_snapshot *r2 = ms_snapshot_ref(shared_snap);
		ms_snapshot_unref(r2);
	}
	ms_view_free(v);
	return NULL;
}

/* Runs the workload; returns the number of failures seen. */
static int run_concurrency_workload(void)
{
	static unsigned char init[PAGES * 4096];
	for (size_t i = 0; i < sizeof init; i++)
		init[i] = (unsigned char)(i / 4096);
	if (ms_snapshot_from_buffer(init, sizeof init, &shared_snap) != 0)
		return 1;
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ms_snapshot_unref(atomic_exchange(&handoff, NULL));
	ms_snapshot_unref(shared_snap);
	return atomic_load(&failures);
}

#endif
