/*
 * Every setting memsnap reads from the environment, in one table, read once
 * (by the first call that needs one) so that no restore or mapping ever
 * parses the environment.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* How a variable's value is parsed: the index of its value in `choices`, or
 * for MEMSNAP_TRACKER the ms_tracker that ms_tracker_name() names. */
typedef struct option {
	const char *name;
	const char *const *choices; /* NULL-terminated; NULL: a tracker name */
	int state;		    /* -ENOENT (unset), -EINVAL (no valid value) or 0 */
	long value;
} option;

static const char *const uc_tracking[] = {"exact", "hook", NULL};
static const char *const off_on[] = {"0", "1", NULL};

static option options[MS_OPTION_COUNT_] = {
    [MS_OPTION_TRACKER] = {"MEMSNAP_TRACKER", NULL, 0, 0},
    [MS_OPTION_UC_TRACKING] = {"MEMSNAP_UC_TRACKING", uc_tracking, 0, 0},
    [MS_OPTION_UC_WRITE_HOOK] = {"MEMSNAP_UC_WRITE_HOOK", off_on, 0, 0},
};

static void parse(option *o)
{
	const char *env = getenv(o->name);
	o->state = -ENOENT;
	if (!env || !*env)
		return;
	o->state = -EINVAL;
	for (long i = 0; o->choices ? o->choices[i] != NULL : i < MS_TRACKER_COUNT_; i++) {
		const char *name = o->choices ? o->choices[i] : ms_tracker_name((ms_tracker)i);
		if (strcmp(env, name) == 0) {
			o->state = 0;
			o->value = i;
			return;
		}
	}
}

void ms__options_reload(void)
{
	for (size_t i = 0; i < MS_OPTION_COUNT_; i++)
		parse(&options[i]);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

int ms_option_get(ms_option opt, long *value)
{
	if ((unsigned)opt >= MS_OPTION_COUNT_ || !value)
		return -EINVAL;
	pthread_once(&once, ms__options_reload);
	if (options[opt].state == 0)
		*value = options[opt].value;
	return options[opt].state;
}
