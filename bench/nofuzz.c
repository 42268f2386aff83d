/* memsnap-bench without the fuzz benchmark (no Unicorn, or not an x86-64
 * host to assemble the guest for). */
#include <stdio.h>

#include "bench.h"

const char *msb_unicorn_version(void)
{
	return "none";
}

int msb_fuzz(msb_options *o)
{
	(void)o;
	fprintf(stderr, "memsnap-bench: fuzz: not built (needs Unicorn on an x86-64 host)\n");
	return 2;
}
