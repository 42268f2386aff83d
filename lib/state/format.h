/*
 * The on-disk layout of a save-state file (docs/savestate-format.md), shared
 * by the writer and the reader. All integers are little-endian; the helpers
 * below read and write them byte by byte so the format does not depend on
 * the host.
 */
#ifndef MEMSNAP_STATE_FORMAT_H
#define MEMSNAP_STATE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MS__STATE_MAGIC "\x89MSSTATE"
#define MS__STATE_MAGIC_LEN 8
#define MS__STATE_HEADER_SIZE 128u
#define MS__STATE_CHUNK_SIZE (1u << 20)

/* Header field offsets. */
enum {
	MS__H_MAGIC = 0,
	MS__H_VMAJOR = 8,
	MS__H_VMINOR = 12,
	MS__H_HSIZE = 16,
	MS__H_FLAGS = 20,
	MS__H_PAGE = 24,
	MS__H_CHUNK = 28,
	MS__H_FILESIZE = 32,
	MS__H_METAOFF = 40,
	MS__H_METASIZE = 48,
	MS__H_DATAOFF = 56,
	MS__H_METAHASH = 64,
	MS__H_BASEID = 72,
	MS__H_NREGIONS = 88,
	MS__H_NBLOBS = 92,
	MS__H_CREATOR = 96,
	MS__H_CREATOR_LEN = 24,
	MS__H_HASH = 120,
};

/* Metadata records: u32 type, u32 reserved (0), u64 payload length, the
 * payload, zero padding to a multiple of 8. */
enum {
	MS__REC_MACHINE = 1,
	MS__REC_BLOB = 2,
	MS__REC_REGION = 3,
};
#define MS__REC_HEAD 16u
#define MS__MACHINE_PAYLOAD 56u /* u32 arch, mode, page_size, flags; u64 version; char[32] */
#define MS__BLOB_FIXED 16u	/* u32 type, u32 name_len, u64 data_len */
#define MS__REGION_FIXED 64u	/* see docs/savestate-format.md */

/* Limits a reader enforces before trusting any size. */
#define MS__STATE_MAX_META (256ull << 20)
#define MS__STATE_MAX_BLOB (16ull << 20)
#define MS__STATE_MAX_REGION_SIZE (1ull << 48)

static inline void ms__put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ms__put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t ms__get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t ms__get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t ms__align8(uint64_t v)
{
	return (v + 7) & ~(uint64_t)7;
}

#endif /* MEMSNAP_STATE_FORMAT_H */
