/*
 * File output for save states: an atomically replaced file, and the copy of
 * a snapshot's content into it with per-chunk checksums, on the platform
 * contract's files (lib/os.h).
 */
#ifndef MEMSNAP_STATE_IO_H
#define MEMSNAP_STATE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A file written under a temporary name in the destination's directory and
 * renamed over the destination on commit. */
typedef struct ms__afile {
	ms_os_fd fd;
	char *path;
	char *tmp;
} ms__afile;

/* Create the temporary file (on POSIX, mode 0666 & ~umask). */
int ms__afile_create(ms__afile *f, const char *path);
int ms__afile_truncate(ms__afile *f, uint64_t size);
/* Sync the file, close it and put it in place of the destination
 * (ms__os_replace). On failure the temporary file is removed; the struct is
 * released either way. */
int ms__afile_commit(ms__afile *f);
/* Close and remove the temporary file. Safe to call on a released struct. */
void ms__afile_abort(ms__afile *f);

/* Write pages [first, first + n) of `snap` to `fd` at `off`, skipping the
 * chunks that are all holes (the file must already have its final size, so
 * they read as zeros). When `hashes` is not NULL, store the XXH3-64 of each
 * chunk of `chunk` bytes there. O(n) plus one look for holes per chunk. */
int ms__write_pages(ms_os_fd fd, uint64_t off, ms_snapshot *snap, const size_t *pages, size_t first,
		    size_t n, size_t chunk, uint64_t *hashes);

#endif /* MEMSNAP_STATE_IO_H */
