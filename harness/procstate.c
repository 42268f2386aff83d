/*
 * A start state captured from a process (capture.h) as a fuzz target's
 * start: its RAM regions come lazily from the state file, its read-only file
 * mappings copy-on-write from the files themselves (checked against their
 * recorded hashes first), its symbols from every ELF file it had mapped,
 * with their load biases, and the run starts at its registers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "capture.h"
#include "memsnap/uc_state.h"
#include "procstate.h"
#include "target_internal.h"

#define fail msf__fail

void msf_capture_info_free(msf_capture_info *ci)
{
	free(ci->brk_name);
	for (size_t i = 0; i < ci->n_elfs; i++)
		free(ci->elfs[i].path);
	for (size_t i = 0; i < ci->n_files; i++)
		free(ci->files[i].path);
	free(ci->elfs);
	free(ci->files);
	memset(ci, 0, sizeof *ci);
}

/* One line of the blob; 0, -1 for a malformed line, -ENOMEM. */
static int parse_line(char *line, msf_capture_info *ci)
{
	unsigned long long a, b, c, d;
	unsigned perms;
	int pos = -1;
	if (sscanf(line, "break %llx %n", &a, &pos) == 1 && pos > 0) {
		ci->brk = a;
		free(ci->brk_name);
		return (ci->brk_name = strdup(line + pos)) ? 0 : -ENOMEM;
	}
	if (sscanf(line, "elf %llx %n", &a, &pos) == 1 && pos > 0 && line[pos] == '/') {
		msf_capture_elf *v = realloc(ci->elfs, (ci->n_elfs + 1) * sizeof *v);
		if (!v)
			return -ENOMEM;
		ci->elfs = v;
		v[ci->n_elfs] = (msf_capture_elf){a, strdup(line + pos)};
		return v[ci->n_elfs++].path ? 0 : -ENOMEM;
	}
	if (sscanf(line, "file %llx %llx %u %llx %llx %n", &a, &b, &perms, &c, &d, &pos) == 5 &&
	    pos > 0 && line[pos] == '/') {
		if (a % 4096 || b % 4096 || !b || c % 4096 || perms > 7)
			return -1;
		msf_capture_file *v = realloc(ci->files, (ci->n_files + 1) * sizeof *v);
		if (!v)
			return -ENOMEM;
		ci->files = v;
		v[ci->n_files] = (msf_capture_file){a, b, c, d, perms, strdup(line + pos)};
		return v[ci->n_files++].path ? 0 : -ENOMEM;
	}
	return -1;
}

int msf_capture_info_parse(const char *text, size_t len, msf_capture_info *out, char *err,
			   size_t errlen)
{
	memset(out, 0, sizeof *out);
	size_t mlen = strlen(MSF_CAPTURE_MAGIC);
	if (len < mlen + 1 || memcmp(text, MSF_CAPTURE_MAGIC "\n", mlen + 1))
		return fail(err, errlen, "the %s blob is not of version 1", MSF_CAPTURE_BLOB);
	char *copy = strndup(text, len);
	if (!copy)
		return fail(err, errlen, "out of memory");
	int rc = 0, n = 1;
	char *save = NULL;
	for (char *l = strtok_r(copy + mlen + 1, "\n", &save); l && !rc;
	     l = strtok_r(NULL, "\n", &save)) {
		n++;
		int e = parse_line(l, out);
		if (e == -ENOMEM)
			rc = fail(err, errlen, "out of memory");
		else if (e)
			rc =
			    fail(err, errlen, "%s, line %d: malformed record", MSF_CAPTURE_BLOB, n);
	}
	free(copy);
	if (!rc && !out->brk_name)
		rc = fail(err, errlen, "%s: no break record", MSF_CAPTURE_BLOB);
	if (rc)
		msf_capture_info_free(out);
	return rc;
}

int msf__state_open(msf_target *t, char *err, size_t errlen)
{
	const char *path = t->cfg.state;
	int e = ms_state_open(path, 0, &t->st);
	if (e)
		return fail(err, errlen, "%s: %s", path, ms_strerror(e));
	const void *data;
	size_t len;
	uint32_t type;
	e = ms_state_find_blob(t->st, MSF_CAPTURE_BLOB, &type, &data, &len);
	if (e || type != MSF_CAPTURE_BLOB_TYPE)
		return fail(err, errlen,
			    "%s: not a captured start state (no %s blob; memsnap-fuzz capture "
			    "writes them)",
			    path, MSF_CAPTURE_BLOB);
	char msg[MSF_ERR_LEN];
	if (msf_capture_info_parse(data, len, &t->cap, msg, sizeof msg))
		return fail(err, errlen, "%s: %s", path, msg);
	/* Every mapped file still as it was: a library updated since the
	 * capture would run other code under the old addresses. */
	for (size_t i = 0; i < t->cap.n_files; i++) {
		const msf_capture_file *f = &t->cap.files[i];
		uint64_t h = 0;
		e = msf_capture_hash_file(f->path, f->offset, f->size, &h);
		if (e)
			return fail(err, errlen, "%s: %s (mapped at 0x%" PRIx64 "): %s", path,
				    f->path, f->start, strerror(-e));
		if (h != f->hash)
			return fail(err, errlen,
				    "%s: %s changed since the capture (%" PRIu64
				    " bytes at offset 0x%" PRIx64 " hash to 0x%016" PRIx64
				    ", not 0x%016" PRIx64 "): capture again",
				    path, f->path, f->size, f->offset, h, f->hash);
	}
	for (size_t i = 0; i < t->cap.n_elfs; i++)
		if (msf_elf_add_symbols(&t->elf, t->cap.elfs[i].path, t->cap.elfs[i].base, NULL,
					msg, sizeof msg))
			return fail(err, errlen, "%s: %s", path, msg);
	t->elf.machine = EM_X86_64_;
	t->elf.entry = t->cap.brk;
	return 0;
}

/* The "uc.cpu" blob (runtime/regs.c: "MSUCREG1", arch, mode, count, then
 * {id, size, value}) written register by register. */
static int write_regs(msf_target *t, const uint8_t *b, size_t len)
{
	if (len < 20 || memcmp(b, "MSUCREG1", 8))
		return MS_ERR_CORRUPT;
	uint32_t n;
	memcpy(&n, b + 16, 4);
	size_t at = 20;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id, size;
		uint8_t val[16] = {0};
		if (len - at < 8)
			return MS_ERR_CORRUPT;
		memcpy(&id, b + at, 4);
		memcpy(&size, b + at + 4, 4);
		if (size > sizeof val || len - at - 8 < size)
			return MS_ERR_CORRUPT;
		memcpy(val, b + at + 8, size);
		uc_err e = uc_reg_write(t->uc, (int)id, val);
		if (e)
			return ms_uc_error(e);
		at += 8 + size;
	}
	return 0;
}

/* reset = memcpy, the baseline of AFL++'s unicorn mode: every byte of the
 * process, its files' bytes included, copied into plain guest RAM at load
 * (as uc_mem_write would), and all of it copied back for each input. */
static int load_copies(msf_target *t, char *err, size_t errlen)
{
	const char *path = t->cfg.state;
	enum { BUF = 1 << 20 };
	uint8_t *buf = malloc(BUF);
	int e = buf ? 0 : -ENOMEM;
	for (size_t i = 0; !e && i < ms_state_region_count(t->st); i++) {
		ms_state_region reg;
		ms_snapshot *snap = NULL;
		e = ms_state_region_info(t->st, i, &reg);
		if (!e)
			e = ms_state_region_snapshot(t->st, i, &snap);
		if (!e)
			e = msf_ram_map_zeroed(t->ram, reg.address, reg.size, reg.perms);
		for (uint64_t at = 0; !e && at < reg.size; at += BUF) {
			size_t k = reg.size - at < BUF ? (size_t)(reg.size - at) : BUF;
			e = ms_snapshot_read(snap, (size_t)at, buf, k);
			if (!e)
				e = msf_ram_write(t->ram, reg.address + at, buf, k);
		}
		ms_snapshot_unref(snap);
	}
	for (size_t i = 0; !e && i < t->cap.n_files; i++) {
		const msf_capture_file *f = &t->cap.files[i];
		FILE *in = fopen(f->path, "rb");
		e = in ? msf_ram_map_zeroed(t->ram, f->start, f->size, f->perms) : -errno;
		if (!e && fseek(in, (long)f->offset, SEEK_SET))
			e = -errno;
		for (uint64_t at = 0; !e && at < f->size; at += BUF) {
			size_t k = f->size - at < BUF ? (size_t)(f->size - at) : BUF;
			size_t got = fread(buf, 1, k, in);
			e = msf_ram_write(t->ram, f->start + at, buf, got);
			if (got < k)
				break; /* the file's last page: zeros */
		}
		if (in)
			fclose(in);
	}
	free(buf);
	if (e)
		return fail(err, errlen, "%s: copying its RAM and files: %s", path, ms_strerror(e));
	const void *regs;
	size_t len;
	uint32_t type;
	e = ms_state_find_blob(t->st, MS_UC_STATE_BLOB_CPU, &type, &regs, &len);
	if (!e)
		e = write_regs(t, regs, len);
	return e ? fail(err, errlen, "%s: registers: %s", path, ms_strerror(e)) : 0;
}

int msf__state_map(msf_target *t, char *err, size_t errlen)
{
	const char *path = t->cfg.state;
	int e = 0;
	if (t->cfg.reset == MSF_RESET_MEMCPY) {
		if (load_copies(t, err, errlen))
			return -1;
	} else if ((e = msf_ram_load_state(t->ram, t->st))) {
		return fail(err, errlen, "%s: %s", path, ms_strerror(e));
	}
	for (size_t i = 0; t->cfg.reset == MSF_RESET_MEMSNAP && i < t->cap.n_files; i++) {
		const msf_capture_file *f = &t->cap.files[i];
		e = msf_ram_map_file(t->ram, f->start, f->size, f->perms, f->path, f->offset);
		if (e)
			return fail(err, errlen, "%s: mapping %s at 0x%" PRIx64 ": %s", path,
				    f->path, f->start, ms_strerror(e));
	}
	ms_state_close(t->st);
	t->st = NULL;
	return msf__state_finish_map(t, err, errlen);
}

int msf__state_finish_map(msf_target *t, char *err, size_t errlen)
{
	/* The executable regions as the image's segments: the backtrace takes
	 * return addresses only where code is. */
	uc_mem_region *regs = NULL;
	uint32_t n = 0;
	uc_err ue = uc_mem_regions(t->uc, &regs, &n);
	if (ue)
		return fail(err, errlen, "uc_mem_regions: %s", uc_strerror(ue));
	t->elf.segs = calloc(n ? n : 1, sizeof *t->elf.segs);
	for (uint32_t i = 0; t->elf.segs && i < n; i++)
		if (regs[i].perms & UC_PROT_EXEC)
			t->elf.segs[t->elf.n_segs++] = (msf_segment){
			    .vaddr = regs[i].begin,
			    .memsz = regs[i].end - regs[i].begin + 1,
			    .perms = regs[i].perms,
			};
	uc_free(regs);
	if (!t->elf.segs)
		return fail(err, errlen, "out of memory");
	ue = uc_context_alloc(t->uc, &t->cap_ctx);
	if (!ue)
		ue = uc_context_save(t->uc, t->cap_ctx);
	if (ue)
		return fail(err, errlen, "uc_context_save: %s", uc_strerror(ue));
	return 0;
}

int msf__state_restore_regs(msf_target *t, char *err, size_t errlen)
{
	uc_err e = uc_context_restore(t->uc, t->cap_ctx);
	uint64_t pc = t->entry;
	if (!e)
		e = uc_reg_write(t->uc, UC_X86_REG_RIP, &pc);
	return e ? fail(err, errlen, "uc_context_restore: %s", uc_strerror(e)) : 0;
}

void msf__state_free(msf_target *t)
{
	ms_state_close(t->st);
	t->st = NULL;
	if (t->cap_ctx)
		uc_context_free(t->cap_ctx);
	t->cap_ctx = NULL;
	msf_capture_info_free(&t->cap);
}
