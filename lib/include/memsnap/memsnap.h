/*
 * memsnap: memory snapshots and copy-on-write views that reset in
 * O(dirty pages).
 *
 * A snapshot (ms_snapshot) is a block of memory held by a memfd or a file. It
 * changes only through a shared view of it (below), or when whoever holds
 * its file writes the file. The memfds memsnap creates are sealed against
 * shrinking and growing; once snapshots are stacked on one it is frozen and
 * sealed against writes too. A file given by the caller is the caller's:
 * shrinking it under a view makes the pages past its new end raise SIGBUS,
 * as with any mapping of it. Another process that opens the memfd through
 * /proc/PID/fd can still write to it until it is frozen.
 * A view (ms_view) maps a snapshot into the address space:
 *
 *   - a copy-on-write view (MS_VIEW_COW) keeps its writes private; any
 *     number of them can exist, in any threads;
 *   - a shared view (MS_VIEW_SHARED) writes straight into the snapshot and
 *     excludes every other view of it while it exists.
 *
 * A copy-on-write view tracks the pages written since it was created or last
 * restored (see ms_tracker), so ms_view_restore() and
 * ms_view_take_snapshot() cost what was written, not the size of the view.
 *
 * Conventions: every int return is 0 (or a count) on success and a negative
 * errno on failure; ms_strerror() describes every value. Constructors hand
 * their object out through the last parameter and leave *out untouched on
 * failure. Destructors and unref accept NULL. Nothing aborts or prints on bad
 * input.
 *
 * Thread-safety: snapshots may be shared between threads (ref/unref are
 * atomic; views of one snapshot may be created and freed concurrently). A
 * single view is used by one thread at a time for calls into memsnap; any
 * thread may store through its data pointer between such calls.
 */
#ifndef MEMSNAP_MEMSNAP_H
#define MEMSNAP_MEMSNAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported functions: dllexport while building the DLL, dllimport for its
 * users (define MS_STATIC when linking the static library on Windows);
 * default visibility elsewhere (the library builds with -fvisibility=hidden). */
#if defined(_WIN32)
#if defined(MS_BUILDING_LIBRARY)
#define MS_API __declspec(dllexport)
#elif defined(MS_STATIC)
#define MS_API
#else
#define MS_API __declspec(dllimport)
#endif
#elif defined(MS_BUILDING_LIBRARY) && defined(__GNUC__)
#define MS_API __attribute__((visibility("default")))
#else
#define MS_API
#endif

/* An open file as the operating system hands it out: a descriptor on POSIX
 * systems, a HANDLE on Windows. Calls that take one duplicate it; the caller
 * keeps its own. */
#if defined(_WIN32)
typedef void *ms_os_fd;
#else
typedef int ms_os_fd;
#endif

#define MS_VERSION_MAJOR 0
#define MS_VERSION_MINOR 2
#define MS_VERSION_PATCH 0
#define MS_VERSION_STRING "0.2.0"

/* Errors outside the errno space. Negative like errno values; the range
 * [MS_ERR_BASE - 999, MS_ERR_BASE] is reserved for memsnap, and within it
 * [MS_ERR_UC_BASE - 99, MS_ERR_UC_BASE] holds Unicorn's uc_err values
 * (MS_ERR_UC_BASE - uc_err). */
#define MS_ERR_BASE (-10000)
#define MS_ERR_CORRUPT (MS_ERR_BASE - 1)   /* a file's checksum or structure is wrong */
#define MS_ERR_FORMAT (MS_ERR_BASE - 2)	   /* not a memsnap file, or an unknown version */
#define MS_ERR_MISMATCH (MS_ERR_BASE - 3)  /* a file belongs to another base/arch/engine */
#define MS_ERR_UC_BASE (MS_ERR_BASE - 100) /* Unicorn uc_err e is MS_ERR_UC_BASE - e */

typedef struct ms_snapshot ms_snapshot;
typedef struct ms_view ms_view;

typedef enum ms_view_mode { MS_VIEW_COW, MS_VIEW_SHARED } ms_view_mode;

enum {
	MS_ACCESS_NONE = 0,
	MS_ACCESS_READ = 1,
	MS_ACCESS_WRITE = 2,
	MS_ACCESS_EXEC = 4,
};

/* How a copy-on-write view finds the pages written since its last restore.
 * MS_TRACKER_AUTO picks the best one this process can use: uffd-thread,
 * else uffd-async, else uffd-sync, else none (docs/tracking.md; measured
 * costs in docs/benchmarks.md). Every tracker AUTO picks before uffd-sync
 * sees every writer, the kernel included. The environment variable
 * MEMSNAP_TRACKER (auto, uffd-thread, uffd-async, uffd-sync, mprotect,
 * none, noted; see ms_option_get) overrides MS_TRACKER_AUTO. */
typedef enum ms_tracker {
	MS_TRACKER_AUTO = 0,
	/* userfaultfd write-protect, asynchronous mode, read with PAGEMAP_SCAN.
	 * Sees every writer, the kernel included. Restore scans the page
	 * tables of the view: O(size of the view) plus O(dirty). */
	MS_TRACKER_UFFD_ASYNC,
	/* userfaultfd write-protect, synchronous mode, faults logged by a
	 * SIGBUS handler. O(dirty) restore. The kernel's own writes into the
	 * view (read(2), ...) fail with EFAULT unless announced with
	 * ms_view_note_written() first. */
	MS_TRACKER_UFFD_SYNC,
	/* mprotect + SIGSEGV handler. O(dirty) restore, one mapping split per
	 * dirty run; kernel writes fail with EFAULT unless announced with
	 * ms_view_note_written() first. */
	MS_TRACKER_MPROTECT,
	/* No tracking: restore remaps the whole view (cost follows the pages
	 * touched since the last restore) and take_snapshot copies it. */
	MS_TRACKER_NONE,
	/* userfaultfd write-protect, synchronous mode, each first write to a
	 * page served by a thread of the view. O(dirty) restore, and sees
	 * every writer, the kernel included. Needs a userfaultfd that receives
	 * the kernel's faults (privilege: CAP_SYS_PTRACE, /dev/userfaultfd or
	 * vm.unprivileged_userfaultfd=1) and memfd-backed snapshots; not under
	 * valgrind or in ThreadSanitizer builds. A view whose first writes per
	 * restore would cost more in round trips than a scan of its page
	 * tables moves, inside a restore, to a mode that works as
	 * MS_TRACKER_UFFD_ASYNC, and back when that pays (docs/tracking.md). */
	MS_TRACKER_UFFD_THREAD,
	/* Exactly the pages announced with ms_view_note_written(): no page is
	 * protected, nothing faults, and a write that is not announced is NOT
	 * undone by a restore. O(dirty) restore. For writers that announce
	 * every write themselves (the Unicorn runtime's write hook); never
	 * chosen by MS_TRACKER_AUTO. */
	MS_TRACKER_NOTED,
	MS_TRACKER_COUNT_
} ms_tracker;

/* ---- General ---------------------------------------------------------- */

/* The system page size in bytes. O(1). */
MS_API size_t ms_page_size(void);

/* A static, human-readable description of any value returned by memsnap
 * (0, a negative errno, or an MS_ERR_* value). Never NULL. */
MS_API const char *ms_strerror(int err);

/* The library version as "MAJOR.MINOR.PATCH". */
MS_API const char *ms_version(void);

/* ---- Snapshots -------------------------------------------------------- */

/* A snapshot of `size` zero bytes (rounded up to the page size) in an
 * anonymous close-on-exec memfd, sealed against shrinking and growing.
 * Costs no memory until pages are written. O(1). Errors: -ENOMEM, -EMFILE,
 * -EOVERFLOW (size too large), -EFBIG (size above the process's file-size
 * limit, RLIMIT_FSIZE, which memfds count against; no SIGXFSZ is raised),
 * -EINVAL (out is NULL). */
MS_API int ms_snapshot_zeroed(size_t size, ms_snapshot **out);

/* A snapshot holding a copy of `len` bytes at `buf` (rounded up to the page
 * size with zeros). O(len). `buf` may be NULL only when len is 0.
 * Errors: as ms_snapshot_zeroed, -EINVAL. */
MS_API int ms_snapshot_from_buffer(const void *buf, size_t len, ms_snapshot **out);

/* A snapshot backed by the regular file open at `fd`. The descriptor is
 * duplicated (the caller keeps its own). The file is mapped, not copied:
 * views are ready in O(1) and read pages lazily. If the descriptor is
 * read-only, copy-on-write views still work and shared views fail with
 * -EACCES. The size is the file's size rounded up to the page size.
 * Errors: -EBADF, -EISDIR, -EINVAL (not a regular file), -ENOMEM, -EMFILE. */
MS_API int ms_snapshot_from_fd(ms_os_fd fd, ms_snapshot **out);

/* As ms_snapshot_from_fd, for the `size` bytes at `offset` of the file
 * (offset page-aligned; the range must lie inside the file, except that the
 * last page may be partial). Lets one file hold several snapshots, such as
 * the RAM regions of a save state. Errors: as ms_snapshot_from_fd, -EINVAL
 * (misaligned offset, range outside the file). */
MS_API int ms_snapshot_from_fd_range(ms_os_fd fd, uint64_t offset, size_t size, ms_snapshot **out);

/* ms_snapshot_from_fd on `path`, opened read-write where permitted, else
 * read-only. Errors: as open(2) (-ENOENT, -EACCES, ...), -EISDIR, -EINVAL. */
MS_API int ms_snapshot_from_file(const char *path, ms_snapshot **out);

/* An independent copy of `snap` in a new memfd: later writes to either never
 * show in the other. A chained snapshot is flattened. O(size). */
MS_API int ms_snapshot_clone(ms_snapshot *snap, ms_snapshot **out);

/* The size in bytes (a multiple of the page size). 0 for NULL. */
MS_API size_t ms_snapshot_size(const ms_snapshot *snap);

/* How many snapshots this one is stacked on (0 for a plain snapshot). */
MS_API size_t ms_snapshot_depth(const ms_snapshot *snap);

/* Bytes of memory that belong to this snapshot alone (the pages it stores
 * itself; for a plain memfd snapshot, the pages written so far). */
MS_API size_t ms_snapshot_own_bytes(const ms_snapshot *snap);

/* Take a reference (atomic). Returns `snap`. NULL-safe. */
MS_API ms_snapshot *ms_snapshot_ref(ms_snapshot *snap);

/* Drop a reference (atomic); the last one frees the snapshot. Views hold
 * their own reference. NULL-safe. */
MS_API void ms_snapshot_unref(ms_snapshot *snap);

/* Copy `len` bytes at `offset` of the snapshot's content into `dst`.
 * O(len). Errors: -EINVAL (range outside the snapshot). */
MS_API int ms_snapshot_read(ms_snapshot *snap, size_t offset, void *dst, size_t len);

/* A run of pages: byte offset and length in the view. */
typedef struct ms_range {
	size_t offset;
	size_t len;
} ms_range;

/* ---- Views ------------------------------------------------------------ */

/* Map a view of `snap`. A CoW view uses the tracker given by
 * MEMSNAP_TRACKER or MS_TRACKER_AUTO. O(1) for plain snapshots; for a
 * chained snapshot O(pages that differ from its plain base). The
 * userfaultfd trackers protect a view of a plain snapshot when tracking is
 * first needed (the first restore, snapshot or dirty-set query): that call
 * costs O(size) once (docs/tracking.md, "When tracking starts").
 * Errors: -EBUSY (a shared view exists, or a shared view was asked while any
 * view exists), -EACCES (shared view of a read-only file), -EROFS (shared
 * view of a snapshot other snapshots are stacked on, which must never
 * change), -EINVAL, -ENOMEM (also when the userfaultfd trackers' page
 * tables for the whole view, 8 bytes a page, would take more than half the
 * free memory); -EMFILE, -ENFILE, -EAGAIN when the tracker
 * cannot have the descriptors or the thread it needs (a view never falls
 * back to a slower tracker, or to none, for lack of resources). */
MS_API int ms_view_new(ms_snapshot *snap, ms_view_mode mode, ms_view **out);

/* As ms_view_new with an explicit tracker for a CoW view (ignored for shared
 * views). Errors: also -EOPNOTSUPP when the kernel lacks that tracker (the
 * message names what is missing). */
MS_API int ms_view_new_tracked(ms_snapshot *snap, ms_view_mode mode, ms_tracker tracker,
			       ms_view **out);

/* Unmap the view and drop its snapshot reference. NULL-safe. */
MS_API void ms_view_free(ms_view *view);

/* The view's memory: size bytes, read/write unless ms_view_protect changed
 * that. Never NULL, also for a zero-sized view. The address never changes. */
MS_API void *ms_view_data(const ms_view *view);
MS_API size_t ms_view_size(const ms_view *view);
MS_API ms_view_mode ms_view_mode_of(const ms_view *view);

/* The snapshot the view currently restores to (borrowed reference). */
MS_API ms_snapshot *ms_view_snapshot(const ms_view *view);

/* The tracker in use, and its name ("uffd-async", ...). */
MS_API ms_tracker ms_view_tracker(const ms_view *view);
MS_API const char *ms_tracker_name(ms_tracker tracker);

/* Whether this process can use `tracker` (0) or why not (negative errno).
 * MS_TRACKER_AUTO resolves to the tracker views would get; any other known
 * tracker to itself, and a value that names no tracker to
 * MS_TRACKER_NONE. */
MS_API int ms_tracker_probe(ms_tracker tracker);
MS_API ms_tracker ms_tracker_resolve(ms_tracker tracker);

/* Make a CoW view equal its snapshot again, keeping its address, and reset
 * every protection to read/write. Returns the number of pages put back (0
 * or more: those it copied, or every page of the view when it mapped the
 * snapshot again; INT_MAX at most, ms_view_get_stats has the exact count).
 * O(dirty pages) with a tracker (plus, with uffd-async, a scan of the page
 * tables of the pages the view touched); with MS_TRACKER_NONE O(pages
 * touched). On a shared view: a no-op returning 0. The caller must not
 * write to the view concurrently. After a failure (negative errno) the
 * view may be partly restored; calling restore again completes it.
 * Memory: a tracked restore copies the snapshot's content into the written
 * pages, which stay private to the view (the next write to them is
 * cheaper). Once more than max(1/128 of the view, 8x the pages of this
 * restore, 256) pages are held that way, the restore discards them
 * (MADV_DONTNEED, O(runs of pages)) and they share the snapshot's pages
 * again, so a view's memory follows its recent writes, not every page ever
 * written. Figures: docs/benchmarks.md. */
MS_API int ms_view_restore(ms_view *view);

/* Make a CoW view equal `snap` and make `snap` its snapshot from now on.
 * `snap` must have the same size. Returns the pages put back, as
 * ms_view_restore. O(dirty pages + pages that differ between the view's
 * snapshot and `snap`) when both belong to one family (stacked on the same
 * plain snapshot); O(size) otherwise. Errors: -EINVAL (other size, shared
 * view), -ENOMEM. */
MS_API int ms_view_restore_to(ms_view *view, ms_snapshot *snap);

/* ms_view_restore_to(view, snap), or ms_view_restore(view) when `snap` is
 * NULL, that also reports what it put back: the runs of restored pages in
 * `ranges` (capacity `cap`; sorted, adjacent pages merged; one run of the
 * whole view when it mapped the snapshot again) and their page count in
 * *pages (when not NULL). Returns the total number of runs, which may
 * exceed cap (then only cap were written), or a negative errno as the
 * restores. Same cost as the restore: the runs come from the list it sorts
 * anyway. */
MS_API long ms_view_restore_ranges(ms_view *view, ms_snapshot *snap, ms_range *ranges, size_t cap,
				   size_t *pages);

/* A snapshot of the view's current content that later writes to the view
 * never change. Unwritten CoW view: a new reference to its own snapshot,
 * O(1). Tracked CoW view: a snapshot stacked on the view's snapshot that
 * stores only the pages written since the last restore, O(dirty pages): one
 * page copy each into memory the family of snapshots keeps for reuse (the
 * pages of freed stacked snapshots stay allocated, up to max(1024 pages, the
 * pages in use), until the plain snapshot at the root is freed). Otherwise
 * O(size) copy. Errors: -ENOMEM; -EFAULT when a written page was made
 * unreadable with ms_view_protect. */
MS_API int ms_view_take_snapshot(ms_view *view, ms_snapshot **out);

/* ms_view_take_snapshot, then make the new snapshot the view's own (so the
 * next restore returns here and dirty tracking starts afresh). O(dirty). */
MS_API int ms_view_checkpoint(ms_view *view, ms_snapshot **out);

/* Set the access of [offset, offset+len): both page-aligned, len > 0, inside
 * the view, else -EINVAL. WRITE implies READ; NONE blocks all access; EXEC as
 * asked. O(len / page size). Restore resets protections to read/write. */
MS_API int ms_view_protect(ms_view *view, size_t offset, size_t len, unsigned access);

/* ---- Dirty tracking ---------------------------------------------------- */

/* Tell the view that [offset, offset+len) has been (or is about to be)
 * written by a writer its tracker may not see. Any alignment; rounded out to
 * pages. Such pages are restored like any other dirty page. Call it before
 * a write a synchronous tracker would refuse (the kernel writing through
 * read(2), for instance): it also makes the range writable. The noted
 * tracker records nothing else. O(pages); a page already dirty costs one
 * bit test. Errors: -EINVAL (outside the view). A no-op on shared and
 * untracked views. */
MS_API int ms_view_note_written(ms_view *view, size_t offset, size_t len);

/* Hot pages, for loops that write mostly the same pages every iteration (a
 * fuzz target's stack, globals and heap). Otherwise each such page costs,
 * every iteration, a write fault and two protection changes on top of its
 * copy. With hot pages, a page copied back by two restores in a row stays
 * writable and untracked: it is dirty from then on and every restore copies
 * it back; a check round compares the hot pages with the snapshot and
 * tracks again those the iteration left unchanged (every 16th restore,
 * backing off to every 256th while every hot page keeps changing, so a page
 * the program stops writing costs at most 256 extra copies). Restores stay
 * exact; what changes is the dirty set: ms_view_dirty_ranges/count also
 * report the hot pages, which may hold the snapshot's content (a superset
 * of the pages written, never a subset), and ms_view_take_snapshot stores
 * them. On by default for every tracker but none; `enable` zero turns it
 * off (exact dirty sets, every page protected again at each restore). O(1).
 * Errors: -EINVAL (NULL or shared view). */
MS_API int ms_view_set_hot_pages(ms_view *view, int enable);

/* Fill `ranges` (capacity `cap`) with the runs of pages written since the
 * last restore, sorted by offset, adjacent pages merged. Returns the total
 * number of runs (which may exceed cap; then only cap were written).
 * O(dirty pages). */
MS_API long ms_view_dirty_ranges(ms_view *view, ms_range *ranges, size_t cap);

/* The runs of pages whose content may differ between snapshots `a` and `b`
 * of one family (stacked on each other, or on a common snapshot): the pages
 * stored by the levels between each of them and their nearest common
 * ancestor. Sorted, adjacent pages merged; returns the total number of runs
 * (which may exceed cap; then only cap were written). A restore of a view
 * from `a` to `b` (ms_view_restore_to) changes no page outside these runs
 * and the view's dirty ones. O(p log p), p = pages stored between them.
 * Errors: -EINVAL, -EXDEV (not one family: every page may differ), -ENOMEM.
 * Thread-safety: snapshots are immutable; any thread. */
MS_API long ms_snapshot_diff_ranges(const ms_snapshot *a, const ms_snapshot *b, ms_range *ranges,
				    size_t cap);

/* The number of pages written since the last restore. O(dirty) worst case. */
MS_API long ms_view_dirty_count(ms_view *view);

typedef struct ms_view_stats {
	uint64_t restores;	 /* restores done */
	uint64_t pages_restored; /* pages copied back, over all restores */
	/* Pages the last restore put back: those it copied, or every page of
	 * the view when it mapped the snapshot again (an untracked view, the
	 * first restore after fork, a restore to an unrelated snapshot). */
	uint64_t last_restore_pages;
	uint64_t snapshots_taken;
} ms_view_stats;

/* Copy the view's statistics into *stats. O(1). */
MS_API int ms_view_get_stats(const ms_view *view, ms_view_stats *stats);

/* Compare the view with its snapshot page by page. Writes up to `cap`
 * offsets of mismatching pages that are NOT known dirty (a writer the
 * tracker missed) to `missed`, and returns how many such pages there are.
 * O(size). */
MS_API long ms_view_verify(ms_view *view, size_t *missed, size_t cap);

/* ---- Settings --------------------------------------------------------- */

/* The settings memsnap reads from the environment. Each variable is read
 * once, by the first call that needs a setting; a later change of the
 * environment is not seen. */
typedef enum ms_option {
	/* MEMSNAP_TRACKER: the tracker of views made with MS_TRACKER_AUTO, by
	 * name (ms_tracker_name); the value is an ms_tracker. */
	MS_OPTION_TRACKER,
	/* MEMSNAP_UC_TRACKING: the Unicorn runtime's tracking, "exact" (0) or
	 * "hook" (1) (ms_uc_tracking in memsnap/uc.h). */
	MS_OPTION_UC_TRACKING,
	/* MEMSNAP_UC_WRITE_HOOK: "1" installs the runtime's write hook in
	 * exact mode too, "0" (the default) does not. */
	MS_OPTION_UC_WRITE_HOOK,
	MS_OPTION_COUNT_
} ms_option;

/* The value of setting `opt` in *value: returns 0 when its variable holds a
 * valid value, -ENOENT when it is unset or empty, -EINVAL when it holds an
 * invalid value or `opt` is no setting (*value untouched then). O(1) after
 * the first call. Thread-safe. */
MS_API int ms_option_get(ms_option opt, long *value);

/* ---- Files ------------------------------------------------------------- */

/* Write the content of `snap` to `path` atomically (temporary file, fsync,
 * rename); the file can be loaded with ms_snapshot_from_file. O(size). */
MS_API int ms_snapshot_save(ms_snapshot *snap, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_MEMSNAP_H */
