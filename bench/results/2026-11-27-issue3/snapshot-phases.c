#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
static uint64_t now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}
static int cmp(const void *a, const void *b)
{
	double x = *(double *)a, y = *(double *)b;
	return (x > y) - (x < y);
}
#define REPS 2001
#define N 16
double t[8][REPS];
int main(void)
{
	size_t ps = 4096, size = 256u << 20;
	uint8_t *src = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(src, 1, size);
	uint8_t *buf =
	    mmap(NULL, N * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 0, N * ps);
	srand(1);
	for (int r = 0; r < REPS; r++) {
		size_t pg[N];
		for (int i = 0; i < N; i++)
			pg[i] = (size_t)rand() % (size / ps);
		struct iovec iov[N];
		for (int i = 0; i < N; i++) {
			iov[i].iov_base = src + pg[i] * ps;
			iov[i].iov_len = ps;
		}
		uint64_t a = now();
		int fd = memfd_create("x", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		ftruncate(fd, N * ps);
		uint64_t b = now();
		pwritev(fd, iov, N, 0);
		uint64_t c = now();
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
		uint64_t d = now();
		void *m = mmap(NULL, N * ps, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		uint64_t e = now();
		munmap(m, N * ps);
		uint64_t f = now();
		for (int i = 0; i < N; i++)
			memcpy(buf + i * ps, src + pg[i] * ps, ps);
		uint64_t g = now();
		uint8_t *an =
		    mmap(NULL, N * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		for (int i = 0; i < N; i++)
			memcpy(an + i * ps, src + pg[i] * ps, ps);
		uint64_t h = now();
		munmap(an, N * ps);
		uint64_t k = now();
		t[0][r] = b - a;
		t[1][r] = c - b;
		t[2][r] = d - c;
		t[3][r] = e - d;
		t[4][r] = f - e;
		t[5][r] = g - f;
		t[6][r] = h - g;
		t[7][r] = k - h;
	}
	const char *nm[] = {"memfd+ftrunc",	    "pwritev16",     "seal",
			    "mmap+close",	    "munmap(later)", "memcpy16 warm",
			    "anon mmap+fault+copy", "anon munmap"};
	for (int i = 0; i < 8; i++) {
		qsort(t[i], REPS, sizeof(double), cmp);
		printf("%-22s %8.2f us\n", nm[i], t[i][REPS / 2] / 1e3);
	}
}
