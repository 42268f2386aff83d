/* Soak: long runs of write/restore and take_snapshot/free cycles with RSS,
 * descriptor and mapping counts sampled; all must stay flat. CI runs a
 * shorter version; MEMSNAP_SOAK_ITERATIONS=1000000 is the full one. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "memsnap/memsnap.h"
#include "../common.h"

static long iterations(long fallback)
{
	const char *e = getenv("MEMSNAP_SOAK_ITERATIONS");
	return e && *e ? atol(e) : fallback;
}

typedef struct sample {
	long rss_kib;
	int fds;
	int maps;
} sample;

static sample take_sample(void)
{
	return (sample){ms_test_rss_kib(), ms_test_count_fds(), ms_test_count_maps()};
}

static void assert_flat(sample a, sample b, const char *what, long done)
{
	if (ms_test_counts_unreliable())
		return; /* LeakSanitizer or valgrind checks leaks instead */
	cr_assert_eq(a.fds, b.fds, "%s: descriptors %d -> %d after %ld", what, a.fds, b.fds, done);
	cr_assert_eq(a.maps, b.maps, "%s: mappings %d -> %d after %ld", what, a.maps, b.maps, done);
	cr_assert_lt(b.rss_kib - a.rss_kib, 4096, "%s: RSS grew %ld KiB after %ld", what,
		     b.rss_kib - a.rss_kib, done);
}

static void soak_restore(ms_tracker t, long n)
{
	size_t size = 16 << 20, ps = ms_page_size();
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new_tracked(s, MS_VIEW_COW, t, &v), 0);
	unsigned char *p = ms_view_data(v);
	unsigned seed = 1;
	sample base = {0};
	for (long i = 0; i < n; i++) {
		for (int d = 0; d < 4; d++) {
			seed = seed * 1103515245u + 12345u;
			size_t off = (seed >> 4) % (size / ps) * ps + (seed & 63);
			/* The noted tracker sees announced writes only. */
			if (t == MS_TRACKER_NOTED)
				cr_assert_eq(ms_view_note_written(v, off, 1), 0);
			p[off] = (unsigned char)(i | 1);
		}
		cr_assert_geq(ms_view_restore(v), 0);
		if (i == n / 10)
			base = take_sample(); /* after warm-up */
		if (i > n / 10 && i % (n / 10 > 0 ? n / 10 : 1) == 0)
			assert_flat(base, take_sample(), ms_tracker_name(t), i);
	}
	for (size_t off = 0; off < size; off += ps / 2)
		cr_assert_eq(p[off], 0);
	ms_view_stats st;
	ms_view_get_stats(v, &st);
	cr_assert_eq(st.restores, (uint64_t)n);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(soak, write_restore_iterations_stay_flat, .timeout = 900)
{
	if (ms_test_under_valgrind())
		cr_skip_test("too slow under valgrind");
	long n = iterations(200000);
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		if (ms_tracker_probe((ms_tracker)t) != 0)
			continue;
		/* The untracked restore remaps 16 MiB each time: fewer rounds.
		 * The noted tracker has no fault path, handler or thread to
		 * wear: a quarter of the rounds soak its restores (and keep
		 * the test within its timeout under ASan). */
		long rounds = t == MS_TRACKER_NONE ? n / 20 : t == MS_TRACKER_NOTED ? n / 4 : n;
		soak_restore((ms_tracker)t, rounds);
	}
	printf("soak: %ld write/restore iterations per tracker\n", n);
}

Test(soak, take_snapshot_free_cycles_stay_flat, .timeout = 900)
{
	if (ms_test_under_valgrind())
		cr_skip_test("too slow under valgrind");
	long n = iterations(200000) / 20;
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(4 << 20, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	unsigned char *p = ms_view_data(v);
	sample base = {0};
	for (long i = 0; i < n; i++) {
		p[(i * 4096 * 7) % (4 << 20)] = (unsigned char)i;
		ms_snapshot *t;
		cr_assert_eq(ms_view_take_snapshot(v, &t), 0);
		ms_view *u;
		cr_assert_eq(ms_view_new(t, MS_VIEW_COW, &u), 0);
		cr_assert_eq(((unsigned char *)ms_view_data(u))[(i * 4096 * 7) % (4 << 20)],
			     (unsigned char)i);
		ms_view_free(u);
		ms_snapshot_unref(t);
		cr_assert_geq(ms_view_restore(v), 0);
		if (i == n / 10)
			base = take_sample();
		if (i > n / 10 && i % (n / 10 > 0 ? n / 10 : 1) == 0)
			assert_flat(base, take_sample(), "take_snapshot", i);
	}
	ms_view_free(v);
	ms_snapshot_unref(s);
}
