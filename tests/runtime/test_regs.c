/* Portable registers (runtime/regs.c): a blob saved from one engine loads
 * into another and reproduces every listed register. */
#define _GNU_SOURCE
#include <errno.h>

#include "guest.h"
#include "internal.h"

static void roundtrip(uc_arch arch, uc_mode mode, const int *regs, size_t n)
{
	uc_engine *a, *b;
	cr_assert_eq(uc_open(arch, mode, &a), UC_ERR_OK);
	cr_assert_eq(uc_open(arch, mode, &b), UC_ERR_OK);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0x1122334455667788ull * (i + 1);
		if (arch == UC_ARCH_ARM)
			v &= 0xfffffffe;
		cr_assert_eq(uc_reg_write(a, regs[i], &v), UC_ERR_OK);
	}
	uint8_t blob[2048], again[2048];
	long len = ms__uc_regs_save(a, arch, mode, blob, sizeof blob);
	cr_assert_gt(len, 0);
	cr_assert_eq((size_t)len, ms__uc_regs_size(arch, mode));
	cr_assert_eq(ms__uc_regs_save(a, arch, mode, blob, 10), -ENOSPC);
	cr_assert_eq(ms__uc_regs_load(b, blob, (size_t)len), 0);
	cr_assert_eq(ms__uc_regs_save(b, arch, mode, again, sizeof again), len);
	cr_assert(memcmp(blob, again, (size_t)len) == 0);
	/* Malformed and foreign blobs are refused before anything is written. */
	cr_assert_eq(ms__uc_regs_load(b, blob, (size_t)len - 1), MS_ERR_CORRUPT);
	blob[0] ^= 1;
	cr_assert_eq(ms__uc_regs_load(b, blob, (size_t)len), MS_ERR_CORRUPT);
	blob[0] ^= 1;
	uc_engine *other;
	cr_assert_eq(uc_open(arch == UC_ARCH_ARM ? UC_ARCH_X86 : UC_ARCH_ARM,
			     arch == UC_ARCH_ARM ? UC_MODE_64 : UC_MODE_THUMB, &other),
		     UC_ERR_OK);
	cr_assert_eq(ms__uc_regs_load(other, blob, (size_t)len), MS_ERR_MISMATCH);
	uc_close(other);
	uc_close(a);
	uc_close(b);
}

Test(regs, x86_64_roundtrip)
{
	static const int regs[] = {UC_X86_REG_RAX,     UC_X86_REG_R15,	   UC_X86_REG_RIP,
				   UC_X86_REG_FS_BASE, UC_X86_REG_GS_BASE, UC_X86_REG_XMM7};
	roundtrip(UC_ARCH_X86, UC_MODE_64, regs, sizeof regs / sizeof regs[0]);
}

Test(regs, thumb_roundtrip_keeps_thumb_state)
{
	static const int regs[] = {UC_ARM_REG_R0, UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR,
				   UC_ARM_REG_D5};
	roundtrip(UC_ARCH_ARM, UC_MODE_THUMB, regs, sizeof regs / sizeof regs[0]);
	uc_engine *a, *b;
	cr_assert_eq(uc_open(UC_ARCH_ARM, UC_MODE_THUMB, &a), UC_ERR_OK);
	cr_assert_eq(uc_open(UC_ARCH_ARM, UC_MODE_THUMB, &b), UC_ERR_OK);
	uint32_t pc = 0x1235, cpsr = 0; /* bit 0: Thumb state */
	cr_assert_eq(uc_reg_write(a, UC_ARM_REG_PC, &pc), UC_ERR_OK);
	uint8_t blob[2048];
	long len = ms__uc_regs_save(a, UC_ARCH_ARM, UC_MODE_THUMB, blob, sizeof blob);
	cr_assert_gt(len, 0);
	cr_assert_eq(ms__uc_regs_load(b, blob, (size_t)len), 0);
	uc_reg_read(b, UC_ARM_REG_PC, &pc);
	uc_reg_read(b, UC_ARM_REG_CPSR, &cpsr);
	cr_assert_eq(pc, 0x1234);
	cr_assert(cpsr & 0x20, "Thumb state survives: cpsr %#x", cpsr);
	uc_close(a);
	uc_close(b);
}
