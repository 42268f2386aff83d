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
 * The handlers preserve errno and use only async-signal-safe calls (ioctl,
 * mprotect, sigaction, raise).
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
} slot;

static slot registry[MS__SIGTRACK_MAX];
static atomic_size_t high_water;

static struct sigaction old_bus, old_segv;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT, segv_once = PTHREAD_ONCE_INIT;
static atomic_int bus_err, segv_err;

/* Hand a fault that is not ours to whoever had the signal before. */
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
static bool lookup(uintptr_t addr, int kind, ms_view **view, uintptr_t *base, int *uffd,
		   const _Atomic uint64_t **user_bits)
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
		*view = atomic_load_explicit(&s->view, memory_order_relaxed);
		*uffd = atomic_load_explicit(&s->uffd, memory_order_relaxed);
		*user_bits = atomic_load_explicit(&s->user_bits, memory_order_relaxed);
		*base = b;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->state, memory_order_relaxed) == st)
			return true;
	}
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	ms_view *v;
	uintptr_t base;
	int uffd;
	const _Atomic uint64_t *user_bits;
	uintptr_t addr = (uintptr_t)si->si_addr;
	bool handled = false;
	if (si->si_code > 0 && lookup(addr, MS__SIGTRACK_UFFD, &v, &base, &uffd, &user_bits)) {
		unsigned shift = ms__page_shift();
		size_t pg = (addr - base) >> shift;
		ms__dirty_add(&v->dirty, pg);
		struct uffdio_writeprotect wp = {
		    .range = {.start = base + (pg << shift), .len = (size_t)1 << shift},
		    .mode = 0,
		};
		/* EAGAIN: the memory map is changing; the write faults again. */
		handled = ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0 || errno == EAGAIN;
	}
	if (!handled)
		chain(sig, si, uctx, &old_bus);
	errno = saved;
}

static void on_sigsegv(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	ms_view *v;
	uintptr_t base;
	int uffd;
	const _Atomic uint64_t *user_bits;
	uintptr_t addr = (uintptr_t)si->si_addr;
	bool handled = false;
	if (si->si_code == SEGV_ACCERR &&
	    lookup(addr, MS__SIGTRACK_MPROTECT, &v, &base, &uffd, &user_bits)) {
		unsigned shift = ms__page_shift();
		size_t pg = (addr - base) >> shift;
		bool user = user_bits &&
			    ((atomic_load_explicit(&user_bits[pg >> 6], memory_order_relaxed) >>
			      (pg & 63)) &
			     1);
		if (!user) {
			ms__dirty_add(&v->dirty, pg);
			handled = mprotect((void *)(base + (pg << shift)), (size_t)1 << shift,
					   PROT_READ | PROT_WRITE) == 0;
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
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
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

int ms__sigtrack_add(ms_view *v, ms__sigtrack_kind kind, int uffd,
		     const _Atomic uint64_t *user_bits)
{
	int err;
	if (kind == MS__SIGTRACK_UFFD) {
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
		atomic_store_explicit(&s->uffd, uffd, memory_order_relaxed);
		atomic_store_explicit(&s->kind, (int)kind, memory_order_relaxed);
		atomic_store_explicit(&s->user_bits, user_bits, memory_order_relaxed);
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
