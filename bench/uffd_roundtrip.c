/*
 * memsnap-uffd-roundtrip: what one write to a write-protected page costs
 * when a second thread serves the fault, as uffd-thread's does, depending
 * on where that thread may run (docs/tracking.md, "Where the thread runs").
 * Plain userfaultfd, no memsnap, so that the scheduler's choices are all
 * that differs between the rows.
 *
 *   memsnap-uffd-roundtrip [ITERATIONS]     (default 2000)
 *
 * Each iteration protects 64 pages, computes for 50 µs (a fuzz loop runs
 * its target), then writes to 1 page or to 16 pages in a row; it reports
 * the median, 10th and 90th percentile per write, and in how many
 * iterations the writer ended on another CPU than it started on. Serving
 * thread: free to run anywhere; bound at each iteration's start to the
 * writer's CPU (what memsnap does at each restore); with both bound to one
 * CPU (which a library cannot do to its program). Each at ordinary and at
 * real-time priority (SCHED_FIFO 1; needs CAP_SYS_NICE, else that row says
 * so). Runs unprivileged (UFFD_USER_MODE_ONLY).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

enum { PAGES = 64, COMPUTE_NS = 50000 };

typedef enum placement { FREE, FOLLOW, BOTH } placement;
static const char *const placement_names[] = {"free", "bound to the writer's CPU",
					      "writer and thread on one CPU"};

typedef struct server {
	int uffd;
	long page;
	pthread_t thread;
} server;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int bind_to(pthread_t t, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(t, sizeof set, &set);
}

/* Serve every write fault: lift the protection of its page, which wakes
 * the writer. Runs until the process ends. */
static void *serve(void *arg)
{
	server *s = arg;
	for (;;) {
		struct pollfd p = {.fd = s->uffd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0)
			continue;
		struct uffd_msg m;
		if (read(s->uffd, &m, sizeof m) != (ssize_t)sizeof m)
			continue;
		struct uffdio_writeprotect wp = {
		    .range = {.start = m.arg.pagefault.address & ~(uint64_t)(s->page - 1),
			      .len = (uint64_t)s->page}};
		(void)ioctl(s->uffd, UFFDIO_WRITEPROTECT, &wp);
	}
	return NULL;
}

/* One row: `writes` writes an iteration. Prints the row, or why not. */
static void row(uint8_t *mem, long page, placement where, bool fifo, int writes, int iters)
{
	server s = {.page = page};
	s.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP};
	struct uffdio_register reg = {.range = {(uintptr_t)mem, (uint64_t)(PAGES * page)},
				      .mode = UFFDIO_REGISTER_MODE_WP};
	if (s.uffd < 0 || ioctl(s.uffd, UFFDIO_API, &api) || ioctl(s.uffd, UFFDIO_REGISTER, &reg)) {
		printf("no userfaultfd write-protect here: %s\n", strerror(errno));
		exit(1);
	}
	pthread_t self = pthread_self();
	cpu_set_t all;
	sched_getaffinity(0, sizeof all, &all);
	if (where == BOTH)
		bind_to(self, sched_getcpu());
	pthread_create(&s.thread, NULL, serve, &s);
	struct sched_param prio = {.sched_priority = 1};
	bool prio_ok = !fifo || pthread_setschedparam(s.thread, SCHED_FIFO, &prio) == 0;
	uint64_t *t = malloc((size_t)iters * sizeof *t);
	int moved = 0;
	for (int i = 0; i < iters; i++) {
		struct uffdio_writeprotect wp = {.range = reg.range,
						 .mode = UFFDIO_WRITEPROTECT_MODE_WP};
		ioctl(s.uffd, UFFDIO_WRITEPROTECT, &wp);
		for (uint64_t end = now_ns() + COMPUTE_NS; now_ns() < end;)
			;
		int cpu = sched_getcpu();
		if (where != FREE)
			bind_to(s.thread, cpu);
		uint64_t t0 = now_ns();
		for (int j = 0; j < writes; j++)
			((volatile uint8_t *)mem)[(size_t)((i * writes + j) % PAGES) * page] = 1;
		t[i] = (now_ns() - t0) / (uint64_t)writes;
		moved += sched_getcpu() != cpu;
	}
	qsort(t, (size_t)iters, sizeof *t, cmp_u64);
	printf("%-30s %-9s %6d %9.1f %9.1f %9.1f %7d%s\n", placement_names[where],
	       fifo ? "real-time" : "ordinary", writes, t[iters / 2] / 1e3, t[iters / 10] / 1e3,
	       t[iters * 9 / 10] / 1e3, moved, prio_ok ? "" : "  (priority refused)");
	free(t);
	pthread_cancel(s.thread);
	pthread_join(s.thread, NULL);
	close(s.uffd);
	sched_setaffinity(0, sizeof all, &all);
}

int main(int argc, char **argv)
{
	int iters = argc > 1 ? atoi(argv[1]) : 2000;
	if (iters < 10) {
		fprintf(stderr, "usage: memsnap-uffd-roundtrip [ITERATIONS >= 10]\n");
		return 2;
	}
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *mem = mmap(NULL, (size_t)(PAGES * page), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(mem, 1, (size_t)(PAGES * page)); /* present: writes fault for the protection only */
	printf("%d iterations, %ld CPUs online; µs per write\n", iters, sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-30s %-9s %6s %9s %9s %9s %7s\n", "serving thread", "priority", "writes", "median",
	       "p10", "p90", "moved");
	for (int writes = 1; writes <= 16; writes += 15)
		for (placement where = FREE; where <= BOTH; where++)
			for (int fifo = 0; fifo <= 1; fifo++)
				row(mem, page, where, fifo, writes, iters);
	return 0;
}
