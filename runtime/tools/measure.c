/*
 * memsnap-uc-measure: the cost of resetting guest RAM with memsnap-uc
 * against the bounds that matter, on one x86-64 guest loop.
 *
 *   memsnap-uc-measure <ram MiB> <dirty pages D> <mode> [iterations] [insns]
 *
 * The guest runs ~insns instructions (default 10,000) storing 8 bytes at a
 * time, round robin, into D pages spread over the RAM, then stops. Modes:
 *   floor   run only, no reset of any kind (the ceiling on iterations/s)
 *   floor-cpu  run, then uc_context_restore of the CPU only
 *   limit   plain uc_mem_map_ptr RAM, no tracking: after each run memcpy
 *           back exactly the D pages the program knows it dirtied
 *   limit+hook  the same with an empty UC_HOOK_MEM_WRITE hook on the RAM
 *   hook    ms_uc with MS_UC_TRACK_HOOK
 *   exact   ms_uc with MS_UC_TRACK_EXACT (MEMSNAP_TRACKER picks the tracker)
 * Every mode uses ms_uc_run to run the guest. Prints one CSV line:
 * mode,ram_mib,dirty,iterations,iter_per_s,restore_us (mean reset time).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc.h"

#define CODE 0x10000
#define RAM 0x100000

static const uint8_t spin[] = {
    0x48, 0xc7, 0xc6, 0x00, 0x00, 0x10, 0x00, 0x4c, 0x8b, 0x06, 0x4d, 0x31, 0xc9, 0x4a, 0x8b, 0x7c,
    0xce, 0x08, 0x89, 0xc8, 0x25, 0xff, 0x01, 0x00, 0x00, 0x48, 0x89, 0x0c, 0xc7, 0x49, 0xff, 0xc1,
    0x4d, 0x39, 0xc1, 0x72, 0x03, 0x4d, 0x31, 0xc9, 0x48, 0xff, 0xc9, 0x75, 0xe0, 0x90, 0x90,
};
#define STOP (CODE + 0x2d)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void empty_hook(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
		       void *user_data)
{
	(void)uc, (void)type, (void)address, (void)size, (void)value, (void)user_data;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, ms_strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr,
			"usage: %s <ram MiB> <dirty pages> floor|floor-cpu|limit|hook|exact "
			"[iterations] [insns]\n",
			argv[0]);
		return 2;
	}
	size_t ram = strtoull(argv[1], NULL, 0) << 20;
	size_t dirty = strtoull(argv[2], NULL, 0);
	const char *mode = argv[3];
	long iters = argc > 4 ? atol(argv[4]) : 20000;
	long insns = argc > 5 ? atol(argv[5]) : 10000;
	uint64_t loops = (uint64_t)insns / 9;
	bool floor = strcmp(mode, "floor") == 0, floor_cpu = strcmp(mode, "floor-cpu") == 0;
	int plain =
	    floor || floor_cpu || strcmp(mode, "limit") == 0 || strcmp(mode, "limit+hook") == 0;

	uc_engine *uc;
	ms_uc *m;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc))
		return 1;
	int err = ms_uc_new(uc, &m);
	if (err)
		die("ms_uc_new", err);
	if (strcmp(mode, "hook") == 0 &&
	    (err = ms_uc_set_tracking(m, MS_UC_TRACK_HOOK, MS_TRACKER_AUTO)))
		die("tracking", err);
	uint8_t *mem = NULL;
	if (plain) {
		/* Plain RAM: anonymous memory, never tracked. */
		void *code =
		    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mem = mmap(NULL, ram, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		memcpy(code, spin, sizeof spin);
		uc_mem_map_ptr(uc, CODE, 4096, UC_PROT_READ | UC_PROT_EXEC, code);
		uc_mem_map_ptr(uc, RAM, ram, UC_PROT_READ | UC_PROT_WRITE, mem);
		if (strcmp(mode, "limit+hook") == 0) {
			/* The limit plus an empty write hook on the RAM: what Unicorn
			 * charges for calling any hook on each store. */
			uc_hook h;
			uc_hook_add(uc, &h, UC_HOOK_MEM_WRITE, (void *)empty_hook, NULL, RAM,
				    RAM + ram - 1);
		}
	} else {
		if ((err = ms_uc_map_zeroed(m, CODE, 4096, UC_PROT_READ | UC_PROT_EXEC)) ||
		    (err = ms_uc_map_zeroed(m, RAM, ram, UC_PROT_READ | UC_PROT_WRITE)) ||
		    (err = ms_uc_write(m, CODE, spin, sizeof spin)))
			die("map", err);
	}
	/* The page list (in RAM's first page) and the pages, spread evenly. */
	uint64_t *list = calloc(dirty + 1, 8);
	size_t stride = (ram / 4096 - 1) / dirty;
	list[0] = dirty;
	for (size_t i = 0; i < dirty; i++)
		list[i + 1] = RAM + 4096 * (1 + i * stride);
	/* Each of the D pages starts with its own content, kept in `pristine`
	 * for the limit's copy (a copy from distinct pages, as a restore from a
	 * snapshot has to do). */
	uint8_t *pristine = malloc(dirty * 4096);
	for (size_t i = 0; i < dirty * 4096; i++)
		pristine[i] = (uint8_t)(i * 7 + i / 4096);
	if (plain) {
		memcpy(mem, list, (dirty + 1) * 8);
		for (size_t k = 0; k < dirty; k++)
			memcpy(mem + (list[k + 1] - RAM), pristine + k * 4096, 4096);
	} else {
		if ((err = ms_uc_write(m, RAM, list, (dirty + 1) * 8)))
			die("write", err);
		for (size_t k = 0; k < dirty; k++)
			if ((err = ms_uc_write(m, list[k + 1], pristine + k * 4096, 4096)))
				die("write", err);
	}
	uc_reg_write(uc, UC_X86_REG_RCX, &loops);
	ms_uc_checkpoint *cp = NULL;
	uc_context *ctx = NULL;
	if (plain) {
		uc_context_alloc(uc, &ctx);
		uc_context_save(uc, ctx);
	} else if ((err = ms_uc_checkpoint_take(m, &cp))) {
		die("checkpoint", err);
	}
	volatile size_t page = 4096; /* a library memcpy, as in memsnap */
	uint64_t reset_ns = 0, t0 = 0;
	for (long i = -1000; i < iters; i++) {
		if (i == 0) {
			t0 = now_ns();
			reset_ns = 0;
		}
		if ((err = ms_uc_run(m, CODE, STOP, 0, 0)))
			die("run", err);
		uint64_t r0 = now_ns();
		if (floor_cpu) {
			uc_context_restore(uc, ctx);
		} else if (floor) {
			uc_reg_write(uc, UC_X86_REG_RCX, &loops);
		} else if (plain) {
			for (size_t k = 0; k < dirty; k++)
				memcpy(mem + (list[k + 1] - RAM), pristine + k * 4096, page);
			uc_context_restore(uc, ctx);
		} else if ((err = ms_uc_checkpoint_restore(m, cp))) {
			die("restore", err);
		}
		reset_ns += now_ns() - r0;
	}
	double secs = (now_ns() - t0) / 1e9;
	printf("%s,%zu,%zu,%ld,%.0f,%.2f\n", mode, ram >> 20, dirty, iters, iters / secs,
	       reset_ns / 1e3 / iters);
	ms_uc_checkpoint_free(cp);
	ms_uc_free(m);
	if (ctx)
		uc_context_free(ctx);
	uc_close(uc);
	free(list);
	free(pristine);
	return 0;
}
