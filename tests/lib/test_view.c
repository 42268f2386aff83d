/* Views: copy-on-write and shared semantics, restore, take_snapshot,
 * protection, the exclusion rules and concurrency. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#if !defined(_WIN32)
#include <sys/sysinfo.h>
#endif

#include "memsnap/memsnap.h"
#include "../common.h"

/* The library reads its environment settings once; tests that change one
 * read them again (lib/options.c, reached through the static library). */
void ms__options_reload(void);

static ms_snapshot *snap_of(const char *text, size_t size)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
	ms_view *w;
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &w), 0);
	memcpy(ms_view_data(w), text, strlen(text));
	ms_view_free(w);
	return s;
}

Test(view, shared_view_writes_reach_the_snapshot)
{
	ms_snapshot *s = snap_of("", 4096);
	ms_view *w;
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &w), 0);
	cr_assert_eq(ms_view_mode_of(w), MS_VIEW_SHARED);
	memcpy(ms_view_data(w), "shared", 6);
	cr_assert_geq(ms_view_restore(w), 0, "restore of a shared view is a no-op");
	cr_assert_eq(memcmp(ms_view_data(w), "shared", 6), 0);
	ms_view_free(w);
	ms_view *c;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &c), 0);
	cr_assert_eq(memcmp(ms_view_data(c), "shared", 6), 0);
	ms_view_free(c);
	ms_snapshot_unref(s);
}

Test(view, restore_keeps_the_address_and_discards_writes)
{
	ms_snapshot *s = snap_of("base", 8 * 4096);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	char *p = ms_view_data(v);
	memset(p, 'x', 8 * 4096);
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_eq(ms_view_data(v), p);
	cr_assert_eq(memcmp(p, "base", 4), 0);
	for (size_t i = 4; i < 8 * 4096; i++)
		cr_assert_eq(p[i], 0, "byte %zu not restored", i);
	ms_view_stats st;
	cr_assert_eq(ms_view_get_stats(v, &st), 0);
	cr_assert_eq(st.restores, 1);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

/* A restore returns the pages it put back (every page when it maps the
 * snapshot again), and the statistics count them. */
Test(view, restore_returns_and_counts_the_pages_it_put_back)
{
	ms_snapshot *s = snap_of("base", 8 * 4096);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	bool untracked = ms_view_tracker(v) == MS_TRACKER_NONE;
	char *p = ms_view_data(v);
	ms_view_stats st;
	p[4096] = 'x';
	p[5 * 4096] = 'y';
	cr_assert_eq(ms_view_restore(v), untracked ? 8 : 2);
	cr_assert_eq(ms_view_get_stats(v, &st), 0);
	cr_assert_eq(st.restores, 1);
	cr_assert_eq(st.last_restore_pages, untracked ? 8 : 2);

	p[2 * 4096] = 'z';
	cr_assert_eq(ms_view_restore(v), untracked ? 8 : 1);
	cr_assert_eq(ms_view_get_stats(v, &st), 0);
	cr_assert_eq(st.restores, 2);
	cr_assert_eq(st.last_restore_pages, untracked ? 8 : 1);
	cr_assert_eq(st.pages_restored, untracked ? 16 : 3);
	cr_assert_eq(p[2 * 4096], 0);

	/* A restore to an unrelated snapshot maps it whole. */
	ms_snapshot *other = snap_of("other", 8 * 4096);
	cr_assert_eq(ms_view_restore_to(v, other), 8);
	cr_assert_eq(ms_view_get_stats(v, &st), 0);
	cr_assert_eq(st.restores, 3);
	cr_assert_eq(st.last_restore_pages, 8);
	cr_assert_eq(memcmp(p, "other", 5), 0);
	ms_view_free(v);
	ms_snapshot_unref(other);
	ms_snapshot_unref(s);
}

/* The ranges variant reports the runs of pages it put back: the written
 * ones for a tracked view, those plus the pages that differ for a restore
 * within a family, the whole view when it maps the snapshot again. */
Test(view, restore_ranges_reports_the_runs_put_back)
{
	ms_snapshot *s = snap_of("base", 16 * 4096);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	bool untracked = ms_view_tracker(v) == MS_TRACKER_NONE;
	char *p = ms_view_data(v);
	ms_range r[4];
	size_t pages = 0;
	p[1 * 4096] = 1;
	p[2 * 4096] = 1;
	p[9 * 4096] = 1;
	if (untracked) {
		cr_assert_eq(ms_view_restore_ranges(v, NULL, r, 4, &pages), 1);
		cr_assert_eq(pages, 16);
		cr_assert_eq(r[0].offset, 0);
		cr_assert_eq(r[0].len, 16 * 4096);
	} else {
		cr_assert_eq(ms_view_restore_ranges(v, NULL, r, 4, &pages), 2);
		cr_assert_eq(pages, 3);
		cr_assert_eq(r[0].offset, 1 * 4096);
		cr_assert_eq(r[0].len, 2 * 4096);
		cr_assert_eq(r[1].offset, 9 * 4096);
		cr_assert_eq(r[1].len, 4096);
		/* Too little room: the count of runs, the first ones filled. */
		p[12 * 4096] = 1;
		p[14 * 4096] = 1;
		cr_assert_eq(ms_view_restore_ranges(v, NULL, r, 1, NULL), 2);
		cr_assert_eq(r[0].offset, 12 * 4096);
		/* Within a family: page 5 differs in the checkpoint. */
		ms_snapshot *cp;
		p[5 * 4096] = 7;
		cr_assert_eq(ms_view_checkpoint(v, &cp), 0);
		cr_assert_eq(ms_view_restore_to(v, s), 1);
		cr_assert_eq(p[5 * 4096], 0);
		p[7 * 4096] = 1;
		cr_assert_eq(ms_view_restore_ranges(v, cp, r, 4, &pages), 2);
		cr_assert_eq(pages, 2);
		cr_assert_eq(r[0].offset, 5 * 4096);
		cr_assert_eq(r[1].offset, 7 * 4096);
		cr_assert_eq(p[5 * 4096], 7);
		cr_assert_eq(p[7 * 4096], 0);
		ms_snapshot_unref(cp);
	}
	for (int i = 1; i < 16; i++) /* page 0 holds "base" */
		cr_assert_eq(p[i * 4096], i == 5 && !untracked ? 7 : 0, "page %d", i);
	cr_assert_eq(ms_view_restore_ranges(NULL, NULL, r, 4, NULL), -EINVAL);
	cr_assert_eq(ms_view_restore_ranges(v, NULL, NULL, 4, NULL), -EINVAL);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(view, cow_views_do_not_interfere)
{
	ms_snapshot *s = snap_of("same", 4096);
	ms_view *a, *b;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &a), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &b), 0);
	memcpy(ms_view_data(a), "AAAA", 4);
	memcpy(ms_view_data(b), "BBBB", 4);
	cr_assert_eq(memcmp(ms_view_data(a), "AAAA", 4), 0);
	cr_assert_eq(memcmp(ms_view_data(b), "BBBB", 4), 0);
	char back[4];
	ms_snapshot_read(s, 0, back, 4);
	cr_assert_eq(memcmp(back, "same", 4), 0);
	ms_view_free(a);
	ms_view_free(b);
	ms_snapshot_unref(s);
}

Test(view, shared_view_is_exclusive)
{
	ms_snapshot *s = snap_of("", 4096);
	ms_view *c, *w, *x;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &c), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &w), -EBUSY);
	ms_view_free(c);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &w), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &x), -EBUSY);
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &x), -EBUSY);
	ms_view_free(w);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &x), 0);
	ms_view_free(x);
	ms_snapshot_unref(s);
}

Test(view, take_snapshot_is_independent_of_later_writes)
{
	ms_snapshot *s = snap_of("zero", 4 * 4096);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	char *p = ms_view_data(v);
	memcpy(p + 4096, "first", 5);
	ms_snapshot *t;
	cr_assert_eq(ms_view_take_snapshot(v, &t), 0);
	memcpy(p + 4096, "later", 5);
	char back[5];
	ms_snapshot_read(t, 4096, back, 5);
	cr_assert_eq(memcmp(back, "first", 5), 0);
	ms_snapshot_read(t, 0, back, 4);
	cr_assert_eq(memcmp(back, "zero", 4), 0);
	// views of the new snapshot see its content
	ms_view *u;
	cr_assert_eq(ms_view_new(t, MS_VIEW_COW, &u), 0);
	cr_assert_eq(memcmp((char *)ms_view_data(u) + 4096, "first", 5), 0);
	ms_view_free(u);
	// restore still goes back to the view's own snapshot
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_eq(p[4096], 0);
	ms_view_free(v);
	ms_snapshot_unref(t);
	ms_snapshot_unref(s);
}

Test(view, take_snapshot_of_unwritten_view_returns_its_snapshot)
{
	ms_snapshot *s = snap_of("x", 4096);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	if (ms_view_tracker(v) == MS_TRACKER_NONE)
		cr_skip_test("no dirty tracking on this machine");
	ms_snapshot *t;
	cr_assert_eq(ms_view_take_snapshot(v, &t), 0);
	cr_assert_eq(t, s);
	ms_snapshot_unref(t);
	((char *)ms_view_data(v))[0] = 'y';
	ms_view_restore(v);
	cr_assert_eq(ms_view_take_snapshot(v, &t), 0);
	cr_assert_eq(t, s, "restored view is unwritten again");
	ms_snapshot_unref(t);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(view, snapshot_of_shared_view_is_a_copy)
{
	ms_snapshot *s = snap_of("abc", 4096);
	ms_view *w;
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &w), 0);
	ms_snapshot *t;
	cr_assert_eq(ms_view_take_snapshot(w, &t), 0);
	cr_assert_neq(t, s);
	memcpy(ms_view_data(w), "XYZ", 3);
	char back[3];
	ms_snapshot_read(t, 0, back, 3);
	cr_assert_eq(memcmp(back, "abc", 3), 0);
	ms_view_free(w);
	ms_snapshot_unref(t);
	ms_snapshot_unref(s);
}

static ms_view *protected_view(unsigned access)
{
	ms_snapshot *s = snap_of("data", 4 * 4096);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	ms_snapshot_unref(s);
	cr_assert_eq(ms_view_protect(v, 4096, 4096, access), 0);
	return v;
}

Test(view, protect_none_faults_on_read, .signal = SIGSEGV)
{
	ms_view *v = protected_view(MS_ACCESS_NONE);
	volatile char *p = ms_view_data(v);
	(void)p[4096];
}

Test(view, protect_read_faults_on_write, .signal = SIGSEGV)
{
	ms_view *v = protected_view(MS_ACCESS_READ);
	volatile char *p = ms_view_data(v);
	cr_assert_eq(p[0], 'd');
	(void)p[4096];
	p[4096] = 1;
}

Test(view, protect_write_allows_reads_and_writes)
{
	ms_view *v = protected_view(MS_ACCESS_NONE);
	cr_assert_eq(ms_view_protect(v, 4096, 4096, MS_ACCESS_WRITE), 0);
	volatile char *p = ms_view_data(v);
	p[4096] = 7;
	cr_assert_eq(p[4096], 7);
	ms_view_free(v);
}

Test(view, restore_resets_protection)
{
	ms_view *v = protected_view(MS_ACCESS_NONE);
	cr_assert_geq(ms_view_restore(v), 0);
	volatile char *p = ms_view_data(v);
	p[4096] = 5; // would fault if still protected
	cr_assert_eq(p[4096], 5);
	ms_view_free(v);
}

Test(view, take_snapshot_of_an_unreadable_written_page_is_efault)
{
	ms_view *v = protected_view(MS_ACCESS_WRITE);
	((volatile char *)ms_view_data(v))[4096] = 'x';
	cr_assert_eq(ms_view_protect(v, 4096, 4096, MS_ACCESS_NONE), 0);
	ms_snapshot *t = NULL;
	cr_assert_eq(ms_view_take_snapshot(v, &t), -EFAULT);
	cr_assert_eq(ms_view_protect(v, 4096, 4096, MS_ACCESS_READ), 0);
	cr_assert_eq(ms_view_take_snapshot(v, &t), 0, "readable again: the snapshot works");
	char back;
	cr_assert_eq(ms_snapshot_read(t, 4096, &back, 1), 0);
	cr_assert_eq(back, 'x');
	ms_snapshot_unref(t);
	ms_view_free(v);
}

/* Stacked snapshots take their pages from a pool that reuses the pages of
 * freed ones: live snapshots must never see a reused page change. */
Test(view, freed_snapshot_pages_are_reused_without_touching_live_ones)
{
	enum { PAGES = 300, LIVE = 8, ROUNDS = 200 };
	const size_t ps = 4096;
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(PAGES * ps, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	ms_snapshot_unref(s);
	unsigned char *p = ms_view_data(v);
	ms_snapshot *live[LIVE] = {0};
	unsigned char tag[LIVE] = {0};
	unsigned seed = 7;
	for (int r = 0; r < ROUNDS; r++) {
		int slot = r % LIVE;
		ms_snapshot_unref(live[slot]);
		seed = seed * 1103515245u + 12345u;
		size_t n = 1 + (seed >> 16) % 96; /* pages written this round */
		tag[slot] = (unsigned char)(r + 1);
		for (size_t i = 0; i < n; i++)
			memset(p + ((i * 37 + (size_t)r) % PAGES) * ps, tag[slot], ps);
		cr_assert_eq(ms_view_take_snapshot(v, &live[slot]), 0);
		cr_assert_geq(ms_view_restore(v), 0);
		for (int k = 0; k < LIVE && live[k]; k++) {
			unsigned char page[4096];
			int rr = r - ((r - k) % LIVE + LIVE) % LIVE; /* round that made live[k] */
			size_t pg = (size_t)rr % PAGES;		     /* its i = 0 page */
			cr_assert_eq(ms_snapshot_read(live[k], pg * ps, page, ps), 0);
			for (size_t b = 0; b < ps; b++)
				cr_assert_eq(page[b], tag[k], "snapshot %d page %zu byte %zu", k,
					     pg, b);
		}
	}
	for (int k = 0; k < LIVE; k++)
		ms_snapshot_unref(live[k]);
	ms_view_free(v);
}

Test(view, protect_rejects_bad_ranges)
{
	ms_view *v = protected_view(MS_ACCESS_READ | MS_ACCESS_WRITE);
	size_t ps = ms_page_size();
	cr_assert_eq(ms_view_protect(v, 1, ps, MS_ACCESS_READ), -EINVAL, "misaligned offset");
	cr_assert_eq(ms_view_protect(v, 0, ps + 1, MS_ACCESS_READ), -EINVAL, "misaligned len");
	cr_assert_eq(ms_view_protect(v, 0, 0, MS_ACCESS_READ), -EINVAL, "zero len");
	cr_assert_eq(ms_view_protect(v, 4 * ps, ps, MS_ACCESS_READ), -EINVAL, "past the end");
	cr_assert_eq(ms_view_protect(v, 2 * ps, 4 * ps, MS_ACCESS_READ), -EINVAL, "overlaps end");
	cr_assert_eq(ms_view_protect(v, 0, ps, 8), -EINVAL, "unknown access bit");
	cr_assert_eq(ms_view_protect(NULL, 0, ps, 0), -EINVAL);
	ms_view_free(v);
}

Test(view, view_api_rejects_misuse)
{
	ms_view *v;
	cr_assert_eq(ms_view_new(NULL, MS_VIEW_COW, &v), -EINVAL);
	ms_snapshot *s = snap_of("", 4096);
	cr_assert_eq(ms_view_new(s, (ms_view_mode)7, &v), -EINVAL);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, NULL), -EINVAL);
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, (ms_tracker)42, &v), -EINVAL);
	cr_assert_eq(ms_view_restore(NULL), -EINVAL);
	ms_snapshot *t;
	cr_assert_eq(ms_view_take_snapshot(NULL, &t), -EINVAL);
	ms_snapshot *big;
	cr_assert_eq(ms_snapshot_zeroed(8192, &big), 0);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_restore_to(v, big), -EINVAL, "other size");
	cr_assert_eq(ms_view_note_written(v, 4096, 1), -EINVAL, "past the end");
	ms_view_free(v);
	ms_view_free(NULL);
	ms_snapshot_unref(big);
	ms_snapshot_unref(s);
}

Test(view, unknown_tracker_in_environment_is_einval)
{
	ms_snapshot *s = snap_of("", 4096);
	setenv("MEMSNAP_TRACKER", "no-such-tracker", 1);
	ms__options_reload();
	ms_view *v;
	long t;
	cr_assert_eq(ms_option_get(MS_OPTION_TRACKER, &t), -EINVAL);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), -EINVAL);
	setenv("MEMSNAP_TRACKER", "none", 1);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), -EINVAL, "the environment is read once");
	ms__options_reload();
	cr_assert_eq(ms_option_get(MS_OPTION_TRACKER, &t), 0);
	cr_assert_eq(t, MS_TRACKER_NONE);
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_eq(ms_view_tracker(v), MS_TRACKER_NONE);
	ms_view_free(v);
	unsetenv("MEMSNAP_TRACKER");
	ms__options_reload();
	cr_assert_eq(ms_option_get(MS_OPTION_TRACKER, &t), -ENOENT);
	cr_assert_eq(ms_option_get(MS_OPTION_COUNT_, &t), -EINVAL);
	ms_snapshot_unref(s);
}

struct worker {
	ms_snapshot *snap;
	int id;
	int failures;
};

static void *cow_worker(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 200; round++) {
		ms_view *v;
		if (ms_view_new(w->snap, MS_VIEW_COW, &v) != 0) {
			w->failures++;
			continue;
		}
		unsigned char *p = ms_view_data(v);
		size_t n = ms_view_size(v);
		for (size_t i = (size_t)w->id * 97; i < n; i += 4096)
			p[i] = (unsigned char)(w->id + 1);
		for (size_t i = (size_t)w->id * 97; i < n; i += 4096)
			if (p[i] != (unsigned char)(w->id + 1))
				w->failures++;
		if (ms_view_restore(v) < 0)
			w->failures++;
		for (size_t i = 0; i < n; i += 512)
			if (p[i] != (unsigned char)(i / 4096))
				w->failures++;
		ms_view_free(v);
	}
	return NULL;
}

Test(view, concurrent_cow_views_from_several_threads)
{
	size_t n = 64 * 4096;
	unsigned char *init = malloc(n);
	for (size_t i = 0; i < n; i++)
		init[i] = (unsigned char)(i / 4096);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(init, n, &s), 0);
	free(init);
	pthread_t th[8];
	struct worker w[8];
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){s, i, 0};
		pthread_create(&th[i], NULL, cow_worker, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(w[i].failures, 0, "worker %d saw %d failures", i, w[i].failures);
	}
	ms_snapshot_unref(s);
}

/* The default tracker sees the kernel's writes: read(2) from a pipe into a
 * view, never announced, succeeds and is undone by the next restore, under
 * whichever tracker MS_TRACKER_AUTO picked for this process. */
Test(view, default_view_undoes_unannounced_kernel_writes)
{
#if defined(_WIN32)
	cr_skip_test("Linux only: no tracker on Windows lets the system write (docs/windows.md)");
#else
	if (getenv("MEMSNAP_TRACKER") || getenv("MEMSNAP_UC_TRACKING"))
		cr_skip_test("a tracker other than the default was asked for");
	size_t ps = ms_page_size();
	ms_snapshot *s = snap_of("pristine", 64 * ps);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	cr_assert_neq(ms_view_tracker(v), MS_TRACKER_UFFD_SYNC);
	cr_assert_neq(ms_view_tracker(v), MS_TRACKER_MPROTECT);
	char *p = ms_view_data(v);
	for (int round = 0; round < 3; round++) {
		int fds[2];
		cr_assert_eq(pipe(fds), 0);
		/* Across a page boundary, into a page never touched before and
		 * one the program wrote itself. */
		p[3 * ps] = 'x';
		cr_assert_eq(write(fds[1], "kernel-write", 12), 12);
		cr_assert_eq(read(fds[0], p + 4 * ps - 6, 12), 12, "%s: %s",
			     ms_tracker_name(ms_view_tracker(v)), strerror(errno));
		cr_assert_eq(memcmp(p + 4 * ps - 6, "kernel-write", 12), 0);
		close(fds[0]);
		close(fds[1]);
		cr_assert_geq(ms_view_restore(v), 0);
		cr_assert_eq(memcmp(p, "pristine", 8), 0);
		for (size_t i = 8; i < 64 * ps; i++)
			cr_assert_eq(p[i], 0, "round %d: byte %zu not restored (%s)", round, i,
				     ms_tracker_name(ms_view_tracker(v)));
	}
	ms_view_free(v);
	ms_snapshot_unref(s);
#endif
}

/* A tracker that write-protects a whole view makes a page-table entry for
 * every page (8 bytes a page). A view whose entries would take more than
 * half the free memory is refused with -ENOMEM, at once, rather than left
 * to the OOM killer; the trackers that protect nothing in advance still
 * take it. */
Test(view, a_view_too_large_to_arm_is_refused)
{
#if defined(_WIN32)
	cr_skip_test("Linux only: page tables of write-protected views (docs/tracking.md)");
#else
	if (ms_test_under_valgrind())
		cr_skip_test("valgrind limits the address space");
	struct sysinfo si;
	cr_assert_eq(sysinfo(&si), 0);
	uint64_t avail = ((uint64_t)si.freeram + si.bufferram) * si.mem_unit;
	uint64_t size = (avail / 8 * ms_page_size() + (1ull << 30)) & ~((1ull << 30) - 1);
	if (size > (64ull << 40))
		cr_skip_test("this machine's free memory arms views of any size up to 64 TiB");
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
	static const ms_tracker arming[] = {MS_TRACKER_UFFD_THREAD, MS_TRACKER_UFFD_ASYNC,
					    MS_TRACKER_UFFD_SYNC};
	for (size_t i = 0; i < sizeof arming / sizeof arming[0]; i++) {
		if (ms_tracker_probe(arming[i]) != 0)
			continue;
		ms_view *v = NULL;
		cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, arming[i], &v), -ENOMEM, "%s",
			     ms_tracker_name(arming[i]));
		cr_assert_null(v);
	}
	ms_view *v;
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, MS_TRACKER_NONE, &v), 0);
	((char *)ms_view_data(v))[size - 1] = 1;
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_eq(((char *)ms_view_data(v))[size - 1], 0);
	ms_view_free(v);
	ms_snapshot_unref(s);
#endif
}
