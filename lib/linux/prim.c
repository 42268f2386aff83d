/*
 * The Linux system calls of prim.h, each through its fault-injection point,
 * and the process's identity, clock, aligned heap and error texts
 * (lib/os.h).
 */
#define _GNU_SOURCE
#include "prim.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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

int ms__os_pid(void)
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

int ms__map(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
	FAULT(MS__SYS_MMAP);
	void *p = mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int ms__prot_of(unsigned access)
{
	int prot = PROT_NONE;
	if (access & (MS_ACCESS_READ | MS_ACCESS_WRITE))
		prot |= PROT_READ;
	if (access & MS_ACCESS_WRITE)
		prot |= PROT_WRITE;
	if (access & MS_ACCESS_EXEC)
		prot |= PROT_EXEC;
	return prot;
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

int ms__open(const char *path, int flags, mode_t mode)
{
	FAULT(MS__SYS_OPEN);
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd >= 0 ? fd : -errno;
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

void *ms__os_alloc_aligned(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}

void ms__os_free_aligned(void *p)
{
	free(p);
}

const char *ms__os_strerror(int err)
{
	return strerrordesc_np(err);
}
