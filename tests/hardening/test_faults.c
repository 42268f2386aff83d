/* Fault injection: every system call the library makes in an operation is
 * made to fail, one call site at a time, with several errnos. Each failure
 * must come back as a clean negative errno, leave no descriptor or mapping
 * behind, and leave existing objects fully usable. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "memsnap/memsnap.h"
#include "internal.h"
#include "linux/fault.h"
#include "linux/prim.h"
#include "pool.h"
#include "../common.h"

enum { PAGES = 8 };

/* The kinds of call swept. munmap and close are left out: destructors
 * cannot report failure, and the kernel only fails them on invalid input. */
static const ms__sys swept[] = {
    MS__SYS_MEMFD, MS__SYS_FTRUNCATE, MS__SYS_MMAP,  MS__SYS_MPROTECT, MS__SYS_MADVISE,
    MS__SYS_OPEN,  MS__SYS_DUP,	      MS__SYS_FSTAT, MS__SYS_READ,     MS__SYS_WRITE,
    MS__SYS_FSYNC, MS__SYS_RENAME,    MS__SYS_UFFD,  MS__SYS_IOCTL,    MS__SYS_FCNTL,
};
static const int errnos[] = {ENOMEM, EIO, EAGAIN};

typedef struct fixture {
	ms_tracker tracker;
	ms_snapshot *snap;
	ms_view *view;
	char path[256];
} fixture;

static unsigned char expected_byte(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

static void setup(fixture *f, ms_tracker t)
{
	f->tracker = t;
	unsigned char buf[PAGES * 4096];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = expected_byte(i);
	ms_test_tmpfile(f->path, sizeof f->path, buf, sizeof buf);
	cr_assert_eq(ms_snapshot_from_buffer(buf, sizeof buf, &f->snap), 0);
	cr_assert_eq(ms_view_new_tracked(f->snap, MS_VIEW_COW, t, &f->view), 0);
	/* Exact tracking: with hot pages, a restore retried after a failure
	 * promotes the pages it copied twice, and the mprotect tracker then
	 * keeps them writable, as separate mappings the count below would
	 * take for a leak. */
	cr_assert_eq(ms_view_set_hot_pages(f->view, 0), 0);
}

static void teardown(fixture *f)
{
	ms_view_free(f->view);
	ms_snapshot_unref(f->snap);
	unlink(f->path);
}

/* Mappings the snapshot keeps on purpose: the chunks of the pool that the
 * snapshots stacked on it take their pages from (kept for reuse until the
 * snapshot is freed). */
static size_t pool_chunks(fixture *f)
{
	return f->snap->pool ? ms__pool_chunks(f->snap->pool) : 0;
}

static void scribble(fixture *f)
{
	unsigned char *p = ms_view_data(f->view);
	p[0] ^= 0xff;
	p[3 * 4096 + 5] ^= 0xff;
	p[7 * 4096 + 4095] ^= 0xff;
}

static void assert_pristine(fixture *f)
{
	const unsigned char *p = ms_view_data(f->view);
	for (size_t i = 0; i < PAGES * 4096; i++)
		cr_assert_eq(p[i], expected_byte(i), "byte %zu wrong after recovery", i);
}

/* The operations swept. Each uses the fixture and returns the library's
 * result; objects it creates are freed before returning. */
typedef int (*op_fn)(fixture *f);

static int op_zeroed(fixture *f)
{
	(void)f;
	ms_snapshot *s;
	int err = ms_snapshot_zeroed(PAGES * 4096, &s);
	ms_snapshot_unref(err ? NULL : s);
	return err;
}

static int op_from_buffer(fixture *f)
{
	(void)f;
	ms_snapshot *s;
	char b[5000] = {1};
	int err = ms_snapshot_from_buffer(b, sizeof b, &s);
	ms_snapshot_unref(err ? NULL : s);
	return err;
}

static int op_from_file(fixture *f)
{
	ms_snapshot *s;
	int err = ms_snapshot_from_file(f->path, &s);
	ms_snapshot_unref(err ? NULL : s);
	return err;
}

static int op_clone(fixture *f)
{
	ms_snapshot *s;
	int err = ms_snapshot_clone(f->snap, &s);
	ms_snapshot_unref(err ? NULL : s);
	return err;
}

static int op_view_new(fixture *f)
{
	ms_view *v;
	int err = ms_view_new_tracked(f->snap, MS_VIEW_COW, f->tracker, &v);
	ms_view_free(err ? NULL : v);
	return err;
}

static int op_restore(fixture *f)
{
	scribble(f);
	int pages = ms_view_restore(f->view);
	return pages < 0 ? pages : 0;
}

static int op_take_snapshot(fixture *f)
{
	scribble(f);
	ms_snapshot *s;
	int err = ms_view_take_snapshot(f->view, &s);
	ms_snapshot_unref(err ? NULL : s);
	return err;
}

static int op_protect(fixture *f)
{
	return ms_view_protect(f->view, 4096, 2 * 4096, MS_ACCESS_READ);
}

static const struct {
	const char *name;
	op_fn fn;
} ops[] = {{"snapshot_zeroed", op_zeroed},
	   {"snapshot_from_buffer", op_from_buffer},
	   {"snapshot_from_file", op_from_file},
	   {"snapshot_clone", op_clone},
	   {"view_new", op_view_new},
	   {"view_restore", op_restore},
	   {"view_take_snapshot", op_take_snapshot},
	   {"view_protect", op_protect}};

/* After a failed (or successful) operation, the fixture's view must still
 * work: a restore succeeds and gives the snapshot's content. */
static void assert_recovers(fixture *f, const char *what)
{
	int err = ms_view_restore(f->view);
	if (err < 0) /* a failed restore may be retried */
		err = ms_view_restore(f->view);
	cr_assert_geq(err, 0, "%s: view unusable afterwards: %s", what, ms_strerror(err));
	assert_pristine(f);
}

static long sweep_tracker(ms_tracker t)
{
	long injected = 0;
	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		for (size_t k = 0; k < sizeof swept / sizeof swept[0]; k++) {
			/* Count how many calls of this kind the operation makes. */
			fixture f;
			setup(&f, t);
			ms__fault_reset_counts();
			int ok = ops[o].fn(&f);
			long calls = ms__fault_calls(swept[k]);
			teardown(&f);
			if (ok == -ENOSYS || ok == -EOPNOTSUPP)
				break; /* not implemented here: nothing to sweep */
			cr_assert_eq(ok, 0, "%s without faults: %s", ops[o].name, ms_strerror(ok));
			for (long n = 1; n <= calls; n++) {
				for (size_t e = 0; e < sizeof errnos / sizeof errnos[0]; e++) {
					setup(&f, t);
					assert_recovers(&f, "setup");
					int fds = ms_test_count_fds(), maps = ms_test_count_maps();
					int chunks = (int)pool_chunks(&f);
					ms__fault_arm(swept[k], n, errnos[e]);
					int err = ops[o].fn(&f);
					ms__fault_disarm();
					cr_assert(err <= 0, "%s returned %d", ops[o].name, err);
					if (err)
						cr_assert(err == -errnos[e] || err < -1,
							  "%s: odd error %d", ops[o].name, err);
					/* Objects made by the operation were freed by it:
					 * nothing of it may remain. protect changes only
					 * protections, which restore undoes. */
					assert_recovers(&f, ops[o].name);
					cr_assert_eq(ms_test_count_fds(), fds,
						     "%s: fd leaked (call %ld of kind %zu)",
						     ops[o].name, n, k);
					/* Under ASan the count includes the sanitizer's
					 * own allocations (its thread records grow as
					 * monitor threads come and go); the plain build
					 * checks mappings. */
					maps += (int)pool_chunks(&f) - chunks;
					if (!ms_test_counts_unreliable())
						cr_assert_leq(
						    ms_test_count_maps(), maps,
						    "%s: mapping leaked (call %ld of kind %zu)",
						    ops[o].name, n, k);
					teardown(&f);
					injected++;
				}
			}
		}
	}
	return injected;
}

Test(faults, every_call_site_fails_cleanly_for_every_tracker, .timeout = 600)
{
	if (ms_test_under_valgrind())
		cr_skip_test("descriptor counts are valgrind's own");
	long total = 0;
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		if (ms_tracker_probe((ms_tracker)t) != 0)
			continue;
		long n = sweep_tracker((ms_tracker)t);
		cr_log_info("tracker %s: %ld faults injected", ms_tracker_name((ms_tracker)t), n);
		total += n;
	}
	cr_assert_gt(total, 50, "the sweep injected only %ld faults", total);
	printf("fault injection: %ld faults injected\n", total);
}
