/*
 * The fuzz target's state, shared by target.c (setup and runs), hooks.c
 * (hooks at addresses, stubs, system calls, MMIO and the extension API) and
 * heap.c (the heap sanitizer), sysheap.c and sysemu.c (system calls). Not
 * installed.
 */
#ifndef MEMSNAP_HARNESS_TARGET_INTERNAL_H
#define MEMSNAP_HARNESS_TARGET_INTERNAL_H

#include <unicorn/unicorn.h>

#include "capture.h"
#include "fuzz.h"
#include "memsnap/state.h"
#include "triage.h"

typedef enum arch { ARCH_X86_64, ARCH_THUMB, ARCH_ARM } arch;

/* One hook at an address (msf_hook_add, a stub, a heap function). */
typedef struct msf_hook {
	struct msf_hook *next;
	msf_target *t;
	uint64_t addr;
	msf_hook_fn fn;
	void *user_data;
	uint64_t retval; /* stubs */
	int block;	 /* a block hook at a function's entry (hooks.c) */
} msf_hook;

typedef struct msf_mmio {
	struct msf_mmio *next;
	msf_target *t;
	uint64_t addr;
	msf_mmio_read_fn read;
	msf_mmio_write_fn write;
	void *user_data;
} msf_mmio;

typedef struct msf_heap msf_heap;
typedef struct msf_core msf_core;

struct msf_target {
	msf_config cfg; /* borrowed strings: only read */
	msf_elf elf;
	arch arch;
	uc_engine *uc;
	msf_ram *ram;
	int pc_reg, ret_reg, ptr_reg, len_reg;
	uint64_t entry; /* where runs begin (odd in Thumb mode) */
	uint64_t exits[MSF_MAX_EXITS];
	int n_exits;
	uint64_t abort_addr;
	int have_abort;
	uint64_t input_addr;
	int have_input;
	size_t input_max;
	uint64_t stack_top;
	/* Per run. */
	int hit_exit, hit_abort, mem_fault;
	uint64_t fault_pc, fault_addr;
	int fault_size;
	/* A run ended by the harness itself (msf__stop): its kind and PC win
	 * over what Unicorn says. */
	int stopped;
	msf_kind stop_kind;
	uint64_t stop_pc, stop_retval;
	int stop_has_retval;
	/* Stopped from a harness hook: the guest stands at the hooked
	 * address, whatever Unicorn's program counter says (after a block
	 * hook it can still hold a previous block's address). */
	int stop_in_hook;
	uint64_t stop_hook_addr;
	char stop_detail[320];
	/* The current input, for msf_input_take. */
	const uint8_t *in_data;
	size_t in_len, in_pos;
	/* Extension. */
	const msf_extension *ext;
	void *ext_handle; /* dlopen handle, or NULL */
	int in_setup, in_run;
	msf_hook *cur_hook; /* the hook being called, or NULL */
	uint32_t cur_size;  /* size of the hooked instruction */
	msf_hook *hooks;
	msf_mmio *mmios;
	msf_heap *heap;
	/* The area that brk and mmap are answered from (sysheap.c) when the
	 * harness mapped it for syscall = emulate; 0 when the ELF declares its
	 * own or there is none. */
	uint64_t sys_start, sys_end;
	/* Coverage. */
	uint8_t *cov;
	uint64_t cov_mask;
	uint64_t prev_block;
	uc_hook cov_hook;
	msf_stats stats;
	uint64_t last_tick_ns;
	/* A captured start state (cfg.state, procstate.c): the open file until
	 * its RAM is mapped, its file mappings and symbols, the registers. */
	ms_state *st;
	msf_capture_info cap;
	uc_context *cap_ctx;
	msf_core *core; /* cfg.core (core.c) */
	/* Triage: the guest's DWARF, opened on the first crash report. */
	msf_dwarf *dwarf;
	int dwarf_tried;
};

/* printf into err; returns -1. */
int msf__fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A location of the config (symbol, symbol+offset, number) as an address. */
int msf__resolve(const msf_target *t, const char *loc, uint64_t *out, char *err, size_t errlen);

/* A code address as Unicorn sees it: bit 0 dropped where it means Thumb. */
uint64_t msf__code_addr(const msf_target *t, uint64_t addr);

/* Unicorn register id of a name, or -1. */
int msf__reg_id(const msf_target *t, const char *name);

/* End the run now with `kind` at `pc` (the first stop wins); detail is
 * printf-style and may be NULL. */
void msf__stop(msf_target *t, msf_kind kind, uint64_t pc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The return address of the function being entered (hooks at its first
 * instruction): [rsp] on x86-64, lr on ARM. */
uint64_t msf__return_address(msf_target *t);

/* In a hook at a function's entry: the return address (the call site) and
 * the first three integer arguments, in one batch of register reads. */
int msf__entry_args(msf_target *t, uint64_t *site, uint64_t args[3]);

/* Whether [addr] is in mapped executable guest memory. */
int msf__is_code(msf_target *t, uint64_t addr);

/* Whether addr is the first instruction of a function symbol: a hook there
 * can be a block hook, which costs far less than a code hook (hooks.c). */
int msf__is_function_entry(const msf_target *t, uint64_t addr);

/* hooks.c: stubs, the system-call and interrupt hooks (setup), and
 * freeing hooks and MMIO regions. */
int msf__hooks_setup(msf_target *t, char *err, size_t errlen);
void msf__hooks_free(msf_target *t);
/* Internal msf_hook_add that also takes a stub's return value. */
int msf__hook_add(msf_target *t, uint64_t addr, msf_hook_fn fn, void *user_data, uint64_t retval);

/* heap.c */
int msf__heap_setup(msf_target *t, char *err, size_t errlen);
void msf__heap_free(msf_target *t);

#endif
