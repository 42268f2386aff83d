/*
 * Restores: make a copy-on-write view equal a snapshot again, copying back
 * the pages written since (tracked views) or mapping the snapshot again
 * (untracked views, the first restore after fork, a snapshot of another
 * family). Every restore reports the pages it put back, and on request the
 * runs they form.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "internal.h"

/* Where a restore reports the runs of pages it put back. */
typedef struct restored_runs {
	ms_range *ranges;
	size_t cap;
	long n; /* runs in all (may exceed cap) */
} restored_runs;

/* Replace the whole mapping with `snap`'s content and start tracking anew.
 * This is the untracked restore, the restore after fork, and the restore to
 * an unrelated snapshot. Returns the pages put back: all of them. */
static long remap_all(ms_view *v, ms_snapshot *snap, restored_runs *out)
{
	/* Until tracking is attached again the view counts as "forked"
	 * (untracked), so a failed remap is retried by the next restore. */
	v->pid = 0;
	v->ops->detach(v);
	ms__dirty_clear(&v->dirty);
	ms__dirty_clear(&v->kept);
	ms__dirty_clear(&v->discarded);
	ms__hot_forget(v);
	int err = ms__view_map(v, snap);
	if (err)
		return err;
	v->protected_any = false;
	v->rearm_failed = false; /* a fresh mapping, tracked from scratch */
	err = ms__tracker_attach(v, false);
	if (err)
		return err;
	v->pid = ms__os_pid();
	if (out) {
		if (out->cap)
			out->ranges[0] = (ms_range){0, v->size};
		out->n = 1;
	}
	return (long)v->npages;
}

static int reset_protection(ms_view *v)
{
	if (!v->protected_any)
		return 0;
	int err = v->ops && v->ops->reset_protection
		      ? v->ops->reset_protection(v)
		      : ms__os_protect(v->base, v->size, MS_ACCESS_READ | MS_ACCESS_WRITE);
	if (!err)
		v->protected_any = false;
	return err;
}

/* Copy pages list[0..n) (sorted) back from `src`. */
static void copy_back(ms_view *v, const ms_snapshot *src, const size_t *list, size_t n)
{
	unsigned shift = ms__page_shift();
	if (!src->ptab) {
		/* Plain snapshot: runs are contiguous in the source too. */
		size_t i = 0;
		ms__page_run run;
		while (ms__next_run(list, n, &i, &run))
			memcpy(v->base + (run.first << shift), src->rmap + (run.first << shift),
			       run.n << shift);
	} else {
		for (size_t i = 0; i < n; i++)
			memcpy(v->base + (list[i] << shift), ms__snapshot_page(src, list[i]),
			       (size_t)1 << shift);
	}
}

static void report_runs(restored_runs *out, const size_t *list, size_t n)
{
	if (out)
		out->n = ms__pages_to_ranges(list, n, out->ranges, out->cap);
}

/* Copy every dirty page back from `src` (the view's snapshot, or the one a
 * restore_to moves it to), then re-arm them (except the hot pages). Returns
 * the pages put back. */
static long restore_dirty(ms_view *v, const ms_snapshot *src, restored_runs *out)
{
	int err = v->ops->collect(v);
	if (err)
		return err;
	err = reset_protection(v);
	if (err)
		return err;
	ms__dirty_sort(&v->dirty);
	size_t n = atomic_load(&v->dirty.n);
	size_t *list = v->dirty.list;
	report_runs(out, list, n);
	bool hot = ms__hot_active(v);
	bool check = hot && atomic_load(&v->hot.n) > 0 && ms__hot_check_due(v);
	size_t nre = n;
	if (hot) {
		nre = ms__hot_split(v, src, list, n, check);
		atomic_store(&v->dirty.n, nre);
		copy_back(v, src, v->hot.list, atomic_load(&v->hot.n));
	}
	copy_back(v, src, list, nre);
	err = v->ops->rearm(v);
	if (err) {
		if (hot) /* the hot pages are writable: keep them dirty */
			ms__hot_append(v);
		v->rearm_failed = true;
		return err;
	}
	v->rearm_failed = false;
	ms__trim(v, src, list, nre);
	if (hot)
		ms__hot_keep(v);
	else
		ms__dirty_clear(&v->dirty);
	if (!hot && atomic_load(&v->hot.n))
		ms__hot_forget(v); /* turned off: every page was protected again */
	return (long)n;
}

/*
 * The steady state of a loop that writes the same pages every iteration:
 * every dirty page is hot (hot is a subset of dirty: equal counts), the
 * last restore copied the same pages, no check round is due and nothing was
 * protected. Such a restore is the copy and nothing else: no collect (the
 * trackers that have hot pages record writes as they happen), no sort,
 * nothing to protect or record. Kept apart from restore_dirty so that the
 * common case runs few instructions over few cache lines, which the
 * program's run between two restores evicts. Returns the pages put back, or
 * -1, having changed nothing, when restore_dirty is needed.
 */
static long restore_hot_only(ms_view *v, restored_runs *out)
{
	if (!ms__hot_active(v) || !v->ops->fault_driven || v->protected_any || v->rearm_failed ||
	    v->hot_rounds + 1 >= v->hot_interval)
		return -1;
	size_t n = atomic_load(&v->dirty.n);
	if (n == 0 || n != atomic_load(&v->hot.n) || n != atomic_load(&v->prev.n) ||
	    ms__view_forked(v))
		return -1;
	v->hot_rounds++;
	copy_back(v, v->snap, v->hot.list, n);
	report_runs(out, v->hot.list, n);
	return (long)n;
}

static void count_restore(ms_view *v, long pages)
{
	v->stats.restores++;
	v->stats.last_restore_pages = (uint64_t)pages;
	v->stats.pages_restored += (uint64_t)pages;
}

/* ms_view_restore: the pages put back, or -errno. */
static long restore(ms_view *v, restored_runs *out)
{
	if (v->mode == MS_VIEW_SHARED || v->size == 0)
		return 0;
	long pages = restore_hot_only(v, out);
	if (pages < 0) {
		if (!ms__view_tracked(v) || ms__view_forked(v))
			pages = remap_all(v, v->snap, out);
		else
			pages = restore_dirty(v, v->snap, out);
	}
	if (pages >= 0)
		count_restore(v, pages);
	return pages;
}

/* Add the pages a snapshot level stores to the view's dirty set. */
static void add_level(void *ud, const ms_snapshot *level)
{
	ms_view *v = ud;
	for (size_t i = 0; i < level->own_n; i++)
		ms__dirty_add(&v->dirty, level->own_pages[i]);
}

/* Restore a tracked view to `snap` of its snapshot's family: the pages
 * that differ between the two snapshots are those stored by the levels
 * between them and their common base; they join the dirty pages. */
static long restore_family(ms_view *v, ms_snapshot *snap, restored_runs *out)
{
	/* restore_dirty collects the written pages next (a scanning tracker
	 * walks the view's page tables once); a page both written and stored
	 * by a level is in the set once. */
	size_t before = atomic_load(&v->dirty.n);
	ms__snapshot_foreach_between(v->snap, snap, add_level, v);
	/* Let memsnap's own copy into the newly added pages through. */
	size_t after = atomic_load(&v->dirty.n);
	for (size_t i = before; i < after && v->ops->unprotect; i++) {
		int err = v->ops->unprotect(v, v->dirty.list[i], 1);
		if (err)
			return err;
	}
	return restore_dirty(v, snap, out);
}

/* ms_view_restore_to: the pages put back, or -errno. */
static long restore_to(ms_view *v, ms_snapshot *snap, restored_runs *out)
{
	if (!v || !snap || v->mode != MS_VIEW_COW || snap->size != v->size)
		return -EINVAL;
	if (snap == v->snap)
		return restore(v, out);
	int err = ms__snapshot_attach_view(snap, MS_VIEW_COW);
	if (err)
		return err;
	ms_snapshot *old = v->snap;
	long pages = 0;
	if (v->size == 0)
		pages = 0; /* nothing to copy */
	else if (!ms__view_tracked(v) || ms__view_forked(v) || snap->root != old->root)
		pages = remap_all(v, snap, out);
	else
		pages = restore_family(v, snap, out);
	if (pages < 0) {
		ms__snapshot_detach_view(snap, MS_VIEW_COW);
		return pages;
	}
	v->snap = ms_snapshot_ref(snap);
	ms__snapshot_detach_view(old, MS_VIEW_COW);
	ms_snapshot_unref(old);
	count_restore(v, pages);
	return pages;
}

/* A count of pages as the int the restores return (a view of more than
 * INT_MAX pages reports INT_MAX; ms_view_get_stats has the exact count). */
static int as_int(long pages)
{
	return pages > INT_MAX ? INT_MAX : (int)pages;
}

int ms_view_restore(ms_view *v)
{
	return v ? as_int(restore(v, NULL)) : -EINVAL;
}

int ms_view_restore_to(ms_view *v, ms_snapshot *snap)
{
	return as_int(restore_to(v, snap, NULL));
}

long ms_view_restore_ranges(ms_view *v, ms_snapshot *snap, ms_range *ranges, size_t cap,
			    size_t *pages)
{
	if (!v || (!ranges && cap))
		return -EINVAL;
	restored_runs out = {ranges, cap, 0};
	long n = snap ? restore_to(v, snap, &out) : restore(v, &out);
	if (n < 0)
		return n;
	if (pages)
		*pages = (size_t)n;
	return out.n;
}
