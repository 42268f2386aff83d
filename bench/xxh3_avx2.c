/* XXH3-64 compiled for AVX2 from Debian's xxhash.h (inline, header-only),
 * to show what a libxxhash built for AVX2 would give beside Debian's
 * baseline (SSE2) build. Called only where the CPU has AVX2. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stddef.h>
#include <stdint.h>

uint64_t msb_xxh3_avx2(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}
