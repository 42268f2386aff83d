/*
 * Guest memory access: reads and writes through memsnap regions, the writes
 * announced to the regions' views (by ms_uc_write, ms_uc_note_written and
 * the write hook), and dropping the translated code of written pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

void ms__uc_drop_code(ms_uc *m, uint64_t address, uint64_t len)
{
	if (!len)
		return;
	uint64_t start = address & ~(uint64_t)(MS__UC_PAGE - 1);
	uint64_t last = (address + (len - 1)) | (MS__UC_PAGE - 1); /* of the last page */
	ms__uc_remove_cache(m->uc, start, last);
	m->stats.code_pages_flushed += (last - start) / MS__UC_PAGE + 1;
}

/* Record [address, address+len) as written, in whatever regions it covers
 * (the range must not wrap past 2^64). Returns the bytes not inside memsnap
 * regions (0 when all were). */
static uint64_t note_range(ms_uc *m, uint64_t address, uint64_t len, bool drop_code)
{
	while (len) {
		ms__uc_region *r = ms__uc_find(m, address);
		if (!r)
			return len;
		uint64_t off = address - r->address;
		uint64_t n = r->size - off < len ? r->size - off : len;
		ms_view_note_written(r->view, (size_t)off, (size_t)n);
		if (drop_code && r->exec)
			ms__uc_drop_code(m, address, n);
		len -= n;
		if (len)
			address += n; /* no wrap: the range ends below 2^64 */
	}
	return 0;
}

/* UC_HOOK_MEM_WRITE, limited to one region: runs before the store and
 * announces it to the region's view. Pages already dirty cost the view one
 * bit test. */
void ms__uc_write_hook(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
		       void *user_data)
{
	(void)uc;
	(void)type;
	(void)value;
	ms__uc_region *r = user_data;
	uint64_t off = address - r->address;
	uint64_t end = off + (uint64_t)(size > 0 ? size : 1) - 1;
	if (end < r->size) {
		ms_view_note_written(r->view, (size_t)off, (size_t)(end - off + 1));
		return;
	}
	/* A store running past the region's end into the next one (Unicorn
	 * refuses a store that wraps past 2^64). */
	uint64_t len = (uint64_t)size;
	if (address + (len - 1) < address)
		len = UINT64_MAX - address + 1;
	note_range(r->owner, address, len, false);
}

void *ms_uc_host_ptr(ms_uc *m, uint64_t address, size_t *avail)
{
	ms__uc_region *r = m ? ms__uc_find(m, address) : NULL;
	if (!r) {
		if (avail)
			*avail = 0;
		return NULL;
	}
	uint64_t off = address - r->address;
	if (avail)
		*avail = (size_t)(r->size - off);
	return r->data + off;
}

/* Whether [address, address+len) does not wrap past 2^64. */
static bool range_ok(uint64_t address, uint64_t len)
{
	return len == 0 || address + (len - 1) >= address;
}

/* Check that [address, address+len) (not wrapping) lies in memsnap
 * regions. */
static bool covered(ms_uc *m, uint64_t address, size_t len)
{
	while (len) {
		ms__uc_region *r = ms__uc_find(m, address);
		if (!r)
			return false;
		uint64_t n = r->size - (address - r->address);
		if (n >= len)
			return true;
		address += n; /* below address + len: no wrap */
		len -= n;
	}
	return true;
}

static int copy(ms_uc *m, uint64_t address, void *buf, size_t len, bool write)
{
	if (!m || (!buf && len))
		return -EINVAL;
	if (!range_ok(address, len) || !covered(m, address, len))
		return -EFAULT;
	uint8_t *b = buf;
	while (len) {
		ms__uc_region *r = ms__uc_find(m, address);
		uint64_t off = address - r->address;
		size_t n = r->size - off < len ? (size_t)(r->size - off) : len;
		if (write) {
			ms_view_note_written(r->view, (size_t)off, n);
			memcpy(r->data + off, b, n);
			if (r->exec)
				ms__uc_drop_code(m, address, n);
		} else {
			memcpy(b, r->data + off, n);
		}
		b += n;
		len -= n;
		if (len)
			address += n;
	}
	return 0;
}

int ms_uc_write(ms_uc *m, uint64_t address, const void *buf, size_t len)
{
	return copy(m, address, (void *)buf, len, true);
}

int ms_uc_read(ms_uc *m, uint64_t address, void *buf, size_t len)
{
	return copy(m, address, buf, len, false);
}

int ms_uc_note_written(ms_uc *m, uint64_t address, size_t len)
{
	if (!m)
		return -EINVAL;
	if (!range_ok(address, len) || !covered(m, address, len))
		return -EFAULT;
	note_range(m, address, len, true);
	return 0;
}
