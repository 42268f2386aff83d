/*
 * Fault-driven tracking through signals, shared by the uffd-sync tracker
 * (SIGBUS from a userfaultfd in UFFD_FEATURE_SIGBUS mode) and the mprotect
 * tracker (SIGSEGV from a read-only page).
 *
 * A process-wide registry maps address ranges to views; the handler looks
 * the faulting address up, records the page in the view's dirty set, lifts
 * the protection of that one page and returns, so the write is retried and
 * succeeds. Faults outside every registered range (and, for the mprotect
 * tracker, faults on pages the user protected with ms_view_protect) go to
 * the handler that was installed before, or kill the process with the
 * signal's default action when there was none.
 */
#ifndef MEMSNAP_LINUX_SIGTRACK_H
#define MEMSNAP_LINUX_SIGTRACK_H

#include <stdatomic.h>
#include <stdint.h>

#include "../internal.h"

typedef enum ms__sigtrack_kind {
	MS__SIGTRACK_UFFD,     /* SIGBUS; un-protect with UFFDIO_WRITEPROTECT */
	MS__SIGTRACK_MPROTECT, /* SIGSEGV; un-protect with mprotect */
} ms__sigtrack_kind;

/* Start routing faults in v's range to v: installs the signal handler of
 * `kind` on first use. `uffd` is the view's userfaultfd (UFFD kind);
 * `user_bits` (MPROTECT kind, may be NULL) is a bitmap of the pages the user
 * protected, whose faults are not the tracker's. Returns a slot (>= 0) for
 * ms__sigtrack_remove, or -ENOSPC when MS__SIGTRACK_MAX views are tracked
 * this way already, or the error of sigaction. Thread-safe. */
int ms__sigtrack_add(ms_view *v, ms__sigtrack_kind kind, int uffd,
		     const _Atomic uint64_t *user_bits);

/* Stop routing faults to the view of `slot`. Thread-safe. */
void ms__sigtrack_remove(int slot);

/* Views that can be tracked through signals at the same time. */
#define MS__SIGTRACK_MAX 4096

#endif /* MEMSNAP_LINUX_SIGTRACK_H */
