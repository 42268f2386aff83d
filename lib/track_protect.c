/*
 * The page-protection tracker (MS_TRACKER_MPROTECT), the same on every
 * system: the view is made read-only while tracked; the first store to a
 * page faults, and the platform's fault handler (ms__os_watch_writes:
 * sigtrack.c on Linux, a vectored exception handler on Windows) records the
 * page and makes it writable again. Restore copies the dirty pages back and
 * makes them read-only again, one protection call per run.
 *
 * On Linux each writable run is a separate mapping in the kernel (a VMA
 * split); a process may hold vm.max_map_count (65530 by default) of them,
 * so at most ~32,000 scattered dirty runs per restore. Writes by the system
 * into a read-only page (read(2), ReadFile) fail unless announced with
 * ms_view_note_written().
 *
 * User protections (ms_view_protect) coexist with tracking: a bitmap holds
 * the pages the user made read-only or inaccessible, and a fault on one of
 * them is not the tracker's: it goes on to the application's handlers, or
 * kills the process. Pages the user makes writable are counted as dirty.
 *
 * When the handler cannot make one page writable (on Linux, ENOMEM past the
 * limit on mappings), tracking is lost, not the write: lose_tracking makes
 * the whole view writable in one call (which merges its mappings again) and
 * marks the view; the next collect() compares the view with its snapshot
 * (O(size)) to find the pages written meanwhile, and the next rearm
 * protects the whole view again. The store goes through and nothing is
 * lost.
 *
 * A fault that is not a write (an instruction fetch from the view, which is
 * never executable) is not the tracker's either.
 *
 * State per view: the user-protection bitmap, the lost flag and the
 * platform's watch slot.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RW (MS_ACCESS_READ | MS_ACCESS_WRITE)

typedef struct mprotect_state {
	_Atomic uint64_t *user_bits; /* pages protected by the user */
	size_t user_bytes;
	int slot;
	/* Set by the handler: making one page writable failed (ENOMEM), so
	 * it made the whole view writable; writes since then are not
	 * recorded. */
	atomic_bool lost;
	/* collect() found the view lost: the next rearm protects every page,
	 * not just the dirty ones. */
	bool rearm_all;
} mprotect_state;

static mprotect_state *state_of(ms_view *v)
{
	return v->tracker_state;
}

static bool user_protected(const mprotect_state *st, size_t pg)
{
	return (atomic_load_explicit(&st->user_bits[pg >> 6], memory_order_relaxed) >> (pg & 63)) &
	       1;
}

static void set_user(mprotect_state *st, size_t first, size_t n, bool on)
{
	for (size_t pg = first; pg < first + n; pg++) {
		uint64_t bit = (uint64_t)1 << (pg & 63);
		if (on)
			atomic_fetch_or_explicit(&st->user_bits[pg >> 6], bit,
						 memory_order_relaxed);
		else
			atomic_fetch_and_explicit(&st->user_bits[pg >> 6], ~bit,
						  memory_order_relaxed);
	}
}

/* The pages protect_runs changes: those the user did not protect, and with
 * `skip_hot` not the hot pages either. */
typedef struct claimed_ctx {
	const ms_view *v;
	const mprotect_state *st;
	bool skip_hot;
} claimed_ctx;

static bool claimed(const void *ctx, size_t pg)
{
	const claimed_ctx *c = ctx;
	return !user_protected(c->st, pg) && !(c->skip_hot && ms__dirty_has(&c->v->hot, pg));
}

/* Apply `access` to the pages of [first, first+n) the user did not protect,
 * and with `skip_hot` not to the hot pages either (hot.c keeps those
 * writable). Async-signal-safe. */
static int protect_runs(ms_view *v, size_t first, size_t n, unsigned access, bool skip_hot)
{
	claimed_ctx ctx = {v, state_of(v), skip_hot};
	unsigned shift = ms__page_shift();
	size_t pg = first;
	ms__page_run run;
	while (ms__next_run_where(&pg, first + n, claimed, &ctx, &run)) {
		int err = ms__os_protect(v->base + (run.first << shift), run.n << shift, access);
		if (err)
			return err;
	}
	return 0;
}

static int protect_unclaimed(ms_view *v, size_t first, size_t n, unsigned access)
{
	return protect_runs(v, first, n, access, false);
}

/* From the handler, when making one page writable failed (ENOMEM): make
 * every page writable (one run per user protection, merging the pieces
 * the tracked writes split the view into) and mark tracking lost. */
static bool lose_tracking(ms_view *v)
{
	mprotect_state *st = state_of(v);
	atomic_store_explicit(&st->lost, true, memory_order_relaxed);
	return protect_unclaimed(v, 0, v->npages, RW) == 0;
}

static int probe(void)
{
	return 0;
}

static void release(ms_view *v)
{
	mprotect_state *st = state_of(v);
	if (!st)
		return;
	ms__os_unwatch_writes(st->slot);
	if (st->user_bits)
		ms__os_unmap((void *)st->user_bits, st->user_bytes);
	free(st);
	v->tracker_state = NULL;
}

static int attach(ms_view *v)
{
	mprotect_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->slot = -1;
	v->tracker_state = st;
	size_t ps = ms_page_size();
	st->user_bytes = ((v->npages + 63) / 64 * 8 + ps - 1) / ps * ps;
	void *bits;
	int err = ms__os_reserve(st->user_bytes, RW, &bits);
	if (err)
		goto fail;
	st->user_bits = bits;
	err = ms__os_watch_writes(v, st->user_bits, lose_tracking);
	if (err < 0)
		goto fail;
	st->slot = err;
	err = ms__os_protect(v->base, v->size, MS_ACCESS_READ);
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
	/* The handler records pages as they are written, unless it lost
	 * tracking: then every page that differs from the snapshot was
	 * written, and pages the user protected since may have been (they
	 * may be unreadable: counted dirty). */
	mprotect_state *st = state_of(v);
	if (!atomic_exchange_explicit(&st->lost, false, memory_order_relaxed))
		return 0;
	st->rearm_all = true;
	unsigned shift = ms__page_shift();
	size_t ps = (size_t)1 << shift;
	for (size_t pg = 0; pg < v->npages; pg++) {
		if (ms__dirty_has(&v->dirty, pg))
			continue;
		if (user_protected(st, pg) ||
		    memcmp(v->base + (pg << shift), ms__snapshot_page(v->snap, pg), ps) != 0)
			ms__dirty_add(&v->dirty, pg);
	}
	return 0;
}

/* Apply `access` to every run of the dirty list (sorted or not). */
static int protect_dirty(ms_view *v, unsigned access)
{
	size_t n = atomic_load(&v->dirty.n), i = 0;
	ms__page_run run;
	while (ms__next_run(v->dirty.list, n, &i, &run)) {
		int err = protect_unclaimed(v, run.first, run.n, access);
		if (err)
			return err;
	}
	return 0;
}

static int rearm(ms_view *v)
{
	mprotect_state *st = state_of(v);
	if (!st->rearm_all)
		return protect_dirty(v, MS_ACCESS_READ);
	/* After lost tracking the whole view is writable: one call makes it
	 * read-only again, except the hot pages view.c keeps writable (when
	 * hot pages are off, the dirty list holds every page to protect). */
	int err = protect_runs(v, 0, v->npages, MS_ACCESS_READ, v->hot_enabled);
	if (!err)
		st->rearm_all = false;
	return err;
}

static int unprotect(ms_view *v, size_t first, size_t n)
{
	return protect_unclaimed(v, first, n, RW);
}

static int protect(ms_view *v, size_t first, size_t n, unsigned access)
{
	mprotect_state *st = state_of(v);
	unsigned shift = ms__page_shift();
	bool writable = access & MS_ACCESS_WRITE;
	if (writable)
		ms__dirty_add_run(&v->dirty, first, n);
	int err = ms__os_protect(v->base + (first << shift), n << shift, access);
	if (err)
		return err;
	set_user(st, first, n, !writable);
	return 0;
}

static int reset_protection(ms_view *v)
{
	mprotect_state *st = state_of(v);
	int err = ms__os_protect(v->base, v->size, MS_ACCESS_READ);
	if (err)
		return err;
	for (size_t i = 0; i < st->user_bytes / sizeof(uint64_t); i++)
		atomic_store_explicit(&st->user_bits[i], 0, memory_order_relaxed);
	return protect_dirty(v, RW);
}

const ms__tracker_ops ms__tracker_mprotect = {
    .id = MS_TRACKER_MPROTECT,
    .name = "mprotect",
    .probe = probe,
    .attach = attach,
    .detach = detach,
    .collect = collect,
    .rearm = rearm,
    .unprotect = unprotect,
    .fault_driven = true,
    .protect = protect,
    .reset_protection = reset_protection,
};
