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

/* The thread blocks every signal: the program's handlers never run on it. */
int ms__os_thread_start(void *(*fn)(void *arg), void *arg, void **thread)
{
	worker *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	int err = ms__map(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0, &w->stack);
	if (err) {
		free(w);
		return err;
	}
	pthread_attr_t attr;
	err = pthread_attr_init(&attr);
	if (!err) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = pthread_attr_setstack(&attr, w->stack, STACK_SIZE);
		if (!err)
			err = pthread_create(&w->thread, &attr, fn, arg);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (err) {
		munmap(w->stack, STACK_SIZE);
		free(w);
		return -err;
	}
	*thread = w;
	return 0;
}

/* Not through ms__unmap: releasing never fails, and unmapping a stack of
 * our own cannot, so there is no failure to inject. */
void ms__os_thread_join(void *thread)
{
	worker *w = thread;
	pthread_join(w->thread, NULL);
	ms__thread_forget(w);
}

void ms__thread_forget(void *thread)
{
	worker *w = thread;
	munmap(w->stack, STACK_SIZE);
	free(w);
}

int ms__thread_bind(void *thread, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(((worker *)thread)->thread, sizeof set, &set);
}
