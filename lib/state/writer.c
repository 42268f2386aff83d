/*
 * Writing a save-state file. Regions are planned first (which pages each
 * stores), which fixes the layout; then the RAM is written chunk by chunk
 * while its checksums are computed, and the header and metadata, which hold
 * those checksums, are written last. The whole file appears under its name
 * only once complete and synced (io.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io.h"
#include "state_internal.h"

typedef struct wregion {
	uint64_t address;
	uint32_t perms;
	ms_snapshot *snap;
	/* Planned at commit. */
	uint32_t kind;
	size_t *pages; /* delta: stored page indices, sorted */
	size_t npages;
	size_t nruns;
	uint64_t data_offset, data_size, chunk_count;
	uint64_t *hashes;
} wregion;

typedef struct wblob {
	char *name;
	uint32_t type;
	void *data;
	size_t len;
} wblob;

struct ms_state_writer {
	char *path;
	bool committed;
	bool has_machine;
	ms_state_machine machine;
	wregion *regions;
	size_t nregions, cap_regions;
	wblob *blobs;
	size_t nblobs, cap_blobs;
	ms_state *base;
};

int ms_state_writer_new(const char *path, ms_state_writer **out)
{
	if (!path || !*path || !out)
		return -EINVAL;
	ms_state_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->path = strdup(path))) {
		free(w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

void ms_state_writer_free(ms_state_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nregions; i++) {
		ms_snapshot_unref(w->regions[i].snap);
		free(w->regions[i].pages);
		free(w->regions[i].hashes);
	}
	for (size_t i = 0; i < w->nblobs; i++) {
		free(w->blobs[i].name);
		free(w->blobs[i].data);
	}
	ms_state_close(w->base);
	free(w->regions);
	free(w->blobs);
	free(w->path);
	free(w);
}

int ms_state_writer_set_machine(ms_state_writer *w, const ms_state_machine *machine)
{
	if (!w || !machine || !memchr(machine->engine, 0, sizeof machine->engine))
		return -EINVAL;
	w->machine = *machine;
	w->has_machine = true;
	return 0;
}

int ms_state_writer_add_blob(ms_state_writer *w, const char *name, uint32_t type, const void *data,
			     size_t len)
{
	if (!w || !name || (!data && len))
		return -EINVAL;
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen > 255)
		return -EINVAL;
	if (len > MS__STATE_MAX_BLOB)
		return -E2BIG;
	for (size_t i = 0; i < w->nblobs; i++)
		if (strcmp(w->blobs[i].name, name) == 0)
			return -EEXIST;
	if (w->nblobs == w->cap_blobs) {
		size_t cap = w->cap_blobs ? 2 * w->cap_blobs : 8;
		wblob *nb = realloc(w->blobs, cap * sizeof *nb);
		if (!nb)
			return -ENOMEM;
		w->blobs = nb;
		w->cap_blobs = cap;
	}
	wblob b = {.name = strdup(name), .type = type, .data = malloc(len ? len : 1), .len = len};
	if (!b.name || !b.data) {
		free(b.name);
		free(b.data);
		return -ENOMEM;
	}
	if (len)
		memcpy(b.data, data, len);
	w->blobs[w->nblobs++] = b;
	return 0;
}

int ms_state_writer_add_region(ms_state_writer *w, uint64_t address, uint32_t perms,
			       ms_snapshot *snap)
{
	if (!w || !snap || snap->size == 0 || address % ms_page_size() ||
	    address > UINT64_MAX - snap->size)
		return -EINVAL;
	/* Keep the list sorted by address; refuse overlaps. */
	size_t at = 0;
	while (at < w->nregions && w->regions[at].address < address)
		at++;
	if (at > 0 && w->regions[at - 1].address + w->regions[at - 1].snap->size > address)
		return -EEXIST;
	if (at < w->nregions && address + snap->size > w->regions[at].address)
		return -EEXIST;
	if (w->nregions == w->cap_regions) {
		size_t cap = w->cap_regions ? 2 * w->cap_regions : 8;
		wregion *nr = realloc(w->regions, cap * sizeof *nr);
		if (!nr)
			return -ENOMEM;
		w->regions = nr;
		w->cap_regions = cap;
	}
	memmove(w->regions + at + 1, w->regions + at, (w->nregions - at) * sizeof *w->regions);
	w->regions[at] =
	    (wregion){.address = address, .perms = perms, .snap = ms_snapshot_ref(snap)};
	w->nregions++;
	return 0;
}

int ms_state_writer_set_base(ms_state_writer *w, ms_state *base)
{
	if (!w || !base || w->base)
		return -EINVAL;
	if (base->info.page_size != ms_page_size())
		return MS_ERR_MISMATCH;
	atomic_fetch_add_explicit(&base->refs, 1, memory_order_relaxed);
	w->base = base;
	return 0;
}

static bool page_differs(ms_snapshot *a, ms_snapshot *b, size_t pg)
{
	const uint8_t *pa = ms__snapshot_page(a, pg), *pb = ms__snapshot_page(b, pg);
	return pa != pb && memcmp(pa, pb, ms_page_size()) != 0;
}

/* The pages of `r` that differ from `bs`, the base's snapshot of the same
 * region. When r's snapshot is stacked on bs, only the pages stored along
 * the chain between them can differ: O(those pages). Otherwise every page
 * is compared: O(size). */
static int plan_delta(wregion *r, ms_snapshot *bs)
{
	size_t cand_n = 0;
	const ms_snapshot *s = r->snap;
	while (s != bs && s->parent) {
		cand_n += s->own_n;
		s = s->parent;
	}
	bool chained = s == bs;
	size_t npages = r->snap->npages;
	size_t cap = chained ? cand_n : npages;
	r->pages = malloc((cap ? cap : 1) * sizeof *r->pages);
	if (!r->pages)
		return -ENOMEM;
	size_t n = 0;
	if (chained) {
		for (s = r->snap; s != bs; s = s->parent) {
			memcpy(r->pages + n, s->own_pages, s->own_n * sizeof *r->pages);
			n += s->own_n;
		}
		ms__pages_sort(r->pages, n);
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if ((k == 0 || r->pages[k - 1] != r->pages[i]) &&
			    page_differs(r->snap, bs, r->pages[i]))
				r->pages[k++] = r->pages[i];
		n = k;
	} else {
		for (size_t pg = 0; pg < npages; pg++)
			if (page_differs(r->snap, bs, pg))
				r->pages[n++] = pg;
	}
	r->npages = n;
	r->nruns = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || r->pages[i] != r->pages[i - 1] + 1)
			r->nruns++;
	r->kind = MS_STATE_REGION_DELTA;
	r->data_size = (uint64_t)n << ms__page_shift();
	return 0;
}

static int plan(ms_state_writer *w)
{
	for (size_t i = 0; i < w->nregions; i++) {
		wregion *r = &w->regions[i];
		free(r->pages);
		r->pages = NULL;
		r->kind = 0;
		r->nruns = 0;
		r->data_size = r->snap->size;
		long j = w->base ? ms__state_find_region(w->base, r->address, r->snap->size) : -1;
		if (j >= 0) {
			ms_snapshot *bs;
			int err = ms_state_region_snapshot(w->base, (size_t)j, &bs);
			if (!err)
				err = plan_delta(r, bs);
			ms_snapshot_unref(bs);
			if (err)
				return err;
		}
		r->chunk_count = (r->data_size + MS__STATE_CHUNK_SIZE - 1) / MS__STATE_CHUNK_SIZE;
		free(r->hashes);
		r->hashes = calloc(r->chunk_count ? r->chunk_count : 1, sizeof *r->hashes);
		if (!r->hashes)
			return -ENOMEM;
	}
	return 0;
}

static uint64_t meta_size(const ms_state_writer *w)
{
	uint64_t n = w->has_machine ? MS__REC_HEAD + MS__MACHINE_PAYLOAD : 0;
	for (size_t i = 0; i < w->nblobs; i++)
		n += MS__REC_HEAD +
		     ms__align8(MS__BLOB_FIXED + ms__align8(strlen(w->blobs[i].name)) +
				w->blobs[i].len);
	for (size_t i = 0; i < w->nregions; i++)
		n += MS__REC_HEAD + MS__REGION_FIXED + 16 * w->regions[i].nruns +
		     8 * w->regions[i].chunk_count;
	return n;
}

static uint8_t *put_rec(uint8_t *p, uint32_t type, uint64_t len)
{
	ms__put32(p, type);
	ms__put32(p + 4, 0);
	ms__put64(p + 8, len);
	return p + MS__REC_HEAD;
}

/* Serialize the metadata into `m` (zeroed, meta_size(w) bytes). */
static void build_meta(const ms_state_writer *w, uint8_t *m)
{
	uint8_t *p = m;
	if (w->has_machine) {
		p = put_rec(p, MS__REC_MACHINE, MS__MACHINE_PAYLOAD);
		ms__put32(p, w->machine.arch);
		ms__put32(p + 4, w->machine.mode);
		ms__put32(p + 8, w->machine.page_size);
		ms__put32(p + 12, w->machine.flags);
		ms__put64(p + 16, w->machine.engine_version);
		memcpy(p + 24, w->machine.engine, sizeof w->machine.engine);
		p += MS__MACHINE_PAYLOAD;
	}
	for (size_t i = 0; i < w->nblobs; i++) {
		const wblob *b = &w->blobs[i];
		size_t nlen = strlen(b->name);
		uint64_t len = MS__BLOB_FIXED + ms__align8(nlen) + b->len;
		p = put_rec(p, MS__REC_BLOB, len);
		ms__put32(p, b->type);
		ms__put32(p + 4, (uint32_t)nlen);
		ms__put64(p + 8, b->len);
		memcpy(p + MS__BLOB_FIXED, b->name, nlen);
		if (b->len)
			memcpy(p + MS__BLOB_FIXED + ms__align8(nlen), b->data, b->len);
		p += ms__align8(len);
	}
	for (size_t i = 0; i < w->nregions; i++) {
		const wregion *r = &w->regions[i];
		p = put_rec(p, MS__REC_REGION,
			    MS__REGION_FIXED + 16 * r->nruns + 8 * r->chunk_count);
		ms__put64(p, r->address);
		ms__put64(p + 8, r->snap->size);
		ms__put32(p + 16, r->perms);
		ms__put32(p + 20, r->kind);
		ms__put64(p + 24, r->data_offset);
		ms__put64(p + 32, r->data_size);
		ms__put64(p + 40, r->nruns);
		ms__put64(p + 48, r->chunk_count);
		p += MS__REGION_FIXED;
		for (size_t k = 0; k < r->npages;) {
			size_t first = r->pages[k], count = 1;
			while (k + count < r->npages && r->pages[k + count] == first + count)
				count++;
			ms__put64(p, first);
			ms__put64(p + 8, count);
			p += 16;
			k += count;
		}
		for (uint64_t c = 0; c < r->chunk_count; c++, p += 8)
			ms__put64(p, r->hashes[c]);
	}
}

static void build_header(const ms_state_writer *w, uint8_t *h, uint64_t msize, uint64_t data_off,
			 uint64_t file_size, const uint8_t *meta)
{
	memset(h, 0, MS__STATE_HEADER_SIZE);
	memcpy(h, MS__STATE_MAGIC, MS__STATE_MAGIC_LEN);
	ms__put32(h + MS__H_VMAJOR, MS_STATE_FORMAT_MAJOR);
	ms__put32(h + MS__H_VMINOR, MS_STATE_FORMAT_MINOR);
	ms__put32(h + MS__H_HSIZE, MS__STATE_HEADER_SIZE);
	ms__put32(h + MS__H_FLAGS, w->base ? MS_STATE_INCREMENTAL : 0);
	ms__put32(h + MS__H_PAGE, (uint32_t)ms_page_size());
	ms__put32(h + MS__H_CHUNK, MS__STATE_CHUNK_SIZE);
	ms__put64(h + MS__H_FILESIZE, file_size);
	ms__put64(h + MS__H_METAOFF, MS__STATE_HEADER_SIZE);
	ms__put64(h + MS__H_METASIZE, msize);
	ms__put64(h + MS__H_DATAOFF, data_off);
	ms__put64(h + MS__H_METAHASH, XXH3_64bits(meta, (size_t)msize));
	if (w->base)
		memcpy(h + MS__H_BASEID, w->base->info.id, 16);
	ms__put32(h + MS__H_NREGIONS, (uint32_t)w->nregions);
	ms__put32(h + MS__H_NBLOBS, (uint32_t)w->nblobs);
	snprintf((char *)h + MS__H_CREATOR, MS__H_CREATOR_LEN, "memsnap %s", ms_version());
	ms__put64(h + MS__H_HASH, XXH3_64bits(h, MS__H_HASH));
}

int ms_state_writer_commit(ms_state_writer *w)
{
	if (!w)
		return -EINVAL;
	if (w->committed)
		return -EALREADY;
	if (w->nregions > UINT32_MAX || w->nblobs > UINT32_MAX)
		return -E2BIG;
	int err = plan(w);
	if (err)
		return err;
	size_t ps = ms_page_size();
	uint64_t msize = meta_size(w);
	if (msize > MS__STATE_MAX_META)
		return -E2BIG;
	uint64_t data_off = (MS__STATE_HEADER_SIZE + msize + ps - 1) & ~(uint64_t)(ps - 1);
	uint64_t end = data_off;
	for (size_t i = 0; i < w->nregions; i++) {
		w->regions[i].data_offset = end;
		end += w->regions[i].data_size;
	}
	uint8_t *buf = calloc(1, (size_t)(MS__STATE_HEADER_SIZE + msize));
	if (!buf)
		return -ENOMEM;
	ms__afile f;
	err = ms__afile_create(&f, w->path);
	if (err) {
		free(buf);
		return err;
	}
	err = ms__afile_truncate(&f, end);
	for (size_t i = 0; i < w->nregions && !err; i++) {
		wregion *r = &w->regions[i];
		size_t n = (size_t)(r->data_size >> ms__page_shift());
		err = ms__write_pages(f.fd, r->data_offset, r->snap, r->pages, 0, n,
				      MS__STATE_CHUNK_SIZE, r->hashes);
	}
	if (!err) {
		build_meta(w, buf + MS__STATE_HEADER_SIZE);
		build_header(w, buf, msize, data_off, end, buf + MS__STATE_HEADER_SIZE);
		err = ms__os_write_at(f.fd, buf, (size_t)(MS__STATE_HEADER_SIZE + msize), 0);
	}
	free(buf);
	if (err) {
		ms__afile_abort(&f);
		return err;
	}
	err = ms__afile_commit(&f);
	if (!err)
		w->committed = true;
	return err;
}
