/*
 * Loading a captured start state into a target (procstate.c), in the order
 * msf_target_new_ext calls them. Not installed.
 */
#ifndef MEMSNAP_HARNESS_PROCSTATE_H
#define MEMSNAP_HARNESS_PROCSTATE_H

#include "target_internal.h"

#define EM_X86_64_ 62 /* EM_X86_64, without <elf.h>'s other names */

/* Open t->cfg.state, check its file mappings against their files, read the
 * symbols of every ELF file it mapped into t->elf. */
int msf__state_open(msf_target *t, char *err, size_t errlen);
/* With t->ram made: the state's RAM and its file mappings in guest RAM, the
 * captured registers in the engine (and kept for msf__state_restore_regs). */
int msf__state_map(msf_target *t, char *err, size_t errlen);
/* After the RAM and the registers are in the engine (state or core): the
 * executable regions as t->elf's segments, the registers kept. */
int msf__state_finish_map(msf_target *t, char *err, size_t errlen);
/* The captured registers again (after init and the extension's setup), rip
 * at the entry. */
int msf__state_restore_regs(msf_target *t, char *err, size_t errlen);
void msf__state_free(msf_target *t);

/* core = PATH (core.c): read the core's headers and notes, the symbols of
 * the ELF files its NT_FILE names; then map it (as msf__state_map). The
 * locations and registers are as for a state. */
int msf__core_open(msf_target *t, char *err, size_t errlen);
int msf__core_map(msf_target *t, char *err, size_t errlen);
void msf__core_free(msf_target *t);

#endif
