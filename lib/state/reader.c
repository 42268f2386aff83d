/*
 * Opening a save-state file: every size and offset is checked before it is
 * used, so a truncated, corrupted or hostile file yields an error, never an
 * out-of-bounds access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "state_internal.h"

static void state_destroy(ms_state *st)
{
	for (size_t i = 0; i < st->nregions; i++)
		ms_snapshot_unref(st->regions[i].snap);
	for (size_t i = 0; i < st->nblobs; i++)
		free(st->blobs[i].name);
	ms__os_close(st->fd);
	free(st->regions);
	free(st->blobs);
	free(st->meta);
	free(st);
}

void ms_state_close(ms_state *st)
{
	while (st && atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) {
		ms_state *base = st->base;
		state_destroy(st);
		st = base;
	}
}

static int parse_machine(ms_state *st, const uint8_t *p, uint64_t len)
{
	if (st->has_machine || len != MS__MACHINE_PAYLOAD)
		return MS_ERR_CORRUPT;
	ms_state_machine *m = &st->machine;
	m->arch = ms__get32(p);
	m->mode = ms__get32(p + 4);
	m->page_size = ms__get32(p + 8);
	m->flags = ms__get32(p + 12);
	m->engine_version = ms__get64(p + 16);
	memcpy(m->engine, p + 24, sizeof m->engine);
	if (!memchr(m->engine, 0, sizeof m->engine))
		return MS_ERR_CORRUPT;
	st->has_machine = true;
	return 0;
}

static int parse_blob(ms_state *st, const uint8_t *p, uint64_t len, size_t cap)
{
	if (len < MS__BLOB_FIXED || st->nblobs >= cap)
		return MS_ERR_CORRUPT;
	uint32_t type = ms__get32(p);
	uint32_t name_len = ms__get32(p + 4);
	uint64_t data_len = ms__get64(p + 8);
	if (name_len == 0 || name_len > 255 || data_len > MS__STATE_MAX_BLOB ||
	    len != MS__BLOB_FIXED + ms__align8(name_len) + data_len)
		return MS_ERR_CORRUPT;
	const uint8_t *name = p + MS__BLOB_FIXED;
	if (memchr(name, 0, name_len))
		return MS_ERR_CORRUPT;
	ms__state_blob *b = &st->blobs[st->nblobs];
	/* The name holds no NUL (checked above): copied with one added. */
	char *copy = malloc(name_len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, name, name_len);
	copy[name_len] = 0;
	b->name = copy;
	b->type = type;
	b->data = name + ms__align8(name_len);
	b->len = data_len;
	st->nblobs++;
	return 0;
}

static int parse_region(ms_state *st, const uint8_t *p, uint64_t len, size_t cap)
{
	if (len < MS__REGION_FIXED || st->nregions >= cap)
		return MS_ERR_CORRUPT;
	uint64_t ps = st->info.page_size;
	ms__state_region r = {0};
	r.address = ms__get64(p);
	r.size = ms__get64(p + 8);
	r.perms = ms__get32(p + 16);
	r.kind = ms__get32(p + 20);
	r.data_offset = ms__get64(p + 24);
	r.data_size = ms__get64(p + 32);
	r.run_count = ms__get64(p + 40);
	r.chunk_count = ms__get64(p + 48);
	uint64_t rest = len - MS__REGION_FIXED;
	if (r.size == 0 || r.size > MS__STATE_MAX_REGION_SIZE || r.size % ps ||
	    r.address > UINT64_MAX - r.size || r.address % ps || ms__get64(p + 56) != 0)
		return MS_ERR_CORRUPT;
	if (r.run_count > rest / 16 || r.chunk_count > rest / 8 ||
	    rest != r.run_count * 16 + r.chunk_count * 8)
		return MS_ERR_CORRUPT;
	if (r.data_offset % ps || r.data_offset < st->info.data_offset ||
	    r.data_offset > st->info.file_size ||
	    r.data_size > st->info.file_size - r.data_offset || r.data_size % ps)
		return MS_ERR_CORRUPT;
	uint64_t chunk = st->info.chunk_size;
	if (r.chunk_count != r.data_size / chunk + (r.data_size % chunk != 0))
		return MS_ERR_CORRUPT;
	r.runs = p + MS__REGION_FIXED;
	r.hashes = r.runs + r.run_count * 16;
	if (r.kind == 0) {
		if (r.run_count != 0 || r.data_size != r.size)
			return MS_ERR_CORRUPT;
	} else if (r.kind == MS_STATE_REGION_DELTA) {
		if (!(st->info.flags & MS_STATE_INCREMENTAL))
			return MS_ERR_CORRUPT;
		uint64_t npages = r.size / ps, next = 0, stored = 0;
		for (uint64_t i = 0; i < r.run_count; i++) {
			uint64_t first = ms__get64(r.runs + i * 16);
			uint64_t count = ms__get64(r.runs + i * 16 + 8);
			if (count == 0 || first < next || first > npages || count > npages - first)
				return MS_ERR_CORRUPT;
			next = first + count;
			stored += count;
		}
		if (stored * ps != r.data_size)
			return MS_ERR_CORRUPT;
	} else {
		return MS_ERR_CORRUPT;
	}
	/* Regions are stored sorted by address and never overlap. */
	if (st->nregions > 0) {
		const ms__state_region *prev = &st->regions[st->nregions - 1];
		if (r.address < prev->address + prev->size)
			return MS_ERR_CORRUPT;
	}
	st->regions[st->nregions++] = r;
	return 0;
}

static int parse_meta(ms_state *st)
{
	const uint8_t *p = st->meta;
	uint64_t left = st->info.meta_size;
	size_t ncap = st->info.region_count, bcap = st->info.blob_count;
	/* The header's counts bound the arrays; each record needs at least
	 * its head, so counts beyond what the metadata can hold are absurd. */
	if (ncap > left / (MS__REC_HEAD + MS__REGION_FIXED) ||
	    bcap > left / (MS__REC_HEAD + MS__BLOB_FIXED + 8))
		return MS_ERR_CORRUPT;
	st->regions = calloc(ncap ? ncap : 1, sizeof *st->regions);
	st->blobs = calloc(bcap ? bcap : 1, sizeof *st->blobs);
	if (!st->regions || !st->blobs)
		return -ENOMEM;
	while (left > 0) {
		if (left < MS__REC_HEAD)
			return MS_ERR_CORRUPT;
		uint32_t type = ms__get32(p);
		uint64_t len = ms__get64(p + 8);
		if (ms__get32(p + 4) != 0 || len > left - MS__REC_HEAD ||
		    ms__align8(len) > left - MS__REC_HEAD)
			return MS_ERR_CORRUPT;
		const uint8_t *payload = p + MS__REC_HEAD;
		int err = 0;
		if (type == MS__REC_MACHINE)
			err = parse_machine(st, payload, len);
		else if (type == MS__REC_BLOB)
			err = parse_blob(st, payload, len, bcap);
		else if (type == MS__REC_REGION)
			err = parse_region(st, payload, len, ncap);
		/* Other types come from later minor versions: skipped. */
		if (err)
			return err;
		p += MS__REC_HEAD + ms__align8(len);
		left -= MS__REC_HEAD + ms__align8(len);
	}
	if (st->nregions != ncap || st->nblobs != bcap)
		return MS_ERR_CORRUPT;
	return 0;
}

static int parse_header(ms_state *st, uint64_t file_size)
{
	const uint8_t *h = st->header;
	ms_state_info *in = &st->info;
	if (memcmp(h, MS__STATE_MAGIC, MS__STATE_MAGIC_LEN) != 0)
		return MS_ERR_FORMAT;
	if (file_size < MS__STATE_HEADER_SIZE)
		return MS_ERR_CORRUPT;
	in->version_major = ms__get32(h + MS__H_VMAJOR);
	in->version_minor = ms__get32(h + MS__H_VMINOR);
	if (in->version_major != MS_STATE_FORMAT_MAJOR)
		return MS_ERR_FORMAT;
	in->header_hash = ms__get64(h + MS__H_HASH);
	if (XXH3_64bits(h, MS__H_HASH) != in->header_hash)
		return MS_ERR_CORRUPT;
	in->flags = ms__get32(h + MS__H_FLAGS);
	in->page_size = ms__get32(h + MS__H_PAGE);
	in->chunk_size = ms__get32(h + MS__H_CHUNK);
	in->file_size = ms__get64(h + MS__H_FILESIZE);
	in->meta_offset = ms__get64(h + MS__H_METAOFF);
	in->meta_size = ms__get64(h + MS__H_METASIZE);
	in->data_offset = ms__get64(h + MS__H_DATAOFF);
	in->meta_hash = ms__get64(h + MS__H_METAHASH);
	memcpy(in->base_id, h + MS__H_BASEID, 16);
	in->region_count = ms__get32(h + MS__H_NREGIONS);
	in->blob_count = ms__get32(h + MS__H_NBLOBS);
	memcpy(in->creator, h + MS__H_CREATOR, MS__H_CREATOR_LEN);
	in->creator[MS__H_CREATOR_LEN] = 0;
	uint32_t ps = in->page_size;
	if (ps < 512 || (ps & (ps - 1)) || ps > (1u << 24))
		return MS_ERR_CORRUPT;
	if (ps != ms_page_size())
		return MS_ERR_MISMATCH; /* data is aligned for another page size */
	if (ms__get32(h + MS__H_HSIZE) != MS__STATE_HEADER_SIZE ||
	    (in->flags & ~MS_STATE_INCREMENTAL) || in->chunk_size < ps ||
	    (in->chunk_size & (in->chunk_size - 1)) || in->chunk_size > (1u << 30))
		return MS_ERR_CORRUPT;
	if (in->file_size != file_size)
		return MS_ERR_CORRUPT; /* truncated, or something appended */
	if (in->meta_offset != MS__STATE_HEADER_SIZE || in->meta_size > MS__STATE_MAX_META ||
	    in->meta_size % 8 || in->data_offset % ps ||
	    in->data_offset < in->meta_offset + in->meta_size || in->data_offset > file_size)
		return MS_ERR_CORRUPT;
	return 0;
}

int ms_state_open_fd(ms_os_fd fd, unsigned flags, ms_state **out)
{
	if (!out || (flags & ~(unsigned)(MS_STATE_VERIFY | MS_STATE_VERIFY_REGIONS)))
		return -EINVAL;
	ms__os_file_info info;
	int err = ms__os_file_stat(fd, &info);
	if (err)
		return err;
	if (info.directory)
		return -EISDIR;
	if (!info.regular)
		return -EINVAL;
	ms_state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	atomic_init(&st->refs, 1);
	st->flags = flags;
	err = ms__os_dup(fd, &st->fd);
	if (err) {
		free(st);
		return err;
	}
	uint64_t size = info.size;
	size_t hlen = size < MS__STATE_HEADER_SIZE ? (size_t)size : MS__STATE_HEADER_SIZE;
	err = ms__os_read_at(st->fd, st->header, hlen, 0);
	if (!err && hlen < MS__STATE_MAGIC_LEN)
		err = MS_ERR_FORMAT;
	if (!err)
		err = parse_header(st, size);
	if (!err) {
		st->meta = malloc(st->info.meta_size ? st->info.meta_size : 1);
		err = st->meta ? 0 : -ENOMEM;
	}
	if (!err)
		err = ms__os_read_at(st->fd, st->meta, st->info.meta_size, st->info.meta_offset);
	if (err == -EIO)
		err = MS_ERR_CORRUPT; /* shorter than it claims */
	if (!err && XXH3_64bits(st->meta, st->info.meta_size) != st->info.meta_hash)
		err = MS_ERR_CORRUPT;
	if (!err)
		err = parse_meta(st);
	if (!err) {
		XXH3_state_t *h = XXH3_createState();
		if (!h) {
			err = -ENOMEM;
		} else {
			XXH3_128bits_reset(h);
			XXH3_128bits_update(h, st->header, MS__STATE_HEADER_SIZE);
			XXH3_128bits_update(h, st->meta, st->info.meta_size);
			XXH128_canonical_t c;
			XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
			memcpy(st->info.id, c.digest, 16);
			XXH3_freeState(h);
		}
	}
	st->info.has_machine = st->has_machine;
	if (!err && (flags & MS_STATE_VERIFY))
		err = ms_state_verify(st, NULL);
	if (err) {
		state_destroy(st);
		return err;
	}
	*out = st;
	return 0;
}

int ms_state_open(const char *path, unsigned flags, ms_state **out)
{
	if (!path || !out)
		return -EINVAL;
	ms_os_fd fd;
	int err = ms__os_open(path, MS__OS_OPEN_READ, &fd);
	if (err)
		return err;
	err = ms_state_open_fd(fd, flags, out);
	ms__os_close(fd);
	return err;
}

int ms_state_get_info(const ms_state *st, ms_state_info *info)
{
	if (!st || !info)
		return -EINVAL;
	*info = st->info;
	return 0;
}

int ms_state_get_machine(const ms_state *st, ms_state_machine *machine)
{
	if (!st || !machine)
		return -EINVAL;
	if (!st->has_machine)
		return -ENOENT;
	*machine = st->machine;
	return 0;
}

size_t ms_state_blob_count(const ms_state *st)
{
	return st ? st->nblobs : 0;
}

int ms_state_blob(const ms_state *st, size_t i, const char **name, uint32_t *type,
		  const void **data, size_t *len)
{
	if (!st || i >= st->nblobs)
		return -EINVAL;
	const ms__state_blob *b = &st->blobs[i];
	if (name)
		*name = b->name;
	if (type)
		*type = b->type;
	if (data)
		*data = b->data;
	if (len)
		*len = (size_t)b->len;
	return 0;
}

int ms_state_find_blob(const ms_state *st, const char *name, uint32_t *type, const void **data,
		       size_t *len)
{
	if (!st || !name)
		return -EINVAL;
	for (size_t i = 0; i < st->nblobs; i++)
		if (strcmp(st->blobs[i].name, name) == 0)
			return ms_state_blob(st, i, NULL, type, data, len);
	return -ENOENT;
}

size_t ms_state_region_count(const ms_state *st)
{
	return st ? st->nregions : 0;
}

int ms_state_region_info(const ms_state *st, size_t i, ms_state_region *info)
{
	if (!st || !info || i >= st->nregions)
		return -EINVAL;
	const ms__state_region *r = &st->regions[i];
	*info = (ms_state_region){
	    .address = r->address,
	    .size = r->size,
	    .perms = r->perms,
	    .kind = r->kind,
	    .data_offset = r->data_offset,
	    .stored_bytes = r->data_size,
	    .chunk_count = r->chunk_count,
	    .run_count = r->run_count,
	};
	return 0;
}

int ms_state_region_chunk_hash(const ms_state *st, size_t i, uint64_t c, uint64_t *hash)
{
	if (!st || !hash || i >= st->nregions || c >= st->regions[i].chunk_count)
		return -EINVAL;
	*hash = ms__get64(st->regions[i].hashes + c * 8);
	return 0;
}

int ms_state_region_run(const ms_state *st, size_t i, uint64_t r, uint64_t *first, uint64_t *count)
{
	if (!st || i >= st->nregions || r >= st->regions[i].run_count)
		return -EINVAL;
	if (first)
		*first = ms__get64(st->regions[i].runs + r * 16);
	if (count)
		*count = ms__get64(st->regions[i].runs + r * 16 + 8);
	return 0;
}

long ms__state_find_region(const ms_state *st, uint64_t address, uint64_t size)
{
	size_t lo = 0, hi = st->nregions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (st->regions[mid].address < address)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->nregions && st->regions[lo].address == address && st->regions[lo].size == size)
		return (long)lo;
	return -1;
}

void ms_state_id_hex(const uint8_t id[16], char buf[33])
{
	static const char hex[] = "0123456789abcdef";
	if (!buf)
		return;
	if (!id) {
		buf[0] = 0;
		return;
	}
	for (int i = 0; i < 16; i++) {
		buf[2 * i] = hex[id[i] >> 4];
		buf[2 * i + 1] = hex[id[i] & 15];
	}
	buf[32] = 0;
}
