/*
 * Region snapshots and verification of an open save state. Full regions are
 * mapped straight from the file; delta regions are stacked on the base's
 * snapshot of the same region.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "state_internal.h"

/* The chunks of one region that verify_chunks checks. */
typedef struct verify_job {
	const ms_state *st;
	const ms__state_region *r;
} verify_job;

/* Check chunks [lo, hi) of a region against their checksums. They are read
 * with pread into a buffer of the worker's own, which costs a copy but no
 * page fault: hashing the file's mapping took a fault every few pages. */
static int verify_chunks(void *ctx, size_t lo, size_t hi)
{
	const verify_job *job = ctx;
	const ms__state_region *r = job->r;
	uint64_t chunk = job->st->info.chunk_size;
	uint8_t *buf = malloc((size_t)chunk);
	if (!buf)
		return -ENOMEM;
	int err = 0;
	for (size_t c = lo; c < hi && !err; c++) {
		uint64_t off = (uint64_t)c * chunk;
		uint64_t len = r->data_size - off < chunk ? r->data_size - off : chunk;
		err = ms__os_read_at(job->st->fd, buf, (size_t)len, r->data_offset + off);
		if (err == -EIO)
			err = MS_ERR_CORRUPT; /* the file ends early */
		if (!err && XXH3_64bits(buf, (size_t)len) != ms__get64(r->hashes + c * 8))
			err = MS_ERR_CORRUPT;
	}
	free(buf);
	return err;
}

/* Chunks per thread at the least: below that, starting a thread costs more
 * than it saves. */
enum { VERIFY_GRAIN = 16 };

int ms_state_verify_region(ms_state *st, size_t i)
{
	if (!st || i >= st->nregions)
		return -EINVAL;
	ms__state_region *r = &st->regions[i];
	if (r->verified)
		return 0;
	verify_job job = {.st = st, .r = r};
	int err = ms__parallel((size_t)r->chunk_count, VERIFY_GRAIN, verify_chunks, &job);
	if (err)
		return err;
	r->verified = true;
	return 0;
}

int ms_state_verify(ms_state *st, size_t *bad_region)
{
	if (!st)
		return -EINVAL;
	for (size_t i = 0; i < st->nregions; i++) {
		int err = ms_state_verify_region(st, i);
		if (err) {
			if (bad_region)
				*bad_region = i;
			return err;
		}
	}
	return 0;
}

int ms_state_set_base(ms_state *st, ms_state *base)
{
	if (!st || !base || st == base)
		return -EINVAL;
	if (st->base)
		return st->base == base ? 0 : -EBUSY;
	if (!(st->info.flags & MS_STATE_INCREMENTAL) ||
	    memcmp(st->info.base_id, base->info.id, 16) != 0)
		return MS_ERR_MISMATCH;
	atomic_fetch_add_explicit(&base->refs, 1, memory_order_relaxed);
	st->base = base;
	return 0;
}

/* Stack the stored pages of delta region `r` on `parent`. The packed pages
 * are mapped at their page positions in a scratch reservation, one mmap per
 * run, so the stacking code can read page p at scratch + p * page size. */
static int load_delta(ms_state *st, const ms__state_region *r, ms_snapshot *parent,
		      ms_snapshot **out)
{
	if (r->run_count == 0) {
		*out = ms_snapshot_ref(parent);
		return 0;
	}
	size_t ps = ms_page_size();
	size_t n = (size_t)(r->data_size / ps);
	size_t *pages = malloc(n * sizeof *pages);
	if (!pages)
		return -ENOMEM;
	/* Where files are mapped at coarser offsets than pages (64 KiB on
	 * Windows), the runs are read into the scratch instead. */
	bool read = ms__os_caps_get()->map_granularity != ps;
	void *scratch;
	int err = ms__os_reserve(
	    (size_t)r->size, read ? MS_ACCESS_READ | MS_ACCESS_WRITE : MS_ACCESS_NONE, &scratch);
	if (err) {
		free(pages);
		return err;
	}
	uint64_t off = r->data_offset;
	size_t k = 0;
	for (uint64_t i = 0; i < r->run_count && !err; i++) {
		uint64_t first = ms__get64(r->runs + i * 16);
		uint64_t count = ms__get64(r->runs + i * 16 + 8);
		void *at;
		if (read) {
			err = ms__os_read_at(st->fd, (uint8_t *)scratch + first * ps,
					     (size_t)(count * ps), off);
			if (err == -EIO)
				err = MS_ERR_CORRUPT; /* the file ends early */
		} else {
			err = ms__os_map((uint8_t *)scratch + first * ps, (size_t)(count * ps),
					 MS__OS_MAP_READ_ONLY, st->fd, off, &at);
		}
		off += count * ps;
		for (uint64_t j = 0; j < count; j++)
			pages[k++] = (size_t)(first + j);
	}
	/* Copied through the kernel: a file cut short under us (it must not
	 * change while open, but may) gives -EFAULT, not SIGBUS. */
	if (!err)
		err = ms__snapshot_stack_ex(parent, scratch, pages, n, true, out);
	ms__os_unmap(scratch, (size_t)r->size);
	free(pages);
	return err;
}

/* A full region whose data lies at a file offset this system cannot map
 * (regions are page-aligned in the file; Windows maps at 64 KiB offsets
 * only): its content read into a new snapshot. O(size), where a mapped
 * region costs O(1). */
static int read_full(ms_state *st, const ms__state_region *r, ms_snapshot **out)
{
	enum { BUF = 1 << 20 };
	ms_snapshot *s;
	int err = ms_snapshot_zeroed((size_t)r->size, &s);
	if (err)
		return err;
	uint8_t *buf = malloc(BUF);
	err = buf ? 0 : -ENOMEM;
	for (uint64_t pos = 0; !err && pos < r->data_size; pos += BUF) {
		size_t n = r->data_size - pos < BUF ? (size_t)(r->data_size - pos) : BUF;
		err = ms__os_read_at(st->fd, buf, n, r->data_offset + pos);
		if (err == -EIO)
			err = MS_ERR_CORRUPT; /* the file ends early */
		if (!err)
			err = ms__os_write_at(s->fd, buf, n, pos);
	}
	free(buf);
	if (err) {
		ms_snapshot_unref(s);
		return err;
	}
	*out = s;
	return 0;
}

int ms_state_region_snapshot(ms_state *st, size_t i, ms_snapshot **out)
{
	if (!st || !out || i >= st->nregions)
		return -EINVAL;
	ms__state_region *r = &st->regions[i];
	if (r->snap) {
		*out = ms_snapshot_ref(r->snap);
		return 0;
	}
	int err = 0;
	if (st->flags & MS_STATE_VERIFY_REGIONS)
		err = ms_state_verify_region(st, i);
	if (err)
		return err;
	ms_snapshot *s = NULL;
	if (r->kind == 0 && r->data_offset % ms__os_caps_get()->map_granularity != 0) {
		err = read_full(st, r, &s);
	} else if (r->kind == 0) {
		err = ms_snapshot_from_fd_range(st->fd, r->data_offset, (size_t)r->size, &s);
	} else {
		if (!st->base)
			return MS_ERR_MISMATCH;
		long j = ms__state_find_region(st->base, r->address, r->size);
		if (j < 0)
			return MS_ERR_CORRUPT; /* the base lacks the region */
		ms_snapshot *parent;
		err = ms_state_region_snapshot(st->base, (size_t)j, &parent);
		if (err)
			return err;
		err = load_delta(st, r, parent, &s);
		ms_snapshot_unref(parent);
	}
	if (err)
		return err;
	r->snap = s;
	*out = ms_snapshot_ref(s);
	return 0;
}
