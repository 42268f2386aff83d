/* The process half of the platform contract (lib/os.h) on Windows: process
 * identity, the clock and work split across threads. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "win.h"

int ms__os_pid(void)
{
	/* No fork on Windows: a view never changes process, and its tracker
	 * is never inherited. */
	return (int)GetCurrentProcessId();
}

uint64_t ms__now_ns(void)
{
	static LARGE_INTEGER freq;
	if (!freq.QuadPart)
		QueryPerformanceFrequency(&freq);
	LARGE_INTEGER t;
	QueryPerformanceCounter(&t);
	uint64_t f = (uint64_t)freq.QuadPart;
	return (uint64_t)t.QuadPart / f * 1000000000u + (uint64_t)t.QuadPart % f * 1000000000u / f;
}

enum { MAX_THREADS = 8 };

typedef struct part {
	int (*fn)(void *ctx, size_t lo, size_t hi);
	void *ctx;
	size_t lo, hi;
	int err;
	pthread_t thread;
	bool running;
} part;

static void *run_part(void *arg)
{
	part *p = arg;
	p->err = p->fn(p->ctx, p->lo, p->hi);
	return NULL;
}

int ms__parallel(size_t n, size_t grain, int (*fn)(void *ctx, size_t lo, size_t hi), void *ctx)
{
	DWORD_PTR mask, sys;
	size_t parts = 1;
	if (GetProcessAffinityMask(GetCurrentProcess(), &mask, &sys))
		parts = (size_t)__builtin_popcountll(mask);
	if (parts > MAX_THREADS)
		parts = MAX_THREADS;
	if (grain == 0)
		grain = 1;
	if (parts > n / grain)
		parts = n / grain;
	if (parts <= 1)
		return n ? fn(ctx, 0, n) : 0;
	part p[MAX_THREADS] = {0};
	for (size_t i = 0; i < parts; i++)
		p[i] = (part){.fn = fn, .ctx = ctx, .lo = n * i / parts, .hi = n * (i + 1) / parts};
	/* Parts whose thread cannot start run on the calling thread. */
	for (size_t i = 1; i < parts; i++)
		p[i].running = pthread_create(&p[i].thread, NULL, run_part, &p[i]) == 0;
	run_part(&p[0]);
	for (size_t i = 1; i < parts; i++) {
		if (p[i].running)
			pthread_join(p[i].thread, NULL);
		else
			run_part(&p[i]);
	}
	for (size_t i = 0; i < parts; i++)
		if (p[i].err)
			return p[i].err;
	return 0;
}

void *ms__os_alloc_aligned(size_t align, size_t size)
{
	return _aligned_malloc(size, align);
}

void ms__os_free_aligned(void *p)
{
	_aligned_free(p);
}

const char *ms__os_strerror(int err)
{
	/* The C library's table; its text for an unknown value is a
	 * generic one, which ms_strerror's callers accept too. */
	return strerror(err);
}
