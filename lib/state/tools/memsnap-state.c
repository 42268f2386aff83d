/*
 * memsnap-state: show what a save-state file holds, readelf-style.
 *
 *   memsnap-state [-h] [-r] [-b] [-c] [--verify] [-a] [--base FILE] FILE...
 *
 * Exit status: 0 if every file opened (and verified, when asked), 1 if one
 * did not, 2 on bad usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memsnap/state.h"

enum { SHOW_HEADER = 1, SHOW_REGIONS = 2, SHOW_CHECKSUMS = 4, SHOW_BLOBS = 8, VERIFY = 16 };

static void usage(FILE *f)
{
	fprintf(f, "Usage: memsnap-state [options] FILE...\n"
		   "Show the content of memsnap save-state files.\n"
		   "  -h, --file-header   the header (format, sizes, ids, machine)\n"
		   "  -r, --regions       the memory regions\n"
		   "  -b, --blobs         the named blobs (CPU context, ...)\n"
		   "  -c, --checksums     the XXH3 checksum of every RAM chunk\n"
		   "      --verify        check every RAM chunk against its checksum\n"
		   "  -a, --all           -h -r -b -c --verify\n"
		   "      --base FILE     the base of an incremental state (checked)\n"
		   "      --help          this text\n");
}

static void perms_str(uint32_t p, char out[4])
{
	out[0] = p & 1 ? 'r' : '-';
	out[1] = p & 2 ? 'w' : '-';
	out[2] = p & 4 ? 'x' : '-';
	out[3] = 0;
}

static void show_header(ms_state *st)
{
	ms_state_info in;
	ms_state_get_info(st, &in);
	char id[33], base[33];
	ms_state_id_hex(in.id, id);
	ms_state_id_hex(in.base_id, base);
	printf("State header:\n");
	printf("  Format version:       %" PRIu32 ".%" PRIu32 "\n", in.version_major,
	       in.version_minor);
	printf("  Creator:              %s\n", in.creator);
	printf("  Type:                 %s\n",
	       in.flags & MS_STATE_INCREMENTAL ? "incremental" : "full");
	printf("  Id (XXH3-128):        %s\n", id);
	if (in.flags & MS_STATE_INCREMENTAL)
		printf("  Base id:              %s\n", base);
	printf("  Page size:            %" PRIu32 "\n", in.page_size);
	printf("  Chunk size:           %" PRIu32 "\n", in.chunk_size);
	printf("  File size:            %" PRIu64 "\n", in.file_size);
	printf("  Metadata:             offset %" PRIu64 ", %" PRIu64 " bytes, XXH3 %016" PRIx64
	       "\n",
	       in.meta_offset, in.meta_size, in.meta_hash);
	printf("  Header checksum:      %016" PRIx64 "\n", in.header_hash);
	printf("  RAM data offset:      %" PRIu64 "\n", in.data_offset);
	printf("  Regions:              %zu\n", in.region_count);
	printf("  Blobs:                %zu\n", in.blob_count);
	ms_state_machine m;
	if (ms_state_get_machine(st, &m) == 0)
		printf("  Machine:              arch %" PRIu32 ", mode %#" PRIx32
		       ", guest page %" PRIu32 ", engine \"%s\" (version %#" PRIx64 ")\n",
		       m.arch, m.mode, m.page_size, m.engine, m.engine_version);
}

static void show_regions(ms_state *st)
{
	size_t n = ms_state_region_count(st);
	printf("\nMemory regions (%zu):\n", n);
	printf("  %-3s %-18s %-18s %-4s %-6s %-12s %-14s %s\n", "Nr", "Address", "End", "Perm",
	       "Kind", "File offset", "Stored bytes", "Chunks");
	for (size_t i = 0; i < n; i++) {
		ms_state_region r;
		ms_state_region_info(st, i, &r);
		char p[4];
		perms_str(r.perms, p);
		printf("  %-3zu 0x%016" PRIx64 " 0x%016" PRIx64 " %-4s %-6s %-12" PRIu64
		       " %-14" PRIu64 " %" PRIu64 "\n",
		       i, r.address, r.address + r.size, p,
		       r.kind == MS_STATE_REGION_DELTA ? "delta" : "full", r.data_offset,
		       r.stored_bytes, r.chunk_count);
		for (uint64_t k = 0; k < r.run_count; k++) {
			uint64_t first, count;
			ms_state_region_run(st, i, k, &first, &count);
			printf("      pages %" PRIu64 "..%" PRIu64 "\n", first, first + count - 1);
		}
	}
}

static void show_blobs(ms_state *st)
{
	size_t n = ms_state_blob_count(st);
	printf("\nBlobs (%zu):\n", n);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		uint32_t type;
		const void *data;
		size_t len;
		ms_state_blob(st, i, &name, &type, &data, &len);
		printf("  %-3zu %-24s type %-6" PRIu32 " %zu bytes\n", i, name, type, len);
	}
}

static void show_checksums(ms_state *st)
{
	ms_state_info in;
	ms_state_get_info(st, &in);
	printf("\nRAM checksums (XXH3-64 per %" PRIu32 "-byte chunk):\n", in.chunk_size);
	for (size_t i = 0; i < ms_state_region_count(st); i++) {
		ms_state_region r;
		ms_state_region_info(st, i, &r);
		printf("  region %zu:\n", i);
		for (uint64_t c = 0; c < r.chunk_count; c++) {
			uint64_t h;
			ms_state_region_chunk_hash(st, i, c, &h);
			printf("    %8" PRIu64 "  offset %-12" PRIu64 " %016" PRIx64 "\n", c,
			       r.data_offset + c * in.chunk_size, h);
		}
	}
}

static int show(const char *path, unsigned what, ms_state *base, int many)
{
	ms_state *st;
	int err = ms_state_open(path, 0, &st);
	if (err) {
		fprintf(stderr, "memsnap-state: %s: %s\n", path, ms_strerror(err));
		return 1;
	}
	if (many)
		printf("\nFile: %s\n", path);
	if (what & SHOW_HEADER)
		show_header(st);
	if (what & SHOW_REGIONS)
		show_regions(st);
	if (what & SHOW_BLOBS)
		show_blobs(st);
	if (what & SHOW_CHECKSUMS)
		show_checksums(st);
	int rc = 0;
	if (base) {
		err = ms_state_set_base(st, base);
		printf("\nBase: %s\n", err ? ms_strerror(err) : "matches");
		rc |= err != 0;
	}
	if (what & VERIFY) {
		size_t bad = 0;
		err = ms_state_verify(st, &bad);
		if (err)
			printf("\nVerification: FAILED in region %zu: %s\n", bad, ms_strerror(err));
		else
			printf("\nVerification: all RAM chunks match their checksums\n");
		rc |= err != 0;
	}
	ms_state_close(st);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"file-header", no_argument, NULL, 'h'},
	    {"regions", no_argument, NULL, 'r'},
	    {"blobs", no_argument, NULL, 'b'},
	    {"checksums", no_argument, NULL, 'c'},
	    {"all", no_argument, NULL, 'a'},
	    {"verify", no_argument, NULL, 'V'},
	    {"base", required_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0},
	};
	unsigned what = 0;
	const char *base_path = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "hrbca", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			what |= SHOW_HEADER;
			break;
		case 'r':
			what |= SHOW_REGIONS;
			break;
		case 'b':
			what |= SHOW_BLOBS;
			break;
		case 'c':
			what |= SHOW_CHECKSUMS;
			break;
		case 'a':
			what |= SHOW_HEADER | SHOW_REGIONS | SHOW_BLOBS | SHOW_CHECKSUMS | VERIFY;
			break;
		case 'V':
			what |= VERIFY;
			break;
		case 'B':
			base_path = optarg;
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc || (!what && !base_path)) {
		usage(stderr);
		return 2;
	}
	ms_state *base = NULL;
	if (base_path) {
		int err = ms_state_open(base_path, 0, &base);
		if (err) {
			fprintf(stderr, "memsnap-state: %s: %s\n", base_path, ms_strerror(err));
			return 1;
		}
	}
	int rc = 0;
	for (int i = optind; i < argc; i++)
		rc |= show(argv[i], what, base, argc - optind > 1);
	ms_state_close(base);
	return rc;
}
