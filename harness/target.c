/*
 * A fuzz target: the guest ELF in Unicorn, its start state checkpointed, and
 * one function that runs an input from that state and says how it ended.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc.h"
#include "procstate.h"
#include "target_internal.h"
#include "sysheap.h"
#include "triage.h"

static const char *const x86_64_names[] = {
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",    "r8",	  "r9",
    "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "fs_base", "gs_base"};
static const int x86_64_regs[] = {
    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX,    UC_X86_REG_RDX,	   UC_X86_REG_RSI,
    UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP,    UC_X86_REG_R8,	   UC_X86_REG_R9,
    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,    UC_X86_REG_R13,	   UC_X86_REG_R14,
    UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_EFLAGS, UC_X86_REG_FS_BASE, UC_X86_REG_GS_BASE};
static const char *const arm_names[] = {"r0", "r1",  "r2",  "r3",  "r4", "r5", "r6", "r7",  "r8",
					"r9", "r10", "r11", "r12", "sp", "lr", "pc", "cpsr"};
static const int arm_regs[] = {
    UC_ARM_REG_R0,  UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R4,	 UC_ARM_REG_R5,
    UC_ARM_REG_R6,  UC_ARM_REG_R7, UC_ARM_REG_R8, UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11,
    UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_CPSR};

int msf__fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#define fail msf__fail

uint64_t msf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "symbol", "symbol+offset" or a number. *sym_value gets the raw symbol
 * value (odd for Thumb functions) when a symbol is used. */
int msf__resolve(const msf_target *t, const char *loc, uint64_t *out, char *err, size_t errlen)
{
	if (loc[0] >= '0' && loc[0] <= '9')
		return msf_parse_u64(loc, out) ? fail(err, errlen, "bad address '%s'", loc) : 0;
	char name[256];
	uint64_t off = 0;
	const char *plus = strchr(loc, '+');
	size_t n = plus ? (size_t)(plus - loc) : strlen(loc);
	if (n >= sizeof name || (plus && msf_parse_u64(plus + 1, &off)))
		return fail(err, errlen, "bad location '%s'", loc);
	memcpy(name, loc, n);
	name[n] = 0;
	const msf_symbol *s = msf_elf_symbol(&t->elf, name);
	if (!s)
		return fail(err, errlen, "symbol '%s' is not in %s", name, t->cfg.elf);
	*out = s->value + off;
	return 0;
}

int msf__reg_id(const msf_target *t, const char *name)
{
	if (t->arch == ARCH_X86_64) {
		for (size_t i = 0; i < sizeof x86_64_names / sizeof x86_64_names[0]; i++)
			if (!strcmp(x86_64_names[i], name))
				return x86_64_regs[i];
	} else {
		for (size_t i = 0; i < sizeof arm_names / sizeof arm_names[0]; i++)
			if (!strcmp(arm_names[i], name))
				return arm_regs[i];
	}
	return -1;
}

uint64_t msf__code_addr(const msf_target *t, uint64_t addr)
{
	return t->arch == ARCH_X86_64 ? addr : addr & ~1ull;
}

int msf__is_code(msf_target *t, uint64_t addr)
{
	uc_mem_region *regs = NULL;
	uint32_t n = 0;
	int ok = 0;
	if (uc_mem_regions(t->uc, &regs, &n))
		return 0;
	for (uint32_t i = 0; i < n; i++)
		ok |=
		    addr >= regs[i].begin && addr <= regs[i].end && (regs[i].perms & UC_PROT_EXEC);
	uc_free(regs);
	return ok;
}

void msf__stop(msf_target *t, msf_kind kind, uint64_t pc, const char *fmt, ...)
{
	if (t->stopped)
		return;
	t->stopped = 1;
	t->stop_kind = kind;
	t->stop_pc = pc;
	t->stop_in_hook = t->cur_hook != NULL;
	t->stop_hook_addr = t->cur_hook ? t->cur_hook->addr : 0;
	t->stop_detail[0] = 0;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->stop_detail, sizeof t->stop_detail, fmt, ap);
		va_end(ap);
	}
	uc_emu_stop(t->uc);
}

static bool on_mem_invalid(uc_engine *uc, uc_mem_type type, uint64_t address, int size,
			   int64_t value, void *user_data)
{
	msf_target *t = user_data;
	(void)type;
	(void)value;
	t->mem_fault = 1;
	t->fault_addr = address;
	t->fault_size = size;
	uc_reg_read(uc, t->pc_reg, &t->fault_pc);
	return false;
}

static void on_exit_code(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	msf_target *t = user_data;
	(void)size;
	if (t->have_abort && address == t->abort_addr)
		t->hit_abort = 1;
	else
		t->hit_exit = 1;
	uc_emu_stop(uc);
}

static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	msf_target *t = user_data;
	(void)uc;
	(void)size;
	uint64_t cur = (address * 0x9e3779b97f4a7c15ull) >> 32;
	uint8_t *c = &t->cov[(cur ^ t->prev_block) & t->cov_mask];
	*c = (uint8_t)(*c + 1 + (*c == 255)); /* never wraps back to zero */
	t->prev_block = cur >> 1;
}

/* Map the PT_LOAD segments: page-rounded, overlapping pages merged with the
 * union of their permissions, each region zeroed and then filled with the
 * segment's file bytes. */
static int map_segments(msf_target *t, char *err, size_t errlen)
{
	size_t n = t->elf.n_segs;
	uint64_t lo[64], hi[64];
	uint32_t perms[64];
	if (n > 64)
		return fail(err, errlen, "%s: too many segments", t->cfg.elf);
	for (size_t i = 0; i < n; i++) {
		const msf_segment *s = &t->elf.segs[i];
		lo[i] = s->vaddr & ~0xfffull;
		hi[i] = (s->vaddr + s->memsz + 0xfff) & ~0xfffull;
		perms[i] = s->perms;
	}
	/* Insertion sort by start, then merge overlaps. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && lo[j] < lo[j - 1]; j--) {
			uint64_t a = lo[j], b = hi[j];
			uint32_t p = perms[j];
			lo[j] = lo[j - 1], hi[j] = hi[j - 1], perms[j] = perms[j - 1];
			lo[j - 1] = a, hi[j - 1] = b, perms[j - 1] = p;
		}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m && lo[i] < hi[m - 1]) {
			hi[m - 1] = hi[i] > hi[m - 1] ? hi[i] : hi[m - 1];
			perms[m - 1] |= perms[i];
			continue;
		}
		lo[m] = lo[i], hi[m] = hi[i], perms[m] = perms[i];
		m++;
	}
	for (size_t i = 0; i < m; i++) {
		int rc = msf_ram_map_zeroed(t->ram, lo[i], hi[i] - lo[i], perms[i]);
		if (rc)
			return fail(err, errlen, "mapping 0x%llx-0x%llx: %s",
				    (unsigned long long)lo[i], (unsigned long long)hi[i],
				    ms_strerror(rc));
	}
	for (size_t i = 0; i < n; i++) {
		const msf_segment *s = &t->elf.segs[i];
		int rc = s->filesz
			     ? msf_ram_write(t->ram, s->vaddr, t->elf.image + s->offset, s->filesz)
			     : 0;
		if (rc)
			return fail(err, errlen, "loading segment at 0x%llx: %s",
				    (unsigned long long)s->vaddr, ms_strerror(rc));
	}
	return 0;
}

static int setup_arch(msf_target *t, char *err, size_t errlen)
{
	const char *a = t->cfg.arch;
	if (t->elf.machine == EM_X86_64) {
		if (a && strcmp(a, "x86-64"))
			return fail(err, errlen, "arch %s does not match the x86-64 ELF", a);
		t->arch = ARCH_X86_64;
	} else {
		if (a && !strcmp(a, "x86-64"))
			return fail(err, errlen, "arch x86-64 does not match the ARM ELF");
		/* Thumb when asked, or when the entry symbol is odd. */
		t->arch = a ? (!strcmp(a, "thumb") ? ARCH_THUMB : ARCH_ARM)
			    : (t->entry & 1 ? ARCH_THUMB : ARCH_ARM);
	}
	uc_err e;
	if (t->arch == ARCH_X86_64) {
		e = uc_open(UC_ARCH_X86, UC_MODE_64, &t->uc);
		t->pc_reg = UC_X86_REG_RIP;
		t->ret_reg = UC_X86_REG_RAX;
	} else {
		e = uc_open(UC_ARCH_ARM, t->arch == ARCH_THUMB ? UC_MODE_THUMB : UC_MODE_ARM,
			    &t->uc);
		t->pc_reg = UC_ARM_REG_PC;
		t->ret_reg = UC_ARM_REG_R0;
	}
	if (e)
		return fail(err, errlen, "uc_open: %s", uc_strerror(e));
	if (t->arch == ARCH_THUMB)
		t->entry |= 1;
	else
		t->entry &= t->arch == ARCH_ARM ? ~3ull : ~0ull;
	const char *pr =
	    t->cfg.input_ptr_reg ? t->cfg.input_ptr_reg : (t->arch == ARCH_X86_64 ? "rdi" : "r0");
	const char *lr =
	    t->cfg.input_len_reg ? t->cfg.input_len_reg : (t->arch == ARCH_X86_64 ? "rsi" : "r1");
	t->ptr_reg = msf__reg_id(t, pr);
	t->len_reg = msf__reg_id(t, lr);
	if (t->ptr_reg < 0 || t->len_reg < 0)
		return fail(err, errlen, "unknown register '%s' for %s", t->ptr_reg < 0 ? pr : lr,
			    msf_target_arch_name(t));
	return 0;
}

/* entry, exits, abort, input and stack top from the config, else from the
 * target's defaults: for an ELF the demo's symbols; for a state captured
 * from a process (`captured`, with its registers in the engine) the break
 * address, the return address at [rsp] and a stack below the captured
 * frames (init calls and the extension's run there). */
static int setup_locations(msf_target *t, bool captured, char *err, size_t errlen)
{
	const msf_config *c = &t->cfg;
	uint64_t rsp = 0;
	if (captured)
		uc_reg_read(t->uc, UC_X86_REG_RSP, &rsp);
	t->entry = captured ? t->cap.brk : t->elf.entry;
	if (c->entry && msf__resolve(t, c->entry, &t->entry, err, errlen))
		return -1;
	if (c->n_exits) {
		for (int i = 0; i < c->n_exits; i++)
			if (msf__resolve(t, c->exits[i], &t->exits[i], err, errlen))
				return -1;
		t->n_exits = c->n_exits;
	} else if (captured) {
		/* Captured at a function's first instruction, [rsp] is where it
		 * returns to: the end of the run. */
		if (msf_ram_read(t->ram, rsp, &t->exits[0], 8))
			return fail(err, errlen, "%s: rsp 0x%" PRIx64 " is not in the state",
				    c->elf, rsp);
		t->n_exits = 1;
	} else if (!msf__resolve(t, "memsnap_demo_exit", &t->exits[0], err, errlen)) {
		t->n_exits = 1;
	} else {
		return fail(err, errlen,
			    "no exit address: set 'exit' (%s has no memsnap_demo_exit)", c->elf);
	}
	if (c->abort_at) {
		if (msf__resolve(t, c->abort_at, &t->abort_addr, err, errlen))
			return -1;
		t->have_abort = 1;
	}
	const char *in_name = c->input ? c->input : captured ? NULL : "memsnap_demo_input";
	const msf_symbol *in = in_name ? msf_elf_symbol(&t->elf, in_name) : NULL;
	if (c->input && c->input[0] == '@') {
		/* @REG: the buffer a captured register points to, such as one
		 * the program allocated and passes to the function. */
		if (!captured)
			return fail(err, errlen,
				    "input = %s: a register's buffer needs 'state' or 'core'",
				    c->input);
		int id = msf__reg_id(t, c->input + 1);
		if (id < 0)
			return fail(err, errlen, "input: no register '%s' on x86-64", c->input + 1);
		uc_reg_read(t->uc, id, &t->input_addr);
		t->have_input = 1;
	} else if (c->input) {
		if (msf__resolve(t, c->input, &t->input_addr, err, errlen))
			return -1;
		t->have_input = 1;
	} else if (in) {
		t->input_addr = in->value;
		t->have_input = 1;
	} else if (!t->ext || !t->ext->place_input) {
		/* An extension that places the input itself needs no buffer. */
		return captured ? fail(err, errlen,
				       "no input buffer: set 'input' (a symbol or an address)")
				: fail(err, errlen,
				       "no input buffer: set 'input' (%s has no memsnap_demo_input)",
				       c->elf);
	}
	t->input_max = c->input_max	? c->input_max
		       : in && in->size ? in->size
					: MSF_DEFAULT_INPUT_MAX;
	if (captured && !c->stack_top) {
		t->stack_top = (rsp - 4096) & ~15ull;
		return 0;
	}
	uint64_t top;
	if (msf__resolve(t, c->stack_top ? c->stack_top : "memsnap_demo_stack_top", &top, err,
			 errlen))
		return captured ? -1
				: fail(err, errlen,
				       "no stack: set 'stack_top' or 'stack' (%s has no "
				       "memsnap_demo_stack_top)",
				       c->elf);
	t->stack_top = top;
	return 0;
}

/* Set the stack pointer, the return address (the first exit) and the PC
 * for a call of `func` from the stack top. */
static int prepare_call(msf_target *t, uint64_t func)
{
	int rc;
	uint64_t top = t->stack_top;
	if (t->arch == ARCH_X86_64) {
		/* The function returns to the exit stub through [rsp]. */
		uint64_t sp = top - 8, ret = t->exits[0];
		rc = msf_ram_write(t->ram, sp, &ret, sizeof ret);
		if (!rc)
			rc = ms_uc_error(uc_reg_write(t->uc, UC_X86_REG_RSP, &sp));
	} else {
		uint32_t sp = (uint32_t)top, lr = (uint32_t)t->exits[0] | (t->arch == ARCH_THUMB);
		rc = ms_uc_error(uc_reg_write(t->uc, UC_ARM_REG_SP, &sp));
		if (!rc)
			rc = ms_uc_error(uc_reg_write(t->uc, UC_ARM_REG_LR, &lr));
	}
	uint64_t pc = msf__code_addr(t, func);
	if (!rc)
		rc = ms_uc_error(uc_reg_write(t->uc, t->pc_reg, &pc));
	return rc;
}

/* Every code location of the config must be mapped executable memory: a
 * typo'd address would otherwise turn every run into a timeout. */
static int check_code(msf_target *t, const char *key, const char *loc, uint64_t addr, char *err,
		      size_t errlen)
{
	if (msf__is_code(t, msf__code_addr(t, addr)))
		return 0;
	return fail(err, errlen, "%s: 0x%llx (%s) is not in mapped executable memory", key,
		    (unsigned long long)msf__code_addr(t, addr), loc);
}

static int setup_hooks(msf_target *t, char *err, size_t errlen)
{
	const msf_config *c = &t->cfg;
	int rc = check_code(t, "entry", c->entry ? c->entry : "the ELF entry point", t->entry, err,
			    errlen);
	for (int i = 0; !rc && i < t->n_exits; i++)
		rc = check_code(t, "exit", c->n_exits ? c->exits[i] : "memsnap_demo_exit",
				t->exits[i], err, errlen);
	if (!rc && t->have_abort)
		rc = check_code(t, "abort", c->abort_at, t->abort_addr, err, errlen);
	if (rc)
		return rc;
	/* Bit 0 of a code address means Thumb on ARM only: an x86-64 function
	 * may well start at an odd address. */
	for (int i = 0; i < t->n_exits; i++)
		t->exits[i] = msf__code_addr(t, t->exits[i]);
	t->abort_addr = msf__code_addr(t, t->abort_addr);
	uc_hook h;
	uc_err e = uc_hook_add(t->uc, &h, UC_HOOK_MEM_INVALID, (void *)on_mem_invalid, t, 1, 0);
	/* The first exit is uc_emu_start's `until`; the others stop the run
	 * from a one-instruction code hook, and so does the abort address.
	 * Not a block hook, although the abort address is often a function's
	 * entry (msf__hook_add): a run stopped from a block hook does not
	 * always report the program counter at that block, and a crash's
	 * backtrace, and so its bucket, starts from the program counter. */
	for (int i = 1; !e && i < t->n_exits; i++)
		e = uc_hook_add(t->uc, &h, UC_HOOK_CODE, (void *)on_exit_code, t, t->exits[i],
				t->exits[i]);
	if (!e && t->have_abort)
		e = uc_hook_add(t->uc, &h, UC_HOOK_CODE, (void *)on_exit_code, t, t->abort_addr,
				t->abort_addr);
	if (e)
		return fail(err, errlen, "uc_hook_add: %s", uc_strerror(e));
	return 0;
}

/* reg = NAME VALUE keys. */
static int apply_regs(msf_target *t, char *err, size_t errlen)
{
	for (int i = 0; i < t->cfg.n_regs; i++) {
		const msf_reg_spec *r = &t->cfg.regs[i];
		uint64_t v;
		char msg[MSF_ERR_LEN];
		if (r->value[0] == '-') {
			uint64_t m;
			msf_parse_u64(r->value + 1, &m);
			v = (uint64_t)0 - m;
		} else if (msf__resolve(t, r->value, &v, msg, sizeof msg)) {
			return fail(err, errlen, "reg %s: %s", r->name, msg);
		}
		int rc = msf_reg_write(t, r->name, v);
		if (rc == -ENOENT)
			return fail(err, errlen, "reg: no register '%s' on %s", r->name,
				    msf_target_arch_name(t));
		if (rc)
			return fail(err, errlen, "reg %s: %s", r->name, ms_strerror(rc));
	}
	return 0;
}

/* Explain why msf_call failed, for setup errors. */
static int call_error(msf_target *t, const char *what, int rc, char *err, size_t errlen)
{
	uint64_t pc = 0;
	uc_reg_read(t->uc, t->pc_reg, &pc);
	if (t->stopped)
		pc = t->stop_pc;
	else if (t->mem_fault)
		pc = t->fault_pc;
	if (rc == -ETIMEDOUT)
		return fail(err, errlen, "%s did not return within %llu instructions (pc 0x%llx)",
			    what, (unsigned long long)t->cfg.budget, (unsigned long long)pc);
	return fail(err, errlen, "%s crashed: %s at pc 0x%llx%s%s", what,
		    t->stopped	   ? msf_kind_name(t->stop_kind)
		    : t->mem_fault ? "memory fault"
				   : "stopped",
		    (unsigned long long)pc, t->stop_detail[0] ? ": " : "", t->stop_detail);
}

static int load_extension(msf_target *t, const msf_extension *ext, char *err, size_t errlen)
{
	if (!ext && t->cfg.extension) {
		t->ext_handle = dlopen(t->cfg.extension, RTLD_NOW | RTLD_LOCAL);
		if (!t->ext_handle)
			return fail(err, errlen, "extension: %s", dlerror());
		ext = dlsym(t->ext_handle, MSF_EXTENSION_SYMBOL);
		if (!ext)
			return fail(
			    err, errlen,
			    "extension: %s defines no %s (use MSF_EXTENSION, memsnap/fuzz.h)",
			    t->cfg.extension, MSF_EXTENSION_SYMBOL);
	}
	if (ext && ext->abi != MSF_EXTENSION_ABI)
		return fail(err, errlen, "extension: ABI %u, this harness has %u (rebuild it)",
			    ext->abi, MSF_EXTENSION_ABI);
	t->ext = ext;
	return 0;
}

int msf_target_new(const msf_config *c, msf_target **out, char *err, size_t errlen)
{
	return msf_target_new_ext(c, NULL, out, err, errlen);
}

int msf_target_new_ext(const msf_config *c, const msf_extension *ext, msf_target **out, char *err,
		       size_t errlen)
{
	if (msf_config_check(c, err, errlen))
		return -1;
	msf_target *t = calloc(1, sizeof *t);
	if (!t)
		return fail(err, errlen, "out of memory");
	t->cfg = *c;
	/* A start state captured from a process: a state file or a core. */
	const char *process = c->state ? c->state : c->core;
	if (process)
		t->cfg.elf = (char *)process; /* messages name it */
	int rc = load_extension(t, ext, err, errlen);
	if (!rc)
		rc = c->state  ? msf__state_open(t, err, errlen)
		     : c->core ? msf__core_open(t, err, errlen)
			       : msf_elf_load(c->elf, &t->elf, err, errlen);
	if (!rc && !process)
		rc = setup_locations(t, false, err, errlen);
	if (!rc)
		rc = setup_arch(t, err, errlen);
	if (!rc) {
		int e = msf_ram_new(c->reset, c->tracking, process != NULL, t->uc, &t->ram);
		if (e)
			rc = fail(err, errlen, "guest RAM: %s", ms_strerror(e));
	}
	if (!rc)
		rc = c->state  ? msf__state_map(t, err, errlen)
		     : c->core ? msf__core_map(t, err, errlen)
			       : map_segments(t, err, errlen);
	if (!rc && process)
		rc = setup_locations(t, true, err, errlen);
	for (int i = 0; !rc && i < c->n_ram; i++) {
		const msf_ram_spec *r = &c->ram[i];
		int e = r->file ? msf_ram_map_file(t->ram, r->addr, r->size, r->perms, r->file,
						   r->file_offset)
				: msf_ram_map_zeroed(t->ram, r->addr, r->size, r->perms);
		if (e)
			rc = fail(err, errlen, "ram 0x%llx (%llu bytes)%s%s: %s",
				  (unsigned long long)r->addr, (unsigned long long)r->size,
				  r->file ? " from " : "", r->file ? r->file : "", ms_strerror(e));
	}
	if (!rc)
		rc = setup_hooks(t, err, errlen);
	if (!rc)
		rc = msf__hooks_setup(t, err, errlen);
	if (!rc)
		rc = msf__heap_setup(t, err, errlen);
	if (!rc)
		rc = msf_sysheap_install(t, err, errlen);
	t->in_setup = 1;
	if (!rc)
		rc = apply_regs(t, err, errlen);
	if (!rc && c->init) {
		uint64_t f;
		rc = msf__resolve(t, c->init, &f, err, errlen);
		if (!rc)
			rc = check_code(t, "init", c->init, f, err, errlen);
		int e = rc ? 0 : msf_call(t, f, 0, NULL);
		if (e) {
			char what[300];
			snprintf(what, sizeof what, "init: %s", c->init);
			rc = call_error(t, what, e, err, errlen);
		}
	}
	if (!rc && t->ext && t->ext->setup) {
		int e = t->ext->setup(t, t->ext->user_data);
		if (e)
			rc = fail(err, errlen, "extension %s: setup failed: %s",
				  c->extension ? c->extension : "(built in)", ms_strerror(e));
	}
	t->in_setup = 0;
	if (!rc && process) {
		rc = msf__state_restore_regs(t, err, errlen);
	} else if (!rc) {
		int e = prepare_call(t, t->entry);
		if (e)
			rc = fail(err, errlen, "stack top 0x%llx is not in guest RAM: %s",
				  (unsigned long long)t->stack_top, ms_strerror(e));
	}
	if (!rc)
		rc = apply_regs(t, err, errlen);
	if (!rc && t->have_input) {
		/* The input buffer must be guest RAM. */
		uint8_t probe;
		if (msf_ram_read(t->ram, t->input_addr, &probe, 1) ||
		    msf_ram_read(t->ram, t->input_addr + t->input_max - 1, &probe, 1))
			rc =
			    fail(err, errlen, "input buffer 0x%llx (%zu bytes) is not in guest RAM",
				 (unsigned long long)t->input_addr, t->input_max);
	}
	if (!rc) {
		if (c->prefault)
			msf_ram_prefault(t->ram);
		int e = msf_ram_checkpoint(t->ram);
		if (e)
			rc = fail(err, errlen, "checkpoint of the start state: %s", ms_strerror(e));
	}
	if (rc) {
		msf_target_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void msf_target_free(msf_target *t)
{
	if (!t)
		return;
	if (t->ext && t->ext->teardown)
		t->ext->teardown(t, t->ext->user_data);
	msf__heap_free(t);
	msf__state_free(t);
	msf__core_free(t);
	msf_ram_free(t->ram);
	if (t->uc)
		uc_close(t->uc);
	msf__hooks_free(t);
	msf_dwarf_close(t->dwarf);
	msf_elf_free(&t->elf);
	if (t->ext_handle)
		dlclose(t->ext_handle);
	free(t);
}

int msf_call(msf_target *t, uint64_t func, uint64_t budget, uint64_t *retval)
{
	if (!t || !t->in_setup)
		return -EBUSY;
	int rc = prepare_call(t, func);
	if (rc)
		return rc;
	t->hit_exit = t->hit_abort = t->mem_fault = t->stopped = 0;
	uint64_t begin = t->arch == ARCH_THUMB ? func | 1 : func;
	rc = msf_ram_run(t->ram, begin, t->exits[0], budget ? budget : t->cfg.budget);
	uint64_t pc = 0;
	uc_reg_read(t->uc, t->pc_reg, &pc);
	if (t->stopped && t->stop_has_retval) {
		t->stopped = 0; /* syscall = exit: the function ended normally */
		if (retval)
			*retval = t->stop_retval;
		return 0;
	}
	if (rc || t->stopped || t->hit_abort)
		return -EFAULT;
	if (pc != t->exits[0] && !t->hit_exit)
		return -ETIMEDOUT;
	if (retval) {
		*retval = 0;
		uc_reg_read(t->uc, t->ret_reg, retval);
		if (t->arch != ARCH_X86_64)
			*retval &= 0xffffffffu;
	}
	return 0;
}

void msf_target_set_coverage(msf_target *t, uint8_t *map, size_t size)
{
	if (t->cov_hook) {
		uc_hook_del(t->uc, t->cov_hook);
		t->cov_hook = 0;
	}
	t->cov = map;
	t->cov_mask = size ? size - 1 : 0;
	if (map && size)
		uc_hook_add(t->uc, &t->cov_hook, UC_HOOK_BLOCK, (void *)on_block, t, 1, 0);
}

static msf_kind kind_of_error(int rc)
{
	if (rc > MS_ERR_UC_BASE || rc < MS_ERR_UC_BASE - 99)
		return MSF_KIND_ERROR;
	switch ((uc_err)(MS_ERR_UC_BASE - rc)) {
	case UC_ERR_READ_UNMAPPED:
		return MSF_KIND_READ_UNMAPPED;
	case UC_ERR_WRITE_UNMAPPED:
		return MSF_KIND_WRITE_UNMAPPED;
	case UC_ERR_FETCH_UNMAPPED:
		return MSF_KIND_FETCH_UNMAPPED;
	case UC_ERR_READ_PROT:
		return MSF_KIND_READ_PROT;
	case UC_ERR_WRITE_PROT:
		return MSF_KIND_WRITE_PROT;
	case UC_ERR_FETCH_PROT:
		return MSF_KIND_FETCH_PROT;
	case UC_ERR_INSN_INVALID:
		return MSF_KIND_INSN_INVALID;
	case UC_ERR_EXCEPTION:
	case UC_ERR_READ_UNALIGNED:
	case UC_ERR_WRITE_UNALIGNED:
	case UC_ERR_FETCH_UNALIGNED:
		return MSF_KIND_EXCEPTION;
	default:
		return MSF_KIND_ERROR;
	}
}

int msf_place_input_default(msf_target *t, const uint8_t *data, size_t len)
{
	if (!t->have_input)
		return -ENOENT;
	if (len > t->input_max)
		len = t->input_max;
	int rc = len ? msf_ram_write(t->ram, t->input_addr, data, len) : 0;
	uint64_t ptr = t->input_addr, n = len;
	if (!rc)
		rc = ms_uc_error(uc_reg_write(t->uc, t->ptr_reg, &ptr));
	if (!rc)
		rc = ms_uc_error(uc_reg_write(t->uc, t->len_reg, &n));
	return rc;
}

/* A run that ended without an exit, a fault or a stop of ours: either the
 * budget ran out, or the guest halted the CPU (x86 hlt, ARM wfi), which
 * Unicorn ends quietly with the PC after the instruction. The instruction
 * before the PC tells them apart; a budget that runs out exactly after a
 * byte that looks like hlt would be taken for one. */
static msf_kind halt_or_timeout(msf_target *t, uint64_t pc)
{
	uint8_t b[4];
	if (t->arch == ARCH_X86_64)
		return !uc_mem_read(t->uc, pc - 1, b, 1) && b[0] == 0xf4 ? MSF_KIND_HLT
									 : MSF_KIND_TIMEOUT;
	if (uc_mem_read(t->uc, pc - 4, b, 4))
		return MSF_KIND_TIMEOUT;
	uint32_t w =
	    (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	if (t->arch == ARCH_THUMB) {
		/* wfi (bf30) or wfi.w (f3af 8003). */
		if ((w >> 16) == 0xbf30 || w == 0x8003f3afu)
			return MSF_KIND_WFI;
	} else if ((w & 0x0fffffffu) == 0x0320f003u) {
		return MSF_KIND_WFI;
	}
	return MSF_KIND_TIMEOUT;
}

int msf_target_run(msf_target *t, const uint8_t *data, size_t len, msf_result *res)
{
	memset(res, 0, sizeof *res);
	if (len > t->input_max)
		len = t->input_max;
	uint64_t t0 = msf_now_ns(), dirty = 0;
	if (!t->stats.start_ns)
		t->stats.start_ns = t0;
	int rc = msf_ram_restore(t->ram, &dirty);
	uint64_t t1 = msf_now_ns();
	t->in_data = data;
	t->in_len = len;
	t->in_pos = 0;
	t->hit_exit = t->hit_abort = t->mem_fault = t->stopped = 0;
	t->stop_has_retval = 0;
	t->in_run = 1;
	if (!rc)
		rc = t->ext && t->ext->place_input
			 ? t->ext->place_input(t, data, len, t->ext->user_data)
			 : msf_place_input_default(t, data, len);
	if (rc) {
		t->in_run = 0;
		res->kind = MSF_KIND_ERROR;
		res->err = rc;
		return rc;
	}
	t->prev_block = 0;
	rc = msf_ram_run(t->ram, t->entry, t->exits[0], t->cfg.budget);
	t->in_run = 0;
	t->in_data = NULL;
	res->err = rc;
	uc_reg_read(t->uc, t->pc_reg, &res->pc);
	if (t->stopped) {
		res->kind = t->stop_kind;
		res->pc = t->stop_pc;
		res->err = 0;
		snprintf(res->detail, sizeof res->detail, "%s", t->stop_detail);
		if (t->stop_has_retval)
			res->retval = t->stop_retval;
		if (t->mem_fault && res->kind != MSF_KIND_OK) {
			res->addr = t->fault_addr;
			res->access_size = t->fault_size;
			res->have_addr = 1;
		}
	} else if (rc) {
		res->kind = kind_of_error(rc);
		if (t->mem_fault) {
			res->pc = t->fault_pc;
			res->addr = t->fault_addr;
			res->access_size = t->fault_size;
			res->have_addr = 1;
		}
	} else if (t->hit_abort) {
		res->kind = MSF_KIND_ABORT;
	} else {
		res->kind = MSF_KIND_TIMEOUT;
		for (int i = 0; i < t->n_exits; i++)
			if (res->pc == t->exits[i])
				res->kind = MSF_KIND_OK;
		if (t->hit_exit)
			res->kind = MSF_KIND_OK;
		if (res->kind == MSF_KIND_TIMEOUT)
			res->kind = halt_or_timeout(t, res->pc);
	}
	if (res->kind == MSF_KIND_OK) {
		if (!t->stop_has_retval)
			uc_reg_read(t->uc, t->ret_reg, &res->retval);
		if (t->arch != ARCH_X86_64)
			res->retval &= 0xffffffffu;
	} else {
		int nr;
		msf_target_reg_names(t, &nr);
		const int *ids = t->arch == ARCH_X86_64 ? x86_64_regs : arm_regs;
		for (int i = 0; i < nr; i++) {
			res->regs[i] = 0;
			uc_reg_read(t->uc, ids[i], &res->regs[i]);
			if (t->arch != ARCH_X86_64)
				res->regs[i] &= 0xffffffffu;
			/* The backtrace, and so the bucket, starts here. */
			if (ids[i] == t->pc_reg && t->stopped && t->stop_in_hook)
				res->regs[i] = t->stop_hook_addr;
		}
		res->n_regs = nr;
	}
	uint64_t t2 = msf_now_ns();
	t->stats.execs++;
	t->stats.restore_ns += t1 - t0;
	t->stats.iter_ns += t2 - t0;
	t->stats.dirty_pages += dirty;
	t->stats.crashes += msf_kind_is_crash(res->kind);
	t->stats.timeouts += res->kind == MSF_KIND_TIMEOUT;
	return 0;
}

const msf_config *msf_target_config(const msf_target *t)
{
	return &t->cfg;
}

const msf_elf *msf_target_elf(const msf_target *t)
{
	return &t->elf;
}

const msf_stats *msf_target_stats(const msf_target *t)
{
	return &t->stats;
}

size_t msf_target_input_max(const msf_target *t)
{
	return t->input_max;
}

const char *msf_target_arch_name(const msf_target *t)
{
	return t->arch == ARCH_X86_64 ? "x86-64" : t->arch == ARCH_THUMB ? "thumb" : "arm";
}

const char *msf_target_reset_name(const msf_target *t)
{
	return t->cfg.reset == MSF_RESET_MEMCPY ? "memcpy" : "memsnap";
}

const char *msf_target_tracking_name(const msf_target *t)
{
	return msf_ram_tracking_name(t->ram);
}

long msf_target_verify(msf_target *t)
{
	return msf_ram_verify(t->ram);
}

const char *const *msf_target_reg_names(const msf_target *t, int *n)
{
	if (t->arch == ARCH_X86_64) {
		/* The report shows the general registers, not fs_base/gs_base. */
		*n = (int)(sizeof x86_64_names / sizeof x86_64_names[0]) - 2;
		return x86_64_names;
	}
	*n = (int)(sizeof arm_names / sizeof arm_names[0]);
	return arm_names;
}

msf_uc *msf_target_engine(msf_target *t)
{
	return t->uc;
}

uint64_t msf_target_ram_pages(const msf_target *t)
{
	return msf_ram_total_pages(t->ram);
}

int msf_target_tick(msf_target *t, uint64_t now_ns)
{
	if (now_ns - t->last_tick_ns < 1000000000u)
		return 0;
	t->last_tick_ns = now_ns;
	return 1;
}

msf_ram *msf_target_ram(msf_target *t)
{
	return t->ram;
}

msf_dwarf *msf_target_dwarf(msf_target *t)
{
	if (!t->dwarf_tried) {
		t->dwarf_tried = 1;
		msf_dwarf_open(t->cfg.elf, &t->dwarf);
	}
	return t->dwarf;
}

const uint64_t *msf_target_exits(const msf_target *t, int *n)
{
	*n = t->n_exits;
	return t->exits;
}
