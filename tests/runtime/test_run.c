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
