/* Config keys on the test guest: stub, reg (fs_base included), init,
 * syscall policies, hlt/wfi/bkpt outcomes, an abort routine at an odd
 * x86-64 address, and code locations outside executable memory. */
#include "../common.h"

#include <errno.h>

#include "guest.h"

Test(keys, stub_returns_its_value_instead_of_running_the_function)
{
	/* Unstubbed, external_thing() writes to unmapped memory. */
	msf_target *t = open_guest(X86, "entry", "t_stub", NULL);
	assert_kind(run_input(t, "x", 1), MSF_KIND_WRITE_UNMAPPED);
	msf_target_free(t);
	t = open_guest(X86, "entry", "t_stub", "stub", "external_thing return=41", NULL);
	msf_result r = run_input(t, "x", 1);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq((int64_t)r.retval, 42);
	msf_target_free(t);
	/* Without return=, a stub returns 0; negative values work. */
	t = open_guest(THUMB, "entry", "t_stub", "stub", "external_thing return=-3", NULL);
	r = run_input(t, "x", 1);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq((int32_t)r.retval, -2);
	msf_target_free(t);
	t = open_guest(THUMB, "entry", "t_stub", "stub", "external_thing", NULL);
	cr_assert_eq(run_input(t, "x", 1).retval, 1);
	msf_target_free(t);
}

Test(keys, reg_sets_a_register_of_the_start_state)
{
	msf_target *t = open_guest(X86, "entry", "t_reg", "reg", "rbx 0x1234abcd", NULL);
	for (int i = 0; i < 2; i++) /* the start state keeps it */
		cr_assert_eq(run_input(t, "", 0).retval, 0x1234abcd);
	msf_target_free(t);
	t = open_guest(THUMB, "entry", "t_reg", "reg", "r5 77", NULL);
	cr_assert_eq(run_input(t, "", 0).retval, 77);
	msf_target_free(t);
	/* A symbol as the value. */
	t = open_guest(X86, "entry", "t_reg", "reg", "rbx memsnap_demo_input", NULL);
	uint64_t in;
	cr_assert_eq(msf_lookup_symbol(t, "memsnap_demo_input", &in), 0);
	cr_assert_eq(run_input(t, "", 0).retval, in);
	msf_target_free(t);
}

Test(keys, reg_fs_base_serves_the_stack_protector_canary)
{
	/* Without fs_base, fs:0x28 is address 0x28: unmapped. */
	msf_target *t = open_guest(X86, "entry", "t_fs", NULL);
	msf_result r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_READ_UNMAPPED);
	cr_assert_eq(r.addr, 0x28);
	msf_target_free(t);
	/* fs_base at the input buffer: the canary is input bytes 0x28.. */
	t = open_guest(X86, "entry", "t_fs", "reg", "fs_base memsnap_demo_input", NULL);
	char in[0x30] = {0};
	memcpy(in + 0x28, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	r = run_input(t, in, sizeof in);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 0x8877665544332211ull);
	msf_target_free(t);
}

Test(keys, reg_rejects_unknown_registers)
{
	char err[MSF_ERR_LEN];
	setup_error(err, sizeof err, THUMB, "entry", "t_reg", "reg", "fs_base 0x1000", NULL);
	cr_assert(strstr(err, "reg: no register 'fs_base' on thumb"), "%s", err);
}

Test(keys, init_runs_before_the_start_state_is_taken)
{
	msf_target *t = open_guest(X86, "entry", "t_init", NULL);
	cr_assert_eq(run_input(t, "", 0).retval, 0);
	msf_target_free(t);
	t = open_guest(X86, "entry", "t_init", "init", "guest_init", NULL);
	cr_assert_eq(run_input(t, "", 0).retval, 1234);
	cr_assert_eq(run_input(t, "", 0).retval, 1234);
	msf_target_free(t);
	t = open_guest(THUMB, "entry", "t_init", "init", "guest_init", NULL);
	cr_assert_eq(run_input(t, "", 0).retval, 1234);
	msf_target_free(t);
	/* An init function that crashes is a setup error saying so. */
	char err[MSF_ERR_LEN];
	setup_error(err, sizeof err, X86, "entry", "t_init", "init", "external_thing", NULL);
	cr_assert(strstr(err, "init: external_thing crashed"), "%s", err);
}

static void syscall_policies(const char *arch)
{
	msf_target *t = open_guest(arch, "entry", "t_syscall", NULL);
	msf_result r = run_input(t, "", 0); /* crash is the default */
	assert_kind(r, MSF_KIND_SYSCALL);
	cr_assert(strstr(r.detail, strcmp(arch, X86) ? "system call 20" : "system call 39"), "%s",
		  r.detail);
	uint64_t sym;
	msf_lookup_symbol(t, "t_syscall", &sym);
	cr_assert_eq(r.pc, (sym & ~1ull) + (strcmp(arch, X86) ? 6 : 10), "pc 0x%llx",
		     (unsigned long long)r.pc);
	cr_assert(msf_kind_is_crash(r.kind));
	msf_target_free(t);
	t = open_guest(arch, "entry", "t_syscall", "syscall", "error", NULL);
	r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(strcmp(arch, X86) ? (int64_t)(int32_t)r.retval : (int64_t)r.retval, -38);
	msf_target_free(t);
	t = open_guest(arch, "entry", "t_syscall", "syscall", "exit", NULL);
	r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 7);
	msf_target_free(t);
}

Test(keys, x86_64_syscall_policies)
{
	syscall_policies(X86);
}

Test(keys, thumb_svc_policies)
{
	syscall_policies(THUMB);
}

/* syscall = emulate answers the calls of a C library's hot paths and
 * gives -ENOSYS for the rest; every run starts from the same heap. */
Test(keys, x86_64_syscall_emulate)
{
	msf_target *t = open_guest(X86, "entry", "t_sysemu", "syscall", "emulate", NULL);
	uint64_t out;
	cr_assert_eq(msf_lookup_symbol(t, "sysemu_out", &out), 0);
	for (int run = 0; run < 3; run++) {
		msf_result r = run_input(t, "", 0);
		assert_kind(r, MSF_KIND_OK);
		cr_assert_eq(r.retval, 1234);
		int64_t o[11];
		cr_assert_eq(msf_mem_read(t, out, o, sizeof o), 0);
		cr_assert_eq(o[0], 5, "write(1) returned %lld", (long long)o[0]);
		cr_assert_eq(o[1], 5, "writev(2) returned %lld", (long long)o[1]);
		cr_assert_eq(o[2], -EBADF, "write(7) returned %lld", (long long)o[2]);
		cr_assert_eq(o[3], 8192, "brk moved by %lld", (long long)o[3]);
		cr_assert_eq(o[4], 1, "mmap gave no fresh zeroed memory (run %d)", run);
		cr_assert_eq(o[5], 0);
		cr_assert_eq(o[6], 1735689600);
		cr_assert_eq(o[7], 0);
		cr_assert_eq(o[8], -ENOSYS, "getpid returned %lld", (long long)o[8]);
		cr_assert_eq(o[9], 1735689600);
		cr_assert_eq(o[10], 0);
	}
	msf_result r = run_input(t, "x\x2a", 2);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 42, "exit_group status %llu", (unsigned long long)r.retval);
	cr_assert(strstr(r.detail, "exit(42)"), "%s", r.detail);
	msf_target_free(t);
	/* Without the policy the first call is a crash. */
	t = open_guest(X86, "entry", "t_sysemu", NULL);
	assert_kind(run_input(t, "", 0), MSF_KIND_SYSCALL);
	msf_target_free(t);
}

Test(keys, syscall_emulate_is_refused_on_arm_and_over_guest_ram)
{
	char err[MSF_ERR_LEN];
	setup_error(err, sizeof err, THUMB, "entry", "t_syscall", "syscall", "emulate", NULL);
	cr_assert(strstr(err, "syscall = emulate: Linux x86-64 guests only"), "%s", err);
	/* The demo linker script puts the guest's image at 0x10000. */
	setup_error(err, sizeof err, X86, "entry", "t_sysemu", "syscall", "emulate",
		    "syscall_arena", "0x0 1M", NULL);
	cr_assert(strstr(err, "syscall_arena: cannot map 0x0"), "%s", err);
}

Test(keys, hlt_and_wfi_are_their_own_outcomes)
{
	msf_target *t = open_guest(X86, "entry", "t_hlt", NULL);
	msf_result r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_HLT);
	cr_assert(!msf_kind_is_crash(r.kind));
	cr_assert_eq(msf_target_stats(t)->timeouts, 0);
	msf_target_free(t);
	t = open_guest(THUMB, "entry", "t_wfi", NULL);
	assert_kind(run_input(t, "", 0), MSF_KIND_WFI);
	msf_target_free(t);
	/* A real timeout stays one. */
	t = open_guest(X86, "entry", "t_odd_abort", NULL);
	assert_kind(run_input(t, "", 0), MSF_KIND_TIMEOUT);
	msf_target_free(t);
}

Test(keys, bkpt_and_int3_are_crashes_of_their_own)
{
	const char *arch[2] = {X86, THUMB};
	for (int i = 0; i < 2; i++) {
		msf_target *t = open_guest(arch[i], "entry", "t_bkpt", NULL);
		msf_result r = run_input(t, "", 0);
		assert_kind(r, MSF_KIND_BKPT);
		uint64_t sym;
		msf_lookup_symbol(t, "t_bkpt", &sym);
		cr_assert_eq(r.pc, sym & ~1ull);
		msf_target_free(t);
	}
}

Test(keys, x86_64_abort_at_an_odd_address_fires)
{
	msf_target *t = open_guest(X86, "entry", "t_odd_abort", "abort", "odd_abort", NULL);
	uint64_t sym;
	msf_lookup_symbol(t, "odd_abort", &sym);
	cr_assert(sym & 1, "odd_abort is at 0x%llx", (unsigned long long)sym);
	msf_result r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_ABORT);
	cr_assert_eq(r.pc, sym);
	msf_target_free(t);
}

Test(keys, code_locations_outside_executable_memory_are_setup_errors)
{
	char err[MSF_ERR_LEN];
	setup_error(err, sizeof err, X86, "entry", "memsnap_demo_input", NULL);
	cr_assert(strstr(err, "entry: 0x"), "%s", err);
	cr_assert(strstr(err, "(memsnap_demo_input) is not in mapped executable memory"), "%s",
		  err);
	setup_error(err, sizeof err, THUMB, "exit", "0x90000000", NULL);
	cr_assert(strstr(err, "exit: 0x90000000 (0x90000000) is not in mapped executable memory"),
		  "%s", err);
	setup_error(err, sizeof err, X86, "abort", "init_value", NULL);
	cr_assert(strstr(err, "abort: "), "%s", err);
	setup_error(err, sizeof err, X86, "stub", "memsnap_demo_input", NULL);
	cr_assert(strstr(err, "stub: "), "%s", err);
}

Test(keys, bad_values_name_the_key)
{
	msf_config c;
	char err[MSF_ERR_LEN];
	msf_config_init(&c);
	static const char *const bad[][3] = {
	    {"stub", "f return=x", "stub: 'return=x' is not return=NUMBER"},
	    {"stub", "f g h", "stub: expected"},
	    {"reg", "rax", "reg: expected 'NAME VALUE'"},
	    {"reg", "r-x 1", "reg: bad register name"},
	    {"syscall", "ignore", "syscall: 'ignore' is not crash, error, exit or emulate"},
	    {"syscall_arena", "0x60000000", "syscall_arena: expected 'ADDRESS SIZE'"},
	    {"syscall_arena", "0x1000 64K", "syscall_arena: address and size must be"},
	    {"heap", "on", "heap: 'on' is not off or sanitize"},
	    {"heap_arena", "0x1000 64K", "heap_arena: address and size must be"},
	    {"heap_malloc", "0x1000", "heap_malloc: '0x1000' is not a symbol name"},
	    {"init", "a b", "init: 'a b' is neither"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_assert_neq(msf_config_set(&c, bad[i][0], bad[i][1], 0, err, sizeof err), 0);
		cr_assert(strstr(err, bad[i][2]), "%s = %s: %s", bad[i][0], bad[i][1], err);
	}
	msf_config_free(&c);
}
