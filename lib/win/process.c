/* The process half of the platform contract (lib/os.h) on Windows: process
 * identity, the clock and threads. */
#include <errno.h>
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

size_t ms__os_cpus(void)
{
	DWORD_PTR mask, sys;
	if (!GetProcessAffinityMask(GetCurrentProcess(), &mask, &sys) || !mask)
		return 1;
	return (size_t)__builtin_popcountll(mask);
}

int ms__os_thread_start(void *(*fn)(void *arg), void *arg, void **thread)
{
	pthread_t *t = malloc(sizeof *t);
	if (!t)
		return -ENOMEM;
	int err = pthread_create(t, NULL, fn, arg);
	if (err) {
		free(t);
		return -err;
	}
	*thread = t;
	return 0;
}

void ms__os_thread_join(void *thread)
{
	pthread_join(*(pthread_t *)thread, NULL);
	free(thread);
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
