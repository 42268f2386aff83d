/* The userfaultfd trackers, which Windows has no counterpart of: known to
 * the tracker table (tracker.c) and refused by their probe, so that
 * MS_TRACKER_AUTO passes them over and a caller naming one gets
 * -EOPNOTSUPP. */
#include <errno.h>

#include "../internal.h"

static int absent(void)
{
	return -EOPNOTSUPP;
}

static int refuse(ms_view *v)
{
	(void)v;
	return -EOPNOTSUPP;
}

static void nothing(ms_view *v)
{
	(void)v;
}

#define ABSENT(var, id_, name_)                                                                    \
	const ms__tracker_ops var = {.id = id_,                                                    \
				     .name = name_,                                                \
				     .probe = absent,                                              \
				     .attach = refuse,                                             \
				     .detach = nothing,                                            \
				     .collect = refuse,                                            \
				     .rearm = refuse}

ABSENT(ms__tracker_uffd_thread, MS_TRACKER_UFFD_THREAD, "uffd-thread");
ABSENT(ms__tracker_uffd_async, MS_TRACKER_UFFD_ASYNC, "uffd-async");
ABSENT(ms__tracker_uffd_sync, MS_TRACKER_UFFD_SYNC, "uffd-sync");

/* What MS_TRACKER_AUTO picks on Windows: the exception-handler tracker,
 * the only one there. */
const ms_tracker ms__tracker_auto_order[] = {MS_TRACKER_MPROTECT, MS_TRACKER_NONE};
