/*
 * memsnap-uc-state: what an engine save state holds, as an emulator user
 * reads it: the machine (architecture, mode, Unicorn version), the guest
 * memory map with permissions, and the CPU registers by name. The container
 * itself (header, ids, chunk checksums) is shown by memsnap-state.
 *
 *   memsnap-uc-state [--verify] [--base BASE] FILE
 *
 * Exit status: 0, 1 when --verify finds a bad checksum, 2 for any other
 * error (unreadable, corrupt or not an engine's state).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "memsnap/uc_state.h"

static const char *arch_name(uint32_t arch)
{
	switch (arch) {
	case UC_ARCH_X86:
		return "x86";
	case UC_ARCH_ARM:
		return "arm";
	case UC_ARCH_ARM64:
		return "arm64";
	case UC_ARCH_MIPS:
		return "mips";
	case UC_ARCH_PPC:
		return "ppc";
	case UC_ARCH_SPARC:
		return "sparc";
	case UC_ARCH_M68K:
		return "m68k";
	case UC_ARCH_RISCV:
		return "riscv";
	default:
		return "unknown";
	}
}

static void mode_name(uint32_t arch, uint32_t mode, char *buf, size_t cap)
{
	if (arch == UC_ARCH_X86)
		snprintf(buf, cap, "%s",
			 mode & UC_MODE_64   ? "64-bit"
			 : mode & UC_MODE_32 ? "32-bit"
					     : "16-bit");
	else if (arch == UC_ARCH_ARM)
		snprintf(buf, cap, "%s%s", mode & UC_MODE_THUMB ? "thumb" : "arm",
			 mode & UC_MODE_BIG_ENDIAN ? ", big-endian" : "");
	else
		snprintf(buf, cap, "mode %#" PRIx32, mode);
}

static void perms_str(uint32_t perms, char out[4])
{
	out[0] = perms & UC_PROT_READ ? 'r' : '-';
	out[1] = perms & UC_PROT_WRITE ? 'w' : '-';
	out[2] = perms & UC_PROT_EXEC ? 'x' : '-';
	out[3] = '\0';
}

static void show_map(ms_state *st)
{
	const void *data;
	size_t len;
	uint32_t type;
	printf("\nMemory map:\n  %-18s %-18s %s\n", "begin", "end", "perms");
	if (ms_state_find_blob(st, MS_UC_STATE_BLOB_MAP, &type, &data, &len) == 0 && len >= 8) {
		const uint8_t *p = data;
		uint32_t n = ms__uc_get32(p + 4);
		for (uint32_t i = 0; i < n && 8 + (size_t)(i + 1) * 24 <= len; i++) {
			const uint8_t *r = p + 8 + (size_t)i * 24;
			char perms[4];
			perms_str(ms__uc_get32(r + 16), perms);
			printf("  0x%016" PRIx64 " 0x%016" PRIx64 " %s\n", ms__uc_get64(r),
			       ms__uc_get64(r) + ms__uc_get64(r + 8) - 1, perms);
		}
	}
	for (size_t i = 0; i < ms_state_region_count(st); i++) {
		ms_state_region r;
		ms_state_region_info(st, i, &r);
		printf("  region %zu: 0x%" PRIx64 "-0x%" PRIx64 ", %" PRIu64 " KiB, %s, %" PRIu64
		       " bytes stored\n",
		       i, r.address, r.address + r.size - 1, r.size >> 10,
		       r.kind == MS_STATE_REGION_DELTA ? "delta over the base" : "full",
		       r.stored_bytes);
	}
}

static void show_regs(ms_state *st, const ms_state_machine *m)
{
	const void *data;
	size_t len;
	uint32_t type;
	if (ms_state_find_blob(st, MS_UC_STATE_BLOB_CPU, &type, &data, &len) != 0 || len < 20) {
		printf("\nRegisters: none\n");
		return;
	}
	const uint8_t *p = data, *end = p + len;
	uint32_t n = ms__uc_get32(p + 16);
	printf("\nRegisters (%" PRIu32 "):\n", n);
	p += 20;
	for (uint32_t i = 0; i < n && end - p >= 8; i++) {
		uint32_t id = ms__uc_get32(p), size = ms__uc_get32(p + 4);
		if (size == 0 || size > 16 || (size_t)(end - p) < 8 + size) {
			printf("  (malformed entry %" PRIu32 ")\n", i);
			break;
		}
		const char *name = ms__uc_reg_name((uc_arch)m->arch, (int)m->mode, (int)id);
		char hex[40] = "";
		for (uint32_t k = 0; k < size; k++)
			snprintf(hex + 2 * k, 3, "%02x", p[8 + size - 1 - k]);
		printf("  %-8s 0x%s\n", name ? name : "?", hex);
		p += 8 + size;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: memsnap-uc-state [--verify] [--base BASE] FILE\n"
		   "  Show the machine, memory map and registers of an engine save state.\n"
		   "  --verify     check every RAM checksum (exit status 1 on a mismatch)\n"
		   "  --base BASE  attach the base of an incremental state (checks its id)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"verify", no_argument, NULL, 'v'},
					     {"base", required_argument, NULL, 'B'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int verify = 0, c;
	const char *base_path = NULL;
	while ((c = getopt_long(argc, argv, "vB:h", opts, NULL)) != -1) {
		if (c == 'v')
			verify = 1;
		else if (c == 'B')
			base_path = optarg;
		else {
			usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *path = argv[optind];
	ms_state *st, *base = NULL;
	int err = ms_state_open(path, 0, &st);
	if (err) {
		fprintf(stderr, "memsnap-uc-state: %s: %s\n", path, ms_strerror(err));
		return 2;
	}
	ms_state_machine m;
	err = ms_state_get_machine(st, &m);
	if (err) {
		fprintf(stderr,
			"memsnap-uc-state: %s: not an engine's save state (no machine record)\n",
			path);
		ms_state_close(st);
		return 2;
	}
	if (base_path) {
		err = ms_state_open(base_path, 0, &base);
		if (!err)
			err = ms_state_set_base(st, base);
		if (err) {
			fprintf(stderr, "memsnap-uc-state: base %s: %s\n", base_path,
				ms_strerror(err));
			ms_state_close(base);
			ms_state_close(st);
			return 2;
		}
	}
	char mode[64];
	mode_name(m.arch, m.mode, mode, sizeof mode);
	printf("Engine save state %s\n", path);
	printf("  Engine:       %s (version word %#" PRIx64 ")\n", m.engine, m.engine_version);
	printf("  Architecture: %s, %s (uc_arch %" PRIu32 ", uc_mode %#" PRIx32 ")\n",
	       arch_name(m.arch), mode, m.arch, m.mode);
	printf("  Guest page:   %" PRIu32 " bytes\n", m.page_size);
	show_map(st);
	show_regs(st, &m);
	int status = 0;
	if (verify) {
		size_t bad = 0;
		err = ms_state_verify(st, &bad);
		if (err == MS_ERR_CORRUPT)
			printf("\nVerification: region %zu: %s\n", bad, ms_strerror(err));
		else if (err)
			fprintf(stderr, "memsnap-uc-state: %s: verification failed: %s\n", path,
				ms_strerror(err));
		else
			printf("\nVerification: all RAM checksums match\n");
		status = err == MS_ERR_CORRUPT ? 1 : err ? 2 : 0;
	}
	ms_state_close(st);
	ms_state_close(base);
	return status;
}
