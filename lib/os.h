/*
 * The platform contract: everything the core of libmemsnap asks of the
 * operating system. The core (the .c files of lib/ and lib/state/) calls
 * only these. One folder per system implements them (lib/linux/, lib/win/,
 * chosen by meson) together with that system's dirty-page trackers, which
 * stay behind the tracker contract (internal.h).
 *
 * Contract, stated once:
 * - Every int-returning primitive returns 0 (or the count it names) on
 *   success and a negative errno value on failure; a port translates its own
 *   error codes into errno values. None prints or changes errno that a
 *   caller relies on.
 * - Addresses and lengths are multiples of the page size, the file offset
 *   of a mapping a multiple of the mapping granularity (ms__os_caps_get).
 * - Handles (ms_os_fd) are opened not inheritable by child programs; a
 *   handle the core owns is released with ms__os_close.
 * - On Linux each primitive passes through one fault-injection point per
 *   system call (lib/linux/fault.h), so tests can fail any of them (lib/win/
 *   has none yet).
 */
#ifndef MEMSNAP_OS_H
#define MEMSNAP_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memsnap/memsnap.h"

/* The value of an ms_os_fd that holds no file. */
#if defined(_WIN32)
#define MS__OS_FD_NONE ((ms_os_fd)(intptr_t)-1) /* INVALID_HANDLE_VALUE */
#else
#define MS__OS_FD_NONE (-1)
#endif

/* What this system can do, read once. */
typedef struct ms__os_caps {
	size_t page_size;
	/* Alignment of a mapping's address and file offset (the page size on
	 * Linux, 64 KiB on Windows). */
	size_t map_granularity;
	/* A backing can be sealed (ms__os_seal); else sealing is skipped. */
	bool seal;
	/* The data and holes of a file can be told apart (ms__os_next_data). */
	bool sparse;
} ms__os_caps;

const ms__os_caps *ms__os_caps_get(void);

/* ---- Backing objects: what mappings show -------------------------------- */

/* A new anonymous backing of `size` zero bytes, resizable until sealed.
 * -EFBIG beyond the process's file-size limit (never a signal). */
int ms__os_backing_new(size_t size, ms_os_fd *out);

/* Seal an anonymous backing: its size can no longer change, and with
 * `content` no holder of a handle can write it any more (mappings made
 * before keep their access). */
int ms__os_seal(ms_os_fd fd, bool content);

/* How a file is opened by ms__os_open. */
typedef enum ms__os_open_how {
	MS__OS_OPEN_READ,	/* an existing file, read-only */
	MS__OS_OPEN_READ_WRITE, /* an existing file, read-write */
	MS__OS_OPEN_CREATE_NEW, /* a new file (-EEXIST if there is one), read-write */
} ms__os_open_how;

/* Open `path`. An existing file is opened without waiting on it (a FIFO or
 * device named by mistake is then refused by whoever checks its type). */
int ms__os_open(const char *path, ms__os_open_how how, ms_os_fd *out);
/* A second handle to the same open file. */
int ms__os_dup(ms_os_fd fd, ms_os_fd *out);
/* Release a handle; MS__OS_FD_NONE is ignored. */
int ms__os_close(ms_os_fd fd);
/* Remove a file by name. */
int ms__os_remove(const char *path);

typedef struct ms__os_file_info {
	uint64_t size;	    /* bytes */
	uint64_t allocated; /* bytes of storage (holes take none) */
	bool regular;	    /* an ordinary file or backing, which can be mapped */
	bool directory;
	bool readable, writable; /* what the handle was opened for */
} ms__os_file_info;

int ms__os_file_stat(ms_os_fd fd, ms__os_file_info *out);

/* The first byte of data at or after `from` in *data, and the start of the
 * hole after it in *hole (UINT64_MAX when unknown; `hole` may be NULL, and
 * finding it may cost O(data up to it)). -ENXIO: only holes from
 * `from` on; -EOPNOTSUPP: the system cannot tell (caps.sparse is false), so
 * the caller treats everything as data. */
int ms__os_next_data(ms_os_fd fd, uint64_t from, uint64_t *data, uint64_t *hole);

/* ---- Address space ----------------------------------------------------- */

/* How a backing is mapped. */
typedef enum ms__os_map_kind {
	MS__OS_MAP_READ_ONLY, /* shared, read-only */
	MS__OS_MAP_SHARED,    /* shared, read-write: writes reach the backing */
	MS__OS_MAP_COW,	      /* private, read-write: writes stay in this mapping */
} ms__os_map_kind;

/* Reserve `len` bytes of address space. With `access` MS_ACCESS_NONE it is
 * only a range nothing else is placed in; with READ|WRITE it is zero-filled
 * memory that costs nothing until touched. */
int ms__os_reserve(size_t len, unsigned access, void **out);

/* Map `len` bytes of `fd` from `offset`. With `at` NULL the system picks
 * the address; else `at` is a range this process mapped or reserved, whose
 * mapping is replaced in place, in one step (no other thread can take the
 * range in between). */
int ms__os_map(void *at, size_t len, ms__os_map_kind kind, ms_os_fd fd, uint64_t offset,
	       void **out);
/* Give back a range made by ms__os_reserve or ms__os_map. */
int ms__os_unmap(void *addr, size_t len);
/* Set the access (MS_ACCESS_* bits; WRITE implies READ) of a mapped range. */
int ms__os_protect(void *addr, size_t len, unsigned access);

/* A range of this process's memory. */
typedef struct ms__os_span {
	void *addr;
	size_t len;
} ms__os_span;

/* Drop the private pages of a range: anonymous memory reads zeros again, a
 * copy-on-write mapping its backing's content. Protection is kept. */
int ms__os_discard(void *addr, size_t len);
/* ms__os_discard on each span, in as few system calls as the system allows;
 * 0 or the first error (later spans may not have been discarded). */
int ms__os_discard_spans(const ms__os_span *spans, size_t n);
/* Map the backing's pages into each span now, for reading, so that reads
 * take no fault. Only a hint: failure leaves the memory correct. */
int ms__os_populate_spans(const ms__os_span *spans, size_t n);

/* Copy `len` bytes of this process's memory so that an unreadable source
 * gives -EFAULT instead of a signal. Costs a system call: for memory that
 * may be protected. */
int ms__os_copy_checked(void *dst, const void *src, size_t len);

/* ---- Write faults, for the page-protection tracker (track_protect.c) --- */

/* Route write faults in v's range to the tracker: the platform's handler
 * (installed on first use) records the faulting page in v->dirty and makes
 * it writable again, unless the page is set in `user_bits` (the user
 * protected it) or keeps faulting once writable: such faults go on to the
 * application's handlers. When making the page writable fails, it calls
 * `lost(v)`, which returns true once the store may proceed. Returns a slot
 * (>= 0) for ms__os_unwatch_writes, or a negative errno (-ENOSPC: too many
 * views are watched). Thread-safe; call before protecting the view. */
int ms__os_watch_writes(ms_view *v, const _Atomic uint64_t *user_bits, bool (*lost)(ms_view *v));
/* Stop routing write faults to the view of `slot` (< 0 is ignored). */
void ms__os_unwatch_writes(int slot);

/* ---- Files: reads, durable writes, atomic replacement ------------------- */

/* Read or write exactly `len` bytes at `offset` (-EIO: the file ended). */
int ms__os_read_at(ms_os_fd fd, void *buf, size_t len, uint64_t offset);
int ms__os_write_at(ms_os_fd fd, const void *buf, size_t len, uint64_t offset);
/* Write every byte the spans describe, in order, from `offset`. The spans
 * are consumed (changed). */
int ms__os_write_spans_at(ms_os_fd fd, ms__os_span *spans, size_t n, uint64_t offset);
/* Set the file's size (new bytes read as zeros). */
int ms__os_set_size(ms_os_fd fd, uint64_t size);
/* Make what was written to the file durable. */
int ms__os_sync(ms_os_fd fd);
/* Put the file `from` in place of `to` in one step (a reader sees the old
 * or the new file, never a mix), durably: after a crash `to` names one of
 * them. `from` must be durable already (ms__os_sync). */
int ms__os_replace(const char *from, const char *to);

/* ---- Process and threads ----------------------------------------------- */

/* Heap memory aligned to `align` (a power of two; `size` a multiple of it),
 * released with ms__os_free_aligned. NULL when out of memory. */
void *ms__os_alloc_aligned(size_t align, size_t size);
void ms__os_free_aligned(void *p);
/* The system's description of the errno value `err` (positive), or NULL. */
const char *ms__os_strerror(int err);

/* This process's id; a forked child gets its own (fork identity). Cheap:
 * restores ask on every call. */
int ms__os_pid(void);
/* A monotonic clock, in nanoseconds. */
uint64_t ms__now_ns(void);
/* How many CPUs this process may run on (at least 1). */
size_t ms__os_cpus(void);
/* Run fn(arg) on a new thread of memsnap's, which takes none of the
 * program's signals (fn's result is ignored); *thread names it for
 * ms__os_thread_join, which waits for it and releases it. A negative errno
 * when no thread can start. */
int ms__os_thread_start(void *(*fn)(void *arg), void *arg, void **thread);
void ms__os_thread_join(void *thread);

/* Run fn(ctx, lo, hi) over [0, n) cut into contiguous parts of at least
 * `grain` items, one part per CPU this process may use (at most 8), the
 * calling thread taking one (parallel.c). Returns the first non-zero result
 * of the parts in order, after every part ended. fn must be safe to call
 * from several threads. */
int ms__parallel(size_t n, size_t grain, int (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

#endif /* MEMSNAP_OS_H */
