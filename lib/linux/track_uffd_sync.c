/* Placeholder until the uffd-sync tracker lands: reports itself unavailable. */
#include <errno.h>

#include "../internal.h"

static int probe(void)
{
	return -ENOSYS;
}

const ms__tracker_ops ms__tracker_uffd_sync = {
	.id = MS_TRACKER_UFFD_SYNC,
	.name = "uffd-sync",
	.probe = probe,
};
