/* memsnap-bench: timing, statistics, random pages, machine description. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef MSB_BUILD_FLAGS
#define MSB_BUILD_FLAGS "unknown"
#endif

uint64_t msb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double msb_quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	/* Nearest rank: the smallest value with at least q of the samples at
	 * or below it. With fewer than 100 samples p99 is the maximum. */
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	if (q == 0.5 && n % 2 == 0)
		return (v[n / 2 - 1] + v[n / 2]) / 2;
	return v[rank - 1];
}

uint64_t msb_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

uint64_t msb_seed(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t s = 0x9E3779B97F4A7C15ULL;
	uint64_t in[4] = {a, b, c, d};
	for (int i = 0; i < 4; i++) {
		s ^= in[i] + 0x9E3779B97F4A7C15ULL + (s << 6) + (s >> 2);
		s *= 0xBF58476D1CE4E5B9ULL;
		s ^= s >> 31;
	}
	return s ? s : 1;
}

void msb_pick_pages(uint64_t seed, size_t npages, size_t n, size_t *out)
{
	uint64_t s = seed ? seed : 1;
	if (n > npages)
		n = npages;
	/* Rejection against a bitmap keeps the pages distinct. */
	size_t words = (npages + 63) / 64;
	uint64_t *used = calloc(words, sizeof *used);
	if (!used) {
		perror("memsnap-bench");
		exit(1);
	}
	for (size_t i = 0; i < n;) {
		size_t pg = (size_t)(msb_rand(&s) % npages);
		if (used[pg / 64] & (1ULL << (pg % 64)))
			continue;
		used[pg / 64] |= 1ULL << (pg % 64);
		out[i++] = pg;
	}
	free(used);
}

uint64_t msb_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return 0;
	char line[256];
	unsigned long long kb = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

int msb_pin(int cpu)
{
	cpu_set_t set;
	if (cpu == -2 || sched_getaffinity(0, sizeof set, &set) != 0)
		return -1;
	if (cpu < 0) {
		for (int c = CPU_SETSIZE - 1; c >= 0; c--)
			if (CPU_ISSET(c, &set)) {
				cpu = c;
				break;
			}
	}
	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set) == 0 ? cpu : -1;
}

void msb_size_str(uint64_t b, char *buf, size_t len)
{
	if (b >= (1ULL << 30) && b % (1ULL << 30) == 0)
		snprintf(buf, len, "%lluG", (unsigned long long)(b >> 30));
	else if (b >= (1ULL << 20) && b % (1ULL << 20) == 0)
		snprintf(buf, len, "%lluM", (unsigned long long)(b >> 20));
	else if (b >= 1024 && b % 1024 == 0)
		snprintf(buf, len, "%lluK", (unsigned long long)(b >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)b);
}

static msb_result *results;
static size_t n_results, cap_results;

msb_result *msb_add(const char *bench)
{
	if (n_results == cap_results) {
		size_t cap = cap_results ? cap_results * 2 : 64;
		msb_result *r = realloc(results, cap * sizeof *r);
		if (!r) {
			perror("memsnap-bench");
			exit(1);
		}
		results = r;
		cap_results = cap;
	}
	msb_result *r = &results[n_results++];
	*r = (msb_result){
	    .bench = bench,
	    .insns = -1,
	    .read_pages = 0,
	    .restore_ns_median = NAN,
	    .restore_ns_p99 = NAN,
	    .iteration_ns_median = NAN,
	    .iteration_ns_p99 = NAN,
	    .iters_per_sec = NAN,
	    .x_limit = NAN,
	    .x_floor = NAN,
	};
	return r;
}

msb_result *msb_results(size_t *n)
{
	*n = n_results;
	return results;
}

void msb_progress(const msb_options *o, const char *fmt, ...)
{
	if (!o->progress)
		return;
	char buf[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\r\033[K%s", buf);
	fflush(stderr);
}

void msb_progress_done(const msb_options *o)
{
	if (o->progress)
		fprintf(stderr, "\r\033[K");
}

bool msb_wants(const msb_options *o, const char *name)
{
	if (o->n_strategies == 0)
		return true;
	for (size_t i = 0; i < o->n_strategies; i++)
		if (strcmp(o->strategies[i], name) == 0)
			return true;
	return false;
}

void *msb_map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int msb_make_image(size_t size, int *fd_out)
{
	int fd = memfd_create("memsnap-bench-image", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int err = -errno;
		close(fd);
		return err;
	}
	size_t ps = ms_page_size();
	for (size_t off = 0; off < size; off += ps) {
		uint64_t *w = (uint64_t *)(p + off);
		uint64_t pg = off / ps;
		for (size_t i = 0; i < ps / 8; i += 8)
			w[i] = 0x6D656D736E617000ULL ^ (pg << 8) ^ i;
	}
	munmap(p, size);
	*fd_out = fd;
	return 0;
}

void msb_touch_pages(const void *p, size_t size)
{
	const volatile uint8_t *b = p;
	size_t ps = ms_page_size();
	uint8_t sink = 0;
	for (size_t off = 0; off < size; off += ps)
		sink ^= b[off];
	(void)sink;
}

static void cpu_model(char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *c = strchr(line, ':');
			if (c) {
				c += 2;
				c[strcspn(c, "\n")] = 0;
				snprintf(buf, len, "%s", c);
			}
			break;
		}
	}
	fclose(f);
}

void msb_print_machine(void *file, const msb_options *o, int pinned)
{
	FILE *f = file;
	struct utsname u;
	char cpu[256];
	cpu_model(cpu, sizeof cpu);
	uname(&u);
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	fprintf(f, "# memsnap-bench %s (memsnap %s)\n", date, ms_version());
	fprintf(f, "# cpu: %s (%ld online)\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(f, "# kernel: %s %s %s\n", u.sysname, u.release, u.machine);
	fprintf(f, "# memory: %.1f GiB available\n", (double)msb_mem_available() / (1 << 30));
	fprintf(f, "# compiler and flags: %s\n", MSB_BUILD_FLAGS);
	fprintf(f, "# unicorn: %s\n", msb_unicorn_version());
	fprintf(f, "# tracker: auto resolves to %s; available:",
		ms_tracker_name(ms_tracker_resolve(MS_TRACKER_AUTO)));
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++)
		if (ms_tracker_probe((ms_tracker)t) == 0)
			fprintf(f, " %s", ms_tracker_name((ms_tracker)t));
	long env;
	if (ms_option_get(MS_OPTION_TRACKER, &env) == 0)
		fprintf(f, "; MEMSNAP_TRACKER=%s", ms_tracker_name((ms_tracker)env));
	fputc('\n', f);
	char pinned_name[16] = "none";
	if (pinned >= 0)
		snprintf(pinned_name, sizeof pinned_name, "%d", pinned);
	fprintf(f, "# pinned to cpu: %s; mode: %s%s\n", pinned_name, o->quick ? "quick" : "full",
		o->fixed_pages ? "; pages: fixed" : "");
}

bool msb_tracker_measured(ms_tracker t)
{
	return t != MS_TRACKER_NOTED && ms_tracker_probe(t) == 0;
}
