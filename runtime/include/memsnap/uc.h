/*
 * memsnap-uc: Unicorn guest RAM on memsnap copy-on-write views, with
 * checkpoints of CPU and memory that restore in O(dirty pages).
 *
 * An ms_uc attaches to an engine the caller owns (it never opens or closes
 * it). Guest RAM regions mapped through ms_uc_map*() are copy-on-write views
 * handed to Unicorn with uc_mem_map_ptr. A checkpoint records the CPU
 * context, the memory map and the content of every memsnap region; restoring
 * it copies back only the pages written since (by guest stores, uc_mem_write,
 * the host through a region's pointer, or the kernel), drops translated code
 * on those pages, and puts back regions mapped, unmapped or re-protected in
 * between.
 *
 * Errors: 0 or a negative errno; Unicorn's uc_err e is returned as
 * MS_ERR_UC_BASE - e (see ms_uc_error()); ms_strerror() describes all.
 * Thread-safety: one ms_uc and its engine are used by one thread at a time.
 */
#ifndef MEMSNAP_UC_H
#define MEMSNAP_UC_H

#include <stddef.h>
#include <stdint.h>
#include <unicorn/unicorn.h>

#include "memsnap/memsnap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ms_uc ms_uc;
typedef struct ms_uc_checkpoint ms_uc_checkpoint;

/* uc_err as a memsnap error: 0 for UC_ERR_OK, else MS_ERR_UC_BASE - err. */
MS_API int ms_uc_error(uc_err err);

/* Attach memsnap to `uc` (borrowed; must outlive the ms_uc). O(1).
 * Tracking starts as MS_UC_TRACK_EXACT with MS_TRACKER_AUTO, unless the
 * environment variable MEMSNAP_UC_TRACKING is "hook" (MEMSNAP_TRACKER still
 * picks the views' tracker in exact mode; see ms_option_get). Errors:
 * -EINVAL, -ENOMEM, Unicorn errors. */
MS_API int ms_uc_new(uc_engine *uc, ms_uc **out);

/* How the pages written between a checkpoint and a restore are found.
 *
 * MS_UC_TRACK_EXACT (default): every writer is seen: guest stores,
 *   uc_mem_write, the host writing through ms_uc_host_ptr(), the kernel
 *   (read(2) into guest RAM). The regions' views use a memsnap tracker
 *   (`tracker`, see ms_tracker; MS_TRACKER_AUTO by default, which is the
 *   fast choice: restore in O(dirty pages) with uffd-thread) with hot pages
 *   on (ms_view_set_hot_pages): pages rewritten every iteration cost only
 *   their copy. With the synchronous trackers that are never chosen
 *   automatically (uffd-sync, mprotect), announce kernel writes first with
 *   ms_uc_note_written, else the call fails with EFAULT. No memory hook is
 *   installed (MEMSNAP_UC_WRITE_HOOK=1 forces one).
 *
 * MS_UC_TRACK_HOOK (opt-in): only guest stores (seen by a
 *   UC_HOOK_MEM_WRITE hook on each region) and ms_uc_write /
 *   ms_uc_note_written are tracked: the regions' views use the noted
 *   tracker (MS_TRACKER_NOTED; `tracker` is ignored), which records exactly
 *   what is announced. No page is ever write-protected and restore copies
 *   exactly the logged pages. Writes through ms_uc_host_ptr(),
 *   uc_mem_write() or the kernel that are not announced with
 *   ms_uc_note_written() are NOT undone by a restore. ms_uc_verify() finds
 *   such misses in tests.
 *
 * Set before the first region is mapped. Errors: -EBUSY (regions mapped),
 * -EINVAL, -EOPNOTSUPP (tracker unavailable). */
typedef enum ms_uc_tracking { MS_UC_TRACK_EXACT = 0, MS_UC_TRACK_HOOK = 1 } ms_uc_tracking;
MS_API int ms_uc_set_tracking(ms_uc *m, ms_uc_tracking tracking, ms_tracker tracker);
MS_API ms_uc_tracking ms_uc_get_tracking(const ms_uc *m);

/* Unmap every memsnap region from the engine and free the state. NULL-safe. */
MS_API void ms_uc_free(ms_uc *m);

/* The engine this state is attached to. */
MS_API uc_engine *ms_uc_engine(const ms_uc *m);

/* Map a copy-on-write view of `snap` as guest RAM at `address` with
 * UC_PROT_* `perms`. address and the snapshot size must be multiples of 4 KiB
 * (and of the host page size). A file-backed snapshot loads lazily.
 * O(1) for plain snapshots. Errors: -EINVAL (alignment, zero size),
 * -EEXIST (overlaps a mapped region), Unicorn errors. */
MS_API int ms_uc_map(ms_uc *m, uint64_t address, ms_snapshot *snap, uint32_t perms);

/* ms_uc_map of a fresh zeroed snapshot of `size` bytes. */
MS_API int ms_uc_map_zeroed(ms_uc *m, uint64_t address, size_t size, uint32_t perms);

/* Unmap the memsnap region that starts at `address` with exactly `size`
 * bytes. Errors: -ENOENT (no such region), -EINVAL. */
MS_API int ms_uc_unmap(ms_uc *m, uint64_t address, size_t size);

/* Change the guest permissions of [address, address+size) inside one region
 * (uc_mem_protect). Errors: -EINVAL, -ENOENT, Unicorn errors. */
MS_API int ms_uc_protect(ms_uc *m, uint64_t address, size_t size, uint32_t perms);

/* Host pointer to guest address `address` inside a memsnap region, and the
 * bytes available from there to the region's end in *avail (may be NULL).
 * NULL when the address is not in a memsnap region. Writes through it are
 * tracked like any other. */
MS_API void *ms_uc_host_ptr(ms_uc *m, uint64_t address, size_t *avail);

/* Write/read guest memory in memsnap regions (may span adjacent regions).
 * Writes are tracked. O(len). Errors: -EFAULT (not mapped by memsnap). */
MS_API int ms_uc_write(ms_uc *m, uint64_t address, const void *buf, size_t len);
MS_API int ms_uc_read(ms_uc *m, uint64_t address, void *buf, size_t len);

/* Declare guest memory written by a writer memsnap cannot see, or about to
 * be written by the kernel (read(2) into guest RAM). */
MS_API int ms_uc_note_written(ms_uc *m, uint64_t address, size_t len);

/* ---- Checkpoints --------------------------------------------------------- */

/* Record CPU context, memory map and memory. O(dirty pages since the last
 * checkpoint or restore) for memory; the pages are shared with earlier
 * checkpoints. Any number may be kept; they stay valid until freed. */
MS_API int ms_uc_checkpoint_take(ms_uc *m, ms_uc_checkpoint **out);

/* Put CPU, memory map and memory back as they were at `cp`. O(dirty pages +
 * pages that differ between the current base and cp). Translated code on
 * restored pages is dropped. Errors: -EXDEV (checkpoint of another ms_uc),
 * -ENOMEM, Unicorn errors. */
MS_API int ms_uc_checkpoint_restore(ms_uc *m, ms_uc_checkpoint *cp);

/* Free a checkpoint. NULL-safe. */
MS_API void ms_uc_checkpoint_free(ms_uc_checkpoint *cp);

/* ---- Running ------------------------------------------------------------- */

/* uc_emu_start(begin, until, timeout_us, count) made safe for campaigns of
 * any length (see docs/runtime.md): returns 0 or the mapped Unicorn error.
 * Any begin and until work; no address is reserved. Runs with Unicorn's
 * exits mechanism on (UC_CTL_UC_USE_EXITS) and no exit set, then turns it
 * off again, unless the caller had turned it on (then its exits also stop
 * the guest). */
MS_API int ms_uc_run(ms_uc *m, uint64_t begin, uint64_t until, uint64_t timeout_us, size_t count);

typedef struct ms_uc_stats {
	uint64_t restores;	   /* checkpoint restores */
	uint64_t last_dirty_pages; /* pages the last restore put back (a region
				    * it mapped again counts whole) */
	uint64_t total_dirty_pages;
	uint64_t code_pages_flushed; /* pages whose translations were dropped */
	uint64_t runs;		     /* ms_uc_run calls */
} ms_uc_stats;

/* Copy the engine's statistics into *stats. O(1). Errors: -EINVAL. */
MS_API int ms_uc_get_stats(const ms_uc *m, ms_uc_stats *stats);

/* Compare guest RAM with the content it would be restored to by the last
 * checkpoint taken or restored: returns the number of pages that differ but
 * were not recorded as written (a writer the tracking missed), 0 if none.
 * O(size of all regions); meant for tests and debugging. */
MS_API long ms_uc_verify(ms_uc *m);

/* The memory map of a checkpoint: fills up to `cap` entries of `regions`
 * (begin, end inclusive, perms, like uc_mem_regions) and returns how many
 * there are in total. O(regions). */
MS_API long ms_uc_checkpoint_regions(const ms_uc_checkpoint *cp, uc_mem_region *regions,
				     size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_UC_H */
