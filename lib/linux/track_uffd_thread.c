/*
 * The uffd-thread tracker: userfaultfd write-protect in its classic
 * synchronous mode, every fault served by a thread of memsnap's.
 *
 * Every page of the view is write-protected when tracking is first needed
 * (ms__uffd_attach in uffd.h; never touched pages of the private file
 * mapping get a marker, as for the other userfaultfd trackers). A write to a protected page, by any
 * thread of the program or by the kernel writing for it (read(2) into the view, process_vm_writev,
 * ...), waits in the kernel while a message goes to the view's userfaultfd. The view's tracking
 * thread records the page in the dirty set and lifts the protection of that one page, which wakes
 * the writer, and the write goes through. So the kernel's writes are seen, as with uffd-async, and
 * restore costs only the dirty pages, as with uffd-sync: nothing is left to collect, and rearm()
 * protects the dirty runs again. Pages that stay hot (view.c) fault no more.
 * A loop whose first writes cost more in round trips than a scan of the
 * view costs moves the view to a scanning mode, as uffd-async works, and
 * back when that pays again (uffd_modes.c).
 *
 * The kernel passes faults taken in kernel mode only to a userfaultfd made
 * with privilege (CAP_SYS_PTRACE, access to /dev/userfaultfd, or
 * vm.unprivileged_userfaultfd=1); elsewhere probe() fails, since the
 * kernel's writes would fail with EFAULT. It offers synchronous
 * write-protect only on anonymous memory, memfd/shmem and hugetlbfs: views
 * of regular files cannot use this tracker (attach returns -EOPNOTSUPP).
 * Under valgrind, which runs one thread at a time, a faulting thread would
 * wait forever for the tracking thread: probe() says no there too, and in
 * ThreadSanitizer builds (below).
 *
 * State per view: its userfaultfd, an eventfd that tells the thread to end,
 * the thread, and the scanning mode's userfaultfd once made. The thread blocks every signal, so the
 * program's signals are never delivered to it. A child forked from the program has no such thread,
 * and the kernel dropped the userfaultfd registration from its copy of the mapping (no
 * UFFD_FEATURE_EVENT_FORK), so its writes never wait: the view is untracked there until its first
 * restore remaps it (view.c), and detach() in the child only closes its copies of the descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "prim.h"
#include "uffd.h"

#ifdef MS_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif
/* ThreadSanitizer cannot see the ordering the kernel gives between the
 * thread's recording a page and the writer's going on (the writer waits in
 * a page fault, not in a call it knows), and would report the dirty set as
 * raced: builds with it leave this tracker out. */
#if defined(__SANITIZE_THREAD__)
#define MS_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MS_UNDER_TSAN 1
#endif
#endif
#ifndef MS_UNDER_TSAN
#define MS_UNDER_TSAN 0
#endif

/* Messages read per read(2): writes from several threads can wait at once. */
enum { MSG_BATCH = 16 };

typedef struct thread_state {
	ms__uffd_state u;
	int stop;     /* eventfd: readable once the thread must end */
	pid_t pid;    /* the process whose thread serves the view */
	void *thread; /* ms__os_thread_start's; NULL before it started */
	int cpu;      /* the CPU the thread is bound to, or -1 */
	ms_view *v;

	ms__uffd_modes modes; /* and the scanning mode (uffd_modes.c) */
} thread_state;

/* The tracker in its scanning mode (the end of this file). */
static const ms__tracker_ops scanning_ops;

static thread_state *state_of(ms_view *v)
{
	return v->tracker_state;
}

static int probe(void)
{
	if (RUNNING_ON_VALGRIND || MS_UNDER_TSAN)
		return -EOPNOTSUPP;
	return ms__uffd_probe(UFFD_FEATURE_PAGEFAULT_FLAG_WP, true);
}

/* Record the page of one write fault and let the writer go on. */
static void serve(thread_state *st, uint64_t addr)
{
	ms_view *v = st->v;
	unsigned shift = ms__page_shift();
	size_t pg = (size_t)((addr - (uintptr_t)v->base) >> shift);
	/* Outside the view: the page that times a round trip (uffd_modes.c). */
	if (pg < v->npages)
		ms__dirty_add(&v->dirty, pg);
	/* Lifting the protection wakes the writer. It fails with EAGAIN while
	 * the memory map is changing; then wake the writer anyway: its write
	 * faults again if the page is still protected, and comes back here. */
	void *page = (void *)(uintptr_t)(addr & ~(((uint64_t)1 << shift) - 1));
	if (ms__uffd_wp(st->u.uffd, page, (size_t)1 << shift, false) != 0) {
		struct uffdio_range r = {.start = (uintptr_t)page, .len = (size_t)1 << shift};
		(void)ms__ioctl(st->u.uffd, UFFDIO_WAKE, &r);
	}
}

static void *run(void *arg)
{
	thread_state *st = arg;
	for (;;) {
		struct pollfd fds[2] = {{.fd = st->u.uffd, .events = POLLIN},
					{.fd = st->stop, .events = POLLIN}};
		int n = poll(fds, 2, -1);
		if (n > 0 && fds[1].revents)
			return NULL;
		if (n < 0 || (fds[0].revents & (POLLERR | POLLNVAL))) {
			/* Not expected (signals are blocked, the descriptors
			 * are valid): never spin on it. */
			struct timespec ms = {.tv_nsec = 1000000};
			nanosleep(&ms, NULL);
			continue;
		}
		struct uffd_msg msg[MSG_BATCH];
		ssize_t got = read(st->u.uffd, msg, sizeof msg);
		if (got <= 0)
			continue; /* EAGAIN: another wakeup took it */
		for (size_t i = 0; i < (size_t)got / sizeof msg[0]; i++)
			if (msg[i].event == UFFD_EVENT_PAGEFAULT)
				serve(st, msg[i].arg.pagefault.address);
	}
}

/*
 * A writer waits until this thread has run. Woken on another CPU, one left
 * idle by the writer's own wait, the thread first pays that CPU's wake-up
 * (on a virtual machine, interrupts both ways and the host's scheduling of
 * an idle vCPU), several times the round trip on the writer's CPU, loaded
 * or not (docs/tracking.md). So the thread follows the CPU of the thread
 * that restores the view, which in a fuzz loop is the one that writes it:
 * bound again at a restore that finds that CPU changed (one getcpu; a
 * system call only on a change). It keeps the ordinary priority: with a
 * real-time one the scheduler moves the preempted writer to the idle CPU,
 * which costs the wake-ups again.
 */
static void follow(thread_state *st)
{
	int cpu = sched_getcpu();
	if (cpu >= 0 && cpu != st->cpu && ms__thread_bind(st->thread, cpu) == 0)
		st->cpu = cpu;
}

/* Start the tracking thread (every signal blocked, a stack of its own:
 * ms__os_thread_start). */
static int start(thread_state *st)
{
	int err = ms__os_thread_start(run, st, &st->thread);
	if (err) {
		st->thread = NULL;
		return err;
	}
	st->cpu = -1;
	follow(st);
	return 0;
}

static void release(ms_view *v)
{
	thread_state *st = state_of(v);
	if (!st)
		return;
	if (st->thread && st->pid == ms__os_pid()) {
		uint64_t one = 1;
		while (write(st->stop, &one, sizeof one) < 0 && errno == EINTR)
			;
		ms__os_thread_join(st->thread);
	} else if (st->thread) {
		/* A forked child: the eventfd is the parent's too (never
		 * signal it here), and there is no thread to join. */
		ms__thread_forget(st->thread);
	}
	/* Closing the userfaultfd ends the registration and wakes any writer
	 * still waiting: it retries unprotected. */
	ms__os_close(st->u.uffd);
	ms__os_close(st->stop);
	ms__modes_release(&st->modes);
	free(st);
	v->tracker_state = NULL;
}

static void init(void *state)
{
	thread_state *st = state;
	st->stop = -1;
	ms__modes_init(&st->modes, &ms__tracker_uffd_thread, &scanning_ops);
}

/* The thread first, then the protection (ms__uffd_attach): from then on
 * writes wait for it. */
static int prepare(ms_view *v)
{
	thread_state *st = state_of(v);
	st->v = v;
	st->pid = ms__os_pid();
	st->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (st->stop < 0)
		return -errno;
	return start(st);
}

static const ms__uffd_kind kind = {
    .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP,
    .kernel_faults = true,
    .state_size = sizeof(thread_state),
    .init = init,
    .prepare = prepare,
    .release = release,
};

static int attach(ms_view *v)
{
	if (RUNNING_ON_VALGRIND || MS_UNDER_TSAN)
		return -EOPNOTSUPP;
	/* A view mapped again starts in the synchronous mode. */
	v->ops = &ms__tracker_uffd_thread;
	return ms__uffd_attach(v, &kind);
}

static int unprotect(ms_view *v, size_t first, size_t n)
{
	thread_state *st = state_of(v);
	unsigned shift = ms__page_shift();
	return ms__uffd_wp(ms__modes_uffd(v, &st->modes, st->u.uffd), v->base + (first << shift),
			   n << shift, false);
}

static int rearm(ms_view *v)
{
	thread_state *st = state_of(v);
	follow(st);
	size_t n = atomic_load(&v->dirty.n);
	int err = ms__uffd_rearm(v);
	if (!err)
		ms__modes_consider(v, &st->modes, st->u.uffd, n);
	return err;
}

static int collect_scanning(ms_view *v)
{
	return ms__modes_collect(v, &state_of(v)->modes);
}

static int rearm_scanning(ms_view *v)
{
	thread_state *st = state_of(v);
	size_t n = atomic_load(&v->dirty.n);
	int err = ms__modes_rearm(v, &st->modes);
	if (!err)
		ms__modes_consider(v, &st->modes, st->u.uffd, n);
	return err;
}

const ms__tracker_ops ms__tracker_uffd_thread = {
    .id = MS_TRACKER_UFFD_THREAD,
    .name = "uffd-thread",
    .probe = probe,
    .attach = attach,
    .detach = release,
    .collect = ms__uffd_settle,
    .rearm = rearm,
    .unprotect = unprotect,
    .fault_driven = true,
};

/* The same tracker in its scanning mode (uffd_modes.c): not fault-driven
 * (restores collect), the same name and id. */
ms__uffd_modes *ms__uffd_thread_modes(const ms_view *v)
{
	if (v->ops != &ms__tracker_uffd_thread && v->ops != &scanning_ops)
		return NULL;
	thread_state *st = v->tracker_state;
	return st ? &st->modes : NULL;
}

static const ms__tracker_ops scanning_ops = {
    .id = MS_TRACKER_UFFD_THREAD,
    .name = "uffd-thread",
    .probe = probe,
    .attach = attach,
    .detach = release,
    .collect = collect_scanning,
    .rearm = rearm_scanning,
    .unprotect = unprotect,
};
