/*
 * A pool of page-sized slots for the pages stacked snapshots store.
 *
 * Taking an incremental snapshot copies the view's dirty pages somewhere
 * that will not change. A fresh memfd per snapshot costs a page allocation,
 * a zeroing and a copy per page inside the kernel plus memfd, seal and mmap
 * calls: O(pages) kernel work on top of O(pages) copies, several times the
 * copy itself (docs/benchmarks.md). The
 * pool keeps the slots of snapshots that were freed, already backed by
 * memory, so the next snapshot only copies into them.
 *
 * One pool belongs to one root snapshot and serves every snapshot stacked on
 * it; it is freed with the root (every stacked snapshot holds a reference on
 * its root, so the pool outlives all its users). Slots live in anonymous
 * private chunks mapped as needed and unmapped only with the pool. Freed
 * slots stay backed up to max(1024 slots, slots in use); beyond that their
 * memory is given back (ms__os_discard) and they are backed again on reuse.
 * All functions are thread-safe (one mutex).
 */
#ifndef MEMSNAP_POOL_H
#define MEMSNAP_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms__pool ms__pool;

/* An empty pool of slots of `slot` bytes (a page-size multiple). NULL on
 * ENOMEM. */
ms__pool *ms__pool_new(size_t slot);
/* Fill out[0..n) with free slots, mapping a new chunk when the free ones do
 * not suffice. 0 or -errno (nothing allocated then). */
int ms__pool_alloc(ms__pool *p, size_t n, uint8_t **out);
/* Give slots back (any order). Never fails. */
void ms__pool_free(ms__pool *p, uint8_t *const *slots, size_t n);
/* Chunks mapped so far (each is one mapping of the process). */
size_t ms__pool_chunks(ms__pool *p);
/* Unmap every chunk; every slot must have been freed. NULL is ignored. */
void ms__pool_destroy(ms__pool *p);

#endif /* MEMSNAP_POOL_H */
