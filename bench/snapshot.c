/*
 * memsnap-bench snapshot: what it costs to capture a fully populated view
 * of S bytes after D pages were written.
 *
 *   incremental    ms_view_take_snapshot() on a view with the automatic
 *                  tracker: a snapshot stacked on the view's own that stores
 *                  only the written pages
 *   incremental-T  the same with tracker T
 *   full           ms_snapshot_from_buffer() of the whole view
 *   memcpy-dirty   memcpy of the D pages into a buffer: the floor
 *
 * Every snapshot taken is checked (untimed) against the view at the written
 * pages and a sample of others; the view is then restored, untimed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

enum kind { K_INCREMENTAL, K_FULL, K_MEMCPY };

typedef struct strategy {
	char name[32];
	enum kind kind;
	ms_tracker tracker;
	ms_view *view;
	double *take_ns;
	size_t n;
	bool ok;
	int err;
} strategy;

static long default_reps(const msb_options *o, size_t size)
{
	if (o->reps > 0)
		return o->reps;
	if (o->quick)
		return 3;
	if (size <= (16u << 20))
		return 51;
	if (size <= (256u << 20))
		return 21;
	if (size <= (1u << 30))
		return 9;
	return 5;
}

static size_t list_strategies(const msb_options *o, strategy *list)
{
	size_t n = 0;
	if (msb_wants(o, "incremental"))
		list[n++] = (strategy){.name = "incremental", .kind = K_INCREMENTAL};
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		strategy s = {.kind = K_INCREMENTAL, .tracker = (ms_tracker)t};
		snprintf(s.name, sizeof s.name, "incremental-%s", ms_tracker_name((ms_tracker)t));
		if (msb_wants(o, s.name) && msb_tracker_measured((ms_tracker)t))
			list[n++] = s;
	}
	if (msb_wants(o, "full"))
		list[n++] = (strategy){.name = "full", .kind = K_FULL};
	if (msb_wants(o, "memcpy-dirty"))
		list[n++] = (strategy){.name = "memcpy-dirty", .kind = K_MEMCPY};
	return n;
}

/* The snapshot must hold what the view holds at `pages`. */
static bool snapshot_matches(ms_snapshot *snap, const uint8_t *data, const size_t *pages, size_t n,
			     uint8_t *tmp)
{
	size_t ps = ms_page_size();
	for (size_t i = 0; i < n; i++) {
		if (ms_snapshot_read(snap, pages[i] * ps, tmp, ps) != 0 ||
		    memcmp(tmp, data + pages[i] * ps, ps) != 0)
			return false;
	}
	return true;
}

static void iterate(strategy *s, size_t size, const size_t *dirty, size_t nd, const size_t *sample,
		    size_t nsample, uint8_t *buf, uint64_t seed, bool record)
{
	size_t ps = ms_page_size();
	uint8_t *data = ms_view_data(s->view);
	uint64_t rs = seed;
	uint64_t val = msb_rand(&rs) | 1;
	for (size_t i = 0; i < nd; i++)
		*(volatile uint64_t *)(data + dirty[i] * ps + 8 * (i % (ps / 8))) = val + i;
	ms_snapshot *snap = NULL;
	int err = 0;
	uint64_t t0 = msb_now_ns();
	switch (s->kind) {
	case K_INCREMENTAL:
		err = ms_view_take_snapshot(s->view, &snap);
		break;
	case K_FULL:
		err = ms_snapshot_from_buffer(data, size, &snap);
		break;
	case K_MEMCPY:
		for (size_t i = 0; i < nd; i++)
			memcpy(buf + i * ps, data + dirty[i] * ps, ps);
		break;
	}
	uint64_t t1 = msb_now_ns();
	if (err) {
		s->ok = false;
		s->err = err;
		return;
	}
	if (snap) {
		uint8_t *tmp = buf; /* nd >= 1 pages; only one is needed */
		if (!snapshot_matches(snap, data, dirty, nd, tmp) ||
		    !snapshot_matches(snap, data, sample, nsample, tmp))
			s->ok = false;
		ms_snapshot_unref(snap);
	} else {
		for (size_t i = 0; i < nd; i++)
			if (memcmp(buf + i * ps, data + dirty[i] * ps, ps) != 0)
				s->ok = false;
	}
	err = ms_view_restore(s->view);
	if (err < 0) {
		s->ok = false;
		s->err = err;
	}
	if (record)
		s->take_ns[s->n++] = (double)(t1 - t0);
}

static void run_size(msb_options *o, size_t size, strategy *strats, size_t ns)
{
	char sz[16];
	msb_size_str(size, sz, sizeof sz);
	int fd = -1;
	ms_snapshot *image = NULL;
	int err = msb_make_image(size, &fd);
	if (!err)
		err = ms_snapshot_from_fd(fd, &image);
	if (err) {
		fprintf(stderr, "memsnap-bench: snapshot %s: image: %s\n", sz, ms_strerror(err));
		if (fd >= 0)
			close(fd);
		return;
	}
	size_t live[MSB_MAX_STRATEGIES], nlive = 0;
	for (size_t i = 0; i < ns; i++) {
		strategy *s = &strats[i];
		err = s->tracker ? ms_view_new_tracked(image, MS_VIEW_COW, s->tracker, &s->view)
				 : ms_view_new(image, MS_VIEW_COW, &s->view);
		if (err) {
			fprintf(stderr, "memsnap-bench: snapshot %s: %s: %s (skipped)\n", sz,
				s->name, ms_strerror(err));
			continue;
		}
		msb_touch_pages(ms_view_data(s->view), size);
		live[nlive++] = i;
	}
	long reps = default_reps(o, size);
	size_t npages = size / ms_page_size();
	size_t *dirty = malloc(npages * sizeof *dirty);
	size_t sample[64];
	size_t nsample = npages < 64 ? npages : 64;
	long maxd = 1;
	for (size_t i = 0; i < o->n_dirty; i++)
		maxd = o->dirty[i] > maxd ? o->dirty[i] : maxd;
	uint8_t *buf = msb_map_anon((size_t)maxd * ms_page_size());
	for (size_t k = 0; k < nlive; k++)
		strats[live[k]].take_ns = malloc((size_t)reps * sizeof(double));
	for (size_t di = 0; buf && di < o->n_dirty; di++) {
		size_t nd = (size_t)o->dirty[di];
		if (nd > npages || nd == 0)
			continue;
		for (size_t k = 0; k < nlive; k++) {
			strats[live[k]].n = 0;
			strats[live[k]].ok = true;
			strats[live[k]].err = 0;
		}
		for (long rep = -1; rep < reps; rep++) {
			msb_progress(o, "snapshot %s D=%zu rep %ld/%ld", sz, nd, rep + 1, reps);
			uint64_t seed = msb_seed(size, nd, 1, (uint64_t)(rep + 1));
			msb_pick_pages(seed, npages, nd, dirty);
			msb_pick_pages(seed ^ 0xAAAA, npages, nsample, sample);
			for (size_t k = 0; k < nlive; k++) {
				strategy *s = &strats[live[(k + (size_t)(rep + 1)) % nlive]];
				if (s->ok)
					iterate(s, size, dirty, nd, sample, nsample, buf, seed,
						rep >= 0);
			}
		}
		for (size_t k = 0; k < nlive; k++) {
			strategy *s = &strats[live[k]];
			if (s->err)
				fprintf(stderr, "memsnap-bench: snapshot %s %s: %s\n", sz, s->name,
					ms_strerror(s->err));
			msb_result *r = msb_add("snapshot");
			snprintf(r->strategy, sizeof r->strategy, "%s", s->name);
			snprintf(r->tracker, sizeof r->tracker, "%s",
				 ms_tracker_name(ms_view_tracker(s->view)));
			r->size_bytes = size;
			r->dirty_pages = (long)nd;
			r->verified = s->ok;
			r->reps = (long)s->n;
			r->restore_ns_median = msb_quantile(s->take_ns, s->n, 0.5);
			r->restore_ns_p99 = msb_quantile(s->take_ns, s->n, 0.99);
		}
	}
	msb_progress_done(o);
	for (size_t k = 0; k < nlive; k++) {
		free(strats[live[k]].take_ns);
		strats[live[k]].take_ns = NULL;
	}
	for (size_t i = 0; i < ns; i++) {
		ms_view_free(strats[i].view);
		strats[i].view = NULL;
	}
	if (buf)
		munmap(buf, (size_t)maxd * ms_page_size());
	free(dirty);
	ms_snapshot_unref(image);
	close(fd);
}

int msb_snapshot(msb_options *o)
{
	if (o->n_sizes == 0) {
		o->sizes[o->n_sizes++] = 16u << 20;
		if (!o->quick) {
			o->sizes[o->n_sizes++] = 256u << 20;
			o->sizes[o->n_sizes++] = 1u << 30;
		}
	}
	if (o->n_dirty == 0) {
		o->dirty[o->n_dirty++] = 16;
		o->dirty[o->n_dirty++] = 256;
	}
	strategy strats[MSB_MAX_STRATEGIES];
	size_t ns = list_strategies(o, strats);
	if (ns == 0) {
		fprintf(stderr, "memsnap-bench: snapshot: no strategy selected\n");
		return 2;
	}
	for (size_t i = 0; i < o->n_sizes; i++) {
		uint64_t need = 2 * (uint64_t)o->sizes[i] + (512u << 20);
		uint64_t avail = msb_mem_available();
		if (avail && avail < need) {
			fprintf(stderr,
				"memsnap-bench: snapshot of %zu bytes skipped: not enough memory\n",
				o->sizes[i]);
			continue;
		}
		run_size(o, o->sizes[i], strats, ns);
	}
	return 0;
}
