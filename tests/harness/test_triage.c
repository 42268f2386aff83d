/* Triage: backtraces of the heap demo guest (x86-64 with musl, Thumb with
 * newlib) by CFI and by frame pointers, function names and source lines from
 * DWARF, crash buckets that stay the same for one bug and differ between
 * bugs, crash files named by bucket, and `memsnap-fuzz triage` over an
 * AFL++-style crashes/ directory.
 *
 * The crashes come from the harness's `abort` key (reaching a location is a
 * crash) and from musl's malloc tripping over the planted double free, which
 * crash without the heap sanitizer. */
#include "../common.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fuzz.h"
#include "triage.h"
#include "heapdemo.h"

typedef struct guest {
	msf_config *c;
	msf_target *t;
} guest;

static guest open_heapdemo(const char *arch_env, const char *key, const char *value)
{
	const char *elf = getenv(arch_env);
	if (!elf)
		cr_skip_test("%s: heap demo image not built", arch_env);
	guest g = {calloc(1, sizeof *g.c), NULL};
	char err[MSF_ERR_LEN] = "";
	msf_config_init(g.c);
	const char *keys[][2] = {{"elf", elf},
				 {"entry", "heapdemo_entry"},
				 {"exit", "memsnap_demo_exit"},
				 {"input", "heapdemo_input"},
				 {"stack_top", "heapdemo_stack_top"},
				 {"budget", "1000000"},
				 {"crash_dir", ms_test_tmpdir()},
				 {"quiet", "true"},
				 {key, value}};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0] && keys[i][0]; i++)
		cr_assert_eq(msf_config_set(g.c, keys[i][0], keys[i][1], 1, err, sizeof err), 0,
			     "%s", err);
	cr_assert_eq(msf_target_new(g.c, &g.t, err, sizeof err), 0, "%s", err);
	return g;
}

static void close_guest(guest *g)
{
	msf_target_free(g->t);
	msf_config_free(g->c);
	free(g->c);
}

static size_t read_bug(const char *name, uint8_t *buf, size_t cap)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/bugs/%s", getenv("MEMSNAP_HEAPDEMO_DIR"), name);
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void run_bug(guest *g, const char *name, msf_kind kind, msf_result *r)
{
	uint8_t buf[4096];
	size_t n = read_bug(name, buf, sizeof buf);
	cr_assert_eq(msf_target_run(g->t, buf, n, r), 0);
	cr_assert_eq(r->kind, kind, "%s: %s", name, msf_kind_name(r->kind));
}

static void expect_frame(const msf_backtrace *bt, int i, const char *func, int line,
			 msf_frame_how how)
{
	cr_assert_gt(bt->n, i, "only %d frames", bt->n);
	const msf_frame *f = &bt->frames[i];
	cr_expect_str_eq(f->func, func, "frame %d", i);
	if (line) {
		cr_expect_eq(f->line, line, "frame %d (%s): line %d, not %d", i, func, f->line,
			     line);
		const char *base = strrchr(f->file, '/');
		cr_expect_str_eq(base ? base + 1 : f->file, "heap.c", "frame %d", i);
	}
	if (i)
		cr_expect_eq(f->how, how, "frame %d (%s) found by method %d, not %d", i, func,
			     f->how, how);
}

/* Stopped on buffer_drop's first instruction, the walk must climb through
 * the parser's callers to the entry function, with the lines of the calls. */
static void walks_to_the_entry(const char *env, unsigned methods, msf_frame_how first,
			       msf_frame_how rest)
{
	guest g = open_heapdemo(env, "abort", "buffer_drop");
	msf_result r;
	run_bug(&g, "double-free.bin", MSF_KIND_ABORT, &r);
	msf_backtrace bt;
	msf_backtrace_get(g.t, &r, methods, &bt);
	expect_frame(&bt, 0, "buffer_drop", 0, MSF_FRAME_PC);
	/* The entry's line: the declaration, its brace or its first statement,
	 * as the compiler chose. */
	int decl = heapdemo_line_of("int buffer_drop(");
	cr_expect(bt.frames[0].line >= decl && bt.frames[0].line <= decl + 2,
		  "frame 0: line %d, not %d..%d", bt.frames[0].line, decl, decl + 2);
	expect_frame(&bt, 1, "apply_command", heapdemo_line_of("CALL: buffer_drop"), first);
	expect_frame(&bt, 2, "heapdemo_parse", heapdemo_line_of("rc = apply_command(&s, &r);"),
		     rest);
	expect_frame(&bt, 3, "heapdemo_entry", 0, rest);
	cr_expect_eq(bt.n, 4, "the walk went past the entry function: %d frames", bt.n);
	close_guest(&g);
}

Test(backtrace, x86_64_cfi_names_callers_and_source_lines)
{
	walks_to_the_entry("MEMSNAP_HEAPDEMO_X86_64", MSF_UNWIND_CFI, MSF_FRAME_CFI, MSF_FRAME_CFI);
}

Test(backtrace, thumb_cfi_names_callers_and_source_lines)
{
	walks_to_the_entry("MEMSNAP_HEAPDEMO_THUMB", MSF_UNWIND_CFI, MSF_FRAME_CFI, MSF_FRAME_CFI);
}

/* Without CFI: the return address at [rsp] on entry, then the rbp chain. */
Test(backtrace, x86_64_frame_pointers_alone_find_the_same_frames)
{
	walks_to_the_entry("MEMSNAP_HEAPDEMO_X86_64", MSF_UNWIND_FP, MSF_FRAME_ENTRY, MSF_FRAME_FP);
}

/* musl's free has no CFI: a stop on its first instruction still names the
 * caller and the line of the call. */
Test(backtrace, x86_64_libc_function_without_cfi_names_its_caller)
{
	guest g = open_heapdemo("MEMSNAP_HEAPDEMO_X86_64", "abort", "free");
	msf_result r;
	run_bug(&g, "double-free.bin", MSF_KIND_ABORT, &r);
	msf_backtrace bt;
	msf_backtrace_get(g.t, &r, MSF_UNWIND_ALL, &bt);
	expect_frame(&bt, 0, "free", 0, MSF_FRAME_PC);
	expect_frame(&bt, 1, "buffer_drop", heapdemo_line_of("FREE: buffer_drop"), MSF_FRAME_ENTRY);
	expect_frame(&bt, 2, "apply_command", heapdemo_line_of("CALL: buffer_drop"), MSF_FRAME_CFI);
	close_guest(&g);
}

/* Without the heap sanitizer, musl's free trips over the double free. musl's
 * libc.a has neither CFI nor frame pointers: the walk scans the stack out of
 * it and reaches the function and the line of the second free. */
Test(backtrace, x86_64_crash_inside_musl_malloc_names_the_line_that_called_free)
{
	guest g = open_heapdemo("MEMSNAP_HEAPDEMO_X86_64", NULL, NULL);
	msf_result r;
	run_bug(&g, "double-free.bin", MSF_KIND_READ_UNMAPPED, &r);
	msf_backtrace bt;
	msf_backtrace_get(g.t, &r, MSF_UNWIND_ALL, &bt);
	int i = 1;
	while (i < bt.n && strcmp(bt.frames[i].func, "store_clear"))
		i++;
	cr_assert_lt(i, bt.n, "store_clear is not among the %d frames", bt.n);
	cr_expect_leq(i, 2, "store_clear is frame %d: stale frames before it", i);
	expect_frame(&bt, i, "store_clear", heapdemo_line_of("BUG: double free"), MSF_FRAME_SCAN);
	expect_frame(&bt, i + 1, "heapdemo_parse", heapdemo_line_of("CALL: store_clear"),
		     MSF_FRAME_CFI);
	/* Without scanning, rbp (still store_clear's frame pointer) leads
	 * straight to store_clear's caller: the frame of the bug is lost. */
	msf_backtrace_get(g.t, &r, MSF_UNWIND_CFI | MSF_UNWIND_FP, &bt);
	for (int j = 0; j < bt.n; j++)
		cr_expect_str_neq(bt.frames[j].func, "store_clear");
	close_guest(&g);
}

/* The DWARF a report opens is closed with its target: no descriptor and no
 * mapping outlives it. */
Test(backtrace, reports_leave_no_descriptor_or_mapping_behind)
{
	int fds = ms_test_count_fds(), maps = ms_test_count_maps();
	for (int i = 0; i < 3; i++) {
		guest g = open_heapdemo("MEMSNAP_HEAPDEMO_X86_64", "abort", "buffer_drop");
		msf_result r;
		run_bug(&g, "double-free.bin", MSF_KIND_ABORT, &r);
		FILE *null = fopen("/dev/null", "w");
		cr_assert(null);
		msf_report(g.t, &r, NULL, 0, NULL, null);
		fclose(null);
		close_guest(&g);
	}
	cr_expect_eq(ms_test_count_fds(), fds);
	/* Sanitizers map memory of their own as they go. */
	if (!ms_test_counts_unreliable())
		cr_expect_eq(ms_test_count_maps(), maps);
}

/* The sanitizer stops a double free from its hook at free's first
 * instruction. Run after run, with Unicorn's translated blocks warm and
 * chained, the walk must start there: one bucket per bug, frame 0 in free
 * and frame 1 the line that freed twice. */
static void hook_stops_keep_their_bucket(const char *env)
{
	guest g = open_heapdemo(env, "heap", "sanitize");
	const char *files[] = {"overflow.bin",	 "double-free.bin",   "use-after-free.bin",
			       "overflow-2.bin", "double-free-2.bin", "use-after-free-2.bin"};
	uint64_t buckets[3] = {0};
	int line = heapdemo_line_of("BUG: double free");
	for (int round = 0; round < 150; round++) {
		for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
			msf_result r;
			uint8_t buf[4096];
			size_t n = read_bug(files[i], buf, sizeof buf);
			cr_assert_eq(msf_target_run(g.t, buf, n, &r), 0);
			msf_backtrace bt;
			msf_backtrace_get(g.t, &r, MSF_UNWIND_ALL, &bt);
			uint64_t b = msf_bucket(r.kind, &bt);
			uint64_t *want = &buckets[i % 3];
			cr_assert(!*want || *want == b,
				  "%s, round %d: bucket %016llx, not %016llx (frame 0 %s+0x%llx)",
				  files[i], round, (unsigned long long)b, (unsigned long long)*want,
				  bt.frames[0].func, (unsigned long long)bt.frames[0].offset);
			*want = b;
			if (r.kind == MSF_KIND_DOUBLE_FREE && round % 50 == 0) {
				cr_assert_geq(bt.n, 2);
				cr_expect_str_eq(bt.frames[0].func, "free");
				cr_expect_eq(bt.frames[0].offset, 0);
				cr_expect_str_eq(bt.frames[1].func, "store_clear");
				cr_expect_eq(bt.frames[1].line, line);
			}
		}
	}
	close_guest(&g);
}

Test(bucket, x86_64_hook_stops_keep_their_bucket_run_after_run, .timeout = 120)
{
	hook_stops_keep_their_bucket("MEMSNAP_HEAPDEMO_X86_64");
}

Test(bucket, thumb_hook_stops_keep_their_bucket_run_after_run, .timeout = 120)
{
	hook_stops_keep_their_bucket("MEMSNAP_HEAPDEMO_THUMB");
}

static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	cr_assert(d, "%s", dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* One file per bucket, holding the smallest input seen. */
Test(bucket, crash_files_are_named_by_bucket_and_keep_the_smallest_input)
{
	char dir[1024], cmd[2200];
	snprintf(dir, sizeof dir, "%s/bucket-files-%d", ms_test_tmpdir(), (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	cr_assert_eq(system(cmd), 0);
	guest g = open_heapdemo("MEMSNAP_HEAPDEMO_X86_64", "abort", "free");
	char err[MSF_ERR_LEN];
	cr_assert_eq(msf_config_set(g.c, "crash_dir", dir, 1, err, sizeof err), 0);
	/* The target holds a copy of the config: rebuild it. */
	msf_target_free(g.t);
	cr_assert_eq(msf_target_new(g.c, &g.t, err, sizeof err), 0, "%s", err);
	const char *order[] = {"double-free-2.bin", "double-free.bin", "overflow.bin",
			       "double-free-2.bin"};
	const int known[] = {0, 1, 0, 1}; /* the bucket had its file already */
	char first[4200] = "";
	for (size_t i = 0; i < 4; i++) {
		uint8_t buf[4096];
		size_t n = read_bug(order[i], buf, sizeof buf);
		msf_result r;
		msf_target_run(g.t, buf, n, &r);
		cr_assert_eq(r.kind, MSF_KIND_ABORT);
		cr_assert_eq(msf_after_run(g.t, &r, buf, n), known[i], "%s", order[i]);
		if (!i) {
			char path[4200];
			cr_assert_eq(msf_save_input(g.t, &r, buf, n, path, sizeof path), 1);
			snprintf(first, sizeof first, "%s", path);
		}
	}
	cr_expect_eq(count_files(dir, "crash-abort-"), 2);
	/* double-free.bin (17 bytes) replaced double-free-2.bin (27 bytes). */
	struct stat st;
	cr_assert_eq(stat(first, &st), 0, "%s", first);
	uint8_t small[4096];
	cr_expect_eq((size_t)st.st_size, read_bug("double-free.bin", small, sizeof small));
	close_guest(&g);
}

static int run_cli(const char *args, char *out, size_t cap)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", getenv("MEMSNAP_FUZZ_CLI"), args);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void copy_bug(const char *name, const char *to)
{
	uint8_t buf[4096];
	size_t n = read_bug(name, buf, sizeof buf);
	FILE *f = fopen(to, "wb");
	cr_assert(f, "%s", to);
	cr_assert_eq(fwrite(buf, 1, n, f), n);
	fclose(f);
}

/* An AFL++ output directory: crashes/ holds id:... files and a README.txt,
 * which is not an input. */
Test(triage, groups_an_afl_crashes_directory_by_bucket)
{
	const char *elf = getenv("MEMSNAP_HEAPDEMO_X86_64");
	if (!elf)
		cr_skip_test("x86-64 heap demo image not built");
	char dir[1024], cmd[2200], path[1200];
	snprintf(dir, sizeof dir, "%s/afl-out-%d/default/crashes", ms_test_tmpdir(), (int)getpid());
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	cr_assert_eq(system(cmd), 0);
	const char *bugs[] = {"overflow.bin",	      "overflow-2.bin",	 "use-after-free.bin",
			      "use-after-free-2.bin", "double-free.bin", "double-free-2.bin"};
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof path,
			 "%s/id:%06d,sig:06,src:000001,time:%d,execs:%d,op:havoc", dir, i, 100 * i,
			 1000 * i);
		copy_bug(bugs[i], path);
	}
	snprintf(path, sizeof path, "%s/README.txt", dir);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs("Command line used to find this crash:\n\nafl-fuzz -i in -o out -- ...\n", f);
	fclose(f);

	char args[4096], out[65536];
	snprintf(args, sizeof args,
		 "triage --elf='%s' --entry=heapdemo_entry --exit=memsnap_demo_exit "
		 "--input=heapdemo_input --stack_top=heapdemo_stack_top --budget=1000000 "
		 "--abort=free '%s'",
		 elf, dir);
	int rc = run_cli(args, out, sizeof out);
	cr_assert_eq(rc, 1, "status %d:\n%s", rc, out);
	cr_expect(strstr(out, "6 input(s): 6 crash(es) in 3 bucket(s)"), "%s", out);
	cr_expect(strstr(out, "from name_set+"), "%s", out);
	cr_expect(strstr(out, "from session_close+"), "%s", out);
	cr_expect(strstr(out, "from buffer_drop+"), "%s", out);
	int buckets = 0, reports = 0;
	for (const char *p = out; (p = strstr(p, "\nbucket ")); p++)
		buckets++;
	for (const char *p = out; (p = strstr(p, "==memsnap-fuzz== CRASH: abort")); p++)
		reports++;
	cr_expect_eq(buckets, 3, "%s", out);
	cr_expect_eq(reports, 3, "one report per bucket:\n%s", out);
	cr_expect(strstr(out, "2 input(s)"), "%s", out);
	cr_expect(!strstr(out, "README"), "%s", out);
}

Test(triage, benign_inputs_are_counted_and_exit_zero)
{
	const char *elf = getenv("MEMSNAP_HEAPDEMO_X86_64");
	if (!elf)
		cr_skip_test("x86-64 heap demo image not built");
	char args[4096], out[16384];
	snprintf(
	    args, sizeof args,
	    "triage --elf='%s' --entry=heapdemo_entry --exit=memsnap_demo_exit "
	    "--input=heapdemo_input --stack_top=heapdemo_stack_top --budget=1000000 '%s/seeds'",
	    elf, getenv("MEMSNAP_HEAPDEMO_DIR"));
	int rc = run_cli(args, out, sizeof out);
	cr_assert_eq(rc, 0, "status %d:\n%s", rc, out);
	cr_expect(strstr(out, "0 crash(es) in 0 bucket(s), 3 ok"), "%s", out);
}

Test(triage, a_missing_directory_is_a_clear_error)
{
	char out[4096];
	int rc =
	    run_cli("triage --elf=/nonexistent/guest.elf /nonexistent/crashes", out, sizeof out);
	cr_assert_eq(rc, 2, "status %d:\n%s", rc, out);
	cr_expect(strstr(out, "/nonexistent/crashes: No such file or directory"), "%s", out);
}
