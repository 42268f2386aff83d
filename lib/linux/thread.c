/* Threads of memsnap's and the CPUs they may use (os.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "prim.h"

/* Each thread's stack is its own mapping, unmapped after the join (a stack
 * from the thread library stays cached as a mapping). Room for sanitizers. */
enum { STACK_SIZE = 1024 * 1024 };

typedef struct worker {
	void (*fn)(void *arg);
	void *arg;
	pthread_t thread;
	void *stack;
} worker;

size_t ms__os_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return 1;
	int n = CPU_COUNT(&set);
	return n < 1 ? 1 : (size_t)n;
}

static void *run_worker(void *arg)
{
	worker *w = arg;
	w->fn(w->arg);
	return NULL;
}

/* The thread blocks every signal: the program's handlers never run on it. */
int ms__os_thread_start(void (*fn)(void *arg), void *arg, void **thread)
{
	worker *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	*w = (worker){.fn = fn, .arg = arg};
	w->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	int err = w->stack == MAP_FAILED ? errno : 0;
	pthread_attr_t attr;
	if (!err)
		err = pthread_attr_init(&attr);
	if (!err) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = pthread_attr_setstack(&attr, w->stack, STACK_SIZE);
		if (!err)
			err = pthread_create(&w->thread, &attr, run_worker, w);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (err) {
		if (w->stack != MAP_FAILED)
			munmap(w->stack, STACK_SIZE);
		free(w);
		return -err;
	}
	*thread = w;
	return 0;
}

void ms__os_thread_join(void *thread)
{
	worker *w = thread;
	pthread_join(w->thread, NULL);
	munmap(w->stack, STACK_SIZE);
	free(w);
}
