/* When dirty tracking starts: a fresh view is protected only when its
 * tracker is first needed (a restore, a snapshot, a query), and every write
 * made before then, by the program, the kernel or another thread, is found
 * at that moment. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "memsnap/memsnap.h"
#include "../common.h"

#define PS 4096u
#define NP 16u

/* The trackers that start lazily where the kernel has PAGEMAP_SCAN (it came
 * with uffd-async), and mprotect, which protects at once. */
static const ms_tracker trackers[] = {MS_TRACKER_UFFD_THREAD, MS_TRACKER_UFFD_ASYNC,
				      MS_TRACKER_UFFD_SYNC, MS_TRACKER_MPROTECT};
#define N_TRACKERS (sizeof trackers / sizeof trackers[0])

static bool usable(ms_tracker t)
{
	int err = ms_tracker_probe(t);
	if (err) {
		cr_log_info("skipping tracker %s: %s", ms_tracker_name(t), ms_strerror(err));
		return false;
	}
	/* Stores resumed by a signal handler go wrong under valgrind. */
	return !(ms_test_under_valgrind() &&
		 (t == MS_TRACKER_UFFD_SYNC || t == MS_TRACKER_MPROTECT));
}

static bool lazy_here(void)
{
	return ms_tracker_probe(MS_TRACKER_UFFD_ASYNC) == 0;
}

static ms_snapshot *pattern_snapshot(size_t np)
{
	uint8_t *buf = malloc(np * PS);
	cr_assert(buf);
	for (size_t i = 0; i < np * PS; i++)
		buf[i] = (uint8_t)(i * 7 + i / PS);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(buf, np * PS, &s), 0);
	free(buf);
	return s;
}

static void assert_dirty_pages(ms_view *v, const size_t *want, size_t n, ms_tracker t)
{
	ms_range r[NP];
	long got = ms_view_dirty_ranges(v, r, NP);
	cr_assert_geq(got, 0, "%s: %s", ms_tracker_name(t), ms_strerror((int)got));
	uint8_t seen[NP] = {0};
	for (long i = 0; i < got; i++)
		for (size_t pg = r[i].offset / PS; pg < (r[i].offset + r[i].len) / PS; pg++)
			seen[pg] = 1;
	uint8_t expect[NP] = {0};
	for (size_t i = 0; i < n; i++)
		expect[want[i]] = 1;
	for (size_t pg = 0; pg < NP; pg++)
		cr_assert_eq(seen[pg], expect[pg], "%s: page %zu dirty %d, expected %d",
			     ms_tracker_name(t), pg, seen[pg], expect[pg]);
}

static void assert_content(ms_view *v, ms_snapshot *s, ms_tracker t)
{
	ms_view *ref;
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, MS_TRACKER_NONE, &ref), 0);
	cr_assert_eq(memcmp(ms_view_data(v), ms_view_data(ref), ms_view_size(v)), 0,
		     "%s: the view differs from its snapshot", ms_tracker_name(t));
	ms_view_free(ref);
}

static void *write_page_5(void *p)
{
	((volatile uint8_t *)p)[5 * PS + 9] ^= 0xff;
	return NULL;
}

/* The kernel writes into the view for the program: read(2) from a pipe. */
static void kernel_write(uint8_t *dst, const char *what, ms_tracker t)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	size_t len = strlen(what);
	cr_assert_eq(write(p[1], what, len), (ssize_t)len);
	cr_assert_eq(read(p[0], dst, len), (ssize_t)len, "%s: kernel write: %s", ms_tracker_name(t),
		     strerror(errno));
	close(p[0]);
	close(p[1]);
}

/* Run fn on a fresh view of a pattern snapshot under every usable tracker. */
static void each_tracker(void (*fn)(ms_tracker t, ms_snapshot *s, ms_view *v))
{
	for (size_t k = 0; k < N_TRACKERS; k++) {
		ms_tracker t = trackers[k];
		if (!usable(t))
			continue;
		ms_snapshot *s = pattern_snapshot(NP);
		ms_view *v;
		cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, t, &v), 0);
		fn(t, s, v);
		ms_view_free(v);
		ms_snapshot_unref(s);
	}
}

/* Restore v and check that it holds its snapshot s again. */
static void restore_to_snapshot(ms_view *v, ms_snapshot *s, ms_tracker t)
{
	cr_assert_geq(ms_view_restore(v), 0, "%s", ms_tracker_name(t));
	assert_content(v, s, t);
	cr_assert_eq(ms_view_dirty_count(v), 0, "%s", ms_tracker_name(t));
}

static void writes_before_the_start(ms_tracker t, ms_snapshot *s, ms_view *v)
{
	uint8_t *p = ms_view_data(v);
	/* Reads are not writes. */
	volatile uint8_t sink = 0;
	for (size_t pg = 0; pg < NP; pg += 2)
		sink ^= p[pg * PS];
	(void)sink;
	p[1 * PS + 3] ^= 0xff; /* by the program */
	pthread_t th;	       /* by another thread */
	cr_assert_eq(pthread_create(&th, NULL, write_page_5, p), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	/* By the kernel: a tracker that refuses unannounced kernel writes
	 * (uffd-sync, mprotect) is told first. */
	if (t == MS_TRACKER_UFFD_SYNC || t == MS_TRACKER_MPROTECT)
		cr_assert_eq(ms_view_note_written(v, 3 * PS + 100, 6), 0);
	kernel_write(p + 3 * PS + 100, "kernel", t);
	size_t want[] = {1, 3, 5};
	assert_dirty_pages(v, want, 3, t);
	restore_to_snapshot(v, s, t);
	/* Tracking goes on as usual after it started. */
	p[8 * PS] ^= 1;
	size_t after[] = {8};
	assert_dirty_pages(v, after, 1, t);
	restore_to_snapshot(v, s, t);
}

Test(tracking_start, writes_made_before_tracking_starts_are_found)
{
	each_tracker(writes_before_the_start);
}

static void stacked_view(ms_tracker t, ms_snapshot *s, ms_view *v)
{
	(void)s;
	uint8_t *p = ms_view_data(v);
	p[2 * PS] = 0x11;
	p[4 * PS] = 0x22;
	ms_snapshot *stacked;
	cr_assert_eq(ms_view_take_snapshot(v, &stacked), 0);
	ms_view *w;
	cr_assert_eq(ms_view_new_tracked(stacked, MS_VIEW_COW, t, &w), 0);
	cr_assert_eq(ms_view_dirty_count(w), 0, "%s", ms_tracker_name(t));
	((uint8_t *)ms_view_data(w))[6 * PS] ^= 1;
	size_t want[] = {6};
	assert_dirty_pages(w, want, 1, t);
	restore_to_snapshot(w, stacked, t);
	ms_view_free(w);
	ms_snapshot_unref(stacked);
}

/* A view of a stacked snapshot holds copies of the pages its levels store
 * from the start: those are not writes. */
Test(tracking_start, a_view_of_a_stacked_snapshot_starts_with_no_dirty_page)
{
	each_tracker(stacked_view);
}

static void announced_before_the_start(ms_tracker t, ms_snapshot *s, ms_view *v)
{
	uint8_t *p = ms_view_data(v);
	cr_assert_eq(ms_view_note_written(v, 7 * PS, PS), 0);
	p[9 * PS] = 1; /* a write the start finds */
	cr_assert_eq(ms_view_dirty_count(v), 2, "%s", ms_tracker_name(t));
	kernel_write(p + 7 * PS, "announced", t);
	size_t want[] = {7, 9};
	assert_dirty_pages(v, want, 2, t);
	restore_to_snapshot(v, s, t);
}

/* Pages announced before tracking starts stay writable once it has
 * started: the kernel may write them without a new announcement. */
Test(tracking_start, pages_announced_before_tracking_starts_stay_writable)
{
	each_tracker(announced_before_the_start);
}

/* The page-table memory of this process, in KiB. */
static long vm_pte_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	cr_assert(f);
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmPTE: %ld kB", &kib) == 1)
			break;
	fclose(f);
	cr_assert_geq(kib, 0);
	return kib;
}

/* Protecting a view marks every page in its page tables (8 bytes a page):
 * a fresh view of 256 MiB makes none of them until tracking starts. */
Test(tracking_start, a_fresh_view_costs_no_page_tables_until_tracking_starts)
{
	if (!lazy_here())
		cr_skip_test("the kernel lacks PAGEMAP_SCAN: views are protected at once");
	const size_t size = 256u << 20;
	const ms_tracker lazy[] = {MS_TRACKER_UFFD_THREAD, MS_TRACKER_UFFD_ASYNC,
				   MS_TRACKER_UFFD_SYNC};
	for (size_t k = 0; k < sizeof lazy / sizeof lazy[0]; k++) {
		ms_tracker t = lazy[k];
		if (!usable(t))
			continue;
		ms_snapshot *s;
		cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
		long before = vm_pte_kib();
		ms_view *v;
		cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, t, &v), 0);
		long made = vm_pte_kib() - before;
		cr_assert_lt(made, 64, "%s: a fresh view made %ld KiB of page tables",
			     ms_tracker_name(t), made);
		((uint8_t *)ms_view_data(v))[12345] = 1;
		cr_assert_eq(ms_view_dirty_count(v), 1, "%s", ms_tracker_name(t));
		long armed = vm_pte_kib() - before;
		cr_assert_geq(armed, (long)(size / PS * 8 / 1024) / 2,
			      "%s: started tracking made only %ld KiB of page tables",
			      ms_tracker_name(t), armed);
		ms_view_free(v);
		ms_snapshot_unref(s);
	}
}
