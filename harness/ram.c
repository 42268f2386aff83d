/*
 * Guest RAM behind one small interface, two ways:
 *
 *   memsnap  regions are memsnap copy-on-write views (ms_uc_map*); the start
 *            state is an ms_uc checkpoint and each reset restores only the
 *            pages the last input dirtied. Dirty pages are found by a
 *            memsnap tracker (tracking = exact, the default) or by the
 *            runtime's write hook (tracking = hook: exact here too, because
 *            the harness writes guest RAM only through ms_uc_write).
 *   memcpy   regions are plain anonymous memory given to Unicorn with
 *            uc_mem_map_ptr; the start state is a full copy and each reset
 *            copies every byte back. It exists as the baseline that the
 *            memsnap figures are compared with (--reset=memcpy).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memsnap/uc.h"
#include "memsnap/uc_state.h"
#include "fuzz.h"

typedef struct plain_region {
	uint64_t addr;
	size_t size;
	uint8_t *mem;
	uint8_t *start; /* the start state, copied back by each reset */
} plain_region;

struct msf_ram {
	msf_reset kind;
	char tracking_name[32];
	uc_engine *uc;
	/* memsnap */
	ms_uc *m;
	ms_uc_checkpoint *cp;
	/* memcpy */
	plain_region regions[MSF_MAX_RAM + 64]; /* a captured state has dozens */
	int n_regions;
	uc_context *ctx;
	/* both */
	uint64_t total_pages;
};

int msf_ram_new(msf_reset kind, msf_tracking tracking, int from_process, msf_uc *uc,
		msf_ram **out)
{
	msf_ram *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->kind = kind;
	r->uc = uc;
	snprintf(r->tracking_name, sizeof r->tracking_name, "-");
	/* Both backends run the guest with ms_uc_run (the memcpy one maps no
	 * memsnap region), so that they differ only in how they reset RAM. */
	int rc = ms_uc_new(uc, &r->m);
	if (rc) {
		free(r);
		return rc;
	}
	if (kind == MSF_RESET_MEMSNAP) {
		/* The configured mode wins over MEMSNAP_UC_TRACKING; in exact mode
		 * MS_TRACKER_AUTO (or MEMSNAP_TRACKER) chooses the views' tracker. */
		ms_tracker t = MS_TRACKER_AUTO;
		/* A state from a process maps most of its RAM from files, which
		 * the synchronous trackers cannot watch: AUTO would fall back to
		 * uffd-async, whose restore scans each whole region (O(size))
		 * and whose setup waits per region; mprotect restores in
		 * O(dirty pages) there (docs/capture.md, "Figures").
		 * MEMSNAP_TRACKER still decides when set. */
		long env;
		if (from_process && ms_option_get(MS_OPTION_TRACKER, &env) == -ENOENT)
			t = MS_TRACKER_MPROTECT;
		rc = ms_uc_set_tracking(
		    r->m, tracking == MSF_TRACK_HOOK ? MS_UC_TRACK_HOOK : MS_UC_TRACK_EXACT, t);
		if (rc) {
			ms_uc_free(r->m);
			free(r);
			return rc;
		}
		if (tracking == MSF_TRACK_HOOK)
			snprintf(r->tracking_name, sizeof r->tracking_name, "hook");
		else
			/* What AUTO resolves to, MEMSNAP_TRACKER included; a
			 * file-backed region may still fall back to uffd-async
			 * (synchronous trackers cannot watch private file
			 * mappings). */
			snprintf(r->tracking_name, sizeof r->tracking_name, "exact/%s",
				 ms_tracker_name(ms_tracker_resolve(t)));
	}
	*out = r;
	return 0;
}

void msf_ram_free(msf_ram *r)
{
	if (!r)
		return;
	ms_uc_checkpoint_free(r->cp);
	ms_uc_free(r->m);
	for (int i = 0; i < r->n_regions; i++) {
		uc_mem_unmap(r->uc, r->regions[i].addr, r->regions[i].size);
		munmap(r->regions[i].mem, r->regions[i].size);
		free(r->regions[i].start);
	}
	if (r->ctx)
		uc_context_free(r->ctx);
	free(r);
}

static int plain_map(msf_ram *r, uint64_t addr, uint64_t size, uint32_t perms, int fd,
		     uint64_t offset)
{
	if (r->n_regions == (int)(sizeof r->regions / sizeof r->regions[0]))
		return -ENOSPC;
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | (fd < 0 ? MAP_ANONYMOUS : 0), fd, (off_t)offset);
	if (mem == MAP_FAILED)
		return -errno;
	uc_err e = uc_mem_map_ptr(r->uc, addr, size, perms, mem);
	if (e) {
		munmap(mem, size);
		return ms_uc_error(e);
	}
	plain_region *p = &r->regions[r->n_regions++];
	p->addr = addr;
	p->size = size;
	p->mem = mem;
	r->total_pages += size / 4096;
	return 0;
}

int msf_ram_map_zeroed(msf_ram *r, uint64_t addr, uint64_t size, uint32_t perms)
{
	if (r->kind == MSF_RESET_MEMCPY)
		return plain_map(r, addr, size, perms, -1, 0);
	int rc = ms_uc_map_zeroed(r->m, addr, size, perms);
	if (!rc)
		r->total_pages += size / 4096;
	return rc;
}

int msf_ram_map_file(msf_ram *r, uint64_t addr, uint64_t size, uint32_t perms, const char *path,
		     uint64_t offset)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc;
	if (r->kind == MSF_RESET_MEMCPY) {
		rc = plain_map(r, addr, size, perms, fd, offset);
	} else {
		/* Every process mapping this file shares its page-cache pages: the
		 * start state costs memory once per machine, not per worker. */
		ms_snapshot *snap = NULL;
		rc = ms_snapshot_from_fd_range(fd, offset, size, &snap);
		if (!rc && ms_snapshot_size(snap) != size)
			rc = -EINVAL;
		if (!rc)
			rc = ms_uc_map(r->m, addr, snap, perms);
		ms_snapshot_unref(snap);
		if (!rc)
			r->total_pages += size / 4096;
	}
	close(fd);
	return rc;
}

int msf_ram_load_state(msf_ram *r, ms_state *st)
{
	if (r->kind != MSF_RESET_MEMSNAP)
		return -EOPNOTSUPP;
	ms_uc_checkpoint *cp = NULL;
	int rc = ms_uc_checkpoint_from_state(r->m, st, &cp);
	if (!rc)
		rc = ms_uc_checkpoint_restore(r->m, cp);
	ms_uc_checkpoint_free(cp);
	if (rc)
		return rc;
	r->total_pages = 0;
	for (size_t i = 0; i < ms_state_region_count(st); i++) {
		ms_state_region reg;
		if (!ms_state_region_info(st, i, &reg))
			r->total_pages += reg.size / 4096;
	}
	return 0;
}

static plain_region *plain_find(msf_ram *r, uint64_t addr, size_t *avail)
{
	for (int i = 0; i < r->n_regions; i++) {
		plain_region *p = &r->regions[i];
		if (addr >= p->addr && addr - p->addr < p->size) {
			*avail = p->size - (size_t)(addr - p->addr);
			return p;
		}
	}
	return NULL;
}

static int plain_copy(msf_ram *r, uint64_t addr, void *buf, size_t len, int write)
{
	uint8_t *b = buf;
	while (len) {
		size_t avail;
		plain_region *p = plain_find(r, addr, &avail);
		if (!p)
			return -EFAULT;
		size_t n = len < avail ? len : avail;
		uint8_t *host = p->mem + (addr - p->addr);
		if (write)
			memcpy(host, b, n);
		else
			memcpy(b, host, n);
		b += n;
		addr += n;
		len -= n;
	}
	return 0;
}

int msf_ram_write(msf_ram *r, uint64_t addr, const void *buf, size_t len)
{
	if (r->kind == MSF_RESET_MEMCPY)
		return plain_copy(r, addr, (void *)buf, len, 1);
	return ms_uc_write(r->m, addr, buf, len);
}

int msf_ram_read(msf_ram *r, uint64_t addr, void *buf, size_t len)
{
	if (r->kind == MSF_RESET_MEMCPY)
		return plain_copy(r, addr, buf, len, 0);
	return ms_uc_read(r->m, addr, buf, len);
}

void *msf_ram_host_ptr(msf_ram *r, uint64_t addr, size_t *avail)
{
	if (r->kind == MSF_RESET_MEMSNAP)
		return ms_uc_host_ptr(r->m, addr, avail);
	plain_region *p = plain_find(r, addr, avail);
	return p ? p->mem + (addr - p->addr) : NULL;
}

void msf_ram_prefault(msf_ram *r)
{
	volatile uint8_t sink = 0;
	uc_mem_region *regs = NULL;
	uint32_t n = 0;
	if (uc_mem_regions(r->uc, &regs, &n))
		return;
	for (uint32_t i = 0; i < n; i++) {
		for (uint64_t a = regs[i].begin; a < regs[i].end; a += 4096) {
			uint8_t *host = NULL;
			size_t avail = 0;
			if (r->kind == MSF_RESET_MEMCPY) {
				plain_region *p = plain_find(r, a, &avail);
				host = p ? p->mem + (a - p->addr) : NULL;
			} else {
				host = ms_uc_host_ptr(r->m, a, &avail);
			}
			if (host)
				sink ^= *host;
		}
	}
	uc_free(regs);
	(void)sink;
}

int msf_ram_checkpoint(msf_ram *r)
{
	if (r->kind == MSF_RESET_MEMSNAP)
		return ms_uc_checkpoint_take(r->m, &r->cp);
	for (int i = 0; i < r->n_regions; i++) {
		plain_region *p = &r->regions[i];
		p->start = malloc(p->size);
		if (!p->start)
			return -ENOMEM;
		memcpy(p->start, p->mem, p->size);
	}
	uc_err e = uc_context_alloc(r->uc, &r->ctx);
	if (!e)
		e = uc_context_save(r->uc, r->ctx);
	return ms_uc_error(e);
}

int msf_ram_restore(msf_ram *r, uint64_t *dirty_pages)
{
	if (r->kind == MSF_RESET_MEMSNAP) {
		int rc = ms_uc_checkpoint_restore(r->m, r->cp);
		ms_uc_stats st;
		if (!rc && dirty_pages && !ms_uc_get_stats(r->m, &st))
			*dirty_pages = st.last_dirty_pages;
		return rc;
	}
	for (int i = 0; i < r->n_regions; i++)
		memcpy(r->regions[i].mem, r->regions[i].start, r->regions[i].size);
	if (dirty_pages)
		*dirty_pages = r->total_pages;
	return ms_uc_error(uc_context_restore(r->uc, r->ctx));
}

int msf_ram_run(msf_ram *r, uint64_t begin, uint64_t until, uint64_t count)
{
	return ms_uc_run(r->m, begin, until, 0, (size_t)count);
}

uint64_t msf_ram_total_pages(const msf_ram *r)
{
	return r->total_pages;
}

long msf_ram_verify(msf_ram *r)
{
	if (r->kind == MSF_RESET_MEMCPY)
		return -EOPNOTSUPP;
	return ms_uc_verify(r->m);
}

const char *msf_ram_tracking_name(const msf_ram *r)
{
	return r->tracking_name;
}
