/* Start states captured from live processes (memsnap-fuzz capture, state =):
 * our zlib program captured at its call into the real libz and run from the
 * capture with glibc and the heap sanitizer; our heap-bug program's planted
 * overflow found through glibc's memcpy; and the refusals (a changed
 * library, a breakpoint never reached, no ptrace permission, a program of
 * another architecture). The same for ELF cores (core = PATH): a gcore as a
 * start state, a truncated core, a core of another architecture. */
#include "../common.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <zlib.h>

#include "fuzz.h"
#include "triage.h"
#include "shell.h"

/* Capture `prog` at `brk` into a fresh state file (path to state); the
 * CLI's exit status. Skips when this machine forbids ptrace. */
static int capture_env(const char *env, const char *brk, const char *prog, const char *extra,
		       char *state, size_t cap, char *out, size_t outcap)
{
	snprintf(state, cap, "%s/capture-%d-%s.state", ms_test_tmpdir(), (int)getpid(), brk);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "%s '%s' capture --break=%s --out='%s' %s -- %s", env ? env : "",
		 need("MEMSNAP_FUZZ_CLI"), brk, state, extra ? extra : "", prog);
	int rc = shell(cmd, out, outcap);
	if (rc && strstr(out, "PTRACE_TRACEME"))
		cr_skip_test("ptrace is not allowed here: %s", out);
	return rc;
}

static int capture(const char *brk, const char *prog, const char *extra, char *state, size_t cap,
		   char *out, size_t outcap)
{
	return capture_env(NULL, brk, prog, extra, state, cap, out, outcap);
}

/* A target from a start state (`kind`: "state" or "core") plus `keys`. */
static int target_of(const char *kind, const char *path, const char *const *keys, msf_target **t,
		     char *err, size_t errlen)
{
	msf_config c;
	msf_config_init(&c);
	cr_assert_eq(msf_config_set(&c, kind, path, 0, err, errlen), 0, "%s", err);
	for (int i = 0; keys[i]; i += 2)
		cr_assert_eq(msf_config_set(&c, keys[i], keys[i + 1], 0, err, errlen), 0, "%s",
			     err);
	int rc = msf_target_new(&c, t, err, errlen);
	msf_config_free(&c);
	return rc;
}

static int target_from(const char *state, const char *const *keys, msf_target **t, char *err,
		       size_t errlen)
{
	return target_of("state", state, keys, t, err, errlen);
}

static const char *const zlib_keys[] = {
    "input",   "memsnap_input", "input_ptr_reg", "rdx",	   "input_len_reg", "rcx", "syscall",
    "emulate", "heap",		"sanitize",	 "budget", "5000000",	    NULL};

Test(capture, zlib_runs_the_real_library_from_the_capture)
{
	char state[1024], out[8192], err[MSF_ERR_LEN];
	int rc = capture("uncompress", need("MEMSNAP_CAPTURE_ZLIB"), NULL, state, sizeof state, out,
			 sizeof out);
	cr_assert_eq(rc, 0, "capture failed: %s", out);
	cr_expect(strstr(out, "mapped from their files"), "%s", out);
	msf_target *t;
	cr_assert_eq(target_from(state, zlib_keys, &t, err, sizeof err), 0, "%s", err);

	/* A stream of ours: uncompress returns Z_OK, and the heap sanitizer
	 * served inflate's allocations (glibc's malloc never ran). */
	static const char msg[] = "fuzzing zlib from a captured process, fuzzing zlib";
	uint8_t z[256];
	uLongf zlen = sizeof z;
	cr_assert_eq(compress(z, &zlen, (const Bytef *)msg, sizeof msg), Z_OK);
	msf_result r;
	cr_assert_eq(msf_target_run(t, z, zlen, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_OK, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect_eq((int)r.retval, Z_OK);
	uint64_t bump = 0;
	cr_assert_eq(msf_mem_read(t, MSF_HEAP_DEFAULT_ARENA + MSF_HEAP_DEFAULT_SIZE, &bump, 8), 0);
	cr_expect_gt(bump, 7000, "inflate's state and window came from the sanitizer (%llu)",
		     (unsigned long long)bump);

	/* Garbage: Z_DATA_ERROR; a truncated stream: an error too; and the
	 * good stream again gives the same answer (the reset is complete). */
	cr_assert_eq(msf_target_run(t, (const uint8_t *)"garbage!", 8, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_OK, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect_eq((int)r.retval, Z_DATA_ERROR);
	cr_assert_eq(msf_target_run(t, z, zlen / 2, &r), 0);
	cr_expect(r.kind == MSF_KIND_OK && (int)r.retval < 0, "%s %d", msf_kind_name(r.kind),
		  (int)r.retval);
	cr_assert_eq(msf_target_run(t, z, zlen, &r), 0);
	cr_expect_eq((int)r.retval, Z_OK);
	msf_target_free(t);

	/* input = @rdx: the buffer the call was given, here the same one. */
	const char *at_reg[sizeof zlib_keys / sizeof zlib_keys[0] + 2];
	memcpy(at_reg, zlib_keys, sizeof zlib_keys);
	at_reg[1] = "@rdx";
	at_reg[sizeof zlib_keys / sizeof zlib_keys[0] - 1] = "input_max";
	at_reg[sizeof zlib_keys / sizeof zlib_keys[0]] = "4096";
	at_reg[sizeof zlib_keys / sizeof zlib_keys[0] + 1] = NULL;
	cr_assert_eq(target_from(state, at_reg, &t, err, sizeof err), 0, "%s", err);
	cr_assert_eq(msf_target_run(t, z, zlen, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_OK, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect_eq((int)r.retval, Z_OK);
	msf_target_free(t);
	static const char *const bad_reg[] = {"input", "@xyz", NULL};
	cr_expect_neq(target_from(state, bad_reg, &t, err, sizeof err), 0);
	cr_expect(strstr(err, "no register 'xyz'"), "%s", err);
	unlink(state);
}

Test(capture, heap_bug_through_glibc_is_found_and_bucketed)
{
	char state[1024], out[8192], err[MSF_ERR_LEN];
	int rc = capture("parse_record", need("MEMSNAP_CAPTURE_HEAPBUG"), NULL, state, sizeof state,
			 out, sizeof out);
	cr_assert_eq(rc, 0, "capture failed: %s", out);
	static const char *const keys[] = {"input", "memsnap_input", "syscall", "emulate",
					   "heap",  "sanitize",	     NULL};
	msf_target *t;
	cr_assert_eq(target_from(state, keys, &t, err, sizeof err), 0, "%s", err);
	msf_result r;
	cr_assert_eq(msf_target_run(t, (const uint8_t *)"REC\004abcd", 8, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_OK, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect_eq((int)r.retval, 'a' + 'b' + 'c' + 'd');

	uint8_t bad[68] = "REC\100";
	memset(bad + 4, 'A', 64);
	cr_assert_eq(msf_target_run(t, bad, sizeof bad, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_HEAP_OVERFLOW, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect(strstr(r.detail, "16-byte chunk") && strstr(r.detail, "<parse_record+"), "%s",
		  r.detail);
	msf_backtrace bt;
	msf_backtrace_get(t, &r, MSF_UNWIND_ALL, &bt);
	int named = 0;
	for (int i = 0; i < bt.n; i++)
		named |= !strcmp(bt.frames[i].func, "parse_record");
	cr_expect(named, "parse_record in the backtrace");
	uint64_t b1 = msf_bucket(r.kind, &bt);
	/* Other overflowing records, which take other paths through glibc's
	 * memmove: the same bucket. */
	uint8_t big[4 + 200];
	memcpy(big, "REC", 3);
	memset(big + 4, 'B', 200);
	static const uint8_t lens[] = {20, 40, 100, 200};
	for (size_t i = 0; i < sizeof lens; i++) {
		big[3] = lens[i];
		cr_assert_eq(msf_target_run(t, big, 4u + lens[i], &r), 0);
		cr_expect_eq(r.kind, MSF_KIND_HEAP_OVERFLOW, "%u bytes: %s", lens[i],
			     msf_kind_name(r.kind));
		msf_backtrace_get(t, &r, MSF_UNWIND_ALL, &bt);
		cr_expect_eq(msf_bucket(r.kind, &bt), b1, "%u bytes: another bucket", lens[i]);
	}
	msf_target_free(t);
	unlink(state);
}

Test(capture, refuses_a_library_changed_since_the_capture)
{
	const char *prog = need("MEMSNAP_CAPTURE_ZLIB");
	char dir[1024], cmd[4096], out[8192], state[1024], err[MSF_ERR_LEN];
	snprintf(dir, sizeof dir, "%s/capture-lib-%d", ms_test_tmpdir(), (int)getpid());
	/* A private copy of the libz the program loads. */
	snprintf(cmd, sizeof cmd,
		 "mkdir -p '%s' && cp -L \"$(ldd '%s' | awk '/libz\\.so/ {print $3}')\" '%s/'", dir,
		 prog, dir);
	cr_assert_eq(shell(cmd, out, sizeof out), 0, "%s", out);
	char env[1200];
	snprintf(env, sizeof env, "LD_LIBRARY_PATH='%s':\"$LD_LIBRARY_PATH\"", dir);
	int rc = capture_env(env, "uncompress", prog, NULL, state, sizeof state, out, sizeof out);
	cr_assert_eq(rc, 0, "capture failed: %s", out);
	msf_target *t;
	cr_assert_eq(target_from(state, zlib_keys, &t, err, sizeof err), 0, "%s", err);
	msf_target_free(t);
	cr_assert_eq(shell("true", out, sizeof out), 0);
	/* One byte of its code changes. */
	snprintf(cmd, sizeof cmd,
		 "f=$(ls '%s'/libz.so*) && printf '\\314' | dd of=\"$f\" bs=1 seek=12288 "
		 "conv=notrunc status=none",
		 dir);
	cr_assert_eq(shell(cmd, out, sizeof out), 0, "%s", out);
	cr_assert_neq(target_from(state, zlib_keys, &t, err, sizeof err), 0);
	cr_expect(strstr(err, "libz.so") && strstr(err, "changed since the capture"), "%s", err);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	shell(cmd, out, sizeof out);
	unlink(state);
}

Test(capture, refuses_a_breakpoint_never_reached, .timeout = 30)
{
	char state[1024], out[8192], prog[1100];
	snprintf(prog, sizeof prog, "'%s' wait", need("MEMSNAP_CAPTURE_HEAPBUG"));
	int rc =
	    capture("parse_record", prog, "--timeout=0.5", state, sizeof state, out, sizeof out);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "did not reach parse_record") && strstr(out, "timeout"), "%s", out);
	cr_expect_neq(access(state, F_OK), 0, "no state written");
	/* A symbol nobody has, and a program that exits first. */
	rc = capture("no_such_function", need("MEMSNAP_CAPTURE_HEAPBUG"), NULL, state, sizeof state,
		     out, sizeof out);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(out, "symbol 'no_such_function'"), "%s", out);
	rc = capture("deflateBound", need("MEMSNAP_CAPTURE_ZLIB"), NULL, state, sizeof state, out,
		     sizeof out);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(out, "exited with status 0 before reaching deflateBound"), "%s", out);
}

/* The child may not use ptrace at all: a seccomp filter answers EPERM. */
Test(capture, refuses_without_ptrace_permission)
{
	const char *cli = need("MEMSNAP_FUZZ_CLI");
	const char *prog = need("MEMSNAP_CAPTURE_HEAPBUG");
	char state[1024];
	snprintf(state, sizeof state, "%s/capture-perm-%d.state", ms_test_tmpdir(), (int)getpid());
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sock_filter f[] = {
		    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0, 1),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog fp = {sizeof f / sizeof f[0], f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp))
			_exit(99);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		char out_arg[1100];
		snprintf(out_arg, sizeof out_arg, "--out=%s", state);
		execl(cli, cli, "capture", "--break=parse_record", out_arg, "--", prog,
		      (char *)NULL);
		_exit(98);
	}
	close(pfd[1]);
	char out[4096];
	ssize_t n = read(pfd[0], out, sizeof out - 1);
	out[n > 0 ? n : 0] = 0;
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 99)
		cr_skip_test("no seccomp filter here");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, out);
	cr_expect(strstr(out, "PTRACE_TRACEME") && strstr(out, "Operation not permitted"), "%s",
		  out);
	cr_expect_neq(access(state, F_OK), 0, "no state written");
}

Test(capture, refuses_a_program_of_another_architecture)
{
	char state[1024], out[8192];
	int rc =
	    capture("main", need("MEMSNAP_DEMO_THUMB"), NULL, state, sizeof state, out, sizeof out);
	cr_expect_eq(rc, 1);
	cr_expect(strstr(out, "not an x86-64 program"), "%s", out);
}

Test(capture, refuses_a_state_that_is_not_a_capture)
{
	char path[1024], err[MSF_ERR_LEN];
	ms_test_tmpfile(path, sizeof path, "not a state", 11);
	msf_target *t;
	static const char *const keys[] = {"input", "memsnap_input", NULL};
	cr_expect_neq(target_from(path, keys, &t, err, sizeof err), 0);
	cr_expect(strstr(err, path), "%s", err);
	unlink(path);
}

/* ---- core = PATH ------------------------------------------------------- */

/* gdb's gcore of the heap-bug program stopped at parse_record, with the
 * environment capture gives a program (no AVX, no lazy binding). */
static void gcore_at(const char *prog, const char *func, char *core, size_t cap)
{
	char cmd[4096], out[8192];
	if (shell("command -v gdb", out, sizeof out))
		cr_skip_test("gdb (gcore) is not installed");
	snprintf(core, cap, "%s/capture-%d-%s.core", ms_test_tmpdir(), (int)getpid(), func);
	snprintf(cmd, sizeof cmd,
		 "gdb -q -batch -nx -ex 'set startup-with-shell off' "
		 "-ex 'set environment LD_BIND_NOW=1' "
		 "-ex 'set environment GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,"
		 "-AVX512VL,-AVX512BW,-AVX512DQ,-AVX_Fast_Unaligned_Load,-FMA,-BMI1,-BMI2,"
		 "-XSAVEC' -ex 'break %s' -ex run -ex 'gcore %s' -ex kill '%s' >/dev/null",
		 func, core, prog);
	shell(cmd, out, sizeof out);
	if (access(core, R_OK))
		cr_skip_test("gdb could not make a core here: %s", out);
}

static const char *const heapbug_keys[] = {"input", "memsnap_input", "syscall", "emulate",
					   "heap",  "sanitize",	     NULL};

Test(core, a_gcore_is_a_start_state, .timeout = 60)
{
	char core[1024], err[MSF_ERR_LEN];
	gcore_at(need("MEMSNAP_CAPTURE_HEAPBUG"), "parse_record", core, sizeof core);
	msf_target *t;
	cr_assert_eq(target_of("core", core, heapbug_keys, &t, err, sizeof err), 0, "%s", err);
	msf_result r;
	cr_assert_eq(msf_target_run(t, (const uint8_t *)"REC\004abcd", 8, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_OK, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect_eq((int)r.retval, 'a' + 'b' + 'c' + 'd');
	uint8_t bad[68] = "REC\100";
	memset(bad + 4, 'A', 64);
	cr_assert_eq(msf_target_run(t, bad, sizeof bad, &r), 0);
	cr_expect_eq(r.kind, MSF_KIND_HEAP_OVERFLOW, "%s %s", msf_kind_name(r.kind), r.detail);
	cr_expect(strstr(r.detail, "<parse_record+"), "%s", r.detail);
	msf_target_free(t);
	unlink(core);
}

/* A core header of our own: ELF64, ET_CORE, `machine`, one PT_LOAD of
 * `filesz` bytes at offset 4096, and `have` bytes of file in all. */
static void fake_core(char *path, size_t cap, uint16_t machine, uint64_t filesz, size_t have)
{
	uint8_t *img = calloc(1, have < 4096 ? 4096 : have);
	cr_assert(img);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_CORE;
	eh->e_machine = machine;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof *eh;
	eh->e_ehsize = sizeof *eh;
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 1;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof *eh);
	ph->p_type = PT_LOAD;
	ph->p_offset = 4096;
	ph->p_vaddr = 0x10000;
	ph->p_filesz = ph->p_memsz = filesz;
	ph->p_flags = PF_R | PF_W;
	ms_test_tmpfile(path, cap, img, have);
	free(img);
}

Test(core, refuses_a_truncated_core)
{
	char path[1024], err[MSF_ERR_LEN];
	fake_core(path, sizeof path, EM_X86_64, 65536, 4096 + 100);
	msf_target *t;
	cr_expect_neq(target_of("core", path, heapbug_keys, &t, err, sizeof err), 0);
	cr_expect(strstr(err, "truncated core") && strstr(err, "the file has 4196"), "%s", err);
	unlink(path);
	/* A real core cut in half, when gdb can make one. */
	if (!shell("command -v gdb", err, sizeof err)) {
		char core[1024], cmd[2200];
		gcore_at(need("MEMSNAP_CAPTURE_HEAPBUG"), "parse_record", core, sizeof core);
		snprintf(cmd, sizeof cmd, "truncate -s 200000 '%s'", core);
		cr_assert_eq(shell(cmd, err, sizeof err), 0);
		cr_expect_neq(target_of("core", core, heapbug_keys, &t, err, sizeof err), 0);
		cr_expect(strstr(err, "truncated core"), "%s", err);
		unlink(core);
	}
}

Test(core, refuses_a_core_of_another_architecture)
{
	char path[1024], err[MSF_ERR_LEN];
	fake_core(path, sizeof path, EM_AARCH64, 4096, 8192);
	msf_target *t;
	cr_expect_neq(target_of("core", path, heapbug_keys, &t, err, sizeof err), 0);
	cr_expect(strstr(err, "another architecture") && strstr(err, "machine 183"), "%s", err);
	unlink(path);
	/* And an ELF that is not a core at all. */
	cr_expect_neq(
	    target_of("core", need("MEMSNAP_CAPTURE_HEAPBUG"), heapbug_keys, &t, err, sizeof err),
	    0);
	cr_expect(strstr(err, "not a core"), "%s", err);
}
