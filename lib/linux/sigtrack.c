/*
 * The signal handlers of the fault-driven trackers and the registry they
 * search. See sigtrack.h.
 *
 * Global state, forced by signals being process-wide:
 *  - the previous SIGBUS and SIGSEGV dispositions, saved once when the first
 *    view of each kind is tracked (pthread_once) and never changed after;
 *  - the registry: MS__SIGTRACK_MAX slots, each guarded by an atomic state
 *    word holding a generation and FREE/BUSY/LIVE. Writers claim a slot with
 *    a compare-and-swap, fill it while it is BUSY and publish it LIVE with a
 *    release store; removal bumps the generation. The handler reads a slot's
 *    fields between two loads of the state word and trusts them only if the
 *    word was LIVE and unchanged, so it never takes a lock and is
 *    async-signal-safe. A high-water mark bounds the search to the slots
 *    ever used.
 * The handlers preserve errno, use only async-signal-safe calls (ioctl,
 * mprotect, sigaction, raise) and may be re-entered: they are
 * installed with SA_NODEFER, so a tracking fault raised inside any handler
 * (ours, one we chain to, one that interrupted ours) is handled like any
 * other. A fault is the tracker's only when it is a write (the CPU's
 * error code says so on x86-64) to a page of a registered view that was
 * not protected by the user and that lifting the protection lets through
 * (a page that keeps faulting although lifted is not ours); anything else
 * goes on to the previous handler.
 */
#define _GNU_SOURCE
#include "sigtrack.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "prim.h"
#include "uffd.h"

enum { FREE = 0, BUSY = 1, LIVE = 2, STATE_MASK = 3, GEN_STEP = 4 };

typedef struct slot {
	atomic_uint_fast64_t state;
	_Atomic uintptr_t base;
	_Atomic size_t size;
	_Atomic(ms_view *) view;
	atomic_int uffd;
	atomic_int kind;
	_Atomic(const _Atomic uint64_t *) user_bits;
	_Atomic(bool (*)(ms_view *)) lost;
	/* The page that faulted last while it was already writable for us,
	 * and how many times in a row (see keeps_faulting). */
	_Atomic size_t refault_page;
	atomic_uint refaults;
} slot;

/* A copy of what the handler needs from a slot. */
typedef struct found {
	slot *s;
	ms_view *view;
	uintptr_t base;
	int uffd;
	const _Atomic uint64_t *user_bits;
	bool (*lost)(ms_view *);
} found;

static slot registry[MS__SIGTRACK_MAX];
static atomic_size_t high_water;

static struct sigaction old_bus, old_segv;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT, segv_once = PTHREAD_ONCE_INIT;
static atomic_int bus_err, segv_err;

/* Hand a fault that is not ours to whoever had the signal before. It runs
 * inside our handler, which does not block the tracking signals
 * (SA_NODEFER), so it may store into views. */
static void chain(int sig, siginfo_t *si, void *uctx, const struct sigaction *old)
{
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uctx);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	if (old->sa_handler == SIG_IGN && si->si_code <= 0)
		return; /* sent by kill() and ignored before we came */
	/* Default action: put it back. A fault re-executes the instruction
	 * when we return and now kills the process as it would have without
	 * us; a signal sent by kill() is sent again. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

/* Find the live slot of `kind` whose range holds `addr`; copies what the
 * handler needs out of it. */
static bool lookup(uintptr_t addr, int kind, found *f)
{
	size_t n = atomic_load_explicit(&high_water, memory_order_acquire);
	for (size_t i = 0; i < n; i++) {
		slot *s = &registry[i];
		uint_fast64_t st = atomic_load_explicit(&s->state, memory_order_acquire);
		if ((st & STATE_MASK) != LIVE)
			continue;
		uintptr_t b = atomic_load_explicit(&s->base, memory_order_relaxed);
		size_t sz = atomic_load_explicit(&s->size, memory_order_relaxed);
		if (addr < b || addr - b >= sz ||
		    atomic_load_explicit(&s->kind, memory_order_relaxed) != kind)
			continue;
		f->s = s;
		f->view = atomic_load_explicit(&s->view, memory_order_relaxed);
		f->uffd = atomic_load_explicit(&s->uffd, memory_order_relaxed);
		f->user_bits = atomic_load_explicit(&s->user_bits, memory_order_relaxed);
		f->lost = atomic_load_explicit(&s->lost, memory_order_relaxed);
		f->base = b;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->state, memory_order_relaxed) == st)
			return true;
	}
	return false;
}

/* What the CPU says about the faulting access: 1 for a data write, 0 for a
 * read or an instruction fetch, -1 when this host does not say. */
static int access_was_write(const void *uctx)
{
#if defined(__x86_64__) && defined(REG_ERR)
	/* The page-fault error code: bit 1 a write, bit 4 an instruction
	 * fetch. */
	const ucontext_t *uc = uctx;
	unsigned long code = (unsigned long)uc->uc_mcontext.gregs[REG_ERR];
	return (code & 2) && !(code & 16);
#else
	(void)uctx;
	return -1;
#endif
}

/* Faults in a row on one page, already made writable, after which the
 * fault is taken for one that is not the tracker's. */
#define MS__REFAULT_LIMIT 64

/* Whether page `pg`, which the handler already made writable (`writable`),
 * keeps faulting: then making it writable does not help, and the fault is
 * not a tracking fault (a fetch from the never executable view where the
 * host does not say what faulted, an access past the end of a file shrunk
 * under the view). A racing thread can fault a few times on a page another
 * thread is making writable, never 64 times in a row. */
static bool keeps_faulting(const found *f, size_t pg, bool writable)
{
	if (!writable) {
		atomic_store_explicit(&f->s->refaults, 0, memory_order_relaxed);
		return false;
	}
	size_t last = atomic_exchange_explicit(&f->s->refault_page, pg, memory_order_relaxed);
	if (last != pg) {
		atomic_store_explicit(&f->s->refaults, 1, memory_order_relaxed);
		return false;
	}
	return atomic_fetch_add_explicit(&f->s->refaults, 1, memory_order_relaxed) + 1 >=
	       MS__REFAULT_LIMIT;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	found f;
	uintptr_t addr = (uintptr_t)si->si_addr;
	bool handled = false;
	/* Write-protect faults come as BUS_ADRERR; memory errors (MCEERR) and
	 * the rest are never ours. */
	if (si->si_code == BUS_ADRERR && lookup(addr, MS__SIGTRACK_UFFD, &f)) {
		unsigned shift = ms__page_shift();
		size_t pg = (addr - f.base) >> shift;
		bool dirty = ms__dirty_has(&f.view->dirty, pg);
		/* A page past the end of a file shrunk under the view faults
		 * again however often its protection is lifted. */
		if (access_was_write(uctx) != 0 && !keeps_faulting(&f, pg, dirty)) {
			ms__dirty_add(&f.view->dirty, pg);
			struct uffdio_writeprotect wp = {
			    .range = {.start = f.base + (pg << shift), .len = (size_t)1 << shift},
			    .mode = 0,
			};
			/* EAGAIN: the memory map is changing; the write
			 * faults again. */
			handled = ioctl(f.uffd, UFFDIO_WRITEPROTECT, &wp) == 0 || errno == EAGAIN;
		}
	}
	if (!handled)
		chain(sig, si, uctx, &old_bus);
	errno = saved;
}

static void on_sigsegv(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	found f;
	uintptr_t addr = (uintptr_t)si->si_addr;
	bool handled = false;
	if (si->si_code == SEGV_ACCERR && lookup(addr, MS__SIGTRACK_MPROTECT, &f)) {
		unsigned shift = ms__page_shift();
		size_t pg = (addr - f.base) >> shift;
		bool user = f.user_bits &&
			    ((atomic_load_explicit(&f.user_bits[pg >> 6], memory_order_relaxed) >>
			      (pg & 63)) &
			     1);
		bool dirty = ms__dirty_has(&f.view->dirty, pg);
		int w = access_was_write(uctx);
		if (!user && (w == 1 || (w < 0 && !keeps_faulting(&f, pg, dirty)))) {
			ms__dirty_add(&f.view->dirty, pg);
			int err = ms__protect((void *)(f.base + (pg << shift)), (size_t)1 << shift,
					      PROT_READ | PROT_WRITE);
			/* ENOMEM: splitting the mapping would exceed the
			 * process's limit on mappings. On any failure the
			 * tracker may give up tracking the view instead of
			 * the write. */
			handled = err == 0 || (f.lost && f.lost(f.view));
		}
	}
	if (!handled)
		chain(sig, si, uctx, &old_segv);
	errno = saved;
}

static int install(int sig, void (*fn)(int, siginfo_t *, void *), struct sigaction *old)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	/* SA_NODEFER: a tracking fault inside a handler (ours, one we chain
	 * to, or one that interrupted ours) must not find its signal
	 * blocked, which would kill the process. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, old) == 0 ? 0 : -errno;
}

static void install_bus(void)
{
	atomic_store(&bus_err, install(SIGBUS, on_sigbus, &old_bus));
}

static void install_segv(void)
{
	atomic_store(&segv_err, install(SIGSEGV, on_sigsegv, &old_segv));
}

int ms__sigtrack_add(ms_view *v, const ms__sigtrack_spec *spec)
{
	int err;
	if (spec->kind == MS__SIGTRACK_UFFD) {
		pthread_once(&bus_once, install_bus);
		err = atomic_load(&bus_err);
	} else {
		pthread_once(&segv_once, install_segv);
		err = atomic_load(&segv_err);
	}
	if (err)
		return err;
	for (size_t i = 0; i < MS__SIGTRACK_MAX; i++) {
		slot *s = &registry[i];
		uint_fast64_t st = atomic_load(&s->state);
		if ((st & STATE_MASK) != FREE ||
		    !atomic_compare_exchange_strong(&s->state, &st, st | BUSY))
			continue;
		atomic_store_explicit(&s->base, (uintptr_t)v->base, memory_order_relaxed);
		atomic_store_explicit(&s->size, v->size, memory_order_relaxed);
		atomic_store_explicit(&s->view, v, memory_order_relaxed);
		atomic_store_explicit(&s->uffd, spec->uffd, memory_order_relaxed);
		atomic_store_explicit(&s->kind, (int)spec->kind, memory_order_relaxed);
		atomic_store_explicit(&s->user_bits, spec->user_bits, memory_order_relaxed);
		atomic_store_explicit(&s->lost, spec->lost, memory_order_relaxed);
		atomic_store_explicit(&s->refault_page, SIZE_MAX, memory_order_relaxed);
		atomic_store_explicit(&s->refaults, 0, memory_order_relaxed);
		size_t hw = atomic_load(&high_water);
		while (hw < i + 1 && !atomic_compare_exchange_weak(&high_water, &hw, i + 1))
			;
		atomic_store_explicit(&s->state, st | LIVE, memory_order_release);
		return (int)i;
	}
	return -ENOSPC;
}

void ms__sigtrack_remove(int i)
{
	if (i < 0 || i >= MS__SIGTRACK_MAX)
		return;
	slot *s = &registry[i];
	uint_fast64_t st = atomic_load(&s->state);
	atomic_store_explicit(&s->state, (st & ~(uint_fast64_t)STATE_MASK) + GEN_STEP,
			      memory_order_release);
}

int ms__os_watch_writes(ms_view *v, const _Atomic uint64_t *user_bits, bool (*lost)(ms_view *v))
{
	ms__sigtrack_spec spec = {
	    .kind = MS__SIGTRACK_MPROTECT,
	    .uffd = -1,
	    .user_bits = user_bits,
	    .lost = lost,
	};
	int slot = ms__sigtrack_add(v, &spec);
	if (slot < 0)
		return slot;
	/* Give the mapping its anonymous-memory bookkeeping (anon_vma) now, by
	 * copying one page onto itself while it is still writable. Pieces of a
	 * mapping split by mprotect later merge back only if they share it;
	 * otherwise every restore would leave the view split in more pieces. */
	volatile uint8_t *first = v->base;
	*first = *first;
	return slot;
}

void ms__os_unwatch_writes(int slot)
{
	ms__sigtrack_remove(slot);
}
