/*
 * Linux system calls as the Linux side of libmemsnap uses them: the
 * platform contract (lib/os.h) is built on these, and the trackers
 * (track_*.c, uffd.c, sigtrack.c) call them directly. Nothing outside
 * lib/linux/ includes this header (tests aside).
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

#include "../os.h"

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

/* Return from the calling primitive with the armed fault's error, if one
 * fires for this call. */
#define FAULT(sys)                                                                                 \
	do {                                                                                       \
		int fault_ = ms__fault_hit(sys);                                                   \
		if (fault_)                                                                        \
			return fault_;                                                             \
	} while (0)

/* Threads of ms__os_thread_start (thread.c), Linux only: bind one to a
 * CPU (0 or -errno); and release one in a forked child, where the thread
 * itself does not exist and cannot be joined (its stack and record). */
int ms__thread_bind(void *thread, int cpu);
void ms__thread_forget(void *thread);

int ms__map(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out);
int ms__protect(void *addr, size_t len, int prot);
/* The PROT_* bits of MS_ACCESS_* bits (WRITE implies READ). */
int ms__prot_of(unsigned access);
int ms__advise(void *addr, size_t len, int advice);
int ms__open(const char *path, int flags, mode_t mode);
int ms__rename(const char *from, const char *to);
int ms__ioctl(int fd, unsigned long req, void *arg);
/* As ms__ioctl for requests that return a count (PAGEMAP_SCAN): the
 * non-negative result, or -errno. */
long ms__ioctl_count(int fd, unsigned long req, void *arg);

/* After a system call that did the first `done` bytes of spans[0..*n): step
 * *spans and *n past the spans done entirely; returns how many bytes of the
 * next one are done too (0 when none). */
static inline size_t ms__spans_skip(const ms__os_span **spans, size_t *n, size_t done)
{
	while (*n > 0 && done >= (*spans)->len) {
		done -= (*spans)->len;
		(*spans)++;
		(*n)--;
	}
	return *n > 0 ? done : 0;
}

/* A userfaultfd, non-blocking and close-on-exec, trying the syscall, then
 * /dev/userfaultfd, then (unless `kernel_faults`: faults the kernel takes
 * while writing for the process must reach the descriptor too)
 * UFFD_USER_MODE_ONLY. Returns the fd or -errno (-EPERM: kernel faults asked
 * for and this process may not have them). */
int ms__uffd_open(bool kernel_faults);

#endif /* MEMSNAP_LINUX_PRIM_H */
