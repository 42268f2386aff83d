/* Helpers for the tests that build on Linux (Criterion) and on Windows
 * (tests/win/'s stand-in): standard C only. */
#ifndef MEMSNAP_TESTS_PORTABLE_H
#define MEMSNAP_TESTS_PORTABLE_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A path for a new file in MEMSNAP_TEST_TMPDIR (else the current folder),
 * unique within this run of the test program. */
static inline void pt_path(char *path, size_t cap, const char *tag)
{
	static unsigned counter;
	const char *d = getenv("MEMSNAP_TEST_TMPDIR");
	snprintf(path, cap, "%s/memsnap-%s-%lx-%u", d && *d ? d : ".", tag,
		 (unsigned long)time(NULL) ^ (unsigned long)(size_t)&counter, counter++);
}

/* Write `len` bytes of `data` to a new file at `path`; false on failure. */
static inline int pt_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return 0;
	int ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

#endif /* MEMSNAP_TESTS_PORTABLE_H */
