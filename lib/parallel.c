/* Work split across the CPUs this process may use (os.h). */
#include <stdbool.h>

#include "os.h"

/* Parts never run on more threads than this, nor on more than the process
 * may use CPUs. */
enum { MAX_THREADS = 8 };

typedef struct part {
	int (*fn)(void *ctx, size_t lo, size_t hi);
	void *ctx;
	size_t lo, hi;
	int err;
	void *thread; /* NULL: ran on the calling thread */
} part;

static void *run_part(void *arg)
{
	part *p = arg;
	p->err = p->fn(p->ctx, p->lo, p->hi);
	return NULL;
}

int ms__parallel(size_t n, size_t grain, int (*fn)(void *ctx, size_t lo, size_t hi), void *ctx)
{
	size_t parts = ms__os_cpus();
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
		if (ms__os_thread_start(run_part, &p[i], &p[i].thread) != 0) {
			p[i].thread = NULL;
			run_part(&p[i]);
		}
	run_part(&p[0]);
	int err = 0;
	for (size_t i = 0; i < parts; i++) {
		if (p[i].thread)
			ms__os_thread_join(p[i].thread);
		if (!err)
			err = p[i].err;
	}
	return err;
}
