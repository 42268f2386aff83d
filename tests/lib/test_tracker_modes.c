/* uffd-thread's two modes (lib/linux/track_uffd_thread.c): the cost model
 * that picks one, and views that move between them while the program, the
 * kernel and a forked child write into them, checked against the snapshot
 * after every restore; and failures in the middle of a move. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memsnap/memsnap.h"
#include "internal.h"
#include "linux/fault.h"
#include "linux/prim.h"
#include "linux/uffd.h"
#include "../common.h"

#define PS 4096u
#define NP 64u

TestSuite(modes, .timeout = 120);

/* Costs that make any first write move a view to the scanning mode, and
 * costs that move it back. */
static void to_scanning(ms_view *v)
{
	ms__uffd_thread_fix_costs(v, 1000000000, 1);
}
static void to_faulting(ms_view *v)
{
	ms__uffd_thread_fix_costs(v, 1, 1000000000);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	return ms_test_rnd(&rnd_state);
}

/* A snapshot of NP pages of a pattern, the pattern in `content`. */
static ms_snapshot *pattern(uint8_t *content)
{
	for (size_t i = 0; i < NP * PS; i++)
		content[i] = (uint8_t)(i * 13 + i / PS);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(content, NP * PS, &s), 0);
	return s;
}

/* A uffd-thread view, or NULL where this process cannot have one. */
static ms_view *thread_view(ms_snapshot *s)
{
	int err = ms_tracker_probe(MS_TRACKER_UFFD_THREAD);
	if (err) {
		cr_log_info("no uffd-thread here: %s", ms_strerror(err));
		return NULL;
	}
	ms_view *v;
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, MS_TRACKER_UFFD_THREAD, &v), 0);
	return v;
}

/* A snapshot of the pattern and a uffd-thread view of it. */
typedef struct fixture {
	uint8_t *content;
	ms_snapshot *s;
	ms_view *v;
} fixture;

/* False, having made nothing, where this process cannot have uffd-thread. */
static bool fixture_init(fixture *f)
{
	f->content = malloc(NP * PS);
	cr_assert(f->content);
	f->s = pattern(f->content);
	f->v = thread_view(f->s);
	if (!f->v) {
		ms_snapshot_unref(f->s);
		free(f->content);
	}
	return f->v != NULL;
}

static void fixture_fini(fixture *f)
{
	ms_view_free(f->v);
	ms_snapshot_unref(f->s);
	free(f->content);
}

static void assert_restored(ms_view *v, const uint8_t *content, const char *when)
{
	cr_assert_eq(memcmp(ms_view_data(v), content, NP * PS), 0, "view differs %s", when);
	size_t missed[4];
	cr_assert_eq(ms_view_verify(v, missed, 4), 0, "%s", when);
}

/* One iteration of writes: stores, a read(2) from a pipe, a pread and a
 * process_vm_writev, each into a page chosen at random (most of them new,
 * some the same every time, which hot pages take over). */
static void write_round(ms_view *v, int file)
{
	uint8_t *d = ms_view_data(v);
	d[(rnd() % NP) * PS + rnd() % PS] ^= 0x5a;
	d[3 * PS] ^= 1; /* rewritten every round */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	uint8_t msg[64];
	memset(msg, 0xee, sizeof msg);
	cr_assert_eq(write(p[1], msg, sizeof msg), (ssize_t)sizeof msg);
	cr_assert_eq(read(p[0], d + (rnd() % NP) * PS + 100, sizeof msg), (ssize_t)sizeof msg,
		     "read(2) into the view: %s", strerror(errno));
	close(p[0]);
	close(p[1]);
	cr_assert_eq(pread(file, d + (rnd() % NP) * PS, 32, 0), 32, "pread: %s", strerror(errno));
	struct iovec local = {msg, 16}, remote = {d + (rnd() % NP) * PS + 8, 16};
	cr_assert_eq(process_vm_writev(getpid(), &local, 1, &remote, 1, 0), 16,
		     "process_vm_writev: %s", strerror(errno));
}

Test(modes, the_cost_model_takes_the_cheaper_mode_by_a_margin)
{
	/* Faulting: 16 first writes a restore at 10 µs against a scan. */
	cr_assert(ms__uffd_switch_pays(false, 10000, 16 * 8, 100000, 8));
	cr_assert_not(ms__uffd_switch_pays(false, 10000, 16 * 8, 140000, 8), "within the margin");
	cr_assert_not(ms__uffd_switch_pays(false, 10000, 0, 1, 8), "no first write");
	/* Scanning: back when the round trips cost less than the scans. */
	cr_assert(ms__uffd_switch_pays(true, 10000, 16 * 8, 430000, 8));
	cr_assert_not(ms__uffd_switch_pays(true, 10000, 256 * 8, 600000, 8));
	/* Equal costs move neither way. */
	cr_assert_not(ms__uffd_switch_pays(false, 1000, 8, 1000, 8));
	cr_assert_not(ms__uffd_switch_pays(true, 1000, 8, 1000, 8));
}

Test(modes, views_moving_between_modes_undo_every_writer)
{
	fixture f;
	if (!fixture_init(&f))
		return;
	ms_view *v = f.v;
	const uint8_t *content = f.content;
	char path[256];
	uint8_t junk[64];
	memset(junk, 0x77, sizeof junk);
	ms_test_tmpfile(path, sizeof path, junk, sizeof junk);
	int file = open(path, O_RDONLY);
	cr_assert_geq(file, 0);
	to_scanning(v);
	bool scanning = false;
	int moves = 0;
	for (int i = 0; i < 400; i++) {
		write_round(v, file);
		cr_assert_geq(ms_view_restore(v), 0);
		assert_restored(v, content, scanning ? "(scanning)" : "(faulting)");
		cr_assert_eq(ms_view_tracker(v), MS_TRACKER_UFFD_THREAD);
		if (ms__uffd_thread_scanning(v) != scanning) {
			scanning = !scanning;
			moves++;
			(scanning ? to_faulting : to_scanning)(v);
		}
	}
	cr_assert_geq(moves, 4, "the view moved %d times", moves);
	close(file);
	unlink(path);
	fixture_fini(&f);
}

/* With the measured costs a loop that rewrites the same pages ends in the
 * faulting mode, whatever its first restores chose: hot pages take its
 * pages out of tracking, so no first write is left to pay for. */
Test(modes, a_loop_on_the_same_pages_ends_faulting)
{
	fixture f;
	if (!fixture_init(&f))
		return;
	ms_view *v = f.v;
	const uint8_t *content = f.content;
	for (int i = 0; i < 300; i++) {
		uint8_t *d = ms_view_data(v);
		d[5 * PS] = (uint8_t)i;
		d[9 * PS + 7] = (uint8_t)(i + 1);
		cr_assert_geq(ms_view_restore(v), 0);
	}
	cr_assert_not(ms__uffd_thread_scanning(v));
	assert_restored(v, content, "after the loop");
	fixture_fini(&f);
}

/* A view in the scanning mode inherited by fork: the child's writes are
 * undone by its restore (a remap there), the parent's view is untouched. */
Test(modes, a_scanning_view_in_a_forked_child)
{
	fixture f;
	if (!fixture_init(&f))
		return;
	ms_view *v = f.v;
	const uint8_t *content = f.content;
	to_scanning(v);
	uint8_t *d = ms_view_data(v);
	for (int i = 0; i < 64 && !ms__uffd_thread_scanning(v); i++) {
		d[(size_t)(i % NP) * PS] ^= 1;
		cr_assert_geq(ms_view_restore(v), 0);
	}
	cr_assert(ms__uffd_thread_scanning(v), "the view never moved");
	d[7 * PS] = 0xab;
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		d[8 * PS] = 0xcd;
		int ok = ms_view_restore(v) >= 0 && memcmp(d, content, NP * PS) == 0;
		d[9 * PS] = 0xef;
		ok = ok && ms_view_restore(v) >= 0 && memcmp(d, content, NP * PS) == 0;
		_exit(ok ? 0 : 1);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's restores failed");
	cr_assert_eq(d[8 * PS], content[8 * PS], "the child's write reached the parent");
	cr_assert_geq(ms_view_restore(v), 0);
	assert_restored(v, content, "in the parent");
	fixture_fini(&f);
}

/* Restores up to the one that moves a view (the 8th: the first decision),
 * the write before it, with the costs forcing the move. */
static ms_view *before_move(ms_snapshot *s)
{
	ms_view *v = thread_view(s);
	to_scanning(v);
	uint8_t *d = ms_view_data(v);
	for (int i = 0; i < 7; i++) {
		d[(size_t)i * PS] ^= 1;
		cr_assert_geq(ms_view_restore(v), 0);
	}
	cr_assert_not(ms__uffd_thread_scanning(v));
	d[20 * PS] ^= 1;
	return v;
}

/* Each system call of the restore that moves the view fails in turn: the
 * restore succeeds or fails cleanly, and the view stays a correct one,
 * moved or not. */
Test(modes, a_move_that_fails_leaves_a_correct_view)
{
	if (ms_tracker_probe(MS_TRACKER_UFFD_THREAD) != 0)
		return;
	uint8_t *content = malloc(NP * PS);
	ms_snapshot *s = pattern(content);
	ms_view *v = before_move(s);
	ms__fault_reset_counts();
	cr_assert_geq(ms_view_restore(v), 0);
	long calls = ms__fault_calls(MS__SYS_IOCTL);
	cr_assert(ms__uffd_thread_scanning(v), "the 8th restore moves the view");
	ms_view_free(v);
	cr_assert_gt(calls, 2);
	for (long n = 1; n <= calls; n++) {
		v = before_move(s);
		ms__fault_arm(MS__SYS_IOCTL, n, EIO);
		int got = ms_view_restore(v);
		ms__fault_disarm();
		cr_assert(got >= 0 || got == -EIO, "call %ld: %s", n, ms_strerror(got));
		uint8_t *d = ms_view_data(v);
		for (int i = 0; i < 3; i++) {
			d[(size_t)(30 + i) * PS] ^= 1;
			cr_assert_geq(ms_view_restore(v), 0, "call %ld", n);
			char when[64];
			snprintf(when, sizeof when, "after call %ld failed", n);
			assert_restored(v, content, when);
		}
		ms_view_free(v);
	}
	ms_snapshot_unref(s);
	free(content);
}
