/*
 * Portable CPU registers: a per-architecture list of registers read and
 * written with uc_reg_read/uc_reg_write, serialized as a self-describing
 * little-endian blob. Unlike a uc_context (a raw copy of Unicorn's CPU
 * structure), the blob can be loaded by another process or another build of
 * Unicorn, which is what save states need.
 *
 * Blob: "MSUCREG1", u32 arch, u32 mode, u32 count, then count entries of
 * {u32 register id, u32 size, size bytes (little-endian)}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "internal.h"

typedef struct reg_desc {
	int id;
	unsigned size;	  /* bytes */
	const char *name; /* as in Unicorn's UC_*_REG_ names */
} reg_desc;

/* clang-format off */
#define X86(r, size) {UC_X86_REG_##r, size, #r}
#define ARM(r, size) {UC_ARM_REG_##r, size, #r}
/* clang-format on */

static const reg_desc x86_64_regs[] = {
    X86(RAX, 8),    X86(RBX, 8),    X86(RCX, 8),    X86(RDX, 8),     X86(RSI, 8),
    X86(RDI, 8),    X86(RBP, 8),    X86(RSP, 8),    X86(R8, 8),	     X86(R9, 8),
    X86(R10, 8),    X86(R11, 8),    X86(R12, 8),    X86(R13, 8),     X86(R14, 8),
    X86(R15, 8),    X86(RFLAGS, 8), X86(CS, 2),	    X86(SS, 2),	     X86(DS, 2),
    X86(ES, 2),	    X86(FS, 2),	    X86(GS, 2),	    X86(FS_BASE, 8), X86(GS_BASE, 8),
    X86(MXCSR, 4),  X86(FPCW, 2),   X86(FPSW, 2),   X86(FPTAG, 2),   X86(XMM0, 16),
    X86(XMM1, 16),  X86(XMM2, 16),  X86(XMM3, 16),  X86(XMM4, 16),   X86(XMM5, 16),
    X86(XMM6, 16),  X86(XMM7, 16),  X86(XMM8, 16),  X86(XMM9, 16),   X86(XMM10, 16),
    X86(XMM11, 16), X86(XMM12, 16), X86(XMM13, 16), X86(XMM14, 16),  X86(XMM15, 16),
    X86(RIP, 8), /* last: see load() */
};

/* 32-bit x86: the 32-bit names of the same state. */
static const reg_desc x86_32_regs[] = {
    X86(EAX, 4),   X86(EBX, 4),	  X86(ECX, 4),	  X86(EDX, 4),	 X86(ESI, 4),	X86(EDI, 4),
    X86(EBP, 4),   X86(ESP, 4),	  X86(EFLAGS, 4), X86(CS, 2),	 X86(SS, 2),	X86(DS, 2),
    X86(ES, 2),	   X86(FS, 2),	  X86(GS, 2),	  X86(MXCSR, 4), X86(FPCW, 2),	X86(FPSW, 2),
    X86(FPTAG, 2), X86(XMM0, 16), X86(XMM1, 16),  X86(XMM2, 16), X86(XMM3, 16), X86(XMM4, 16),
    X86(XMM5, 16), X86(XMM6, 16), X86(XMM7, 16),  X86(EIP, 4),
};

/* 32-bit ARM (ARM and Thumb modes). CPSR comes before PC: writing CPSR sets
 * the Thumb bit, and PC is stored with bit 0 set in Thumb state. */
static const reg_desc arm_regs[] = {
    ARM(R0, 4),	 ARM(R1, 4),	ARM(R2, 4),    ARM(R3, 4),  ARM(R4, 4),	 ARM(R5, 4),   ARM(R6, 4),
    ARM(R7, 4),	 ARM(R8, 4),	ARM(R9, 4),    ARM(R10, 4), ARM(R11, 4), ARM(R12, 4),  ARM(SP, 4),
    ARM(LR, 4),	 ARM(FPEXC, 4), ARM(FPSCR, 4), ARM(D0, 8),  ARM(D1, 8),	 ARM(D2, 8),   ARM(D3, 8),
    ARM(D4, 8),	 ARM(D5, 8),	ARM(D6, 8),    ARM(D7, 8),  ARM(D8, 8),	 ARM(D9, 8),   ARM(D10, 8),
    ARM(D11, 8), ARM(D12, 8),	ARM(D13, 8),   ARM(D14, 8), ARM(D15, 8), ARM(CPSR, 4), ARM(PC, 4),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define HEADER 20u

static const reg_desc *reg_list(uc_arch arch, int mode, size_t *n)
{
	if (arch == UC_ARCH_X86 && (mode & UC_MODE_64)) {
		*n = N(x86_64_regs);
		return x86_64_regs;
	}
	if (arch == UC_ARCH_X86 && (mode & UC_MODE_32)) {
		*n = N(x86_32_regs);
		return x86_32_regs;
	}
	if (arch == UC_ARCH_ARM) {
		*n = N(arm_regs);
		return arm_regs;
	}
	*n = 0;
	return NULL;
}

const char *ms__uc_reg_name(uc_arch arch, int mode, int id)
{
	size_t n;
	const reg_desc *regs = reg_list(arch, mode, &n);
	for (size_t i = 0; regs && i < n; i++)
		if (regs[i].id == id)
			return regs[i].name;
	return NULL;
}

size_t ms__uc_regs_size(uc_arch arch, int mode)
{
	size_t n;
	const reg_desc *regs = reg_list(arch, mode, &n);
	if (!regs)
		return 0;
	size_t total = HEADER;
	for (size_t i = 0; i < n; i++)
		total += 8 + regs[i].size;
	return total;
}

/* Values come from Unicorn in host byte order; the blob is little-endian. */
static void host_to_le(uint8_t *dst, const uint8_t *src, unsigned size)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	for (unsigned i = 0; i < size; i++)
		dst[i] = src[size - 1 - i];
#else
	memcpy(dst, src, size);
#endif
}

long ms__uc_regs_save(uc_engine *uc, uc_arch arch, int mode, uint8_t *buf, size_t cap)
{
	size_t n;
	const reg_desc *regs = reg_list(arch, mode, &n);
	if (!regs)
		return -EOPNOTSUPP;
	size_t need = ms__uc_regs_size(arch, mode);
	if (cap < need)
		return -ENOSPC;
	memcpy(buf, "MSUCREG1", 8);
	ms__uc_put32(buf + 8, (uint32_t)arch);
	ms__uc_put32(buf + 12, (uint32_t)mode);
	ms__uc_put32(buf + 16, (uint32_t)n);
	uint8_t *p = buf + HEADER;
	uint32_t thumb = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t val[16] = {0};
		uc_err e = uc_reg_read(uc, regs[i].id, val);
		if (e)
			return ms_uc_error(e);
		if (arch == UC_ARCH_ARM && regs[i].id == UC_ARM_REG_CPSR) {
			uint32_t cpsr;
			memcpy(&cpsr, val, 4);
			thumb = (cpsr >> 5) & 1;
		}
		if (arch == UC_ARCH_ARM && regs[i].id == UC_ARM_REG_PC) {
			uint32_t pc;
			memcpy(&pc, val, 4);
			pc |= thumb;
			memcpy(val, &pc, 4);
		}
		ms__uc_put32(p, (uint32_t)regs[i].id);
		ms__uc_put32(p + 4, regs[i].size);
		host_to_le(p + 8, val, regs[i].size);
		p += 8 + regs[i].size;
	}
	return (long)(p - buf);
}

int ms__uc_regs_load(uc_engine *uc, const uint8_t *buf, size_t len)
{
	if (!buf || len < HEADER || memcmp(buf, "MSUCREG1", 8) != 0)
		return MS_ERR_CORRUPT;
	int arch = 0, mode = 0;
	int err = ms__uc_arch_mode(uc, &arch, &mode);
	if (err)
		return err;
	if (ms__uc_get32(buf + 8) != (uint32_t)arch || ms__uc_get32(buf + 12) != (uint32_t)mode)
		return MS_ERR_MISMATCH;
	uint32_t n = ms__uc_get32(buf + 16);
	const uint8_t *p = buf + HEADER, *end = buf + len;
	/* Validate everything before writing anything: exactly this
	 * architecture's list, in its order, each register with its size, and
	 * nothing left over (a blob from a file may be hostile even with a good
	 * checksum, and a register left out would keep whatever value the
	 * loading engine had). */
	size_t known_n;
	const reg_desc *known = reg_list((uc_arch)arch, mode, &known_n);
	if (n != known_n)
		return MS_ERR_CORRUPT;
	const uint8_t *q = p;
	for (uint32_t i = 0; i < n; i++) {
		if (end - q < 8 || ms__uc_get32(q) != (uint32_t)known[i].id ||
		    ms__uc_get32(q + 4) != known[i].size || (size_t)(end - q) < 8 + known[i].size)
			return MS_ERR_CORRUPT;
		q += 8 + known[i].size;
	}
	if (q != end)
		return MS_ERR_CORRUPT;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = ms__uc_get32(p), size = ms__uc_get32(p + 4);
		uint8_t val[16] = {0};
		host_to_le(val, p + 8, size); /* the same swap both ways */
		uc_err e = uc_reg_write(uc, (int)id, val);
		if (e)
			return ms_uc_error(e);
		p += 8 + size;
	}
	return 0;
}
