/* Helpers of the tests that run the heap demo (harness/heapdemo). */
#ifndef MEMSNAP_TESTS_HARNESS_HEAPDEMO_H
#define MEMSNAP_TESTS_HARNESS_HEAPDEMO_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The line of heap.c that contains `marker`. */
static inline int heapdemo_line_of(const char *marker)
{
	char path[1024], line[512];
	snprintf(path, sizeof path, "%s/heap.c", getenv("MEMSNAP_HEAPDEMO_DIR"));
	FILE *f = fopen(path, "r");
	cr_assert(f, "%s", path);
	int n = 0, found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		n++;
		found = strstr(line, marker) != NULL;
	}
	fclose(f);
	cr_assert(found, "no '%s' in heap.c", marker);
	return n;
}

#endif
