/*
 * memsnap-bench savestate: writing and loading save-state files
 * (memsnap/state.h) of a view of S bytes after D pages were written.
 *
 *   save-full         take_snapshot + a state holding the whole region,
 *                     committed (written, fsynced, renamed): O(size)
 *   save-incremental  the same over a base state the view was loaded from:
 *                     only the written pages are stored, O(dirty)
 *   load-full         open + region snapshot + a view + reading the D pages:
 *                     O(1) + the pages read (the file is mapped, not read)
 *   load-incremental  the same for the incremental state over its base
 *   load-full-verify  load-full with MS_STATE_VERIFY (checks every chunk)
 *   xxh3              the ceiling: XXH3-64 of every 1 MiB chunk of the image
 *                     in memory (already mapped), on one thread
 *   xxh3-threads      the same, split over every online CPU
 *   xxh3-avx2         xxh3 compiled for AVX2 (Debian's libxxhash is built
 *                     for SSE2), where the CPU has AVX2: not a ceiling of
 *                     memsnap's build, what an AVX2 build would give
 *   write             the file system's ceiling for a full save: the image,
 *                     already in memory, written to a new file in $TMPDIR
 *                     with pwrite (1 MiB at a time), fsynced and renamed
 *                     over the previous one, like a commit, without hashing
 *
 * The full save, the verifying load and xxh3-threads also report GB/s and
 * their ratio to the one-thread ceiling of the same repetitions.
 *
 * Saves take turns, then loads take turns, in every repetition; each load
 * checks the D pages it reads against what was written and a sample of
 * other pages against the image, which also verifies the saves. Files go
 * to $TMPDIR (default /tmp): the file system there is part of the result.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include <xxhash.h>

#include "bench.h"
#include "memsnap/state.h"

enum kind {
	K_SAVE_FULL,
	K_SAVE_INC,
	K_LOAD_FULL,
	K_LOAD_INC,
	K_LOAD_VERIFY,
	K_XXH3,
	K_XXH3_MT,
	K_XXH3_AVX2,
	K_WRITE
};

static const struct {
	const char *name;
	enum kind kind;
} all_kinds[] = {
    {"save-full", K_SAVE_FULL},
    {"save-incremental", K_SAVE_INC},
    {"load-full", K_LOAD_FULL},
    {"load-incremental", K_LOAD_INC},
    {"load-full-verify", K_LOAD_VERIFY},
    {"xxh3", K_XXH3},
    {"xxh3-threads", K_XXH3_MT},
#ifdef MSB_HAVE_AVX2_XXH3
    {"xxh3-avx2", K_XXH3_AVX2},
#endif
    {"write", K_WRITE},
};
#define N_KINDS (sizeof all_kinds / sizeof all_kinds[0])

typedef struct strategy {
	const char *name;
	enum kind kind;
	double *ns;
	size_t n;
	bool ok;
	int err;
	uint64_t file_bytes;
} strategy;

typedef struct ctx {
	size_t size;
	char dir[256], base_path[300], full_path[300], inc_path[300], write_path[300];
	const uint8_t *pristine;
	uint64_t image_hash; /* hash_image of pristine */
	ms_state *base;
	ms_view *view; /* CoW view of the base state's region */
	const size_t *dirty;
	size_t nd;
	uint64_t val;
	const size_t *sample;
	size_t nsample;
} ctx;

static long default_reps(const msb_options *o, size_t size)
{
	if (o->reps > 0)
		return o->reps;
	if (o->quick)
		return 3;
	if (size <= (16u << 20))
		return 21;
	if (size <= (256u << 20))
		return 9;
	return 5;
}

static int save(ctx *c, const char *path, bool incremental)
{
	ms_snapshot *snap = NULL;
	ms_state_writer *w = NULL;
	int err = ms_view_take_snapshot(c->view, &snap);
	if (!err)
		err = ms_state_writer_new(path, &w);
	if (!err && incremental)
		err = ms_state_writer_set_base(w, c->base);
	if (!err)
		err = ms_state_writer_add_region(w, 0, 7, snap);
	if (!err)
		err = ms_state_writer_commit(w);
	ms_state_writer_free(w);
	ms_snapshot_unref(snap);
	return err;
}

/* XXH3-64 of chunks [lo, hi) of 1 MiB of `data`, folded into one value. */
typedef struct hash_part {
	const uint8_t *data;
	size_t size, lo, hi;
	uint64_t sum;
	uint64_t (*hash)(const void *data, size_t len);
	pthread_t thread;
	bool started; /* on a thread of its own, to join */
} hash_part;

static void *hash_chunks(void *arg)
{
	hash_part *p = arg;
	const size_t chunk = 1u << 20;
	for (size_t c = p->lo; c < p->hi; c++) {
		size_t len = p->size - c * chunk < chunk ? p->size - c * chunk : chunk;
		p->sum ^= p->hash(p->data + c * chunk, len);
	}
	return NULL;
}

static uint64_t xxh3_lib(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/* Hash the image in memory on `threads` threads (the caller is one). */
static uint64_t hash_image(const uint8_t *data, size_t size, size_t threads,
			   uint64_t (*hash)(const void *, size_t))
{
	size_t chunks = (size + (1u << 20) - 1) >> 20;
	if (threads > chunks)
		threads = chunks ? chunks : 1;
	hash_part p[16];
	if (threads > 16)
		threads = 16;
	for (size_t i = 0; i < threads; i++)
		p[i] = (hash_part){.data = data,
				   .size = size,
				   .lo = chunks * i / threads,
				   .hi = chunks * (i + 1) / threads,
				   .hash = hash};
	for (size_t i = 1; i < threads; i++) {
		p[i].started = pthread_create(&p[i].thread, NULL, hash_chunks, &p[i]) == 0;
		if (!p[i].started)
			hash_chunks(&p[i]);
	}
	hash_chunks(&p[0]);
	uint64_t sum = p[0].sum;
	for (size_t i = 1; i < threads; i++) {
		if (p[i].started)
			pthread_join(p[i].thread, NULL);
		sum ^= p[i].sum;
	}
	return sum;
}

/* Load `path` into a fresh view and read the D pages; then check it
 * (untimed) and free everything. *ns gets the timed part. */
static int load(ctx *c, const char *path, unsigned flags, bool incremental, uint64_t *ns, bool *ok)
{
	size_t ps = ms_page_size();
	ms_state *st = NULL;
	ms_snapshot *snap = NULL;
	ms_view *view = NULL;
	uint64_t sink = 0;
	uint64_t t0 = msb_now_ns();
	int err = ms_state_open(path, flags, &st);
	if (!err && incremental)
		err = ms_state_set_base(st, c->base);
	if (!err)
		err = ms_state_region_snapshot(st, 0, &snap);
	if (!err)
		err = ms_view_new(snap, MS_VIEW_COW, &view);
	if (!err) {
		const uint8_t *d = ms_view_data(view);
		for (size_t i = 0; i < c->nd; i++)
			sink +=
			    *(const volatile uint64_t *)(d + c->dirty[i] * ps + 8 * (i % (ps / 8)));
	}
	*ns = msb_now_ns() - t0;
	__asm__ volatile("" : : "r"(sink));
	if (!err) {
		const uint8_t *d = ms_view_data(view);
		for (size_t i = 0; i < c->nd; i++) {
			uint64_t v;
			memcpy(&v, d + c->dirty[i] * ps + 8 * (i % (ps / 8)), 8);
			if (v != c->val + i)
				*ok = false;
		}
		for (size_t i = 0; i < c->nsample; i++) {
			bool touched = false;
			for (size_t j = 0; j < c->nd && !touched; j++)
				touched = c->dirty[j] == c->sample[i];
			if (!touched &&
			    memcmp(d + c->sample[i] * ps, c->pristine + c->sample[i] * ps, ps) != 0)
				*ok = false;
		}
	}
	ms_view_free(view);
	ms_snapshot_unref(snap);
	ms_state_close(st);
	return err;
}

/* The write ceiling: the image to a new file, fsynced, renamed over. */
static int write_image(ctx *c)
{
	char tmp[320];
	snprintf(tmp, sizeof tmp, "%s.tmp", c->write_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int err = 0;
	for (size_t off = 0; !err && off < c->size;) {
		size_t n = c->size - off < (1u << 20) ? c->size - off : 1u << 20;
		ssize_t got = pwrite(fd, c->pristine + off, n, (off_t)off);
		if (got < 0 && errno != EINTR)
			err = -errno;
		else if (got > 0)
			off += (size_t)got;
	}
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, c->write_path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void step(strategy *s, ctx *c, bool record)
{
	uint64_t t0 = msb_now_ns(), ns = 0;
	int err = 0;
	bool ok = true;
	switch (s->kind) {
	case K_SAVE_FULL:
		err = save(c, c->full_path, false);
		ns = msb_now_ns() - t0;
		break;
	case K_SAVE_INC:
		err = save(c, c->inc_path, true);
		ns = msb_now_ns() - t0;
		break;
	case K_LOAD_FULL:
		err = load(c, c->full_path, 0, false, &ns, &ok);
		break;
	case K_LOAD_INC:
		err = load(c, c->inc_path, 0, true, &ns, &ok);
		break;
	case K_LOAD_VERIFY:
		err = load(c, c->full_path, MS_STATE_VERIFY, false, &ns, &ok);
		break;
	case K_WRITE: {
		err = write_image(c);
		ns = msb_now_ns() - t0;
		struct stat sb;
		ok = !err && stat(c->write_path, &sb) == 0 && (size_t)sb.st_size == c->size;
		break;
	}
	case K_XXH3:
	case K_XXH3_MT:
	case K_XXH3_AVX2: {
		uint64_t (*hash)(const void *, size_t) = xxh3_lib;
#ifdef MSB_HAVE_AVX2_XXH3
		if (s->kind == K_XXH3_AVX2)
			hash = msb_xxh3_avx2;
#endif
		uint64_t sum = hash_image(c->pristine, c->size,
					  s->kind == K_XXH3_MT ? (size_t)get_nprocs() : 1, hash);
		ns = msb_now_ns() - t0;
		ok = sum == c->image_hash;
		break;
	}
	}
	if (err) {
		s->ok = false;
		s->err = err;
		return;
	}
	if (!ok)
		s->ok = false;
	if (s->kind == K_SAVE_FULL || s->kind == K_SAVE_INC) {
		struct stat sb;
		if (stat(s->kind == K_SAVE_FULL ? c->full_path : c->inc_path, &sb) == 0)
			s->file_bytes = (uint64_t)sb.st_size;
	}
	if (record)
		s->ns[s->n++] = (double)ns;
}

static void run_size(msb_options *o, size_t size, strategy *strats, size_t ns)
{
	char sz[16];
	msb_size_str(size, sz, sizeof sz);
	ctx c = {.size = size};
	int fd = -1;
	ms_snapshot *image = NULL, *region = NULL;
	void *pristine = MAP_FAILED;
	const char *tmp = getenv("TMPDIR");
	snprintf(c.dir, sizeof c.dir, "%s/memsnap-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	int err = mkdtemp(c.dir) ? 0 : -errno;
	snprintf(c.base_path, sizeof c.base_path, "%s/base.mss", c.dir);
	snprintf(c.full_path, sizeof c.full_path, "%s/full.mss", c.dir);
	snprintf(c.inc_path, sizeof c.inc_path, "%s/incremental.mss", c.dir);
	snprintf(c.write_path, sizeof c.write_path, "%s/write.img", c.dir);
	if (!err)
		err = msb_make_image(size, &fd);
	if (!err && (pristine = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
		err = -errno;
	if (!err)
		err = ms_snapshot_from_fd(fd, &image);
	if (!err) {
		ms_state_writer *w = NULL;
		err = ms_state_writer_new(c.base_path, &w);
		if (!err)
			err = ms_state_writer_add_region(w, 0, 7, image);
		if (!err)
			err = ms_state_writer_commit(w);
		ms_state_writer_free(w);
	}
	if (!err)
		err = ms_state_open(c.base_path, 0, &c.base);
	if (!err)
		err = ms_state_region_snapshot(c.base, 0, &region);
	if (!err)
		err = ms_view_new(region, MS_VIEW_COW, &c.view);
	if (err) {
		fprintf(stderr, "memsnap-bench: savestate %s: setup: %s\n", sz, ms_strerror(err));
		goto out;
	}
	c.pristine = pristine;
	msb_touch_pages(ms_view_data(c.view), size);
	/* The ceiling reads memory that is mapped already. */
	c.image_hash = hash_image(pristine, size, 1, xxh3_lib);

	long reps = default_reps(o, size);
	size_t npages = size / ms_page_size();
	size_t *dirty = malloc(npages * sizeof *dirty);
	size_t sample[64];
	c.nsample = npages < 64 ? npages : 64;
	c.sample = sample;
	c.dirty = dirty;
	for (size_t k = 0; k < ns; k++)
		strats[k].ns = malloc((size_t)reps * sizeof(double));
	for (size_t di = 0; di < o->n_dirty; di++) {
		c.nd = (size_t)o->dirty[di];
		if (c.nd > npages)
			continue;
		for (size_t k = 0; k < ns; k++) {
			strats[k].n = 0;
			strats[k].ok = true;
			strats[k].err = 0;
		}
		for (long rep = -1; rep < reps; rep++) {
			msb_progress(o, "savestate %s D=%zu rep %ld/%ld", sz, c.nd, rep + 1, reps);
			uint64_t seed = msb_seed(size, c.nd, 3, (uint64_t)(rep + 1));
			uint64_t rs = seed;
			c.val = msb_rand(&rs) | 1;
			msb_pick_pages(seed, npages, c.nd, dirty);
			msb_pick_pages(seed ^ 0x3333, npages, c.nsample, sample);
			uint8_t *d = ms_view_data(c.view);
			size_t ps = ms_page_size();
			for (size_t i = 0; i < c.nd; i++)
				*(volatile uint64_t *)(d + dirty[i] * ps + 8 * (i % (ps / 8))) =
				    c.val + i;
			/* Saves in turn (all see the same written view), then
			 * loads in turn. */
			for (int phase = 0; phase < 2; phase++) {
				size_t list[N_KINDS], n = 0;
				for (size_t k = 0; k < ns; k++)
					if ((strats[k].kind <= K_SAVE_INC) == (phase == 0))
						list[n++] = k;
				for (size_t k = 0; k < n; k++) {
					strategy *s = &strats[list[(k + (size_t)(rep + 1)) % n]];
					if (s->ok)
						step(s, &c, rep >= 0);
				}
			}
			err = ms_view_restore(c.view);
			if (err < 0) {
				fprintf(stderr, "memsnap-bench: savestate: restore: %s\n",
					ms_strerror(err));
				break;
			}
		}
		/* A load checks its save: a save is verified when its load is. */
		bool full_ok = true, inc_ok = true;
		for (size_t k = 0; k < ns; k++) {
			if (strats[k].kind == K_LOAD_FULL || strats[k].kind == K_LOAD_VERIFY)
				full_ok &= strats[k].ok;
			if (strats[k].kind == K_LOAD_INC)
				inc_ok &= strats[k].ok;
		}
		for (size_t k = 0; k < ns; k++) {
			strategy *s = &strats[k];
			if (s->err)
				fprintf(stderr, "memsnap-bench: savestate %s %s: %s\n", sz, s->name,
					ms_strerror(s->err));
			msb_result *r = msb_add("savestate");
			snprintf(r->strategy, sizeof r->strategy, "%s", s->name);
			snprintf(r->tracker, sizeof r->tracker, "%s",
				 ms_tracker_name(ms_view_tracker(c.view)));
			r->size_bytes = size;
			r->dirty_pages = (long)c.nd;
			r->verified = s->ok && (s->kind == K_SAVE_FULL	? full_ok
						: s->kind == K_SAVE_INC ? inc_ok
									: true);
			r->reps = (long)s->n;
			r->file_bytes = s->file_bytes;
			r->restore_ns_median = msb_quantile(s->ns, s->n, 0.5);
			r->restore_ns_p99 = msb_quantile(s->ns, s->n, 0.99);
			/* Throughput over the whole region, and against the
			 * one-thread XXH3 ceiling of the same run. */
			if (s->kind == K_SAVE_FULL || s->kind == K_LOAD_VERIFY ||
			    s->kind >= K_XXH3) {
				r->iters_per_sec = (double)size / r->restore_ns_median; /* GB/s */
				for (size_t k = 0; k < ns; k++)
					if (strats[k].kind == K_XXH3 && strats[k].n)
						r->x_limit =
						    msb_quantile(strats[k].ns, strats[k].n, 0.5) /
						    r->restore_ns_median;
			}
		}
	}
	msb_progress_done(o);
	for (size_t k = 0; k < ns; k++) {
		free(strats[k].ns);
		strats[k].ns = NULL;
	}
	free(dirty);
out:
	ms_view_free(c.view);
	ms_snapshot_unref(region);
	ms_state_close(c.base);
	ms_snapshot_unref(image);
	if (pristine != MAP_FAILED)
		munmap(pristine, size);
	if (fd >= 0)
		close(fd);
	unlink(c.base_path);
	unlink(c.full_path);
	unlink(c.inc_path);
	unlink(c.write_path);
	rmdir(c.dir);
}

int msb_savestate(msb_options *o)
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
		if (!o->quick)
			o->dirty[o->n_dirty++] = 256;
	}
	strategy strats[N_KINDS];
	size_t ns = 0;
	for (size_t i = 0; i < N_KINDS; i++)
#ifdef MSB_HAVE_AVX2_XXH3
		if (all_kinds[i].kind != K_XXH3_AVX2 || __builtin_cpu_supports("avx2"))
#endif
			if (msb_wants(o, all_kinds[i].name))
				strats[ns++] = (strategy){.name = all_kinds[i].name,
							  .kind = all_kinds[i].kind};
	if (ns == 0) {
		fprintf(stderr, "memsnap-bench: savestate: no strategy selected\n");
		return 2;
	}
	for (size_t i = 0; i < o->n_sizes; i++)
		run_size(o, o->sizes[i], strats, ns);
	return 0;
}
