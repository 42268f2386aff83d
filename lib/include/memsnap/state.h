/*
 * memsnap save-state files: a versioned, checksummed container of memory
 * regions (snapshots), small named blobs (a CPU context, for instance) and an
 * optional machine record, that loads lazily.
 *
 * Writing: ms_state_writer_new() names the destination, add_* calls record
 * what goes in (snapshots are referenced, not copied), and
 * ms_state_writer_commit() writes the file atomically: a temporary file in the
 * same directory, fsync, rename over the destination, fsync of the directory.
 * Whatever fails (a full disk, a crash), the destination keeps its previous
 * content or does not exist, and no temporary file is left behind by an error.
 *
 * Reading: ms_state_open() checks the header and the metadata (magic,
 * version, XXH3 checksums, bounds of every record) and keeps the file open.
 * ms_state_region_snapshot() maps a region's bytes straight from the file as
 * a copy-on-write-able snapshot, O(1): nothing is read until touched. RAM is
 * checksummed in chunks (1 MiB by default); ms_state_verify() checks every
 * chunk, MS_STATE_VERIFY does so at open, and MS_STATE_VERIFY_REGIONS checks a
 * region's chunks when its snapshot is first made.
 *
 * Incremental states: a writer given a base state (ms_state_writer_set_base)
 * stores, for each region the base has at the same address and size, only the
 * pages that differ from it. When the region's snapshot is stacked on the
 * base's snapshot of that region (the usual case: the base was loaded, run,
 * and checkpointed), this costs O(pages written since); otherwise the pages
 * are compared, O(size). Such a state names its base by content hash and
 * loads only over that base (ms_state_set_base, else MS_ERR_MISMATCH).
 *
 * The format is described in docs/savestate-format.md.
 *
 * Errors: besides negative errno values, MS_ERR_FORMAT (not a memsnap state
 * file, or an unknown major version), MS_ERR_CORRUPT (a checksum or the
 * structure is wrong), MS_ERR_MISMATCH (wrong base, or a page size this host
 * cannot map).
 *
 * Thread-safety: an ms_state_writer or an ms_state is used by one thread at
 * a time. Snapshots obtained from a state are ordinary snapshots (any thread)
 * and stay valid after the state is closed.
 */
#ifndef MEMSNAP_STATE_H
#define MEMSNAP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "memsnap/memsnap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The format version this library writes; it reads every minor version of
 * the same major version. */
#define MS_STATE_FORMAT_MAJOR 1
#define MS_STATE_FORMAT_MINOR 0

typedef struct ms_state ms_state;
typedef struct ms_state_writer ms_state_writer;

/* What kind of machine the state belongs to. memsnap stores it and gives it
 * back; it never interprets it (the Unicorn runtime stores uc_arch, uc_mode
 * and uc_version() here and refuses to load into another). */
typedef struct ms_state_machine {
	uint32_t arch;
	uint32_t mode;
	uint32_t page_size;	 /* the guest's page size, 0 if none */
	uint32_t flags;		 /* free for the user */
	uint64_t engine_version; /* e.g. uc_version() */
	char engine[32];	 /* e.g. "unicorn 2.0.1", NUL-terminated */
} ms_state_machine;

/* ---- Writing ------------------------------------------------------------ */

/* A writer that will write `path` on commit (nothing touches the file
 * system before that). O(1). Errors: -EINVAL, -ENOMEM. */
MS_API int ms_state_writer_new(const char *path, ms_state_writer **out);

/* Drop the writer without writing (or after committing). NULL-safe. */
MS_API void ms_state_writer_free(ms_state_writer *w);

/* Record the machine. Errors: -EINVAL (engine not NUL-terminated). */
MS_API int ms_state_writer_set_machine(ms_state_writer *w, const ms_state_machine *machine);

/* Add a named blob of `len` bytes (copied). Names are 1..255 bytes, unique.
 * `type` is free for the user. O(len). Blobs live in the metadata, which is
 * read whole at open: keep them small (CPU contexts, device state), put bulk
 * memory in regions. Errors: -EINVAL, -EEXIST (name taken), -E2BIG (len over
 * 16 MiB), -ENOMEM. */
MS_API int ms_state_writer_add_blob(ms_state_writer *w, const char *name, uint32_t type,
				    const void *data, size_t len);

/* Add a memory region: the content of `snap` (a reference is taken; the
 * content is read at commit) at guest `address` with `perms` (free for the
 * user, e.g. UC_PROT_*). Regions must not overlap. O(1).
 * Errors: -EINVAL (NULL, empty snapshot, address + size overflows),
 * -EEXIST (overlaps a region already added), -ENOMEM. */
MS_API int ms_state_writer_add_region(ms_state_writer *w, uint64_t address, uint32_t perms,
				      ms_snapshot *snap);

/* Make the state incremental over `base` (an open state; the writer keeps a
 * reference until freed). Regions the base holds at the same address and size
 * store only the pages that differ from it. Errors: -EINVAL, MS_ERR_MISMATCH
 * (the base's page size is not this host's). */
MS_API int ms_state_writer_set_base(ms_state_writer *w, ms_state *base);

/* Write the file atomically (see above). O(size of the regions) for full
 * regions, O(pages stored) for incremental ones. A writer can commit once;
 * later calls return -EALREADY. Errors: as open(2), write(2), fsync(2),
 * rename(2) (-ENOSPC, -EDQUOT, -EIO, -EACCES, ...), -ENOMEM, -EFBIG. On error
 * the previous file at `path` is intact and the temporary file is removed. */
MS_API int ms_state_writer_commit(ms_state_writer *w);

/* ---- Reading ------------------------------------------------------------ */

enum {
	/* Verify every RAM chunk at open (O(file size)). */
	MS_STATE_VERIFY = 1u << 0,
	/* Verify a region's chunks the first time its snapshot is made
	 * (O(region size) then, instead of O(1)). */
	MS_STATE_VERIFY_REGIONS = 1u << 1,
};

/* Open a state file and check its header and metadata. O(metadata size),
 * plus O(file size) with MS_STATE_VERIFY. Errors: as open(2), -EINVAL (bad
 * flags), MS_ERR_FORMAT, MS_ERR_CORRUPT (checksum, truncated or oversized
 * file, records out of bounds, overlapping regions, absurd sizes or counts),
 * MS_ERR_MISMATCH (page size), -ENOMEM. *out is untouched on failure. */
MS_API int ms_state_open(const char *path, unsigned flags, ms_state **out);

/* As ms_state_open on an open descriptor (duplicated; the caller keeps its
 * own). The file must not change while the state is open. */
MS_API int ms_state_open_fd(ms_os_fd fd, unsigned flags, ms_state **out);

/* Close the state. Snapshots made from it stay valid; a state set as another
 * state's base (or a writer's) lives until that one is closed too.
 * NULL-safe. */
MS_API void ms_state_close(ms_state *st);

/* Header facts. `id` is the state's content hash (XXH3-128 of header and
 * metadata, which hold the checksum of every RAM chunk): what an incremental
 * state records as its base. */
typedef struct ms_state_info {
	uint32_t version_major, version_minor;
	uint32_t flags;	     /* MS_STATE_INCREMENTAL */
	uint32_t page_size;  /* of the host that wrote it; data is aligned to it */
	uint32_t chunk_size; /* bytes per RAM checksum */
	uint64_t file_size;
	uint64_t meta_offset, meta_size;
	uint64_t data_offset;
	uint64_t header_hash, meta_hash;
	uint8_t id[16];
	uint8_t base_id[16]; /* zero unless incremental */
	char creator[25];    /* "memsnap 0.2.0", NUL-terminated */
	size_t region_count, blob_count;
	int has_machine;
} ms_state_info;

#define MS_STATE_INCREMENTAL 1u

/* Fill *info. O(1). Errors: -EINVAL. */
MS_API int ms_state_get_info(const ms_state *st, ms_state_info *info);

/* The machine record. Errors: -ENOENT (none stored), -EINVAL. */
MS_API int ms_state_get_machine(const ms_state *st, ms_state_machine *machine);

/* Blobs, in the order they were added. `data` points into the state (valid
 * until it is closed). Errors: -EINVAL (index), -ENOENT (no such name). */
MS_API size_t ms_state_blob_count(const ms_state *st);
MS_API int ms_state_blob(const ms_state *st, size_t i, const char **name, uint32_t *type,
			 const void **data, size_t *len);
MS_API int ms_state_find_blob(const ms_state *st, const char *name, uint32_t *type,
			      const void **data, size_t *len);

#define MS_STATE_REGION_DELTA 1u /* stores only the pages that differ from the base */

typedef struct ms_state_region {
	uint64_t address;
	uint64_t size; /* bytes of guest memory */
	uint32_t perms;
	uint32_t kind;	       /* 0 (full) or MS_STATE_REGION_DELTA */
	uint64_t data_offset;  /* where its stored bytes start in the file */
	uint64_t stored_bytes; /* bytes stored in this file */
	uint64_t chunk_count;
	uint64_t run_count; /* runs of stored pages (delta regions) */
} ms_state_region;

/* Regions, sorted by address. Errors: -EINVAL (index). */
MS_API size_t ms_state_region_count(const ms_state *st);
MS_API int ms_state_region_info(const ms_state *st, size_t i, ms_state_region *info);

/* The XXH3-64 checksum stored for chunk `c` of region `i`. */
MS_API int ms_state_region_chunk_hash(const ms_state *st, size_t i, uint64_t c, uint64_t *hash);

/* Run `r` of the stored pages of delta region `i`: first page index and page
 * count (pages of the state's page size). */
MS_API int ms_state_region_run(const ms_state *st, size_t i, uint64_t r, uint64_t *first,
			       uint64_t *count);

/* A snapshot (new reference) of region `i`'s content. Full region: mapped
 * from the file, O(1), pages read when touched. Delta region: stacked on the
 * base's snapshot of that region, O(pages stored). The state keeps the
 * snapshot, so asking again returns the same one.
 * Errors: -EINVAL, MS_ERR_MISMATCH (incremental state without its base set),
 * MS_ERR_CORRUPT (with MS_STATE_VERIFY_REGIONS: a chunk's checksum is wrong;
 * nothing is returned), -ENOMEM, -EMFILE. */
MS_API int ms_state_region_snapshot(ms_state *st, size_t i, ms_snapshot **out);

/* Attach the base of an incremental state: `base` must be the state whose id
 * the state records (else MS_ERR_MISMATCH; also when `st` is not
 * incremental). A reference to `base` is kept. Errors: -EINVAL, -EBUSY
 * (another base is already set). */
MS_API int ms_state_set_base(ms_state *st, ms_state *base);

/* Check every chunk checksum of region `i`, or of all regions. Reads the
 * stored bytes: O(size). Returns 0 or MS_ERR_CORRUPT (the first bad region
 * goes to *bad_region when not NULL). */
MS_API int ms_state_verify_region(ms_state *st, size_t i);
MS_API int ms_state_verify(ms_state *st, size_t *bad_region);

/* Format a 16-byte id as 32 hex digits plus NUL into buf (33 bytes). A NULL
 * id gives the empty string; a NULL buf is left alone. */
MS_API void ms_state_id_hex(const uint8_t id[16], char buf[33]);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_STATE_H */
