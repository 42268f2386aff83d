/* Save-state files: round trips, incremental states, lazy loads. */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>

#include "memsnap/memsnap.h"
#include "memsnap/state.h"

static char dir[512];
static size_t ps;

static void setup(void)
{
	st_tmpdir(dir, sizeof dir);
	ps = ms_page_size();
}

static void teardown(void)
{
	st_rmtree(dir);
}

TestSuite(state, .init = setup, .fini = teardown);

static void path_in(char *buf, const char *name)
{
	snprintf(buf, 4096, "%s/%s", dir, name);
}

/* A snapshot of `size` bytes whose page i starts with byte (i * 7 + seed). */
static ms_snapshot *patterned(size_t size, int seed)
{
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(size, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_SHARED, &v), 0);
	unsigned char *d = ms_view_data(v);
	for (size_t i = 0; i < size / ps; i++)
		memset(d + i * ps, (int)(i * 7 + (size_t)seed), 64);
	ms_view_free(v);
	return s;
}

static void assert_same(ms_snapshot *a, ms_snapshot *b)
{
	cr_assert_eq(ms_snapshot_size(a), ms_snapshot_size(b));
	size_t n = ms_snapshot_size(a);
	unsigned char *x = malloc(n), *y = malloc(n);
	cr_assert_eq(ms_snapshot_read(a, 0, x, n), 0);
	cr_assert_eq(ms_snapshot_read(b, 0, y, n), 0);
	cr_assert(memcmp(x, y, n) == 0, "content differs");
	free(x);
	free(y);
}

static void save_two_regions(const char *path, ms_snapshot *a, ms_snapshot *b)
{
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	ms_state_machine m = {.arch = 4, .mode = 8, .page_size = 4096, .engine_version = 0x0200};
	strcpy(m.engine, "test-engine 1.0");
	cr_assert_eq(ms_state_writer_set_machine(w, &m), 0);
	cr_assert_eq(ms_state_writer_add_blob(w, "cpu", 1, "registers", 9), 0);
	cr_assert_eq(ms_state_writer_add_blob(w, "empty", 2, NULL, 0), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x400000, 5, b), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x1000, 3, a), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	cr_assert_eq(ms_state_writer_commit(w), -EALREADY);
	ms_state_writer_free(w);
}

Test(state, snapshot_save_writes_raw_content_loadable_as_a_file)
{
	char p[4096];
	path_in(p, "raw.bin");
	ms_snapshot *a = patterned(5 * ps, 1), *back;
	cr_assert_eq(ms_snapshot_save(a, p), 0);
	cr_assert_eq(ms_snapshot_from_file(p, &back), 0);
	assert_same(a, back);
	ms_snapshot_unref(back);
	/* Overwriting replaces the whole content. */
	ms_snapshot *b = patterned(2 * ps, 9);
	cr_assert_eq(ms_snapshot_save(b, p), 0);
	cr_assert_eq(ms_snapshot_from_file(p, &back), 0);
	assert_same(b, back);
	cr_assert_eq(st_count_entries(dir), 1);
	cr_assert_eq(ms_snapshot_save(NULL, p), -EINVAL);
	cr_assert_eq(ms_snapshot_save(a, dir), -EISDIR);
	ms_snapshot_unref(back);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
}

Test(state, round_trip_keeps_regions_blobs_and_machine)
{
	char p[4096];
	path_in(p, "s.mss");
	ms_snapshot *a = patterned(3 * ps, 1), *b = patterned(300 * ps, 2);
	save_two_regions(p, a, b);

	ms_state *st;
	cr_assert_eq(ms_state_open(p, MS_STATE_VERIFY, &st), 0);
	ms_state_info info;
	cr_assert_eq(ms_state_get_info(st, &info), 0);
	cr_assert_eq(info.version_major, MS_STATE_FORMAT_MAJOR);
	cr_assert_eq(info.region_count, 2);
	cr_assert_eq(info.blob_count, 2);
	cr_assert_eq(info.flags, 0);
	cr_assert_str_eq(info.creator, "memsnap " MS_VERSION_STRING);
	ms_state_machine m;
	cr_assert_eq(ms_state_get_machine(st, &m), 0);
	cr_assert_eq(m.arch, 4);
	cr_assert_eq(m.mode, 8);
	cr_assert_str_eq(m.engine, "test-engine 1.0");

	const char *name;
	const void *data;
	size_t len;
	uint32_t type;
	cr_assert_eq(ms_state_blob_count(st), 2);
	cr_assert_eq(ms_state_blob(st, 0, &name, &type, &data, &len), 0);
	cr_assert_str_eq(name, "cpu");
	cr_assert_eq(type, 1);
	cr_assert_eq(len, 9);
	cr_assert(memcmp(data, "registers", 9) == 0);
	cr_assert_eq(ms_state_find_blob(st, "empty", &type, &data, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(ms_state_find_blob(st, "nope", NULL, NULL, NULL), -ENOENT);
	cr_assert_eq(ms_state_blob(st, 2, NULL, NULL, NULL, NULL), -EINVAL);

	/* Sorted by address whatever the order they were added in. */
	ms_state_region r;
	cr_assert_eq(ms_state_region_count(st), 2);
	cr_assert_eq(ms_state_region_info(st, 0, &r), 0);
	cr_assert_eq(r.address, 0x1000);
	cr_assert_eq(r.size, 3 * ps);
	cr_assert_eq(r.perms, 3);
	cr_assert_eq(r.kind, 0);
	cr_assert_eq(r.data_offset % ps, 0);
	cr_assert_eq(ms_state_region_info(st, 1, &r), 0);
	cr_assert_eq(r.address, 0x400000);
	cr_assert_eq(r.chunk_count, (300 * ps + (1 << 20) - 1) >> 20);

	ms_snapshot *ra, *rb, *again;
	cr_assert_eq(ms_state_region_snapshot(st, 0, &ra), 0);
	cr_assert_eq(ms_state_region_snapshot(st, 1, &rb), 0);
	cr_assert_eq(ms_state_region_snapshot(st, 1, &again), 0);
	cr_assert_eq(again, rb, "the state keeps the snapshot it made");
	ms_snapshot_unref(again);
	ms_state_close(st);
	/* Snapshots outlive the state. */
	assert_same(a, ra);
	assert_same(b, rb);
	ms_snapshot_unref(ra);
	ms_snapshot_unref(rb);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
}

Test(state, region_snapshot_maps_the_file_copy_on_write)
{
	char p[4096];
	path_in(p, "s.mss");
	ms_snapshot *a = patterned(64 * ps, 1), *b = patterned(ps, 2);
	save_two_regions(p, a, b);
	ms_state *st;
	cr_assert_eq(ms_state_open(p, 0, &st), 0);
	ms_snapshot *ra;
	cr_assert_eq(ms_state_region_snapshot(st, 0, &ra), 0);
	cr_assert_eq(ms_snapshot_depth(ra), 0);
#if !defined(_WIN32) /* Windows reads regions not 64 KiB-aligned (docs/windows.md) */
	cr_assert_eq(ms_snapshot_own_bytes(ra), 0, "file-backed: nothing copied");
#endif
	ms_view *v;
	cr_assert_eq(ms_view_new(ra, MS_VIEW_COW, &v), 0);
	unsigned char *d = ms_view_data(v);
	cr_assert_eq(d[ps], 8);
	d[ps] = 0xee;
	cr_assert_geq(ms_view_restore(v), 0);
	cr_assert_eq(d[ps], 8);
	/* A shared view of a state's region would write into the file. */
	ms_view *sv;
	cr_assert_neq(ms_view_new(ra, MS_VIEW_SHARED, &sv), 0);
	ms_view_free(v);
	ms_snapshot_unref(ra);
	ms_state_close(st);
	cr_assert_eq(ms_state_open(p, MS_STATE_VERIFY, &st), 0);
	ms_state_close(st);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
}

Test(state, sparse_regions_stay_sparse)
{
	char p[4096];
	path_in(p, "s.mss");
	ms_snapshot *big;
	cr_assert_eq(ms_snapshot_zeroed(256u << 20, &big), 0);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(p, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0, 0, big), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
#if !defined(_WIN32) /* Windows: holes are written as data (docs/windows.md) */
	struct stat sb;
	cr_assert_eq(stat(p, &sb), 0);
	cr_assert_lt(sb.st_blocks * 512, 1 << 20, "%ld bytes used", (long)sb.st_blocks * 512);
#endif
	ms_state *st;
	cr_assert_eq(ms_state_open(p, MS_STATE_VERIFY, &st), 0);
	ms_state_close(st);
	ms_snapshot_unref(big);
}

Test(state, writer_rejects_overlaps_and_bad_arguments)
{
	char p[4096];
	path_in(p, "s.mss");
	ms_snapshot *a = patterned(4 * ps, 1);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(p, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, 0, a), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000 + ps, 0, a), -EEXIST);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000 - ps, 0, a), -EEXIST);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000 + 4 * ps, 0, a), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 1, 0, a), -EINVAL);
	cr_assert_eq(ms_state_writer_add_region(w, UINT64_MAX - ps + 1, 0, a), -EINVAL);
	cr_assert_eq(ms_state_writer_add_region(w, 0, 0, NULL), -EINVAL);
	cr_assert_eq(ms_state_writer_add_blob(w, "x", 0, "a", 1), 0);
	cr_assert_eq(ms_state_writer_add_blob(w, "x", 0, "a", 1), -EEXIST);
	cr_assert_eq(ms_state_writer_add_blob(w, "", 0, "a", 1), -EINVAL);
	ms_state_machine m = {0};
	memset(m.engine, 'x', sizeof m.engine);
	cr_assert_eq(ms_state_writer_set_machine(w, &m), -EINVAL);
	ms_state_writer_free(w);
	cr_assert_eq(st_count_entries(dir), 0, "nothing written without commit");
	ms_snapshot_unref(a);
}

/* Save a base, load it, write `ndirty` pages through a view, checkpoint and
 * save incrementally. */
Test(state, incremental_state_stores_only_dirty_pages_and_needs_its_base)
{
	char pb[4096], pi[4096], po[4096];
	path_in(pb, "base.mss");
	path_in(pi, "incr.mss");
	path_in(po, "other.mss");
	ms_snapshot *a = patterned(512 * ps, 1), *b = patterned(8 * ps, 2);
	save_two_regions(pb, b, a);
	save_two_regions(po, b, b);

	ms_state *base, *other;
	cr_assert_eq(ms_state_open(pb, 0, &base), 0);
	cr_assert_eq(ms_state_open(po, 0, &other), 0);
	ms_snapshot *ra, *rb;
	cr_assert_eq(ms_state_region_snapshot(base, 0, &rb), 0);
	cr_assert_eq(ms_state_region_snapshot(base, 1, &ra), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(ra, MS_VIEW_COW, &v), 0);
	unsigned char *d = ms_view_data(v);
	for (size_t i = 0; i < 16; i++)
		d[(i * 31 + 3) * ps + 100] ^= 0xff;
	d[7 * ps] = d[7 * ps]; /* written with the same value: not stored */
	ms_snapshot *cp1, *cp2;
	cr_assert_eq(ms_view_checkpoint(v, &cp1), 0);
	d[500 * ps] = 1;
	cr_assert_eq(ms_view_take_snapshot(v, &cp2), 0);
	/* With a tracker cp2 is stacked on ra (O(dirty) save); without one it
	 * is a copy and the writer compares pages: the file is the same. */

	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(pi, &w), 0);
	cr_assert_eq(ms_state_writer_set_base(w, base), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x1000, 3, rb), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x400000, 5, cp2), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);

	ms_state *inc;
	cr_assert_eq(ms_state_open(pi, MS_STATE_VERIFY, &inc), 0);
	ms_state_info info, binfo;
	cr_assert_eq(ms_state_get_info(inc, &info), 0);
	cr_assert_eq(ms_state_get_info(base, &binfo), 0);
	cr_assert_eq(info.flags, MS_STATE_INCREMENTAL);
	cr_assert(memcmp(info.base_id, binfo.id, 16) == 0);
	ms_state_region r;
	cr_assert_eq(ms_state_region_info(inc, 0, &r), 0);
	cr_assert_eq(r.kind, MS_STATE_REGION_DELTA);
	cr_assert_eq(r.stored_bytes, 0, "unchanged region stores nothing");
	cr_assert_eq(ms_state_region_info(inc, 1, &r), 0);
	cr_assert_eq(r.kind, MS_STATE_REGION_DELTA);
	cr_assert_eq(r.stored_bytes, 17 * ps);

	ms_snapshot *x;
	cr_assert_eq(ms_state_region_snapshot(inc, 1, &x), MS_ERR_MISMATCH, "no base set");
	cr_assert_eq(ms_state_set_base(inc, other), MS_ERR_MISMATCH);
	cr_assert_eq(ms_state_set_base(base, inc), MS_ERR_MISMATCH, "not incremental");
	cr_assert_eq(ms_state_set_base(inc, base), 0);
	cr_assert_eq(ms_state_region_snapshot(inc, 1, &x), 0);
	assert_same(x, cp2);
	ms_snapshot_unref(x);
	cr_assert_eq(ms_state_region_snapshot(inc, 0, &x), 0);
	assert_same(x, b);
	ms_snapshot_unref(x);
	/* The incremental state keeps its base alive. */
	ms_state_close(base);
	cr_assert_eq(ms_state_verify(inc, NULL), 0);
	ms_state_close(inc);

	ms_view_free(v);
	ms_snapshot_unref(cp1);
	ms_snapshot_unref(cp2);
	ms_snapshot_unref(ra);
	ms_snapshot_unref(rb);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
	ms_state_close(other);
}

Test(state, incremental_over_unrelated_snapshot_compares_pages)
{
	char pb[4096], pi[4096], p2[4096];
	path_in(pb, "base.mss");
	path_in(pi, "incr.mss");
	path_in(p2, "incr2.mss");
	ms_snapshot *a = patterned(64 * ps, 1), *b = patterned(2 * ps, 2);
	save_two_regions(pb, b, a);
	ms_state *base;
	cr_assert_eq(ms_state_open(pb, 0, &base), 0);

	/* The same content with three pages changed, in an unrelated memfd. */
	ms_snapshot *c;
	cr_assert_eq(ms_snapshot_clone(a, &c), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(c, MS_VIEW_SHARED, &v), 0);
	unsigned char *d = ms_view_data(v);
	d[0] ^= 1;
	d[10 * ps + 5] ^= 1;
	d[11 * ps + 5] ^= 1;
	ms_view_free(v);
	ms_snapshot *big = patterned(128 * ps, 3);

	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(pi, &w), 0);
	cr_assert_eq(ms_state_writer_set_base(w, base), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x400000, 5, c), 0);
	/* Not in the base (other size): stored whole. */
	cr_assert_eq(ms_state_writer_add_region(w, 0x1000, 5, big), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);

	ms_state *inc;
	cr_assert_eq(ms_state_open(pi, 0, &inc), 0);
	ms_state_region r;
	cr_assert_eq(ms_state_region_info(inc, 0, &r), 0);
	cr_assert_eq(r.kind, 0);
	cr_assert_eq(ms_state_region_info(inc, 1, &r), 0);
	cr_assert_eq(r.kind, MS_STATE_REGION_DELTA);
	cr_assert_eq(r.stored_bytes, 3 * ps);
	cr_assert_eq(r.run_count, 2);
	uint64_t first, count;
	cr_assert_eq(ms_state_region_run(inc, 1, 1, &first, &count), 0);
	cr_assert_eq(first, 10);
	cr_assert_eq(count, 2);
	cr_assert_eq(ms_state_set_base(inc, base), 0);
	ms_snapshot *x;
	cr_assert_eq(ms_state_region_snapshot(inc, 1, &x), 0);
	assert_same(x, c);
	ms_snapshot_unref(x);
	cr_assert_eq(ms_state_region_snapshot(inc, 0, &x), 0);
	assert_same(x, big);

	/* A chain: an incremental state over an incremental state. */
	ms_view *cv;
	ms_snapshot *y;
	cr_assert_eq(ms_state_region_snapshot(inc, 1, &y), 0);
	cr_assert_eq(ms_view_new(y, MS_VIEW_COW, &cv), 0);
	((unsigned char *)ms_view_data(cv))[40 * ps] = 0x42;
	ms_snapshot *cp;
	cr_assert_eq(ms_view_take_snapshot(cv, &cp), 0);
	cr_assert_eq(ms_state_writer_new(p2, &w), 0);
	cr_assert_eq(ms_state_writer_set_base(w, inc), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x400000, 5, cp), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	ms_state *inc2;
	cr_assert_eq(ms_state_open(p2, MS_STATE_VERIFY, &inc2), 0);
	cr_assert_eq(ms_state_region_info(inc2, 0, &r), 0);
	cr_assert_eq(r.stored_bytes, ps);
	cr_assert_eq(ms_state_set_base(inc2, inc), 0);
	ms_snapshot *z;
	cr_assert_eq(ms_state_region_snapshot(inc2, 0, &z), 0);
	assert_same(z, cp);
	ms_snapshot_unref(z);
	ms_state_close(inc2);

	ms_view_free(cv);
	ms_snapshot_unref(cp);
	ms_snapshot_unref(y);
	ms_snapshot_unref(x);
	ms_state_close(inc);
	ms_state_close(base);
	ms_snapshot_unref(big);
	ms_snapshot_unref(c);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
}

Test(state, id_hex_accepts_null)
{
	char buf[33] = "unchanged";
	ms_state_id_hex(NULL, buf);
	cr_assert_str_eq(buf, "");
	uint8_t id[16] = {0xab, 0x01};
	ms_state_id_hex(id, NULL); /* nothing to write to */
	ms_state_id_hex(id, buf);
	cr_assert_str_eq(buf, "ab010000000000000000000000000000");
}
