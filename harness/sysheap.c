/*
 * The heap system calls of an x86-64 guest, answered from a guest area.
 *
 * musl's malloc gets memory from the kernel with brk and mmap. Under
 * Unicorn the `syscall` instruction does nothing by itself (rax keeps the
 * call number, which musl would take for an address), so a guest linked
 * with musl that calls malloc needs these few calls answered. A guest opts
 * in by defining memsnap_brk_start and memsnap_brk_end around a zeroed area
 * of its RAM (harness/heapdemo/heapdemo.ld). The break grows up from the
 * start; anonymous mappings are carved down from the end; nothing is ever
 * handed out twice within one input, so fresh memory is always zero, as the
 * kernel's is. munmap, mprotect and madvise succeed without doing anything;
 * mremap fails with ENOMEM (musl then copies). Other system calls are left
 * alone.
 *
 * The break and the mapping watermark live in the first 16 bytes of the
 * area, in guest memory, so they are part of the start state and every input
 * starts from the same heap; the harness writes them with msf_ram_write,
 * which the dirty tracking sees. The area is looked up in the symbol table
 * at each of these calls (a few per input), which keeps the harness free of
 * state for it.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc.h"
#include "sysheap.h"
#include "target_internal.h"

#define NR_MMAP 9
#define NR_MPROTECT 10
#define NR_MUNMAP 11
#define NR_BRK 12
#define NR_MREMAP 25
#define NR_MADVISE 28
#define MAP_ANONYMOUS_ 0x20
#define MAP_FIXED_ 0x10
#define PAGE 4096u
#define HEADER 16u

typedef struct sysheap {
	msf_target *t;
	uint64_t start, end;
} sysheap;

/* The area the guest declares, or the one the harness mapped for
 * syscall = emulate; 0 if neither. */
static int find_area(msf_target *t, sysheap *h)
{
	const msf_elf *elf = msf_target_elf(t);
	const msf_symbol *s = msf_elf_symbol(elf, MSF_SYSHEAP_START);
	const msf_symbol *e = msf_elf_symbol(elf, MSF_SYSHEAP_END);
	if (elf->machine != EM_X86_64)
		return 0;
	if (s && e)
		*h = (sysheap){t, s->value, e->value};
	else if (t->sys_end)
		*h = (sysheap){t, t->sys_start, t->sys_end};
	else
		return 0;
	return 1;
}

/* The break and the lowest mapped address, 0 in the start state (the area
 * is zeroed) meaning "nothing handed out yet". */
static int load_state(sysheap *h, uint64_t st[2])
{
	if (msf_ram_read(msf_target_ram(h->t), h->start, st, 2 * sizeof st[0]))
		return -1;
	if (!st[0])
		st[0] = h->start + HEADER;
	if (!st[1])
		st[1] = h->end;
	return 0;
}

static int64_t sys_brk(sysheap *h, uint64_t want)
{
	uint64_t st[2];
	if (load_state(h, st))
		return -EFAULT;
	if (want >= h->start + HEADER && want <= st[1]) {
		st[0] = want;
		if (msf_ram_write(msf_target_ram(h->t), h->start, st, sizeof st))
			return -EFAULT;
	}
	return (int64_t)st[0]; /* brk returns the break, moved or not */
}

static int64_t sys_mmap(sysheap *h, uint64_t len, uint64_t flags)
{
	uint64_t st[2];
	if (!(flags & MAP_ANONYMOUS_) || (flags & MAP_FIXED_))
		return -ENODEV;
	if (!len || len > h->end - h->start)
		return -EINVAL;
	len = (len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	if (load_state(h, st))
		return -EFAULT;
	uint64_t top = st[1] & ~(uint64_t)(PAGE - 1);
	if (top < len || top - len < st[0])
		return -ENOMEM;
	st[1] = top - len;
	if (msf_ram_write(msf_target_ram(h->t), h->start, st, sizeof st))
		return -EFAULT;
	return (int64_t)st[1];
}

int msf_sysheap_syscall(msf_target *t)
{
	uc_engine *uc = msf_target_engine(t);
	uint64_t nr = 0, a0 = 0, a1 = 0, a3 = 0;
	uc_reg_read(uc, UC_X86_REG_RAX, &nr);
	if (nr != NR_BRK && nr != NR_MMAP && nr != NR_MUNMAP && nr != NR_MPROTECT &&
	    nr != NR_MADVISE && nr != NR_MREMAP)
		return 0;
	sysheap h;
	if (!find_area(t, &h))
		return 0;
	uc_reg_read(uc, UC_X86_REG_RDI, &a0);
	uc_reg_read(uc, UC_X86_REG_RSI, &a1);
	uc_reg_read(uc, UC_X86_REG_R10, &a3);
	int64_t ret = nr == NR_BRK	? sys_brk(&h, a0)
		      : nr == NR_MMAP	? sys_mmap(&h, a1, a3)
		      : nr == NR_MREMAP ? -ENOMEM
					: 0; /* munmap, mprotect, madvise */
	uint64_t rax = (uint64_t)ret;
	uc_reg_write(uc, UC_X86_REG_RAX, &rax);
	return 1;
}

int msf_sysheap_install(msf_target *t, char *err, size_t errlen)
{
	const msf_config *c = msf_target_config(t);
	if (c->syscall == MSF_SYSCALL_EMULATE) {
		if (t->arch != ARCH_X86_64)
			return msf__fail(
			    err, errlen,
			    "syscall = emulate: Linux x86-64 guests only (this one is %s)",
			    msf_target_arch_name(t));
		const msf_elf *elf = msf_target_elf(t);
		if (!msf_elf_symbol(elf, MSF_SYSHEAP_START) ||
		    !msf_elf_symbol(elf, MSF_SYSHEAP_END)) {
			int rc =
			    msf_ram_map_zeroed(t->ram, c->syscall_arena_addr, c->syscall_arena_size,
					       UC_PROT_READ | UC_PROT_WRITE);
			if (rc)
				return msf__fail(
				    err, errlen, "syscall_arena: cannot map 0x%llx +%llu: %s",
				    (unsigned long long)c->syscall_arena_addr,
				    (unsigned long long)c->syscall_arena_size, ms_strerror(rc));
			t->sys_start = c->syscall_arena_addr;
			t->sys_end = c->syscall_arena_addr + c->syscall_arena_size;
		}
	}
	sysheap h;
	if (!find_area(t, &h))
		return 0;
	uint8_t probe;
	if (h.end < h.start + HEADER + PAGE ||
	    msf_ram_read(msf_target_ram(t), h.start, &probe, 1) ||
	    msf_ram_read(msf_target_ram(t), h.end - 1, &probe, 1)) {
		snprintf(err, errlen,
			 "%s..%s (0x%llx..0x%llx) is not an area of guest RAM of at least 2 pages",
			 MSF_SYSHEAP_START, MSF_SYSHEAP_END, (unsigned long long)h.start,
			 (unsigned long long)h.end);
		return -1;
	}
	/* The harness's `syscall` hook (hooks.c) asks msf_sysheap_syscall
	 * first. */
	return 0;
}
