/* Running the harness's programs from a test, for the tests that drive
 * them as a user would (test_capture.c, test_capture_fuzz.c). */
#ifndef MEMSNAP_TESTS_HARNESS_SHELL_H
#define MEMSNAP_TESTS_HARNESS_SHELL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* The value of the environment variable `var` (set by meson to a built
 * program); skips the test when it is not set. */
static inline const char *need(const char *var)
{
	const char *v = getenv(var);
	if (!v || !*v)
		cr_skip_test("%s is not set (program not built)", var);
	return v;
}

/* Run a shell command; its output (stdout and stderr) goes to out. Its exit
 * status, or -1 when it did not exit. */
static inline int shell(const char *cmd, char *out, size_t cap)
{
	char full[16384];
	int len = snprintf(full, sizeof full, "%s 2>&1", cmd);
	cr_assert(len > 0 && (size_t)len < sizeof full, "command too long: %s", cmd);
	FILE *p = popen(full, "r");
	cr_assert(p, "%s", cmd);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = 0;
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
