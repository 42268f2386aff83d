/* Writes the seed corpus of the loader fuzz target into the directory given
 * as argv[1]: small full, incremental, sparse and empty states. Run by hand
 * when the format changes (docs/savestate.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memsnap/memsnap.h"
#include "memsnap/state.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		int e_ = (x);                                                                      \
		if (e_) {                                                                          \
			fprintf(stderr, "%s: %s\n", #x, ms_strerror(e_));                          \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char p[4096];
	size_t ps = ms_page_size();
	unsigned char buf[4 * 4096];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 7 + i / 4096);
	ms_snapshot *a, *b, *z;
	CHECK(ms_snapshot_from_buffer(buf, 2 * ps, &a));
	CHECK(ms_snapshot_from_buffer(buf + 1, ps, &b));
	CHECK(ms_snapshot_zeroed(2 * ps, &z));
	ms_state_writer *w;

	snprintf(p, sizeof p, "%s/full.mss", argv[1]);
	CHECK(ms_state_writer_new(p, &w));
	ms_state_machine m = {.arch = 4, .mode = 8, .page_size = 4096, .engine_version = 0x2000100};
	strcpy(m.engine, "unicorn 2.0.1");
	CHECK(ms_state_writer_set_machine(w, &m));
	CHECK(ms_state_writer_add_blob(w, "cpu", 1, buf, 200));
	CHECK(ms_state_writer_add_blob(w, "x", 2, NULL, 0));
	CHECK(ms_state_writer_add_region(w, 0x1000, 5, a));
	CHECK(ms_state_writer_add_region(w, 0x100000, 3, b));
	CHECK(ms_state_writer_commit(w));
	ms_state_writer_free(w);

	ms_state *base;
	CHECK(ms_state_open(p, 0, &base));
	snprintf(p, sizeof p, "%s/incremental.mss", argv[1]);
	CHECK(ms_state_writer_new(p, &w));
	CHECK(ms_state_writer_set_base(w, base));
	CHECK(ms_state_writer_add_region(w, 0x1000, 5, z));
	CHECK(ms_state_writer_add_region(w, 0x100000, 3, b));
	CHECK(ms_state_writer_commit(w));
	ms_state_writer_free(w);
	ms_state_close(base);

	snprintf(p, sizeof p, "%s/sparse.mss", argv[1]);
	CHECK(ms_state_writer_new(p, &w));
	CHECK(ms_state_writer_add_region(w, 0, 7, z));
	CHECK(ms_state_writer_commit(w));
	ms_state_writer_free(w);

	snprintf(p, sizeof p, "%s/empty.mss", argv[1]);
	CHECK(ms_state_writer_new(p, &w));
	CHECK(ms_state_writer_add_blob(w, "only-a-blob", 0, "data", 4));
	CHECK(ms_state_writer_commit(w));
	ms_state_writer_free(w);
	ms_snapshot_unref(a);
	ms_snapshot_unref(b);
	ms_snapshot_unref(z);
	return 0;
}
