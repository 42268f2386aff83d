/*
 * memsnap-bench: measures memsnap against the other ways of resetting
 * memory. See docs/benchmarks.md.
 *
 *   memsnap-bench restore|fuzz|snapshot|savestate|pss [--quick] [--json] [--csv]
 *       [--sizes 16M,256M,1G] [--dirty 1,16,256,4096] [--reads 0,1000]
 *       [--strategies a,b,...] [--ram 64M,1G] [--insns 1000,10000]
 *       [--views 8] [--rounds 1,10,100] [--reps N] [--cpu N|last|none]
 *       [--pages random|fixed]
 *
 * stdout carries the results only: a human table, CSV (--csv, with the
 * machine as leading '#' comment lines) or one JSON array (--json). The
 * machine description and progress go to stderr. Exit status: 0 when every
 * cell verified, 1 when one did not (or on an error), 2 on bad usage or a
 * benchmark that is not available.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f)
{
	fputs("usage: memsnap-bench restore|fuzz|snapshot|savestate|pss [options]\n"
	      "  --quick              smoke run: small sizes, few repetitions\n"
	      "  --json | --csv       machine-readable output on stdout\n"
	      "  --sizes 16M,256M,1G  view sizes (restore, snapshot, savestate, pss)\n"
	      "  --ram 64M,1G,4G      guest RAM sizes (fuzz)\n"
	      "  --dirty 1,16,256     pages written per iteration\n"
	      "  --reads 0,1000       pages only read per iteration (restore)\n"
	      "  --insns 1000,10000   guest instructions per iteration (fuzz)\n"
	      "  --views 8            copy-on-write views of the snapshot (pss)\n"
	      "  --rounds 1,10,100    measure memory after these rounds (pss);\n"
	      "                       measured rounds per cell, 1-32 (fuzz; default 5)\n"
	      "  --strategies a,b     only these strategies\n"
	      "  --reps N             repetitions per cell\n"
	      "  --pages random|fixed new pages every repetition, or the same ones (restore)\n"
	      "  --cpu N|last|none    CPU to pin to (default: none, as users run)\n",
	      f);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	size_t ps = ms_page_size();
	if (*end || v == 0 || v % ps)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* Split a comma list into at most MSB_MAX_LIST items of `what`. */
static int parse_list(char *arg, const char *what, size_t *sizes, long *nums, const char **strs,
		      size_t *n, size_t max)
{
	*n = 0;
	for (char *save = NULL, *tok = strtok_r(arg, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == max) {
			fprintf(stderr, "memsnap-bench: too many %s\n", what);
			return -1;
		}
		if (sizes) {
			if (parse_size(tok, &sizes[*n]) != 0) {
				fprintf(
				    stderr,
				    "memsnap-bench: bad size '%s' (a page multiple, e.g. 16M)\n",
				    tok);
				return -1;
			}
		} else if (nums) {
			char *end;
			long v = strtol(tok, &end, 10);
			if (*end || v < 0) {
				fprintf(stderr, "memsnap-bench: bad %s '%s'\n", what, tok);
				return -1;
			}
			nums[*n] = v;
		} else {
			strs[*n] = tok;
		}
		(*n)++;
	}
	return *n ? 0 : -1;
}

static void fmt_us(double ns, char *buf, size_t len)
{
	if (isnan(ns))
		snprintf(buf, len, "-");
	else if (ns < 10e3)
		snprintf(buf, len, "%.2f", ns / 1e3);
	else if (ns < 100e3)
		snprintf(buf, len, "%.1f", ns / 1e3);
	else
		snprintf(buf, len, "%.0f", ns / 1e3);
}

static void json_value(FILE *f, const char *key, double v, const char *fmt, bool last)
{
	fprintf(f, "\"%s\": ", key);
	if (isnan(v))
		fputs("null", f);
	else
		fprintf(f, fmt, v);
	fputs(last ? "" : ", ", f);
}

static void json_num(FILE *f, const char *key, double v, bool last)
{
	json_value(f, key, v, "%.1f", last);
}

static void print_json(FILE *f, const msb_result *r, size_t n)
{
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		const msb_result *c = &r[i];
		fprintf(f,
			"  {\"bench\": \"%s\", \"strategy\": \"%s\", \"tracker\": \"%s\", "
			"\"size_bytes\": %llu, \"dirty_pages\": %ld, \"read_pages\": %ld, ",
			c->bench, c->strategy, c->tracker, (unsigned long long)c->size_bytes,
			c->dirty_pages, c->read_pages);
		if (c->insns >= 0)
			fprintf(f, "\"insns\": %ld, ", c->insns);
		fprintf(f, "\"verified\": %s, \"reps\": %ld, ", c->verified ? "true" : "false",
			c->reps);
		/* The timed operation is a restore, a take_snapshot or a save
		 * state operation; its key says which. */
		bool snap = strcmp(c->bench, "snapshot") == 0;
		bool state = strcmp(c->bench, "savestate") == 0;
		if (state)
			fprintf(f, "\"file_bytes\": %llu, ", (unsigned long long)c->file_bytes);
		if (strcmp(c->bench, "pss") == 0)
			fprintf(f,
				"\"views\": %ld, \"rounds\": %ld, \"pss_bytes\": %llu, "
				"\"pss_anon_bytes\": %llu, \"pss_shared_bytes\": %llu, "
				"\"views_pss_bytes\": %llu, \"page_table_bytes\": %llu, ",
				c->views, c->rounds, (unsigned long long)c->pss_bytes,
				(unsigned long long)c->pss_anon_bytes,
				(unsigned long long)c->pss_shared_bytes,
				(unsigned long long)c->views_pss_bytes,
				(unsigned long long)c->page_table_bytes);
		json_num(f,
			 snap	 ? "take_ns_median"
			 : state ? "op_ns_median"
				 : "restore_ns_median",
			 c->restore_ns_median, false);
		json_num(f,
			 snap	 ? "take_ns_p99"
			 : state ? "op_ns_p99"
				 : "restore_ns_p99",
			 c->restore_ns_p99, false);
		json_num(f, "iteration_ns_median", c->iteration_ns_median, false);
		json_num(f, "iteration_ns_p99", c->iteration_ns_p99, false);
		json_num(f, "iters_per_sec", c->iters_per_sec, false);
		json_value(f, "x_limit", c->x_limit, "%.4f", false);
		json_value(f, "x_floor", c->x_floor, "%.4f", true);
		fprintf(f, "}%s\n", i + 1 < n ? "," : "");
	}
	fputs("]\n", f);
}

static void csv_num(FILE *f, double v, const char *sep)
{
	if (isnan(v))
		fprintf(f, "%s", sep);
	else
		fprintf(f, "%.1f%s", v, sep);
}

static void print_csv(FILE *f, const msb_result *r, size_t n)
{
	fputs("bench,strategy,tracker,size_bytes,dirty_pages,read_pages,insns,verified,reps,"
	      "restore_ns_median,restore_ns_p99,iteration_ns_median,iteration_ns_p99,"
	      "iters_per_sec,file_bytes,views,rounds,pss_bytes,pss_anon_bytes,pss_shared_bytes,"
	      "views_pss_bytes,page_table_bytes,x_limit,x_floor\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const msb_result *c = &r[i];
		fprintf(f, "%s,%s,%s,%llu,%ld,%ld,", c->bench, c->strategy, c->tracker,
			(unsigned long long)c->size_bytes, c->dirty_pages, c->read_pages);
		if (c->insns >= 0)
			fprintf(f, "%ld", c->insns);
		fprintf(f, ",%s,%ld,", c->verified ? "true" : "false", c->reps);
		csv_num(f, c->restore_ns_median, ",");
		csv_num(f, c->restore_ns_p99, ",");
		csv_num(f, c->iteration_ns_median, ",");
		csv_num(f, c->iteration_ns_p99, ",");
		csv_num(f, c->iters_per_sec, ",");
		fprintf(f, "%llu,", (unsigned long long)c->file_bytes);
		if (strcmp(c->bench, "pss") == 0)
			fprintf(f, "%ld,%ld,%llu,%llu,%llu,%llu,%llu", c->views, c->rounds,
				(unsigned long long)c->pss_bytes,
				(unsigned long long)c->pss_anon_bytes,
				(unsigned long long)c->pss_shared_bytes,
				(unsigned long long)c->views_pss_bytes,
				(unsigned long long)c->page_table_bytes);
		else
			fputs(",,,,,,", f);
		fprintf(f, ",");
		if (!isnan(c->x_limit))
			fprintf(f, "%.4f", c->x_limit);
		fprintf(f, ",");
		if (!isnan(c->x_floor))
			fprintf(f, "%.4f", c->x_floor);
		fprintf(f, "\n");
	}
}

/* The reference cell for ratios: same bench, size, D, R, insns; strategy
 * `ref`. */
static const msb_result *find_ref(const msb_result *r, size_t n, const msb_result *c,
				  const char *ref)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].bench == c->bench && r[i].size_bytes == c->size_bytes &&
		    r[i].dirty_pages == c->dirty_pages && r[i].read_pages == c->read_pages &&
		    r[i].insns == c->insns && strcmp(r[i].strategy, ref) == 0)
			return &r[i];
	return NULL;
}

static void print_table(FILE *f, const msb_result *r, size_t n)
{
	const char *bench = "";
	for (size_t i = 0; i < n; i++) {
		const msb_result *c = &r[i];
		char sz[16], a[24], b[24], d[24], e[24], ratio[24] = "-";
		msb_size_str(c->size_bytes, sz, sizeof sz);
		bool fuzz = strcmp(c->bench, "fuzz") == 0;
		bool snap = strcmp(c->bench, "snapshot") == 0;
		bool state = strcmp(c->bench, "savestate") == 0;
		bool pss = strcmp(c->bench, "pss") == 0;
		if (strcmp(bench, c->bench) != 0) {
			bench = c->bench;
			if (pss)
				fprintf(f, "\n%-6s %5s %5s %6s %-20s %9s %9s %9s %9s %9s %7s %s\n",
					"size", "D", "views", "rounds", "strategy", "PSS_MiB",
					"anon_MiB", "views_MiB", "PTE_MiB", "rest_med", "x goal",
					"verified");
			else if (fuzz)
				fprintf(f, "\n%-6s %6s %6s %-20s %12s %11s %11s %7s %7s %s\n",
					"ram", "D", "insns", "strategy", "iters/s", "reset_med",
					"iter_med", "x limit", "x floor", "verified");
			else if (snap)
				fprintf(f, "\n%-6s %6s %-22s %11s %11s %8s %s\n", "size", "D",
					"strategy", "take_med", "take_p99", "x full", "verified");
			else if (state)
				fprintf(f, "\n%-6s %6s %-22s %11s %11s %10s %7s %7s %s\n", "size",
					"D", "strategy", "median", "p99", "file_MiB", "GB/s",
					"x xxh3", "verified");
			else
				fprintf(f, "\n%-6s %6s %6s %-22s %11s %11s %11s %11s %8s %s\n",
					"size", "D", "R", "strategy", "restore_med", "restore_p99",
					"iter_med", "iter_p99", "x memcpy", "verified");
			fprintf(f, pss ? "(restore_med in microseconds; goal: PSS < 1.1 x size)\n"
				       : "(times in microseconds)\n");
		}
		fmt_us(c->restore_ns_median, a, sizeof a);
		fmt_us(c->restore_ns_p99, b, sizeof b);
		fmt_us(c->iteration_ns_median, d, sizeof d);
		fmt_us(c->iteration_ns_p99, e, sizeof e);
		const char *ok = c->verified ? "yes" : "NO";
		if (pss) {
			const double mib = 1 << 20;
			fprintf(f,
				"%-6s %5ld %5ld %6ld %-20s %9.1f %9.1f %9.1f %9.1f %9s %7.3f %s\n",
				sz, c->dirty_pages, c->views, c->rounds, c->strategy,
				(double)c->pss_bytes / mib, (double)c->pss_anon_bytes / mib,
				(double)c->views_pss_bytes / mib, (double)c->page_table_bytes / mib,
				a, (double)c->pss_bytes / (1.1 * (double)c->size_bytes), ok);
		} else if (fuzz) {
			char xfloor[24] = "-";
			if (!isnan(c->x_limit))
				snprintf(ratio, sizeof ratio, "%.3f", c->x_limit);
			if (!isnan(c->x_floor))
				snprintf(xfloor, sizeof xfloor, "%.3f", c->x_floor);
			fprintf(f, "%-6s %6ld %6ld %-20s %12.0f %11s %11s %7s %7s %s\n", sz,
				c->dirty_pages, c->insns, c->strategy, c->iters_per_sec, a, d,
				ratio, xfloor, ok);
		} else if (state) {
			char mib[24] = "-";
			if (c->file_bytes)
				snprintf(mib, sizeof mib, "%.2f",
					 (double)c->file_bytes / (1 << 20));
			char gbs[24] = "-";
			if (!isnan(c->iters_per_sec))
				snprintf(gbs, sizeof gbs, "%.2f", c->iters_per_sec);
			if (!isnan(c->x_limit))
				snprintf(ratio, sizeof ratio, "%.2f", c->x_limit);
			fprintf(f, "%-6s %6ld %-22s %11s %11s %10s %7s %7s %s\n", sz,
				c->dirty_pages, c->strategy, a, b, mib, gbs, ratio, ok);
		} else if (snap) {
			const msb_result *ref = find_ref(r, n, c, "full");
			if (ref && c->restore_ns_median > 0)
				snprintf(ratio, sizeof ratio, "%.3g",
					 c->restore_ns_median / ref->restore_ns_median);
			fprintf(f, "%-6s %6ld %-22s %11s %11s %8s %s\n", sz, c->dirty_pages,
				c->strategy, a, b, ratio, ok);
		} else {
			const msb_result *ref = find_ref(r, n, c, "memcpy");
			if (ref && ref->restore_ns_median > 0)
				snprintf(ratio, sizeof ratio, "%.3g",
					 c->restore_ns_median / ref->restore_ns_median);
			fprintf(f, "%-6s %6ld %6ld %-22s %11s %11s %11s %11s %8s %s\n", sz,
				c->dirty_pages, c->read_pages, c->strategy, a, b, d, e, ratio, ok);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *bench = argv[1];
	msb_options o = {.cpu = -2, .progress = isatty(2)};
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int err = 0;
		if (strcmp(a, "--quick") == 0) {
			o.quick = true;
			continue;
		} else if (strcmp(a, "--json") == 0) {
			o.json = true;
			continue;
		} else if (strcmp(a, "--csv") == 0) {
			o.csv = true;
			continue;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (!val) {
			fprintf(stderr, "memsnap-bench: %s needs a value (or is unknown)\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--sizes") == 0 || strcmp(a, "--ram") == 0)
			err =
			    parse_list(val, "sizes", o.sizes, NULL, NULL, &o.n_sizes, MSB_MAX_LIST);
		else if (strcmp(a, "--dirty") == 0)
			err = parse_list(val, "dirty counts", NULL, o.dirty, NULL, &o.n_dirty,
					 MSB_MAX_LIST);
		else if (strcmp(a, "--reads") == 0)
			err = parse_list(val, "read counts", NULL, o.reads, NULL, &o.n_reads,
					 MSB_MAX_LIST);
		else if (strcmp(a, "--insns") == 0)
			err = parse_list(val, "instruction counts", NULL, o.insns, NULL, &o.n_insns,
					 MSB_MAX_LIST);
		else if (strcmp(a, "--strategies") == 0)
			err = parse_list(val, "strategies", NULL, NULL, o.strategies,
					 &o.n_strategies, MSB_MAX_STRATEGIES);
		else if (strcmp(a, "--rounds") == 0)
			err = parse_list(val, "rounds", NULL, o.rounds, NULL, &o.n_rounds,
					 MSB_MAX_LIST);
		else if (strcmp(a, "--views") == 0)
			err = (o.views = strtol(val, NULL, 10)) > 0 && o.views <= 4096 ? 0 : -1;
		else if (strcmp(a, "--reps") == 0)
			err = (o.reps = strtol(val, NULL, 10)) > 0 ? 0 : -1;
		else if (strcmp(a, "--pages") == 0)
			err = strcmp(val, "fixed") == 0	   ? (o.fixed_pages = true, 0)
			      : strcmp(val, "random") == 0 ? (o.fixed_pages = false, 0)
							   : -1;
		else if (strcmp(a, "--cpu") == 0)
			o.cpu = strcmp(val, "none") == 0   ? -2
				: strcmp(val, "last") == 0 ? -1
							   : (int)strtol(val, NULL, 10);
		else {
			fprintf(stderr, "memsnap-bench: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (err) {
			fprintf(stderr, "memsnap-bench: bad value for %s: %s\n", a, val);
			return 2;
		}
	}
	if (o.json && o.csv) {
		fprintf(stderr, "memsnap-bench: --json and --csv exclude each other\n");
		return 2;
	}
	int (*run)(msb_options *) = NULL;
	if (strcmp(bench, "restore") == 0)
		run = msb_restore;
	else if (strcmp(bench, "snapshot") == 0)
		run = msb_snapshot;
	else if (strcmp(bench, "fuzz") == 0)
		run = msb_fuzz;
	else if (strcmp(bench, "savestate") == 0)
		run = msb_savestate;
	else if (strcmp(bench, "pss") == 0)
		run = msb_pss;
	else {
		fprintf(stderr, "memsnap-bench: unknown benchmark '%s'\n", bench);
		usage(stderr);
		return 2;
	}

	int cpu = msb_pin(o.cpu);
	msb_print_machine(stderr, &o, cpu);
	if (o.csv)
		msb_print_machine(stdout, &o, cpu);
	int rc = run(&o);
	size_t n;
	msb_result *r = msb_results(&n);
	if (o.json)
		print_json(stdout, r, n);
	else if (o.csv)
		print_csv(stdout, r, n);
	else
		print_table(stdout, r, n);
	fflush(stdout);
	/* A strategy asked for but never measured is a typo or one this
	 * kernel or build lacks: say so rather than drop it silently. */
	for (size_t k = 0; k < o.n_strategies; k++) {
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(r[i].strategy, o.strategies[k]) == 0;
		if (!seen)
			fprintf(stderr,
				"memsnap-bench: strategy '%s' was not measured (unknown to %s, "
				"or unavailable here)\n",
				o.strategies[k], bench);
	}
	size_t bad = 0;
	for (size_t i = 0; i < n; i++)
		bad += !r[i].verified;
	if (bad)
		fprintf(stderr, "memsnap-bench: %zu cell(s) FAILED verification\n", bad);
	if (rc)
		return rc;
	if (n == 0) {
		fprintf(stderr, "memsnap-bench: nothing was measured\n");
		return 1;
	}
	return bad ? 1 : 0;
}
