/*
 * libmemsnap internals shared by the core files and the trackers. Nothing
 * here is installed; names are ms__ (internal, non-static).
 */
#ifndef MEMSNAP_INTERNAL_H
#define MEMSNAP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memsnap/memsnap.h"
#include "os.h"

typedef struct ms__ptab ms__ptab;
typedef struct ms__pool ms__pool;

struct ms_snapshot {
	atomic_uint refs;
	size_t size;
	size_t npages;

	/* Plain snapshots: the memfd or file holding the content, and a
	 * read-only shared mapping of it that restores copy from. */
	ms_os_fd fd;
	uint64_t offset;  /* where the content starts in fd (page-aligned) */
	bool writable;	  /* fd is open for writing: shared views allowed */
	bool file_backed; /* fd is a user file, not a memfd of ours */
	const uint8_t *rmap;
	/* Stacked snapshots: the pages overriding root's (below; next to
	 * rmap, since restores read both). */
	ms__ptab *ptab;

	/* Views and stacked snapshots currently using this one. */
	pthread_mutex_t lock;
	unsigned cow_views;
	unsigned shared_views;
	bool frozen; /* snapshots were stacked on it: it must never change */

	/* Stacked (chained) snapshots: the content is `root` overridden by
	 * the pages in `ptab`; this level itself stores `own_n` pages
	 * (`own_pages`, sorted), page own_pages[i] in slot own_slots[i] of the
	 * root's pool. For a plain snapshot parent and ptab are NULL and root
	 * is the snapshot itself. */
	ms_snapshot *parent;
	ms_snapshot *root;
	size_t depth;
	size_t *own_pages;
	uint8_t **own_slots;
	size_t own_n;
	/* Root only: where the snapshots stacked on it keep their pages
	 * (created by the first one, under `lock`). */
	ms__pool *pool;
};

/* Where page `pg` of `snap`'s content can be read. O(log) for stacked
 * snapshots, O(1) for plain ones. */
const uint8_t *ms__snapshot_page(const ms_snapshot *snap, size_t pg);

/* Register/unregister a view on its snapshot, enforcing the shared-view
 * exclusion rules (-EBUSY, -EACCES, -EROFS). */
int ms__snapshot_attach_view(ms_snapshot *snap, ms_view_mode mode);
void ms__snapshot_detach_view(ms_snapshot *snap, ms_view_mode mode);

/* A stacked snapshot on `parent` whose pages `pages[0..n)` (sorted, unique)
 * read from `src + pages[i] * page size`. O(n): one page copy each. */
int ms__snapshot_stack(ms_snapshot *parent, const uint8_t *src, const size_t *pages, size_t n,
		       ms_snapshot **out);
/* The same; with `checked` the pages are copied through the kernel, so an
 * unreadable one gives -EFAULT (for a source the user may have protected). */
int ms__snapshot_stack_ex(ms_snapshot *parent, const uint8_t *src, const size_t *pages, size_t n,
			  bool checked, ms_snapshot **out);

/* ---- Dirty-page set of a view ------------------------------------------ */

/* A set of page indices with O(1) insert from any thread or a signal
 * handler (lock-free, async-signal-safe) and O(n) enumeration. The arrays
 * are reserved address space, so a sparse 64 GiB view costs nothing until
 * pages are dirtied. */
typedef struct ms__dirty_set {
	_Atomic uint64_t *bits;
	size_t *list;
	atomic_size_t n;
	size_t npages;
	size_t bits_bytes, list_bytes;
} ms__dirty_set;

int ms__dirty_init(ms__dirty_set *d, size_t npages);
void ms__dirty_fini(ms__dirty_set *d);
/* Add one page; returns true if it was not in the set. Signal-safe. */
static inline bool ms__dirty_add(ms__dirty_set *d, size_t pg)
{
	uint64_t bit = (uint64_t)1 << (pg & 63);
	/* A page already in the set costs a plain load, not a locked
	 * read-modify-write: announced writes (ms_view_note_written from a
	 * write hook) mostly name pages already there. */
	if (atomic_load_explicit(&d->bits[pg >> 6], memory_order_relaxed) & bit)
		return false;
	uint64_t old = atomic_fetch_or_explicit(&d->bits[pg >> 6], bit, memory_order_relaxed);
	if (old & bit)
		return false;
	size_t slot = atomic_fetch_add_explicit(&d->n, 1, memory_order_relaxed);
	d->list[slot] = pg;
	return true;
}
/* ms__dirty_add for a set that only the thread calling into memsnap
 * changes (every set of a view but its dirty set, which fault handlers and
 * tracker threads fill concurrently): plain loads and stores, no locked
 * instruction. */
static inline bool ms__dirty_add_local(ms__dirty_set *d, size_t pg)
{
	uint64_t bit = (uint64_t)1 << (pg & 63);
	uint64_t word = atomic_load_explicit(&d->bits[pg >> 6], memory_order_relaxed);
	if (word & bit)
		return false;
	atomic_store_explicit(&d->bits[pg >> 6], word | bit, memory_order_relaxed);
	size_t n = atomic_load_explicit(&d->n, memory_order_relaxed);
	d->list[n] = pg;
	atomic_store_explicit(&d->n, n + 1, memory_order_relaxed);
	return true;
}
static inline bool ms__dirty_has(const ms__dirty_set *d, size_t pg)
{
	return (atomic_load_explicit(&d->bits[pg >> 6], memory_order_relaxed) >> (pg & 63)) & 1;
}
void ms__dirty_add_run(ms__dirty_set *d, size_t first, size_t n);
/* Sort the list (in place) and empty nothing. O(n log n). */
void ms__dirty_sort(ms__dirty_set *d);
/* A run of neighbouring pages: [first, first + n). */
typedef struct ms__page_run {
	size_t first;
	size_t n;
} ms__page_run;

/* The page-run iterator: the next run of the page list list[0..n) from
 * list[*i] on (neighbours and duplicates join a run; a step down ends it, so
 * an unsorted list gives correct, shorter runs), advancing *i past it.
 * Returns false when the list is exhausted. Usage:
 *
 *	size_t i = 0;
 *	ms__page_run r;
 *	while (ms__next_run(list, n, &i, &r))
 *		use(r.first, r.n);
 */
static inline bool ms__next_run(const size_t *list, size_t n, size_t *i, ms__page_run *run)
{
	if (*i >= n)
		return false;
	size_t j = *i + 1;
	while (j < n && (list[j] == list[j - 1] + 1 || list[j] == list[j - 1]))
		j++;
	run->first = list[*i];
	run->n = list[j - 1] - list[*i] + 1;
	*i = j;
	return true;
}

/* The same over the pages [*pg, end) for which keep(ctx, page) holds: the
 * next run of such pages, advancing *pg past it. */
static inline bool ms__next_run_where(size_t *pg, size_t end, bool (*keep)(const void *, size_t),
				      const void *ctx, ms__page_run *run)
{
	while (*pg < end && !keep(ctx, *pg))
		(*pg)++;
	if (*pg >= end)
		return false;
	size_t j = *pg + 1;
	while (j < end && keep(ctx, j))
		j++;
	run->first = *pg;
	run->n = j - *pg;
	*pg = j;
	return true;
}
/* Sort a list of page indices in place. */
void ms__pages_sort(size_t *list, size_t n);
/* The runs of a sorted page list (neighbours and duplicates merged) as byte
 * ranges: writes up to `cap`, returns how many runs there are. */
long ms__pages_to_ranges(const size_t *list, size_t n, ms_range *ranges, size_t cap);
/* Empty the set. O(n). */
void ms__dirty_clear(ms__dirty_set *d);

/* ---- Trackers ---------------------------------------------------------- */

/*
 * The contract every dirty-page tracker implements. A tracker watches the
 * writable pages of one copy-on-write view and records every page written
 * into view->dirty, either as the write happens (fault-driven trackers) or
 * when collect() is called (scanning trackers). Between arm and collect,
 * every write through any mapping of the view's range, by any thread, must
 * end up recorded, or fail visibly (EFAULT for kernel writes), never be lost.
 *
 *  probe()          0 if this process can use the tracker, else -errno.
 *  attach(v)        start watching the whole view (v->dirty is empty and the
 *                   view's memory equals its snapshot). May set
 *                   v->tracker_state. Called again after the mapping was
 *                   replaced (after detach).
 *  detach(v)        stop watching (before munmap or remap); never fails.
 *  collect(v)       make v->dirty complete: every page written since attach
 *                   or the last rearm is in it (no-op for fault-driven
 *                   trackers, which add pages as the writes happen).
 *  rearm(v)         every page in v->dirty now holds snapshot content (or was
 *                   adopted by a new snapshot): watch them all again. The
 *                   caller empties v->dirty afterwards.
 *  unprotect(v,p,n) pages [p, p+n), already in v->dirty, are about to be
 *                   written by memsnap itself or by a writer the tracker may
 *                   not see: let such writes through without a fault.
 *  protect(v,p,n,access) apply a user protection (MS_ACCESS_* bits) to
 *                   [p, p+n); NULL means plain ms__os_protect. Pages given
 *                   write access may be added to v->dirty by trackers that
 *                   rely on protection.
 *  reset_protection(v) make the whole view read/write again after user
 *                   protections, keeping tracking intact; NULL means plain
 *                   ms__os_protect(MS_ACCESS_READ | MS_ACCESS_WRITE).
 */
typedef struct ms__tracker_ops {
	ms_tracker id;
	const char *name;
	int (*probe)(void);
	int (*attach)(ms_view *v);
	void (*detach)(ms_view *v);
	int (*collect)(ms_view *v);
	int (*rearm)(ms_view *v);
	int (*unprotect)(ms_view *v, size_t first, size_t n);
	int (*protect)(ms_view *v, size_t first, size_t n, unsigned access);
	int (*reset_protection)(ms_view *v);
	/* Writes are recorded as they fault (uffd-sync, mprotect): a page
	 * left unprotected is simply not recorded again, which hot pages
	 * (view.c) rely on. */
	bool fault_driven;
	/* Only calls from the thread using the view add to v->dirty (noted):
	 * no handler or tracker thread races them, so plain stores do. */
	bool caller_records;
} ms__tracker_ops;

extern const ms__tracker_ops ms__tracker_uffd_thread;
extern const ms__tracker_ops ms__tracker_uffd_async;
extern const ms__tracker_ops ms__tracker_uffd_sync;
extern const ms__tracker_ops ms__tracker_mprotect;
extern const ms__tracker_ops ms__tracker_none;
extern const ms__tracker_ops ms__tracker_noted;

/* The order MS_TRACKER_AUTO tries trackers in, ending with MS_TRACKER_NONE:
 * the platform's (lib/linux/, lib/win/), which says why. */
extern const ms_tracker ms__tracker_auto_order[];

const ms__tracker_ops *ms__tracker_get(ms_tracker t);
/* The tracker MS_TRACKER_AUTO picks. A probe that fails for lack of a
 * resource (descriptors, memory) fails the choice with its error, rather
 * than falling back to a slower tracker or to none without a word. */
int ms__tracker_auto(ms_tracker *out);
/* The tracker MEMSNAP_TRACKER names (MS_TRACKER_AUTO when unset or
 * "auto"), or -EINVAL for a name that is no tracker's. */
int ms__tracker_from_env(ms_tracker *out);
/* The tracker of a new CoW view asked for `tracker`: MS_TRACKER_AUTO is
 * MEMSNAP_TRACKER's, else the best this process can use. *strict tells
 * whether the caller named the tracker (no fallback, -EOPNOTSUPP when the
 * kernel lacks it). */
int ms__tracker_choose(ms_tracker tracker, const ms__tracker_ops **out, bool *strict);
/* Start tracking v with v->ops. A tracker may be unable to watch a
 * particular kind of memory (uffd-sync cannot watch private mappings of
 * regular files); unless `strict`, the view then falls back to the trackers
 * that can (uffd-async, else none), so it keeps working. */
int ms__tracker_attach(ms_view *v, bool strict);

struct ms_view {
	/* First what every restore reads, together: the program's run between
	 * two restores evicts it from the cache, and each line costs. */
	uint8_t *base;
	ms_snapshot *snap; /* what restore returns to (owned reference) */
	const ms__tracker_ops *ops;
	ms_view_mode mode;
	int pid;	    /* process that attached the tracker (fork detection) */
	bool protected_any; /* ms_view_protect was used since the last restore */
	/* A rearm failed part way: pages of the dirty set may be protected
	 * again, so announced writes unprotect every page they name (until a
	 * restore re-arms everything). */
	bool rearm_failed;
	bool hot_enabled;
	unsigned char page_shift;	   /* log2 of the page size */
	unsigned hot_rounds, hot_interval; /* restores since/between checks */
	size_t size;
	size_t npages;
	ms__dirty_set dirty;
	/* Hot pages (view.c): pages left writable across restores, always in
	 * `dirty`; `prev` holds the pages the last restore copied; `scratch`
	 * is hot_split's work list. */
	ms__dirty_set hot, prev;
	ms_view_stats stats;
	ms__dirty_set scratch;
	/* Pages restored by copying since the mapping was made or last
	 * trimmed: each holds a private copy of snapshot content. */
	ms__dirty_set kept;
	ms__dirty_set discarded; /* pages the last trim discarded */
	size_t kept_budget;	 /* kept pages allowed before trimming (view.c) */
	void *tracker_state;
};

/* ---- Views (view.c, restore.c, hot.c, trim.c, query.c) ---------------- */

/* Map `snap`'s content copy-on-write at the view's address (fixed when the
 * view already has one). O(1) plus the pages a stacked snapshot overrides. */
int ms__view_map(ms_view *v, ms_snapshot *snap);
/* Add pages [first, first+n) to the dirty set and let writes to the new
 * ones through (ms_view_note_written). */
int ms__view_mark_dirty(ms_view *v, size_t first, size_t n);

/* A tracked CoW view: restores copy pages back rather than remap. */
static inline bool ms__view_tracked(const ms_view *v)
{
	return v->mode == MS_VIEW_COW && v->ops && v->ops->id != MS_TRACKER_NONE;
}

/* A view inherited through fork() lost its write tracking in the child
 * (the kernel does not copy userfaultfd registrations, and the tracker's
 * descriptors still refer to the parent's memory: the tracker must not be
 * called there). The first restore in the child falls back to a full remap
 * and re-attaches tracking there; until then the view is untracked. A view
 * whose remap failed midway is in the same state (pid 0). */
static inline bool ms__view_forked(const ms_view *v)
{
	return v->pid != ms__os_pid();
}

/* Hot pages (hot.c). Whether they apply to v (on, and a tracker that
 * protects pages). */
bool ms__hot_active(const ms_view *v);
/* Whether this restore is a check round (counts the rounds). */
bool ms__hot_check_due(ms_view *v);
/* Forget every hot page (they were all protected again). */
void ms__hot_forget(ms_view *v);
/* Before the copy from `src`: split the sorted dirty list in place into the
 * pages to protect again (first, still sorted; returns how many) and the
 * pages that stay hot (the new hot set, sorted). On `check` rounds a hot
 * page the iteration left unchanged is protected again. prev becomes this
 * restore's pages. */
size_t ms__hot_split(ms_view *v, const ms_snapshot *src, size_t *list, size_t n, bool check);
/* Put the hot pages, split off the dirty list by ms__hot_split (their bits
 * are still set), back at its end. */
void ms__hot_append(ms_view *v);
/* The dirty set after a restore: exactly the hot pages. */
void ms__hot_keep(ms_view *v);

/* After a restore from `src` that copied and re-armed list[0..n): keep
 * those pages' private copies up to a budget, discard them beyond (trim.c). */
void ms__trim(ms_view *v, const ms_snapshot *src, const size_t *list, size_t n);

/* Call fn(ctx, level) for every level between snapshots a and b (one
 * family) and their nearest common ancestor: the levels whose pages may
 * differ between them. */
void ms__snapshot_foreach_between(const ms_snapshot *a, const ms_snapshot *b,
				  void (*fn)(void *ctx, const ms_snapshot *level), void *ctx);

/* Read the environment settings again (lib/options.c); for tests that
 * change them, never while another thread may read them. */
void ms__options_reload(void);

/* ---- Misc -------------------------------------------------------------- */

/* log2 of the page size. */
unsigned ms__page_shift(void);

#endif /* MEMSNAP_INTERNAL_H */
