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

int ms_uc_error(uc_err err)
{
	return err == UC_ERR_OK ? 0 : MS_ERR_UC_BASE - (int)err;
}

static size_t map_align(void)
{
	size_t ps = ms_page_size();
	return ps > MS__UC_PAGE ? ps : MS__UC_PAGE;
}

/* ---- Engine state ---------------------------------------------------------- */

int ms_uc_new(uc_engine *uc, ms_uc **out)
{
	if (!uc || !out)
		return -EINVAL;
	int arch = 0, mode = 0;
	int err = ms__uc_arch_mode(uc, &arch, &mode);
	if (err)
		return err;
	ms_uc *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->uc = uc;
	m->arch = (uc_arch)arch;
	m->mode = mode;
	m->tracker = MS_TRACKER_AUTO;
	long opt;
	m->tracking = ms_option_get(MS_OPTION_UC_TRACKING, &opt) == 0 ? (ms_uc_tracking)opt
								      : MS_UC_TRACK_EXACT;
	m->exact_hook = ms_option_get(MS_OPTION_UC_WRITE_HOOK, &opt) == 0 && opt == 1;
	m->next_id = 1;
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

/* The write hook: always in hook mode (it is the tracking: the views use
 * the noted tracker). Exact mode does without it unless
 * MEMSNAP_UC_WRITE_HOOK=1: its trackers see every writer, the pages a loop
 * rewrites stay writable (hot pages), so a hook would only save a fault on
 * the first write to a page, at the cost of a call into the hook on every
 * guest store; and on x86 with Unicorn < 2.1 any UC_HOOK_MEM_WRITE hook
 * changes the flags some instructions compute (unicorn-engine/unicorn
 * issues 1911 and 1933). */
static int install_hook(ms_uc *m, ms__uc_region *r)
{
	if (m->tracking != MS_UC_TRACK_HOOK && !m->exact_hook)
		return 0;
	uc_err e = uc_hook_add(m->uc, &r->write_hook, UC_HOOK_MEM_WRITE, (void *)ms__uc_write_hook,
			       r, r->address, r->address + r->size - 1);
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
	ms__uc_perm_run one = {0, size, perms};
	if (!runs) {
		runs = &one;
		nruns = 1;
	}
	int err = 0;
	r->perms = malloc(nruns * sizeof *r->perms);
	if (!r->perms)
		err = -ENOMEM;
	if (!err) {
		memcpy(r->perms, runs, nruns * sizeof *runs);
		r->nperms = nruns;
		r->exec = runs_exec(runs, nruns);
		ms_tracker t = m->tracking == MS_UC_TRACK_HOOK ? MS_TRACKER_NOTED : m->tracker;
		err = ms_view_new_tracked(snap, MS_VIEW_COW, t, &r->view);
		/* Guest loops rewrite the same pages (stack, globals, heap)
		 * every iteration: keep those writable (memsnap.h). */
		if (!err)
			err = ms_view_set_hot_pages(r->view, 1);
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
	if (!m || size == 0 || (address & (MS__UC_PAGE - 1)) || (size & (MS__UC_PAGE - 1)) ||
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

int ms_uc_get_stats(const ms_uc *m, ms_uc_stats *stats)
{
	if (!m || !stats)
		return -EINVAL;
	*stats = m->stats;
	return 0;
}
