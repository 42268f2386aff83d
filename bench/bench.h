/*
 * memsnap-bench: shared declarations of the benchmark program.
 *
 * Each benchmark (restore, fuzz, snapshot, savestate, pss) fills an array of msb_result
 * cells; main.c prints them as a human table, CSV or one JSON array.
 */
#ifndef MEMSNAP_BENCH_H
#define MEMSNAP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memsnap/memsnap.h"

#define MSB_MAX_LIST 16
#define MSB_MAX_STRATEGIES 24

/* The command line, parsed. Lists hold what was asked or the defaults of
 * the benchmark (filled in by the benchmark when count is 0). */
typedef struct msb_options {
	bool quick;
	bool json;
	bool csv;
	size_t sizes[MSB_MAX_LIST];
	size_t n_sizes;
	long dirty[MSB_MAX_LIST];
	size_t n_dirty;
	long reads[MSB_MAX_LIST];
	size_t n_reads;
	long insns[MSB_MAX_LIST];
	size_t n_insns;
	long rounds[MSB_MAX_LIST]; /* pss: rounds after which memory is measured;
				    * fuzz: measured rounds per cell (first value) */
	size_t n_rounds;
	long views; /* pss: views of the snapshot; 0: the default */
	const char *strategies[MSB_MAX_STRATEGIES];
	size_t n_strategies;
	long reps;	  /* 0: the benchmark's default */
	bool fixed_pages; /* restore: the same pages every repetition */
	int cpu;	  /* CPU to pin to; -1: the last one allowed; -2: none */
	bool progress;	  /* stderr is a terminal */
} msb_options;

/* One measured cell. Fields that do not apply are NaN (printed as null /
 * empty). Times are in nanoseconds. */
typedef struct msb_result {
	const char *bench;
	char strategy[32];
	char tracker[16]; /* memsnap's tracker for memsnap strategies, else "" */
	uint64_t size_bytes;
	long dirty_pages;
	long read_pages;
	long insns; /* guest instructions per iteration (fuzz), else -1 */
	bool verified;
	long reps; /* samples behind the medians */
	double restore_ns_median;
	double restore_ns_p99;
	double iteration_ns_median;
	double iteration_ns_p99;
	double iters_per_sec;
	/* fuzz: median over rounds of this strategy's iterations/s divided by
	 * the limit's (the floor's) in the same round; NAN when not run. */
	double x_limit, x_floor;
	uint64_t file_bytes; /* savestate: size of the file written, else 0 */
	/* pss: views, rounds (iterations of restore + writes), memory. */
	long views;
	long rounds;
	uint64_t pss_bytes;	   /* the process's PSS (smaps_rollup) */
	uint64_t pss_anon_bytes;   /* its anonymous part: private page copies */
	uint64_t pss_shared_bytes; /* its file + shmem part: the snapshot */
	uint64_t views_pss_bytes;  /* PSS of the views' own mappings (smaps) */
	uint64_t page_table_bytes; /* VmPTE: page tables, not part of PSS */
} msb_result;

/* ---- xxh3_avx2.c (x86-64) ---- */
uint64_t msb_xxh3_avx2(const void *data, size_t len);

/* ---- util.c ---- */
uint64_t msb_now_ns(void);
/* Sort `v` (n values) and return its q-quantile (0..1), nearest rank. */
double msb_quantile(double *v, size_t n, double q);
/* xorshift64* pseudo-random numbers; never returns the same stream for
 * different seeds. */
uint64_t msb_rand(uint64_t *state);
uint64_t msb_seed(uint64_t a, uint64_t b, uint64_t c, uint64_t d);
/* Fill `out` with n distinct page indices below npages (n <= npages). */
void msb_pick_pages(uint64_t seed, size_t npages, size_t n, size_t *out);
/* Bytes of memory available (MemAvailable), 0 if unknown. */
uint64_t msb_mem_available(void);
/* Pin the calling thread; returns the CPU or -1. */
int msb_pin(int cpu);
/* "16M", "1G", ... */
void msb_size_str(uint64_t bytes, char *buf, size_t len);
/* Append a cell; aborts the program when out of memory. */
msb_result *msb_add(const char *bench);
msb_result *msb_results(size_t *n);
void msb_progress(const msb_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void msb_progress_done(const msb_options *o);
/* Whether strategy `name` was asked (or no --strategies was given). */
bool msb_wants(const msb_options *o, const char *name);
/* Whether tracker t is measured: this process can use it, and it sees the
 * benchmarks' writes (they store through the view's pointer without
 * announcing it, which the noted tracker would miss). */
bool msb_tracker_measured(ms_tracker t);
/* Map `size` bytes of fresh anonymous read/write memory, or NULL. */
void *msb_map_anon(size_t size);
/* A memfd of `size` bytes whose every page holds a non-zero pattern that
 * depends on its index (so a wrong page never compares equal). -errno. */
int msb_make_image(size_t size, int *fd_out);
/* Read one byte of every page (populates a mapping). */
void msb_touch_pages(const void *p, size_t size);
/* The machine header lines ("# key: value"), written to `f`. */
void msb_print_machine(void *file, const msb_options *o, int pinned_cpu);

/* ---- the benchmarks ---- */
int msb_restore(msb_options *o);
int msb_snapshot(msb_options *o);
int msb_fuzz(msb_options *o);
int msb_savestate(msb_options *o);
int msb_pss(msb_options *o);
/* The Unicorn version string for the header ("" without Unicorn). */
const char *msb_unicorn_version(void);

#endif
