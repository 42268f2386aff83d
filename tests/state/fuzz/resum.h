/*
 * For the save-state fuzz targets: mutations almost never keep the
 * checksums right, which would stop them at the door. fuzz_with_resum()
 * hands `load` the input as it is, then a copy with the header and metadata
 * checksums recomputed, so that the structure checks behind them get fuzzed.
 */
#ifndef MEMSNAP_TESTS_STATE_FUZZ_RESUM_H
#define MEMSNAP_TESTS_STATE_FUZZ_RESUM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "state/format.h"

static inline void fuzz_with_resum(const uint8_t *data, size_t size,
				   void (*load)(const uint8_t *, size_t))
{
	load(data, size);
	if (size < MS__STATE_HEADER_SIZE)
		return;
	uint8_t *copy = malloc(size);
	if (!copy)
		return;
	memcpy(copy, data, size);
	uint64_t msize = ms__get64(copy + MS__H_METASIZE);
	if (msize <= size - MS__STATE_HEADER_SIZE)
		ms__put64(copy + MS__H_METAHASH,
			  XXH3_64bits(copy + MS__STATE_HEADER_SIZE, (size_t)msize));
	ms__put64(copy + MS__H_HASH, XXH3_64bits(copy, MS__H_HASH));
	load(copy, size);
	free(copy);
}

#endif
