/*
 * The cost of hot-page check rounds: a uffd-sync view of 64 MiB with hot
 * pages on, a loop that rewrites the same D pages (one byte each) and
 * restores, 200,000 iterations per repetition; prints the best mean time per
 * iteration of 7 repetitions. Means, not medians: a check round is one
 * restore in 16..256, which a median never sees.
 *
 *   cc -O2 -I lib/include hot-check.c -L BUILD/lib -lmemsnap \
 *      -Wl,-rpath,BUILD/lib -o hot-check && ./hot-check 16
 *
 * Built against a library configured with -Dc_args=-DMS_HOT_CHECK_MAX=16
 * (lib/view.c), it measures checking every 16th restore; see run.sh.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "memsnap/memsnap.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	size_t d = argc > 1 ? strtoul(argv[1], NULL, 10) : 16, size = (size_t)64 << 20;
	size_t npages = size / 4096;
	ms_snapshot *snap;
	ms_view *view;
	int err = ms_snapshot_zeroed(size, &snap);
	if (!err)
		err = ms_view_new_tracked(snap, MS_VIEW_COW, MS_TRACKER_UFFD_SYNC, &view);
	if (!err)
		err = ms_view_set_hot_pages(view, 1);
	if (err) {
		fprintf(stderr, "hot-check: %s\n", ms_strerror(err));
		return 1;
	}
	unsigned char *p = ms_view_data(view);
	double best = 1e9;
	for (int rep = 0; rep < 7; rep++) {
		const long n = 200000;
		double t0 = now();
		for (long i = 0; i < n; i++) {
			for (size_t k = 0; k < d; k++)
				p[(k * 7919 % npages) * 4096 + (size_t)(i & 511) * 8] =
				    (unsigned char)(i | 1);
			if ((err = ms_view_restore(view)) != 0) {
				fprintf(stderr, "hot-check: %s\n", ms_strerror(err));
				return 1;
			}
		}
		double t = (now() - t0) / (double)n * 1e9;
		best = t < best ? t : best;
	}
	printf("D=%zu: %.1f ns per iteration (best mean of 7)\n", d, best);
	ms_view_free(view);
	ms_snapshot_unref(snap);
	return 0;
}
