/* Work split across the CPUs this process may use (prim.h). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "prim.h"

/* Parts never run on more threads than this, nor on more than the process
 * may use CPUs. */
enum { MAX_THREADS = 8 };
/* Each worker's stack is its own mapping, unmapped after the join (a stack
 * from the thread library stays cached as a mapping). Room for sanitizers. */
enum { STACK_SIZE = 1024 * 1024 };

typedef struct part {
	int (*fn)(void *ctx, size_t lo, size_t hi);
	void *ctx;
	size_t lo, hi;
	int err;
	pthread_t thread;
	void *stack;
	bool running;
} part;

static void *run_part(void *arg)
{
	part *p = arg;
	p->err = p->fn(p->ctx, p->lo, p->hi);
	return NULL;
}

static size_t usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n < 1 ? 1 : (size_t)n;
}

/* Start part p on a thread of its own with every signal blocked (the
 * program's handlers never run on it); false when that is not possible,
 * and the caller runs it. */
static bool start_part(part *p)
{
	p->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p->stack == MAP_FAILED) {
		p->stack = NULL;
		return false;
	}
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		goto fail;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_attr_setstack(&attr, p->stack, STACK_SIZE);
	if (!err)
		err = pthread_create(&p->thread, &attr, run_part, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		goto fail;
	p->running = true;
	return true;
fail:
	munmap(p->stack, STACK_SIZE);
	p->stack = NULL;
	return false;
}

int ms__parallel(size_t n, size_t grain, int (*fn)(void *ctx, size_t lo, size_t hi), void *ctx)
{
	size_t parts = usable_cpus();
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
	/* Part 0 runs on the calling thread, and so does any part whose thread
	 * could not start. */
	for (size_t i = 1; i < parts; i++)
		if (!start_part(&p[i]))
			run_part(&p[i]);
	run_part(&p[0]);
	int err = 0;
	for (size_t i = 0; i < parts; i++) {
		if (p[i].running)
			pthread_join(p[i].thread, NULL);
		if (p[i].stack)
			munmap(p[i].stack, STACK_SIZE);
		if (!err)
			err = p[i].err;
	}
	return err;
}
