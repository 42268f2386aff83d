/*
 * memsnap-bench restore: what it costs to make a fully populated view of S
 * bytes equal its snapshot again after an iteration that wrote D pages
 * (8 bytes each, scattered) and only read R others.
 *
 * Strategies (all restore to the same memfd image):
 *   memcpy    memcpy of the whole view from a pristine copy
 *   remap     mmap(MAP_FIXED) of the image over the whole MAP_PRIVATE view
 *   dontneed  madvise(MADV_DONTNEED) of the whole MAP_PRIVATE view
 *   memsnap   ms_view_restore() of a view made with ms_view_new(): the
 *             defaults a user gets (MS_TRACKER_AUTO, hot pages on)
 *   memsnap-T ms_view_restore() with tracker T (each one the kernel offers)
 *   memsnap-T-exact  the same with hot pages off (exact dirty sets)
 *   limit     memcpy of exactly the D written pages, no tracking: the floor
 *
 * Each repetition writes D pages picked at random (--pages random, the
 * default) or the same D pages every time (--pages fixed, what a fuzz loop's
 * stack and globals look like).
 *
 * Strategies take turns within each repetition (round-robin, rotating the
 * start) so that a noisy neighbour hits all of them alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

enum kind { K_MEMCPY, K_REMAP, K_DONTNEED, K_MEMSNAP, K_LIMIT };

typedef struct strategy {
	char name[32];
	enum kind kind;
	ms_tracker tracker;
	bool exact; /* hot pages off */
	uint8_t *data;
	ms_view *view;
	double *restore_ns;
	double *iter_ns;
	size_t n;
	bool ok;
	int err;
} strategy;

typedef struct image {
	size_t size;
	int fd;
	const uint8_t *pristine; /* read-only shared mapping of the image */
	ms_snapshot *snap;
	uint8_t *anon; /* private copy restored by memcpy and limit */
} image;

static long default_reps(const msb_options *o, size_t size)
{
	if (o->reps > 0)
		return o->reps;
	if (o->quick)
		return 5;
	if (size <= (16u << 20))
		return 201;
	if (size <= (256u << 20))
		return 101;
	if (size <= (1u << 30))
		return 41;
	return 15;
}

static uint8_t *map_private_view(const image *im)
{
	void *p =
	    mmap(NULL, im->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, im->fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	msb_touch_pages(p, im->size);
	return p;
}

static int do_restore(strategy *s, const image *im, const size_t *dirty, size_t nd)
{
	size_t ps = ms_page_size();
	switch (s->kind) {
	case K_MEMCPY:
		memcpy(s->data, im->pristine, im->size);
		return 0;
	case K_REMAP: {
		void *p = mmap(s->data, im->size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, im->fd, 0);
		return p == MAP_FAILED ? -errno : 0;
	}
	case K_DONTNEED:
		return madvise(s->data, im->size, MADV_DONTNEED) ? -errno : 0;
	case K_MEMSNAP: {
		int pages = ms_view_restore(s->view);
		return pages < 0 ? pages : 0;
	}
	case K_LIMIT:
		for (size_t i = 0; i < nd; i++)
			memcpy(s->data + dirty[i] * ps, im->pristine + dirty[i] * ps, ps);
		return 0;
	}
	return -EINVAL;
}

static bool pages_equal(const image *im, const uint8_t *data, const size_t *pages, size_t n)
{
	size_t ps = ms_page_size();
	for (size_t i = 0; i < n; i++)
		if (memcmp(data + pages[i] * ps, im->pristine + pages[i] * ps, ps) != 0)
			return false;
	return true;
}

static int setup_image(image *im, size_t size)
{
	*im = (image){.size = size, .fd = -1};
	int err = msb_make_image(size, &im->fd);
	if (err)
		return err;
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, im->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	im->pristine = p;
	msb_touch_pages(p, size);
	err = ms_snapshot_from_fd(im->fd, &im->snap);
	if (err)
		return err;
	im->anon = msb_map_anon(size);
	if (!im->anon)
		return -ENOMEM;
	memcpy(im->anon, im->pristine, size);
	return 0;
}

static void free_image(image *im)
{
	ms_snapshot_unref(im->snap);
	if (im->pristine)
		munmap((void *)im->pristine, im->size);
	if (im->anon)
		munmap(im->anon, im->size);
	if (im->fd >= 0)
		close(im->fd);
}

static void add_strategy(strategy *list, size_t *n, const char *name, enum kind kind, ms_tracker t)
{
	strategy *s = &list[(*n)++];
	*s = (strategy){.kind = kind, .tracker = t};
	snprintf(s->name, sizeof s->name, "%s", name);
}

/* The strategies asked for, in a fixed order. */
static size_t list_strategies(const msb_options *o, strategy *list)
{
	size_t n = 0;
	static const struct {
		const char *name;
		enum kind kind;
	} plain[] = {{"memcpy", K_MEMCPY},
		     {"remap", K_REMAP},
		     {"dontneed", K_DONTNEED},
		     {"memsnap", K_MEMSNAP}};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (msb_wants(o, plain[i].name))
			add_strategy(list, &n, plain[i].name, plain[i].kind, MS_TRACKER_AUTO);
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		char name[32];
		snprintf(name, sizeof name, "memsnap-%s", ms_tracker_name((ms_tracker)t));
		if (!msb_wants(o, name) || t == MS_TRACKER_NOTED)
			continue; /* noted: see msb_tracker_measured */
		int err = ms_tracker_probe((ms_tracker)t);
		if (err) {
			if (o->n_strategies)
				fprintf(stderr, "memsnap-bench: %s unavailable: %s\n", name,
					ms_strerror(err));
			continue;
		}
		add_strategy(list, &n, name, K_MEMSNAP, (ms_tracker)t);
	}
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		char name[32];
		snprintf(name, sizeof name, "memsnap-%s-exact", ms_tracker_name((ms_tracker)t));
		if (t == MS_TRACKER_NONE || !o->n_strategies || !msb_wants(o, name) ||
		    !msb_tracker_measured((ms_tracker)t))
			continue; /* only when asked for by name */
		add_strategy(list, &n, name, K_MEMSNAP, (ms_tracker)t);
		list[n - 1].exact = true;
	}
	if (msb_wants(o, "limit"))
		add_strategy(list, &n, "limit", K_LIMIT, MS_TRACKER_AUTO);
	return n;
}

static int setup_strategy(strategy *s, const image *im)
{
	switch (s->kind) {
	case K_MEMCPY:
	case K_LIMIT:
		s->data = im->anon;
		return 0;
	case K_REMAP:
	case K_DONTNEED:
		s->data = map_private_view(im);
		return s->data ? 0 : -ENOMEM;
	case K_MEMSNAP: {
		int err = s->tracker == MS_TRACKER_AUTO
			      ? ms_view_new(im->snap, MS_VIEW_COW, &s->view)
			      : ms_view_new_tracked(im->snap, MS_VIEW_COW, s->tracker, &s->view);
		if (!err && s->exact)
			err = ms_view_set_hot_pages(s->view, 0);
		if (err)
			return err;
		s->data = ms_view_data(s->view);
		msb_touch_pages(s->data, im->size);
		return 0;
	}
	}
	return -EINVAL;
}

static void teardown_strategy(strategy *s, const image *im)
{
	if (s->kind == K_REMAP || s->kind == K_DONTNEED) {
		if (s->data)
			munmap(s->data, im->size);
	}
	ms_view_free(s->view);
	s->view = NULL;
	s->data = NULL;
}

/* One iteration: the write and read phase, then the restore. */
static void iterate(strategy *s, const image *im, const size_t *dirty, size_t nd,
		    const size_t *reads, size_t nr, uint64_t seed, bool record)
{
	size_t ps = ms_page_size();
	uint64_t rs = seed;
	uint64_t val = msb_rand(&rs) | 1;
	size_t woff = (size_t)(msb_rand(&rs) % (ps / 8)) * 8;
	size_t roff = (size_t)(msb_rand(&rs) % (ps / 8)) * 8;
	uint64_t sink = 0;
	uint64_t t0 = msb_now_ns();
	for (size_t i = 0; i < nd; i++)
		*(volatile uint64_t *)(s->data + dirty[i] * ps + woff) = val + i;
	for (size_t i = 0; i < nr; i++)
		sink += *(volatile uint64_t *)(s->data + reads[i] * ps + roff);
	uint64_t t1 = msb_now_ns();
	int err = do_restore(s, im, dirty, nd);
	uint64_t t2 = msb_now_ns();
	__asm__ volatile("" : : "r"(sink));
	if (err) {
		s->ok = false;
		s->err = err;
		return;
	}
	/* Outside the timed region: the pages this iteration touched must be
	 * the snapshot's again. */
	if (!pages_equal(im, s->data, dirty, nd) || !pages_equal(im, s->data, reads, nr))
		s->ok = false;
	if (record) {
		s->restore_ns[s->n] = (double)(t2 - t1);
		s->iter_ns[s->n] = (double)(t2 - t0);
		s->n++;
	}
}

static bool final_check(const msb_options *o, strategy *s, const image *im, uint64_t seed)
{
	if (o->quick)
		return memcmp(s->data, im->pristine, im->size) == 0;
	size_t npages = im->size / ms_page_size();
	size_t sample[256];
	size_t n = npages < 256 ? npages : 256;
	msb_pick_pages(seed, npages, n, sample);
	return pages_equal(im, s->data, sample, n);
}

static void run_size(msb_options *o, size_t size, strategy *strats, size_t ns)
{
	char sz[16];
	msb_size_str(size, sz, sizeof sz);
	image im;
	int err = setup_image(&im, size);
	if (err) {
		fprintf(stderr, "memsnap-bench: restore %s: image: %s\n", sz, ms_strerror(err));
		free_image(&im);
		return;
	}
	size_t live[MSB_MAX_STRATEGIES];
	size_t nlive = 0;
	for (size_t i = 0; i < ns; i++) {
		err = setup_strategy(&strats[i], &im);
		if (err) {
			fprintf(stderr, "memsnap-bench: restore %s: %s: %s (skipped)\n", sz,
				strats[i].name, ms_strerror(err));
			teardown_strategy(&strats[i], &im);
			continue;
		}
		live[nlive++] = i;
	}
	long reps = default_reps(o, size);
	size_t npages = size / ms_page_size();
	size_t *dirty = malloc(npages * sizeof *dirty);
	size_t *reads = malloc(npages * sizeof *reads);
	for (size_t k = 0; k < nlive; k++) {
		strats[live[k]].restore_ns = malloc((size_t)reps * sizeof(double));
		strats[live[k]].iter_ns = malloc((size_t)reps * sizeof(double));
	}
	for (size_t di = 0; di < o->n_dirty; di++) {
		size_t nd = (size_t)o->dirty[di];
		if (nd > npages)
			continue;
		for (size_t ri = 0; ri < o->n_reads; ri++) {
			size_t nr = (size_t)o->reads[ri];
			if (nr > npages)
				continue;
			for (size_t k = 0; k < nlive; k++) {
				strats[live[k]].n = 0;
				strats[live[k]].ok = true;
				strats[live[k]].err = 0;
			}
			/* rep -1 warms up every strategy once, unrecorded, and
			 * sizes the cell: repetitions shrink (not below a floor)
			 * so that one cell takes about its time budget. */
			long cell_reps = reps;
			uint64_t warm_start = msb_now_ns();
			for (long rep = -1; rep < cell_reps; rep++) {
				if (rep == 0 && o->reps <= 0) {
					double warm = (double)(msb_now_ns() - warm_start);
					double budget = o->quick ? 0.5e9 : 6e9;
					long fit = (long)(budget / (warm > 1 ? warm : 1));
					long floor_reps = o->quick ? 3 : 15;
					if (fit < cell_reps)
						cell_reps = fit > floor_reps ? fit : floor_reps;
				}
				msb_progress(o, "restore %s D=%zu R=%zu rep %ld/%ld", sz, nd, nr,
					     rep + 1, cell_reps);
				uint64_t seed = msb_seed(size, nd, nr, (uint64_t)(rep + 1));
				uint64_t pick = o->fixed_pages ? msb_seed(size, nd, nr, 0) : seed;
				msb_pick_pages(pick, npages, nd, dirty);
				msb_pick_pages(pick ^ 0x5555, npages, nr, reads);
				for (size_t k = 0; k < nlive; k++) {
					size_t start = (size_t)(rep + 1) % nlive;
					strategy *s = &strats[live[(start + k) % nlive]];
					if (s->ok)
						iterate(s, &im, dirty, nd, reads, nr, seed,
							rep >= 0);
				}
			}
			for (size_t k = 0; k < nlive; k++) {
				strategy *s = &strats[live[k]];
				if (s->ok && !final_check(o, s, &im, msb_seed(size, nd, nr, 77)))
					s->ok = false;
				if (s->err)
					fprintf(stderr, "memsnap-bench: restore %s %s: %s\n", sz,
						s->name, ms_strerror(s->err));
				msb_result *r = msb_add("restore");
				snprintf(r->strategy, sizeof r->strategy, "%s", s->name);
				if (s->view)
					snprintf(r->tracker, sizeof r->tracker, "%s",
						 ms_tracker_name(ms_view_tracker(s->view)));
				r->size_bytes = size;
				r->dirty_pages = (long)nd;
				r->read_pages = (long)nr;
				r->verified = s->ok;
				r->reps = (long)s->n;
				r->restore_ns_median = msb_quantile(s->restore_ns, s->n, 0.5);
				r->restore_ns_p99 = msb_quantile(s->restore_ns, s->n, 0.99);
				r->iteration_ns_median = msb_quantile(s->iter_ns, s->n, 0.5);
				r->iteration_ns_p99 = msb_quantile(s->iter_ns, s->n, 0.99);
			}
		}
	}
	msb_progress_done(o);
	for (size_t k = 0; k < nlive; k++) {
		free(strats[live[k]].restore_ns);
		free(strats[live[k]].iter_ns);
	}
	for (size_t i = 0; i < ns; i++)
		teardown_strategy(&strats[i], &im);
	free(dirty);
	free(reads);
	free_image(&im);
}

int msb_restore(msb_options *o)
{
	if (o->n_sizes == 0) {
		if (o->quick) {
			o->sizes[o->n_sizes++] = 16u << 20;
			o->sizes[o->n_sizes++] = 64u << 20;
		} else {
			o->sizes[o->n_sizes++] = 16u << 20;
			o->sizes[o->n_sizes++] = 256u << 20;
			o->sizes[o->n_sizes++] = 1u << 30;
			o->sizes[o->n_sizes++] = (size_t)4 << 30;
		}
	}
	if (o->n_dirty == 0) {
		static const long d[] = {1, 16, 256, 4096};
		for (size_t i = 0; i < (o->quick ? 3u : 4u); i++)
			o->dirty[o->n_dirty++] = d[i];
	}
	if (o->n_reads == 0) {
		o->reads[o->n_reads++] = 0;
		o->reads[o->n_reads++] = 1000;
	}
	strategy strats[MSB_MAX_STRATEGIES];
	size_t ns = list_strategies(o, strats);
	if (ns == 0) {
		fprintf(stderr, "memsnap-bench: restore: no strategy selected\n");
		return 2;
	}
	for (size_t i = 0; i < o->n_sizes; i++) {
		size_t size = o->sizes[i];
		/* The image, the private copy and the views' own pages. */
		uint64_t need = 2 * (uint64_t)size + (512u << 20);
		uint64_t avail = msb_mem_available();
		if (avail && avail < need) {
			char sz[16];
			msb_size_str(size, sz, sizeof sz);
			fprintf(
			    stderr,
			    "memsnap-bench: restore %s skipped: needs ~%llu MiB, %llu available\n",
			    sz, (unsigned long long)(need >> 20),
			    (unsigned long long)(avail >> 20));
			continue;
		}
		run_size(o, size, strats, ns);
	}
	return 0;
}
