/*
 * memsnap-fuzz-afl: an AFL++ persistent-mode, shared-memory target over a
 * memsnap fuzz target. Built with afl-clang-fast (or afl-cc), which provides
 * the __AFL_* macros and the fork server.
 *
 * The start state is built once, before __AFL_INIT() starts the fork
 * server, so every forked child begins with the guest loaded and
 * checkpointed; __AFL_LOOP then runs many inputs per child, each reset by a
 * memsnap restore. Inputs arrive in shared memory (__AFL_FUZZ_TESTCASE_BUF).
 * The guest's edge coverage is written into AFL's own map (__afl_area_ptr).
 *
 *   afl-fuzz -i seeds -o out -- memsnap-fuzz-afl --config=target.conf
 *
 * A crash prints the report (to stderr, which afl-fuzz discards) and
 * aborts; AFL++ keeps the input in out/<fuzzer>/crashes/. Set crash_dir to
 * also save crash-<kind>-<hash> files. Replay with `memsnap-fuzz replay`.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

__AFL_FUZZ_INIT();

int main(int argc, char **argv)
{
	msf_config cfg;
	char err[MSF_ERR_LEN];
	msf_target *t = NULL;
	msf_config_init(&cfg);
	const char *file = getenv("MEMSNAP_FUZZ_CONFIG");
	if ((file && *file && msf_config_parse_file(&cfg, file, err, sizeof err)) ||
	    msf_config_parse_args(&cfg, &argc, argv, err, sizeof err) ||
	    msf_target_new(&cfg, &t, err, sizeof err)) {
		fprintf(stderr, "memsnap-fuzz-afl: %s\n", err);
		return 2;
	}

	msf_afl_reserve_map(65536);
	__AFL_INIT();

	/* The map is attached now (see afl_map.c). */
	size_t size = 0;
	uint8_t *map = msf_afl_map(&size);
	msf_target_set_coverage(t, map, map ? size : 0);

	unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
	while (__AFL_LOOP(100000)) {
		size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
		msf_result r;
		msf_target_run(t, buf, len, &r);
		if (msf_kind_is_crash(r.kind) || r.kind == MSF_KIND_ERROR) {
			if (cfg.crash_dir)
				msf_after_run(t, &r, buf, len);
			else if (!cfg.quiet)
				msf_report(t, &r, buf, len, NULL, stderr);
			abort();
		}
		if (cfg.stats_file || cfg.progress)
			msf_after_run(t, &r, buf, len);
	}
	msf_target_free(t);
	msf_config_free(&cfg);
	return 0;
}
