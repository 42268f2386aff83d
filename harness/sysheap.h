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

/* When the target is x86-64 and its ELF defines both symbols, installs a
 * hook on the `syscall` instruction that answers brk, anonymous mmap,
 * munmap, mprotect, madvise and mremap from that area, and leaves every
 * other system call as it was. Does nothing otherwise. Returns 0, or -1
 * with a message in err. */
int msf_sysheap_install(msf_target *t, char *err, size_t errlen);

#endif
