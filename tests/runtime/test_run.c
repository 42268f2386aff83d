/* ms_uc_run (runtime/run.c): stops where uc_emu_start's `until` would, and
 * keeps memory flat over many runs (Unicorn 2.0.1 retranslates the last
 * block of every uc_emu_start and crashes after 4,194,276 calls). */
#define _GNU_SOURCE
#include <errno.h>

#include "../common.h"
#include "guest.h"

static void stops_at_until(const guest *g)
{
	guest_env e;
	guest_open(&e, g);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(guest_run(&e, G_CMD), 0);
		cr_assert_eq(guest_reg(&e, g->pc), G_CODE + G_DONE);
	}
	/* A different stop address: the instruction at `until` never runs. */
	cr_assert_eq(ms_uc_run(e.m, (G_CODE + G_SMC) | g->thumb, G_CODE + 0x380, 0, 0), 0);
	cr_assert_eq(guest_reg(&e, g->pc), G_CODE + 0x380);
	cr_assert_eq(guest_reg(&e, g->result_reg), 0);
	/* count still limits the instructions. */
	cr_assert_eq(ms_uc_run(e.m, (G_CODE + G_SMC) | g->thumb, G_CODE + G_DONE, 0, 1), 0);
	cr_assert_neq(guest_reg(&e, g->pc), G_CODE + G_DONE);
	ms_uc_stats st;
	cr_assert_eq(ms_uc_get_stats(e.m, &st), 0);
	cr_assert_eq(st.runs, 5);
	guest_close(&e);
}

Test(run, stops_at_until_x86_64)
{
	stops_at_until(&guest_x86_64);
}

Test(run, stops_at_until_thumb)
{
	stops_at_until(&guest_thumb);
}

/* 500,000 run + restore cycles: resident memory must not grow. Plain
 * uc_emu_start grows ~300 MB per million calls here. */
static void memory_stays_flat(const guest *g)
{
	guest_env e;
	guest_open(&e, g);
	ms_uc_checkpoint *cp;
	guest_cmd cmd = {G_DATA + 8, 8, {1, 0}};
	uint64_t one = 1;
	cr_assert_eq(ms_uc_write(e.m, G_MBOX, &one, 8), 0);
	cr_assert_eq(ms_uc_write(e.m, G_MBOX + 8, &cmd, sizeof cmd), 0);
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	long rss0 = 0;
	for (int i = 0; i < 500000; i++) {
		cr_assert_eq(guest_run(&e, G_CMD), 0);
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
		if (i == 50000)
			rss0 = ms_test_rss_kib();
	}
	long grown = ms_test_rss_kib() - rss0;
	if (ms_test_under_valgrind() || getenv("MEMSNAP_TEST_SANITIZER"))
		grown = 0; /* the tool's own allocator decides what stays resident */
	cr_assert_lt(grown, 8192, "RSS grew by %ld KiB over 450,000 runs", grown);
	ms_uc_checkpoint_free(cp);
	guest_close(&e);
}

Test(run, memory_stays_flat_x86_64, .timeout = 300)
{
	memory_stays_flat(&guest_x86_64);
}

Test(run, memory_stays_flat_thumb, .timeout = 300)
{
	memory_stays_flat(&guest_thumb);
}

/* A stop address that changes from one run to the next (a harness with
 * several exits): 10^6 runs alternating between the two nops at `done`,
 * each stopping exactly where asked, with resident memory flat. Moving one
 * hook between them would retranslate the page on every run and grow
 * memory without bound. */
static void alternating_stops_stay_exact_and_flat(const guest *g)
{
	guest_env e;
	guest_open(&e, g);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	uint64_t stops[2] = {G_CODE + G_DONE, G_CODE + G_DONE + (g->thumb ? 2 : 1)};
	long rss0 = 0;
	for (int i = 0; i < 1000000; i++) {
		uint64_t until = stops[i & 1];
		cr_assert_eq(ms_uc_run(e.m, (G_CODE + G_CMD) | g->thumb, until, 0, 0), 0);
		if ((i & 1023) < 2)
			cr_assert_eq(guest_reg(&e, g->pc), until, "run %d", i);
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
		if (i == 50000)
			rss0 = ms_test_rss_kib();
	}
	long grown = ms_test_rss_kib() - rss0;
	if (ms_test_under_valgrind() || getenv("MEMSNAP_TEST_SANITIZER"))
		grown = 0; /* the tool's own allocator decides what stays resident */
	cr_assert_lt(grown, 8192, "RSS grew by %ld KiB over 950,000 runs", grown);
	ms_uc_checkpoint_free(cp);
	guest_close(&e);
}

Test(run, alternating_stops_stay_exact_and_flat_x86_64, .timeout = 300)
{
	alternating_stops_stay_exact_and_flat(&guest_x86_64);
}

Test(run, alternating_stops_stay_exact_and_flat_thumb, .timeout = 300)
{
	alternating_stops_stay_exact_and_flat(&guest_thumb);
}

/* No address is special to ms_uc_run: code at the x86 reset vector
 * (0xfffffff0), code that runs through it, and code at the top of the
 * 64-bit space all run. Each program increments the accumulator at `begin`
 * (after `pad` nops), jumps to the region's start, increments it once more
 * there and stops at `until`. (Unicorn cannot translate straight-line code
 * up to the very end of the address space: a jump ends the block.) */
static void run_at(uc_mode mode, uint64_t region, uint64_t begin, size_t pad)
{
	uc_engine *uc;
	ms_uc *m;
	cr_assert_eq(uc_open(UC_ARCH_X86, mode, &uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(uc, &m), 0);
	cr_assert_eq(ms_uc_map_zeroed(m, region, 0x10000, UC_PROT_ALL), 0);
	bool x64 = mode == UC_MODE_64;
	/* inc eax (40) in 32-bit code, inc rax (48 ff c0) in 64-bit code */
	uint8_t code[64];
	size_t n = 0;
	memset(code, 0x90, pad);
	n += pad;
	for (int k = 0; k < 2; k++) {
		if (x64) {
			code[n++] = 0x48;
			code[n++] = 0xff;
			code[n++] = 0xc0;
		} else {
			code[n++] = 0x40;
		}
	}
	uint64_t next = begin + n + 5;
	uint32_t rel = (uint32_t)(region - next); /* jmp rel32 back to the start */
	code[n++] = 0xe9;
	memcpy(code + n, &rel, 4);
	n += 4;
	cr_assert_eq(ms_uc_write(m, begin, code, n), 0);
	static const uint8_t inc32[] = {0x40}, inc64[] = {0x48, 0xff, 0xc0};
	cr_assert_eq(ms_uc_write(m, region, x64 ? inc64 : inc32, x64 ? 3 : 1), 0);
	uint64_t until = region + (x64 ? 3 : 1);
	int acc = x64 ? UC_X86_REG_RAX : UC_X86_REG_EAX;
	int pc_reg = x64 ? UC_X86_REG_RIP : UC_X86_REG_EIP;
	for (int i = 0; i < 3; i++) {
		uint64_t zero = 0, got = 0, pc = 0;
		cr_assert_eq(uc_reg_write(uc, acc, &zero), UC_ERR_OK);
		int err = ms_uc_run(m, begin, until, 0, 0);
		cr_assert_eq(err, 0, "run %d at %#llx: %s", i, (unsigned long long)begin,
			     ms_strerror(err));
		cr_assert_eq(uc_reg_read(uc, acc, &got), UC_ERR_OK);
		cr_assert_eq(uc_reg_read(uc, pc_reg, &pc), UC_ERR_OK);
		cr_assert_eq(got, 3, "run %d at %#llx: accumulator %llu, want 3", i,
			     (unsigned long long)begin, (unsigned long long)got);
		cr_assert_eq(pc, until);
	}
	/* Plain uc_emu_start still stops at its own `until` afterwards. */
	uint64_t zero = 0, got = 0;
	cr_assert_eq(uc_reg_write(uc, acc, &zero), UC_ERR_OK);
	cr_assert_eq(uc_emu_start(uc, region, until, 0, 0), UC_ERR_OK);
	cr_assert_eq(uc_reg_read(uc, acc, &got), UC_ERR_OK);
	cr_assert_eq(got, 1);
	ms_uc_free(m);
	uc_close(uc);
}

Test(run, runs_code_at_any_address)
{
	run_at(UC_MODE_32, 0xffff0000u, 0xfffffff0u, 0);
	run_at(UC_MODE_32, 0xffff0000u, 0xffffffe0u, 16);
	run_at(UC_MODE_64, UINT64_MAX - 0xffff, 0xfffffffffffffff0ull, 0);
	run_at(UC_MODE_64, UINT64_MAX - 0xffff, 0xffffffffffffffe0ull, 16);
	run_at(UC_MODE_64, 0x10000, 0x10100, 0);
}

/* Whether the engine's exits mechanism is on: reading the number of exits
 * fails only while it is off (the read code built without Unicorn's signed
 * shift). */
static bool exits_on(uc_engine *uc)
{
	size_t n;
	uc_control_type read_cnt = (uc_control_type)((uint32_t)UC_CTL_UC_EXITS_CNT | (1u << 26) |
						     ((uint32_t)UC_CTL_IO_READ << 30));
	return uc_ctl(uc, read_cnt, &n) == UC_ERR_OK;
}

Test(run, leaves_the_exits_mechanism_as_it_found_it)
{
	uc_engine *uc;
	ms_uc *m;
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(uc, &m), 0);
	cr_assert_eq(ms_uc_map_zeroed(m, 0x10000, 0x1000, UC_PROT_ALL), 0);
	static const uint8_t nops[] = {0x90, 0x90, 0x90, 0x90};
	cr_assert_eq(ms_uc_write(m, 0x10000, nops, sizeof nops), 0);
	cr_assert_eq(ms_uc_run(m, 0x10000, 0x10002, 0, 0), 0);
	cr_assert(!exits_on(uc));
	cr_assert_eq(uc_ctl_exits_enable(uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_run(m, 0x10000, 0x10003, 0, 0), 0);
	cr_assert(exits_on(uc));
	uint64_t pc;
	cr_assert_eq(uc_reg_read(uc, UC_X86_REG_RIP, &pc), UC_ERR_OK);
	cr_assert_eq(pc, 0x10003);
	ms_uc_free(m);
	uc_close(uc);
}
