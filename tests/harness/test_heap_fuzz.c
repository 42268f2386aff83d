/* End to end, with the guest heap sanitizer: libFuzzer, guided by the guest's
 * coverage alone and starting from the benign seeds, finds each of the heap
 * demo's three planted bugs within a bounded run, as the right kind, with a
 * backtrace naming the function and source line of the bug, and with one
 * bucket per bug.
 *
 * The sanitizer (`heap = sanitize`) serves the guest's malloc family from
 * the harness; a build without it skips this test. */
#include "../common.h"
#include "heapdemo.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define FUZZ_SECONDS 240

static const struct {
	const char *kind;
	const char *func;   /* the function the bug is in */
	const char *marker; /* a comment on the line of the bug in heap.c */
} bugs[] = {
    {"heap-overflow", "name_set", "BUG: heap overflow"},
    {"use-after-free", "session_note", "BUG: use after free"},
    {"double-free", "store_clear", "BUG: double free"},
};

static int shell(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	cr_assert(p, "%s", cmd);
	size_t n = out ? fread(out, 1, cap - 1, p) : 0;
	if (out)
		out[n] = 0;
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int has_file(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	while (d && !found && (e = readdir(d)))
		found = !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return found;
}

/* The block of triage output describing one bucket of `kind`; NULL if none,
 * and a test failure if there are several. */
static const char *bucket_block(const char *out, const char *kind, char *block, size_t cap)
{
	char key[64];
	snprintf(key, sizeof key, "  %s ", kind);
	const char *found = NULL;
	int n = 0;
	for (const char *p = out; (p = strstr(p, "\nbucket ")); p++) {
		const char *eol = strchr(p + 1, '\n');
		const char *k = strstr(p, key);
		if (k && eol && k < eol) {
			found = p + 1;
			n++;
		}
	}
	cr_expect_leq(n, 1, "%d buckets of %s:\n%s", n, kind, out);
	if (!found)
		return NULL;
	const char *end = strstr(found, "\n\n");
	size_t len = end ? (size_t)(end - found) : strlen(found);
	snprintf(block, cap, "%.*s", (int)(len < cap ? len : cap - 1), found);
	return block;
}

static void finds_the_three_heap_bugs(const char *conf_env, const char *arch)
{
	const char *fuzzer = getenv("MEMSNAP_FUZZ_LIBFUZZER");
	const char *conf = getenv(conf_env);
	const char *cli = getenv("MEMSNAP_FUZZ_CLI");
	if (!fuzzer || !conf)
		cr_skip_test("clang's libFuzzer or the %s heap demo is missing", arch);
	char cmd[8192], out[1 << 16];
	snprintf(cmd, sizeof cmd, "'%s' info --config='%s' --heap=sanitize 2>&1", cli, conf);
	if (shell(cmd, out, sizeof out))
		cr_skip_test("heap = sanitize is not available: %s", out);

	char dir[1024], crashes[1100], corpus[1100];
	snprintf(dir, sizeof dir, "%s/heap-fuzz-%s-%d", ms_test_tmpdir(), arch, (int)getpid());
	snprintf(crashes, sizeof crashes, "%s/crashes", dir);
	snprintf(corpus, sizeof corpus, "%s/corpus", dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' '%s' && cp '%s'/seeds/* '%s'", dir,
		 crashes, corpus, getenv("MEMSNAP_HEAPDEMO_DIR"), corpus);
	cr_assert_eq(shell(cmd, NULL, 0), 0);

	/* Fork mode keeps fuzzing after a crash; stop once every bug has its
	 * file (crash files are named crash-<kind>-<bucket>). */
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);
		snprintf(cmd, sizeof cmd,
			 "exec '%s' --config='%s' --heap=sanitize --crash_dir='%s' --quiet=true "
			 "-fork=1 -ignore_crashes=1 -max_total_time=%d -seed=1 "
			 "-artifact_prefix='%s/' '%s' > '%s/log' 2>&1",
			 fuzzer, conf, crashes, FUZZ_SECONDS, dir, corpus, dir);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	time_t start = time(NULL);
	int all = 0, status;
	while (!all && waitpid(pid, &status, WNOHANG) == 0 &&
	       time(NULL) - start < FUZZ_SECONDS + 20) {
		sleep(1);
		all = 1;
		for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
			char prefix[64];
			snprintf(prefix, sizeof prefix, "crash-%s-", bugs[i].kind);
			all &= has_file(crashes, prefix);
		}
	}
	/* libFuzzer's fork mode starts new jobs after a SIGTERM: kill the
	 * group, then remove the scratch directory its parent leaves. */
	kill(-pid, SIGKILL);
	waitpid(pid, &status, 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s/libFuzzerTemp.FuzzWithFork%d.dir'",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)pid);
	shell(cmd, NULL, 0);

	snprintf(cmd, sizeof cmd, "'%s' triage --config='%s' --heap=sanitize '%s' 2>&1", cli, conf,
		 crashes);
	shell(cmd, out, sizeof out);
	for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
		char block[4096], want[256];
		const char *b = bucket_block(out, bugs[i].kind, block, sizeof block);
		cr_expect(b, "%s not found in %d s (see %s/log):\n%s", bugs[i].kind,
			  (int)(time(NULL) - start), dir, out);
		if (!b)
			continue;
		/* The bug's function and line among the top frames. */
		snprintf(want, sizeof want, "heap.c:%d", heapdemo_line_of(bugs[i].marker));
		cr_expect(strstr(b, bugs[i].func) && strstr(b, want), "%s: want %s at %s in:\n%s",
			  bugs[i].kind, bugs[i].func, want, b);
	}
	cr_expect(strstr(out, "crash(es) in 3 bucket(s)"), "one bucket per bug:\n%s", out);
}

Test(fuzz, heap_x86_64_libfuzzer_finds_the_three_bugs_with_the_sanitizer, .timeout = 320)
{
	finds_the_three_heap_bugs("MEMSNAP_HEAPDEMO_X86_64_CONF", "x86-64");
}

Test(fuzz, heap_thumb_libfuzzer_finds_the_three_bugs_with_the_sanitizer, .timeout = 320)
{
	finds_the_three_heap_bugs("MEMSNAP_HEAPDEMO_THUMB_CONF", "thumb");
}
