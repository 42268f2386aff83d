/*
 * memsnap-fuzz: the command line of the fuzz harness.
 *
 *   memsnap-fuzz replay [TARGET OPTIONS] FILE|DIR...   the reproducer
 *   memsnap-fuzz bench  [TARGET OPTIONS] [--iterations=N] FILE|DIR...
 *   memsnap-fuzz info   [TARGET OPTIONS]
 *   memsnap-fuzz triage [TARGET OPTIONS] FILE|DIR...   crashes grouped by bucket
 *
 * Fuzzing itself is done by libFuzzer (memsnap-fuzz-libfuzzer) or AFL++
 * (memsnap-fuzz-afl), which take the same target options.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture.h"
#include "fuzz.h"
#include "triage.h"

typedef struct input {
	char *path;
	uint8_t *data;
	size_t len;
} input;

typedef struct inputs {
	input *v;
	size_t n, cap;
} inputs;

static int read_input(const char *path, inputs *in)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *d = realloc(data, cap);
			if (!d)
				break;
			data = d;
		}
		size_t n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	if (in->n == in->cap) {
		in->cap = in->cap ? 2 * in->cap : 16;
		in->v = realloc(in->v, in->cap * sizeof *in->v);
		if (!in->v)
			return -ENOMEM;
	}
	in->v[in->n++] = (input){strdup(path), data, len};
	return 0;
}

static int cmp_input(const void *a, const void *b)
{
	return strcmp(((const input *)a)->path, ((const input *)b)->path);
}

/* A file, or every regular file of a directory (not recursive, sorted),
 * except hidden files and the README.txt AFL++ puts in its crashes/. */
static int collect(const char *path, inputs *in)
{
	struct stat st;
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return read_input(path, in);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	size_t first = in->n;
	struct dirent *e;
	while ((e = readdir(d))) {
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		if (e->d_name[0] != '.' && strcmp(e->d_name, "README.txt") && !stat(p, &st) &&
		    S_ISREG(st.st_mode))
			read_input(p, in);
	}
	closedir(d);
	qsort(in->v + first, in->n - first, sizeof *in->v, cmp_input);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: memsnap-fuzz replay [TARGET OPTIONS] FILE|DIR...\n"
		     "       memsnap-fuzz bench  [TARGET OPTIONS] [--iterations=N] FILE|DIR...\n"
		     "       memsnap-fuzz info   [TARGET OPTIONS]\n"
		     "       memsnap-fuzz triage [TARGET OPTIONS] FILE|DIR...\n"
		     "       memsnap-fuzz capture --break=LOC [--out=STATE] [--timeout=S]\n"
		     "                            [--keep-cpu-features] -- PROGRAM ARGS...\n"
		     "\n"
		     "replay  runs each input once from the start state and prints what happened;\n"
		     "        crashes and timeouts get a full report. Exit status 1 if any input\n"
		     "        crashed or timed out, 2 on a usage or setup error.\n"
		     "bench   runs the inputs round-robin N times (default 100000) and prints\n"
		     "        execs/s, restore time and dirty pages per iteration.\n"
		     "info    loads the target and describes it.\n"
		     "triage  replays crashing inputs (e.g. AFL++'s crashes/) and groups them\n"
		     "        by bucket (kind and top frames), with one report per bucket.\n"
		     "        Exit status 1 if any input crashed.\n"
		     "capture runs an x86-64 PROGRAM under ptrace until it reaches LOC (a symbol\n"
		     "        of the program or of a library it loads, or an address) and writes\n"
		     "        its start state to STATE (default capture.state) for `state =`;\n"
		     "        timeout 10 s. --keep-cpu-features: do not hide AVX from glibc\n"
		     "        (docs/capture.md).\n"
		     "\n"
		     "TARGET OPTIONS: --config=FILE, then any key below as --key=value.\n");
	msf_config_usage(out);
}

static int cmd_replay(msf_target *t, inputs *in)
{
	int bad = 0;
	for (size_t i = 0; i < in->n; i++) {
		msf_result r;
		msf_target_run(t, in->v[i].data, in->v[i].len, &r);
		if (r.kind == MSF_KIND_OK) {
			printf("%s: ok, returned %" PRId64 "\n", in->v[i].path,
			       (int64_t)(msf_target_elf(t)->machine == EM_ARM ? (int32_t)r.retval
									      : (int64_t)r.retval));
			continue;
		}
		bad = 1;
		printf("%s: %s\n", in->v[i].path, msf_kind_name(r.kind));
		fflush(stdout);
		msf_report(t, &r, in->v[i].data, in->v[i].len, NULL, stdout);
	}
	return bad;
}

static int cmd_triage(msf_target *t, inputs *in)
{
	msf_triage_input *x = calloc(in->n, sizeof *x);
	if (!x) {
		fprintf(stderr, "memsnap-fuzz triage: out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < in->n; i++)
		x[i] = (msf_triage_input){in->v[i].path, in->v[i].data, in->v[i].len};
	int rc = msf_triage(t, x, in->n, stdout);
	free(x);
	if (rc < 0) {
		fprintf(stderr, "memsnap-fuzz triage: %s\n", strerror(-rc));
		return 2;
	}
	return rc > 0;
}

static int cmd_bench(msf_target *t, inputs *in, uint64_t iterations)
{
	msf_result r;
	uint64_t kinds[MSF_KIND_COUNT_] = {0};
	for (uint64_t i = 0; i < iterations; i++) {
		input *x = &in->v[i % in->n];
		msf_target_run(t, x->data, x->len, &r);
		kinds[r.kind]++;
		msf_after_run(t, &r, x->data, x->len);
	}
	const msf_config *c = msf_target_config(t);
	if (c->progress)
		fprintf(stderr, "\n");
	const msf_stats *s = msf_target_stats(t);
	double secs = (double)(msf_now_ns() - s->start_ns) / 1e9;
	printf("reset: %s, tracking %s, guest RAM %" PRIu64 " KiB, %zu input(s), %" PRIu64
	       " iterations\n",
	       msf_target_reset_name(t), msf_target_tracking_name(t), msf_target_ram_pages(t) * 4,
	       in->n, s->execs);
	msf_stats_line(t, stdout);
	printf("\n");
	printf("csv,reset,tracking,ram_kib,execs,seconds,execs_per_sec,iteration_us,restore_us,"
	       "restore_share_pct,dirty_pages_per_exec\n");
	printf("csv,%s,%s,%" PRIu64 ",%" PRIu64 ",%.3f,%.0f,%.3f,%.3f,%.2f,%.2f\n",
	       msf_target_reset_name(t), msf_target_tracking_name(t), msf_target_ram_pages(t) * 4,
	       s->execs, secs, (double)s->execs / secs, (double)s->iter_ns / (double)s->execs / 1e3,
	       (double)s->restore_ns / (double)s->execs / 1e3,
	       100.0 * (double)s->restore_ns / (double)s->iter_ns,
	       (double)s->dirty_pages / (double)s->execs);
	if (c->stats_file)
		msf_stats_write_file(t, c->stats_file);
	return kinds[MSF_KIND_ERROR] ? 2 : 0;
}

static void cmd_info(msf_target *t, uint64_t setup_ns)
{
	const msf_config *c = msf_target_config(t);
	const msf_elf *e = msf_target_elf(t);
	printf("%s:     %s\narch:      %s\nreset:     %s\ntracking:  %s\n",
	       c->state ? "state" : "elf  ", c->elf, msf_target_arch_name(t),
	       msf_target_reset_name(t), msf_target_tracking_name(t));
	for (size_t i = 0; i < e->n_segs; i++)
		printf("segment:   0x%" PRIx64 " +0x%" PRIx64 " (file 0x%" PRIx64 ") %c%c%c\n",
		       e->segs[i].vaddr, e->segs[i].memsz, e->segs[i].filesz,
		       e->segs[i].perms & 1 ? 'r' : '-', e->segs[i].perms & 2 ? 'w' : '-',
		       e->segs[i].perms & 4 ? 'x' : '-');
	printf("ram:       %" PRIu64 " KiB mapped\ninput_max: %zu\nbudget:    %" PRIu64 "\n",
	       msf_target_ram_pages(t) * 4, msf_target_input_max(t), c->budget);
	static const char *const policies[] = {"crash", "error", "exit", "emulate"};
	printf("syscall:   %s\nheap:      %s\n", policies[c->syscall],
	       c->heap.sanitize ? "sanitize" : "off");
	if (c->n_stubs)
		printf("stubs:     %d\n", c->n_stubs);
	if (c->extension)
		printf("extension: %s\n", c->extension);
	/* The target's setup: for a captured state, its load (lazy). */
	printf("setup:     %.2f ms\n", (double)setup_ns / 1e6);
}

static int cmd_capture(int argc, char **argv)
{
	msf_capture_opts o = {.out = "capture.state", .timeout_s = 10};
	int i = 2;
	for (; i < argc && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];
		char *end = NULL;
		if (!strncmp(a, "--break=", 8) && a[8]) {
			o.brk = a + 8;
		} else if (!strncmp(a, "--out=", 6) && a[6]) {
			o.out = a + 6;
		} else if (!strncmp(a, "--timeout=", 10)) {
			o.timeout_s = strtod(a + 10, &end);
			if (end == a + 10 || *end || !(o.timeout_s > 0)) {
				fprintf(stderr, "memsnap-fuzz capture: bad %s\n", a);
				return 2;
			}
		} else if (!strcmp(a, "--keep-cpu-features")) {
			o.keep_cpu = 1;
		} else {
			fprintf(stderr, "memsnap-fuzz capture: unknown option '%s'\n", a);
			return 2;
		}
	}
	if (!o.brk || i + 1 >= argc) {
		fprintf(stderr, "memsnap-fuzz capture: --break=LOC and -- PROGRAM ARGS... "
				"are required\n");
		return 2;
	}
	o.argv = argv + i + 1;
	char err[MSF_ERR_LEN];
	if (msf_capture(&o, err, sizeof err)) {
		fprintf(stderr, "memsnap-fuzz capture: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	msf_config cfg;
	char err[MSF_ERR_LEN];
	uint64_t iterations = 100000;
	msf_config_init(&cfg);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "capture"))
		return cmd_capture(argc, argv);
	if (strcmp(cmd, "replay") && strcmp(cmd, "bench") && strcmp(cmd, "info") &&
	    strcmp(cmd, "triage")) {
		fprintf(stderr, "memsnap-fuzz: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	/* Our own options first; what is left are target options and inputs. */
	int n = 1;
	for (int i = 2; i < argc; i++) {
		if (!strncmp(argv[i], "--iterations=", 13)) {
			if (msf_parse_u64(argv[i] + 13, &iterations) || !iterations) {
				fprintf(stderr, "memsnap-fuzz: bad %s\n", argv[i]);
				return 2;
			}
		} else {
			argv[n++] = argv[i];
		}
	}
	argc = n;
	if (msf_config_parse_args(&cfg, &argc, argv, err, sizeof err)) {
		fprintf(stderr, "memsnap-fuzz: %s\n", err);
		msf_config_free(&cfg);
		return 2;
	}
	inputs in = {0};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			continue;
		int rc = collect(argv[i], &in);
		if (rc) {
			fprintf(stderr, "memsnap-fuzz: %s: %s\n", argv[i], strerror(-rc));
			msf_config_free(&cfg);
			return 2;
		}
	}
	if (strcmp(cmd, "info") && !in.n) {
		fprintf(stderr, "memsnap-fuzz %s: no input files\n", cmd);
		msf_config_free(&cfg);
		return 2;
	}
	msf_target *t = NULL;
	uint64_t t0 = msf_now_ns();
	if (msf_target_new(&cfg, &t, err, sizeof err)) {
		fprintf(stderr, "memsnap-fuzz: %s\n", err);
		msf_config_free(&cfg);
		return 2;
	}
	int rc = 0;
	if (!strcmp(cmd, "replay"))
		rc = cmd_replay(t, &in);
	else if (!strcmp(cmd, "bench"))
		rc = cmd_bench(t, &in, iterations);
	else if (!strcmp(cmd, "triage"))
		rc = cmd_triage(t, &in);
	else
		cmd_info(t, msf_now_ns() - t0);
	msf_target_free(t);
	for (size_t i = 0; i < in.n; i++) {
		free(in.v[i].path);
		free(in.v[i].data);
	}
	free(in.v);
	msf_config_free(&cfg);
	return rc;
}
