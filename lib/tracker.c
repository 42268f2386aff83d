#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Which tracker a view gets, and the trackers that need nothing from the
 * platform (none, noted). The platform's trackers are in linux/. */

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
	case MS_TRACKER_NOTED:
		return &ms__tracker_noted;
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
	for (size_t i = 0;; i++) {
		ms_tracker t = ms__tracker_auto_order[i];
		int err = ms_tracker_probe(t);
		if (err == 0) {
			*out = t;
			return 0;
		}
		if (t == MS_TRACKER_NONE)
			break;
		if (!unsupported(err))
			return err;
	}
	*out = MS_TRACKER_NONE;
	return 0;
}

int ms__tracker_from_env(ms_tracker *out)
{
	long t;
	int err = ms_option_get(MS_OPTION_TRACKER, &t);
	if (err == -ENOENT)
		t = MS_TRACKER_AUTO;
	else if (err)
		return err;
	*out = (ms_tracker)t;
	return 0;
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

int ms__tracker_choose(ms_tracker tracker, const ms__tracker_ops **out, bool *strict)
{
	int err;
	*strict = tracker != MS_TRACKER_AUTO;
	if (tracker == MS_TRACKER_AUTO && (err = ms__tracker_from_env(&tracker)) != 0)
		return err;
	if (tracker != MS_TRACKER_AUTO && (err = ms_tracker_probe(tracker)) != 0) {
		if (*strict)
			return err == -ENOSYS ? -EOPNOTSUPP : err;
		tracker = MS_TRACKER_AUTO; /* MEMSNAP_TRACKER named one: fall back */
	}
	if (tracker == MS_TRACKER_AUTO && (err = ms__tracker_auto(&tracker)) != 0)
		return err;
	*out = ms__tracker_get(tracker);
	return 0;
}

int ms__tracker_attach(ms_view *v, bool strict)
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

/* The two trackers that protect nothing share their no-op operations. */
static int nothing_to_probe(void)
{
	return 0;
}
static int nothing_to_do(ms_view *v)
{
	(void)v;
	return 0;
}
static void nothing_to_undo(ms_view *v)
{
	(void)v;
}

/* No tracking: restore remaps the whole view (restore.c handles it without
 * calling collect or rearm). */
const ms__tracker_ops ms__tracker_none = {
    .id = MS_TRACKER_NONE,
    .name = "none",
    .probe = nothing_to_probe,
    .attach = nothing_to_do,
    .detach = nothing_to_undo,
    .collect = nothing_to_do,
    .rearm = nothing_to_do,
};

/* The pages announced with ms_view_note_written and nothing else: the
 * announcement adds them to the dirty set (view.c), which is then complete
 * by definition; no page is ever protected, so no write faults and a
 * writer that is not announced is not undone. Needs nothing from the
 * platform, and has no hot pages (no fault to save: hot.c). */
const ms__tracker_ops ms__tracker_noted = {
    .id = MS_TRACKER_NOTED,
    .name = "noted",
    .probe = nothing_to_probe,
    .attach = nothing_to_do,
    .detach = nothing_to_undo,
    .collect = nothing_to_do,
    .rearm = nothing_to_do,
    .caller_records = true,
};
