/*
 * Views: their lifecycle (map, free, accessors), the snapshots they take and
 * the writes announced to them. Restores are in restore.c, hot pages in
 * hot.c, trimming in trim.c, the dirty-set queries in query.c and the
 * choice of tracker in tracker.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ptab.h"

static void copy_into_view(size_t pg, const uint8_t *src, void *ud)
{
	ms_view *v = ud;
	memcpy(v->base + (pg << ms__page_shift()), src, ms_page_size());
}

int ms__view_map(ms_view *v, ms_snapshot *snap)
{
	void *p;
	int err =
	    ms__os_map(v->base, v->size, MS__OS_MAP_COW, snap->root->fd, snap->root->offset, &p);
	if (err)
		return err;
	v->base = p;
	if (snap->ptab)
		ms__ptab_foreach(snap->ptab, copy_into_view, v);
	return 0;
}

/* The page sets of a CoW view (created and freed together). */
enum { NSETS = 6 };
static void view_sets(ms_view *v, ms__dirty_set *sets[NSETS])
{
	ms__dirty_set *all[NSETS] = {&v->dirty, &v->kept, &v->discarded,
				     &v->hot,	&v->prev, &v->scratch};
	memcpy(sets, all, sizeof all);
}

int ms_view_new(ms_snapshot *snap, ms_view_mode mode, ms_view **out)
{
	return ms_view_new_tracked(snap, mode, MS_TRACKER_AUTO, out);
}

/* Map the memory of a new view: a page of its own for a zero-sized view
 * (which still has a valid, unique address), the snapshot's file for a
 * shared one, a tracked copy-on-write mapping otherwise. */
static int view_map_new(ms_view *v, ms_snapshot *snap, bool strict)
{
	void *p;
	int err;
	if (v->size == 0) {
		v->ops = NULL;
		err = ms__os_reserve(ms_page_size(), MS_ACCESS_NONE, &p);
	} else if (v->mode == MS_VIEW_SHARED) {
		err = ms__os_map(NULL, v->size, MS__OS_MAP_SHARED, snap->fd, snap->offset, &p);
	} else {
		err = ms__view_map(v, snap);
		ms__dirty_set *sets[NSETS];
		view_sets(v, sets);
		for (size_t i = 0; !err && i < NSETS; i++)
			err = ms__dirty_init(sets[i], v->npages);
		return err ? err : ms__tracker_attach(v, strict);
	}
	if (!err)
		v->base = p;
	return err;
}

int ms_view_new_tracked(ms_snapshot *snap, ms_view_mode mode, ms_tracker tracker, ms_view **out)
{
	if (!snap || !out || (mode != MS_VIEW_COW && mode != MS_VIEW_SHARED) ||
	    (unsigned)tracker >= MS_TRACKER_COUNT_)
		return -EINVAL;
	const ms__tracker_ops *ops = NULL;
	bool strict = false;
	int err = mode == MS_VIEW_COW ? ms__tracker_choose(tracker, &ops, &strict) : 0;
	if (err)
		return err;
	err = ms__snapshot_attach_view(snap, mode);
	if (err)
		return err;

	/* Its first cache lines hold what every restore reads (internal.h):
	 * aligned so that they start a line and the view lies in one page. */
	_Static_assert(sizeof(ms_view) <= 512, "ms_view outgrew its alignment");
	ms_view *v = ms__os_alloc_aligned(512, 512);
	if (!v) {
		ms__snapshot_detach_view(snap, mode);
		return -ENOMEM;
	}
	memset(v, 0, sizeof *v);
	v->size = snap->size;
	v->npages = snap->npages;
	v->mode = mode;
	v->snap = ms_snapshot_ref(snap);
	v->ops = ops;
	v->pid = ms__os_pid();
	v->page_shift = ms__page_shift();
	if (mode == MS_VIEW_COW)
		ms_view_set_hot_pages(v, 1); /* on by default (docs/tracking.md) */
	err = view_map_new(v, snap, strict);
	if (err) {
		v->ops = NULL;
		ms_view_free(v);
		return err;
	}
	*out = v;
	return 0;
}

void ms_view_free(ms_view *v)
{
	if (!v)
		return;
	if (v->ops)
		v->ops->detach(v);
	if (v->base)
		ms__os_unmap(v->base, v->size ? v->size : ms_page_size());
	ms__dirty_set *sets[NSETS];
	view_sets(v, sets);
	for (size_t i = 0; i < NSETS; i++)
		ms__dirty_fini(sets[i]);
	ms__snapshot_detach_view(v->snap, v->mode);
	ms_snapshot_unref(v->snap);
	ms__os_free_aligned(v);
}

void *ms_view_data(const ms_view *v)
{
	return v ? v->base : NULL;
}

size_t ms_view_size(const ms_view *v)
{
	return v ? v->size : 0;
}

ms_view_mode ms_view_mode_of(const ms_view *v)
{
	return v ? v->mode : MS_VIEW_COW;
}

ms_snapshot *ms_view_snapshot(const ms_view *v)
{
	return v ? v->snap : NULL;
}

ms_tracker ms_view_tracker(const ms_view *v)
{
	return v && v->ops ? v->ops->id : MS_TRACKER_NONE;
}

int ms_view_take_snapshot(ms_view *v, ms_snapshot **out)
{
	if (!v || !out)
		return -EINVAL;
	int err;
	if (!ms__view_tracked(v) || ms__view_forked(v) || v->size == 0) {
		if (v->mode == MS_VIEW_COW && v->size == 0) {
			*out = ms_snapshot_ref(v->snap);
			return 0;
		}
		/* Untracked: copy. from_buffer reads through the kernel, so a
		 * page protected MS_ACCESS_NONE gives -EFAULT, not a crash. */
		err = ms_snapshot_from_buffer(v->base, v->size, out);
	} else {
		err = v->ops->collect(v);
		if (err)
			return err;
		size_t n = atomic_load(&v->dirty.n);
		if (n == 0) {
			*out = ms_snapshot_ref(v->snap);
		} else {
			ms__dirty_sort(&v->dirty);
			/* Pages the user protected may be unreadable: copy
			 * those views through the kernel (-EFAULT, no crash). */
			err = ms__snapshot_stack_ex(v->snap, v->base, v->dirty.list, n,
						    v->protected_any, out);
		}
	}
	if (!err)
		v->stats.snapshots_taken++;
	return err;
}

/* Make `s`, which holds exactly the view's current content and is stacked
 * on its snapshot, the view's snapshot: no page is copied, every dirty page
 * is tracked again. */
static int adopt(ms_view *v, ms_snapshot *s)
{
	int err = ms__snapshot_attach_view(s, MS_VIEW_COW);
	if (err)
		return err;
	err = v->ops->rearm(v);
	v->rearm_failed = err != 0;
	if (err) {
		ms__snapshot_detach_view(s, MS_VIEW_COW);
		return err;
	}
	ms__dirty_clear(&v->dirty);
	ms__hot_forget(v); /* rearm protected them too */
	ms__snapshot_detach_view(v->snap, MS_VIEW_COW);
	ms_snapshot_unref(v->snap);
	v->snap = ms_snapshot_ref(s);
	return 0;
}

int ms_view_checkpoint(ms_view *v, ms_snapshot **out)
{
	if (!v || !out)
		return -EINVAL;
	if (v->mode != MS_VIEW_COW)
		return ms_view_take_snapshot(v, out);
	ms_snapshot *s;
	int err = ms_view_take_snapshot(v, &s);
	if (err)
		return err;
	if (s != v->snap) {
		if (ms__view_tracked(v) && !ms__view_forked(v) && s->root == v->snap->root) {
			err = adopt(v, s);
		} else {
			int restored = ms_view_restore_to(v, s);
			err = restored < 0 ? restored : 0;
		}
		if (err) {
			ms_snapshot_unref(s);
			return err;
		}
	}
	*out = s;
	return 0;
}

int ms_view_protect(ms_view *v, size_t offset, size_t len, unsigned access)
{
	if (!v)
		return -EINVAL;
	size_t ps = ms_page_size();
	if (len == 0 || (offset & (ps - 1)) || (len & (ps - 1)) || offset > v->size ||
	    len > v->size - offset || (access & ~7u))
		return -EINVAL;
	unsigned shift = ms__page_shift();
	/* Set first: a protection that fails part way (ENOMEM past
	 * vm.max_map_count) may have changed some pages, which the next
	 * restore must reset before copying. */
	v->protected_any = true;
	return v->ops && v->ops->protect ? v->ops->protect(v, offset >> shift, len >> shift, access)
					 : ms__os_protect(v->base + offset, len, access);
}

/* Add page pg to the dirty set; true if it was not there. */
static bool record(ms_view *v, size_t pg)
{
	return v->ops->caller_records ? ms__dirty_add_local(&v->dirty, pg)
				      : ms__dirty_add(&v->dirty, pg);
}

int ms__view_mark_dirty(ms_view *v, size_t first, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i <= n; i++) {
		/* A page already dirty is writable, unless a failed rearm
		 * protected it again. */
		if (i < n && (record(v, first + i) || v->rearm_failed)) {
			run++;
			continue;
		}
		if (run && v->ops->unprotect) {
			int err = v->ops->unprotect(v, first + i - run, run);
			if (err)
				return err;
		}
		run = 0;
	}
	return 0;
}

int ms_view_note_written(ms_view *v, size_t offset, size_t len)
{
	if (!v || offset > v->size || len > v->size - offset)
		return -EINVAL;
	if (!ms__view_tracked(v) || len == 0)
		return 0; /* untracked: the next restore remaps everything */
	unsigned shift = v->page_shift;
	size_t first = offset >> shift;
	size_t last = (offset + len - 1) >> shift;
	if (first != last) {
		/* After fork the tracker must not be called (internal.h). */
		if (ms__view_forked(v))
			return 0;
		return ms__view_mark_dirty(v, first, last - first + 1);
	}
	/* One page, the common announcement (a write hook's store): a page
	 * already dirty costs one word of the set. A page recorded in a
	 * forked child is forgotten by the remap of its next restore; the
	 * tracker is not called there. */
	if (!record(v, first) && !v->rearm_failed)
		return 0;
	if (!v->ops->unprotect || ms__view_forked(v))
		return 0;
	return v->ops->unprotect(v, first, 1);
}
