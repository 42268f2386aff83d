/* End to end: libFuzzer and AFL++ find the demo's planted bug from an empty
 * corpus, guided only by the guest's coverage, within a bounded run. */
#include "../common.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define FUZZ_SECONDS 150

static void fresh_dir(char *dir, size_t cap, const char *name)
{
	snprintf(dir, cap, "%s/%s-%d", ms_test_tmpdir(), name, (int)getpid());
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	cr_assert_eq(system(cmd), 0);
}

/* The first file in dir whose name starts with prefix, or 0. */
static int find_file(const char *dir, const char *prefix, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(out, cap, "%s/%s", dir, e->d_name);
			found = 1;
			break;
		}
	if (d)
		closedir(d);
	return found;
}

static void replay_is_a_crash(const char *path)
{
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "'%s' replay --elf='%s' '%s' >/dev/null 2>&1",
		 getenv("MEMSNAP_FUZZ_CLI"), getenv("MEMSNAP_DEMO_X86_64"), path);
	int status = system(cmd);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "replay of %s: status %d", path,
		  status);
}

Test(fuzz, libfuzzer_finds_the_planted_bug, .timeout = 230)
{
	const char *fuzzer = getenv("MEMSNAP_FUZZ_LIBFUZZER");
	const char *elf = getenv("MEMSNAP_DEMO_X86_64");
	if (!fuzzer || !elf)
		cr_skip_test("clang's libFuzzer or the x86-64 demo is missing");
	char dir[1024], corpus[1100], cmd[8192];
	fresh_dir(dir, sizeof dir, "libfuzzer");
	snprintf(corpus, sizeof corpus, "%s/corpus", dir);
	mkdir(corpus, 0755);
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && '%s' --elf='%s' --crash_dir='%s' -max_total_time=%d -seed=1 "
		 "-artifact_prefix='%s/' '%s' > '%s/log' 2>&1",
		 dir, fuzzer, elf, dir, FUZZ_SECONDS, dir, corpus, dir);
	int status = system(cmd);
	char crash[2048];
	int found = find_file(dir, "crash-write-", crash, sizeof crash);
	cr_assert(found, "no crash found in %d s (status %d), see %s/log", FUZZ_SECONDS, status,
		  dir);
	replay_is_a_crash(crash);
}

/* A crash whose bucket already has its file in crash_dir does not end a
 * libFuzzer run (the rest of the corpus is still run); with stop_on_known
 * it does, as does a crash of a new bucket. */
Test(fuzz, libfuzzer_goes_on_past_a_bug_already_saved, .timeout = 60)
{
	const char *fuzzer = getenv("MEMSNAP_FUZZ_LIBFUZZER");
	const char *conf = getenv("MEMSNAP_HEAPDEMO_X86_64_CONF");
	if (!fuzzer || !conf)
		cr_skip_test("clang's libFuzzer or the x86-64 heap demo is missing");
	char dir[1024], cmd[8192], crash[2048];
	fresh_dir(dir, sizeof dir, "libfuzzer-known");
	const char *bug = "overflow.bin";
	snprintf(cmd, sizeof cmd, "mkdir '%s/in' && cp '%s/bugs/%s' '%s/in/'", dir,
		 getenv("MEMSNAP_HEAPDEMO_DIR"), bug, dir);
	cr_assert_eq(system(cmd), 0);
	/* -runs=N runs the corpus, then N mutations. */
	const char *runs[] = {"", "", "--stop_on_known=true"};
	int want_crash[] = {1, 0, 1};
	for (int i = 0; i < 3; i++) {
		snprintf(cmd, sizeof cmd,
			 "cd '%s' && '%s' --config='%s' --heap=sanitize --quiet=true "
			 "--crash_dir='%s' %s -runs=2000 -seed=1 -artifact_prefix='%s/' "
			 "'%s/in' > '%s/log%d' 2>&1",
			 dir, fuzzer, conf, dir, runs[i], dir, dir, dir, i);
		int status = system(cmd);
		int crashed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		cr_assert_eq(crashed, want_crash[i], "run %d: status %#x, see %s/log%d", i, status,
			     dir, i);
		cr_assert(find_file(dir, "crash-heap-overflow-", crash, sizeof crash),
			  "run %d: no crash file", i);
	}
	/* The run that went on did run its mutations. */
	snprintf(cmd, sizeof cmd, "grep -q 'Done 2000 runs' '%s/log1'", dir);
	cr_expect_eq(system(cmd), 0, "see %s/log1", dir);
}

Test(fuzz, afl_finds_the_planted_bug, .timeout = 230)
{
	const char *fuzzer = getenv("MEMSNAP_FUZZ_AFL");
	const char *elf = getenv("MEMSNAP_DEMO_X86_64");
	if (!fuzzer || !elf || system("command -v afl-fuzz >/dev/null 2>&1"))
		cr_skip_test("AFL++ (afl-fuzz, afl-clang-fast) or the x86-64 demo is missing");
	char dir[1024], seeds[1100], cmd[8192];
	fresh_dir(dir, sizeof dir, "afl");
	snprintf(seeds, sizeof seeds, "%s/in", dir);
	mkdir(seeds, 0755);
	/* "Empty corpus": AFL++ needs one file, so it gets a single zero byte. */
	snprintf(cmd, sizeof cmd, "printf '\\0' > '%s/zero'", seeds);
	cr_assert_eq(system(cmd), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char out[1100], log[1100], fs[1200];
		snprintf(out, sizeof out, "%s/out", dir);
		snprintf(log, sizeof log, "%s/log", dir);
		snprintf(fs, sizeof fs, "--elf=%s", elf);
		setenv("AFL_SKIP_CPUFREQ", "1", 1);
		setenv("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1", 1);
		setenv("AFL_NO_UI", "1", 1);
		setenv("AFL_NO_AFFINITY", "1", 1);
		setenv("AFL_NO_AUTODICT", "1", 1);
		setsid();
		if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
			_exit(127);
		execlp("afl-fuzz", "afl-fuzz", "-i", seeds, "-o", out, "-V", "200", "-t", "2000",
		       "-s", "1", "--", fuzzer, fs, (char *)NULL);
		_exit(127);
	}
	char crashes[1200], crash[2048];
	snprintf(crashes, sizeof crashes, "%s/out/default/crashes", dir);
	int found = 0;
	time_t start = time(NULL);
	while (!found && time(NULL) - start < FUZZ_SECONDS) {
		sleep(1);
		found = find_file(crashes, "id:", crash, sizeof crash);
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			pid = 0;
			found = find_file(crashes, "id:", crash, sizeof crash);
			break;
		}
	}
	if (pid > 0) {
		kill(-pid, SIGINT);
		sleep(1);
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	cr_assert(found, "no crash found in %d s, see %s/log", FUZZ_SECONDS, dir);
	replay_is_a_crash(crash);
}
