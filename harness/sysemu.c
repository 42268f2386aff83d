/*
 * syscall = emulate: the system calls that C library code makes on its hot
 * paths, answered by the harness, for Linux x86-64 guests.
 *
 * Code taken from a real program (its libc, its heap) calls the kernel for
 * memory, for output, for the time and to end. Under Unicorn there is no
 * kernel, so this policy gives the few calls such code needs an answer that
 * keeps it going, deterministically, so that a crash replays:
 *
 *   brk, mmap (anonymous), munmap, mprotect, madvise, mremap
 *       from a guest area: the ELF's memsnap_brk_start/end, or the
 *       harness's syscall_arena (sysheap.c, which the `syscall` hook asks
 *       first under every policy)
 *   write, writev to fd 1 or 2   discarded; the byte count is returned
 *   write, writev to another fd  -EBADF
 *   exit, exit_group             the run ends as ok, the status its value
 *   clock_gettime, gettimeofday, time
 *                                a fixed time (MSF_SYSEMU_EPOCH), so that
 *                                runs do not depend on the clock
 *   anything else                -ENOSYS, as syscall = error does
 *
 * The registers follow the x86-64 Linux convention: the number in rax,
 * arguments in rdi, rsi, rdx, r10, r8, r9, the result in rax.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <unicorn/unicorn.h>

#include "sysemu.h"
#include "target_internal.h"

#define NR_WRITE 1
#define NR_WRITEV 20
#define NR_EXIT 60
#define NR_GETTIMEOFDAY 96
#define NR_TIME 201
#define NR_CLOCK_GETTIME 228
#define NR_EXIT_GROUP 231
#define IOV_MAX_ 1024

/* Bytes writev would write: the sum of the iovec lengths, read from guest
 * memory; -EFAULT if the array is not readable. */
static int64_t iov_total(msf_target *t, uint64_t iov, uint64_t n)
{
	if (n > IOV_MAX_)
		return -EINVAL;
	int64_t sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len;
		if (msf_mem_read(t, iov + 16 * i + 8, &len, sizeof len))
			return -EFAULT;
		if (len > INT64_MAX - (uint64_t)sum)
			return -EINVAL;
		sum += (int64_t)len;
	}
	return sum;
}

/* Write the fixed time as two 64-bit words (timespec or timeval) at addr
 * (nothing if addr is 0); -EFAULT if it is not writable guest memory. */
static int64_t put_time(msf_target *t, uint64_t addr, uint64_t second_part)
{
	uint64_t v[2] = {MSF_SYSEMU_EPOCH, second_part};
	if (addr && msf_mem_write(t, addr, v, sizeof v))
		return -EFAULT;
	return 0;
}

void msf__sysemu(msf_target *t, uint64_t pc, uint64_t nr)
{
	uint64_t a0 = msf_arg(t, 0), a1 = msf_arg(t, 1), a2 = msf_arg(t, 2);
	int64_t ret;
	switch (nr) {
	case NR_WRITE:
	case NR_WRITEV:
		if (a0 != 1 && a0 != 2)
			ret = -EBADF;
		else
			ret = nr == NR_WRITE ? (int64_t)a2 : iov_total(t, a1, a2);
		break;
	case NR_EXIT:
	case NR_EXIT_GROUP:
		t->stop_retval = a0;
		t->stop_has_retval = 1;
		msf__stop(t, MSF_KIND_OK, pc, "exit(%" PRId64 ")", (int64_t)a0);
		return;
	case NR_CLOCK_GETTIME:
		ret = put_time(t, a1, 0);
		break;
	case NR_GETTIMEOFDAY:
		ret = put_time(t, a0, 0);
		break;
	case NR_TIME: {
		uint64_t now = MSF_SYSEMU_EPOCH;
		ret = a0 && msf_mem_write(t, a0, &now, sizeof now) ? -EFAULT : (int64_t)now;
		break;
	}
	default:
		ret = -ENOSYS;
		break;
	}
	msf_reg_write(t, "rax", (uint64_t)ret);
}
