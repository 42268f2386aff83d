/* The concurrency workload as a plain program, for ThreadSanitizer runs. */
#define _GNU_SOURCE
#include <stdio.h>

#include "concurrency_workload.h"

int main(void)
{
	int failures = 0;
	for (int round = 0; round < 3; round++)
		failures += run_concurrency_workload() != 0;
	printf("%d passed, %d failed\n", 3 - failures, failures);
	return failures ? 1 : 0;
}
