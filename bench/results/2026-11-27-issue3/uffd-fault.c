#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
static uint64_t now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}
static int uffd;
static char *base;
static size_t ps = 4096;
static void wp(void *a, size_t len, int on)
{
	struct uffdio_writeprotect w = {.range = {(uintptr_t)a, len},
					.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &w)) {
		perror("wp");
		exit(1);
	}
}
static void h(int s, siginfo_t *si, void *u)
{
	(void)s;
	(void)u;
	uintptr_t a = (uintptr_t)si->si_addr & ~(ps - 1);
	wp((void *)a, ps, 0);
}
static int cmp(const void *a, const void *b)
{
	double x = *(double *)a, y = *(double *)b;
	return (x > y) - (x < y);
}
static int mk(int feat)
{
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API, .features = feat};
	if (ioctl(fd, UFFDIO_API, &api)) {
		perror("api");
		exit(1);
	}
	return fd;
}
int main(int argc, char **argv)
{
	int async = argc > 1;
	size_t np = 4096;
	int mfd = memfd_create("m", 0);
	ftruncate(mfd, np * ps);
	base = mmap(NULL, np * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	memset(base, 1, np * ps);
	uffd = mk(async ? UFFD_FEATURE_WP_ASYNC : UFFD_FEATURE_SIGBUS);
	struct uffdio_register r = {.range = {(uintptr_t)base, np * ps},
				    .mode = UFFDIO_REGISTER_MODE_WP};
	if (ioctl(uffd, UFFDIO_REGISTER, &r)) {
		perror("reg");
		return 1;
	}
	struct sigaction sa = {0};
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	enum { N = 256, R = 41 };
	double fw[R], pr[R], un[R];
	for (int rep = 0; rep < R; rep++) {
		size_t pg[N];
		for (int i = 0; i < N; i++)
			pg[i] = (size_t)(rand() % (np / N)) + (size_t)i * (np / N);
		for (int i = 0; i < N; i++)
			wp(base + pg[i] * ps, ps, 1);
		uint64_t a = now();
		for (int i = 0; i < N; i++)
			*(volatile char *)(base + pg[i] * ps + 8) = 2;
		uint64_t b = now();
		for (int i = 0; i < N; i++)
			wp(base + pg[i] * ps, ps, 1);
		uint64_t c = now();
		if (!async) {
			for (int i = 0; i < N; i++)
				wp(base + pg[i] * ps, ps, 0);
		}
		uint64_t d = now();
		fw[rep] = (double)(b - a) / N;
		pr[rep] = (double)(c - b) / N;
		un[rep] = (double)(d - c) / N;
		if (!async)
			for (int i = 0; i < N; i++)
				wp(base + pg[i] * ps, ps, 0);
	}
	qsort(fw, R, 8, cmp);
	qsort(pr, R, 8, cmp);
	qsort(un, R, 8, cmp);
	printf("%s: first write to a protected private page %.2f us; protect ioctl %.2f us; "
	       "unprotect ioctl %.2f us\n",
	       async ? "async" : "sync SIGBUS", fw[R / 2] / 1e3, pr[R / 2] / 1e3, un[R / 2] / 1e3);
}
