/*
 * memsnap heap demo guest, x86-64 with musl's libc.a: the entry point and
 * the little C runtime set-up musl needs when its own start-up code
 * (__libc_start_main) does not run.
 *
 * - Thread pointer: musl finds its thread descriptor at fs:0 (a pointer to
 *   itself), errno inside it, and code built with -fstack-protector reads
 *   the canary at fs:0x28. heapdemo_tls is that descriptor; fs_base is set
 *   with wrmsr, which the guest may run because Unicorn starts it in ring 0.
 * - Auxiliary vector: musl's malloc seeds its secret from the auxiliary
 *   vector (libc.auxv, at offset 8 of musl's hidden __libc in musl 1.2),
 *   which start-up code would have set; an empty vector is enough.
 * - Heap: musl's malloc asks the kernel for memory with the brk and mmap
 *   system calls. The harness answers them from memsnap_brk_start ..
 *   memsnap_brk_end (harness/sysheap.c), defined in heapdemo.ld.
 *
 * All of this runs again for every input, which costs a few dozen
 * instructions: the start state the harness checkpoints is the state before
 * heapdemo_entry runs.
 */
#include <stddef.h>
#include <stdint.h>

#include "heapdemo.h"

#define MSR_FS_BASE 0xc0000100u

/* Larger than musl 1.2's struct pthread (about 200 bytes). */
static uint64_t heapdemo_tls[64] __attribute__((aligned(64)));
static const size_t heapdemo_auxv[2] = {0, 0};
extern char __libc[];

__attribute__((no_stack_protector)) static void libc_setup(void)
{
	uint64_t tp = (uint64_t)(uintptr_t)heapdemo_tls;
	heapdemo_tls[0] = tp;			 /* fs:0, the descriptor's self pointer */
	heapdemo_tls[5] = 0x5a17c0de2b9e4f00ull; /* fs:0x28, the canary; low byte 0 */
	*(const size_t **)(void *)(__libc + 8) = heapdemo_auxv;
	__asm__ volatile("wrmsr" ::"c"(MSR_FS_BASE), "a"((uint32_t)tp), "d"((uint32_t)(tp >> 32))
			 : "memory");
}

__attribute__((no_stack_protector)) int heapdemo_entry(const uint8_t *data, uint32_t len)
{
	libc_setup();
	return heapdemo_parse(data, len);
}
