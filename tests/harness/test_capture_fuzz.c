/* libFuzzer campaigns from captured start states (suite `fuzz`): zlib's
 * uncompress, captured in our program, fuzzed with the real libz, glibc and
 * the heap sanitizer gains coverage (ft:) and reports nothing; the planted
 * heap overflow of our heap-bug program is found from a benign seed and
 * triaged into one bucket. The 60 s campaign of docs/capture.md is the same
 * command with -max_total_time=60. */
#include "../common.h"

#include <criterion/criterion.h>
#include <sys/wait.h>

#include "shell.h"

#define CAMPAIGN_SECONDS 20

/* A scratch directory with a capture of `prog` at `brk`, a config naming
 * it plus `keys`, an empty crashes/ and a corpus/ holding `seed`. */
static void prepare(const char *name, const char *prog, const char *brk, const char *keys,
		    const void *seed, size_t seed_len, char *dir, size_t cap)
{
	char cmd[8192], out[8192];
	snprintf(dir, cap, "%s/capture-fuzz-%s-%d", ms_test_tmpdir(), name, (int)getpid());
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s' && mkdir -p '%s/crashes' '%s/corpus' && '%s' capture --break=%s "
		 "--out='%s/start.state' -- '%s'",
		 dir, dir, dir, need("MEMSNAP_FUZZ_CLI"), brk, dir, prog);
	int rc = shell(cmd, out, sizeof out);
	if (rc && strstr(out, "PTRACE_TRACEME"))
		cr_skip_test("ptrace is not allowed here: %s", out);
	cr_assert_eq(rc, 0, "%s", out);
	snprintf(cmd, sizeof cmd, "%s/target.conf", dir);
	FILE *f = fopen(cmd, "w");
	cr_assert(f);
	fprintf(f, "state = start.state\nsyscall = emulate\nheap = sanitize\n%s", keys);
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s/corpus/seed", dir);
	f = fopen(cmd, "wb");
	cr_assert(f);
	fwrite(seed, 1, seed_len, f);
	fclose(f);
}

/* The ft: of the first line of `out` that has `tag`. */
static long ft_of(const char *out, const char *tag)
{
	const char *p = strstr(out, tag);
	const char *ft = p ? strstr(p, "ft: ") : NULL;
	return ft ? strtol(ft + 4, NULL, 10) : -1;
}

Test(fuzz, capture_zlib_gains_coverage_without_false_positives, .timeout = 120)
{
	const char *fuzzer = need("MEMSNAP_FUZZ_LIBFUZZER");
	/* A zlib stream of "hello world " * 20. */
	static const unsigned char seed[] = {0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57,
					     0x28, 0xcf, 0x2f, 0xca, 0x49, 0x51, 0xc8, 0x18,
					     0x01, 0x6c, 0x00, 0x55, 0x76, 0x59, 0xb1};
	char dir[1024], cmd[8192];
	static char out[1 << 20];
	prepare("zlib", need("MEMSNAP_CAPTURE_ZLIB"), "uncompress",
		"input = memsnap_input\ninput_ptr_reg = rdx\ninput_len_reg = rcx\n"
		"budget = 5000000\n",
		seed, sizeof seed, dir, sizeof dir);
	snprintf(cmd, sizeof cmd,
		 "'%s' --config='%s/target.conf' --crash_dir='%s/crashes' -max_total_time=%d "
		 "-seed=1 -artifact_prefix='%s/' '%s/corpus'",
		 fuzzer, dir, dir, CAMPAIGN_SECONDS, dir, dir);
	int rc = shell(cmd, out, sizeof out);
	cr_expect_eq(rc, 0, "the campaign stopped (a false positive?):\n%s",
		     out + (strlen(out) > 4000 ? strlen(out) - 4000 : 0));
	long first = ft_of(out, "INITED"), last = ft_of(out, "DONE");
	cr_expect(first > 0 && last > first, "ft: %ld at start, %ld at the end", first, last);
	snprintf(cmd, sizeof cmd, "ls '%s/crashes' | wc -l", dir);
	shell(cmd, out, sizeof out);
	cr_expect_eq(atoi(out), 0, "no crash files");
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	shell(cmd, out, sizeof out);
}

Test(fuzz, capture_heap_bug_is_found_and_bucketed, .timeout = 120)
{
	const char *fuzzer = need("MEMSNAP_FUZZ_LIBFUZZER");
	char dir[1024], cmd[8192];
	static char out[1 << 20];
	prepare("heapbug", need("MEMSNAP_CAPTURE_HEAPBUG"), "parse_record",
		"input = memsnap_input\n", "REC\004abcd", 8, dir, sizeof dir);
	snprintf(cmd, sizeof cmd,
		 "'%s' --config='%s/target.conf' --crash_dir='%s/crashes' --quiet=true "
		 "-max_total_time=60 -seed=1 -artifact_prefix='%s/' '%s/corpus'",
		 fuzzer, dir, dir, dir, dir);
	int rc = shell(cmd, out, sizeof out);
	cr_expect_neq(rc, 0, "the campaign ended without a crash");
	/* The run stops at the first crash; replays of other lengths must
	 * land in the same bucket (test_capture.c), so add two. */
	snprintf(cmd, sizeof cmd,
		 "printf 'REC\\024%%020d' 0 > '%s/crashes/len20' && "
		 "printf 'REC\\144%%0100d' 0 > '%s/crashes/len100'",
		 dir, dir);
	cr_assert_eq(shell(cmd, out, sizeof out), 0, "%s", out);
	snprintf(cmd, sizeof cmd, "'%s' triage --config='%s/target.conf' '%s/crashes'",
		 need("MEMSNAP_FUZZ_CLI"), dir, dir);
	rc = shell(cmd, out, sizeof out);
	cr_expect_eq(rc, 1, "%s", out);
	cr_expect(strstr(out, "heap-overflow") && strstr(out, "parse_record") &&
		      strstr(out, "in 1 bucket(s)"),
		  "%s", out);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	shell(cmd, out, sizeof out);
}
