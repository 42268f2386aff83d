/*
 * A persistent page table: an immutable map from page index to the address
 * the page's content is read from. set_many() returns a new table that shares
 * every untouched node with the old one (path copying), so a stacked snapshot
 * costs O(pages it changes x depth) memory, and 1,000 levels of snapshots
 * each look a page up in O(depth of the tree), not O(levels).
 */
#ifndef MEMSNAP_PTAB_H
#define MEMSNAP_PTAB_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms__ptab ms__ptab;

/* An empty table able to hold page indices below npages. NULL on ENOMEM. */
ms__ptab *ms__ptab_new(size_t npages);
/* A copy of `t` with pages[i] -> ptrs[i] added or replaced (pages sorted,
 * unique). NULL on ENOMEM; `t` is unchanged either way. */
ms__ptab *ms__ptab_set_many(const ms__ptab *t, const size_t *pages, const uint8_t *const *ptrs,
			    size_t n);
/* The address stored for `pg`, or NULL. */
const uint8_t *ms__ptab_get(const ms__ptab *t, size_t pg);
/* Call fn for every entry, in page order. */
void ms__ptab_foreach(const ms__ptab *t, void (*fn)(size_t pg, const uint8_t *src, void *ud),
		      void *ud);
/* Number of entries. */
size_t ms__ptab_count(const ms__ptab *t);
void ms__ptab_free(ms__ptab *t);

#endif /* MEMSNAP_PTAB_H */
