/*
 * memsnap-bench pss: what copy-on-write views of one snapshot cost in
 * memory. A fully populated snapshot of S bytes (a memfd every page of which
 * holds data); V copy-on-write views of it, each read completely (every page
 * mapped) and then D pages of each written. Reported: the process's
 * proportional set size (PSS, /proc/self/smaps_rollup, which counts a page
 * shared by k mappings 1/k per mapping, so the snapshot once), its
 * anonymous part (the views' private page copies), the PSS of the views'
 * own mappings (/proc/self/smaps), and the page tables (VmPTE, which PSS
 * leaves out). The goal is PSS < 1.1 x S.
 *
 * With --rounds R the views go through R iterations: restore, read every
 * page again, write D new pages (a different random set each time). A
 * restore that copies the snapshot back into a private page keeps that
 * page private, so the PSS after many rounds shows whether memory follows
 * the pages dirty now or every page ever written.
 *
 *   memsnap     views with the automatic tracker
 *   memsnap-T   views with tracker T (each one the kernel offers)
 *
 * Verification: after each measured round, the written pages of every view
 * hold what was written and a sample of other pages equals the snapshot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

typedef struct strategy {
	char name[32];
	ms_tracker tracker; /* MS_TRACKER_AUTO for "memsnap" */
} strategy;

typedef struct mem_figures {
	uint64_t pss, pss_anon, pss_shared, views_pss, page_tables;
} mem_figures;

/* "Key:   123 kB" -> bytes, if line starts with key. */
static bool kb_field(const char *line, const char *key, uint64_t *out)
{
	size_t n = strlen(key);
	if (strncmp(line, key, n) != 0 || line[n] != ':')
		return false;
	*out = strtoull(line + n + 1, NULL, 10) * 1024;
	return true;
}

/* Process totals from smaps_rollup and status; the views' own PSS from
 * smaps (every mapping inside one of the views' ranges: the mprotect
 * tracker splits a view into many). */
static int measure(ms_view *const *views, size_t nviews, mem_figures *m)
{
	*m = (mem_figures){0};
	char line[512];
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (!f)
		return -errno;
	uint64_t v, file = 0, shmem = 0;
	while (fgets(line, sizeof line, f)) {
		if (kb_field(line, "Pss", &v))
			m->pss = v;
		else if (kb_field(line, "Pss_Anon", &v))
			m->pss_anon = v;
		else if (kb_field(line, "Pss_File", &v))
			file = v;
		else if (kb_field(line, "Pss_Shmem", &v))
			shmem = v;
	}
	fclose(f);
	m->pss_shared = file + shmem;
	f = fopen("/proc/self/status", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f))
		kb_field(line, "VmPTE", &m->page_tables);
	fclose(f);
	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -errno;
	bool inside = false;
	while (fgets(line, sizeof line, f)) {
		uintptr_t lo, hi;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = false;
			for (size_t i = 0; i < nviews && !inside; i++) {
				uintptr_t b = (uintptr_t)ms_view_data(views[i]);
				inside = lo >= b && hi <= b + ms_view_size(views[i]);
			}
		} else if (inside && kb_field(line, "Pss", &v)) {
			m->views_pss += v;
		}
	}
	fclose(f);
	return 0;
}

static uint64_t page_value(uint64_t seed, size_t view, size_t i)
{
	return (seed ^ ((uint64_t)view << 32) ^ i) | 1;
}

/* Write 8 bytes into each of the D pages of view `k` for this round. */
static void write_pages(uint8_t *data, const size_t *pages, size_t nd, uint64_t seed, size_t k)
{
	size_t ps = ms_page_size();
	for (size_t i = 0; i < nd; i++)
		*(volatile uint64_t *)(data + pages[i] * ps + 8 * (i % (ps / 8))) =
		    page_value(seed, k, i);
}

static bool in_list(const size_t *list, size_t n, size_t pg)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == pg)
			return true;
	return false;
}

/* The written pages hold what was written (and the snapshot elsewhere);
 * `sample` pages that were not written equal the snapshot. */
static bool view_ok(ms_view *view, ms_snapshot *snap, const size_t *pages, size_t nd,
		    const size_t *sample, size_t nsample, uint64_t seed, size_t k, uint8_t *tmp)
{
	size_t ps = ms_page_size();
	const uint8_t *data = ms_view_data(view);
	for (size_t i = 0; i < nd; i++) {
		if (ms_snapshot_read(snap, pages[i] * ps, tmp, ps) != 0)
			return false;
		*(uint64_t *)(tmp + 8 * (i % (ps / 8))) = page_value(seed, k, i);
		if (memcmp(tmp, data + pages[i] * ps, ps) != 0)
			return false;
	}
	for (size_t i = 0; i < nsample; i++) {
		if (in_list(pages, nd, sample[i]))
			continue;
		if (ms_snapshot_read(snap, sample[i] * ps, tmp, ps) != 0 ||
		    memcmp(tmp, data + sample[i] * ps, ps) != 0)
			return false;
	}
	return true;
}

static bool round_measured(const msb_options *o, long round)
{
	for (size_t i = 0; i < o->n_rounds; i++)
		if (o->rounds[i] == round)
			return true;
	return false;
}

static void run_strategy(msb_options *o, const strategy *s, size_t size, ms_snapshot *snap,
			 size_t nd)
{
	char sz[16];
	msb_size_str(size, sz, sizeof sz);
	size_t nviews = (size_t)o->views;
	size_t ps = ms_page_size();
	size_t npages = size / ps;
	long max_round = 0;
	for (size_t i = 0; i < o->n_rounds; i++)
		max_round = o->rounds[i] > max_round ? o->rounds[i] : max_round;
	ms_view **views = calloc(nviews, sizeof *views);
	size_t *pages = malloc(nviews * nd * sizeof *pages);
	double *restore_ns = malloc(nviews * (size_t)max_round * sizeof(double));
	uint8_t *tmp = malloc(ps);
	size_t nrestores = 0;
	int err = views && pages && restore_ns && tmp ? 0 : -ENOMEM;
	ms_tracker got = MS_TRACKER_NONE;
	for (size_t k = 0; !err && k < nviews; k++) {
		err = s->tracker == MS_TRACKER_AUTO
			  ? ms_view_new(snap, MS_VIEW_COW, &views[k])
			  : ms_view_new_tracked(snap, MS_VIEW_COW, s->tracker, &views[k]);
		if (!err) {
			got = ms_view_tracker(views[k]);
			msb_touch_pages(ms_view_data(views[k]), size);
		}
	}
	for (long round = 1; !err && round <= max_round; round++) {
		msb_progress(o, "pss %s D=%zu %s round %ld/%ld", sz, nd, s->name, round, max_round);
		uint64_t seed = msb_seed(size, nd, (uint64_t)nviews, (uint64_t)round);
		for (size_t k = 0; !err && k < nviews; k++) {
			uint8_t *data = ms_view_data(views[k]);
			if (round > 1) {
				uint64_t t0 = msb_now_ns();
				int pages = ms_view_restore(views[k]);
				err = pages < 0 ? pages : 0;
				restore_ns[nrestores++] = (double)(msb_now_ns() - t0);
				msb_touch_pages(data, size);
			}
			msb_pick_pages(seed ^ (k * 0x9E3779B97F4A7C15ULL), npages, nd,
				       pages + k * nd);
			write_pages(data, pages + k * nd, nd, seed, k);
		}
		if (err || !round_measured(o, round))
			continue;
		mem_figures m;
		err = measure(views, nviews, &m);
		if (err)
			break;
		bool ok = true;
		size_t sample[64];
		size_t nsample = npages < 64 ? npages : 64;
		if (o->quick) /* check every page of small views */
			nsample = 0;
		msb_pick_pages(seed ^ 0x5555, npages, nsample, sample);
		for (size_t k = 0; ok && k < nviews; k++) {
			ok = view_ok(views[k], snap, pages + k * nd, nd, sample, nsample, seed, k,
				     tmp);
			for (size_t pg = 0; ok && o->quick && pg < npages; pg += 64) {
				size_t chunk = npages - pg < 64 ? npages - pg : 64;
				size_t all[64];
				for (size_t j = 0; j < chunk; j++)
					all[j] = pg + j;
				ok = view_ok(views[k], snap, pages + k * nd, nd, all, chunk, seed,
					     k, tmp);
			}
		}
		msb_result *r = msb_add("pss");
		snprintf(r->strategy, sizeof r->strategy, "%.31s", s->name);
		snprintf(r->tracker, sizeof r->tracker, "%s", ms_tracker_name(got));
		r->size_bytes = size;
		r->dirty_pages = (long)nd;
		r->views = (long)nviews;
		r->rounds = round;
		r->verified = ok;
		r->reps = (long)nrestores;
		r->pss_bytes = m.pss;
		r->pss_anon_bytes = m.pss_anon;
		r->pss_shared_bytes = m.pss_shared;
		r->views_pss_bytes = m.views_pss;
		r->page_table_bytes = m.page_tables;
		if (nrestores) {
			double *copy = malloc(nrestores * sizeof *copy);
			if (copy) {
				memcpy(copy, restore_ns, nrestores * sizeof *copy);
				r->restore_ns_median = msb_quantile(copy, nrestores, 0.5);
				r->restore_ns_p99 = msb_quantile(copy, nrestores, 0.99);
				free(copy);
			}
		}
	}
	msb_progress_done(o);
	if (err) {
		fprintf(stderr, "memsnap-bench: pss %s %s: %s\n", sz, s->name, ms_strerror(err));
		msb_result *r = msb_add("pss");
		snprintf(r->strategy, sizeof r->strategy, "%.31s", s->name);
		r->size_bytes = size;
		r->dirty_pages = (long)nd;
		r->views = (long)nviews;
		r->verified = false;
	}
	for (size_t k = 0; views && k < nviews; k++)
		ms_view_free(views[k]);
	free(views);
	free(pages);
	free(restore_ns);
	free(tmp);
}

int msb_pss(msb_options *o)
{
	if (o->n_sizes == 0)
		o->sizes[o->n_sizes++] = o->quick ? 16u << 20 : 1u << 30;
	if (o->n_dirty == 0)
		o->dirty[o->n_dirty++] = 100;
	if (o->views <= 0)
		o->views = o->quick ? 2 : 8;
	if (o->n_rounds == 0) {
		o->rounds[o->n_rounds++] = 1;
		o->rounds[o->n_rounds++] = o->quick ? 3 : 10;
		if (!o->quick)
			o->rounds[o->n_rounds++] = 100;
	}
	strategy strats[MSB_MAX_STRATEGIES];
	size_t ns = 0;
	if (msb_wants(o, "memsnap"))
		strats[ns++] = (strategy){.name = "memsnap", .tracker = MS_TRACKER_AUTO};
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		strategy s = {.tracker = (ms_tracker)t};
		snprintf(s.name, sizeof s.name, "memsnap-%s", ms_tracker_name((ms_tracker)t));
		if (msb_wants(o, s.name) && msb_tracker_measured((ms_tracker)t))
			strats[ns++] = s;
	}
	if (ns == 0) {
		fprintf(stderr, "memsnap-bench: pss: no strategy selected\n");
		return 2;
	}
	for (size_t i = 0; i < o->n_sizes; i++) {
		size_t size = o->sizes[i];
		char sz[16];
		msb_size_str(size, sz, sizeof sz);
		uint64_t need = (uint64_t)size + (512u << 20);
		uint64_t avail = msb_mem_available();
		if (avail && avail < need) {
			fprintf(stderr, "memsnap-bench: pss %s skipped: not enough memory\n", sz);
			continue;
		}
		int fd = -1;
		ms_snapshot *snap = NULL;
		int err = msb_make_image(size, &fd);
		if (!err)
			err = ms_snapshot_from_fd(fd, &snap);
		if (err) {
			fprintf(stderr, "memsnap-bench: pss %s: image: %s\n", sz, ms_strerror(err));
			if (fd >= 0)
				close(fd);
			continue;
		}
		for (size_t di = 0; di < o->n_dirty; di++) {
			size_t nd = (size_t)o->dirty[di];
			if (nd == 0 || nd > size / ms_page_size())
				continue;
			for (size_t k = 0; k < ns; k++)
				run_strategy(o, &strats[k], size, snap, nd);
		}
		ms_snapshot_unref(snap);
		close(fd);
	}
	return 0;
}
