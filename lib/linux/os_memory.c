/*
 * The memory half of the platform contract (lib/os.h) on Linux: memfd
 * backings, mmap, mprotect, madvise and the checked copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prim.h"

/* Spans are handed to the kernel as they are. */
_Static_assert(sizeof(ms__os_span) == sizeof(struct iovec) &&
		   offsetof(ms__os_span, addr) == offsetof(struct iovec, iov_base) &&
		   offsetof(ms__os_span, len) == offsetof(struct iovec, iov_len),
	       "ms__os_span must match struct iovec");

static ms__os_caps caps;
static pthread_once_t caps_once = PTHREAD_ONCE_INIT;

static void caps_init(void)
{
	caps.page_size = (size_t)sysconf(_SC_PAGESIZE);
	caps.map_granularity = caps.page_size;
	caps.seal = true;
	caps.sparse = true;
}

const ms__os_caps *ms__os_caps_get(void)
{
	pthread_once(&caps_once, caps_init);
	return &caps;
}

int ms__os_backing_new(size_t size, ms_os_fd *out)
{
	/* A memfd counts against RLIMIT_FSIZE: past it ftruncate fails with
	 * EFBIG and the kernel also sends SIGXFSZ, whose default action ends
	 * the process. Refuse first, so the caller gets only the error. */
	struct rlimit fsize;
	if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY &&
	    size > fsize.rlim_cur)
		return -EFBIG;
	FAULT(MS__SYS_MEMFD);
	int fd = memfd_create("memsnap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int fault = ms__fault_hit(MS__SYS_FTRUNCATE);
	if (fault || ftruncate(fd, (off_t)size) != 0) {
		int err = fault ? fault : -errno;
		close(fd);
		return err == -EINVAL ? -EOVERFLOW : err;
	}
	*out = fd;
	return 0;
}

int ms__os_seal(ms_os_fd fd, bool content)
{
	FAULT(MS__SYS_FCNTL);
	int seals = F_SEAL_SHRINK | F_SEAL_GROW | (content ? F_SEAL_FUTURE_WRITE : 0);
	return fcntl(fd, F_ADD_SEALS, seals) == 0 ? 0 : -errno;
}

int ms__os_reserve(size_t len, unsigned access, void **out)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (access ? MAP_NORESERVE : 0);
	return ms__map(NULL, len, ms__prot_of(access), flags, -1, 0, out);
}

int ms__os_map(void *at, size_t len, ms__os_map_kind kind, ms_os_fd fd, uint64_t offset, void **out)
{
	int prot = kind == MS__OS_MAP_READ_ONLY ? PROT_READ : PROT_READ | PROT_WRITE;
	int flags = (kind == MS__OS_MAP_COW ? MAP_PRIVATE : MAP_SHARED) | MAP_NORESERVE |
		    (at ? MAP_FIXED : 0);
	return ms__map(at, len, prot, flags, fd, (off_t)offset, out);
}

int ms__os_unmap(void *addr, size_t len)
{
	FAULT(MS__SYS_MUNMAP);
	return munmap(addr, len) == 0 ? 0 : -errno;
}

int ms__os_protect(void *addr, size_t len, unsigned access)
{
	return ms__protect(addr, len, ms__prot_of(access));
}

int ms__os_discard(void *addr, size_t len)
{
	return ms__advise(addr, len, MADV_DONTNEED);
}

/* process_madvise(2) on the calling process without a pidfd (Linux 6.14's
 * PIDFD_SELF_THREAD; any advice is accepted on oneself since 6.13). */
#define MS__PIDFD_SELF (-10000)

/* madvise(2) `advice` on every span, in batches of up to 1024 spans per
 * system call (process_madvise(2) on this process; Linux 6.13+), else one
 * madvise(2) per span. 0 or the first -errno. */
static int advise_spans(const ms__os_span *spans, size_t n, int advice)
{
	/* Kernels without process_madvise, or before 6.13 (which accepts
	 * only a few advices), refuse the batch: then one madvise per range.
	 * Nothing is cached, so this holds no global state; a refused batch
	 * costs one failed system call per 1,024 ranges. */
	while (n > 0) {
		FAULT(MS__SYS_MADVISE);
		size_t k = n < 1024 ? n : 1024;
		long done = syscall(SYS_process_madvise, MS__PIDFD_SELF,
				    (const struct iovec *)spans, k, advice, 0);
		if (done < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (done < 0 && errno != EINVAL && errno != EBADF && errno != ENOSYS &&
		    errno != ESRCH && errno != EPERM)
			return -errno;
		if (done < 0) {
			for (size_t i = 0; i < k; i++)
				if (madvise(spans[i].addr, spans[i].len, advice) != 0)
					return -errno;
			spans += k;
			n -= k;
			continue;
		}
		/* Skip what was done; a partial result may end inside a
		 * range: finish that one with madvise. */
		size_t left = ms__spans_skip(&spans, &n, (size_t)done);
		if (left > 0) {
			if (madvise((uint8_t *)spans->addr + left, spans->len - left, advice) != 0)
				return -errno;
			spans++;
			n--;
		}
	}
	return 0;
}

int ms__os_discard_spans(const ms__os_span *spans, size_t n)
{
	return advise_spans(spans, n, MADV_DONTNEED);
}

int ms__os_populate_spans(const ms__os_span *spans, size_t n)
{
	return advise_spans(spans, n, MADV_POPULATE_READ);
}

/* The fallback of ms__os_copy_checked where process_vm_readv is not allowed
 * (seccomp, or no CONFIG_CROSS_MEMORY_ATTACH): through a pipe, whose write
 * fails with EFAULT on an unreadable source. */
static int copy_through_pipe(uint8_t *d, const uint8_t *s, size_t len)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return -errno;
	int err = 0;
	while (!err && len > 0) {
		/* A pipe holds at least two pages, even one made past the
		 * user's pipe-buffer soft limit: a page at a time never blocks. */
		size_t chunk = len < 4096 ? len : 4096;
		ssize_t w = write(p[1], s, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? -errno : -EIO;
			break;
		}
		for (size_t got = 0; !err && got < (size_t)w;) {
			ssize_t r = read(p[0], d + got, (size_t)w - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				err = r < 0 ? -errno : -EIO;
			else
				got += (size_t)r;
		}
		d += w;
		s += w;
		len -= (size_t)w;
	}
	close(p[0]);
	close(p[1]);
	return err;
}

int ms__os_copy_checked(void *dst, const void *src, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (len > 0) {
		FAULT(MS__SYS_READ);
		struct iovec local = {d, len}, remote = {(void *)s, len};
		ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPERM || errno == ENOSYS)
				return copy_through_pipe(d, s, len);
			return -errno;
		}
		if (n == 0)
			return -EFAULT;
		d += n;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}
