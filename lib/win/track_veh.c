/*
 * The protection tracker on Windows (MS_TRACKER_MPROTECT, as the mprotect
 * tracker on Linux): a vectored exception handler stands where Linux has a
 * SIGSEGV handler. The view is made PAGE_READONLY while tracked; the first
 * store to a page raises an access violation, and the handler records the
 * page and makes it PAGE_WRITECOPY again (the view is copy-on-write: its
 * written pages become private, PAGE_READWRITE would let later writes
 * reach the section). Restore copies the dirty pages back and makes them
 * read-only again, one VirtualProtect per run. Hot pages stay writable
 * (hot.c).
 *
 * The handler is added first in the chain (AddVectoredExceptionHandler(1))
 * once, when the first view is tracked, and never removed. It claims an
 * exception only when all of these hold: an access violation, a write
 * (ExceptionInformation[0] == 1), at an address inside a tracked view, on a
 * page the user did not protect with ms_view_protect, and the page did not
 * keep faulting after the handler made it writable. Everything else goes on
 * to the next handler (EXCEPTION_CONTINUE_SEARCH): the application's
 * vectored handlers, then structured exception handling, then the
 * unhandled-exception filter, as if memsnap were not there
 * (docs/hardening.md).
 *
 * Writes by the system into a read-only page (ReadFile into the view, say)
 * fail with ERROR_NOACCESS rather than fault: announce them with
 * ms_view_note_written() first.
 *
 * Global state, forced by exception handlers being process-wide: the
 * handler's registration (INIT_ONCE) and the registry of tracked views,
 * guarded by an SRW lock that the handler takes shared. memsnap never
 * writes to a tracked view while holding it exclusively, so the handler
 * cannot deadlock on its own thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "win.h"

/* Views tracked this way at the same time. */
#define MAX_VIEWS 4096
/* Faults in a row on one page already made writable after which the fault
 * is taken for one that is not the tracker's. */
#define REFAULT_LIMIT 64

typedef struct veh_state {
	_Atomic uint64_t *user_bits; /* pages protected by the user */
	size_t user_bytes;
	int slot;
	/* Set by the handler: making one page writable failed, so it made
	 * the whole view writable; writes since are not recorded. */
	atomic_bool lost;
	bool rearm_all;
	_Atomic size_t refault_page;
	atomic_uint refaults;
} veh_state;

typedef struct entry {
	uintptr_t base;
	size_t size;
	ms_view *view;
} entry;

static entry registry[MAX_VIEWS];
static size_t registry_n; /* slots ever used */
static SRWLOCK registry_lock = SRWLOCK_INIT;
static INIT_ONCE handler_once = INIT_ONCE_STATIC_INIT;
static PVOID handler_cookie;

static veh_state *state_of(const ms_view *v)
{
	return v->tracker_state;
}

static bool user_protected(const veh_state *st, size_t pg)
{
	return (atomic_load_explicit(&st->user_bits[pg >> 6], memory_order_relaxed) >> (pg & 63)) &
	       1;
}

static void set_user(veh_state *st, size_t first, size_t n, bool on)
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

typedef struct claimed_ctx {
	const ms_view *v;
	const veh_state *st;
	bool skip_hot;
} claimed_ctx;

static bool claimed(const void *ctx, size_t pg)
{
	const claimed_ctx *c = ctx;
	return !user_protected(c->st, pg) && !(c->skip_hot && ms__dirty_has(&c->v->hot, pg));
}

/* Apply `prot` to the pages of [first, first+n) the user did not protect
 * (and with `skip_hot` not to the hot pages). */
static int protect_runs(ms_view *v, size_t first, size_t n, DWORD prot, bool skip_hot)
{
	claimed_ctx ctx = {v, state_of(v), skip_hot};
	unsigned shift = v->page_shift;
	size_t pg = first;
	ms__page_run run;
	while (ms__next_run_where(&pg, first + n, claimed, &ctx, &run)) {
		int err = ms__win_protect(v->base + (run.first << shift), run.n << shift, prot);
		if (err)
			return err;
	}
	return 0;
}

/* Whether page `pg`, already writable for us, keeps faulting. */
static bool keeps_faulting(veh_state *st, size_t pg, bool writable)
{
	if (!writable) {
		atomic_store_explicit(&st->refaults, 0, memory_order_relaxed);
		return false;
	}
	if (atomic_exchange_explicit(&st->refault_page, pg, memory_order_relaxed) != pg) {
		atomic_store_explicit(&st->refaults, 1, memory_order_relaxed);
		return false;
	}
	return atomic_fetch_add_explicit(&st->refaults, 1, memory_order_relaxed) + 1 >=
	       REFAULT_LIMIT;
}

/* The tracker's part of one write fault at `addr`: true when it was a
 * tracking fault and the write can be retried. */
static bool on_write(uintptr_t addr)
{
	bool handled = false;
	AcquireSRWLockShared(&registry_lock);
	for (size_t i = 0; i < registry_n; i++) {
		entry *e = &registry[i];
		if (!e->view || addr < e->base || addr - e->base >= e->size)
			continue;
		ms_view *v = e->view;
		veh_state *st = state_of(v);
		size_t pg = (addr - e->base) >> v->page_shift;
		if (user_protected(st, pg) || keeps_faulting(st, pg, ms__dirty_has(&v->dirty, pg)))
			break;
		ms__dirty_add(&v->dirty, pg);
		uint8_t *page = v->base + (pg << v->page_shift);
		DWORD old;
		handled = VirtualProtect(page, (size_t)1 << v->page_shift, PAGE_WRITECOPY, &old);
		if (!handled) {
			/* Tracking is lost, not the write: the whole view is
			 * made writable, and collect() compares it with the
			 * snapshot. */
			atomic_store_explicit(&st->lost, true, memory_order_relaxed);
			handled = protect_runs(v, 0, v->npages, PAGE_WRITECOPY, false) == 0;
		}
		break;
	}
	ReleaseSRWLockShared(&registry_lock);
	return handled;
}

static LONG CALLBACK handler(PEXCEPTION_POINTERS info)
{
	const EXCEPTION_RECORD *r = info->ExceptionRecord;
	if (r->ExceptionCode != EXCEPTION_ACCESS_VIOLATION || r->NumberParameters < 2 ||
	    r->ExceptionInformation[0] != 1 /* a write */)
		return EXCEPTION_CONTINUE_SEARCH;
	DWORD saved = GetLastError();
	bool handled = on_write((uintptr_t)r->ExceptionInformation[1]);
	SetLastError(saved);
	return handled ? EXCEPTION_CONTINUE_EXECUTION : EXCEPTION_CONTINUE_SEARCH;
}

static BOOL CALLBACK add_handler(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	(void)once, (void)param, (void)ctx;
	handler_cookie = AddVectoredExceptionHandler(1, handler);
	return TRUE;
}

static int registry_add(ms_view *v)
{
	InitOnceExecuteOnce(&handler_once, add_handler, NULL, NULL);
	if (!handler_cookie)
		return -ENOMEM;
	int slot = -ENOSPC;
	AcquireSRWLockExclusive(&registry_lock);
	for (size_t i = 0; i < MAX_VIEWS; i++) {
		if (registry[i].view)
			continue;
		registry[i] = (entry){(uintptr_t)v->base, v->size, v};
		if (registry_n < i + 1)
			registry_n = i + 1;
		slot = (int)i;
		break;
	}
	ReleaseSRWLockExclusive(&registry_lock);
	return slot;
}

static void registry_remove(int slot)
{
	if (slot < 0)
		return;
	AcquireSRWLockExclusive(&registry_lock);
	registry[slot] = (entry){0, 0, NULL};
	ReleaseSRWLockExclusive(&registry_lock);
}

static int probe(void)
{
	return 0;
}

static void release(ms_view *v)
{
	veh_state *st = state_of(v);
	if (!st)
		return;
	registry_remove(st->slot);
	if (st->user_bits)
		ms__os_unmap((void *)st->user_bits, st->user_bytes);
	free(st);
	v->tracker_state = NULL;
}

static int attach(ms_view *v)
{
	veh_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->slot = -1;
	atomic_init(&st->refault_page, SIZE_MAX);
	v->tracker_state = st;
	size_t ps = ms_page_size();
	st->user_bytes = ((v->npages + 63) / 64 * 8 + ps - 1) / ps * ps;
	void *bits;
	int err = ms__os_reserve(st->user_bytes, MS_ACCESS_READ | MS_ACCESS_WRITE, &bits);
	if (err)
		goto fail;
	st->user_bits = bits;
	err = registry_add(v);
	if (err < 0)
		goto fail;
	st->slot = err;
	err = ms__win_protect(v->base, v->size, PAGE_READONLY);
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
	veh_state *st = state_of(v);
	if (!atomic_exchange_explicit(&st->lost, false, memory_order_relaxed))
		return 0;
	st->rearm_all = true;
	unsigned shift = v->page_shift;
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

static int protect_dirty(ms_view *v, DWORD prot)
{
	size_t n = atomic_load(&v->dirty.n), i = 0;
	ms__page_run run;
	while (ms__next_run(v->dirty.list, n, &i, &run)) {
		int err = protect_runs(v, run.first, run.n, prot, false);
		if (err)
			return err;
	}
	return 0;
}

static int rearm(ms_view *v)
{
	veh_state *st = state_of(v);
	if (!st->rearm_all)
		return protect_dirty(v, PAGE_READONLY);
	int err = protect_runs(v, 0, v->npages, PAGE_READONLY, v->hot_enabled);
	if (!err)
		st->rearm_all = false;
	return err;
}

static int unprotect(ms_view *v, size_t first, size_t n)
{
	return protect_runs(v, first, n, PAGE_WRITECOPY, false);
}

static int protect(ms_view *v, size_t first, size_t n, unsigned access)
{
	veh_state *st = state_of(v);
	unsigned shift = v->page_shift;
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
	veh_state *st = state_of(v);
	int err = ms__win_protect(v->base, v->size, PAGE_READONLY);
	if (err)
		return err;
	for (size_t i = 0; i < st->user_bytes / sizeof(uint64_t); i++)
		atomic_store_explicit(&st->user_bits[i], 0, memory_order_relaxed);
	return protect_dirty(v, PAGE_WRITECOPY);
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
