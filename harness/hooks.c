/*
 * The extension API (memsnap/fuzz.h) and what the config keys build on it:
 * hooks at addresses, stubs, system calls, interrupts (bkpt, int3) and
 * memory-mapped I/O regions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <capstone/capstone.h>

#include "memsnap/uc.h"
#include "sysemu.h"
#include "sysheap.h"
#include "target_internal.h"

/* ---- Memory, symbols, registers ------------------------------------------ */

int msf_lookup_symbol(msf_target *t, const char *name, uint64_t *addr)
{
	if (!t || !name || !addr)
		return -EINVAL;
	const msf_symbol *s = msf_elf_symbol(&t->elf, name);
	if (!s)
		return -ENOENT;
	*addr = s->value;
	return 0;
}

int msf_map(msf_target *t, uint64_t addr, uint64_t size, uint32_t perms)
{
	if (!t || (perms & ~7u))
		return -EINVAL;
	if (!t->in_setup)
		return -EBUSY;
	if (!size || ((addr | size) & 0xfff) || addr + size < addr)
		return -EINVAL;
	return msf_ram_map_zeroed(t->ram, addr, size, perms);
}

int msf_mem_read(msf_target *t, uint64_t addr, void *buf, size_t len)
{
	if (!t || (!buf && len))
		return -EINVAL;
	return msf_ram_read(t->ram, addr, buf, len);
}

int msf_mem_write(msf_target *t, uint64_t addr, const void *buf, size_t len)
{
	if (!t || (!buf && len))
		return -EINVAL;
	return msf_ram_write(t->ram, addr, buf, len);
}

int msf_reg_read(msf_target *t, const char *name, uint64_t *value)
{
	if (!t || !name || !value)
		return -EINVAL;
	int id = msf__reg_id(t, name);
	if (id < 0)
		return -ENOENT;
	*value = 0;
	int rc = ms_uc_error(uc_reg_read(t->uc, id, value));
	if (t->arch != ARCH_X86_64)
		*value &= 0xffffffffu;
	return rc;
}

int msf_reg_write(msf_target *t, const char *name, uint64_t value)
{
	if (!t || !name)
		return -EINVAL;
	int id = msf__reg_id(t, name);
	if (id < 0)
		return -ENOENT;
	if (t->arch != ARCH_X86_64) {
		uint32_t v = (uint32_t)value;
		return ms_uc_error(uc_reg_write(t->uc, id, &v));
	}
	return ms_uc_error(uc_reg_write(t->uc, id, &value));
}

uint64_t msf_arg(msf_target *t, int i)
{
	static const int x86[] = {UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX,
				  UC_X86_REG_RCX, UC_X86_REG_R8,  UC_X86_REG_R9};
	static const int arm[] = {UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3};
	uint64_t v = 0;
	if (!t || i < 0 || i >= (t->arch == ARCH_X86_64 ? 6 : 4))
		return 0;
	uc_reg_read(t->uc, t->arch == ARCH_X86_64 ? x86[i] : arm[i], &v);
	return t->arch == ARCH_X86_64 ? v : v & 0xffffffffu;
}

struct uc_struct *msf_engine(msf_target *t)
{
	return t ? t->uc : NULL;
}

size_t msf_input_take(msf_target *t, void *buf, size_t n)
{
	if (!t || !t->in_data || t->in_pos >= t->in_len)
		return 0;
	size_t left = t->in_len - t->in_pos;
	if (n > left)
		n = left;
	memcpy(buf, t->in_data + t->in_pos, n);
	t->in_pos += n;
	return n;
}

/* ---- Hooks at addresses ---------------------------------------------------- */

uint64_t msf__return_address(msf_target *t)
{
	uint64_t ret = 0;
	if (t->arch == ARCH_X86_64) {
		uint64_t sp = 0;
		uc_reg_read(t->uc, UC_X86_REG_RSP, &sp);
		if (uc_mem_read(t->uc, sp, &ret, 8))
			return 0;
	} else {
		uint32_t lr = 0;
		uc_reg_read(t->uc, UC_ARM_REG_LR, &lr);
		ret = lr;
	}
	return ret;
}

static void on_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	msf_hook *h = user_data;
	msf_target *t = h->t;
	(void)uc;
	t->cur_hook = h;
	t->cur_size = h->block ? 0 : size; /* a block hook gets the block's size */
	h->fn(t, address, h->user_data);
	t->cur_hook = NULL;
}

/* The size of the instruction at addr (capstone), or 0. */
static uint32_t insn_size(msf_target *t, uint64_t addr)
{
	uint8_t code[16];
	size_t n = sizeof code;
	while (n && uc_mem_read(t->uc, addr, code, n))
		n--;
	csh cs;
	if (!n || cs_open(t->arch == ARCH_X86_64 ? CS_ARCH_X86 : CS_ARCH_ARM,
			  t->arch == ARCH_X86_64  ? CS_MODE_64
			  : t->arch == ARCH_THUMB ? CS_MODE_THUMB
						  : CS_MODE_ARM,
			  &cs) != CS_ERR_OK)
		return 0;
	cs_insn *insn = NULL;
	uint32_t size = cs_disasm(cs, code, n, addr, 1, &insn) ? insn[0].size : 0;
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	return size;
}

int msf__is_function_entry(const msf_target *t, uint64_t addr)
{
	for (size_t i = 0; i < t->elf.n_syms; i++)
		if (t->elf.syms[i].is_func && msf__code_addr(t, t->elf.syms[i].value) == addr)
			return 1;
	return 0;
}

/*
 * Unicorn 2.0.1 runs the bounds check of every UC_HOOK_CODE hook for every
 * instruction that any code hook covers, and the instruction budget is one
 * such hook covering all code: each further code hook adds its check to
 * every guest instruction (four hooks took a fifth of the host instructions
 * of a malloc-heavy guest under callgrind). A block hook costs only at the
 * start of a block, and a function's first instruction always starts one,
 * since calls and jumps end blocks. So a hook at a function entry is a
 * block hook; a hook anywhere else is a code hook.
 */
int msf__hook_add(msf_target *t, uint64_t addr, msf_hook_fn fn, void *user_data, uint64_t retval)
{
	msf_hook *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	*h = (msf_hook){t->hooks, t, msf__code_addr(t, addr), fn, user_data, retval, 0};
	h->block = msf__is_function_entry(t, h->addr);
	uc_hook id;
	uc_err e = uc_hook_add(t->uc, &id, h->block ? UC_HOOK_BLOCK : UC_HOOK_CODE, (void *)on_hook,
			       h, h->addr, h->addr);
	if (e) {
		free(h);
		return ms_uc_error(e);
	}
	t->hooks = h;
	return 0;
}

int msf_hook_add(msf_target *t, uint64_t addr, msf_hook_fn fn, void *user_data)
{
	if (!t || !fn)
		return -EINVAL;
	if (!t->in_setup)
		return -EBUSY;
	return msf__hook_add(t, addr, fn, user_data, 0);
}

/* Writing the PC from a code hook makes Unicorn leave the current block and
 * go on at the new PC, without running the hooked instruction. On ARM the
 * PC's bit 0 selects Thumb, as it does for a branch to lr. */
static int set_pc(msf_target *t, uint64_t pc)
{
	if (t->arch == ARCH_X86_64)
		return ms_uc_error(uc_reg_write(t->uc, UC_X86_REG_RIP, &pc));
	uint32_t v = (uint32_t)pc;
	return ms_uc_error(uc_reg_write(t->uc, UC_ARM_REG_PC, &v));
}

/* Register reads and writes cost a Unicorn call each (several hundred host
 * instructions on x86): the calls made on every hooked allocation batch
 * them. */
int msf__entry_args(msf_target *t, uint64_t *site, uint64_t args[3])
{
	int x86 = t->arch == ARCH_X86_64;
	int ids[4] = {UC_X86_REG_RSP, UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX};
	if (!x86) {
		ids[0] = UC_ARM_REG_LR, ids[1] = UC_ARM_REG_R0;
		ids[2] = UC_ARM_REG_R1, ids[3] = UC_ARM_REG_R2;
	}
	uint64_t v[4] = {0};
	void *ptrs[4] = {&v[0], &v[1], &v[2], &v[3]};
	uc_err e = uc_reg_read_batch(t->uc, ids, ptrs, 4);
	if (e)
		return ms_uc_error(e);
	for (int i = 0; i < 3; i++)
		args[i] = x86 ? v[i + 1] : v[i + 1] & 0xffffffffu;
	*site = 0;
	if (!x86)
		*site = v[0] & 0xffffffffu;
	else if (uc_mem_read(t->uc, v[0], site, 8))
		return -EFAULT;
	return 0;
}

int msf_return(msf_target *t, uint64_t value)
{
	if (!t || !t->cur_hook)
		return -EINVAL;
	uc_err e;
	if (t->arch == ARCH_X86_64) {
		uint64_t sp = 0, ret;
		uc_reg_read(t->uc, UC_X86_REG_RSP, &sp);
		if (uc_mem_read(t->uc, sp, &ret, 8))
			return -EFAULT;
		sp += 8;
		/* The PC last: writing it is what sends Unicorn to the caller. */
		int ids[3] = {UC_X86_REG_RSP, UC_X86_REG_RAX, UC_X86_REG_RIP};
		void *vals[3] = {&sp, &value, &ret};
		e = uc_reg_write_batch(t->uc, ids, vals, 3);
	} else {
		uint32_t r0 = (uint32_t)value, lr = 0;
		uc_reg_read(t->uc, UC_ARM_REG_LR, &lr);
		/* Bit 0 of lr selects Thumb, as for a branch to it. */
		int ids[2] = {UC_ARM_REG_R0, UC_ARM_REG_PC};
		void *vals[2] = {&r0, &lr};
		e = uc_reg_write_batch(t->uc, ids, vals, 2);
	}
	return ms_uc_error(e);
}

int msf_skip(msf_target *t)
{
	if (!t || !t->cur_hook)
		return -EINVAL;
	uint32_t size = t->cur_size ? t->cur_size : insn_size(t, t->cur_hook->addr);
	if (!size)
		return -EFAULT;
	uint64_t next = t->cur_hook->addr + size;
	return set_pc(t, t->arch == ARCH_THUMB ? next | 1 : next);
}

int msf_crash(msf_target *t, const char *kind)
{
	/* During a run, or guest code that setup runs with msf_call. */
	if (!t || (!t->in_run && !t->in_setup))
		return -EINVAL;
	int k = msf_kind_register(kind);
	if (k < 0)
		return k;
	uint64_t pc = t->cur_hook ? t->cur_hook->addr : 0;
	if (!t->cur_hook)
		uc_reg_read(t->uc, t->pc_reg, &pc);
	msf__stop(t, (msf_kind)k, pc, NULL);
	return 0;
}

/* stub = LOC [return=N] */
static void stub_hook(msf_target *t, uint64_t pc, void *user_data)
{
	(void)pc;
	(void)user_data;
	msf_return(t, t->cur_hook->retval);
}

/* ---- System calls and interrupts ----------------------------------------- */

/* A system call under the configured policy. `pc` is the instruction. */
static void syscall_policy(msf_target *t, uint64_t pc, uint64_t number)
{
	switch (t->cfg.syscall) {
	case MSF_SYSCALL_ERROR: {
		uint64_t enosys = (uint64_t) - (int64_t)ENOSYS;
		msf_reg_write(t, t->arch == ARCH_X86_64 ? "rax" : "r0", enosys);
		break;
	}
	case MSF_SYSCALL_EMULATE:
		msf__sysemu(t, pc, number);
		break;
	case MSF_SYSCALL_EXIT:
		t->stop_retval = msf_arg(t, 0);
		t->stop_has_retval = 1;
		msf__stop(t, MSF_KIND_OK, pc, "system call %llu ended the run",
			  (unsigned long long)number);
		break;
	default:
		msf__stop(t, MSF_KIND_SYSCALL, pc, "system call %llu (%s = %llu)",
			  (unsigned long long)number, t->arch == ARCH_X86_64 ? "rax" : "r7",
			  (unsigned long long)number);
		break;
	}
}

/* x86-64 `syscall`: Unicorn calls this with rip at the instruction and
 * moves past it afterwards. */
static void on_syscall(uc_engine *uc, void *user_data)
{
	msf_target *t = user_data;
	/* The heap calls of a guest that declares a system-call heap area
	 * (sysheap.c) are answered; the policy applies to the rest. */
	if (msf_sysheap_syscall(t))
		return;
	uint64_t pc = 0, nr = 0;
	uc_reg_read(uc, UC_X86_REG_RIP, &pc);
	uc_reg_read(uc, UC_X86_REG_RAX, &nr);
	syscall_policy(t, pc, nr);
}

/* Interrupts and CPU exceptions. Unicorn goes on after this hook returns,
 * so every case either handles the event or stops the run. */
static void on_interrupt(uc_engine *uc, uint32_t intno, void *user_data)
{
	msf_target *t = user_data;
	uint64_t pc = 0;
	uc_reg_read(uc, t->pc_reg, &pc);
	if (t->arch == ARCH_X86_64) {
		/* int3 is x86's breakpoint; report the instruction itself. */
		uint8_t op = 0;
		if (intno == 3)
			msf__stop(t, MSF_KIND_BKPT,
				  !uc_mem_read(uc, pc, &op, 1) && op == 0xcc ? pc : pc - 1, NULL);
		else
			msf__stop(t, MSF_KIND_EXCEPTION, pc, "interrupt or exception %u", intno);
		return;
	}
	/* QEMU's ARM exception numbers: EXCP_SWI 2 (svc, the PC is past it),
	 * EXCP_BKPT 7 (the PC is at it). */
	if (intno == 2) {
		uint32_t r7 = 0;
		uc_reg_read(uc, UC_ARM_REG_R7, &r7);
		syscall_policy(t, pc - (t->arch == ARCH_THUMB ? 2 : 4), r7);
	} else if (intno == 7) {
		msf__stop(t, MSF_KIND_BKPT, pc, NULL);
	} else {
		msf__stop(t, MSF_KIND_EXCEPTION, pc, "ARM exception %u", intno);
	}
}

int msf__hooks_setup(msf_target *t, char *err, size_t errlen)
{
	uc_hook h;
	uc_err e = uc_hook_add(t->uc, &h, UC_HOOK_INTR, (void *)on_interrupt, t, 1, 0);
	if (!e && t->arch == ARCH_X86_64)
		e = uc_hook_add(t->uc, &h, UC_HOOK_INSN, (void *)on_syscall, t, 1, 0,
				UC_X86_INS_SYSCALL);
	if (e)
		return msf__fail(err, errlen, "uc_hook_add: %s", uc_strerror(e));
	for (int i = 0; i < t->cfg.n_stubs; i++) {
		const msf_stub_spec *s = &t->cfg.stubs[i];
		uint64_t addr;
		char msg[MSF_ERR_LEN];
		if (msf__resolve(t, s->loc, &addr, msg, sizeof msg))
			return msf__fail(err, errlen, "stub: %s", msg);
		if (!msf__is_code(t, msf__code_addr(t, addr)))
			return msf__fail(err, errlen,
					 "stub: 0x%llx (%s) is not in mapped executable memory",
					 (unsigned long long)msf__code_addr(t, addr), s->loc);
		int rc = msf__hook_add(t, addr, stub_hook, NULL, s->retval);
		if (rc)
			return msf__fail(err, errlen, "stub %s: %s", s->loc, ms_strerror(rc));
	}
	return 0;
}

/* ---- Memory-mapped I/O ----------------------------------------------------- */

static uint64_t on_mmio_read(uc_engine *uc, uint64_t offset, unsigned size, void *user_data)
{
	msf_mmio *m = user_data;
	(void)uc;
	return m->read ? m->read(m->t, offset, size, m->user_data) : 0;
}

static void on_mmio_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
			  void *user_data)
{
	msf_mmio *m = user_data;
	(void)uc;
	if (m->write)
		m->write(m->t, offset, size, value, m->user_data);
}

int msf_mmio_add(msf_target *t, uint64_t addr, uint64_t size, msf_mmio_read_fn read,
		 msf_mmio_write_fn write, void *user_data)
{
	if (!t || !size || ((addr | size) & 0xfff) || addr + size < addr)
		return -EINVAL;
	if (!t->in_setup)
		return -EBUSY;
	msf_mmio *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	*m = (msf_mmio){t->mmios, t, addr, read, write, user_data};
	uc_err e = uc_mmio_map(t->uc, addr, size, on_mmio_read, m, on_mmio_write, m);
	if (e) {
		free(m);
		return ms_uc_error(e);
	}
	t->mmios = m;
	return 0;
}

void msf__hooks_free(msf_target *t)
{
	while (t->hooks) {
		msf_hook *h = t->hooks;
		t->hooks = h->next;
		free(h);
	}
	while (t->mmios) {
		msf_mmio *m = t->mmios;
		t->mmios = m->next;
		free(m);
	}
}
