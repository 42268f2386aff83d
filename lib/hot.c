/*
 * Hot pages (on by default). A fuzz loop writes mostly the same pages every
 * iteration (its stack, globals, heap). Tracked as usual, each of them costs
 * a write fault and two protection changes per iteration, several times the
 * copy that restores it. Instead, a page that a restore copies and that the
 * previous restore copied too is left writable: it stays in the dirty set,
 * is no longer tracked, and every restore copies it back. A check round
 * first compares the hot pages with the snapshot; those the iteration left
 * unchanged are protected again and tracked as before. A restore that finds
 * only hot pages dirty, off the check rounds, just copies them (restore.c).
 * So a page written once costs what it did, and a page written every
 * iteration costs one copy, the physical limit of any reset.
 *
 * Check rounds come every HOT_CHECK_MIN-th restore. A check that finds
 * every hot page changed doubles the interval, up to HOT_CHECK_MAX: a check
 * reads the pages once more and takes the slow path, which measurably slows
 * a steady loop when done every 16th restore (docs/tracking.md). A check
 * that cools a page brings the interval back to HOT_CHECK_MIN. A page the
 * program stops writing thus costs at most HOT_CHECK_MAX extra copies.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

enum { HOT_CHECK_MIN = 16, HOT_CHECK_MAX = 256 };

bool ms__hot_active(const ms_view *v)
{
	/* Only trackers that protect pages have a fault to save. */
	return v->hot_enabled && v->ops->unprotect != NULL;
}

bool ms__hot_check_due(ms_view *v)
{
	if (++v->hot_rounds < v->hot_interval)
		return false;
	v->hot_rounds = 0;
	return true;
}

/* After a check round that cooled `cooled` pages. */
static void hot_checked(ms_view *v, size_t cooled)
{
	if (cooled)
		v->hot_interval = HOT_CHECK_MIN;
	else
		v->hot_interval =
		    v->hot_interval < HOT_CHECK_MAX / 2 ? v->hot_interval * 2 : HOT_CHECK_MAX;
}

void ms__hot_forget(ms_view *v)
{
	ms__dirty_clear(&v->hot);
	ms__dirty_clear(&v->prev);
	v->hot_rounds = 0;
	v->hot_interval = HOT_CHECK_MIN;
}

/* Whether a hot page still holds the content of `src` (checked before the
 * copy that restores it). */
static bool unchanged(const ms_view *v, const ms_snapshot *src, size_t pg)
{
	unsigned shift = ms__page_shift();
	return memcmp(v->base + (pg << shift), ms__snapshot_page(src, pg), (size_t)1 << shift) == 0;
}

size_t ms__hot_split(ms_view *v, const ms_snapshot *src, size_t *list, size_t n, bool check)
{
	size_t nre = 0, cooled = 0;
	ms__dirty_clear(&v->scratch);
	for (size_t i = 0; i < n; i++) {
		size_t pg = list[i];
		bool stay;
		if (ms__dirty_has(&v->hot, pg)) {
			stay = !(check && unchanged(v, src, pg));
			cooled += !stay;
		} else {
			stay = ms__dirty_has(&v->prev, pg);
		}
		if (stay)
			ms__dirty_add_local(&v->scratch, pg);
		else
			list[nre++] = pg;
	}
	if (check)
		hot_checked(v, cooled);
	ms__dirty_clear(&v->prev);
	ms__dirty_clear(&v->hot);
	for (size_t i = 0; i < nre; i++)
		ms__dirty_add_local(&v->prev, list[i]);
	size_t nh = atomic_load(&v->scratch.n);
	for (size_t i = 0; i < nh; i++) {
		ms__dirty_add_local(&v->prev, v->scratch.list[i]);
		ms__dirty_add_local(&v->hot, v->scratch.list[i]);
	}
	return nre;
}

void ms__hot_append(ms_view *v)
{
	size_t n = atomic_load(&v->dirty.n);
	size_t nh = atomic_load(&v->hot.n);
	memcpy(v->dirty.list + n, v->hot.list, nh * sizeof *v->hot.list);
	atomic_store(&v->dirty.n, n + nh);
}

void ms__hot_keep(ms_view *v)
{
	ms__hot_append(v);
	ms__dirty_clear(&v->dirty);
	size_t nh = atomic_load(&v->hot.n);
	for (size_t i = 0; i < nh; i++)
		ms__dirty_add(&v->dirty, v->hot.list[i]);
}

int ms_view_set_hot_pages(ms_view *v, int enable)
{
	if (!v || v->mode != MS_VIEW_COW)
		return -EINVAL;
	if (enable && !v->hot_enabled) {
		v->hot_rounds = 0;
		v->hot_interval = HOT_CHECK_MIN;
	}
	v->hot_enabled = enable != 0;
	return 0;
}
