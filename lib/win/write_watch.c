/*
 * Write faults for the page-protection tracker (track_protect.c) on
 * Windows: a vectored exception handler stands where Linux has a SIGSEGV
 * handler. The tracker makes a view PAGE_READONLY; the first store to a
 * page raises an access violation, and the handler records the page and
 * makes it PAGE_WRITECOPY again (the view is copy-on-write: its written
 * pages become private; PAGE_READWRITE would let later writes reach the
 * section).
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

#include "../internal.h"
#include "win.h"

/* Views watched at the same time. */
#define MAX_VIEWS 4096
/* Faults in a row on one page already made writable after which the fault
 * is taken for one that is not the tracker's. */
#define REFAULT_LIMIT 64

typedef struct entry {
	uintptr_t base;
	size_t size;
	ms_view *view;
	const _Atomic uint64_t *user_bits; /* pages protected by the user */
	bool (*lost)(ms_view *v);
	_Atomic size_t refault_page;
	atomic_uint refaults;
} entry;

static entry registry[MAX_VIEWS];
static size_t registry_n; /* slots ever used */
static SRWLOCK registry_lock = SRWLOCK_INIT;
static INIT_ONCE handler_once = INIT_ONCE_STATIC_INIT;
static PVOID handler_cookie;

static bool user_protected(const entry *e, size_t pg)
{
	return (atomic_load_explicit(&e->user_bits[pg >> 6], memory_order_relaxed) >> (pg & 63)) &
	       1;
}

/* Whether page `pg`, already writable for us, keeps faulting. */
static bool keeps_faulting(entry *e, size_t pg, bool writable)
{
	if (!writable) {
		atomic_store_explicit(&e->refaults, 0, memory_order_relaxed);
		return false;
	}
	if (atomic_exchange_explicit(&e->refault_page, pg, memory_order_relaxed) != pg) {
		atomic_store_explicit(&e->refaults, 1, memory_order_relaxed);
		return false;
	}
	return atomic_fetch_add_explicit(&e->refaults, 1, memory_order_relaxed) + 1 >=
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
		size_t pg = (addr - e->base) >> v->page_shift;
		if (user_protected(e, pg) || keeps_faulting(e, pg, ms__dirty_has(&v->dirty, pg)))
			break;
		ms__dirty_add(&v->dirty, pg);
		DWORD old;
		handled = VirtualProtect(v->base + (pg << v->page_shift), (size_t)1 << v->page_shift,
					 PAGE_WRITECOPY, &old) ||
			  e->lost(v);
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

int ms__os_watch_writes(ms_view *v, const _Atomic uint64_t *user_bits, bool (*lost)(ms_view *v))
{
	InitOnceExecuteOnce(&handler_once, add_handler, NULL, NULL);
	if (!handler_cookie)
		return -ENOMEM;
	int slot = -ENOSPC;
	AcquireSRWLockExclusive(&registry_lock);
	for (size_t i = 0; i < MAX_VIEWS; i++) {
		entry *e = &registry[i];
		if (e->view)
			continue;
		e->base = (uintptr_t)v->base;
		e->size = v->size;
		e->view = v;
		e->user_bits = user_bits;
		e->lost = lost;
		atomic_store_explicit(&e->refault_page, SIZE_MAX, memory_order_relaxed);
		atomic_store_explicit(&e->refaults, 0, memory_order_relaxed);
		if (registry_n < i + 1)
			registry_n = i + 1;
		slot = (int)i;
		break;
	}
	ReleaseSRWLockExclusive(&registry_lock);
	return slot;
}

void ms__os_unwatch_writes(int slot)
{
	if (slot < 0 || slot >= MAX_VIEWS)
		return;
	AcquireSRWLockExclusive(&registry_lock);
	registry[slot].view = NULL;
	ReleaseSRWLockExclusive(&registry_lock);
}
