/*
 * ms_uc: guest RAM regions on memsnap copy-on-write views, and the write hook
 * that reports guest stores before they happen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define GUEST_PAGE 4096u

int ms_uc_error(uc_err err)
{
	return err == UC_ERR_OK ? 0 : MS_ERR_UC_BASE - (int)err;
}

static size_t map_align(void)
{
	size_t ps = ms_page_size();
	return ps > GUEST_PAGE ? ps : GUEST_PAGE;
}

/* ---- Page sets ------------------------------------------------------------ */

static int pageset_init(ms__uc_pageset *s, size_t npages)
{
	s->npages = npages;
	s->n = 0;
	/* calloc of large blocks maps fresh zero pages: a 4 GiB region's list
	 * costs memory only for the pages ever noted at once. */
	s->bits = calloc((npages + 63) / 64 + 1, sizeof *s->bits);
	s->list = calloc(npages + 1, sizeof *s->list);
	if (!s->bits || !s->list) {
		free(s->bits);
		free(s->list);
		s->bits = NULL;
		s->list = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void pageset_fini(ms__uc_pageset *s)
{
	free(s->bits);
	free(s->list);
	s->bits = NULL;
	s->list = NULL;
}

bool ms__uc_pageset_add(ms__uc_pageset *s, size_t pg)
{
	uint64_t bit = (uint64_t)1 << (pg & 63);
	if (s->bits[pg >> 6] & bit)
		return false;
	s->bits[pg >> 6] |= bit;
	s->list[s->n++] = pg;
	return true;
}

void ms__uc_pageset_clear(ms__uc_pageset *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->bits[s->list[i] >> 6] = 0;
	s->n = 0;
}

/* ---- Engine state ---------------------------------------------------------- */

int ms_uc_new(uc_engine *uc, ms_uc **out)
{
	if (!uc || !out)
		return -EINVAL;
	int arch = 0, mode = 0;
	int err = ms_uc_error(uc_ctl(uc, MS__UC_CTL_READ(UC_CTL_UC_ARCH, 1), &arch));
	if (!err)
		err = ms_uc_error(uc_ctl(uc, MS__UC_CTL_READ(UC_CTL_UC_MODE, 1), &mode));
	if (err)
		return err;
	ms_uc *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->uc = uc;
	m->arch = (uc_arch)arch;
	m->mode = mode;
	m->tracker = MS_TRACKER_AUTO;
	m->tracking = MS_UC_TRACK_EXACT;
	const char *env = getenv("MEMSNAP_UC_TRACKING");
	if (env && strcmp(env, "hook") == 0)
		m->tracking = MS_UC_TRACK_HOOK;
	m->next_id = 1;
	ms__stopwatch_init(&m->clock);
	m->map_gen = 1;
	m->map_counter = 1;
	static _Atomic uint64_t generation; /* unique ms_uc identities (-EXDEV) */
	m->cp_gen = ++generation;
	*out = m;
	return 0;
}

void ms_uc_free(ms_uc *m)
{
	if (!m)
		return;
	while (m->nregions)
		ms__uc_region_unmap(m, m->regions[m->nregions - 1]);
	for (unsigned i = 0; i < m->n_stops; i++)
		uc_hook_del(m->uc, m->stops[i].hook);
	free(m->regions);
	free(m->scratch);
	free(m);
}

uc_engine *ms_uc_engine(const ms_uc *m)
{
	return m ? m->uc : NULL;
}

int ms_uc_set_tracking(ms_uc *m, ms_uc_tracking tracking, ms_tracker tracker)
{
	if (!m || (tracking != MS_UC_TRACK_EXACT && tracking != MS_UC_TRACK_HOOK) ||
	    (unsigned)tracker >= MS_TRACKER_COUNT_)
		return -EINVAL;
	if (m->nregions)
		return -EBUSY;
	if (tracking == MS_UC_TRACK_EXACT && tracker != MS_TRACKER_AUTO) {
		int err = ms_tracker_probe(tracker);
		if (err)
			return err == -ENOSYS ? -EOPNOTSUPP : err;
	}
	m->tracking = tracking;
	m->tracker = tracker;
	return 0;
}

ms_uc_tracking ms_uc_get_tracking(const ms_uc *m)
{
	return m ? m->tracking : MS_UC_TRACK_EXACT;
}

/* ---- Regions ----------------------------------------------------------------- */

/* The last byte of region r. A region may end exactly at 2^64, where
 * address + size is 0: every comparison uses the last byte instead. */
static uint64_t region_last(const ms__uc_region *r)
{
	return r->address + (r->size - 1);
}

/* Index of the first region whose last byte is at or after `address`. */
static size_t lower_bound(const ms_uc *m, uint64_t address)
{
	size_t lo = 0, hi = m->nregions;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (region_last(m->regions[mid]) < address)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ms__uc_region *ms__uc_find(const ms_uc *m, uint64_t address)
{
	size_t i = lower_bound(m, address);
	if (i < m->nregions && m->regions[i]->address <= address)
		return m->regions[i];
	return NULL;
}

void ms__uc_drop_code(ms_uc *m, uint64_t address, uint64_t len)
{
	if (!len)
		return;
	uint64_t start = address & ~(uint64_t)(GUEST_PAGE - 1);
	uint64_t last = (address + (len - 1)) | (GUEST_PAGE - 1); /* of the last page */
	ms__uc_remove_cache(m->uc, start, last);
	m->stats.code_pages_flushed += (last - start) / GUEST_PAGE + 1;
}

/* Record pages [first, last] of r as written, announcing them to the view. */
static void note_pages(ms__uc_region *r, size_t first, size_t last)
{
	size_t run = 0;
	for (size_t pg = first; pg <= last + 1; pg++) {
		if (pg <= last && ms__uc_pageset_add(&r->noted, pg)) {
			run++;
			continue;
		}
		if (run && r->owner->tracking == MS_UC_TRACK_EXACT)
			ms_view_note_written(r->view, (pg - run) * GUEST_PAGE, run * GUEST_PAGE);
		run = 0;
	}
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
		note_pages(r, off / GUEST_PAGE, (off + n - 1) / GUEST_PAGE);
		if (drop_code && r->exec)
			ms__uc_drop_code(m, address, n);
		len -= n;
		if (len)
			address += n; /* no wrap: the range ends below 2^64 */
	}
	return 0;
}

/* UC_HOOK_MEM_WRITE, limited to one region: runs before the store. Pages
 * already reported since the last checkpoint or restore cost one bit test. */
static void write_hook(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
		       void *user_data)
{
	(void)uc;
	(void)type;
	(void)value;
	ms__uc_region *r = user_data;
	uint64_t off = address - r->address;
	uint64_t end = off + (uint64_t)(size > 0 ? size : 1) - 1;
	size_t first = off / GUEST_PAGE, last = end / GUEST_PAGE;
	if (last < r->noted.npages && first == last &&
	    (r->noted.bits[first >> 6] >> (first & 63)) & 1)
		return;
	if (end < r->size) {
		note_pages(r, first, last);
		return;
	}
	/* A store running past the region's end into the next one (Unicorn
	 * refuses a store that wraps past 2^64). */
	uint64_t len = (uint64_t)size;
	if (address + (len - 1) < address)
		len = UINT64_MAX - address + 1;
	note_range(r->owner, address, len, false);
}

static int perms_valid(uint32_t perms)
{
	return (perms & ~(uint32_t)UC_PROT_ALL) == 0;
}

static bool runs_exec(const ms__uc_perm_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (runs[i].perms & UC_PROT_EXEC)
			return true;
	return false;
}

/* The write hook: always in hook mode (it is the tracking). Exact mode does
 * without it unless MEMSNAP_UC_WRITE_HOOK=1: its trackers see every writer,
 * the pages a loop rewrites stay writable (hot pages), so a hook would only
 * save a fault on the first write to a page, at ~170 host instructions per
 * guest store; and on x86 with Unicorn < 2.1 any UC_HOOK_MEM_WRITE hook
 * changes the flags some instructions compute (unicorn-engine/unicorn issues
 * 1911 and 1933). */
static int install_hook(ms_uc *m, ms__uc_region *r)
{
	bool want = m->tracking == MS_UC_TRACK_HOOK;
	const char *env = getenv("MEMSNAP_UC_WRITE_HOOK");
	if (m->tracking == MS_UC_TRACK_EXACT && env && *env)
		want = strcmp(env, "0") != 0;
	if (!want)
		return 0;
	uc_err e = uc_hook_add(m->uc, &r->write_hook, UC_HOOK_MEM_WRITE, (void *)write_hook, r,
			       r->address, r->address + r->size - 1);
	if (e)
		r->write_hook = 0;
	return ms_uc_error(e);
}

static void region_free(ms_uc *m, ms__uc_region *r)
{
	if (!r)
		return;
	if (r->write_hook)
		uc_hook_del(m->uc, r->write_hook);
	ms_view_free(r->view);
	ms_view_free(r->base_view);
	ms_snapshot_unref(r->base);
	ms__uc_delta_unref(r->delta);
	pageset_fini(&r->noted);
	free(r->perms);
	free(r);
}

int ms__uc_region_set_perms(ms_uc *m, ms__uc_region *r, const ms__uc_perm_run *runs, size_t n)
{
	ms__uc_perm_run *copy = malloc(n * sizeof *copy);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, runs, n * sizeof *copy);
	for (size_t i = 0; i < n; i++) {
		uc_err e =
		    uc_mem_protect(m->uc, r->address + runs[i].offset, runs[i].size, runs[i].perms);
		if (e) {
			free(copy);
			return ms_uc_error(e);
		}
	}
	free(r->perms);
	r->perms = copy;
	r->nperms = n;
	r->exec = runs_exec(runs, n);
	return 0;
}

int ms__uc_region_map(ms_uc *m, uint64_t id, uint64_t address, ms_snapshot *snap, uint32_t perms,
		      const ms__uc_perm_run *runs, size_t nruns, ms__uc_region **out)
{
	size_t size = ms_snapshot_size(snap);
	size_t align = map_align();
	if (!snap || size == 0 || (address & (align - 1)) || (size & (align - 1)) ||
	    address + size - 1 < address || !perms_valid(perms))
		return -EINVAL;
	size_t at = lower_bound(m, address);
	if (at < m->nregions && m->regions[at]->address <= address + (size - 1))
		return -EEXIST;
	if (m->nregions == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		ms__uc_region **p = realloc(m->regions, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		m->regions = p;
		m->cap = cap;
	}
	ms__uc_region *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->id = id;
	r->address = address;
	r->size = size;
	r->owner = m;
	r->base = ms_snapshot_ref(snap);
	ms__uc_perm_run one = {0, size, perms};
	if (!runs) {
		runs = &one;
		nruns = 1;
	}
	int err = pageset_init(&r->noted, size / GUEST_PAGE);
	r->perms = malloc(nruns * sizeof *r->perms);
	if (!err && !r->perms)
		err = -ENOMEM;
	if (!err) {
		memcpy(r->perms, runs, nruns * sizeof *runs);
		r->nperms = nruns;
		r->exec = runs_exec(runs, nruns);
		ms_tracker t = m->tracking == MS_UC_TRACK_HOOK ? MS_TRACKER_NONE : m->tracker;
		err = ms_view_new_tracked(snap, MS_VIEW_COW, t, &r->view);
		/* Guest loops rewrite the same pages (stack, globals, heap)
		 * every iteration: keep those writable (memsnap.h). */
		if (!err)
			err = ms_view_set_hot_pages(r->view, 1);
		/* The engine's statistics time whole checkpoint restores. */
		if (!err)
			err = ms_view_set_restore_timing(r->view, 0);
		if (!err && m->tracking == MS_UC_TRACK_HOOK)
			err =
			    ms_view_new_tracked(snap, MS_VIEW_COW, MS_TRACKER_NONE, &r->base_view);
		if (!err && r->base_view)
			r->base_data = ms_view_data(r->base_view);
	}
	if (!err) {
		r->data = ms_view_data(r->view);
		err = ms_uc_error(uc_mem_map_ptr(m->uc, address, size, runs[0].perms, r->data));
		if (err == ms_uc_error(UC_ERR_MAP))
			err = -EEXIST; /* overlaps memory mapped outside memsnap */
		if (err) {
			region_free(m, r);
			return err;
		}
		for (size_t i = 1; i < nruns && !err; i++)
			err = ms_uc_error(uc_mem_protect(m->uc, address + runs[i].offset,
							 runs[i].size, runs[i].perms));
		if (!err)
			err = install_hook(m, r);
		if (err)
			uc_mem_unmap(m->uc, address, size);
	}
	if (err) {
		region_free(m, r);
		return err;
	}
	memmove(m->regions + at + 1, m->regions + at, (m->nregions - at) * sizeof *m->regions);
	m->regions[at] = r;
	m->nregions++;
	if (out)
		*out = r;
	return 0;
}

void ms__uc_region_unmap(ms_uc *m, ms__uc_region *r)
{
	size_t i = lower_bound(m, r->address);
	uc_mem_unmap(m->uc, r->address, r->size);
	memmove(m->regions + i, m->regions + i + 1, (m->nregions - i - 1) * sizeof *m->regions);
	m->nregions--;
	region_free(m, r);
}

int ms_uc_map(ms_uc *m, uint64_t address, ms_snapshot *snap, uint32_t perms)
{
	if (!m || !snap)
		return -EINVAL;
	int err = ms__uc_region_map(m, m->next_id, address, snap, perms, NULL, 0, NULL);
	if (!err) {
		m->next_id++;
		m->map_gen = ++m->map_counter;
	}
	return err;
}

int ms_uc_map_zeroed(ms_uc *m, uint64_t address, size_t size, uint32_t perms)
{
	if (!m || size == 0 || (size & (map_align() - 1)))
		return -EINVAL;
	ms_snapshot *snap;
	int err = ms_snapshot_zeroed(size, &snap);
	if (err)
		return err;
	err = ms_uc_map(m, address, snap, perms);
	ms_snapshot_unref(snap);
	return err;
}

int ms_uc_unmap(ms_uc *m, uint64_t address, size_t size)
{
	if (!m || size == 0)
		return -EINVAL;
	ms__uc_region *r = ms__uc_find(m, address);
	if (!r || r->address != address)
		return -ENOENT;
	if (r->size != size)
		return -EINVAL;
	ms__uc_region_unmap(m, r);
	m->map_gen = ++m->map_counter;
	return 0;
}

/* Runs of `r` with [off, off+size) set to perms; adjacent equal runs merge. */
static int runs_with(const ms__uc_region *r, uint64_t off, uint64_t size, uint32_t perms,
		     ms__uc_perm_run **out, size_t *nout)
{
	ms__uc_perm_run *v = malloc((r->nperms + 2) * sizeof *v);
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	uint64_t end = off + size;
	bool placed = false;
	for (size_t i = 0; i < r->nperms; i++) {
		ms__uc_perm_run a = r->perms[i];
		uint64_t aend = a.offset + a.size;
		if (a.offset < off)
			v[n++] = (ms__uc_perm_run){a.offset, (aend < off ? aend : off) - a.offset,
						   a.perms};
		if (!placed && aend > off) {
			v[n++] = (ms__uc_perm_run){off, size, perms};
			placed = true;
		}
		if (aend > end)
			v[n++] =
			    (ms__uc_perm_run){a.offset > end ? a.offset : end,
					      aend - (a.offset > end ? a.offset : end), a.perms};
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && v[k - 1].perms == v[i].perms &&
		    v[k - 1].offset + v[k - 1].size == v[i].offset)
			v[k - 1].size += v[i].size;
		else
			v[k++] = v[i];
	}
	*out = v;
	*nout = k;
	return 0;
}

int ms_uc_protect(ms_uc *m, uint64_t address, size_t size, uint32_t perms)
{
	if (!m || size == 0 || (address & (GUEST_PAGE - 1)) || (size & (GUEST_PAGE - 1)) ||
	    !perms_valid(perms))
		return -EINVAL;
	ms__uc_region *r = ms__uc_find(m, address);
	if (!r)
		return -ENOENT;
	uint64_t off = address - r->address;
	if (size > r->size - off)
		return -EINVAL;
	ms__uc_perm_run *runs;
	size_t n;
	int err = runs_with(r, off, size, perms, &runs, &n);
	if (err)
		return err;
	err = ms_uc_error(uc_mem_protect(m->uc, address, size, perms));
	if (!err) {
		free(r->perms);
		r->perms = runs;
		r->nperms = n;
		r->exec = runs_exec(runs, n);
		m->map_gen = ++m->map_counter;
	} else {
		free(runs);
	}
	return err;
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
			note_pages(r, off / GUEST_PAGE, (off + n - 1) / GUEST_PAGE);
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

int ms_uc_get_stats(const ms_uc *m, ms_uc_stats *stats)
{
	if (!m || !stats)
		return -EINVAL;
	*stats = m->stats;
	return 0;
}

int ms_uc_set_restore_timing(ms_uc *m, int enable)
{
	if (!m)
		return -EINVAL;
	m->timed = enable != 0;
	return 0;
}
