/*
 * Tracking through page protection (MS_TRACKER_MPROTECT): the SIGSEGV
 * handler and mprotect on Linux, the vectored exception handler and
 * VirtualProtect on Windows. Standard C and pthreads only, so the same
 * behaviour is checked on both.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "memsnap/memsnap.h"

enum { NPAGES = 256 };
static size_t ps;

/* A snapshot of NPAGES pages, page i filled with byte i, and a view of it
 * tracked by protection. */
static ms_view *tracked_view(ms_snapshot **snap)
{
	ps = ms_page_size();
	static uint8_t buf[NPAGES * 65536];
	for (size_t i = 0; i < NPAGES; i++)
		memset(buf + i * ps, (int)i, ps);
	cr_assert_eq(ms_snapshot_from_buffer(buf, NPAGES * ps, snap), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new_tracked(*snap, MS_VIEW_COW, MS_TRACKER_MPROTECT, &v), 0);
	cr_assert_eq(ms_view_tracker(v), MS_TRACKER_MPROTECT);
	return v;
}

/* Whether the view holds the snapshot's content, page by page. */
static void assert_content(ms_view *v, ms_snapshot *s)
{
	static uint8_t want[65536];
	const uint8_t *p = ms_view_data(v);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		cr_assert_eq(ms_snapshot_read(s, pg * ps, want, ps), 0);
		cr_assert_arr_eq(p + pg * ps, want, ps, "page %zu differs", pg);
	}
}

Test(protect_tracker, restore_copies_back_exactly_the_written_pages)
{
	ms_snapshot *s;
	ms_view *v = tracked_view(&s);
	uint8_t *p = ms_view_data(v);
	for (size_t i = 0; i < 16; i++)
		p[(i * 13 % NPAGES) * ps + i] = 0xee;
	cr_assert_eq(ms_view_dirty_count(v), 16);
	cr_assert_eq(ms_view_restore(v), 16);
	assert_content(v, s);
	/* Written again after the restore: tracked again. */
	p[5 * ps] = 1;
	cr_assert_eq(ms_view_restore(v), 1);
	assert_content(v, s);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(protect_tracker, restore_ranges_reports_the_runs)
{
	ms_snapshot *s;
	ms_view *v = tracked_view(&s);
	uint8_t *p = ms_view_data(v);
	p[3 * ps] = p[4 * ps] = p[10 * ps] = 9;
	ms_range r[4];
	size_t pages = 0;
	cr_assert_eq(ms_view_restore_ranges(v, NULL, r, 4, &pages), 2);
	cr_assert_eq(pages, 3);
	cr_assert_eq(r[0].offset, 3 * ps);
	cr_assert_eq(r[0].len, 2 * ps);
	cr_assert_eq(r[1].offset, 10 * ps);
	cr_assert_eq(r[1].len, ps);
	assert_content(v, s);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

/* A loop that writes the same pages every iteration: they become hot
 * (left writable) and every restore still puts them back. */
Test(protect_tracker, hot_pages_are_restored_every_iteration)
{
	ms_snapshot *s;
	ms_view *v = tracked_view(&s);
	uint8_t *p = ms_view_data(v);
	for (int it = 0; it < 300; it++) {
		for (size_t pg = 20; pg < 24; pg++)
			p[pg * ps + (size_t)it % ps] = (uint8_t)(it + 1);
		if (it % 50 == 0)
			p[100 * ps] = 7; /* a cold page now and then */
		int n = ms_view_restore(v);
		cr_assert_eq(n, it % 50 == 0 ? 5 : 4, "iteration %d restored %d", it, n);
		for (size_t pg = 20; pg < 24; pg++)
			cr_assert_eq(p[pg * ps + (size_t)it % ps], (uint8_t)pg);
		cr_assert_eq(p[100 * ps], 100);
	}
	assert_content(v, s);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

Test(protect_tracker, checkpoint_and_restore_to_move_between_states)
{
	ms_snapshot *s, *c;
	ms_view *v = tracked_view(&s);
	uint8_t *p = ms_view_data(v);
	p[1 * ps] = 0x11;
	cr_assert_eq(ms_view_checkpoint(v, &c), 0);
	p[2 * ps] = 0x22;
	p[1 * ps] = 0x33;
	cr_assert_eq(ms_view_restore(v), 2);
	cr_assert_eq(p[1 * ps], 0x11);
	cr_assert_eq(p[2 * ps], 2);
	cr_assert_geq(ms_view_restore_to(v, s), 1);
	assert_content(v, s);
	cr_assert_geq(ms_view_restore_to(v, c), 1);
	assert_content(v, c);
	ms_view_free(v);
	ms_snapshot_unref(c);
	ms_snapshot_unref(s);
}

Test(protect_tracker, take_snapshot_holds_the_written_pages)
{
	ms_snapshot *s, *t;
	ms_view *v = tracked_view(&s), *w;
	uint8_t *p = ms_view_data(v);
	p[7 * ps] = 0x77;
	cr_assert_eq(ms_view_take_snapshot(v, &t), 0);
	cr_assert_eq(ms_snapshot_depth(t), 1);
	p[7 * ps] = 0x78;
	cr_assert_eq(ms_view_new(t, MS_VIEW_COW, &w), 0);
	cr_assert_eq(((uint8_t *)ms_view_data(w))[7 * ps], 0x77);
	cr_assert_eq(ms_view_restore(v), 1);
	assert_content(v, s);
	ms_view_free(w);
	ms_view_free(v);
	ms_snapshot_unref(t);
	ms_snapshot_unref(s);
}

Test(protect_tracker, user_protection_coexists_and_restore_resets_it)
{
	ms_snapshot *s;
	ms_view *v = tracked_view(&s);
	uint8_t *p = ms_view_data(v);
	cr_assert_eq(ms_view_protect(v, 0, 4 * ps, MS_ACCESS_READ), 0);
	p[8 * ps] = 1; /* an unprotected page is still tracked */
	cr_assert_eq(p[0], 0);
	cr_assert_eq(ms_view_protect(v, 0, ps, MS_ACCESS_READ | MS_ACCESS_WRITE), 0);
	p[0] = 5; /* made writable by the user: counted dirty */
	cr_assert_geq(ms_view_restore(v), 2);
	assert_content(v, s);
	p[1 * ps] = 3; /* the restore lifted the user's protection */
	cr_assert_eq(ms_view_restore(v), 1);
	assert_content(v, s);
	ms_view_free(v);
	ms_snapshot_unref(s);
}

/* A write to a page the user made read-only is not the tracker's: it must
 * reach the application as a crash, not be let through. */
Test(protect_tracker, write_to_a_user_protected_page_faults, .signal = SIGSEGV)
{
	ms_snapshot *s;
	ms_view *v = tracked_view(&s);
	cr_assert_eq(ms_view_protect(v, ps, ps, MS_ACCESS_READ), 0);
	((volatile uint8_t *)ms_view_data(v))[ps] = 1;
}

typedef struct writer {
	uint8_t *base;
	size_t first;
} writer;

static void *write_pages(void *arg)
{
	writer *w = arg;
	for (size_t i = 0; i < 32; i++)
		w->base[(w->first + i) * ps + 1] = 0xab;
	return NULL;
}

Test(protect_tracker, writes_from_several_threads_are_all_recorded)
{
	ms_snapshot *s;
	ms_view *v = tracked_view(&s);
	pthread_t t[4];
	writer w[4];
	for (size_t i = 0; i < 4; i++) {
		w[i] = (writer){ms_view_data(v), i * 64};
		cr_assert_eq(pthread_create(&t[i], NULL, write_pages, &w[i]), 0);
	}
	for (size_t i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(ms_view_restore(v), 128);
	assert_content(v, s);
	ms_view_free(v);
	ms_snapshot_unref(s);
}
