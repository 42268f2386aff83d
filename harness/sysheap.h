/*
 * memsnap fuzz harness: the brk and mmap system calls of an x86-64 guest
 * whose C library (musl) asks the kernel for its heap, answered from a guest
 * area. See sysheap.c.
 */
#ifndef MEMSNAP_HARNESS_SYSHEAP_H
#define MEMSNAP_HARNESS_SYSHEAP_H

#include "fuzz.h"

/* The symbols that name the area, [start, end). */
#define MSF_SYSHEAP_START "memsnap_brk_start"
#define MSF_SYSHEAP_END "memsnap_brk_end"

/* Called with the guest on a `syscall` instruction: when the target is
 * x86-64, has an area (its ELF defines both symbols, or syscall = emulate
 * mapped syscall_arena) and the call is brk, mmap
 * (anonymous), munmap, mprotect, madvise or mremap, answers it from the area
 * (rax gets the result) and returns 1; returns 0, touching nothing, for any
 * other call or target. A harness that has its own `syscall` hook calls this
 * first and applies its own policy when it returns 0. */
int msf_sysheap_syscall(msf_target *t);

/* Under syscall = emulate, maps syscall_arena unless the ELF declares its
 * own area (and refuses targets that are not x86-64). When the target is
 * x86-64 and has an area, checks that it is guest RAM (the harness's `syscall` hook calls
 * msf_sysheap_syscall before applying the `syscall` policy). Does nothing
 * otherwise. Returns 0, or -1 with a message in err. */
int msf_sysheap_install(msf_target *t, char *err, size_t errlen);

#endif
