/*
 * memsnap-uc-state-measure: what engine save states cost, end to end through
 * the runtime API, on an x86-64 engine with RAM MiB of guest RAM whose every
 * page holds data.
 *
 *   memsnap-uc-state-measure <ram MiB> <dirty pages D> <directory> [reps]
 *
 * Per repetition (medians printed, one CSV line per operation):
 *   save-full         ms_uc_checkpoint_save of the whole machine (GB/s)
 *   load              ms_uc_checkpoint_load, no RAM verification (µs)
 *   load+restore      ... then ms_uc_checkpoint_restore into the engine (µs)
 *   touch-D           the first host reads of D pages after that (µs)
 *   save-incremental  D pages written after the load, saved over the base (µs)
 *   verify            ms_state_verify of the full state (GB/s)
 * Every load is checked: the D pages read back hold what was saved.
 * Use a tmpfs directory (/dev/shm) to measure memsnap, not the disk.
 * MEMSNAP_UC_TRACKING and MEMSNAP_TRACKER choose the loading engine's
 * tracking (restore after a load maps and registers the views).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "memsnap/uc_state.h"

#define RAM 0x1000000ull
#define PAGE 4096ull

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void check(const char *what, int err)
{
	if (err) {
		fprintf(stderr, "memsnap-uc-state-measure: %s: %s\n", what, ms_strerror(err));
		exit(2);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_u64);
	return v[n / 2];
}

/* Page k of the D dirty pages: spread over the whole RAM. */
static uint64_t dirty_page(uint64_t k, uint64_t d, uint64_t pages)
{
	return (k * (pages / d) + k * 7) % pages;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: memsnap-uc-state-measure <ram MiB> <dirty pages> "
				"<directory> [reps]\n");
		return 2;
	}
	uint64_t size = strtoull(argv[1], NULL, 0) << 20, d = strtoull(argv[2], NULL, 0);
	const char *dir = argv[3];
	int reps = argc > 4 ? atoi(argv[4]) : 5;
	if (size == 0 || d == 0 || d > size / PAGE || reps < 1 || reps > 1000) {
		fprintf(stderr, "memsnap-uc-state-measure: bad arguments\n");
		return 2;
	}
	uint64_t pages = size / PAGE;
	char full[4096], inc[4096];
	snprintf(full, sizeof full, "%s/memsnap-measure-%d.mss", dir, (int)getpid());
	snprintf(inc, sizeof inc, "%s/memsnap-measure-%d-inc.mss", dir, (int)getpid());

	uc_engine *uc;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
		return 2;
	ms_uc *m;
	check("ms_uc_new", ms_uc_new(uc, &m));
	check("map", ms_uc_map_zeroed(m, RAM, size, UC_PROT_READ | UC_PROT_WRITE));
	uint8_t *ram = ms_uc_host_ptr(m, RAM, NULL);
	for (uint64_t p = 0; p < pages; p++)
		memset(ram + p * PAGE, (int)(p % 251) + 1, PAGE);
	check("note", ms_uc_note_written(m, RAM, size)); /* for hook tracking */
	ms_uc_checkpoint *cp;
	check("checkpoint", ms_uc_checkpoint_take(m, &cp));

	uint64_t *t[6];
	for (int k = 0; k < 6; k++)
		t[k] = calloc((size_t)reps, sizeof **t);
	uint8_t buf[64];
	for (int r = 0; r < reps; r++) {
		unlink(full);
		uint64_t t0 = now_ns();
		check("save", ms_uc_checkpoint_save(cp, full, NULL));
		t[0][r] = now_ns() - t0;

		/* A fresh engine each time, as a worker process would have. */
		uc_engine *uc2;
		if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc2) != UC_ERR_OK)
			return 2;
		ms_uc *m2;
		check("ms_uc_new", ms_uc_new(uc2, &m2));
		/* Unicorn sets an engine up at its first use (~1 ms, the
		 * translator's buffers): not a cost of the load. */
		uint64_t rip;
		uc_reg_read(uc2, UC_X86_REG_RIP, &rip);
		ms_state *st;
		ms_uc_checkpoint *loaded;
		t0 = now_ns();
		check("open", ms_state_open(full, 0, &st));
		check("load", ms_uc_checkpoint_from_state(m2, st, &loaded));
		t[1][r] = now_ns() - t0;
		check("restore", ms_uc_checkpoint_restore(m2, loaded));
		t[2][r] = now_ns() - t0;
		t0 = now_ns();
		for (uint64_t k = 0; k < d; k++) {
			uint64_t p = dirty_page(k, d, pages);
			check("read", ms_uc_read(m2, RAM + p * PAGE, buf, sizeof buf));
			if (buf[0] != (uint8_t)((p % 251) + 1)) {
				fprintf(stderr, "memsnap-uc-state-measure: page %llu is wrong\n",
					(unsigned long long)p);
				return 1;
			}
		}
		t[3][r] = now_ns() - t0;
		for (uint64_t k = 0; k < d; k++)
			check("write", ms_uc_write(m2, RAM + dirty_page(k, d, pages) * PAGE + 8,
						   "dirty", 5));
		ms_uc_checkpoint *after;
		check("checkpoint", ms_uc_checkpoint_take(m2, &after));
		unlink(inc);
		t0 = now_ns();
		check("incremental save", ms_uc_checkpoint_save(after, inc, st));
		t[4][r] = now_ns() - t0;
		t0 = now_ns();
		check("verify", ms_state_verify(st, NULL));
		t[5][r] = now_ns() - t0;
		ms_uc_checkpoint_free(after);
		ms_uc_checkpoint_free(loaded);
		ms_state_close(st);
		ms_uc_free(m2);
		uc_close(uc2);
	}
	unlink(full);
	unlink(inc);
	double gb = (double)size / 1e9;
	uint64_t save = median(t[0], reps), verify = median(t[5], reps);
	printf("operation,ram_mib,dirty,reps,median_us,gb_per_s\n");
	printf("save-full,%llu,%llu,%d,%.1f,%.2f\n", (unsigned long long)(size >> 20),
	       (unsigned long long)d, reps, save / 1e3, gb / (save / 1e9));
	printf("load,%llu,%llu,%d,%.1f,\n", (unsigned long long)(size >> 20), (unsigned long long)d,
	       reps, median(t[1], reps) / 1e3);
	printf("load+restore,%llu,%llu,%d,%.1f,\n", (unsigned long long)(size >> 20),
	       (unsigned long long)d, reps, median(t[2], reps) / 1e3);
	printf("touch-D,%llu,%llu,%d,%.1f,\n", (unsigned long long)(size >> 20),
	       (unsigned long long)d, reps, median(t[3], reps) / 1e3);
	printf("save-incremental,%llu,%llu,%d,%.1f,\n", (unsigned long long)(size >> 20),
	       (unsigned long long)d, reps, median(t[4], reps) / 1e3);
	printf("verify,%llu,%llu,%d,%.1f,%.2f\n", (unsigned long long)(size >> 20),
	       (unsigned long long)d, reps, verify / 1e3, gb / (verify / 1e9));
	for (int k = 0; k < 6; k++)
		free(t[k]);
	ms_uc_checkpoint_free(cp);
	ms_uc_free(m);
	uc_close(uc);
	return 0;
}
