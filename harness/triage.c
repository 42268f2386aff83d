/*
 * `memsnap-fuzz triage`: replays a set of crashing inputs (a fuzzer's crash
 * directory) and groups them by bucket, so that a campaign that saved many
 * files for one bug shows one bug.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "triage.h"

typedef struct bucket {
	uint64_t id;
	msf_kind kind;
	size_t count;
	size_t smallest; /* index of the smallest input */
	msf_backtrace bt;
} bucket;

static int by_count(const void *a, const void *b)
{
	const bucket *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int msf_triage(msf_target *t, const msf_triage_input *in, size_t n, FILE *out)
{
	bucket *b = NULL;
	size_t nb = 0, cap = 0, crashes = 0, kinds[MSF_KIND_COUNT_] = {0};
	msf_backtrace *bt = malloc(sizeof *bt);
	if (!bt)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		msf_result r;
		msf_target_run(t, in[i].data, in[i].len, &r);
		kinds[r.kind]++;
		if (!msf_kind_is_crash(r.kind))
			continue;
		crashes++;
		msf_backtrace_get(t, &r, MSF_UNWIND_ALL, bt);
		uint64_t id = msf_bucket(r.kind, bt);
		size_t j = 0;
		while (j < nb && b[j].id != id)
			j++;
		if (j == nb) {
			if (nb == cap) {
				cap = cap ? 2 * cap : 16;
				bucket *nbk = realloc(b, cap * sizeof *b);
				if (!nbk) {
					free(b);
					free(bt);
					return -ENOMEM;
				}
				b = nbk;
			}
			b[nb++] = (bucket){.id = id, .kind = r.kind, .smallest = i, .bt = *bt};
		}
		b[j].count++;
		if (in[i].len < in[b[j].smallest].len)
			b[j].smallest = i;
	}
	if (nb)
		qsort(b, nb, sizeof *b, by_count);

	fprintf(out, "memsnap-fuzz triage: %zu input(s): %zu crash(es) in %zu bucket(s)", n,
		crashes, nb);
	for (int k = 0; k < MSF_KIND_COUNT_; k++)
		if (kinds[k] && !msf_kind_is_crash((msf_kind)k))
			fprintf(out, ", %zu %s", kinds[k], msf_kind_name((msf_kind)k));
	fprintf(out, "\n");
	for (size_t j = 0; j < nb; j++) {
		char desc[600];
		fprintf(out, "\nbucket %016" PRIx64 "  %-20s %zu input(s)\n", b[j].id,
			msf_kind_name(b[j].kind), b[j].count);
		for (int f = 0; f < b[j].bt.n && f < MSF_BUCKET_FRAMES; f++) {
			msf_frame_describe(&b[j].bt.frames[f], desc, sizeof desc);
			fprintf(out, "  %s %s\n", f ? "from" : "at  ", desc);
		}
		fprintf(out, "  smallest: %s (%zu bytes)\n", in[b[j].smallest].path,
			in[b[j].smallest].len);
	}
	/* The reports come last and are produced by running each bucket's
	 * smallest input again, so that they read the guest state the crash
	 * left. */
	for (size_t j = 0; j < nb; j++) {
		const msf_triage_input *x = &in[b[j].smallest];
		msf_result r;
		msf_target_run(t, x->data, x->len, &r);
		fprintf(out, "\n== bucket %016" PRIx64 ": %s (%zu input(s)) ==\n", b[j].id, x->path,
			b[j].count);
		fflush(out);
		msf_report(t, &r, x->data, x->len, NULL, out);
	}
	free(b);
	free(bt);
	return (int)nb;
}
