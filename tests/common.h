/* Helpers shared by the test files: temporary files, resource counters. */
#ifndef MEMSNAP_TESTS_COMMON_H
#define MEMSNAP_TESTS_COMMON_H

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(_WIN32)
/* The tests' environment changes through the C runtime's table. */
static inline int setenv(const char *name, const char *value, int overwrite)
{
	(void)overwrite;
	return _putenv_s(name, value);
}
static inline int unsetenv(const char *name)
{
	return _putenv_s(name, "");
}
#endif

/* The tests' pseudo-random numbers: xorshift64 over a state of the
 * caller's (never 0), so every run of a test draws the same sequence. */
static inline uint64_t ms_test_rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static inline const char *ms_test_tmpdir(void)
{
	const char *d = getenv("MEMSNAP_TEST_TMPDIR");
	return d && *d ? d : "/tmp";
}

/* Create a fresh file holding `len` bytes of `data`; its path goes to `path`. */
static inline void ms_test_tmpfile(char *path, size_t cap, const void *data, size_t len)
{
	snprintf(path, cap, "%s/memsnap-test-XXXXXX", ms_test_tmpdir());
	int fd = mkstemp(path);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror("tmpfile");
		abort();
	}
	close(fd);
}

/* Under valgrind, address-space and descriptor counts are valgrind's own:
 * the tests that measure them skip themselves (valgrind checks leaks). */
static inline int ms_test_under_valgrind(void)
{
	return getenv("MEMSNAP_TEST_VALGRIND") != NULL;
}

/* AddressSanitizer keeps freed memory in quarantine and maps shadow memory of
 * its own, so RSS and mapping counts say nothing about memsnap there; the
 * resource-flatness tests skip themselves (LeakSanitizer checks leaks). */
static inline int ms_test_counts_unreliable(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return 1;
#else
	return ms_test_under_valgrind();
#endif
}

static inline int ms_test_count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static inline int ms_test_count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static inline long ms_test_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

#endif
