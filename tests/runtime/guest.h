/* Test guests for the runtime tests: x86-64 and Thumb builds of the same
 * program (guest_*.S, assembled at build time), and the memory map they use. */
#ifndef MEMSNAP_TESTS_RUNTIME_GUEST_H
#define MEMSNAP_TESTS_RUNTIME_GUEST_H

#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc.h"

#define G_CODE 0x10000u	 /* code, 4 KiB, RWX (the smc entry rewrites itself) */
#define G_MBOX 0x80000u	 /* mailbox, 64 KiB */
#define G_DATA 0x100000u /* two adjacent data regions of 64 KiB */
#define G_DATA_SIZE 0x10000u
#define G_CMD 0x000u /* entry points (offsets in the code) */
#define G_DONE 0x200u
#define G_SMC 0x300u
#define G_SPIN 0x400u

typedef struct guest {
	const char *name;
	uc_arch arch;
	uc_mode mode;
	const char *env; /* environment variable naming the binary */
	uint64_t thumb;	 /* 1 for Thumb: bit 0 of begin addresses */
	int pc, sp, count_reg, result_reg;
	unsigned max_align; /* 8- and 16-byte stores need this alignment */
} guest;

static const guest guest_x86_64 = {
    "x86-64",	    UC_ARCH_X86,    UC_MODE_64,	    "MS_GUEST_X86_64", 0,
    UC_X86_REG_RIP, UC_X86_REG_RSP, UC_X86_REG_RCX, UC_X86_REG_EDX,    1};
static const guest guest_thumb = {"thumb",	 UC_ARCH_ARM,	UC_MODE_THUMB, "MS_GUEST_THUMB", 1,
				  UC_ARM_REG_PC, UC_ARM_REG_SP, UC_ARM_REG_R1, UC_ARM_REG_R2,	 4};

/* Read the guest binary into a snapshot of 4 KiB. */
static inline ms_snapshot *guest_code_snapshot(const guest *g)
{
	const char *path = getenv(g->env);
	cr_assert(path, "%s is not set (run the tests with meson test)", g->env);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	uint8_t buf[4096] = {0};
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	cr_assert(n > G_SPIN && n < sizeof buf);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_from_buffer(buf, sizeof buf, &s), 0);
	return s;
}

typedef struct guest_env {
	const guest *g;
	uc_engine *uc;
	ms_uc *m;
} guest_env;

/* Open an engine, attach memsnap, map code, mailbox and data. */
static inline void guest_open(guest_env *e, const guest *g)
{
	e->g = g;
	cr_assert_eq(uc_open(g->arch, g->mode, &e->uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(e->uc, &e->m), 0);
	ms_snapshot *code = guest_code_snapshot(g);
	cr_assert_eq(ms_uc_map(e->m, G_CODE, code, UC_PROT_ALL), 0);
	ms_snapshot_unref(code);
	cr_assert_eq(ms_uc_map_zeroed(e->m, G_MBOX, 0x10000, UC_PROT_READ | UC_PROT_WRITE), 0);
	cr_assert_eq(ms_uc_map_zeroed(e->m, G_DATA, G_DATA_SIZE, UC_PROT_READ | UC_PROT_WRITE), 0);
	cr_assert_eq(
	    ms_uc_map_zeroed(e->m, G_DATA + G_DATA_SIZE, G_DATA_SIZE, UC_PROT_READ | UC_PROT_WRITE),
	    0);
	uint64_t sp = G_MBOX + 0x10000 - 64;
	cr_assert_eq(uc_reg_write(e->uc, g->sp, &sp), UC_ERR_OK);
}

static inline void guest_close(guest_env *e)
{
	ms_uc_free(e->m);
	uc_close(e->uc);
}

static inline int guest_run(guest_env *e, unsigned entry)
{
	return ms_uc_run(e->m, (G_CODE + entry) | e->g->thumb, G_CODE + G_DONE, 0, 0);
}

static inline uint64_t guest_reg(guest_env *e, int reg)
{
	uint64_t v = 0;
	cr_assert_eq(uc_reg_read(e->uc, reg, &v), UC_ERR_OK);
	if (e->g->arch == UC_ARCH_ARM)
		v &= 0xffffffffu;
	return v;
}

/* One mailbox entry. */
typedef struct guest_cmd {
	uint64_t address, size, value[2];
} guest_cmd;

#endif
