#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "linux/prim.h"
#include "ptab.h"

uint64_t ms__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void copy_into_view(size_t pg, const uint8_t *src, void *ud)
{
	ms_view *v = ud;
	memcpy(v->base + (pg << ms__page_shift()), src, ms_page_size());
}

/* Map `snap`'s content copy-on-write at the view's address (fixed when the
 * view already has one). O(1) plus the pages a stacked snapshot overrides. */
static int map_cow(ms_view *v, ms_snapshot *snap)
{
	int flags = MAP_PRIVATE | MAP_NORESERVE | (v->base ? MAP_FIXED : 0);
	void *p;
	int err = ms__map(v->base, v->size, PROT_READ | PROT_WRITE, flags, snap->root->fd,
			  snap->root->offset, &p);
	if (err)
		return err;
	v->base = p;
	if (snap->ptab)
		ms__ptab_foreach(snap->ptab, copy_into_view, v);
	return 0;
}

/* Start tracking v with its tracker. A tracker may be unable to watch a
 * particular kind of memory (uffd-sync cannot watch private mappings of
 * regular files); unless `strict`, the view then falls back to the trackers
 * that can (uffd-async, else none), so it keeps working. */
static int attach_tracker(ms_view *v, bool strict)
{
	int err = v->ops->attach(v);
	if (err != -EOPNOTSUPP || strict)
		return err;
	static const ms_tracker fallback[] = {MS_TRACKER_UFFD_ASYNC, MS_TRACKER_NONE};
	for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++) {
		const ms__tracker_ops *ops = ms__tracker_get(fallback[i]);
		if (ops == v->ops || ops->probe() != 0)
			continue;
		v->ops = ops;
		err = ops->attach(v);
		if (err != -EOPNOTSUPP)
			return err;
	}
	return err;
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

int ms_view_new_tracked(ms_snapshot *snap, ms_view_mode mode, ms_tracker tracker, ms_view **out)
{
	if (!snap || !out || (mode != MS_VIEW_COW && mode != MS_VIEW_SHARED) ||
	    (unsigned)tracker >= MS_TRACKER_COUNT_)
		return -EINVAL;
	int err;
	bool strict = tracker != MS_TRACKER_AUTO;
	if (tracker == MS_TRACKER_AUTO && (err = ms__tracker_from_env(&tracker)) != 0)
		return err;
	const ms__tracker_ops *ops = NULL;
	if (mode == MS_VIEW_COW) {
		ms_tracker t = tracker;
		if (tracker != MS_TRACKER_AUTO && (err = ms_tracker_probe(tracker)) != 0) {
			if (strict)
				return err == -ENOSYS ? -EOPNOTSUPP : err;
			t = MS_TRACKER_AUTO; /* MEMSNAP_TRACKER named one: fall back */
		}
		if (t == MS_TRACKER_AUTO && (err = ms__tracker_auto(&t)) != 0)
			return err;
		ops = ms__tracker_get(t);
	}
	err = ms__snapshot_attach_view(snap, mode);
	if (err)
		return err;

	/* Its first cache lines hold what every restore reads (internal.h):
	 * aligned so that they start a line and the view lies in one page. */
	_Static_assert(sizeof(ms_view) <= 512, "ms_view outgrew its alignment");
	ms_view *v = aligned_alloc(512, 512);
	if (v)
		memset(v, 0, sizeof *v);
	if (!v) {
		ms__snapshot_detach_view(snap, mode);
		return -ENOMEM;
	}
	v->size = snap->size;
	v->npages = snap->npages;
	v->mode = mode;
	v->snap = ms_snapshot_ref(snap);
	v->ops = ops;
	v->pid = ms__pid();
	if (mode == MS_VIEW_COW)
		ms_view_set_hot_pages(v, 1); /* on by default (docs/tracking.md) */
	ms__stopwatch_init(&v->clock);

	if (v->size == 0) {
		/* A zero-sized view still has a valid, unique address. */
		void *p;
		err = ms__map(NULL, ms_page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0,
			      &p);
		if (err)
			goto fail;
		v->base = p;
		v->ops = NULL;
	} else if (mode == MS_VIEW_SHARED) {
		void *p;
		err = ms__map(NULL, v->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			      snap->fd, snap->offset, &p);
		if (err)
			goto fail;
		v->base = p;
	} else {
		err = map_cow(v, snap);
		if (err)
			goto fail;
		ms__dirty_set *sets[NSETS];
		view_sets(v, sets);
		for (size_t i = 0; !err && i < NSETS; i++)
			err = ms__dirty_init(sets[i], v->npages);
		if (err)
			goto fail;
		err = attach_tracker(v, strict);
		if (err)
			goto fail;
	}
	*out = v;
	return 0;
fail:
	v->ops = NULL;
	ms_view_free(v);
	return err;
}

void ms_view_free(ms_view *v)
{
	if (!v)
		return;
	if (v->ops)
		v->ops->detach(v);
	if (v->base)
		ms__unmap(v->base, v->size ? v->size : ms_page_size());
	ms__dirty_set *sets[NSETS];
	view_sets(v, sets);
	for (size_t i = 0; i < NSETS; i++)
		ms__dirty_fini(sets[i]);
	ms__snapshot_detach_view(v->snap, v->mode);
	ms_snapshot_unref(v->snap);
	free(v);
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

static bool tracked(const ms_view *v)
{
	return v->mode == MS_VIEW_COW && v->ops && v->ops->id != MS_TRACKER_NONE;
}

/*
 * Hot pages (on by default). A fuzz loop writes mostly the same pages every
 * iteration (its stack, globals, heap). Tracked as usual, each of them costs
 * a write fault and two protection changes per iteration, several times the
 * copy that restores it. Instead, a page that a restore copies and that the
 * previous restore copied too is left writable: it stays in the dirty set,
 * is no longer tracked, and every restore copies it back. A check round
 * first compares the hot pages with the snapshot; those the iteration left
 * unchanged are protected again and tracked as before. A restore that finds
 * only hot pages dirty, off the check rounds, just copies them (with a
 * fault-driven tracker, which needs no collect). So a page written once
 * costs what it did, and a page written every iteration costs one copy, the
 * physical limit of any reset.
 *
 * Check rounds come every HOT_CHECK_MIN-th restore. A check that finds
 * every hot page changed doubles the interval, up to HOT_CHECK_MAX: a check
 * reads the pages once more and takes the slow path, which measurably slows
 * a steady loop when done every 16th restore (docs/tracking.md). A check
 * that cools a page brings the interval back to HOT_CHECK_MIN. A page the
 * program stops writing thus costs at most HOT_CHECK_MAX extra copies.
 */
enum { HOT_CHECK_MIN = 16, HOT_CHECK_MAX = 256 };

/* Whether this restore is a check round (counts the rounds). */
static bool hot_check_due(ms_view *v)
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

static void hot_forget(ms_view *v)
{
	ms__dirty_clear(&v->hot);
	ms__dirty_clear(&v->prev);
	v->hot_rounds = 0;
	v->hot_interval = HOT_CHECK_MIN;
}

/* Whether a hot page still holds the snapshot's content (checked before the
 * copy that restores it). */
static bool unchanged(const ms_view *v, size_t pg)
{
	unsigned shift = ms__page_shift();
	return memcmp(v->base + (pg << shift), ms__snapshot_page(v->snap, pg),
		      (size_t)1 << shift) == 0;
}

/* Before the copy: split the sorted dirty list in place into the pages to
 * protect again (first, still sorted; returns how many) and the pages that
 * stay hot (the new hot set, sorted). On `check` rounds a hot page the
 * iteration left unchanged is protected again. prev becomes this restore's
 * pages. */
static size_t hot_split(ms_view *v, size_t *list, size_t n, bool check)
{
	size_t nre = 0, cooled = 0;
	ms__dirty_clear(&v->scratch);
	for (size_t i = 0; i < n; i++) {
		size_t pg = list[i];
		bool stay;
		if (ms__dirty_has(&v->hot, pg)) {
			stay = !(check && unchanged(v, pg));
			cooled += !stay;
		} else {
			stay = ms__dirty_has(&v->prev, pg);
		}
		if (stay)
			ms__dirty_add(&v->scratch, pg);
		else
			list[nre++] = pg;
	}
	if (check)
		hot_checked(v, cooled);
	ms__dirty_clear(&v->prev);
	ms__dirty_clear(&v->hot);
	for (size_t i = 0; i < nre; i++)
		ms__dirty_add(&v->prev, list[i]);
	size_t nh = atomic_load(&v->scratch.n);
	for (size_t i = 0; i < nh; i++) {
		ms__dirty_add(&v->prev, v->scratch.list[i]);
		ms__dirty_add(&v->hot, v->scratch.list[i]);
	}
	return nre;
}

/* Put the hot pages, split off the dirty list by hot_split (their bits are
 * still set), back at its end. */
static void dirty_append_hot(ms_view *v)
{
	size_t n = atomic_load(&v->dirty.n);
	size_t nh = atomic_load(&v->hot.n);
	memcpy(v->dirty.list + n, v->hot.list, nh * sizeof *v->hot.list);
	atomic_store(&v->dirty.n, n + nh);
}

/* The dirty set after a restore: exactly the hot pages. */
static void dirty_keep_hot(ms_view *v)
{
	dirty_append_hot(v);
	ms__dirty_clear(&v->dirty);
	size_t nh = atomic_load(&v->hot.n);
	for (size_t i = 0; i < nh; i++)
		ms__dirty_add(&v->dirty, v->hot.list[i]);
}

/* Hot pages apply to every tracker that protects pages (not to none). */
static bool hot_active(const ms_view *v)
{
	return v->hot_enabled && v->ops->rearm != NULL && v->ops->id != MS_TRACKER_NONE;
}

/* Replace the whole mapping with `snap`'s content and start tracking anew.
 * This is the untracked restore, the restore after fork, and the restore to
 * an unrelated snapshot. */
static int remap_all(ms_view *v, ms_snapshot *snap)
{
	/* Until tracking is attached again the view counts as "forked"
	 * (untracked), so a failed remap is retried by the next restore. */
	v->pid = 0;
	v->ops->detach(v);
	ms__dirty_clear(&v->dirty);
	ms__dirty_clear(&v->kept);
	ms__dirty_clear(&v->discarded);
	hot_forget(v);
	int err = map_cow(v, snap);
	if (err)
		return err;
	v->protected_any = false;
	v->rearm_failed = false; /* a fresh mapping, tracked from scratch */
	err = attach_tracker(v, false);
	if (!err)
		v->pid = ms__pid();
	return err;
}

/* A view inherited through fork() lost its write tracking in the child
 * (the kernel does not copy userfaultfd registrations, and the tracker's
 * descriptors still refer to the parent's memory: the tracker must not be
 * called there). The first restore in the child falls back to a full remap
 * and re-attaches tracking there; until then the view is untracked. A view
 * whose remap failed midway is in the same state (pid 0). */
static bool forked(const ms_view *v)
{
	return v->pid != ms__pid();
}

static int reset_protection(ms_view *v)
{
	if (!v->protected_any)
		return 0;
	int err = v->ops && v->ops->reset_protection
		      ? v->ops->reset_protection(v)
		      : ms__protect(v->base, v->size, PROT_READ | PROT_WRITE);
	if (!err)
		v->protected_any = false;
	return err;
}

/*
 * Restoring a page by copying keeps it as a private copy of the snapshot's
 * content: fast to write again (no copy-on-write fault), but it is memory
 * the view would not need, and after many iterations that each write other
 * pages a view would hold a private copy of every page ever written. So the
 * view remembers the pages it restored by copying (`kept`); when they exceed
 * a budget, trim() discards them (MADV_DONTNEED), and they read the
 * snapshot's shared pages again.
 *
 * The budget starts at the larger of 1/128 of the view (8 MiB per GiB) and
 * 256 pages, and is at least 8x the pages of the restore. It adapts to the
 * workload: when at least a quarter of the pages a restore copies were
 * already kept or were discarded by the last trim, the program keeps writing
 * the same pages (a working set larger than the budget) and discarding them
 * would only make the next writes pay a copy-on-write fault, so the budget
 * doubles (up to the view's size). When
 * the written pages keep changing (a 1 GiB view, 100 new random pages per
 * iteration) few are kept twice, and memory stays within the budget.
 *
 * Discarding is only done once every page is write-protected again (after
 * rearm): the kernel then keeps a write-protect marker in the emptied entry
 * (uffd trackers) or the mapping is read-only (mprotect), so the next write
 * is still caught. Pages a stacked snapshot overrides hold content that the
 * shared pages do not have: they are kept.
 */
/* Give back the memory of runs of clean, write-protected pages and map the
 * snapshot's shared pages there again right away: views are normally fully
 * populated, so reads then need no fault, and uffd-async's page-table scan
 * is slower over emptied entries (write-protect markers) than over present
 * ones (restore at 1 GiB, 4,096 dirty pages: 9.1 ms against 7.0). A failure
 * leaves private copies that hold the right content, or empty entries that
 * fault in on the next read: nothing to report. */
static void discard(const struct iovec *iov, size_t n)
{
	if (ms__advise_ranges(iov, n, MADV_DONTNEED) == 0)
		(void)ms__advise_ranges(iov, n, MADV_POPULATE_READ);
}

/* A kept page may be discarded unless a stacked snapshot overrides it or it
 * is hot (writable: after a discard its next write would not be caught, and
 * would pay a copy-on-write fault). */
static bool discardable(const ms_view *v, const ms__ptab *over, size_t pg)
{
	return !(over && ms__ptab_get(over, pg)) && !ms__dirty_has(&v->hot, pg);
}

static void trim(ms_view *v, size_t restored, size_t rewritten)
{
	size_t n = atomic_load(&v->kept.n);
	size_t budget = v->kept_budget;
	if (budget < v->npages / 128)
		budget = v->npages / 128;
	if (budget < 256)
		budget = 256;
	if (budget < 8 * restored)
		budget = 8 * restored;
	if (4 * rewritten >= restored && restored > 0 && n > budget)
		budget = 2 * budget < v->npages ? 2 * budget : v->npages;
	v->kept_budget = budget;
	if (n <= budget)
		return;
	ms__dirty_clear(&v->discarded);
	ms__dirty_sort(&v->kept);
	const size_t *list = v->kept.list;
	unsigned shift = ms__page_shift();
	const ms__ptab *over = v->snap->ptab;
	enum { BATCH = 256 };
	struct iovec iov[BATCH];
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		if (!discardable(v, over, list[i])) {
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < n && list[j] == list[j - 1] + 1 && discardable(v, over, list[j]))
			j++;
		iov[k++] = (struct iovec){v->base + (list[i] << shift), (j - i) << shift};
		ms__dirty_add_run(&v->discarded, list[i], j - i);
		i = j;
		if (k == BATCH) {
			discard(iov, k);
			k = 0;
		}
	}
	if (k)
		discard(iov, k);
	ms__dirty_clear(&v->kept);
}

/* Copy pages list[0..n) (sorted) back from the snapshot. */
static void copy_back(ms_view *v, const size_t *list, size_t n)
{
	unsigned shift = ms__page_shift();
	if (!v->snap->ptab) {
		/* Plain snapshot: runs are contiguous in the source too. */
		const uint8_t *src = v->snap->rmap;
		for (size_t i = 0; i < n;) {
			size_t j = ms__run_end(list, i, n);
			memcpy(v->base + (list[i] << shift), src + (list[i] << shift),
			       (j - i) << shift);
			i = j;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			memcpy(v->base + (list[i] << shift), ms__snapshot_page(v->snap, list[i]),
			       (size_t)1 << shift);
	}
}

/* Copy every dirty page back from the snapshot, then re-arm them (except
 * the hot pages). */
static int restore_dirty(ms_view *v)
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
	bool hot = hot_active(v);
	bool check = hot && atomic_load(&v->hot.n) > 0 && hot_check_due(v);
	v->stats.last_restore_pages = n;
	v->stats.pages_restored += n;
	size_t nre = n;
	if (hot) {
		nre = hot_split(v, list, n, check);
		atomic_store(&v->dirty.n, nre);
		copy_back(v, v->hot.list, atomic_load(&v->hot.n));
	}
	copy_back(v, list, nre);
	err = v->ops->rearm(v);
	if (err) {
		if (hot) /* the hot pages are writable: keep them dirty */
			dirty_append_hot(v);
		v->rearm_failed = true;
		return err;
	}
	v->rearm_failed = false;
	size_t rewritten = 0;
	for (size_t i = 0; i < nre; i++)
		rewritten +=
		    !ms__dirty_add(&v->kept, list[i]) || ms__dirty_has(&v->discarded, list[i]);
	trim(v, nre, rewritten);
	if (hot)
		dirty_keep_hot(v);
	else
		ms__dirty_clear(&v->dirty);
	if (!hot && atomic_load(&v->hot.n))
		hot_forget(v); /* turned off: every page was protected again */
	return 0;
}

/* Statistics of a restore: the clock reading it starts with (unless the
 * view is untimed), then the count and the time once it succeeded. */
static uint64_t restore_started(const ms_view *v)
{
	return v->untimed ? 0 : ms__stopwatch_start(&v->clock);
}

static void restore_done(ms_view *v, uint64_t t0)
{
	v->stats.restores++;
	if (!v->untimed) {
		uint64_t dt = ms__stopwatch_ns(&v->clock, t0);
		v->stats.last_restore_ns = dt;
		v->stats.total_restore_ns += dt;
	}
}

/*
 * The steady state of a loop that writes the same pages every iteration:
 * every dirty page is hot (hot is a subset of dirty: equal counts), the
 * last restore copied the same pages, no check round is due and nothing was
 * protected. Such a restore is the copy and nothing else: no collect (the
 * trackers that have hot pages record writes as they happen), no sort,
 * nothing to protect or record. Kept apart from restore_dirty so that the
 * common case runs few instructions over few cache lines, which the
 * program's run between two restores evicts. Returns false, having changed
 * nothing, when restore_dirty is needed.
 */
static bool restore_hot_only(ms_view *v)
{
	if (!hot_active(v) || !v->ops->fault_driven || v->protected_any || v->rearm_failed ||
	    v->hot_rounds + 1 >= v->hot_interval)
		return false;
	size_t n = atomic_load(&v->dirty.n);
	if (n == 0 || n != atomic_load(&v->hot.n) || n != atomic_load(&v->prev.n) || forked(v))
		return false;
	v->hot_rounds++;
	v->stats.last_restore_pages = n;
	v->stats.pages_restored += n;
	copy_back(v, v->hot.list, n);
	return true;
}

int ms_view_restore(ms_view *v)
{
	if (!v)
		return -EINVAL;
	if (v->mode == MS_VIEW_SHARED || v->size == 0)
		return 0;
	uint64_t t0 = restore_started(v);
	int err;
	if (restore_hot_only(v)) {
		err = 0;
	} else if (!tracked(v) || forked(v)) {
		err = remap_all(v, v->snap);
		v->stats.last_restore_pages = v->npages;
	} else {
		err = restore_dirty(v);
	}
	if (err)
		return err;
	restore_done(v, t0);
	return 0;
}

/* Add pages to the dirty set and let writes to the new ones through. */
static int mark_dirty(ms_view *v, size_t first, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i <= n; i++) {
		/* A page already dirty is writable, unless a failed rearm
		 * protected it again. */
		if (i < n && (ms__dirty_add(&v->dirty, first + i) || v->rearm_failed)) {
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

static void add_own_pages(ms_view *v, const ms_snapshot *s)
{
	for (size_t i = 0; i < s->own_n; i++)
		ms__dirty_add(&v->dirty, s->own_pages[i]);
}

int ms_view_restore_to(ms_view *v, ms_snapshot *snap)
{
	if (!v || !snap || v->mode != MS_VIEW_COW || snap->size != v->size)
		return -EINVAL;
	if (snap == v->snap)
		return ms_view_restore(v);
	int err = ms__snapshot_attach_view(snap, MS_VIEW_COW);
	if (err)
		return err;
	uint64_t t0 = restore_started(v);
	ms_snapshot *old = v->snap;
	if (v->size == 0) {
		v->stats.last_restore_pages = 0; /* nothing to copy */
	} else if (!tracked(v) || forked(v) || snap->root != old->root) {
		err = remap_all(v, snap);
		v->stats.last_restore_pages = v->npages;
	} else {
		/* Pages that differ between the two snapshots are the pages
		 * stored by the levels between them and their common base. */
		err = v->ops->collect(v);
		size_t before = atomic_load(&v->dirty.n);
		const ms_snapshot *a = old, *b = snap;
		while (!err && a != b) {
			if (a->depth >= b->depth) {
				add_own_pages(v, a);
				a = a->parent;
			} else {
				add_own_pages(v, b);
				b = b->parent;
			}
		}
		/* Let memsnap's own copy into the newly added pages through. */
		size_t after = atomic_load(&v->dirty.n);
		for (size_t i = before; !err && i < after && v->ops->unprotect; i++)
			err = v->ops->unprotect(v, v->dirty.list[i], 1);
		if (!err) {
			v->snap = snap;
			err = restore_dirty(v);
			v->snap = old;
		}
	}
	if (err) {
		ms__snapshot_detach_view(snap, MS_VIEW_COW);
		return err;
	}
	v->snap = ms_snapshot_ref(snap);
	ms__snapshot_detach_view(old, MS_VIEW_COW);
	ms_snapshot_unref(old);
	restore_done(v, t0);
	return 0;
}

int ms_view_take_snapshot(ms_view *v, ms_snapshot **out)
{
	if (!v || !out)
		return -EINVAL;
	int err;
	if (!tracked(v) || forked(v) || v->size == 0) {
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
		if (tracked(v) && !forked(v) && s->root == v->snap->root) {
			/* The view already holds s's content: adopt it. */
			err = ms__snapshot_attach_view(s, MS_VIEW_COW);
			if (!err) {
				err = v->ops->rearm(v);
				v->rearm_failed = err != 0;
			}
			if (err) {
				ms_snapshot_unref(s);
				return err;
			}
			ms__dirty_clear(&v->dirty);
			hot_forget(v); /* rearm protected them too */
			ms__snapshot_detach_view(v->snap, MS_VIEW_COW);
			ms_snapshot_unref(v->snap);
			v->snap = ms_snapshot_ref(s);
		} else {
			err = ms_view_restore_to(v, s);
			if (err) {
				ms_snapshot_unref(s);
				return err;
			}
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
	int prot = PROT_NONE;
	if (access & (MS_ACCESS_READ | MS_ACCESS_WRITE))
		prot |= PROT_READ;
	if (access & MS_ACCESS_WRITE)
		prot |= PROT_WRITE;
	if (access & MS_ACCESS_EXEC)
		prot |= PROT_EXEC;
	unsigned shift = ms__page_shift();
	/* Set first: a protection that fails part way (ENOMEM past
	 * vm.max_map_count) may have changed some pages, which the next
	 * restore must reset before copying. */
	v->protected_any = true;
	return v->ops && v->ops->protect ? v->ops->protect(v, offset >> shift, len >> shift, prot)
					 : ms__protect(v->base + offset, len, prot);
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

int ms_view_set_restore_timing(ms_view *v, int enable)
{
	if (!v)
		return -EINVAL;
	v->untimed = !enable;
	return 0;
}

int ms_view_note_written(ms_view *v, size_t offset, size_t len)
{
	if (!v || offset > v->size || len > v->size - offset)
		return -EINVAL;
	if (!tracked(v) || forked(v) || len == 0)
		return 0; /* untracked: the next restore remaps everything */
	unsigned shift = ms__page_shift();
	size_t first = offset >> shift;
	size_t last = (offset + len - 1) >> shift;
	return mark_dirty(v, first, last - first + 1);
}

int ms_view_prepare_write(ms_view *v, size_t offset, size_t len)
{
	return ms_view_note_written(v, offset, len);
}

/* The common start of the dirty-set queries: 1 when the view has nothing to
 * report (shared or empty), -EOPNOTSUPP when it is not tracked, else the
 * result of making v->dirty complete. */
static int collect_for_query(ms_view *v)
{
	if (v->mode == MS_VIEW_SHARED || v->size == 0)
		return 1;
	if (!tracked(v) || forked(v))
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
