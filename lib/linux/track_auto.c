/* Which tracker MS_TRACKER_AUTO picks on Linux (tracker.c walks the list). */
#include "../internal.h"

/* The order MS_TRACKER_AUTO tries trackers in. uffd-thread comes first: it
 * sees every writer, the kernel's included, and its restore is O(dirty).
 * It needs a userfaultfd that receives kernel-mode faults, which takes
 * privilege; without it uffd-async also sees every writer, at a restore
 * cost that grows with the populated part of the view. uffd-sync is purely
 * O(dirty) but refuses kernel writes, so it is chosen automatically only
 * where both are missing. The mprotect tracker installs a process-wide
 * SIGSEGV handler, so it is only used when asked for. */
const ms_tracker ms__tracker_auto_order[] = {
    MS_TRACKER_UFFD_THREAD,
    MS_TRACKER_UFFD_ASYNC,
    MS_TRACKER_UFFD_SYNC,
    MS_TRACKER_NONE,
};
