#define _GNU_SOURCE
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

/*
 * Fault injection. This is the one piece of process-wide mutable state in
 * the library: tests arm it to make the Nth call of one kind of system call
 * fail. It is a set of atomics, so arming from one thread while others run
 * is safe; production code never arms it and pays one relaxed load per call.
 */
static atomic_int fault_sys = -1;
static atomic_long fault_countdown;
static atomic_int fault_err;
static atomic_long fault_calls[MS__SYS_COUNT_];

void ms__fault_arm(int sys, long nth, int err)
{
	atomic_store(&fault_err, err);
	atomic_store(&fault_countdown, nth);
	atomic_store(&fault_sys, sys);
}

void ms__fault_disarm(void)
{
	atomic_store(&fault_sys, -1);
}

long ms__fault_calls(int sys)
{
	return atomic_load(&fault_calls[sys]);
}

void ms__fault_reset_counts(void)
{
	for (int i = 0; i < MS__SYS_COUNT_; i++)
		atomic_store(&fault_calls[i], 0);
}

int ms__fault_hit(ms__sys sys)
{
	atomic_fetch_add_explicit(&fault_calls[sys], 1, memory_order_relaxed);
	if (atomic_load_explicit(&fault_sys, memory_order_relaxed) != (int)sys)
		return 0;
	if (atomic_fetch_sub(&fault_countdown, 1) != 1)
		return 0;
	atomic_store(&fault_sys, -1);
	return -atomic_load(&fault_err);
}

#define FAULT(sys)                                                                                 \
	do {                                                                                       \
		int fault_ = ms__fault_hit(sys);                                                   \
		if (fault_)                                                                        \
			return fault_;                                                             \
	} while (0)

/* The process id is cached in a page marked MADV_WIPEONFORK: every child
 * (fork, _Fork, clone without CLONE_VM) sees it zeroed, with no system
 * call, and its first call learns its own id. A restore asks on every call,
 * so the answer is one load from that page. Kernels without MADV_WIPEONFORK
 * (< 4.14) get getpid() on every call. */
static atomic_int *_Atomic pid_page; /* set once, by pid_page_init */
static pthread_once_t pid_page_once = PTHREAD_ONCE_INIT;

static void pid_page_init(void)
{
	size_t len = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, len, MADV_WIPEONFORK) != 0) {
		munmap(p, len);
		return;
	}
	atomic_store_explicit((atomic_int *)p, getpid(), memory_order_relaxed);
	atomic_store_explicit(&pid_page, (atomic_int *)p, memory_order_release);
}

/* At load time, so the page is there before any caller counts the
 * process's mappings. */
__attribute__((constructor)) static void pid_page_load(void)
{
	pthread_once(&pid_page_once, pid_page_init);
}

pid_t ms__pid(void)
{
	atomic_int *page = atomic_load_explicit(&pid_page, memory_order_acquire);
	if (!page) {
		pthread_once(&pid_page_once, pid_page_init);
		page = atomic_load_explicit(&pid_page, memory_order_acquire);
		if (!page)
			return getpid();
	}
	pid_t pid = atomic_load_explicit(page, memory_order_relaxed);
	if (pid == 0) {
		/* A child: the kernel emptied the page. */
		pid = getpid();
		atomic_store_explicit(page, pid, memory_order_relaxed);
	}
	return pid;
}

int ms__memfd_new(const char *name, size_t size)
{
	/* A memfd counts against RLIMIT_FSIZE: past it ftruncate fails with
	 * EFBIG and the kernel also sends SIGXFSZ, whose default action ends
	 * the process. Refuse first, so the caller gets only the error. */
	struct rlimit fsize;
	if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY &&
	    size > fsize.rlim_cur)
		return -EFBIG;
	FAULT(MS__SYS_MEMFD);
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int fault = ms__fault_hit(MS__SYS_FTRUNCATE);
	if (fault || ftruncate(fd, (off_t)size) != 0) {
		int err = fault ? fault : -errno;
		close(fd);
		return err == -EINVAL ? -EOVERFLOW : err;
	}
	return fd;
}

int ms__map(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
	FAULT(MS__SYS_MMAP);
	void *p = mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int ms__unmap(void *addr, size_t len)
{
	FAULT(MS__SYS_MUNMAP);
	return munmap(addr, len) == 0 ? 0 : -errno;
}

int ms__protect(void *addr, size_t len, int prot)
{
	FAULT(MS__SYS_MPROTECT);
	return mprotect(addr, len, prot) == 0 ? 0 : -errno;
}

int ms__advise(void *addr, size_t len, int advice)
{
	FAULT(MS__SYS_MADVISE);
	return madvise(addr, len, advice) == 0 ? 0 : -errno;
}

/* process_madvise(2) on the calling process without a pidfd (Linux 6.14's
 * PIDFD_SELF_THREAD; any advice is accepted on oneself since 6.13). */
#define MS__PIDFD_SELF (-10000)

int ms__advise_ranges(const struct iovec *iov, size_t n, int advice)
{
	/* Kernels without process_madvise, or before 6.13 (which accepts
	 * only a few advices), refuse the batch: then one madvise per range.
	 * Nothing is cached, so this holds no global state; a refused batch
	 * costs one failed system call per 1,024 ranges. */
	while (n > 0) {
		FAULT(MS__SYS_MADVISE);
		size_t k = n < 1024 ? n : 1024;
		long done = syscall(SYS_process_madvise, MS__PIDFD_SELF, iov, k, advice, 0);
		if (done < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (done < 0 && errno != EINVAL && errno != EBADF && errno != ENOSYS &&
		    errno != ESRCH && errno != EPERM)
			return -errno;
		if (done < 0) {
			for (size_t i = 0; i < k; i++)
				if (madvise(iov[i].iov_base, iov[i].iov_len, advice) != 0)
					return -errno;
			iov += k;
			n -= k;
			continue;
		}
		/* Skip what was done; a partial result may end inside a
		 * range: finish that one with madvise. */
		size_t left = (size_t)done;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (left > 0) {
			if (madvise((uint8_t *)iov->iov_base + left, iov->iov_len - left, advice) !=
			    0)
				return -errno;
			iov++;
			n--;
		}
	}
	return 0;
}

int ms__open(const char *path, int flags, mode_t mode)
{
	FAULT(MS__SYS_OPEN);
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd >= 0 ? fd : -errno;
}

int ms__dup(int fd)
{
	FAULT(MS__SYS_DUP);
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return nfd >= 0 ? nfd : -errno;
}

int ms__fstat(int fd, struct stat *st)
{
	FAULT(MS__SYS_FSTAT);
	return fstat(fd, st) == 0 ? 0 : -errno;
}

int ms__close(int fd)
{
	return fd >= 0 && close(fd) != 0 ? -errno : 0;
}

int ms__pread_all(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		FAULT(MS__SYS_READ);
		ssize_t n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file ended early: truncated */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int ms__pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		FAULT(MS__SYS_WRITE);
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* The fallback of ms__copy_checked where process_vm_readv is not allowed
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

int ms__copy_checked(void *dst, const void *src, size_t len)
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

int ms__fsync(int fd)
{
	FAULT(MS__SYS_FSYNC);
	return fsync(fd) == 0 ? 0 : -errno;
}

int ms__rename(const char *from, const char *to)
{
	FAULT(MS__SYS_RENAME);
	return rename(from, to) == 0 ? 0 : -errno;
}

int ms__ioctl(int fd, unsigned long req, void *arg)
{
	FAULT(MS__SYS_IOCTL);
	return ioctl(fd, req, arg) == 0 ? 0 : -errno;
}

long ms__ioctl_count(int fd, unsigned long req, void *arg)
{
	FAULT(MS__SYS_IOCTL);
	int n = ioctl(fd, req, arg);
	return n >= 0 ? n : -errno;
}

int ms__seal(int fd, int seals)
{
	FAULT(MS__SYS_FCNTL);
	return fcntl(fd, F_ADD_SEALS, seals) == 0 ? 0 : -errno;
}

int ms__uffd_open(bool kernel_faults)
{
	FAULT(MS__SYS_UFFD);
	/* Kernel-mode faults need privilege (or vm.unprivileged_userfaultfd);
	 * /dev/userfaultfd is the root-only door; user-mode-only is what an
	 * unprivileged process can always get. User-mode-only is enough for
	 * write-protect tracking of user stores; the kernel's own writes are
	 * still handled (async) or refused (sync) by the kernel, except for a
	 * tracker whose thread must serve them (`kernel_faults`). */
	int flags = O_CLOEXEC | O_NONBLOCK;
	long fd = syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return (int)fd;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		close(dev);
		if (fd >= 0)
			return (int)fd;
	}
	if (kernel_faults)
		return -EPERM;
	fd = syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	return fd >= 0 ? (int)fd : -errno;
}

uint64_t ms__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
