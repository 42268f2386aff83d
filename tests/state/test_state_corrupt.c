/* Save-state files under bad input: every corruption is a specific error,
 * never a crash or a state that loads as something it is not. */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <xxhash.h>

#include "memsnap/memsnap.h"
#include "memsnap/state.h"
#include "state/format.h"

static char dir[512];
static char path[1024];
static size_t ps;
static unsigned char *good;
static size_t good_len;

/* A small state: machine, two blobs, two regions with varied pages. */
static void make_state(const char *p)
{
	ms_snapshot *a, *b;
	unsigned char buf[8192 * 4];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 13 + i / 4096);
	cr_assert_eq(ms_snapshot_from_buffer(buf, 3 * ps, &a), 0);
	cr_assert_eq(ms_snapshot_from_buffer(buf + 100, 2 * ps, &b), 0);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(p, &w), 0);
	ms_state_machine m = {.arch = 4, .mode = 8};
	strcpy(m.engine, "test");
	cr_assert_eq(ms_state_writer_set_machine(w, &m), 0);
	cr_assert_eq(ms_state_writer_add_blob(w, "cpu", 1, buf, 300), 0);
	cr_assert_eq(ms_state_writer_add_blob(w, "dev", 2, buf, 5), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, 7, a), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x80000, 3, b), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
}

static void setup(void)
{
	ps = ms_page_size();
	st_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/s.mss", dir);
	make_state(path);
	good = st_read_file(path, &good_len);
	cr_assert(good);
}

static void teardown(void)
{
	free(good);
	st_rmtree(dir);
}

TestSuite(corrupt, .init = setup, .fini = teardown);

static int open_bytes(const unsigned char *bytes, size_t len, unsigned flags)
{
	st_write_file(path, bytes, len);
	ms_state *st = NULL;
	int err = ms_state_open(path, flags, &st);
	if (err == 0) {
		/* Whatever opened must be usable without faults. */
		for (size_t i = 0; i < ms_state_region_count(st); i++) {
			ms_snapshot *s;
			if (ms_state_region_snapshot(st, i, &s) == 0) {
				unsigned char page[64];
				cr_assert_eq(ms_snapshot_read(s, 0, page, sizeof page), 0);
				ms_snapshot_unref(s);
			}
		}
		ms_state_close(st);
	}
	return err;
}

static bool is_file_error(int err)
{
	return err == MS_ERR_CORRUPT || err == MS_ERR_FORMAT || err == MS_ERR_MISMATCH;
}

/* Recompute the metadata and header checksums after an edit, so the parser
 * itself (not the checksum) has to catch what is wrong. */
static void rehash(unsigned char *b)
{
	uint64_t msize = ms__get64(good + MS__H_METASIZE); /* the edit may change it */
	ms__put64(b + MS__H_METAHASH, XXH3_64bits(b + MS__STATE_HEADER_SIZE, msize));
	ms__put64(b + MS__H_HASH, XXH3_64bits(b, MS__H_HASH));
}

/* Offset in the file of the payload of the nth record of `type`. */
static size_t record(const unsigned char *b, uint32_t type, int nth)
{
	size_t off = MS__STATE_HEADER_SIZE, end = off + ms__get64(b + MS__H_METASIZE);
	while (off < end) {
		uint64_t len = ms__get64(b + off + 8);
		if (ms__get32(b + off) == type && nth-- == 0)
			return off + MS__REC_HEAD;
		off += MS__REC_HEAD + ms__align8(len);
	}
	cr_assert_fail("no record");
	return 0;
}

Test(corrupt, the_pristine_file_loads_and_verifies)
{
	cr_assert_eq(open_bytes(good, good_len, MS_STATE_VERIFY), 0);
}

Test(corrupt, every_flipped_header_or_metadata_byte_is_refused)
{
	uint64_t meta_end = MS__STATE_HEADER_SIZE + ms__get64(good + MS__H_METASIZE);
	unsigned char *b = malloc(good_len);
	for (size_t i = 0; i < meta_end; i++) {
		for (int mask = 0x01; mask <= 0xff; mask = mask == 0x01 ? 0xff : 0x100) {
			memcpy(b, good, good_len);
			b[i] ^= (unsigned char)mask;
			int err = open_bytes(b, good_len, 0);
			cr_assert(is_file_error(err), "byte %zu ^ %#x: %s", i, mask,
				  ms_strerror(err));
		}
	}
	free(b);
}

Test(corrupt, flipped_ram_bits_fail_verification)
{
	uint64_t data = ms__get64(good + MS__H_DATAOFF);
	unsigned char *b = malloc(good_len);
	for (size_t i = data; i < good_len; i += 997) {
		memcpy(b, good, good_len);
		b[i] ^= (unsigned char)(1u << (i % 8));
		cr_assert_eq(open_bytes(b, good_len, 0), 0, "lazy open does not read RAM");
		cr_assert_eq(open_bytes(b, good_len, MS_STATE_VERIFY), MS_ERR_CORRUPT);
		ms_state *st;
		cr_assert_eq(ms_state_open(path, 0, &st), 0);
		size_t bad = 99;
		cr_assert_eq(ms_state_verify(st, &bad), MS_ERR_CORRUPT);
		size_t expect = i - data < 3 * ps ? 0 : 1;
		cr_assert_eq(bad, expect);
		ms_state_close(st);
		cr_assert_eq(ms_state_open(path, MS_STATE_VERIFY_REGIONS, &st), 0);
		ms_snapshot *s = NULL;
		cr_assert_eq(ms_state_region_snapshot(st, expect, &s), MS_ERR_CORRUPT);
		cr_assert_null(s);
		cr_assert_eq(ms_state_region_snapshot(st, 1 - expect, &s), 0);
		ms_snapshot_unref(s);
		ms_state_close(st);
	}
	free(b);
}

Test(corrupt, truncated_or_extended_files_are_refused)
{
	uint64_t data = ms__get64(good + MS__H_DATAOFF);
	for (size_t len = 0; len < good_len; len += len < data + 16 ? 1 : 509) {
		int err = open_bytes(good, len, 0);
		cr_assert_eq(err, len < 8 ? MS_ERR_FORMAT : MS_ERR_CORRUPT, "len %zu: %s", len,
			     ms_strerror(err));
	}
	unsigned char *b = calloc(1, good_len + 1);
	memcpy(b, good, good_len);
	cr_assert_eq(open_bytes(b, good_len + 1, 0), MS_ERR_CORRUPT);
	free(b);
}

Test(corrupt, wrong_magic_version_or_page_size)
{
	unsigned char *b = malloc(good_len);
	memcpy(b, good, good_len);
	memcpy(b,
	       "\x7f"
	       "ELF\2\1\1\0",
	       8);
	cr_assert_eq(open_bytes(b, good_len, 0), MS_ERR_FORMAT);

	memcpy(b, good, good_len);
	ms__put32(b + MS__H_VMAJOR, MS_STATE_FORMAT_MAJOR + 1);
	rehash(b);
	cr_assert_eq(open_bytes(b, good_len, 0), MS_ERR_FORMAT);

	/* A later minor version with the same layout still loads. */
	memcpy(b, good, good_len);
	ms__put32(b + MS__H_VMINOR, MS_STATE_FORMAT_MINOR + 1);
	rehash(b);
	cr_assert_eq(open_bytes(b, good_len, MS_STATE_VERIFY), 0);

	memcpy(b, good, good_len);
	ms__put32(b + MS__H_PAGE, (uint32_t)ps * 2);
	rehash(b);
	cr_assert_eq(open_bytes(b, good_len, 0), MS_ERR_MISMATCH);
	free(b);
}

/* Edits with valid checksums: the structure checks must catch them. */
static void expect_corrupt_edit(void (*edit)(unsigned char *b))
{
	unsigned char *b = malloc(good_len);
	memcpy(b, good, good_len);
	edit(b);
	rehash(b);
	int err = open_bytes(b, good_len, MS_STATE_VERIFY);
	cr_assert_eq(err, MS_ERR_CORRUPT, "%s", ms_strerror(err));
	free(b);
}

static void huge_region_count(unsigned char *b)
{
	ms__put32(b + MS__H_NREGIONS, 0xffffffffu);
}
static void huge_blob_count(unsigned char *b)
{
	ms__put32(b + MS__H_NBLOBS, 1000000);
}
static void huge_meta(unsigned char *b)
{
	ms__put64(b + MS__H_METASIZE, 1ull << 40);
}
static void data_before_meta(unsigned char *b)
{
	ms__put64(b + MS__H_DATAOFF, 0);
}
static void overlapping_regions(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_REGION, 1), 0x10000 + ps);
}
static void unsorted_regions(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_REGION, 1), 0);
}
static void region_past_end(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_REGION, 1) + 24, 1ull << 40);
}
static void region_huge_size(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_REGION, 0) + 8, 1ull << 62);
}
static void region_wraps(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_REGION, 1), UINT64_MAX - ps + 1);
}
static void region_chunk_count(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_REGION, 0) + 48, UINT64_MAX / 8);
}
static void region_kind(unsigned char *b)
{
	ms__put32(b + record(b, MS__REC_REGION, 0) + 20, 7);
}
static void delta_without_base(unsigned char *b)
{
	ms__put32(b + record(b, MS__REC_REGION, 0) + 20, MS_STATE_REGION_DELTA);
}
static void blob_len(unsigned char *b)
{
	ms__put64(b + record(b, MS__REC_BLOB, 0) + 8, UINT64_MAX);
}
static void blob_name_len(unsigned char *b)
{
	ms__put32(b + record(b, MS__REC_BLOB, 0) + 4, 0);
}
static void machine_twice(unsigned char *b)
{
	ms__put32(b + record(b, MS__REC_BLOB, 1) - MS__REC_HEAD, MS__REC_MACHINE);
}
static void record_len(unsigned char *b)
{
	ms__put64(b + MS__STATE_HEADER_SIZE + 8, 1ull << 50);
}

Test(corrupt, absurd_sizes_counts_and_overlaps_are_refused)
{
	void (*edits[])(unsigned char *) = {
	    huge_region_count,	huge_blob_count,     huge_meta,
	    data_before_meta,	overlapping_regions, unsorted_regions,
	    region_past_end,	region_huge_size,    region_wraps,
	    region_chunk_count, region_kind,	     delta_without_base,
	    blob_len,		blob_name_len,	     machine_twice,
	    record_len,
	};
	for (size_t i = 0; i < sizeof edits / sizeof *edits; i++)
		expect_corrupt_edit(edits[i]);
}

Test(corrupt, a_changed_base_is_refused)
{
	char pi[1024];
	snprintf(pi, sizeof pi, "%s/incr.mss", dir);
	ms_state *base;
	cr_assert_eq(ms_state_open(path, 0, &base), 0);
	ms_snapshot *r;
	cr_assert_eq(ms_state_region_snapshot(base, 0, &r), 0);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(pi, &w), 0);
	cr_assert_eq(ms_state_writer_set_base(w, base), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, 7, r), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	ms_snapshot_unref(r);
	ms_state_close(base);

	/* Rewrite the base with one RAM byte changed (valid on its own). */
	ms_snapshot *a, *b;
	unsigned char buf[8192 * 4];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 13 + i / 4096);
	buf[5] ^= 1;
	cr_assert_eq(ms_snapshot_from_buffer(buf, 3 * ps, &a), 0);
	cr_assert_eq(ms_snapshot_from_buffer(buf + 100, 2 * ps, &b), 0);
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, 7, a), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x80000, 3, b), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);

	ms_state *inc;
	cr_assert_eq(ms_state_open(path, MS_STATE_VERIFY, &base), 0);
	cr_assert_eq(ms_state_open(pi, MS_STATE_VERIFY, &inc), 0);
	cr_assert_eq(ms_state_set_base(inc, base), MS_ERR_MISMATCH);
	cr_assert_eq(ms_state_region_snapshot(inc, 0, &r), MS_ERR_MISMATCH);
	ms_state_close(inc);
	ms_state_close(base);
}

Test(corrupt, not_a_regular_file)
{
	ms_state *st;
	cr_assert_eq(ms_state_open(dir, 0, &st), -EISDIR);
	cr_assert_eq(ms_state_open("/dev/null", 0, &st), -EINVAL);
	cr_assert_eq(ms_state_open("/nonexistent/x", 0, &st), -ENOENT);
	cr_assert_eq(ms_state_open(path, 0x100, &st), -EINVAL);
}
