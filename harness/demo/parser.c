/*
 * memsnap demo guest: a small record parser with one planted memory-safety
 * bug, built freestanding for x86-64 and Thumb and run under Unicorn by the
 * fuzz harness. The input format and the bug are described in README.md.
 *
 * The harness copies an input into memsnap_demo_input[] and calls
 * memsnap_demo_parse() directly with the return address set to
 * memsnap_demo_exit (see exit-*.S). There is no C runtime: no libc, no
 * constructors, no floating point, no division (Thumb would need libgcc for
 * it). Every global lives in .bss and starts out zero.
 */
#include <stddef.h>
#include <stdint.h>

#define DEMO_INPUT_SIZE 4096u
#define DEMO_SCRATCH_SIZE 65536u
#define DEMO_PAGE_SIZE 4096u
#define DEMO_SLOTS 64
#define DEMO_NAME_SIZE 16u

#define DEMO_HEADER_SIZE 6u
#define DEMO_VERSION_MAX 2u
#define DEMO_FLAG_CHECKSUM 0x01u

#define DEMO_FNV_OFFSET 2166136261u
#define DEMO_FNV_PRIME 16777619u

/* Record types; printable so that inputs read well in a hex dump. */
#define DEMO_REC_NAME 'N'
#define DEMO_REC_VALUES 'V'
#define DEMO_REC_WRITE 'W'
#define DEMO_REC_CHECKSUM 'C'
#define DEMO_REC_END 'E'

/* Return values of memsnap_demo_parse(): the number of records on success,
 * one of these on failure. */
#define DEMO_ERR_SHORT (-1)
#define DEMO_ERR_MAGIC (-2)
#define DEMO_ERR_VERSION (-3)
#define DEMO_ERR_SLOT (-4)
#define DEMO_ERR_CHECKSUM (-5)
#define DEMO_ERR_NO_CHECKSUM (-6)

/* What a parse leaves behind, so that a run has observable side effects. */
struct memsnap_demo_summary {
	uint32_t records;
	uint32_t unknown;
	uint32_t value_sum;
	uint32_t checksum;
	uint8_t version;
	uint8_t flags;
	uint8_t name[DEMO_NAME_SIZE];
};

int memsnap_demo_parse(const uint8_t *data, uint32_t len);

/* The harness writes each input here; page aligned so it is one page. */
uint8_t memsnap_demo_input[DEMO_INPUT_SIZE] __attribute__((aligned(4096)));

/* Working memory. A parse dirties the four journal pages (one every 16 KiB)
 * and, for 'V' records, the histogram pages the values select. */
uint8_t memsnap_demo_scratch[DEMO_SCRATCH_SIZE] __attribute__((aligned(4096)));

/* The output table that 'W' records write into. */
uint32_t memsnap_demo_slots[DEMO_SLOTS];

struct memsnap_demo_summary memsnap_demo_summary;

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* FNV-1a over [p, p + n): the checksum a 'C' record must carry. */
static uint32_t fnv1a(const uint8_t *p, uint32_t n, uint32_t h)
{
	for (uint32_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= DEMO_FNV_PRIME;
	}
	return h;
}

/* A journal entry at the start of each 16 KiB quarter of the scratch area:
 * four pages written on every call, whatever the input. */
static void journal(uint32_t len, uint32_t tag)
{
	for (uint32_t q = 0; q < 4; q++) {
		uint8_t *entry = memsnap_demo_scratch + q * 4 * DEMO_PAGE_SIZE;

		store_le32(entry, len);
		store_le32(entry + 4, tag ^ q);
		store_le32(entry + 8, load_le32(entry + 8) + 1);
	}
}

static void reset_state(void)
{
	for (uint32_t i = 0; i < DEMO_SLOTS; i++)
		memsnap_demo_slots[i] = 0;
	memsnap_demo_summary.records = 0;
	memsnap_demo_summary.unknown = 0;
	memsnap_demo_summary.value_sum = 0;
	memsnap_demo_summary.checksum = 0;
	for (uint32_t i = 0; i < DEMO_NAME_SIZE; i++)
		memsnap_demo_summary.name[i] = 0;
}

static void record_name(const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n && i < DEMO_NAME_SIZE - 1; i++)
		memsnap_demo_summary.name[i] = p[i];
	memsnap_demo_summary.name[i] = 0;
}

/* Sum the little-endian words and count each one in a byte histogram; the
 * value picks one of the 16 scratch pages and a byte in it. */
static void record_values(const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i + 4 <= n; i += 4) {
		uint32_t v = load_le32(p + i);

		memsnap_demo_summary.value_sum += v;
		memsnap_demo_scratch[v & (DEMO_SCRATCH_SIZE - 1)]++;
	}
}

/*
 * Store a value into the output table: payload is a signed 32-bit slot index
 * and a 32-bit value, both little-endian.
 *
 * THE PLANTED BUG: the index is signed and only its upper bound is checked,
 * so a negative index passes and the store lands up to 8 GiB (x86-64) or
 * anywhere in the 4 GiB address space (Thumb) below the table. Under
 * emulation that is a write to unmapped memory for almost every negative
 * index; a small one silently corrupts the guest instead.
 */
static int record_write(const uint8_t *p, uint32_t n)
{
	int32_t slot;

	if (n < 8)
		return 0;
	slot = (int32_t)load_le32(p);
	if (slot >= DEMO_SLOTS)
		return DEMO_ERR_SLOT;
	memsnap_demo_slots[slot] = load_le32(p + 4);
	return 0;
}

int memsnap_demo_parse(const uint8_t *data, uint32_t len)
{
	uint32_t pos = DEMO_HEADER_SIZE;
	int have_checksum = 0;

	journal(len, len > 0 ? data[0] : 0);
	reset_state();
	if (len > DEMO_INPUT_SIZE)
		len = DEMO_INPUT_SIZE;
	if (len < DEMO_HEADER_SIZE)
		return DEMO_ERR_SHORT;

	/* One byte at a time, each with its own branch, so that coverage
	 * guided fuzzers see progress on every byte of the magic. */
	if (data[0] != 'M')
		return DEMO_ERR_MAGIC;
	if (data[1] != 'S')
		return DEMO_ERR_MAGIC - 0x10;
	if (data[2] != 'N')
		return DEMO_ERR_MAGIC - 0x20;
	if (data[3] != 'P')
		return DEMO_ERR_MAGIC - 0x30;

	if (data[4] == 0 || data[4] > DEMO_VERSION_MAX)
		return DEMO_ERR_VERSION;
	memsnap_demo_summary.version = data[4];
	memsnap_demo_summary.flags = data[5];

	/* Records: type, length, payload. A length running past the end of
	 * the input is clamped, as lenient parsers do. */
	while (pos + 2 <= len) {
		uint8_t type = data[pos];
		uint32_t n = data[pos + 1];
		const uint8_t *payload = data + pos + 2;
		int err = 0;

		if (n > len - pos - 2)
			n = len - pos - 2;
		memsnap_demo_summary.records++;

		switch (type) {
		case DEMO_REC_NAME:
			record_name(payload, n);
			break;
		case DEMO_REC_VALUES:
			record_values(payload, n);
			break;
		case DEMO_REC_WRITE:
			err = record_write(payload, n);
			break;
		case DEMO_REC_CHECKSUM:
			/* Covers every byte before this record. */
			if (n < 4 || load_le32(payload) !=
					     fnv1a(data, pos, DEMO_FNV_OFFSET))
				return DEMO_ERR_CHECKSUM;
			have_checksum = 1;
			break;
		case DEMO_REC_END:
			pos = len;
			continue;
		default:
			memsnap_demo_summary.unknown++;
			break;
		}
		if (err < 0)
			return err;
		pos += 2 + n;
	}

	if ((memsnap_demo_summary.flags & DEMO_FLAG_CHECKSUM) && !have_checksum)
		return DEMO_ERR_NO_CHECKSUM;
	memsnap_demo_summary.checksum = fnv1a(data, len, DEMO_FNV_OFFSET);
	journal(len, memsnap_demo_summary.checksum);
	return (int)memsnap_demo_summary.records;
}
