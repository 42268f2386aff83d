/* What a view can tell about itself: its dirty pages, its statistics, and a
 * check of its tracking against its snapshot. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* The common start of the dirty-set queries: 1 when the view has nothing to
 * report (shared or empty), -EOPNOTSUPP when it is not tracked, else the
 * result of making v->dirty complete. */
static int collect_for_query(ms_view *v)
{
	if (v->mode == MS_VIEW_SHARED || v->size == 0)
		return 1;
	if (!ms__view_tracked(v) || ms__view_forked(v))
		return -EOPNOTSUPP;
	return v->ops->collect(v);
}

long ms_view_dirty_ranges(ms_view *v, ms_range *ranges, size_t cap)
{
	if (!v || (!ranges && cap))
		return -EINVAL;
	int err = collect_for_query(v);
	if (err)
		return err > 0 ? 0 : err;
	ms__dirty_sort(&v->dirty);
	return ms__pages_to_ranges(v->dirty.list, atomic_load(&v->dirty.n), ranges, cap);
}

long ms_view_dirty_count(ms_view *v)
{
	if (!v)
		return -EINVAL;
	int err = collect_for_query(v);
	if (err)
		return err > 0 ? 0 : err;
	return (long)atomic_load(&v->dirty.n);
}

int ms_view_get_stats(const ms_view *v, ms_view_stats *stats)
{
	if (!v || !stats)
		return -EINVAL;
	*stats = v->stats;
	return 0;
}

long ms_view_verify(ms_view *v, size_t *missed, size_t cap)
{
	if (!v || (!missed && cap))
		return -EINVAL;
	int err = collect_for_query(v);
	if (err)
		return err > 0 ? 0 : err;
	if (v->protected_any)
		return -EACCES; /* pages may be unreadable */
	unsigned shift = ms__page_shift();
	size_t ps = (size_t)1 << shift;
	long count = 0;
	for (size_t pg = 0; pg < v->npages; pg++) {
		if (ms__dirty_has(&v->dirty, pg))
			continue;
		if (memcmp(v->base + (pg << shift), ms__snapshot_page(v->snap, pg), ps) != 0) {
			if ((size_t)count < cap)
				missed[count] = pg << shift;
			count++;
		}
	}
	return count;
}
