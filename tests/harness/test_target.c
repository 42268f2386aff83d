/* Targets: the demo guest (x86-64 and Thumb) runs benign inputs to a normal
 * exit and classifies crashes and timeouts; the replay command reproduces a
 * saved crash. */
#include "../common.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include "fuzz.h"

static msf_target *open_demo(const char *arch_env, const char *extra_key, const char *extra_value)
{
	const char *elf = getenv(arch_env);
	if (!elf)
		cr_skip_test("%s: demo image not built", arch_env);
	msf_config *c = calloc(1, sizeof *c); /* the target borrows its strings */
	char err[MSF_ERR_LEN] = "";
	msf_config_init(c);
	cr_assert_eq(msf_config_set(c, "elf", elf, 0, err, sizeof err), 0, "%s", err);
	cr_assert_eq(msf_config_set(c, "crash_dir", ms_test_tmpdir(), 0, err, sizeof err), 0);
	if (extra_key)
		cr_assert_eq(msf_config_set(c, extra_key, extra_value, 0, err, sizeof err), 0, "%s",
			     err);
	msf_target *t = NULL;
	cr_assert_eq(msf_target_new(c, &t, err, sizeof err), 0, "%s", err);
	return t;
}

static size_t read_seed(const char *name, uint8_t *buf, size_t cap)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", getenv("MEMSNAP_DEMO_SEEDS"), name);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* "MSNP" v1, then a W record storing `value` into slot `slot`. */
static size_t write_record(uint8_t *b, int32_t slot, uint32_t value)
{
	memcpy(b, "MSNP\x01\x00W\x08", 8);
	memcpy(b + 8, &slot, 4);
	memcpy(b + 12, &value, 4);
	return 16;
}

static void runs_benign_seeds(const char *env, int64_t basic, int64_t checksum)
{
	msf_target *t = open_demo(env, NULL, NULL);
	uint8_t buf[4096];
	msf_result r;
	size_t n = read_seed("benign-basic.bin", buf, sizeof buf);
	for (int i = 0; i < 3; i++) { /* the same result from the start state each time */
		cr_assert_eq(msf_target_run(t, buf, n, &r), 0);
		cr_assert_eq(r.kind, MSF_KIND_OK, "got %s", msf_kind_name(r.kind));
		cr_assert_eq((int32_t)r.retval, basic);
	}
	n = read_seed("benign-checksum.bin", buf, sizeof buf);
	msf_target_run(t, buf, n, &r);
	cr_assert_eq(r.kind, MSF_KIND_OK);
	cr_assert_eq((int32_t)r.retval, checksum);
	msf_target_run(t, NULL, 0, &r);
	cr_assert_eq(r.kind, MSF_KIND_OK);
	cr_assert_eq((int32_t)r.retval, -1); /* too short */
	cr_assert_eq(msf_target_stats(t)->execs, 5);
	msf_target_free(t);
}

Test(target, x86_64_benign_inputs_exit_normally)
{
	runs_benign_seeds("MEMSNAP_DEMO_X86_64", 3, 8);
}

Test(target, thumb_benign_inputs_exit_normally)
{
	runs_benign_seeds("MEMSNAP_DEMO_THUMB", 3, 8);
}

static void crash_example_is_a_write_outside_ram(const char *env, uint64_t addr)
{
	msf_target *t = open_demo(env, NULL, NULL);
	uint8_t buf[64];
	size_t n = read_seed("crash-example.bin", buf, sizeof buf);
	msf_result r;
	msf_target_run(t, buf, n, &r);
	cr_assert_eq(r.kind, MSF_KIND_WRITE_UNMAPPED, "got %s", msf_kind_name(r.kind));
	cr_assert(r.have_addr);
	cr_assert_eq(r.addr, addr, "fault at 0x%llx", (unsigned long long)r.addr);
	cr_assert_eq(r.access_size, 4);
	const msf_symbol *parse = msf_elf_symbolize(msf_target_elf(t), r.pc);
	cr_assert(parse && !strcmp(parse->name, "memsnap_demo_parse"));
	/* The report names the kind, the address and the instruction. */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	msf_report(t, &r, buf, n, NULL, out);
	fclose(out);
	char want[64];
	snprintf(want, sizeof want, "0x%0*llx (write of 4 bytes, unmapped)",
		 strstr(env, "THUMB") ? 8 : 16, (unsigned long long)addr);
	cr_assert(strstr(text, "CRASH: write-unmapped"), "%s", text);
	cr_assert(strstr(text, want), "%s", text);
	cr_assert(strstr(text, strstr(env, "THUMB") ? "insn:      str" : "insn:      mov"), "%s",
		  text);
	free(text);
	/* The saved input is named after the kind and the input's hash. */
	char path[1024];
	cr_assert_eq(msf_save_input(t, &r, buf, n, path, sizeof path), 0);
	cr_assert(strstr(path, "/crash-write-unmapped-"), "%s", path);
	cr_assert_eq(access(path, R_OK), 0);
	unlink(path);
	/* And the next input runs from a clean start state again. */
	n = read_seed("benign-basic.bin", buf, sizeof buf);
	msf_target_run(t, buf, n, &r);
	cr_assert_eq(r.kind, MSF_KIND_OK);
	msf_target_free(t);
}

Test(target, x86_64_write_outside_ram_is_write_unmapped)
{
	crash_example_is_a_write_outside_ram("MEMSNAP_DEMO_X86_64", 0xffffffffc0011040ull);
}

Test(target, thumb_write_outside_ram_is_write_unmapped)
{
	crash_example_is_a_write_outside_ram("MEMSNAP_DEMO_THUMB", 0xc0011000ull);
}

/* A slot index that lands on the first code page (mapped r-x). */
static void write_to_code_is_write_protected(const char *env)
{
	msf_target *t = open_demo(env, NULL, NULL);
	const msf_symbol *slots = msf_elf_symbol(msf_target_elf(t), "memsnap_demo_slots");
	cr_assert(slots);
	int32_t slot = -(int32_t)((slots->value - 0x10000) / 4);
	uint8_t buf[16];
	msf_result r;
	msf_target_run(t, buf, write_record(buf, slot, 0x12345678), &r);
	cr_assert_eq(r.kind, MSF_KIND_WRITE_PROT, "got %s", msf_kind_name(r.kind));
	cr_assert_eq(r.addr, slots->value + 4 * (int64_t)slot);
	msf_target_free(t);
}

Test(target, x86_64_write_to_code_is_write_protected)
{
	write_to_code_is_write_protected("MEMSNAP_DEMO_X86_64");
}

Test(target, thumb_write_to_code_is_write_protected)
{
	write_to_code_is_write_protected("MEMSNAP_DEMO_THUMB");
}

static void tiny_budget_is_a_timeout(const char *env)
{
	msf_target *t = open_demo(env, "budget", "50");
	uint8_t buf[4096];
	size_t n = read_seed("benign-checksum.bin", buf, sizeof buf);
	msf_result r;
	msf_target_run(t, buf, n, &r);
	cr_assert_eq(r.kind, MSF_KIND_TIMEOUT, "got %s", msf_kind_name(r.kind));
	cr_assert_eq(msf_target_stats(t)->timeouts, 1);
	msf_target_free(t);
}

Test(target, x86_64_tiny_budget_is_a_timeout)
{
	tiny_budget_is_a_timeout("MEMSNAP_DEMO_X86_64");
}

Test(target, thumb_tiny_budget_is_a_timeout)
{
	tiny_budget_is_a_timeout("MEMSNAP_DEMO_THUMB");
}

Test(target, an_abort_symbol_is_a_crash)
{
	/* With the parser itself declared the abort routine, every input
	 * reaches it. */
	msf_target *t = open_demo("MEMSNAP_DEMO_X86_64", "abort", "memsnap_demo_parse");
	uint8_t buf[64];
	msf_result r;
	msf_target_run(t, buf, read_seed("benign-basic.bin", buf, sizeof buf), &r);
	cr_assert_eq(r.kind, MSF_KIND_ABORT, "got %s", msf_kind_name(r.kind));
	msf_target_free(t);
}

Test(target, memcpy_reset_gives_the_same_results)
{
	msf_target *t = open_demo("MEMSNAP_DEMO_X86_64", "reset", "memcpy");
	uint8_t buf[4096];
	msf_result r;
	for (int i = 0; i < 2; i++) {
		msf_target_run(t, buf, read_seed("crash-example.bin", buf, sizeof buf), &r);
		cr_assert_eq(r.kind, MSF_KIND_WRITE_UNMAPPED);
		msf_target_run(t, buf, read_seed("benign-checksum.bin", buf, sizeof buf), &r);
		cr_assert_eq(r.kind, MSF_KIND_OK);
		cr_assert_eq(r.retval, 8);
	}
	msf_target_free(t);
}

static void replay_reproduces(const char *env, const char *fault)
{
	const char *elf = getenv(env);
	if (!elf)
		cr_skip_test("%s: demo image not built", env);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' replay --elf='%s' '%s/crash-example.bin' 2>&1",
		 getenv("MEMSNAP_FUZZ_CLI"), elf, getenv("MEMSNAP_DEMO_SEEDS"));
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	char out[16384];
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = 0;
	int status = pclose(p);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, out);
	cr_assert(strstr(out, "crash-example.bin: write-unmapped"), "%s", out);
	cr_assert(strstr(out, fault), "%s", out);
	cr_assert(strstr(out, "<memsnap_demo_parse+"), "%s", out);
}

Test(replay, x86_64_reproduces_the_saved_crash)
{
	replay_reproduces("MEMSNAP_DEMO_X86_64", "address:   0xffffffffc0011040");
}

Test(replay, thumb_reproduces_the_saved_crash)
{
	replay_reproduces("MEMSNAP_DEMO_THUMB", "address:   0xc0011000");
}
