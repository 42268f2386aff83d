/*
 * Fault-driven tracking through signals, shared by the uffd-sync tracker
 * (SIGBUS from a userfaultfd in UFFD_FEATURE_SIGBUS mode) and the mprotect
 * tracker (SIGSEGV from a read-only page).
 *
 * A process-wide registry maps address ranges to views; the handler looks
 * the faulting address up, records the page in the view's dirty set, lifts
 * the protection of that one page and returns, so the write is retried and
 * succeeds. Faults that are not tracking faults (outside every registered
 * range, reads and instruction fetches, pages past the end of a shrunk file,
 * which keep faulting, pages the user protected with ms_view_protect) go to
 * the handler that was installed before, or kill the process with the
 * signal's default action when there was none.
 */
#ifndef MEMSNAP_LINUX_SIGTRACK_H
#define MEMSNAP_LINUX_SIGTRACK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../internal.h"

typedef enum ms__sigtrack_kind {
	MS__SIGTRACK_UFFD,     /* SIGBUS; un-protect with UFFDIO_WRITEPROTECT */
	MS__SIGTRACK_MPROTECT, /* SIGSEGV; un-protect with mprotect */
} ms__sigtrack_kind;

/* What a view registers for its faults. */
typedef struct ms__sigtrack_spec {
	ms__sigtrack_kind kind;
	int uffd; /* UFFD kind: the view's userfaultfd */
	/* MPROTECT kind (may be NULL): a bitmap of the pages the user
	 * protected, whose faults are not the tracker's. */
	const _Atomic uint64_t *user_bits;
	/* MPROTECT kind (may be NULL): called from the handler when making
	 * one page writable failed (ENOMEM: the process holds as many
	 * mappings as the kernel allows). Returns true once the faulting
	 * store can proceed; async-signal-safe. */
	bool (*lost)(ms_view *v);
} ms__sigtrack_spec;

/* Start routing faults in v's range to v: installs the signal handler of
 * the spec's kind on first use. Returns a slot (>= 0) for
 * ms__sigtrack_remove, or -ENOSPC when MS__SIGTRACK_MAX views are tracked
 * this way already, or the error of sigaction. Thread-safe. */
int ms__sigtrack_add(ms_view *v, const ms__sigtrack_spec *spec);

/* Stop routing faults to the view of `slot`. Thread-safe. */
void ms__sigtrack_remove(int slot);

/* Views that can be tracked through signals at the same time. */
#define MS__SIGTRACK_MAX 4096

#endif /* MEMSNAP_LINUX_SIGTRACK_H */
