/*
 * libFuzzer target for the save-state loader: any byte string handed to
 * ms_state_open_fd must yield an error or a state whose every accessor,
 * region snapshot and verification stays in bounds.
 *
 * Build and run: see docs/savestate.md ("Fuzzing the loader").
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memsnap/memsnap.h"
#include "memsnap/state.h"
#include "resum.h"

static void walk(ms_state *st)
{
	ms_state_info info;
	ms_state_get_info(st, &info);
	ms_state_machine m;
	ms_state_get_machine(st, &m);
	volatile uint8_t sink = 0;
	for (size_t i = 0; i < ms_state_blob_count(st); i++) {
		const char *name;
		const void *data;
		size_t len;
		uint32_t type;
		if (ms_state_blob(st, i, &name, &type, &data, &len) == 0) {
			sink ^= (uint8_t)name[0];
			if (len)
				sink ^= ((const uint8_t *)data)[len - 1];
		}
	}
	for (size_t i = 0; i < ms_state_region_count(st); i++) {
		ms_state_region r;
		ms_state_region_info(st, i, &r);
		for (uint64_t c = 0; c < r.chunk_count; c++) {
			uint64_t h;
			ms_state_region_chunk_hash(st, i, c, &h);
		}
		for (uint64_t k = 0; k < r.run_count; k++) {
			uint64_t first, count;
			ms_state_region_run(st, i, k, &first, &count);
		}
		ms_snapshot *s;
		if (ms_state_region_snapshot(st, i, &s) == 0) {
			uint8_t b[16];
			size_t size = ms_snapshot_size(s);
			ms_snapshot_read(s, 0, b, sizeof b);
			ms_snapshot_read(s, size - sizeof b, b, sizeof b);
			sink ^= b[0];
			ms_snapshot_unref(s);
		}
	}
	ms_state_set_base(st, st);
	ms_state_verify(st, NULL);
	(void)sink;
}

static void load(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-state", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size) {
		ms_state *st;
		if (ms_state_open_fd(fd, 0, &st) == 0) {
			walk(st);
			ms_state_close(st);
		}
		if (ms_state_open_fd(fd, MS_STATE_VERIFY_REGIONS, &st) == 0) {
			walk(st);
			ms_state_close(st);
		}
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_with_resum(data, size, load);
	return 0;
}
