/* Atomic saves under injected system-call failures: whatever fails, the
 * previous file at the path still loads and verifies, and no temporary file
 * is left behind. */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>

#include "linux/fault.h"
#include "linux/prim.h"
#include "memsnap/memsnap.h"
#include "memsnap/state.h"

static char dir[512];
static char path[1024];
static size_t ps;

static ms_snapshot *sparse;

static void setup(void)
{
	ps = ms_page_size();
	cr_assert_eq(ms_snapshot_zeroed(4u << 20, &sparse), 0);
	st_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/s.mss", dir);
}

static void teardown(void)
{
	ms__fault_disarm();
	ms_snapshot_unref(sparse);
	st_rmtree(dir);
}

TestSuite(faults, .init = setup, .fini = teardown);

/* 3 MiB of data in several chunks plus a sparse region; `gen` marks it. */
static ms_snapshot *content(int gen)
{
	size_t n = (3u << 20) + 5 * ps;
	unsigned char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i / 4096 + (size_t)gen * 77);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(buf, n, &s), 0);
	free(buf);
	return s;
}

static int save(int gen, ms_snapshot *snap, ms_state *base)
{
	ms_state_writer *w;
	int err = ms_state_writer_new(path, &w);
	if (!err && base)
		err = ms_state_writer_set_base(w, base);
	if (!err)
		err = ms_state_writer_add_blob(w, "gen", 0, &gen, sizeof gen);
	if (!err)
		err = ms_state_writer_add_region(w, 0, 0, snap);
	if (!err)
		err = ms_state_writer_add_region(w, 1u << 30, 0, sparse);
	if (!err)
		err = ms_state_writer_commit(w);
	ms_state_writer_free(w);
	return err;
}

/* The generation of the state at `path`, after full verification. */
static int loaded_gen(ms_state *base)
{
	ms_state *st;
	int err = ms_state_open(path, MS_STATE_VERIFY, &st);
	cr_assert_eq(err, 0, "previous file damaged: %s", ms_strerror(err));
	if (base)
		(void)ms_state_set_base(st, base);
	const void *data;
	size_t len;
	cr_assert_eq(ms_state_find_blob(st, "gen", NULL, &data, &len), 0);
	int gen;
	memcpy(&gen, data, sizeof gen);
	ms_snapshot *s;
	cr_assert_eq(ms_state_region_snapshot(st, 0, &s), 0);
	unsigned char b;
	cr_assert_eq(ms_snapshot_read(s, 5 * ps, &b, 1), 0);
	cr_assert_eq(b, (unsigned char)(5 + gen * 77), "region content is generation %d", gen);
	ms_snapshot_unref(s);
	ms_state_close(st);
	return gen;
}

static const int kinds[] = {MS__SYS_OPEN, MS__SYS_FTRUNCATE, MS__SYS_WRITE, MS__SYS_FSYNC,
			    MS__SYS_RENAME};

/* Whether the nth call of `sys` comes after the rename (the directory's
 * open and fsync): then the new file is already in place. */
static bool after_rename(int sys, long nth)
{
	return (sys == MS__SYS_OPEN || sys == MS__SYS_FSYNC) && nth == 2;
}

static void sweep(ms_state *base, ms_snapshot *next_of(int gen))
{
	int gen = 1;
	ms_snapshot *s = next_of(gen);
	cr_assert_eq(save(gen, s, base), 0);
	ms_snapshot_unref(s);
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		for (long nth = 1;; nth++) {
			ms_snapshot *snap = next_of(gen + 1);
			ms__fault_reset_counts();
			ms__fault_arm(kinds[k], nth, nth % 2 ? ENOSPC : EIO);
			int err = save(gen + 1, snap, base);
			long calls = ms__fault_calls(kinds[k]);
			ms__fault_disarm();
			ms_snapshot_unref(snap);
			cr_assert_eq(st_count_entries(dir), base ? 2 : 1,
				     "a temporary file was left");
			int now = loaded_gen(base);
			if (err == 0) {
				cr_assert_eq(now, gen + 1);
				gen++;
				if (calls < nth)
					break; /* the save made fewer calls: all covered */
				continue;
			}
			cr_assert(err == -ENOSPC || err == -EIO, "%s", ms_strerror(err));
			cr_assert_eq(now, after_rename(kinds[k], nth) ? gen + 1 : gen,
				     "sys %d call %ld", kinds[k], nth);
			gen = now;
		}
	}
}

Test(faults, full_state_saves_are_atomic)
{
	sweep(NULL, content);
}

static ms_state *g_base;
static ms_snapshot *g_base_snap;

/* A few pages changed from the base's region. */
static ms_snapshot *modified(int gen)
{
	ms_snapshot *c;
	cr_assert_eq(ms_snapshot_clone(g_base_snap, &c), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(c, MS_VIEW_SHARED, &v), 0);
	unsigned char *d = ms_view_data(v);
	for (size_t i = 0; i < ms_view_size(v); i += ps)
		d[i] = (unsigned char)(i / 4096 + (size_t)gen * 77);
	for (size_t i = 0; i < 300; i++)
		d[i * 2 * ps + 9] = (unsigned char)gen;
	ms_view_free(v);
	return c;
}

Test(faults, incremental_saves_are_atomic)
{
	char bp[1024];
	snprintf(bp, sizeof bp, "%s/s.mss", dir);
	cr_assert_eq(save(0, g_base_snap = content(0), NULL), 0);
	snprintf(path, sizeof path, "%s/base.mss", dir);
	cr_assert_eq(rename(bp, path), 0);
	cr_assert_eq(ms_state_open(path, 0, &g_base), 0);
	snprintf(path, sizeof path, "%s/incr.mss", dir);
	/* The directory now holds the base too. */
	sweep(g_base, modified);
	ms_state_close(g_base);
	ms_snapshot_unref(g_base_snap);
}

Test(faults, raw_snapshot_saves_are_atomic)
{
	ms_snapshot *old = content(1), *next = content(2);
	cr_assert_eq(ms_snapshot_save(old, path), 0);
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		for (long nth = 1;; nth++) {
			ms__fault_reset_counts();
			ms__fault_arm(kinds[k], nth, ENOSPC);
			int err = ms_snapshot_save(next, path);
			long calls = ms__fault_calls(kinds[k]);
			ms__fault_disarm();
			cr_assert_eq(st_count_entries(dir), 1);
			ms_snapshot *back;
			cr_assert_eq(ms_snapshot_from_file(path, &back), 0);
			unsigned char b;
			cr_assert_eq(ms_snapshot_read(back, 5 * ps, &b, 1), 0);
			bool is_new = b == (unsigned char)(5 + 2 * 77);
			cr_assert(is_new || b == (unsigned char)(5 + 77));
			if (err && !after_rename(kinds[k], nth))
				cr_assert(!is_new);
			ms_snapshot_unref(back);
			if (!err) {
				cr_assert(is_new);
				cr_assert_eq(ms_snapshot_save(old, path), 0);
				if (calls < nth)
					break;
			}
		}
	}
	ms_snapshot_unref(old);
	ms_snapshot_unref(next);
}
