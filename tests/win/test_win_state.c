/*
 * Save states on Windows: a full and an incremental state written (durably,
 * replaced with MoveFileExW) and loaded back. Regions are page-aligned in
 * the file, which Windows cannot map at 4 KiB offsets: they are read
 * (lib/state/load.c), and must hold the same content.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "../portable.h"
#include "memsnap/memsnap.h"
#include "memsnap/state.h"

enum { NPAGES = 64 };

static ms_snapshot *patterned(uint8_t salt)
{
	size_t ps = ms_page_size();
	static uint8_t buf[NPAGES * 4096];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)(i / ps * 3 + salt);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(buf, NPAGES * ps, &s), 0);
	return s;
}

static void assert_same(ms_snapshot *a, ms_snapshot *b)
{
	static uint8_t x[NPAGES * 4096], y[NPAGES * 4096];
	size_t n = ms_snapshot_size(a);
	cr_assert_eq(n, ms_snapshot_size(b));
	cr_assert_eq(ms_snapshot_read(a, 0, x, n), 0);
	cr_assert_eq(ms_snapshot_read(b, 0, y, n), 0);
	cr_assert_arr_eq(x, y, n);
}

Test(win_state, full_state_round_trip)
{
	char path[512];
	pt_path(path, sizeof path, "full.mss");
	ms_snapshot *s = patterned(1);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	cr_assert_eq(ms_state_writer_add_blob(w, "cpu", 7, "regs", 4), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, 3, s), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);

	ms_state *st;
	cr_assert_eq(ms_state_open(path, MS_STATE_VERIFY, &st), 0);
	cr_assert_eq(ms_state_region_count(st), 1);
	ms_snapshot *back;
	cr_assert_eq(ms_state_region_snapshot(st, 0, &back), 0);
	assert_same(s, back);
	/* A view of the loaded region is tracked and restores as any other. */
	ms_view *v;
	cr_assert_eq(ms_view_new(back, MS_VIEW_COW, &v), 0);
	((uint8_t *)ms_view_data(v))[5] = 0;
	cr_assert_eq(ms_view_restore(v), 1);
	ms_view_free(v);
	ms_snapshot_unref(back);
	ms_state_close(st);
	ms_snapshot_unref(s);
	remove(path);
}

Test(win_state, incremental_state_stores_and_restores_the_changed_pages)
{
	char base_path[512], delta_path[512];
	pt_path(base_path, sizeof base_path, "base.mss");
	pt_path(delta_path, sizeof delta_path, "delta.mss");
	ms_snapshot *s = patterned(2);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(base_path, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0, 3, s), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);

	/* Change three pages through a tracked view and take a snapshot. */
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	size_t ps = ms_page_size();
	uint8_t *p = ms_view_data(v);
	p[1 * ps] = p[30 * ps] = p[31 * ps] = 0xcc;
	ms_snapshot *s2;
	cr_assert_eq(ms_view_take_snapshot(v, &s2), 0);

	ms_state *base;
	cr_assert_eq(ms_state_open(base_path, 0, &base), 0);
	cr_assert_eq(ms_state_writer_new(delta_path, &w), 0);
	cr_assert_eq(ms_state_writer_set_base(w, base), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0, 3, s2), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);

	ms_state *delta;
	cr_assert_eq(ms_state_open(delta_path, MS_STATE_VERIFY, &delta), 0);
	cr_assert_eq(ms_state_set_base(delta, base), 0);
	ms_snapshot *back;
	cr_assert_eq(ms_state_region_snapshot(delta, 0, &back), 0);
	assert_same(s2, back);
	ms_snapshot_unref(back);
	ms_state_close(delta);
	ms_state_close(base);
	ms_view_free(v);
	ms_snapshot_unref(s2);
	ms_snapshot_unref(s);
	remove(base_path);
	remove(delta_path);
}

Test(win_state, commit_replaces_an_existing_file)
{
	char path[512];
	pt_path(path, sizeof path, "replace.mss");
	cr_assert(pt_write_file(path, "old content", 11));
	ms_snapshot *s = patterned(3);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0, 0, s), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	ms_state *st;
	cr_assert_eq(ms_state_open(path, MS_STATE_VERIFY, &st), 0);
	ms_state_close(st);
	ms_snapshot_unref(s);
	remove(path);
}

Test(win_state, a_truncated_file_is_corrupt_not_a_crash)
{
	char path[512];
	pt_path(path, sizeof path, "cut.mss");
	ms_snapshot *s = patterned(4);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0, 0, s), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	/* Keep the header and metadata, drop most of the RAM. */
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	cr_assert(pt_write_file(path, buf, n - 20 * ms_page_size()));
	ms_state *st;
	int err = ms_state_open(path, 0, &st);
	if (err == 0) {
		ms_snapshot *back;
		err = ms_state_region_snapshot(st, 0, &back);
		ms_state_close(st);
	}
	cr_assert_eq(err, MS_ERR_CORRUPT, "got %d (%s)", err, ms_strerror(err));
	ms_snapshot_unref(s);
	remove(path);
}
