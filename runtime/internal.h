/*
 * libmemsnap-uc internals: the structures behind ms_uc, its regions and its
 * checkpoints, shared by the runtime's files and by the save-state code.
 * Nothing here is installed; names are ms__uc_ (internal, non-static).
 *
 * Ownership in one picture:
 *
 *   ms_uc ──regions[]──> ms__uc_region ──view──> ms_view (CoW, uc_mem_map_ptr;
 *     │                                              tracker: exact mode's, or
 *     │                                              noted in hook mode)
 *     └─ checkpoints (any number, owned by the caller)
 *          ms_uc_checkpoint ──regions[]──> ms__uc_cp_region (address, size,
 *                              permission runs, snapshot: content)
 *                           ──> uc_context (fast restore) + portable registers
 *
 * Both tracking modes keep region content in memsnap snapshots and views:
 * the runtime holds no page copies of its own.
 */
#ifndef MEMSNAP_UC_INTERNAL_H
#define MEMSNAP_UC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memsnap/uc.h"

/* Unicorn's page size: the granularity of guest mappings, permissions and
 * translated code. */
#define MS__UC_PAGE 4096u

/* A run of pages with one set of guest permissions, relative to a region. */
typedef struct ms__uc_perm_run {
	uint64_t offset; /* bytes from the region's start (4 KiB aligned) */
	uint64_t size;
	uint32_t perms; /* UC_PROT_* */
} ms__uc_perm_run;

typedef struct ms__uc_region {
	/* What every restore reads first. */
	ms_view *view;
	bool exec;   /* some run has UC_PROT_EXEC */
	bool fresh;  /* mapped by a restore just now: holds its content */
	uint64_t id; /* unique per ms_uc, never reused: identity across checkpoints */
	uint64_t address;
	uint64_t size;
	ms__uc_perm_run *perms; /* sorted runs covering the region */
	size_t nperms;
	uint8_t *data;	    /* ms_view_data(view) */
	uc_hook write_hook; /* 0 when no hook is installed */
	struct ms_uc *owner;
} ms__uc_region;

/* Modes of tracking guest writes (see ms_uc_set_tracking in uc.h). */
/* Stop addresses of ms_uc_run that keep their hook (run.c). */
#define MS__UC_STOPS 8

struct ms_uc {
	/* First what every checkpoint restore reads, together (the guest's
	 * run between two restores evicts it from the cache). */
	uc_engine *uc;
	ms__uc_region **regions; /* sorted by address */
	size_t nregions;
	uint64_t map_gen; /* identifies the current memory map state */
	uint64_t cp_gen;  /* identity of this ms_uc for checkpoints */
	ms_uc_tracking tracking;
	bool fresh_pending; /* some region may still be marked `fresh` */
	/* Exact mode installs the write hook too (MEMSNAP_UC_WRITE_HOOK=1). */
	bool exact_hook;
	ms_uc_stats stats;
	uc_arch arch;
	int mode;	    /* uc_mode bits */
	ms_tracker tracker; /* for the regions' views (exact tracking) */
	size_t cap;	    /* of regions */
	uint64_t next_id;
	uint64_t map_counter; /* source of new map_gen values */
	/* ms_uc_run: a stop hook at each of the last `until` addresses (see
	 * run.c); the guest stops at stop_addr only. */
	struct ms__uc_stop {
		uint64_t addr;
		uc_hook hook;
	} stops[MS__UC_STOPS];
	unsigned n_stops, next_stop;
	uint64_t stop_addr;
	ms_range *scratch; /* restored ranges of one region, reused */
	size_t scratch_cap;
};

typedef struct ms__uc_cp_region {
	ms_snapshot *snapshot; /* the content (own reference) */
	uint64_t id;
	uint64_t address;
	uint64_t size;
	ms__uc_perm_run *perms;
	size_t nperms;
} ms__uc_cp_region;

struct ms_uc_checkpoint {
	struct ms_uc *owner;
	uint64_t owner_gen; /* owner->cp_gen when taken */
	uint64_t map_gen;   /* owner->map_gen when taken */
	uc_arch arch;
	int mode;
	ms__uc_cp_region *regions; /* sorted by address */
	size_t nregions;
	uc_context *ctx; /* fast CPU restore (same engine only) */
	uint8_t *regs;	 /* portable registers (ms__uc_regs_save) */
	size_t regs_len;
};

/* uc_ctl read codes built in unsigned arithmetic: Unicorn's UC_CTL_READ
 * macro shifts a signed 2 by 30 places (undefined behaviour, flagged by
 * UBSan). */
#define MS__UC_CTL_READ(type, nr)                                                                  \
	((uc_control_type)((uint32_t)(type) | ((uint32_t)(nr) << 26) |                             \
			   ((uint32_t)UC_CTL_IO_READ << 30)))

/* The engine's architecture and mode (uc_ctl), or a negative errno. */
static inline int ms__uc_arch_mode(uc_engine *uc, int *arch, int *mode)
{
	int err = ms_uc_error(uc_ctl(uc, MS__UC_CTL_READ(UC_CTL_UC_ARCH, 1), arch));
	return err ? err : ms_uc_error(uc_ctl(uc, MS__UC_CTL_READ(UC_CTL_UC_MODE, 1), mode));
}

/* Little-endian integers of the portable formats (register blob, save-state
 * blobs), byte by byte so that they do not depend on the host. */
static inline void ms__uc_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void ms__uc_put64(uint8_t *p, uint64_t v)
{
	ms__uc_put32(p, (uint32_t)v);
	ms__uc_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t ms__uc_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ms__uc_get64(const uint8_t *p)
{
	return (uint64_t)ms__uc_get32(p) | (uint64_t)ms__uc_get32(p + 4) << 32;
}

/* Drop Unicorn's translations of the pages from `start` to `last`
 * (inclusive; the last page may end at 2^64, where an exclusive end would
 * wrap to 0 and Unicorn would drop nothing). uc_ctl reads its arguments as
 * varargs of 64 bits. */
static inline void ms__uc_remove_cache(uc_engine *uc, uint64_t start, uint64_t last)
{
	uint64_t end = last == UINT64_MAX ? UINT64_MAX : last + 1;
	uc_ctl_remove_cache(uc, (uint64_t)start, (uint64_t)end);
}

/* ---- uc.c ----------------------------------------------------------------- */
ms__uc_region *ms__uc_find(const ms_uc *m, uint64_t address);
/* Map a CoW view of `snap` at `address` as region `id` with the given
 * permission runs (NULL: one run of `perms`). Returns the region. */
int ms__uc_region_map(ms_uc *m, uint64_t id, uint64_t address, ms_snapshot *snap, uint32_t perms,
		      const ms__uc_perm_run *runs, size_t nruns, ms__uc_region **out);
void ms__uc_region_unmap(ms_uc *m, ms__uc_region *r);
int ms__uc_region_set_perms(ms_uc *m, ms__uc_region *r, const ms__uc_perm_run *runs, size_t n);

/* ---- access.c ------------------------------------------------------------- */
/* Drop translated code for [address, address+len) (page-rounded). */
void ms__uc_drop_code(ms_uc *m, uint64_t address, uint64_t len);
/* The UC_HOOK_MEM_WRITE callback of a region (user_data): announces each
 * guest store to the region's view before it happens. */
void ms__uc_write_hook(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
		       void *user_data);

/* ---- regs.c: portable CPU registers ---------------------------------------- */
/* Bytes ms__uc_regs_save writes for this arch/mode (0: unsupported). */
size_t ms__uc_regs_size(uc_arch arch, int mode);
/* Serialize the registers of `uc` (a self-describing, little-endian blob:
 * header {"MSUCREG1", arch, mode, count}, then {u32 id, u32 size, bytes}).
 * Returns the bytes written or a negative error (-ENOSPC, -EOPNOTSUPP). */
long ms__uc_regs_save(uc_engine *uc, uc_arch arch, int mode, uint8_t *buf, size_t cap);
/* The name of register `id` in the blob's list for arch/mode (e.g. "RIP"),
 * NULL when it is not in the list. */
const char *ms__uc_reg_name(uc_arch arch, int mode, int id);
/* Load a blob written by ms__uc_regs_save into `uc`, which must have the
 * same arch and mode (else MS_ERR_MISMATCH); MS_ERR_CORRUPT if malformed. */
int ms__uc_regs_load(uc_engine *uc, const uint8_t *buf, size_t len);

/* ---- Save-state access ------------------------------------------------------ */
/* The content of checkpoint region `i` as a snapshot (new reference). O(1). */
int ms__uc_cp_region_snapshot(const ms_uc_checkpoint *cp, size_t i, ms_snapshot **out);

#endif /* MEMSNAP_UC_INTERNAL_H */
