/*
 * memsnap-uc-forever: run one engine for many iterations (run + checkpoint
 * restore) and report memory and the longest pause, to show that ms_uc_run
 * survives campaigns of any length on Unicorn 2.0.1.
 *
 *   memsnap-uc-forever [iterations] [--plain]
 *
 * iterations defaults to 100,000,000. --plain calls uc_emu_start directly
 * with the real stop address instead of ms_uc_run: on Unicorn 2.0.1 memory
 * then grows ~300 MB per million calls and the engine crashes after
 * 4,194,276 calls.
 *
 * The guest (x86-64) stores a counter to one of 4 pages and stops; every
 * iteration restores the checkpoint. Each line: iterations done, RSS in MiB,
 * iterations per second since the last line, the longest run + restore in
 * microseconds since the last line.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc.h"

#define CODE 0x10000
#define DATA 0x100000

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * 4;
}

int main(int argc, char **argv)
{
	uint64_t iterations = 100000000;
	int plain = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--plain") == 0)
			plain = 1;
		else
			iterations = strtoull(argv[i], NULL, 0);
	}
	/* Four increments on four pages, then the stop address. */
	static const uint8_t code[] = {
	    0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x10, 0x00, /* inc qword [0x100000] */
	    0x48, 0xff, 0x04, 0x25, 0x00, 0x10, 0x10, 0x00, /* inc qword [0x101000] */
	    0x48, 0xff, 0x04, 0x25, 0x00, 0x20, 0x10, 0x00, /* inc qword [0x102000] */
	    0x48, 0xff, 0x04, 0x25, 0x00, 0x30, 0x10, 0x00, /* inc qword [0x103000] */
	    0x90, 0x90,					    /* stop here */
	};
	uint64_t until = CODE + 32;
	uc_engine *uc;
	ms_uc *m;
	ms_uc_checkpoint *cp;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) || ms_uc_new(uc, &m) ||
	    ms_uc_map_zeroed(m, CODE, 4096, UC_PROT_READ | UC_PROT_EXEC) ||
	    ms_uc_map_zeroed(m, DATA, 64 << 20, UC_PROT_READ | UC_PROT_WRITE) ||
	    ms_uc_write(m, CODE, code, sizeof code) || ms_uc_checkpoint_take(m, &cp)) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	unsigned major, minor;
	uc_version(&major, &minor);
	printf("# %s, %" PRIu64 " iterations, Unicorn %u.%u\n",
	       plain ? "plain uc_emu_start" : "ms_uc_run", iterations, major, minor);
	printf("iterations,rss_mib,iter_per_s,max_pause_us\n");
	uint64_t t_line = now_ns(), max_pause = 0, line_every = 1000000;
	for (uint64_t i = 1; i <= iterations; i++) {
		uint64_t t0 = now_ns();
		int err = plain ? ms_uc_error(uc_emu_start(uc, CODE, until, 0, 0))
				: ms_uc_run(m, CODE, until, 0, 0);
		if (!err)
			err = ms_uc_checkpoint_restore(m, cp);
		if (err) {
			fprintf(stderr, "iteration %" PRIu64 ": %s\n", i, ms_strerror(err));
			return 1;
		}
		uint64_t dt = now_ns() - t0;
		if (dt > max_pause)
			max_pause = dt;
		if (i % line_every == 0 || i == iterations) {
			uint64_t t = now_ns();
			uint64_t n = i % line_every ? i % line_every : line_every;
			printf("%" PRIu64 ",%.1f,%.0f,%.0f\n", i, rss_kib() / 1024.0,
			       (double)n * 1e9 / (double)(t - t_line), max_pause / 1e3);
			fflush(stdout);
			t_line = t;
			max_pause = 0;
		}
	}
	ms_uc_checkpoint_free(cp);
	ms_uc_free(m);
	uc_close(uc);
	return 0;
}
