/* memsnap-bench without the savestate benchmark: this memsnap was built
 * without save-state support (memsnap/state.h needs xxHash). */
#include <stdio.h>

#include "bench.h"

int msb_savestate(msb_options *o)
{
	(void)o;
	fprintf(stderr, "memsnap-bench: savestate: not available (memsnap was built without "
			"save-state support)\n");
	return 2;
}
