/* Targets: the demo guest (x86-64 and Thumb) runs benign inputs to a normal
 * exit and classifies crashes and timeouts; the replay command reproduces a
 * saved crash. */
#include "../common.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unicorn/unicorn.h>

#include "fuzz.h"
#include "memsnap/memsnap.h"

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

/* ---- Reset correctness under each tracking mode ------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random demo input: the header, then records of random types and
 * lengths. 'W' records use slot indexes from -64 to 63, so that some inputs
 * crash, some are refused and some silently corrupt the guest's .data and
 * .bss below the slot table (the planted bug); 'V' records dirty scratch
 * pages. Every few inputs is the saved crash or a benign seed instead. */
static size_t random_input(uint64_t *s, uint8_t *buf, size_t cap, int i)
{
	if (i % 7 == 3)
		return read_seed("crash-example.bin", buf, cap);
	if (i % 7 == 5)
		return read_seed("benign-checksum.bin", buf, cap);
	size_t n = 0;
	memcpy(buf, "MSNP\x01\x00", 6);
	n = 6;
	int records = (int)(rng_next(s) % 6);
	for (int r = 0; r < records && n + 2 + 255 < cap; r++) {
		static const char types[] = "NVWWE?";
		uint8_t type = (uint8_t)types[rng_next(s) % 6];
		uint8_t len = type == 'W' ? 8 : (uint8_t)(rng_next(s) % 64);
		buf[n++] = type;
		buf[n++] = len;
		for (uint8_t k = 0; k < len; k++)
			buf[n + k] = (uint8_t)rng_next(s);
		if (type == 'W') {
			int32_t slot = (int32_t)(rng_next(s) % 128) - 64;
			memcpy(buf + n, &slot, 4);
		}
		n += len;
	}
	return n;
}

/* The guest's writable memory after a run, to compare runs byte for byte. */
static uint8_t *writable_memory(msf_target *t, size_t *len)
{
	const msf_elf *e = msf_target_elf(t);
	uint8_t *mem = NULL;
	*len = 0;
	for (size_t i = 0; i < e->n_segs; i++) {
		const msf_segment *sg = &e->segs[i];
		if (!(sg->perms & UC_PROT_WRITE))
			continue;
		uint64_t lo = sg->vaddr & ~0xfffull,
			 hi = (sg->vaddr + sg->memsz + 0xfff) & ~0xfffull;
		mem = realloc(mem, *len + (hi - lo));
		cr_assert(mem);
		cr_assert_eq(uc_mem_read(msf_target_engine(t), lo, mem + *len, hi - lo), UC_ERR_OK);
		*len += hi - lo;
	}
	return mem;
}

/*
 * The same input sequence, crashes and guest corruption included, run with
 * the memcpy baseline (every byte of RAM copied back) and with memsnap under
 * `tracking`: every run must end the same way (kind, return value, PC,
 * faulting address) and leave the same writable memory behind, and
 * ms_uc_verify() must find no page written behind the tracking's back.
 */
static void same_results_as_memcpy(const char *env, const char *tracking)
{
	msf_target *ref = open_demo(env, "reset", "memcpy");
	msf_target *t = open_demo(env, tracking ? "tracking" : NULL, tracking);
	const char *name = msf_target_tracking_name(t);
	if (tracking && !strcmp(tracking, "hook"))
		cr_assert_str_eq(name, "hook");
	else /* exact, the default: the tracker MS_TRACKER_AUTO picks */
		cr_assert(!strncmp(name, "exact/", 6), "tracking %s", name);
	if (!tracking && !getenv("MEMSNAP_TRACKER"))
		cr_assert_str_eq(name + 6, ms_tracker_name(ms_tracker_resolve(MS_TRACKER_AUTO)));
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint8_t buf[4096];
	int crashes = 0, oks = 0;
	for (int i = 0; i < 400; i++) {
		size_t n = random_input(&seed, buf, sizeof buf, i);
		msf_result a, b;
		cr_assert_eq(msf_target_run(ref, buf, n, &a), 0);
		cr_assert_eq(msf_target_run(t, buf, n, &b), 0);
		cr_assert_eq(b.kind, a.kind, "input %d: %s, memcpy reset gave %s", i,
			     msf_kind_name(b.kind), msf_kind_name(a.kind));
		cr_assert_eq(b.retval, a.retval, "input %d", i);
		cr_assert_eq(b.pc, a.pc, "input %d", i);
		cr_assert_eq(b.addr, a.addr, "input %d", i);
		crashes += msf_kind_is_crash(a.kind);
		oks += a.kind == MSF_KIND_OK;
		size_t la, lb;
		uint8_t *ma = writable_memory(ref, &la), *mb = writable_memory(t, &lb);
		cr_assert_eq(la, lb);
		cr_assert(!memcmp(ma, mb, la), "input %d: guest memory differs after the run", i);
		free(ma);
		free(mb);
		cr_assert_eq(msf_target_verify(t), 0, "input %d: a write was not tracked", i);
	}
	/* The sequence exercised both outcomes. */
	cr_assert(crashes > 10 && oks > 10, "%d crashes, %d ok", crashes, oks);
	cr_assert_eq(msf_target_verify(ref), -EOPNOTSUPP);
	msf_target_free(t);
	msf_target_free(ref);
}

Test(reset, x86_64_default_tracking_is_exact_and_matches_memcpy)
{
	same_results_as_memcpy("MEMSNAP_DEMO_X86_64", NULL);
}

Test(reset, thumb_default_tracking_is_exact_and_matches_memcpy)
{
	same_results_as_memcpy("MEMSNAP_DEMO_THUMB", NULL);
}

Test(reset, x86_64_hook_tracking_matches_memcpy)
{
	same_results_as_memcpy("MEMSNAP_DEMO_X86_64", "hook");
}

Test(reset, thumb_hook_tracking_matches_memcpy)
{
	same_results_as_memcpy("MEMSNAP_DEMO_THUMB", "hook");
}

/* A crash (and a silent corruption by a small negative slot) followed by
 * normal inputs: the normal inputs give the results they give from a fresh
 * target, under the default tracking. */
Test(reset, crash_then_normal_inputs_give_identical_results)
{
	msf_target *t = open_demo("MEMSNAP_DEMO_X86_64", NULL, NULL);
	uint8_t basic[4096], checksum[4096], crash[64], corrupt[16];
	size_t nb = read_seed("benign-basic.bin", basic, sizeof basic);
	size_t nc = read_seed("benign-checksum.bin", checksum, sizeof checksum);
	size_t nx = read_seed("crash-example.bin", crash, sizeof crash);
	size_t nw = write_record(corrupt, -16, 0xdeadbeef);
	msf_result r, first_basic, first_checksum;
	size_t len0;
	msf_target_run(t, basic, nb, &first_basic);
	uint8_t *mem0 = writable_memory(t, &len0);
	msf_target_run(t, checksum, nc, &first_checksum);
	cr_assert_eq(first_basic.kind, MSF_KIND_OK);
	cr_assert_eq(first_checksum.kind, MSF_KIND_OK);
	for (int round = 0; round < 50; round++) {
		msf_target_run(t, crash, nx, &r);
		cr_assert_eq(r.kind, MSF_KIND_WRITE_UNMAPPED);
		msf_target_run(t, corrupt, nw, &r);
		cr_assert_eq(r.kind, MSF_KIND_OK);
		msf_target_run(t, basic, nb, &r);
		cr_assert_eq(r.kind, first_basic.kind);
		cr_assert_eq(r.retval, first_basic.retval);
		size_t len;
		uint8_t *mem = writable_memory(t, &len);
		cr_assert_eq(len, len0);
		cr_assert(!memcmp(mem, mem0, len), "round %d: memory differs", round);
		free(mem);
		msf_target_run(t, checksum, nc, &r);
		cr_assert_eq(r.kind, first_checksum.kind);
		cr_assert_eq(r.retval, first_checksum.retval);
		cr_assert_eq(msf_target_verify(t), 0);
	}
	free(mem0);
	msf_target_free(t);
}
