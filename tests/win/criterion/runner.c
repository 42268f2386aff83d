/*
 * The runner of the Criterion stand-in (criterion.h). Without arguments it
 * runs every test in a child process (this program again, with
 * `--run INDEX`), each under a timeout, and prints a Criterion-like report;
 * with `--run INDEX` it runs that one test. Exit status 0 when every test
 * passed.
 *
 * A test passes when its process exits 0, or, for a test declared with
 * `.signal = SIGSEGV`, when it dies of an unhandled access violation (the
 * runner's unhandled-exception filter ends the process with the exception
 * code, so Wine's debugger is never started).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <windows.h>

#include "criterion.h"

enum { DEFAULT_TIMEOUT_S = 300 };

static struct cr__test *tests;
static struct cr__suite *suites;
static bool expect_failed;

void cr__register(struct cr__test *t)
{
	t->next = tests;
	tests = t;
}

void cr__register_suite(struct cr__suite *s)
{
	s->next = suites;
	suites = s;
}

static void report_failure(const char *file, int line, const char *what, const char *fmt,
			   va_list ap)
{
	fprintf(stderr, "%s:%d: assertion failed: %s", file, line, what);
	/* fmt is the test's message after one space (criterion.h). */
	if (fmt[1]) {
		fputc(':', stderr);
		vfprintf(stderr, fmt, ap);
	}
	fputc('\n', stderr);
	fflush(stderr);
}

void cr__fail(bool fatal, const char *file, int line, const char *what, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_failure(file, line, what, fmt, ap);
	va_end(ap);
	if (fatal)
		exit(1);
	expect_failed = true;
}

void cr__fail_fatal(const char *file, int line, const char *what, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report_failure(file, line, what, fmt, ap);
	va_end(ap);
	exit(1);
}

/* A skipped test's process exits with this. */
#define SKIPPED 77

void cr__skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("skipped:", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
	exit(SKIPPED);
}

void cr__log(const char *level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "[%s] ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fflush(stderr);
}

static const struct cr__suite *suite_of(const struct cr__test *t)
{
	for (const struct cr__suite *s = suites; s; s = s->next)
		if (strcmp(s->name, t->suite) == 0)
			return s;
	return NULL;
}

/* Tests in the order they registered in (mingw runs the constructors of a
 * file last to first, so the list, built backwards, is in source order). */
static size_t ordered(struct cr__test ***out)
{
	size_t n = 0;
	for (struct cr__test *t = tests; t; t = t->next)
		n++;
	struct cr__test **list = malloc((n ? n : 1) * sizeof *list);
	if (!list)
		abort();
	size_t i = 0;
	for (struct cr__test *t = tests; t; t = t->next)
		list[i++] = t;
	*out = list;
	return n;
}

static LONG WINAPI unhandled(EXCEPTION_POINTERS *info)
{
	fflush(stdout);
	fflush(stderr);
	TerminateProcess(GetCurrentProcess(), info->ExceptionRecord->ExceptionCode);
	return EXCEPTION_EXECUTE_HANDLER;
}

static int run_one(struct cr__test *t)
{
	SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
	SetUnhandledExceptionFilter(unhandled);
	const struct cr__suite *s = suite_of(t);
	if (s && s->opt.init)
		s->opt.init();
	if (t->opt.init)
		t->opt.init();
	t->fn();
	if (t->opt.fini)
		t->opt.fini();
	if (s && s->opt.fini)
		s->opt.fini();
	fflush(stdout);
	fflush(stderr);
	return expect_failed ? 1 : 0;
}

/* Run test `i` in a child process; its exit code, or -1 on a timeout. */
static long run_child(size_t i, double timeout_s)
{
	wchar_t self[MAX_PATH];
	if (!GetModuleFileNameW(NULL, self, MAX_PATH))
		return -2;
	wchar_t cmd[MAX_PATH + 64];
	_snwprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" --run %zu", self, i);
	STARTUPINFOW si = {.cb = sizeof si};
	PROCESS_INFORMATION pi;
	/* Under Wine a process start fails now and then while many tests
	 * start at once: tried again, then reported. */
	bool started = false;
	for (int i = 0; i < 5 && !started; i++) {
		started = CreateProcessW(self, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
		if (!started)
			Sleep(200);
	}
	if (!started) {
		fprintf(stderr, "cannot start the test's process: error %lu\n", GetLastError());
		return -2;
	}
	CloseHandle(pi.hThread);
	DWORD wait = WaitForSingleObject(pi.hProcess, (DWORD)(timeout_s * 1000));
	DWORD code = 0;
	if (wait != WAIT_OBJECT_0) {
		TerminateProcess(pi.hProcess, 1);
		WaitForSingleObject(pi.hProcess, INFINITE);
		CloseHandle(pi.hProcess);
		return -1;
	}
	GetExitCodeProcess(pi.hProcess, &code);
	CloseHandle(pi.hProcess);
	return (long)code;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct cr__test **list;
	size_t n = ordered(&list);
	if (argc == 3 && strcmp(argv[1], "--run") == 0) {
		size_t i = strtoul(argv[2], NULL, 10);
		return i < n ? run_one(list[i]) : 2;
	}
	size_t passed = 0, failed = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		struct cr__test *t = list[i];
		const struct cr__suite *s = suite_of(t);
		if (t->opt.disabled || (s && s->opt.disabled)) {
			printf("[SKIP] %s::%s: disabled\n", t->suite, t->name);
			skipped++;
			continue;
		}
		double timeout = t->opt.timeout	       ? t->opt.timeout
				 : s && s->opt.timeout ? s->opt.timeout
						       : DEFAULT_TIMEOUT_S;
		long code = run_child(i, timeout);
		bool want_crash = t->opt.signal == SIGSEGV;
		bool ok = want_crash ? code == (long)EXCEPTION_ACCESS_VIOLATION
				     : code == t->opt.exit_code;
		if (code == SKIPPED) {
			printf("[SKIP] %s::%s\n", t->suite, t->name);
			skipped++;
			continue;
		}
		if (ok) {
			printf("[PASS] %s::%s\n", t->suite, t->name);
			passed++;
			continue;
		}
		failed++;
		if (code == -1)
			printf("[FAIL] %s::%s: timed out after %.0f s\n", t->suite, t->name,
			       timeout);
		else if (want_crash)
			printf("[FAIL] %s::%s: expected an access violation, exit code 0x%lx\n",
			       t->suite, t->name, (unsigned long)code);
		else
			printf("[FAIL] %s::%s: exit code 0x%lx\n", t->suite, t->name,
			       (unsigned long)code);
	}
	printf("[====] Synthesis: Tested: %zu | Passing: %zu | Failing: %zu | Skipped: %zu\n",
	       passed + failed, passed, failed, skipped);
	free(list);
	return failed ? 1 : 0;
}
