/*
 * memsnap heap demo guest, Thumb with newlib (nano.specs): the entry point
 * and the one system call newlib's malloc needs.
 *
 * newlib's malloc (_malloc_r) grows its heap with _sbrk, which a bare-metal
 * program provides: here it hands out heapdemo_heap, between the linker
 * script's memsnap_brk_start and memsnap_brk_end. Its break pointer lives in
 * guest memory, so every input starts with the heap the start state had.
 * errno is in newlib's reentrancy structure (_impure_ptr), initialised data
 * the ELF carries. No thread pointer and no stack-protector canary: newlib
 * for arm-none-eabi is built without them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "heapdemo.h"

extern char memsnap_brk_start[], memsnap_brk_end[];
static char *heap_break;

void *_sbrk(ptrdiff_t incr);

void *_sbrk(ptrdiff_t incr)
{
	char *old = heap_break ? heap_break : memsnap_brk_start;
	if (incr > memsnap_brk_end - old || incr < memsnap_brk_start - old) {
		errno = ENOMEM;
		return (void *)-1;
	}
	heap_break = old + incr;
	return old;
}

int heapdemo_entry(const uint8_t *data, uint32_t len)
{
	return heapdemo_parse(data, len);
}
