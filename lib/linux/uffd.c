/* userfaultfd helpers shared by the userfaultfd trackers. */
#define _GNU_SOURCE
#include "uffd.h"

#include <errno.h>
#include <sys/sysinfo.h>

#include "../internal.h"
#include "prim.h"

static int api(int uffd, uint64_t features, uint64_t *offered)
{
	struct uffdio_api a = {.api = UFFD_API, .features = features};
	int err = ms__ioctl(uffd, UFFDIO_API, &a);
	if (err == -EINVAL)
		return -EOPNOTSUPP; /* a requested feature is unknown here */
	if (!err && offered)
		*offered = a.features;
	return err;
}

int ms__uffd_probe(uint64_t features, bool kernel_faults)
{
	int uffd = ms__uffd_open(kernel_faults);
	if (uffd < 0)
		return uffd == -ENOSYS ? -EOPNOTSUPP : uffd;
	/* Asking for no feature reports every feature the kernel offers. */
	uint64_t offered = 0;
	int err = api(uffd, 0, &offered);
	ms__close(uffd);
	if (err)
		return err;
	return (offered & features) == features ? 0 : -EOPNOTSUPP;
}

int ms__uffd_new(uint64_t features, bool kernel_faults)
{
	int uffd = ms__uffd_open(kernel_faults);
	if (uffd < 0)
		return uffd == -ENOSYS ? -EOPNOTSUPP : uffd;
	int err = api(uffd, features, NULL);
	if (err) {
		ms__close(uffd);
		return err;
	}
	return uffd;
}

int ms__uffd_register_wp(int uffd, void *addr, size_t len)
{
	struct uffdio_register r = {
	    .range = {.start = (uintptr_t)addr, .len = len},
	    .mode = UFFDIO_REGISTER_MODE_WP,
	};
	int err = ms__ioctl(uffd, UFFDIO_REGISTER, &r);
	return err == -EINVAL ? -EOPNOTSUPP : err;
}

int ms__uffd_wp(int uffd, void *addr, size_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
	    .range = {.start = (uintptr_t)addr, .len = len},
	    .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	return ms__ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

int ms__uffd_wp_pages(int uffd, uint8_t *base, const size_t *list, size_t n, bool protect)
{
	unsigned shift = ms__page_shift();
	size_t i = 0;
	ms__page_run run;
	while (ms__next_run(list, n, &i, &run)) {
		int err = ms__uffd_wp(uffd, base + (run.first << shift), run.n << shift, protect);
		if (err)
			return err;
	}
	return 0;
}

int ms__uffd_arm(int uffd, void *addr, size_t len)
{
	/* Protecting never-touched pages leaves a marker in a page-table
	 * entry for each: 8 bytes a page, allocated now (a 1 TiB view needs
	 * 2 GiB). Refuse what would take more than half the memory the
	 * system has free, rather than let the allocation invite the OOM
	 * killer. */
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t avail = ((uint64_t)si.freeram + si.bufferram) * si.mem_unit;
		uint64_t tables = (uint64_t)(len >> ms__page_shift()) * 8;
		if (tables > avail / 2)
			return -ENOMEM;
	}
	return ms__uffd_wp(uffd, addr, len, true);
}

int ms__uffd_rearm_view(int uffd, ms_view *v)
{
	return ms__uffd_wp_pages(uffd, v->base, v->dirty.list, atomic_load(&v->dirty.n), true);
}

int ms__uffd_unprotect_view(int uffd, ms_view *v, size_t first, size_t n)
{
	unsigned shift = ms__page_shift();
	return ms__uffd_wp(uffd, v->base + (first << shift), n << shift, false);
}
