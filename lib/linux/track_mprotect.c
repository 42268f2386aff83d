/* Placeholder until the mprotect tracker lands: reports itself unavailable. */
#include <errno.h>

#include "../internal.h"

static int probe(void)
{
	return -ENOSYS;
}

const ms__tracker_ops ms__tracker_mprotect = {
	.id = MS_TRACKER_MPROTECT,
	.name = "mprotect",
	.probe = probe,
};
