/*
 * libFuzzer target for the engine save-state loader: any byte string must
 * give an error or a checkpoint that restores into the engine, and a refused
 * file must leave the engine as it was. Like the container's target
 * (tests/state/fuzz), each input is also tried with its header and metadata
 * checksums recomputed, so that mutations reach the machine record and the
 * uc.cpu / uc.map blobs.
 *
 * Build and run: docs/savestate.md ("Fuzzing the loader").
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memsnap/uc_state.h"
#include "../../state/fuzz/resum.h"

static uc_engine *uc;
static ms_uc *m;

static void engine(void)
{
	if (m)
		return;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
		abort();
	/* The tracker is the library's business (tested elsewhere); no kernel
	 * feature is needed to fuzz the parsing. */
	if (ms_uc_new(uc, &m) || ms_uc_set_tracking(m, MS_UC_TRACK_EXACT, MS_TRACKER_NONE))
		abort();
}

/* General registers, RIP and RFLAGS: what a refused load must not change. */
static void read_regs(uint64_t out[18])
{
	static const int ids[18] = {
	    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX,   UC_X86_REG_RDX, UC_X86_REG_RSI,
	    UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP,   UC_X86_REG_R8,  UC_X86_REG_R9,
	    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,   UC_X86_REG_R13, UC_X86_REG_R14,
	    UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_RFLAGS};
	for (int i = 0; i < 18; i++) {
		out[i] = 0;
		uc_reg_read(uc, ids[i], &out[i]);
	}
}

static void load(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-uc-state", MFD_CLOEXEC);
	if (fd < 0)
		return;
	ms_state *st;
	if (write(fd, data, size) == (ssize_t)size && ms_state_open_fd(fd, 0, &st) == 0) {
		uint64_t before[18], after[18];
		read_regs(before);
		ms_uc_checkpoint *cp = NULL;
		if (ms_uc_checkpoint_from_state(m, st, &cp) == 0) {
			if (ms_uc_checkpoint_restore(m, cp) == 0) {
				uc_mem_region *regs;
				uint32_t count;
				if (uc_mem_regions(uc, &regs, &count) == UC_ERR_OK) {
					uint8_t b;
					for (uint32_t i = 0; i < count; i++)
						uc_mem_read(uc, regs[i].end, &b, 1);
					uc_free(regs);
				}
			}
			ms_uc_checkpoint_free(cp);
		} else {
			read_regs(after);
			if (memcmp(before, after, sizeof before) != 0)
				abort(); /* a refused load changed the registers */
		}
		ms_state_close(st);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	engine();
	fuzz_with_resum(data, size, load);
	return 0;
}
