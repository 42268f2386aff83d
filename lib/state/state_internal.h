/*
 * Internals of save-state files shared by the reader and the writer.
 */
#ifndef MEMSNAP_STATE_INTERNAL_H
#define MEMSNAP_STATE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "format.h"
#include "internal.h"
#include "memsnap/state.h"

typedef struct ms__state_region {
	uint64_t address, size;
	uint32_t perms, kind;
	uint64_t data_offset, data_size;
	uint64_t run_count, chunk_count;
	const uint8_t *runs;   /* run_count x (u64 first, u64 count), in meta */
	const uint8_t *hashes; /* chunk_count x u64, in meta */
	ms_snapshot *snap;     /* made on first request */
	bool verified;
} ms__state_region;

typedef struct ms__state_blob {
	char *name; /* NUL-terminated copy */
	uint32_t type;
	const uint8_t *data; /* in meta */
	uint64_t len;
} ms__state_blob;

struct ms_state {
	atomic_uint refs;
	ms_os_fd fd;
	unsigned flags;
	uint8_t header[MS__STATE_HEADER_SIZE];
	uint8_t *meta;
	ms_state_info info;
	bool has_machine;
	ms_state_machine machine;
	ms__state_blob *blobs;
	size_t nblobs;
	ms__state_region *regions;
	size_t nregions;
	ms_state *base;
};

/* Index of the region at exactly `address` with `size`, or -1. O(log n). */
long ms__state_find_region(const ms_state *st, uint64_t address, uint64_t size);

#endif /* MEMSNAP_STATE_INTERNAL_H */
