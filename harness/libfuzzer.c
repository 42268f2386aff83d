/*
 * memsnap-fuzz-libfuzzer: the libFuzzer ABI over a memsnap fuzz target.
 * Built with clang -fsanitize=fuzzer; libFuzzer provides main().
 *
 * The guest's coverage (an edge hash per translation block, see
 * msf_target_set_coverage) goes into an 8-bit counter array in the
 * __libfuzzer_extra_counters section, which libFuzzer reads after every
 * input exactly like its own inline counters. The harness code itself is
 * built without coverage instrumentation, so libFuzzer is guided by the
 * guest alone.
 *
 * Target options: --config=FILE and --key=value arguments (libFuzzer ignores
 * arguments that start with "--" and passes them on to -fork/-jobs
 * children), or the file named by MEMSNAP_FUZZ_CONFIG. A crash of a new
 * bucket prints the report, saves crash-<kind>-<bucket> and aborts, so
 * libFuzzer records it too. A crash whose bucket already has its file in
 * crash_dir (found earlier, by this run's other jobs or by an earlier
 * campaign) is not added to the corpus and fuzzing goes on, unless
 * stop_on_known is set.
 *
 * Global state: the libFuzzer callbacks take no user pointer, so the target
 * and the counters are process globals, set once in LLVMFuzzerInitialize.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define COUNTERS_SIZE (1u << 16)

__attribute__((section("__libfuzzer_extra_counters"),
	       used)) static uint8_t guest_counters[COUNTERS_SIZE];

static msf_target *target;
static msf_config config;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void final_stats(void)
{
	if (!target || !msf_target_stats(target)->execs)
		return;
	if (config.stats_file)
		msf_stats_write_file(target, config.stats_file);
	fprintf(stderr, "%s[memsnap] ", config.progress ? "\n" : "");
	msf_stats_line(target, stderr);
	fprintf(stderr, "\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[MSF_ERR_LEN];
	msf_config_init(&config);
	const char *file = getenv("MEMSNAP_FUZZ_CONFIG");
	if (file && *file && msf_config_parse_file(&config, file, err, sizeof err)) {
		fprintf(stderr, "memsnap-fuzz: %s\n", err);
		exit(2);
	}
	/* Parse a copy: the options must stay in argv for -fork/-jobs children. */
	int n = *argc;
	char **copy = calloc((size_t)n + 1, sizeof *copy);
	if (!copy)
		abort();
	memcpy(copy, *argv, (size_t)n * sizeof *copy);
	if (msf_config_parse_args(&config, &n, copy, err, sizeof err) ||
	    msf_target_new(&config, &target, err, sizeof err)) {
		fprintf(stderr, "memsnap-fuzz: %s\n", err);
		exit(2);
	}
	free(copy);
	msf_target_set_coverage(target, guest_counters, COUNTERS_SIZE);

	/* Default -max_len to the guest buffer's size. */
	int has_max_len = 0;
	for (int i = 1; i < *argc; i++)
		has_max_len |= !strncmp((*argv)[i], "-max_len=", 9);
	if (!has_max_len) {
		char **args = calloc((size_t)*argc + 2, sizeof *args);
		char *flag = NULL;
		if (!args || asprintf(&flag, "-max_len=%zu", msf_target_input_max(target)) < 0)
			abort();
		args[0] = (*argv)[0];
		args[1] = flag;
		memcpy(args + 2, *argv + 1, (size_t)(*argc - 1) * sizeof *args);
		*argv = args;
		(*argc)++;
	}
	atexit(final_stats);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msf_result r;
	msf_target_run(target, data, size, &r);
	int known = msf_after_run(target, &r, data, size);
	if (msf_kind_is_crash(r.kind) || r.kind == MSF_KIND_ERROR) {
		/* A bug already in crash_dir does not end the campaign: the
		 * input is left out of the corpus and fuzzing goes on. */
		if (known && !config.stop_on_known)
			return -1;
		final_stats();
		abort();
	}
	return 0;
}
