/*
 * Hook-only tracking (MS_UC_TRACK_HOOK): region content as a chain of page
 * deltas over the region's base snapshot, restored from the pages the write
 * hook and ms_uc_write/ms_uc_note_written logged. No page is ever
 * write-protected, so nothing faults; writers that are not logged are not
 * undone (see uc.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GUEST_PAGE 4096u

/* memcpy of whole pages through the C library: a constant 4 KiB memcpy is
 * inlined by the compiler as `rep movsq`, measured 2x slower here than the
 * library's vector copy. */
__attribute__((noinline)) static void copy_pages(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

ms__uc_delta *ms__uc_delta_ref(ms__uc_delta *d)
{
	if (d)
		d->refs++;
	return d;
}

void ms__uc_delta_unref(ms__uc_delta *d)
{
	/* Iterative, so that a long chain does not recurse deeply. */
	while (d && --d->refs == 0) {
		ms__uc_delta *parent = d->parent;
		free(d->pages);
		free(d->data);
		free(d);
		d = parent;
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Where page pg is stored in d itself, or NULL. O(log n). */
static const uint8_t *delta_own(const ms__uc_delta *d, size_t pg)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (d->pages[mid] < pg)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < d->n && d->pages[lo] == pg)
		return d->data + lo * GUEST_PAGE;
	return NULL;
}

/* Where page pg's content under d is: in a delta, else in the base. */
static const uint8_t *content(const ms__uc_delta *d, const uint8_t *base, size_t pg)
{
	for (; d; d = d->parent) {
		const uint8_t *p = delta_own(d, pg);
		if (p)
			return p;
	}
	return base + pg * GUEST_PAGE;
}

void ms__uc_delta_read_page(const ms__uc_delta *d, const uint8_t *base, size_t pg, void *dst)
{
	copy_pages(dst, content(d, base, pg), GUEST_PAGE);
}

int ms__uc_hook_take(ms__uc_region *r, ms__uc_delta **out)
{
	ms__uc_pageset *s = &r->noted;
	if (s->n == 0) {
		*out = ms__uc_delta_ref(r->delta);
		return 0;
	}
	ms__uc_delta *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->pages = malloc(s->n * sizeof *d->pages);
	d->data = malloc(s->n * GUEST_PAGE);
	if (!d->pages || !d->data) {
		free(d->pages);
		free(d->data);
		free(d);
		return -ENOMEM;
	}
	memcpy(d->pages, s->list, s->n * sizeof *d->pages);
	qsort(d->pages, s->n, sizeof *d->pages, cmp_size);
	d->n = s->n;
	for (size_t i = 0; i < d->n; i++)
		copy_pages(d->data + i * GUEST_PAGE, r->data + d->pages[i] * GUEST_PAGE,
			   GUEST_PAGE);
	d->refs = 1;
	d->parent = ms__uc_delta_ref(r->delta);
	d->depth = r->delta ? r->delta->depth + 1 : 0;
	/* The region now holds d's content: d becomes its base and tracking
	 * starts afresh. */
	ms__uc_delta_unref(r->delta);
	r->delta = ms__uc_delta_ref(d);
	ms__uc_pageset_clear(s);
	*out = d;
	return 0;
}

static void add_all(ms__uc_pageset *s, const ms__uc_delta *d)
{
	for (size_t i = 0; i < d->n; i++)
		ms__uc_pageset_add(s, d->pages[i]);
}

int ms__uc_hook_restore(ms_uc *m, ms__uc_region *r, ms__uc_delta *target, uint64_t *pages)
{
	ms__uc_pageset *s = &r->noted;
	/* Pages that differ between the region's base and the target are those
	 * stored by the deltas between them and their common ancestor. */
	const ms__uc_delta *a = r->delta, *b = target;
	while (a != b) {
		if (!b || (a && a->depth >= b->depth)) {
			add_all(s, a);
			a = a->parent;
		} else {
			add_all(s, b);
			b = b->parent;
		}
	}
	/* In address order, so that runs of pages are copied in one go. */
	qsort(s->list, s->n, sizeof *s->list, cmp_size);
	for (size_t i = 0; i < s->n;) {
		size_t pg = s->list[i], j = i + 1;
		if (!target) {
			while (j < s->n && s->list[j] == s->list[j - 1] + 1)
				j++;
			copy_pages(r->data + pg * GUEST_PAGE, r->base_data + pg * GUEST_PAGE,
				   (j - i) * GUEST_PAGE);
		} else {
			copy_pages(r->data + pg * GUEST_PAGE, content(target, r->base_data, pg),
				   GUEST_PAGE);
		}
		if (r->exec)
			ms__uc_drop_code(m, r->address + pg * GUEST_PAGE, (j - i) * GUEST_PAGE);
		i = j;
	}
	*pages += s->n;
	ms__uc_pageset_clear(s);
	if (r->delta != target) {
		ms__uc_delta_unref(r->delta);
		r->delta = ms__uc_delta_ref(target);
	}
	return 0;
}
