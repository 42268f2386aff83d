/*
 * Writes the seed corpus of the engine save-state fuzz target: small x86-64
 * states (two regions, split permissions, registers set, one incremental).
 *   cc -Ilib/include -Iruntime/include tests/runtime/fuzz/gen_seeds.c \
 *      build/runtime/libmemsnap-uc.a build/lib/libmemsnap.a \
 *      -lunicorn -lxxhash -lpthread -o /tmp/gen && /tmp/gen tests/runtime/fuzz/seeds
 */
#include <stdio.h>
#include <stdlib.h>

#include "memsnap/uc_state.h"

static void check(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "%s: %s\n", what, ms_strerror(err));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char full[1024], inc[1024];
	snprintf(full, sizeof full, "%s/x86_64.mss", argv[1]);
	snprintf(inc, sizeof inc, "%s/x86_64-incremental.mss", argv[1]);
	uc_engine *uc;
	ms_uc *m;
	ms_uc_checkpoint *cp;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc))
		return 1;
	check(ms_uc_new(uc, &m), "new");
	check(ms_uc_map_zeroed(m, 0x10000, 0x2000, UC_PROT_ALL), "map");
	check(ms_uc_map_zeroed(m, 0x100000, 0x3000, UC_PROT_READ | UC_PROT_WRITE), "map");
	check(ms_uc_protect(m, 0x101000, 0x1000, UC_PROT_READ), "protect");
	check(ms_uc_write(m, 0x10000, "\x48\xff\x04\x25\x00\x00\x10\x00\x90", 9), "write");
	uint64_t rip = 0x10000, rsp = 0x102ff0;
	uc_reg_write(uc, UC_X86_REG_RIP, &rip);
	uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
	check(ms_uc_checkpoint_take(m, &cp), "checkpoint");
	check(ms_uc_checkpoint_save(cp, full, NULL), "save");
	ms_uc_checkpoint_free(cp);

	ms_state *base;
	check(ms_state_open(full, 0, &base), "open");
	check(ms_uc_checkpoint_from_state(m, base, &cp), "load");
	check(ms_uc_checkpoint_restore(m, cp), "restore");
	ms_uc_checkpoint_free(cp);
	check(ms_uc_write(m, 0x100010, "incremental", 11), "write");
	check(ms_uc_checkpoint_take(m, &cp), "checkpoint");
	check(ms_uc_checkpoint_save(cp, inc, base), "save incremental");
	ms_uc_checkpoint_free(cp);
	ms_state_close(base);
	ms_uc_free(m);
	uc_close(uc);
	return 0;
}
