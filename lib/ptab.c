#include "ptab.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FAN_BITS 6
#define FAN (1u << FAN_BITS)

typedef struct node {
	atomic_uint refs;
	void *slot[FAN]; /* child nodes, or page addresses at the last level */
} node;

struct ms__ptab {
	unsigned levels;
	size_t count;
	node *root;
};

static node *node_new(const node *copy)
{
	node *n = malloc(sizeof *n);
	if (!n)
		return NULL;
	if (copy)
		memcpy(n->slot, copy->slot, sizeof n->slot);
	else
		memset(n->slot, 0, sizeof n->slot);
	atomic_init(&n->refs, 1);
	return n;
}

static void node_unref(node *n, unsigned level)
{
	if (!n || atomic_fetch_sub(&n->refs, 1) != 1)
		return;
	if (level > 1)
		for (unsigned i = 0; i < FAN; i++)
			node_unref(n->slot[i], level - 1);
	free(n);
}

static void node_ref_children(node *n, unsigned level)
{
	if (level > 1)
		for (unsigned i = 0; i < FAN; i++)
			if (n->slot[i])
				atomic_fetch_add(&((node *)n->slot[i])->refs, 1);
}

ms__ptab *ms__ptab_new(size_t npages)
{
	ms__ptab *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->levels = 1;
	size_t last = npages ? npages - 1 : 0;
	while (t->levels * FAN_BITS < 64 && last >> (t->levels * FAN_BITS))
		t->levels++;
	return t;
}

static unsigned idx(size_t pg, unsigned level)
{
	return (pg >> ((level - 1) * FAN_BITS)) & (FAN - 1);
}

/* Insert pages[0..n) (all within the subtree of *np) into a private copy of
 * *np. `fresh` says *np was already copied by this call (owned, refs 1). */
static int insert(node **np, unsigned level, const size_t *pages, const uint8_t *const *ptrs,
		  size_t n, size_t *added)
{
	node *old = *np;
	node *nw = node_new(old);
	if (!nw)
		return -1;
	if (old)
		node_ref_children(nw, level);
	size_t i = 0;
	while (i < n) {
		unsigned k = idx(pages[i], level);
		size_t j = i + 1;
		while (j < n && idx(pages[j], level) == k)
			j++;
		if (level == 1) {
			if (!nw->slot[k])
				(*added)++;
			nw->slot[k] = (void *)ptrs[i];
		} else {
			node *child = nw->slot[k];
			if (insert(&child, level - 1, pages + i, ptrs + i, j - i, added) != 0) {
				node_unref(nw, level);
				return -1;
			}
			node_unref(nw->slot[k], level - 1);
			nw->slot[k] = child;
		}
		i = j;
	}
	*np = nw;
	return 0;
}

ms__ptab *ms__ptab_set_many(const ms__ptab *t, const size_t *pages, const uint8_t *const *ptrs,
			    size_t n)
{
	ms__ptab *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->levels = t->levels;
	r->count = t->count;
	node *root = t->root;
	if (n == 0) {
		if (root)
			atomic_fetch_add(&root->refs, 1);
		r->root = root;
		return r;
	}
	if (insert(&root, r->levels, pages, ptrs, n, &r->count) != 0) {
		free(r);
		return NULL;
	}
	r->root = root;
	return r;
}

const uint8_t *ms__ptab_get(const ms__ptab *t, size_t pg)
{
	const node *n = t->root;
	for (unsigned level = t->levels; n && level > 1; level--)
		n = n->slot[idx(pg, level)];
	return n ? n->slot[idx(pg, 1)] : NULL;
}

static void walk(const node *n, unsigned level, size_t prefix,
		 void (*fn)(size_t, const uint8_t *, void *), void *ud)
{
	for (unsigned i = 0; i < FAN; i++) {
		if (!n->slot[i])
			continue;
		size_t pg = (prefix << FAN_BITS) | i;
		if (level == 1)
			fn(pg, n->slot[i], ud);
		else
			walk(n->slot[i], level - 1, pg, fn, ud);
	}
}

void ms__ptab_foreach(const ms__ptab *t, void (*fn)(size_t pg, const uint8_t *src, void *ud),
		      void *ud)
{
	if (t->root)
		walk(t->root, t->levels, 0, fn, ud);
}

size_t ms__ptab_count(const ms__ptab *t)
{
	return t->count;
}

void ms__ptab_free(ms__ptab *t)
{
	if (!t)
		return;
	node_unref(t->root, t->levels);
	free(t);
}
