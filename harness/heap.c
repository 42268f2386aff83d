/*
 * The guest heap sanitizer (heap = sanitize).
 *
 * The guest's malloc, free, calloc and realloc (and newlib's _malloc_r
 * family, whose first argument is the reentrancy structure) are hooked at
 * their first instruction and served by the harness from an arena of guest
 * RAM; the hook returns to the caller with the result, so the guest's own
 * allocator never runs. Each chunk is laid out as
 *
 *   [32-byte header: left redzone][user bytes][right redzone, >= 16 bytes]
 *
 * with the user bytes 16-byte aligned. Freed chunks are never handed out
 * again during a run (the arena is a bump allocator, and every run starts
 * from the start state), so the whole freed heap is the quarantine.
 *
 * Every byte of state lives in guest RAM, so the start state's checkpoint
 * takes and restores it like any other page, in O(pages changed):
 *
 *   arena    [A, A+S)                    chunks; headers hold size, state and
 *                                        the allocation and free sites
 *   state    [A+S, A+S+4K)               the bump offset
 *   shadow   [A+S+4K, A+S+4K+S/8)        one byte per 8 arena bytes
 *
 * state and shadow are mapped without guest permissions. Shadow bytes:
 * 0 never allocated, 0x80 all 8 bytes usable, 0x80|k the first k usable,
 * 0xfa header, 0xfb right redzone, 0xfd freed.
 *
 * Guest accesses are checked by a Unicorn read/write hook bounded to the
 * arena, so the check is byte-exact and chunks keep their alignment; its
 * cost is measured in docs/harness.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "memsnap/uc.h"
#include "target_internal.h"

#define HDR 32u
#define RZ_MIN 16u
#define MAGIC 0x6d73686bu /* "mshk" */
#define SH_NONE 0x00
#define SH_OK 0x80
#define SH_HDR 0xfa
#define SH_RZ 0xfb
#define SH_FREED 0xfd

enum { FN_MALLOC, FN_FREE, FN_CALLOC, FN_REALLOC };

typedef struct chunk_hdr {
	uint64_t size;
	uint64_t alloc_pc;
	uint64_t free_pc;
	uint32_t state; /* 1 allocated, 2 freed */
	uint32_t magic;
} chunk_hdr;

typedef struct heap_fn {
	msf_heap *heap;
	int fn;
	int reent; /* newlib _r variant: arguments shifted by one */
} heap_fn;

struct msf_heap {
	uint64_t arena, size, state, shadow_addr;
	const uint8_t *shadow; /* host view of the shadow, for the access hook */
	heap_fn fns[8];
	int n_fns;
};

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* " <symbol+0xoff>" for a guest code address, or "". */
static const char *sym(msf_target *t, uint64_t addr, char *buf, size_t cap)
{
	const msf_symbol *s = msf_elf_symbolize(&t->elf, addr);
	buf[0] = 0;
	if (s)
		snprintf(buf, cap, " <%s+0x%" PRIx64 ">", s->name,
			 addr - msf__code_addr(t, s->value));
	return buf;
}

/* Fill the shadow of arena [off, off+len) with `value`. */
static int poison(msf_target *t, uint64_t off, uint64_t len, uint8_t value)
{
	uint8_t buf[512];
	memset(buf, value, sizeof buf);
	uint64_t g = off / 8, n = round_up(len, 8) / 8;
	while (n) {
		size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
		int rc = msf_ram_write(t->ram, t->heap->shadow_addr + g, buf, k);
		if (rc)
			return rc;
		g += k;
		n -= k;
	}
	return 0;
}

static uint64_t heap_malloc(msf_target *t, uint64_t n, uint64_t site)
{
	msf_heap *h = t->heap;
	uint64_t bump = 0;
	msf_ram_read(t->ram, h->state, &bump, 8);
	if (n > h->size)
		return 0;
	uint64_t user = round_up(n ? n : 1, 16);
	uint64_t total = HDR + user + RZ_MIN;
	if (bump + total > h->size)
		return 0; /* the guest sees an allocation failure */
	chunk_hdr hdr = {.size = n, .alloc_pc = site, .state = 1, .magic = MAGIC};
	uint64_t off = bump;
	msf_ram_write(t->ram, h->arena + off, &hdr, sizeof hdr);
	poison(t, off, HDR, SH_HDR);
	if (n / 8)
		poison(t, off + HDR, n / 8 * 8, SH_OK);
	uint8_t tail = n % 8 ? (uint8_t)(SH_OK | (n % 8)) : SH_RZ;
	if (n % 8)
		msf_ram_write(t->ram, h->shadow_addr + (off + HDR) / 8 + n / 8, &tail, 1);
	uint64_t used = round_up(n, 8);
	poison(t, off + HDR + used, total - HDR - used, SH_RZ);
	bump += total;
	msf_ram_write(t->ram, h->state, &bump, 8);
	return h->arena + off + HDR;
}

/* The header of the chunk that `p` was returned for, or -1 with the reason
 * in kind (invalid-free or double-free). */
static int find_chunk(msf_target *t, uint64_t p, chunk_hdr *hdr, msf_kind *kind)
{
	msf_heap *h = t->heap;
	uint64_t bump = 0;
	msf_ram_read(t->ram, h->state, &bump, 8);
	*kind = MSF_KIND_INVALID_FREE;
	if (p < h->arena + HDR || p >= h->arena + bump || (p - h->arena) % 16)
		return -1;
	if (msf_ram_read(t->ram, p - HDR, hdr, sizeof *hdr) || hdr->magic != MAGIC ||
	    h->shadow[(p - h->arena - 8) / 8] != SH_HDR)
		return -1;
	if (hdr->state != 1) {
		*kind = MSF_KIND_DOUBLE_FREE;
		return -1;
	}
	return 0;
}

static void bad_free(msf_target *t, const char *fn, uint64_t p, uint64_t site, msf_kind kind,
		     const chunk_hdr *hdr)
{
	char s1[160], s2[160], s3[160];
	if (kind == MSF_KIND_DOUBLE_FREE)
		msf__stop(t, kind, site,
			  "%s(0x%" PRIx64 ") from 0x%" PRIx64 "%s: the %" PRIu64
			  "-byte chunk was allocated at 0x%" PRIx64 "%s and freed at 0x%" PRIx64
			  "%s",
			  fn, p, site, sym(t, site, s1, sizeof s1), hdr->size, hdr->alloc_pc,
			  sym(t, hdr->alloc_pc, s2, sizeof s2), hdr->free_pc,
			  sym(t, hdr->free_pc, s3, sizeof s3));
	else
		msf__stop(t, kind, site,
			  "%s(0x%" PRIx64 ") from 0x%" PRIx64
			  "%s: not an address that malloc returned",
			  fn, p, site, sym(t, site, s1, sizeof s1));
}

/* In a start state captured from a process (state =, core =), memory its allocator gave
 * out before the capture lies outside the arena: freeing it is no bug, and
 * the harness leaves it where it is (the next run starts over anyway). */
static int foreign(const msf_target *t, uint64_t p)
{
	const msf_heap *h = t->heap;
	return t->cap.brk_name && (p < h->arena || p >= h->arena + h->size);
}

/* The usable size of a chunk of glibc's malloc (its size field, less the
 * header; an mmapped chunk has no next chunk's prev_size to lend), or 0. */
static uint64_t glibc_usable(msf_target *t, uint64_t p)
{
	uint64_t size = 0;
	if (msf_ram_read(t->ram, p - 8, &size, 8))
		return 0;
	uint64_t n = size & ~7ull;
	uint64_t over = size & 2 ? 16 : 8;
	return n > over ? n - over : 0;
}

static int heap_free(msf_target *t, const char *fn, uint64_t p, uint64_t site)
{
	if (!p || foreign(t, p))
		return 0;
	chunk_hdr hdr;
	msf_kind kind;
	if (find_chunk(t, p, &hdr, &kind)) {
		bad_free(t, fn, p, site, kind, &hdr);
		return -1;
	}
	hdr.state = 2;
	hdr.free_pc = site;
	msf_ram_write(t->ram, p - HDR, &hdr, sizeof hdr);
	poison(t, p - t->heap->arena, hdr.size ? hdr.size : 1, SH_FREED);
	return 0;
}

static void on_heap_fn(msf_target *t, uint64_t pc, void *user_data)
{
	heap_fn *f = user_data;
	uint64_t site, args[3], ret = 0;
	(void)pc;
	if (msf__entry_args(t, &site, args)) {
		msf__stop(t, MSF_KIND_ERROR, pc, "heap: cannot read the call's arguments");
		return;
	}
	uint64_t a = args[f->reent], b = args[f->reent + 1];
	if (t->arch != ARCH_X86_64)
		site &= ~1ull;
	switch (f->fn) {
	case FN_MALLOC:
		ret = heap_malloc(t, a, site);
		break;
	case FN_CALLOC:
		/* Arena memory that was never allocated is still zero: any
		 * store to it ends the run, and every run starts over. */
		if (!b || a <= UINT64_MAX / b)
			ret = heap_malloc(t, a * b, site);
		break;
	case FN_FREE:
		if (heap_free(t, "free", a, site))
			return;
		break;
	case FN_REALLOC: {
		chunk_hdr hdr;
		msf_kind kind;
		if (!a) {
			ret = heap_malloc(t, b, site);
			break;
		}
		if (foreign(t, a)) {
			hdr.size = glibc_usable(t, a);
		} else if (find_chunk(t, a, &hdr, &kind)) {
			bad_free(t, "realloc", a, site, kind, &hdr);
			return;
		}
		ret = heap_malloc(t, b, site);
		if (!ret)
			break; /* the old chunk stays, as C says */
		uint8_t buf[4096];
		for (uint64_t done = 0, n = hdr.size < b ? hdr.size : b; done < n;) {
			size_t k = n - done < sizeof buf ? (size_t)(n - done) : sizeof buf;
			msf_ram_read(t->ram, a + done, buf, k);
			msf_ram_write(t->ram, ret + done, buf, k);
			done += k;
		}
		heap_free(t, "realloc", a, site);
		break;
	}
	}
	msf_return(t, ret);
}

/* The chunk header nearest below arena offset `off`, scanning the shadow;
 * returns its arena offset or -1. */
static int64_t chunk_below(msf_heap *h, uint64_t off)
{
	for (int64_t g = (int64_t)(off / 8); g >= 0; g--)
		if (h->shadow[g] == SH_HDR)
			return (g + 1) * 8 - HDR;
	return -1;
}

static void on_access(uc_engine *uc, uc_mem_type type, uint64_t addr, int size, int64_t value,
		      void *user_data)
{
	msf_target *t = user_data;
	msf_heap *h = t->heap;
	(void)value;
	uint64_t off = addr - h->arena;
	/* The common case: an access inside one or two usable granules. An
	 * access that starts in the arena may end past it (and its shadow). */
	if (off + (uint64_t)size <= h->size && h->shadow[off / 8] == SH_OK &&
	    h->shadow[(off + (uint64_t)size - 1) / 8] == SH_OK)
		return;
	uint64_t bad = off;
	for (; bad < off + (uint64_t)size; bad++) {
		if (bad >= h->size)
			break;
		uint8_t s = h->shadow[bad / 8];
		if (!(s == SH_OK || (s > SH_OK && s < SH_OK + 8 && bad % 8 < (s & 7u))))
			break;
	}
	if (bad == off + (uint64_t)size)
		return;
	uint8_t s = bad < h->size ? h->shadow[bad / 8] : SH_NONE;
	uint64_t pc = 0;
	uc_reg_read(uc, t->pc_reg, &pc);
	msf_kind kind = MSF_KIND_HEAP_OVERFLOW;
	int64_t c;
	if (s == SH_HDR) {
		/* A chunk's header: the access runs below that chunk. */
		uint64_t g = bad / 8;
		while (g < h->size / 8 && h->shadow[g] == SH_HDR)
			g++;
		c = (int64_t)(g * 8 - HDR);
		kind = MSF_KIND_HEAP_UNDERFLOW;
	} else {
		c = chunk_below(h, bad < h->size ? bad : h->size - 1);
		if (s == SH_FREED)
			kind = MSF_KIND_USE_AFTER_FREE;
	}
	const char *what = type == UC_MEM_WRITE ? "write" : "read";
	char s1[160], s2[160];
	chunk_hdr hdr = {0};
	if (c < 0 || msf_ram_read(t->ram, h->arena + (uint64_t)c, &hdr, sizeof hdr) ||
	    hdr.magic != MAGIC) {
		msf__stop(t, kind, pc, "%s of %d byte%s at 0x%" PRIx64 ": no chunk there", what,
			  size, size == 1 ? "" : "s", addr);
		return;
	}
	uint64_t user = h->arena + (uint64_t)c + HDR, at = h->arena + bad;
	if (kind == MSF_KIND_HEAP_UNDERFLOW)
		msf__stop(t, kind, pc,
			  "%s of %d byte%s at 0x%" PRIx64 ", %" PRIu64 " bytes before the %" PRIu64
			  "-byte chunk at 0x%" PRIx64 " allocated at 0x%" PRIx64 "%s",
			  what, size, size == 1 ? "" : "s", addr, user - at, hdr.size, user,
			  hdr.alloc_pc, sym(t, hdr.alloc_pc, s1, sizeof s1));
	else if (kind == MSF_KIND_USE_AFTER_FREE)
		msf__stop(t, kind, pc,
			  "%s of %d byte%s at 0x%" PRIx64 ", %" PRIu64 " bytes into the %" PRIu64
			  "-byte chunk at 0x%" PRIx64 " allocated at 0x%" PRIx64
			  "%s and freed at 0x%" PRIx64 "%s",
			  what, size, size == 1 ? "" : "s", addr, at - user, hdr.size, user,
			  hdr.alloc_pc, sym(t, hdr.alloc_pc, s1, sizeof s1), hdr.free_pc,
			  sym(t, hdr.free_pc, s2, sizeof s2));
	else
		msf__stop(t, kind, pc,
			  "%s of %d byte%s at 0x%" PRIx64 ", %" PRIu64 " bytes after the %" PRIu64
			  "-byte chunk at 0x%" PRIx64 " allocated at 0x%" PRIx64 "%s",
			  what, size, size == 1 ? "" : "s", addr, at - (user + hdr.size), hdr.size,
			  user, hdr.alloc_pc, sym(t, hdr.alloc_pc, s1, sizeof s1));
}

int msf__heap_setup(msf_target *t, char *err, size_t errlen)
{
	const msf_heap_spec *spec = &t->cfg.heap;
	if (!spec->sanitize)
		return 0;
	msf_heap *h = calloc(1, sizeof *h);
	if (!h)
		return msf__fail(err, errlen, "out of memory");
	t->heap = h;
	h->arena = spec->arena_addr;
	h->size = spec->arena_size;
	h->state = h->arena + h->size;
	h->shadow_addr = h->state + 4096;
	if (t->arch != ARCH_X86_64 && h->shadow_addr + h->size / 8 > (1ull << 32))
		return msf__fail(err, errlen,
				 "heap_arena: 0x%" PRIx64 " +%" PRIu64
				 " and its shadow do not fit a 32-bit guest",
				 h->arena, h->size);
	int rc = msf_ram_map_zeroed(t->ram, h->arena, h->size, UC_PROT_READ | UC_PROT_WRITE);
	if (!rc)
		rc = msf_ram_map_zeroed(t->ram, h->state, round_up(4096 + h->size / 8, 4096),
					UC_PROT_NONE);
	if (rc)
		return msf__fail(err, errlen,
				 "heap_arena: 0x%" PRIx64 " (%" PRIu64 " bytes and %" PRIu64
				 " of metadata): %s",
				 h->arena, h->size, 4096 + h->size / 8, ms_strerror(rc));
	size_t avail = 0;
	h->shadow = msf_ram_host_ptr(t->ram, h->shadow_addr, &avail);
	if (!h->shadow || avail < h->size / 8)
		return msf__fail(err, errlen, "heap: no host view of the shadow memory");
	static const char *const defaults[4] = {"malloc", "free", "calloc", "realloc"};
	static const char *const reent[4] = {"_malloc_r", "_free_r", "_calloc_r", "_realloc_r"};
	int have_malloc = 0;
	for (int i = 0; i < 8; i++) {
		const char *name =
		    i < 4 ? (spec->names[i] ? spec->names[i] : defaults[i]) : reent[i - 4];
		const msf_symbol *s = msf_elf_symbol(&t->elf, name);
		if (!s)
			continue;
		heap_fn *f = &h->fns[h->n_fns++];
		*f = (heap_fn){h, i % 4, i >= 4};
		have_malloc |= f->fn == FN_MALLOC;
		rc = msf__hook_add(t, s->value, on_heap_fn, f, 0);
		if (rc)
			return msf__fail(err, errlen, "heap: hooking %s: %s", name,
					 ms_strerror(rc));
	}
	if (!have_malloc)
		return msf__fail(err, errlen,
				 "heap = sanitize: %s has no '%s' nor _malloc_r (set heap_malloc)",
				 t->cfg.elf, spec->names[0] ? spec->names[0] : "malloc");
	uc_hook hk;
	uc_err e = uc_hook_add(t->uc, &hk, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, (void *)on_access,
			       t, h->arena, h->arena + h->size - 1);
	if (e)
		return msf__fail(err, errlen, "heap: uc_hook_add: %s", uc_strerror(e));
	return 0;
}

void msf__heap_free(msf_target *t)
{
	free(t->heap);
	t->heap = NULL;
}
