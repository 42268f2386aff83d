/*
 * Save states of an engine: a checkpoint written as a memsnap save-state
 * file and read back as a checkpoint (memsnap/uc_state.h).
 *
 * What the file holds, besides the regions' RAM:
 *   machine record  engine "unicorn", uc_version(), uc_arch, uc_mode, guest
 *                   page size 4096 (memsnap maps guest RAM in 4 KiB pages)
 *   blob "uc.cpu"   the portable register blob of regs.c
 *   blob "uc.map"   u32 version (1), u32 count, then count runs of
 *                   {u64 address, u64 size, u32 perms, u32 reserved 0}:
 *                   the permissions of every region, page run by page run
 *
 * A load validates all of it before it builds anything, and builds the
 * checkpoint without touching the engine, except for a register round trip
 * that is undone (Unicorn can only fill a uc_context from the live CPU).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "memsnap/uc_state.h"

#define ENGINE_NAME "unicorn"
#define MAP_VERSION 1u
#define MAP_HEAD 8u
#define MAP_RUN 24u

/* ---- Saving ---------------------------------------------------------------- */

static int map_blob(const ms_uc_checkpoint *cp, uint8_t **out, size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; i < cp->nregions; i++)
		n += cp->regions[i].nperms;
	uint8_t *b = malloc(MAP_HEAD + n * MAP_RUN);
	if (!b)
		return -ENOMEM;
	ms__uc_put32(b, MAP_VERSION);
	ms__uc_put32(b + 4, (uint32_t)n);
	uint8_t *p = b + MAP_HEAD;
	for (size_t i = 0; i < cp->nregions; i++) {
		const ms__uc_cp_region *c = &cp->regions[i];
		for (size_t j = 0; j < c->nperms; j++, p += MAP_RUN) {
			ms__uc_put64(p, c->address + c->perms[j].offset);
			ms__uc_put64(p + 8, c->perms[j].size);
			ms__uc_put32(p + 16, c->perms[j].perms);
			ms__uc_put32(p + 20, 0);
		}
	}
	*out = b;
	*len = MAP_HEAD + n * MAP_RUN;
	return 0;
}

static int add_regions(ms_state_writer *w, const ms_uc_checkpoint *cp)
{
	for (size_t i = 0; i < cp->nregions; i++) {
		const ms__uc_cp_region *c = &cp->regions[i];
		uint32_t perms = 0;
		for (size_t j = 0; j < c->nperms; j++)
			perms |= c->perms[j].perms;
		ms_snapshot *snap;
		int err = ms__uc_cp_region_snapshot(cp, i, &snap);
		if (err)
			return err;
		err = ms_state_writer_add_region(w, c->address, perms, snap);
		ms_snapshot_unref(snap);
		if (err)
			return err;
	}
	return 0;
}

int ms_uc_checkpoint_save(const ms_uc_checkpoint *cp, const char *path, ms_state *base)
{
	return ms_uc_checkpoint_save_blobs(cp, path, base, NULL, 0);
}

int ms_uc_checkpoint_save_blobs(const ms_uc_checkpoint *cp, const char *path, ms_state *base,
				const ms_uc_state_blob *blobs, size_t nblobs)
{
	if (!cp || !path || (nblobs && !blobs))
		return -EINVAL;
	for (size_t i = 0; i < nblobs; i++)
		if (!blobs[i].name || !strncmp(blobs[i].name, "uc.", 3))
			return -EINVAL;
	if (!cp->regs)
		return -EOPNOTSUPP;
	unsigned major = 0, minor = 0;
	unsigned version = uc_version(&major, &minor);
	ms_state_machine mach = {
	    .arch = (uint32_t)cp->arch,
	    .mode = (uint32_t)cp->mode,
	    .page_size = MS__UC_PAGE,
	    .engine_version = version,
	};
	snprintf(mach.engine, sizeof mach.engine, "%s %u.%u.%u", ENGINE_NAME, major, minor,
		 (version >> 8) & 0xff);
	ms_state_writer *w;
	int err = ms_state_writer_new(path, &w);
	if (err)
		return err;
	uint8_t *map = NULL;
	size_t map_len = 0;
	err = ms_state_writer_set_machine(w, &mach);
	if (!err && base)
		err = ms_state_writer_set_base(w, base);
	if (!err)
		err = ms_state_writer_add_blob(w, MS_UC_STATE_BLOB_CPU, MS_UC_STATE_TYPE_CPU,
					       cp->regs, cp->regs_len);
	if (!err)
		err = map_blob(cp, &map, &map_len);
	if (!err)
		err = ms_state_writer_add_blob(w, MS_UC_STATE_BLOB_MAP, MS_UC_STATE_TYPE_MAP, map,
					       map_len);
	for (size_t i = 0; !err && i < nblobs; i++)
		err = ms_state_writer_add_blob(w, blobs[i].name, blobs[i].type, blobs[i].data,
					       blobs[i].len);
	if (!err)
		err = add_regions(w, cp);
	if (!err)
		err = ms_state_writer_commit(w);
	free(map);
	ms_state_writer_free(w);
	return err;
}

/* ---- Loading --------------------------------------------------------------- */

static int check_machine(const ms_uc *m, const ms_state *st)
{
	ms_state_machine mach;
	int err = ms_state_get_machine(st, &mach);
	if (err == -ENOENT)
		return MS_ERR_MISMATCH; /* a memsnap state, but not of an engine */
	if (err)
		return err;
	unsigned major = 0, minor = 0;
	uc_version(&major, &minor);
	size_t nlen = strlen(ENGINE_NAME);
	if (strncmp(mach.engine, ENGINE_NAME, nlen) != 0 ||
	    (mach.engine[nlen] != ' ' && mach.engine[nlen] != '\0'))
		return MS_ERR_MISMATCH;
	/* Registers are stored by id and value, which Unicorn keeps stable
	 * within a major version. */
	if (((mach.engine_version >> 24) & 0xff) != major)
		return MS_ERR_MISMATCH;
	if (mach.arch != (uint32_t)m->arch || mach.mode != (uint32_t)m->mode ||
	    mach.page_size != MS__UC_PAGE)
		return MS_ERR_MISMATCH;
	return 0;
}

/* The permission runs of every region from the "uc.map" blob, in one pass:
 * the runs of each region come together, in address order, in whole pages,
 * and tile it exactly; regions are in address order too; no run is left
 * over. O(regions + runs) on any input. */
static int assign_runs(ms_uc_checkpoint *cp, const uint8_t *map, size_t len)
{
	if (len < MAP_HEAD || ms__uc_get32(map) != MAP_VERSION)
		return MS_ERR_CORRUPT;
	size_t n = ms__uc_get32(map + 4);
	if ((len - MAP_HEAD) % MAP_RUN || (len - MAP_HEAD) / MAP_RUN != n)
		return MS_ERR_CORRUPT;
	size_t k = 0;
	for (size_t i = 0; i < cp->nregions; i++) {
		ms__uc_cp_region *c = &cp->regions[i];
		size_t first = k;
		for (uint64_t at = 0; at < c->size; k++) {
			const uint8_t *p = map + MAP_HEAD + k * MAP_RUN;
			uint64_t size = k < n ? ms__uc_get64(p + 8) : 0;
			if (k >= n || ms__uc_get64(p) != c->address + at || size == 0 ||
			    size % MS__UC_PAGE || size > c->size - at ||
			    (ms__uc_get32(p + 16) & ~(uint32_t)UC_PROT_ALL) || ms__uc_get32(p + 20))
				return MS_ERR_CORRUPT;
			at += size;
		}
		ms__uc_perm_run *runs = calloc(k - first, sizeof *runs);
		if (!runs)
			return -ENOMEM;
		uint64_t at = 0;
		for (size_t r = first; r < k; r++) {
			const uint8_t *p = map + MAP_HEAD + r * MAP_RUN;
			runs[r - first] =
			    (ms__uc_perm_run){at, ms__uc_get64(p + 8), ms__uc_get32(p + 16)};
			at += ms__uc_get64(p + 8);
		}
		free(c->perms);
		c->perms = runs;
		c->nperms = k - first;
	}
	return k == n ? 0 : MS_ERR_CORRUPT;
}

/* Guest memory mapped outside memsnap (uc_mem_map by the caller) that
 * overlaps [address, address + size): the restore could not map there. */
static int check_foreign(ms_uc *m, uint64_t address, uint64_t size)
{
	uc_mem_region *regs;
	uint32_t n;
	int err = ms_uc_error(uc_mem_regions(m->uc, &regs, &n));
	if (err)
		return err;
	for (uint32_t i = 0; i < n && !err; i++) {
		if (regs[i].end < address || regs[i].begin > address + size - 1)
			continue;
		if (!ms__uc_find(m, regs[i].begin))
			err = -EEXIST;
	}
	uc_free(regs);
	return err;
}

/* Registers as a uc_context, made by loading them into the CPU and saving
 * it; the CPU is put back as it was whatever happens. */
static int make_context(ms_uc *m, const uint8_t *regs, size_t len, uc_context **out)
{
	uc_context *keep = NULL, *ctx = NULL;
	int err = ms_uc_error(uc_context_alloc(m->uc, &keep));
	if (!err)
		err = ms_uc_error(uc_context_save(m->uc, keep));
	if (err) {
		if (keep)
			uc_context_free(keep);
		return err;
	}
	err = ms_uc_error(uc_context_alloc(m->uc, &ctx));
	if (!err)
		err = ms__uc_regs_load(m->uc, regs, len);
	if (!err)
		err = ms_uc_error(uc_context_save(m->uc, ctx));
	int back = ms_uc_error(uc_context_restore(m->uc, keep));
	uc_context_free(keep);
	if (!err)
		err = back;
	if (err) {
		if (ctx)
			uc_context_free(ctx);
		return err;
	}
	*out = ctx;
	return 0;
}

static int load_region(ms_uc *m, ms_state *st, size_t i, ms__uc_cp_region *c)
{
	ms_state_region reg;
	int err = ms_state_region_info(st, i, &reg);
	if (err)
		return err;
	if (reg.address % MS__UC_PAGE || reg.size % MS__UC_PAGE)
		return MS_ERR_CORRUPT;
	if (reg.address % ms_page_size() || reg.size % ms_page_size())
		return -EOPNOTSUPP; /* valid, but not on a host with larger pages */
	err = check_foreign(m, reg.address, reg.size);
	if (err)
		return err;
	/* One run of the region's perms; the "uc.map" blob, when there is
	 * one, replaces it (assign_runs). */
	if (reg.perms & ~(uint32_t)UC_PROT_ALL)
		return MS_ERR_CORRUPT;
	c->perms = malloc(sizeof *c->perms);
	if (!c->perms)
		return -ENOMEM;
	*c->perms = (ms__uc_perm_run){0, reg.size, reg.perms};
	c->nperms = 1;
	c->id = m->next_id++;
	c->address = reg.address;
	c->size = reg.size;
	ms_snapshot *snap;
	err = ms_state_region_snapshot(st, i, &snap);
	if (err)
		return err;
	c->snapshot = snap;
	return 0;
}

int ms_uc_checkpoint_from_state(ms_uc *m, ms_state *st, ms_uc_checkpoint **out)
{
	if (!m || !st || !out)
		return -EINVAL;
	int err = check_machine(m, st);
	if (err)
		return err;
	const void *regs, *map = NULL;
	size_t regs_len, map_len = 0;
	uint32_t type;
	err = ms_state_find_blob(st, MS_UC_STATE_BLOB_CPU, &type, &regs, &regs_len);
	if (err == -ENOENT || (!err && type != MS_UC_STATE_TYPE_CPU))
		return MS_ERR_CORRUPT;
	if (err)
		return err;
	err = ms_state_find_blob(st, MS_UC_STATE_BLOB_MAP, &type, &map, &map_len);
	if (err == -ENOENT) {
		map = NULL; /* every region has one run: its perms */
		err = 0;
	} else if (err) {
		return err;
	} else if (type != MS_UC_STATE_TYPE_MAP) {
		return MS_ERR_CORRUPT;
	}

	ms_uc_checkpoint *cp = calloc(1, sizeof *cp);
	if (!cp)
		return -ENOMEM;
	cp->owner = m;
	cp->owner_gen = m->cp_gen;
	/* A map state of its own: the first restore maps the state's regions
	 * in place of the engine's. */
	cp->map_gen = ++m->map_counter;
	cp->arch = m->arch;
	cp->mode = m->mode;
	size_t n = ms_state_region_count(st);
	if (n) {
		cp->regions = calloc(n, sizeof *cp->regions);
		if (!cp->regions)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < n; i++) {
		err = load_region(m, st, i, &cp->regions[i]);
		cp->nregions = i + 1;
	}
	if (!err && map)
		err = assign_runs(cp, map, map_len);
	if (!err) {
		cp->regs = malloc(regs_len);
		if (!cp->regs)
			err = -ENOMEM;
		else
			memcpy(cp->regs, regs, regs_len);
		cp->regs_len = regs_len;
	}
	if (!err)
		err = make_context(m, regs, regs_len, &cp->ctx);
	if (err) {
		ms_uc_checkpoint_free(cp);
		return err;
	}
	*out = cp;
	return 0;
}

int ms_uc_checkpoint_load(ms_uc *m, const char *path, unsigned flags, ms_uc_checkpoint **out)
{
	if (!m || !path || !out)
		return -EINVAL;
	ms_state *st;
	int err = ms_state_open(path, flags, &st);
	if (err)
		return err;
	err = ms_uc_checkpoint_from_state(m, st, out);
	ms_state_close(st);
	return err;
}
