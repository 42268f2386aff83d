/* Placeholder until the uffd-async tracker lands: reports itself unavailable. */
#include <errno.h>

#include "../internal.h"

static int probe(void)
{
	return -ENOSYS;
}

const ms__tracker_ops ms__tracker_uffd_async = {
	.id = MS_TRACKER_UFFD_ASYNC,
	.name = "uffd-async",
	.probe = probe,
};
