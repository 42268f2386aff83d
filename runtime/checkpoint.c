/*
 * Checkpoints: CPU context, memory map and the content of every region.
 * Taking one costs the pages written since the last checkpoint or restore
 * (memsnap stacks them on the earlier content); restoring one costs the pages
 * written since plus the pages that differ between the two checkpoints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void cp_region_fini(ms__uc_cp_region *c)
{
	free(c->perms);
	ms_snapshot_unref(c->snapshot);
}

void ms_uc_checkpoint_free(ms_uc_checkpoint *cp)
{
	if (!cp)
		return;
	for (size_t i = 0; i < cp->nregions; i++)
		cp_region_fini(&cp->regions[i]);
	free(cp->regions);
	if (cp->ctx)
		uc_context_free(cp->ctx);
	free(cp->regs);
	free(cp);
}

/* Record region r into c: its map entry, and its content (which r adopts as
 * its new base, so that tracking starts afresh). */
static int take_region(ms__uc_region *r, ms__uc_cp_region *c)
{
	c->id = r->id;
	c->address = r->address;
	c->size = r->size;
	c->perms = malloc(r->nperms * sizeof *c->perms);
	if (!c->perms)
		return -ENOMEM;
	memcpy(c->perms, r->perms, r->nperms * sizeof *c->perms);
	c->nperms = r->nperms;
	return ms_view_checkpoint(r->view, &c->snapshot);
}

int ms_uc_checkpoint_take(ms_uc *m, ms_uc_checkpoint **out)
{
	if (!m || !out)
		return -EINVAL;
	ms_uc_checkpoint *cp = calloc(1, sizeof *cp);
	if (!cp)
		return -ENOMEM;
	cp->owner = m;
	cp->owner_gen = m->cp_gen;
	cp->map_gen = m->map_gen;
	cp->arch = m->arch;
	cp->mode = m->mode;
	int err = 0;
	if (m->nregions) {
		cp->regions = calloc(m->nregions, sizeof *cp->regions);
		if (!cp->regions)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < m->nregions; i++) {
		err = take_region(m->regions[i], &cp->regions[i]);
		cp->nregions = i + 1;
	}
	if (!err)
		err = ms_uc_error(uc_context_alloc(m->uc, &cp->ctx));
	if (!err)
		err = ms_uc_error(uc_context_save(m->uc, cp->ctx));
	size_t rs = ms__uc_regs_size(m->arch, m->mode);
	if (!err && rs) {
		cp->regs = malloc(rs);
		long n =
		    cp->regs ? ms__uc_regs_save(m->uc, m->arch, m->mode, cp->regs, rs) : -ENOMEM;
		if (n < 0)
			err = (int)n;
		else
			cp->regs_len = (size_t)n;
	}
	if (err) {
		ms_uc_checkpoint_free(cp);
		return err;
	}
	*out = cp;
	return 0;
}

static const ms__uc_cp_region *cp_find_id(const ms_uc_checkpoint *cp, uint64_t id)
{
	for (size_t i = 0; i < cp->nregions; i++)
		if (cp->regions[i].id == id)
			return &cp->regions[i];
	return NULL;
}

static bool same_perms(const ms__uc_region *r, const ms__uc_cp_region *c)
{
	return r->nperms == c->nperms &&
	       memcmp(r->perms, c->perms, c->nperms * sizeof *c->perms) == 0;
}

/* Put the memory map back as it was at cp: regions mapped since are unmapped,
 * regions unmapped since are mapped again (from the checkpoint's content),
 * and permissions are reset. Only runs when the map changed. */
static int restore_map(ms_uc *m, const ms_uc_checkpoint *cp)
{
	for (size_t i = m->nregions; i-- > 0;) {
		ms__uc_region *r = m->regions[i];
		if (!cp_find_id(cp, r->id))
			ms__uc_region_unmap(m, r);
	}
	for (size_t i = 0; i < cp->nregions; i++) {
		const ms__uc_cp_region *c = &cp->regions[i];
		ms__uc_region *r = ms__uc_find(m, c->address);
		if (r && r->id == c->id) {
			if (!same_perms(r, c)) {
				int err = ms__uc_region_set_perms(m, r, c->perms, c->nperms);
				if (err)
					return err;
			}
			continue;
		}
		int err = ms__uc_region_map(m, c->id, c->address, c->snapshot, 0, c->perms,
					    c->nperms, &r);
		if (err)
			return err;
		r->fresh = true;
		m->fresh_pending = true;
		if (r->exec)
			ms__uc_drop_code(m, r->address, r->size);
	}
	m->map_gen = cp->map_gen;
	return 0;
}

/* Make room for `n` ranges in m->scratch. */
static bool scratch_reserve(ms_uc *m, size_t n)
{
	if (n <= m->scratch_cap)
		return true;
	size_t cap = n * 2;
	ms_range *p = realloc(m->scratch, cap * sizeof *p);
	if (!p)
		return false;
	m->scratch = p;
	m->scratch_cap = cap;
	return true;
}

/* Restore region r to c's content. Translated code of the pages the
 * restore put back is dropped (executable regions only): the restore
 * reports their runs, so the view is scanned once. */
static int restore_region(ms_uc *m, ms__uc_region *r, const ms__uc_cp_region *c, uint64_t *pages)
{
	if (r->fresh) {
		/* Mapped by restore_map from c's content: nothing to put back
		 * (and a fresh view's tracker has nothing to scan). */
		r->fresh = false;
		return 0;
	}
	ms_snapshot *to = ms_view_snapshot(r->view) == c->snapshot ? NULL : c->snapshot;
	if (!r->exec) {
		int n = to ? ms_view_restore_to(r->view, to) : ms_view_restore(r->view);
		if (n < 0)
			return n;
		*pages += (uint64_t)n;
		return 0;
	}
	if (m->scratch_cap == 0)
		(void)scratch_reserve(m, 64);
	size_t restored;
	long runs = ms_view_restore_ranges(r->view, to, m->scratch, m->scratch_cap, &restored);
	if (runs < 0)
		return (int)runs;
	*pages += restored;
	if ((size_t)runs > m->scratch_cap) {
		/* More runs than room: drop the region's code whole, and make
		 * room for as many next time. */
		ms__uc_drop_code(m, r->address, r->size);
		(void)scratch_reserve(m, (size_t)runs);
		return 0;
	}
	for (long i = 0; i < runs; i++)
		ms__uc_drop_code(m, r->address + m->scratch[i].offset, m->scratch[i].len);
	return 0;
}

int ms_uc_checkpoint_restore(ms_uc *m, ms_uc_checkpoint *cp)
{
	if (!m || !cp)
		return -EINVAL;
	if (cp->owner != m || cp->owner_gen != m->cp_gen)
		return -EXDEV;
	int err = 0;
	if (m->fresh_pending) {
		/* A restore that failed part way left regions marked as just
		 * mapped: their content is no longer known. */
		for (size_t i = 0; i < m->nregions; i++)
			m->regions[i]->fresh = false;
		m->fresh_pending = false;
	}
	if (m->map_gen != cp->map_gen)
		err = restore_map(m, cp);
	uint64_t pages = 0;
	/* After restore_map, the regions are exactly cp's, in the same order. */
	for (size_t i = 0; !err && i < m->nregions; i++)
		err = restore_region(m, m->regions[i], &cp->regions[i], &pages);
	if (!err) {
		m->fresh_pending = false; /* every region was visited */
		err = ms_uc_error(uc_context_restore(m->uc, cp->ctx));
	}
	if (err)
		return err;
	m->stats.restores++;
	m->stats.last_dirty_pages = pages;
	m->stats.total_dirty_pages += pages;
	return 0;
}

long ms_uc_checkpoint_regions(const ms_uc_checkpoint *cp, uc_mem_region *regions, size_t cap)
{
	if (!cp || (!regions && cap))
		return -EINVAL;
	size_t n = 0;
	for (size_t i = 0; i < cp->nregions; i++) {
		const ms__uc_cp_region *c = &cp->regions[i];
		for (size_t j = 0; j < c->nperms; j++, n++) {
			if (n < cap)
				regions[n] = (uc_mem_region){c->address + c->perms[j].offset,
							     c->address + c->perms[j].offset +
								 c->perms[j].size - 1,
							     c->perms[j].perms};
		}
	}
	return (long)n;
}

int ms__uc_cp_region_snapshot(const ms_uc_checkpoint *cp, size_t i, ms_snapshot **out)
{
	if (!cp || i >= cp->nregions || !out)
		return -EINVAL;
	*out = ms_snapshot_ref(cp->regions[i].snapshot);
	return 0;
}

long ms_uc_verify(ms_uc *m)
{
	if (!m)
		return -EINVAL;
	long missed = 0;
	for (size_t i = 0; i < m->nregions; i++) {
		long n = ms_view_verify(m->regions[i]->view, NULL, 0);
		if (n < 0)
			return n;
		missed += n;
	}
	return missed;
}
