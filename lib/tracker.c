#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The order MS_TRACKER_AUTO tries trackers in. uffd-thread comes first: it
 * sees every writer, the kernel's included, and its restore is O(dirty).
 * It needs a userfaultfd that receives kernel-mode faults, which takes
 * privilege; without it uffd-async also sees every writer, at a restore
 * cost that grows with the populated part of the view. uffd-sync is purely
 * O(dirty) but refuses kernel writes, so it is chosen automatically only
 * where both are missing. The mprotect tracker installs a process-wide
 * SIGSEGV handler, so it is only used when asked for. */
static const ms_tracker auto_order[] = {
    MS_TRACKER_UFFD_THREAD,
    MS_TRACKER_UFFD_ASYNC,
    MS_TRACKER_UFFD_SYNC,
    MS_TRACKER_NONE,
};

const ms__tracker_ops *ms__tracker_get(ms_tracker t)
{
	switch (t) {
	case MS_TRACKER_UFFD_THREAD:
		return &ms__tracker_uffd_thread;
	case MS_TRACKER_UFFD_ASYNC:
		return &ms__tracker_uffd_async;
	case MS_TRACKER_UFFD_SYNC:
		return &ms__tracker_uffd_sync;
	case MS_TRACKER_MPROTECT:
		return &ms__tracker_mprotect;
	case MS_TRACKER_NONE:
		return &ms__tracker_none;
	default:
		return NULL;
	}
}

const char *ms_tracker_name(ms_tracker t)
{
	if (t == MS_TRACKER_AUTO)
		return "auto";
	const ms__tracker_ops *ops = ms__tracker_get(t);
	return ops ? ops->name : "unknown";
}

int ms_tracker_probe(ms_tracker t)
{
	if (t == MS_TRACKER_AUTO)
		return 0;
	const ms__tracker_ops *ops = ms__tracker_get(t);
	return ops ? ops->probe() : -EINVAL;
}

/* Whether a probe's error says the tracker cannot work in this process
 * (the kernel lacks it, or privilege), rather than that a resource ran
 * short for the moment (descriptors, memory). */
static bool unsupported(int err)
{
	return err == -EOPNOTSUPP || err == -ENOSYS || err == -EPERM || err == -EACCES ||
	       err == -EINVAL;
}

int ms__tracker_auto(ms_tracker *out)
{
	for (size_t i = 0; i < sizeof auto_order / sizeof auto_order[0]; i++) {
		int err = ms_tracker_probe(auto_order[i]);
		if (err == 0) {
			*out = auto_order[i];
			return 0;
		}
		if (!unsupported(err))
			return err;
	}
	*out = MS_TRACKER_NONE;
	return 0;
}

int ms__tracker_from_env(ms_tracker *out)
{
	const char *env = getenv("MEMSNAP_TRACKER");
	if (!env || !*env || strcmp(env, "auto") == 0) {
		*out = MS_TRACKER_AUTO;
		return 0;
	}
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		if (strcmp(env, ms_tracker_name((ms_tracker)t)) == 0) {
			*out = (ms_tracker)t;
			return 0;
		}
	}
	return -EINVAL;
}

ms_tracker ms_tracker_resolve(ms_tracker t)
{
	if (t != MS_TRACKER_AUTO)
		return ms__tracker_get(t) ? t : MS_TRACKER_NONE;
	/* What a view made with MS_TRACKER_AUTO gets: MEMSNAP_TRACKER's
	 * tracker where this process can use it. */
	ms_tracker env;
	if (ms__tracker_from_env(&env) == 0 && env != MS_TRACKER_AUTO && ms_tracker_probe(env) == 0)
		return env;
	return ms__tracker_auto(&t) == 0 ? t : MS_TRACKER_NONE;
}

/* No tracking: restore remaps the whole view (view.c handles it without
 * calling collect or rearm). */
static int none_probe(void)
{
	return 0;
}
static int none_attach(ms_view *v)
{
	(void)v;
	return 0;
}
static void none_detach(ms_view *v)
{
	(void)v;
}
static int none_collect(ms_view *v)
{
	(void)v;
	return 0;
}
static int none_rearm(ms_view *v)
{
	(void)v;
	return 0;
}

const ms__tracker_ops ms__tracker_none = {
    .id = MS_TRACKER_NONE,
    .name = "none",
    .probe = none_probe,
    .attach = none_attach,
    .detach = none_detach,
    .collect = none_collect,
    .rearm = none_rearm,
};
