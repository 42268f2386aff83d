/* The signal handlers of the fault-driven trackers (lib/linux/sigtrack.c):
 * faults that are not tracking faults stay the application's (its handler,
 * or death by the original signal, never a loop), stores from signal
 * handlers and from threads with signals blocked, and the mprotect tracker
 * past the kernel's limit on mappings.
 *
 * Every case runs in a child process bounded by alarm(): a fault loop ends
 * in SIGALRM, and the test fails instead of hanging. Views are only ever
 * created in the children, so each child installs the handlers afresh. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memsnap/memsnap.h"
#include "internal.h"
#include "linux/fault.h"
#include "linux/prim.h"
#include "../common.h"

#define PS 4096u
#define CHILD_SECONDS 5

static const ms_tracker every_tracker[] = {MS_TRACKER_UFFD_THREAD, MS_TRACKER_UFFD_ASYNC,
					   MS_TRACKER_UFFD_SYNC, MS_TRACKER_MPROTECT,
					   MS_TRACKER_NONE};
#define N_EVERY (sizeof every_tracker / sizeof every_tracker[0])

/* Whether tracker t can be tested here; logs why not. */
static bool usable(ms_tracker t)
{
	int err = ms_tracker_probe(t);
	if (!err && ms_test_under_valgrind() && t != MS_TRACKER_NONE &&
	    t != MS_TRACKER_UFFD_ASYNC) {
		/* Faults resumed by a handler are not emulated faithfully
		 * there; these run natively and under ASan. */
		cr_log_info("skipping tracker %s under valgrind", ms_tracker_name(t));
		return false;
	}
	if (err)
		cr_log_info("skipping tracker %s: %s", ms_tracker_name(t), ms_strerror(err));
	return err == 0;
}

/* Run fn(t) in a child bounded by alarm(seconds); returns its wait status. */
static int in_child_for(void (*fn)(ms_tracker), ms_tracker t, unsigned seconds)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm(seconds);
		fn(t);
		_exit(0);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static int in_child(void (*fn)(ms_tracker), ms_tracker t)
{
	return in_child_for(fn, t, CHILD_SECONDS);
}

static const char *describe(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		snprintf(buf, cap, "killed by alarm: a fault loop");
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, cap, "status %#x", status);
	return buf;
}

static void expect_signal(int status, int sig, ms_tracker t, const char *what)
{
	char buf[128];
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == sig, "%s, %s: %s instead of %s", what,
		  ms_tracker_name(t), describe(status, buf, sizeof buf), strsignal(sig));
}

static void expect_exit(int status, int code, ms_tracker t, const char *what)
{
	char buf[128];
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == code, "%s, %s: %s instead of exit %d",
		  what, ms_tracker_name(t), describe(status, buf, sizeof buf), code);
}

/* In a child: abort with a distinct status when a call fails. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
			_exit(99);                                                                 \
		}                                                                                  \
	} while (0)

/* The child's last view: it ends with _exit, often from a signal handler,
 * without freeing it; kept reachable so valgrind does not count a leak. */
static ms_view *volatile child_last_view;

static ms_view *child_view(ms_snapshot *snap, ms_tracker t)
{
	ms_view *v;
	CHECK(ms_view_new_tracked(snap, MS_VIEW_COW, t, &v) == 0);
	child_last_view = v;
	return v;
}

/* ---- Faults that are not tracking faults ---------------------------------- */

/* A snapshot of the caller's own memfd: the caller can shrink it. */
static int user_memfd(size_t pages)
{
	int fd = memfd_create("user", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)(pages * PS)) == 0);
	return fd;
}

static volatile sig_atomic_t truncate_through_proc;

/* Shrink the file under a view, then store into a page past its new end. */
static void store_past_a_truncated_end(ms_tracker t)
{
	int fd = user_memfd(4);
	ms_snapshot *snap;
	CHECK(ms_snapshot_from_fd(fd, &snap) == 0);
	ms_view *v = child_view(snap, t);
	volatile uint8_t *p = ms_view_data(v);
	p[0] = 1; /* a tracking fault, handled */
	if (truncate_through_proc) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		int again = open(path, O_RDWR | O_CLOEXEC);
		CHECK(again >= 0);
		CHECK(ftruncate(again, PS) == 0);
	} else {
		CHECK(ftruncate(fd, PS) == 0);
	}
	p[2 * PS] = 1; /* past the end of the file: SIGBUS */
	_exit(0);
}

static void load_past_a_truncated_end(ms_tracker t)
{
	int fd = user_memfd(4);
	ms_snapshot *snap;
	CHECK(ms_snapshot_from_fd(fd, &snap) == 0);
	ms_view *v = child_view(snap, t);
	volatile uint8_t *p = ms_view_data(v);
	p[0] = 1;
	CHECK(ftruncate(fd, PS) == 0);
	(void)p[3 * PS];
	_exit(0);
}

Test(signals, a_truncated_file_under_a_view_raises_sigbus_under_every_tracker, .timeout = 120)
{
	for (size_t i = 0; i < N_EVERY; i++) {
		ms_tracker t = every_tracker[i];
		if (!usable(t))
			continue;
		truncate_through_proc = 0;
		expect_signal(in_child(store_past_a_truncated_end, t), SIGBUS, t,
			      "store after ftruncate");
		truncate_through_proc = 1;
		expect_signal(in_child(store_past_a_truncated_end, t), SIGBUS, t,
			      "store after ftruncate through /proc/self/fd");
		expect_signal(in_child(load_past_a_truncated_end, t), SIGBUS, t,
			      "load after ftruncate");
	}
}

static void exit_from_handler(int sig)
{
	_exit(40 + sig);
}

/* The application's handler, installed before any view: memsnap passes
 * faults that are not its own on to it. */
static void store_past_the_end_with_a_handler(ms_tracker t)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = exit_from_handler;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
	store_past_a_truncated_end(t);
}

Test(signals, sigbus_past_a_truncated_end_reaches_the_application_handler, .timeout = 120)
{
	truncate_through_proc = 0;
	for (size_t i = 0; i < N_EVERY; i++)
		if (usable(every_tracker[i]))
			expect_exit(in_child(store_past_the_end_with_a_handler, every_tracker[i]),
				    40 + SIGBUS, every_tracker[i], "SIGBUS handler");
}

/* Our own memfds are sealed against shrinking and growing: nobody holding
 * the descriptor (through /proc/PID/fd) can pull pages from under a view. */
Test(signals, own_snapshots_cannot_be_resized_through_proc)
{
	ms_snapshot *snap;
	cr_assert_eq(ms_snapshot_zeroed(4 * PS, &snap), 0);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", snap->fd);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_expect_eq(ftruncate(fd, PS), -1);
	cr_expect_eq(errno, EPERM);
	cr_expect_eq(ftruncate(fd, 8 * PS), -1);
	cr_expect_eq(errno, EPERM);
	close(fd);
	/* Shared views still write into it. */
	ms_view *v;
	cr_assert_eq(ms_view_new(snap, MS_VIEW_SHARED, &v), 0);
	((uint8_t *)ms_view_data(v))[PS] = 7;
	ms_view_free(v);
	uint8_t b;
	cr_assert_eq(ms_snapshot_read(snap, PS, &b, 1), 0);
	cr_assert_eq(b, 7);
	ms_snapshot_unref(snap);
}

/* x86-64: `ret`. Other hosts only check that the fetch faults. */
static const uint8_t code_ret[] = {0xc3};

static void execute_a_view_page(ms_tracker t, bool dirty)
{
	uint8_t page[PS];
	memset(page, 0, sizeof page);
	memcpy(page + 64, code_ret, sizeof code_ret);
	ms_snapshot *snap;
	CHECK(ms_snapshot_from_buffer(page, sizeof page, &snap) == 0);
	ms_view *v = child_view(snap, t);
	uint8_t *p = ms_view_data(v);
	if (dirty)
		p[0] = 1;
	void (*fn)(void) = (void (*)(void))(uintptr_t)(p + 64);
	fn(); /* the view is not executable: SIGSEGV */
	_exit(0);
}

static void execute_a_clean_view_page(ms_tracker t)
{
	execute_a_view_page(t, false);
}

static void execute_a_dirty_view_page(ms_tracker t)
{
	execute_a_view_page(t, true);
}

static void execute_with_a_handler(ms_tracker t)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = exit_from_handler;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	execute_a_view_page(t, true);
}

Test(signals, executing_view_memory_raises_sigsegv_under_every_tracker, .timeout = 120)
{
	for (size_t i = 0; i < N_EVERY; i++) {
		ms_tracker t = every_tracker[i];
		if (!usable(t))
			continue;
		expect_signal(in_child(execute_a_clean_view_page, t), SIGSEGV, t,
			      "executing a clean page");
		expect_signal(in_child(execute_a_dirty_view_page, t), SIGSEGV, t,
			      "executing a dirty page");
		expect_exit(in_child(execute_with_a_handler, t), 40 + SIGSEGV, t,
			    "executing, with a SIGSEGV handler");
	}
}

/* ---- Stores from signal handlers ------------------------------------------- */

static uint8_t *report_page;

/* A crash handler that writes its report into a view, then checks it. */
static void crash_report(int sig)
{
	static const char msg[] = "crashed";
	memcpy(report_page, msg, sizeof msg);
	_exit(memcmp(report_page, msg, sizeof msg) == 0 ? 40 + sig : 98);
}

/* A genuine crash with `sig`: a store into a read-only page (SIGSEGV) or
 * past the end of a file (SIGBUS), outside every view. */
static void crash(int sig)
{
	if (sig == SIGSEGV) {
		volatile uint8_t *ro =
		    mmap(NULL, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(ro != MAP_FAILED);
		ro[0] = 1;
	} else {
		int fd = user_memfd(1);
		volatile uint8_t *p = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(p != MAP_FAILED);
		p[PS] = 1;
	}
}

static volatile sig_atomic_t crash_signal;

/* The application's crash handler was there before memsnap: memsnap passes
 * the crash on, and the handler's store into the view is a tracking fault
 * raised while memsnap's handler is still running. */
static void crash_handler_stores_into_a_view(ms_tracker t)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = crash_report;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(crash_signal, &sa, NULL) == 0);
	ms_snapshot *snap;
	CHECK(ms_snapshot_zeroed(4 * PS, &snap) == 0);
	ms_view *v = child_view(snap, t);
	report_page = (uint8_t *)ms_view_data(v) + 2 * PS;
	((volatile uint8_t *)ms_view_data(v))[0] = 1; /* the handlers are installed */
	crash(crash_signal);
	_exit(97);
}

Test(signals, a_crash_handler_may_store_into_a_view, .timeout = 120)
{
	static const int sigs[] = {SIGSEGV, SIGBUS};
	for (size_t s = 0; s < 2; s++) {
		crash_signal = sigs[s];
		for (size_t i = 0; i < N_EVERY; i++)
			if (usable(every_tracker[i]))
				expect_exit(
				    in_child(crash_handler_stores_into_a_view, every_tracker[i]),
				    40 + sigs[s], every_tracker[i], strsignal(sigs[s]));
	}
}

static volatile uint8_t *timer_page;
static volatile sig_atomic_t timer_stores;

/* Each tick stores into a page not written since the last restore, so the
 * store is a tracking fault, raised inside whatever was running: often
 * memsnap's own handler, busy with a store of the program. */
static void timer_store(int sig)
{
	(void)sig;
	timer_page[(size_t)(timer_stores % 448) * PS] = 1;
	timer_stores++;
}

static void timer_handler_stores_into_a_view(ms_tracker t)
{
	ms_snapshot *snap;
	CHECK(ms_snapshot_zeroed(512 * PS, &snap) == 0);
	ms_view *v = child_view(snap, t);
	volatile uint8_t *p = ms_view_data(v);
	timer_page = p + 64 * PS;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = timer_store;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGUSR1;
	timer_t timer;
	CHECK(timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0);
	struct itimerspec every = {{0, 100000}, {0, 100000}}; /* 100 us */
	CHECK(timer_settime(timer, 0, &every, NULL) == 0);
	for (int round = 0; round < 100; round++) {
		for (size_t pg = 0; pg < 56; pg++)
			p[pg * PS] = (uint8_t)(round + 1);
		for (size_t pg = 0; pg < 56; pg++)
			CHECK(p[pg * PS] == (uint8_t)(round + 1));
		/* No store may run during a call into memsnap on the view. */
		sigprocmask(SIG_BLOCK, &usr1, NULL);
		CHECK(ms_view_restore(v) >= 0);
		sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	}
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	struct itimerspec stop = {{0, 0}, {0, 0}};
	CHECK(timer_settime(timer, 0, &stop, NULL) == 0);
	CHECK(ms_view_restore(v) >= 0);
	for (size_t pg = 0; pg < 512; pg++)
		CHECK(p[pg * PS] == 0);
	_exit(timer_stores > 0 ? 0 : 96);
}

Test(signals, a_signal_handler_may_store_into_a_view, .timeout = 120)
{
	for (size_t i = 0; i < N_EVERY; i++)
		if (usable(every_tracker[i]))
			expect_exit(
			    in_child_for(timer_handler_stores_into_a_view, every_tracker[i], 60), 0,
			    every_tracker[i], "timer handler");
}

/* ---- Blocked signals ------------------------------------------------------- */

static void *store_with_every_signal_blocked(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	volatile uint8_t *p = arg;
	p[PS] = 5;
	return NULL;
}

static void blocked_thread_stores(ms_tracker t)
{
	ms_snapshot *snap;
	CHECK(ms_snapshot_zeroed(4 * PS, &snap) == 0);
	ms_view *v = child_view(snap, t);
	/* Tracking starts when first needed: make it start now. */
	CHECK(ms_view_dirty_count(v) == (t == MS_TRACKER_NONE ? -EOPNOTSUPP : 0));
	pthread_t th;
	CHECK(pthread_create(&th, NULL, store_with_every_signal_blocked, ms_view_data(v)) == 0);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK(ms_view_dirty_count(v) == (t == MS_TRACKER_NONE ? -EOPNOTSUPP : 1));
	CHECK(ms_view_restore(v) >= 0);
	CHECK(((uint8_t *)ms_view_data(v))[PS] == 0);
	_exit(0);
}

/* A synchronous fault while its signal is blocked kills the process (the
 * kernel's rule): the fault-driven trackers cannot track such a store, the
 * others take no signal. docs/tracking.md states it. */
Test(signals, a_thread_with_every_signal_blocked_stores_only_without_tracking_signals,
     .timeout = 60)
{
	for (size_t i = 0; i < N_EVERY; i++) {
		ms_tracker t = every_tracker[i];
		if (!usable(t))
			continue;
		int status = in_child(blocked_thread_stores, t);
		if (t == MS_TRACKER_UFFD_SYNC)
			expect_signal(status, SIGBUS, t, "blocked thread");
		else if (t == MS_TRACKER_MPROTECT)
			expect_signal(status, SIGSEGV, t, "blocked thread");
		else
			expect_exit(status, 0, t, "blocked thread");
	}
}

/* ---- The mprotect tracker past the limit on mappings ----------------------- */

/* The handler's mprotect fails with ENOMEM (the process holds
 * vm.max_map_count mappings): the whole view becomes writable, the store
 * goes through, and the next restore puts back every page and tracks again. */
static void mprotect_enomem_in_the_handler(ms_tracker t)
{
	enum { NP = 16 };
	uint8_t *content = malloc(NP * PS);
	CHECK(content);
	for (size_t i = 0; i < NP * PS; i++)
		content[i] = (uint8_t)(i * 7 + 3);
	ms_snapshot *snap;
	CHECK(ms_snapshot_from_buffer(content, NP * PS, &snap) == 0);
	ms_view *v = child_view(snap, t);
	volatile uint8_t *p = ms_view_data(v);
	p[1 * PS] = 1; /* tracked normally */
	ms__fault_arm(MS__SYS_MPROTECT, 1, ENOMEM);
	p[5 * PS] = 2; /* the handler's mprotect fails */
	ms__fault_disarm();
	p[9 * PS + 10] = 3; /* no fault at all now */
	long n = ms_view_dirty_count(v);
	CHECK(n >= 3);
	ms_range r[NP];
	CHECK(ms_view_dirty_ranges(v, r, NP) >= 1);
	ms_snapshot *taken;
	CHECK(ms_view_take_snapshot(v, &taken) == 0);
	uint8_t b;
	CHECK(ms_snapshot_read(taken, 9 * PS + 10, &b, 1) == 0 && b == 3);
	CHECK(ms_snapshot_read(taken, 5 * PS, &b, 1) == 0 && b == 2);
	ms_snapshot_unref(taken);
	CHECK(ms_view_restore(v) >= 0);
	CHECK(memcmp((const void *)p, content, NP * PS) == 0);
	CHECK(ms_view_verify(v, NULL, 0) == 0);
	/* Tracked again, page by page. */
	p[12 * PS] = 4;
	CHECK(ms_view_dirty_count(v) == 1);
	CHECK(ms_view_restore(v) >= 0);
	CHECK(memcmp((const void *)p, content, NP * PS) == 0);
	ms_view_free(v);
	ms_snapshot_unref(snap);
	_exit(0);
}

/* The same with hot pages: pages rewritten every round stay writable, the
 * handler loses tracking in the middle, and every restore stays exact. */
static void mprotect_enomem_with_hot_pages(ms_tracker t)
{
	enum { NP = 64 };
	uint8_t *content = malloc(NP * PS);
	CHECK(content);
	for (size_t i = 0; i < NP * PS; i++)
		content[i] = (uint8_t)(i * 13 + 1);
	ms_snapshot *snap;
	CHECK(ms_snapshot_from_buffer(content, NP * PS, &snap) == 0);
	ms_view *v = child_view(snap, t);
	CHECK(ms_view_set_hot_pages(v, 1) == 0);
	volatile uint8_t *p = ms_view_data(v);
	for (int round = 0; round < 40; round++) {
		for (size_t pg = 0; pg < 4; pg++) /* the working set: hot */
			p[pg * PS + 1] = (uint8_t)(round + 1);
		if (round == 20) {
			ms__fault_arm(MS__SYS_MPROTECT, 1, ENOMEM);
			p[30 * PS] = 9; /* the handler's mprotect fails */
			ms__fault_disarm();
		}
		if (round >= 20 && round < 23)
			p[(size_t)(40 + round) * PS] = 7; /* unrecorded while lost */
		p[(size_t)(8 + round % 16) * PS + 2] = 5;
		if (round == 31)
			CHECK(ms_view_set_hot_pages(v, 0) == 0);
		CHECK(ms_view_restore(v) >= 0);
		CHECK(memcmp((const void *)p, content, NP * PS) == 0);
		CHECK(ms_view_verify(v, NULL, 0) == 0);
	}
	ms_view_free(v);
	ms_snapshot_unref(snap);
	_exit(0);
}

Test(signals, mprotect_tracking_survives_enomem_with_hot_pages, .timeout = 60)
{
	if (usable(MS_TRACKER_MPROTECT))
		expect_exit(in_child(mprotect_enomem_with_hot_pages, MS_TRACKER_MPROTECT), 0,
			    MS_TRACKER_MPROTECT, "ENOMEM in the handler, hot pages");
}

Test(signals, mprotect_tracking_survives_enomem_in_the_handler, .timeout = 60)
{
	if (usable(MS_TRACKER_MPROTECT))
		expect_exit(in_child(mprotect_enomem_in_the_handler, MS_TRACKER_MPROTECT), 0,
			    MS_TRACKER_MPROTECT, "ENOMEM in the handler");
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long n = -1;
	if (f && fscanf(f, "%ld", &n) != 1)
		n = -1;
	if (f)
		fclose(f);
	return n;
}

/* Scattered stores split the view into more mappings than the process may
 * hold: every store still lands, restore puts everything back. */
static void past_max_map_count(ms_tracker t)
{
	long limit = max_map_count();
	size_t np = (size_t)limit + 8192; /* every other page written: two mappings each */
	ms_snapshot *snap;
	CHECK(ms_snapshot_zeroed(np * PS, &snap) == 0);
	ms_view *v = child_view(snap, t);
	volatile uint8_t *p = ms_view_data(v);
	for (size_t pg = 0; pg < np; pg += 2)
		p[pg * PS] = 1;
	for (size_t pg = 0; pg < np; pg += 2)
		CHECK(p[pg * PS] == 1);
	CHECK(ms_view_dirty_count(v) >= (long)(np / 2));
	CHECK(ms_view_restore(v) >= 0);
	CHECK(ms_test_count_maps() < 1000);
	for (size_t pg = 0; pg < np; pg += 2)
		CHECK(p[pg * PS] == 0);
	p[PS] = 2;
	CHECK(ms_view_dirty_count(v) == 1);
	ms_view_free(v);
	ms_snapshot_unref(snap);
	_exit(0);
}

Test(signals, mprotect_tracking_survives_the_limit_on_mappings, .timeout = 120)
{
	long limit = max_map_count();
	if (limit <= 0 || limit > 300000 || ms_test_counts_unreliable()) {
		cr_log_info("vm.max_map_count is %ld here, or mappings are not ours to count: "
			    "skipped (the ENOMEM path is tested by fault injection)",
			    limit);
		return;
	}
	if (usable(MS_TRACKER_MPROTECT))
		expect_exit(in_child_for(past_max_map_count, MS_TRACKER_MPROTECT, 100), 0,
			    MS_TRACKER_MPROTECT, "past vm.max_map_count");
}
