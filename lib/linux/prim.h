/*
 * Platform primitives: the only place libmemsnap talks to the kernel.
 *
 * Contract: every function returns 0 (or a non-negative result such as a
 * descriptor) on success and -errno on failure, never touches errno-visible
 * state the caller relies on, and never prints. Descriptors are created
 * close-on-exec. Each primitive passes through one fault-injection point
 * (ms__fault_hit) so tests can make the Nth call of a kind fail with a chosen
 * errno; when no fault is armed the check is one relaxed atomic load.
 */
#ifndef MEMSNAP_LINUX_PRIM_H
#define MEMSNAP_LINUX_PRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The kinds of system call that can be made to fail in tests. Keep in sync
 * with ms__sys_names in prim.c. */
typedef enum ms__sys {
	MS__SYS_MEMFD,
	MS__SYS_FTRUNCATE,
	MS__SYS_MMAP,
	MS__SYS_MUNMAP,
	MS__SYS_MPROTECT,
	MS__SYS_MADVISE,
	MS__SYS_OPEN,
	MS__SYS_DUP,
	MS__SYS_FSTAT,
	MS__SYS_READ,
	MS__SYS_WRITE,
	MS__SYS_FSYNC,
	MS__SYS_RENAME,
	MS__SYS_UFFD,
	MS__SYS_IOCTL,
	MS__SYS_FCNTL,
	MS__SYS_COUNT_
} ms__sys;

/* Returns -errno if an armed fault fires for this call, else 0. */
int ms__fault_hit(ms__sys sys);

/* This process's id, without a system call (getpid is one, and
 * restores ask for it every time to notice fork). Right in every child made
 * by fork, _Fork or clone without CLONE_VM (a MADV_WIPEONFORK page notices
 * them); a vfork child shares its parent's memory and must only exec. */
pid_t ms__pid(void);

int ms__memfd_new(const char *name, size_t size);
int ms__map(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out);
int ms__unmap(void *addr, size_t len);
int ms__protect(void *addr, size_t len, int prot);
int ms__advise(void *addr, size_t len, int advice);
/* madvise(2) `advice` on every range of iov[0..n), in batches of up to 1024
 * ranges per system call (process_madvise(2) on this process; Linux 6.13+),
 * else one madvise(2) per range. 0 or the first -errno; ranges after a
 * failed one may not have been advised. */
int ms__advise_ranges(const struct iovec *iov, size_t n, int advice);
int ms__open(const char *path, int flags, mode_t mode);
int ms__dup(int fd);
int ms__fstat(int fd, struct stat *st);
int ms__close(int fd);
int ms__pread_all(int fd, void *buf, size_t len, off_t off);
int ms__pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Copy len bytes of this process's memory from src to dst through the
 * kernel (process_vm_readv), so that an unreadable source page gives -EFAULT
 * instead of a signal. Costs a system call and a page-table walk: for
 * memory that may be protected. */
int ms__copy_checked(void *dst, const void *src, size_t len);
int ms__fsync(int fd);
int ms__rename(const char *from, const char *to);
int ms__ioctl(int fd, unsigned long req, void *arg);
/* As ms__ioctl for requests that return a count (PAGEMAP_SCAN): the
 * non-negative result, or -errno. */
long ms__ioctl_count(int fd, unsigned long req, void *arg);
int ms__seal(int fd, int seals);

/* A userfaultfd, non-blocking and close-on-exec, trying the syscall, then
 * /dev/userfaultfd, then (unless `kernel_faults`: faults the kernel takes
 * while writing for the process must reach the descriptor too)
 * UFFD_USER_MODE_ONLY. Returns the fd or -errno (-EPERM: kernel faults asked
 * for and this process may not have them). */
int ms__uffd_open(bool kernel_faults);

/* Run fn(ctx, lo, hi) over [0, n) cut into contiguous parts of at least
 * `grain` items, one part per CPU this process may use (at most 8), the
 * calling thread taking one. Returns the first non-zero result of the parts
 * in order, after every part ended. A part whose thread cannot start runs
 * on the calling thread. fn must be safe to call from several threads. */
int ms__parallel(size_t n, size_t grain, int (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);

#endif /* MEMSNAP_LINUX_PRIM_H */
