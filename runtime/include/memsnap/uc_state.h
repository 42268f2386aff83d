/*
 * memsnap-uc save states: a checkpoint (CPU registers, memory map, guest
 * RAM) written to a file and loaded back into an engine, in this process or
 * another, on this machine or another.
 *
 * The file is a memsnap save-state file (memsnap/state.h,
 * docs/savestate-format.md): its machine record names the engine ("unicorn"),
 * its version, uc_arch and uc_mode; blob "uc.cpu" holds the registers
 * (portable: register ids and values, not Unicorn's internal structure); blob
 * "uc.map" the permission runs of every region; one region per memsnap guest
 * RAM region, page-aligned in the file. `memsnap-state -a FILE` shows it all.
 *
 * Loading makes a checkpoint of the engine from the file; nothing in the
 * engine changes until that checkpoint is restored with
 * ms_uc_checkpoint_restore(). Guest RAM is mapped copy-on-write straight from
 * the file: a load costs O(metadata), not O(RAM), and pages are read when the
 * guest touches them. The restore replaces every memsnap region of the engine
 * by the state's regions; regions the caller mapped with uc_mem_map directly
 * stay, and must not overlap the state's (checked at load).
 *
 * Errors: negative errno values and MS_ERR_* as in memsnap/state.h;
 * MS_ERR_MISMATCH for a state of another engine, Unicorn major version,
 * architecture, mode or guest page size, or an incremental state whose base
 * is missing or wrong.
 *
 * Thread-safety: as memsnap/uc.h (one thread per ms_uc at a time). An open
 * ms_state is used by one thread at a time too (memsnap/state.h): workers
 * that load one state each open it themselves, or take turns.
 */
#ifndef MEMSNAP_UC_STATE_H
#define MEMSNAP_UC_STATE_H

#include "memsnap/state.h"
#include "memsnap/uc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Blob names and types the runtime writes (types let other tools tell them
 * from user blobs). */
#define MS_UC_STATE_BLOB_CPU "uc.cpu"
#define MS_UC_STATE_BLOB_MAP "uc.map"
#define MS_UC_STATE_TYPE_CPU 0x75630001u
#define MS_UC_STATE_TYPE_MAP 0x75630002u

/* Save `cp` to `path`, atomically (see ms_state_writer_commit: the previous
 * file at `path` stays intact on any error). With `base` (an open state,
 * usually the one the engine was loaded from) the file is incremental: it
 * stores only the pages that differ from the base, O(pages written since the
 * load) when the checkpoint descends from it, and loads only over that base.
 * Cost: O(RAM) for a full save (all-zero chunks become holes), in either
 * tracking mode.
 * Errors: -EINVAL, -EOPNOTSUPP (no portable register list for this
 * architecture), the errors of ms_state_writer_commit, -ENOMEM. */
MS_API int ms_uc_checkpoint_save(const ms_uc_checkpoint *cp, const char *path, ms_state *base);

/* A blob of the caller's, saved with a checkpoint (ms_uc_checkpoint_save_blobs)
 * and read back with ms_state_find_blob. */
typedef struct ms_uc_state_blob {
	const char *name; /* not starting with "uc." (the runtime's own) */
	uint32_t type;
	const void *data;
	size_t len; /* <= 16 MiB */
} ms_uc_state_blob;

/* As ms_uc_checkpoint_save, with `nblobs` blobs of the caller's in the file
 * too (a capture's file mappings, say): loading ignores them, and tools find
 * them by name. Errors: as ms_uc_checkpoint_save; -EINVAL also for a blob
 * name starting with "uc." and those of ms_state_writer_add_blob. */
MS_API int ms_uc_checkpoint_save_blobs(const ms_uc_checkpoint *cp, const char *path, ms_state *base,
				       const ms_uc_state_blob *blobs, size_t nblobs);

/* A checkpoint of `m` holding the content of the open state `st` (an
 * incremental state needs its base attached first: ms_state_set_base). The
 * engine is not changed; restore the checkpoint to apply it (any number of
 * times: it behaves like a checkpoint taken on `m`). O(metadata + regions)
 * for a full state, whose RAM is not read (see MS_STATE_VERIFY_REGIONS in
 * memsnap/state.h); an incremental state's stored pages are read, O(pages
 * stored). Errors: -EINVAL, MS_ERR_MISMATCH (see above; also an incremental
 * state without its base), MS_ERR_CORRUPT (registers or map malformed; a
 * region not 4 KiB aligned; an incremental state's region its base lacks),
 * -EOPNOTSUPP (a region this host cannot map: its size is not a multiple of
 * the host page size), -EEXIST (a region overlaps guest memory mapped
 * outside memsnap), -ENOMEM, Unicorn errors. */
MS_API int ms_uc_checkpoint_from_state(ms_uc *m, ms_state *st, ms_uc_checkpoint **out);

/* Open `path` with `flags` (MS_STATE_VERIFY, MS_STATE_VERIFY_REGIONS), make
 * the checkpoint as ms_uc_checkpoint_from_state, close the file (the mapped
 * RAM stays valid). For full states; an incremental state needs
 * ms_state_open + ms_state_set_base + ms_uc_checkpoint_from_state
 * (MS_ERR_MISMATCH here). Errors: as ms_state_open and
 * ms_uc_checkpoint_from_state. */
MS_API int ms_uc_checkpoint_load(ms_uc *m, const char *path, unsigned flags,
				 ms_uc_checkpoint **out);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_UC_STATE_H */
