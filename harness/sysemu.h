/*
 * memsnap fuzz harness: the `syscall = emulate` policy (sysemu.c).
 */
#ifndef MEMSNAP_HARNESS_SYSEMU_H
#define MEMSNAP_HARNESS_SYSEMU_H

#include <stdint.h>

#include "fuzz.h"

/* The time every emulated clock reads: 2025-01-01 00:00:00 UTC, seconds
 * since the epoch (and 0 ns or µs). */
#define MSF_SYSEMU_EPOCH 1735689600u

/* Answer system call `nr` of an x86-64 guest stopped on the `syscall`
 * instruction at pc (sysemu.c lists the calls); the result goes to rax, or
 * the run stops for exit and exit_group. */
void msf__sysemu(msf_target *t, uint64_t pc, uint64_t nr);

#endif
