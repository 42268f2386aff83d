/*
 * The AFL++ coverage map, reached from code built without AFL's compiler.
 *
 * afl-clang-fast declares __afl_area_ptr itself in every module it
 * instruments, so the instrumented front end (afl.c) cannot declare it too.
 * This file is built by the project compiler into the harness library and
 * refers to both symbols weakly: in memsnap-fuzz-afl they resolve to AFL++'s
 * runtime, elsewhere they stay NULL.
 */
#include "fuzz.h"

extern unsigned char *__afl_area_ptr __attribute__((weak));
extern unsigned int __afl_map_size __attribute__((weak));

void msf_afl_reserve_map(size_t size)
{
	/* AFL++ sizes its map from the number of instrumented edges in the
	 * binary, a few dozen here, because the harness itself is not
	 * instrumented. The fork server reports __afl_map_size to afl-fuzz when
	 * it starts, so raising it before __AFL_INIT() gets a map large enough
	 * for the guest's edges. The shared memory afl-fuzz created first has
	 * its default size (64 KiB), which is what we ask for. */
	unsigned int *map_size = &__afl_map_size;
	if (map_size && *map_size < size)
		*map_size = (unsigned int)size;
}

uint8_t *msf_afl_map(size_t *size)
{
	unsigned char **ptr = &__afl_area_ptr;
	unsigned int *map_size = &__afl_map_size;
	if (!ptr || !*ptr)
		return NULL;
	/* The map may be any multiple of 64 bytes: use the largest power of
	 * two that fits, so that an edge hash is a mask away. */
	size_t max = map_size && *map_size ? *map_size : 65536, n = 64;
	while (n * 2 <= max)
		n *= 2;
	*size = n;
	return *ptr;
}
