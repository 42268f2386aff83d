/* Save states of regions of many chunks, which saves and verification split
 * over threads: every chunk lands in its place with its own checksum, and a
 * flipped byte in any chunk is found. */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>

#include "memsnap/memsnap.h"
#include "memsnap/state.h"

enum { CHUNK = 1 << 20, CHUNKS = 48, SIZE = CHUNKS * CHUNK };

static char dir[512];
static char path[1024];
static unsigned char *image;

static void setup(void)
{
	st_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/large.mss", dir);
	image = malloc(SIZE);
	cr_assert(image);
	/* Every chunk differs; every eighth is zeros. */
	for (size_t i = 0; i < SIZE; i++)
		image[i] = (i / CHUNK) % 8 == 3 ? 0 : (unsigned char)(i * 31 + i / CHUNK);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(image, SIZE, &s), 0);
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x100000, 7, s), 0);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	ms_snapshot_unref(s);
}

static void teardown(void)
{
	free(image);
	st_rmtree(dir);
}

TestSuite(large, .init = setup, .fini = teardown);

Test(large, a_region_of_many_chunks_loads_verified_and_equal)
{
	ms_state *st;
	cr_assert_eq(ms_state_open(path, MS_STATE_VERIFY, &st), 0);
	ms_snapshot *s;
	cr_assert_eq(ms_state_region_snapshot(st, 0, &s), 0);
	ms_view *v;
	cr_assert_eq(ms_view_new(s, MS_VIEW_COW, &v), 0);
	const unsigned char *d = ms_view_data(v);
	for (size_t c = 0; c < CHUNKS; c++)
		cr_assert_eq(memcmp(d + c * CHUNK, image + c * CHUNK, CHUNK), 0, "chunk %zu differs",
			     c);
	ms_view_free(v);
	ms_snapshot_unref(s);
	ms_state_close(st);
}

/* Flip one byte of chunk c of the stored RAM (which ends the file). */
static void flip(size_t c, size_t at)
{
	size_t len;
	unsigned char *f = st_read_file(path, &len);
	cr_assert(f && len > SIZE);
	f[len - SIZE + c * CHUNK + at] ^= 0x40;
	st_write_file(path, f, len);
	free(f);
}

Test(large, a_flipped_byte_in_any_chunk_fails_verification)
{
	const size_t where[][2] = {{0, 0}, {CHUNKS / 2 - 1, CHUNK - 1}, {CHUNKS / 2, 7},
				   {CHUNKS - 1, CHUNK - 1}};
	size_t len;
	unsigned char *good = st_read_file(path, &len);
	cr_assert(good);
	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		st_write_file(path, good, len);
		flip(where[i][0], where[i][1]);
		ms_state *st;
		cr_assert_eq(ms_state_open(path, MS_STATE_VERIFY, &st), MS_ERR_CORRUPT,
			     "chunk %zu", where[i][0]);
		/* Opened without verification, the explicit check finds it. */
		cr_assert_eq(ms_state_open(path, 0, &st), 0);
		size_t bad = 99;
		cr_assert_eq(ms_state_verify(st, &bad), MS_ERR_CORRUPT);
		cr_assert_eq(bad, 0);
		ms_state_close(st);
	}
	free(good);
}
