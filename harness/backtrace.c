/*
 * Backtraces of a guest stopped by a crash, and the crash buckets built from
 * them.
 *
 * Each step prefers the DWARF call frame information (exact wherever the
 * compiler emitted it, leaf functions and prologues included). Without CFI
 * for a pc, a stop on a function's first instruction (a hook or an abort
 * location at a function, a C library function built without CFI) takes the
 * return address from [rsp] or lr; a function that sets up a frame pointer
 * is left through the frame-pointer chain; anything else by scanning the
 * stack for a return address. Every step must land in executable guest
 * memory with a stack pointer above the previous one, so a wrong guess ends
 * the walk instead of running on.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <inttypes.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "triage.h"

/* DWARF numbers of the registers in the order msf_result.regs has them
 * (target.c: rax rbx rcx rdx rsi rdi rbp rsp r8-r15 rip; r0-r15). */
static const int x86_64_dwarf[] = {0, 3, 2, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

typedef struct walker {
	msf_target *t;
	int arm, word, pc_reg, sp_reg, fp_reg;
} walker;

static int read_word(void *arg, uint64_t addr, uint64_t *out)
{
	walker *w = arg;
	uint64_t v = 0;
	if (uc_mem_read(msf_target_engine(w->t), addr, &v, (size_t)w->word))
		return -1;
	*out = w->word == 4 ? (uint32_t)v : v;
	return 0;
}

static int executable(const msf_target *t, uint64_t pc)
{
	const msf_elf *e = msf_target_elf(t);
	for (size_t i = 0; i < e->n_segs; i++)
		if ((e->segs[i].perms & UC_PROT_EXEC) && pc >= e->segs[i].vaddr &&
		    pc - e->segs[i].vaddr < e->segs[i].memsz)
			return 1;
	return 0;
}

static int is_exit(const msf_target *t, uint64_t pc)
{
	int n;
	const uint64_t *exits = msf_target_exits(t, &n);
	for (int i = 0; i < n; i++)
		if (exits[i] == pc)
			return 1;
	return 0;
}

static uint64_t sym_addr(const msf_elf *e, const msf_symbol *s)
{
	return e->machine == EM_ARM ? s->value & ~1ull : s->value;
}

static void symbolize(msf_target *t, msf_frame *f, int caller)
{
	const msf_elf *e = msf_target_elf(t);
	const msf_symbol *s = msf_elf_symbolize(e, f->pc - (uint64_t)caller);
	if (s) {
		snprintf(f->func, sizeof f->func, "%s", s->name);
		f->offset = f->pc - sym_addr(e, s);
	}
	/* A return address may be the first byte after the call's function (a
	 * call that does not return): look its line and names up at pc - 1. */
	msf_dwarf *d = msf_target_dwarf(t);
	const char *file, *fn = msf_dwarf_function(d, f->pc - (uint64_t)caller);
	if (fn && (!s || strcmp(fn, s->name)))
		snprintf(f->inlined, sizeof f->inlined, "%s", fn);
	if (msf_dwarf_source(d, f->pc - (uint64_t)caller, &file, &f->line))
		snprintf(f->file, sizeof f->file, "%s", file);
}

/* The function-entry rule: nothing of the function has run yet. */
static int entry_step(walker *w, const msf_regs *in, msf_regs *out)
{
	*out = *in;
	if (w->arm) {
		if (!(in->valid & (1u << 14)))
			return -1;
		out->r[w->pc_reg] = in->r[14];
		out->valid &= ~(1u << 14);
		return 0;
	}
	uint64_t ret;
	if (read_word(w, in->r[w->sp_reg], &ret))
		return -1;
	out->r[w->pc_reg] = ret;
	out->r[w->sp_reg] = in->r[w->sp_reg] + 8;
	return 0;
}

/* The frame-pointer rule: [fp] is the caller's fp, [fp + word] the return
 * address (x86-64's rbp chain; AAPCS frame records in r7 or r11, which
 * clang builds and gcc's Thumb code does not). */
static int fp_step(walker *w, const msf_regs *in, msf_regs *out)
{
	uint64_t fp = in->r[w->fp_reg], prev, ret;
	if (!(in->valid & (1u << w->fp_reg)) || !fp || fp % (uint64_t)w->word ||
	    fp < in->r[w->sp_reg] || read_word(w, fp, &prev) ||
	    read_word(w, fp + (uint64_t)w->word, &ret))
		return -1;
	memset(out, 0, sizeof *out);
	out->r[w->fp_reg] = prev;
	out->r[w->pc_reg] = ret;
	out->r[w->sp_reg] = fp + 2 * (uint64_t)w->word;
	out->valid = 1u << w->fp_reg | 1u << w->pc_reg | 1u << w->sp_reg;
	return 0;
}

/* What precedes `ret`, a candidate return address: 0 no call; 1 a direct
 * call, whose target goes to *target (x86-64 call rel32, Thumb bl); 2 an
 * indirect call (x86-64 call reg, [reg], [reg+d8], [rip+d32]; Thumb blx
 * reg). */
static int call_before(walker *w, uint64_t ret, uint64_t *target)
{
	uint8_t b[8];
	if (ret < 8 || uc_mem_read(msf_target_engine(w->t), ret - 8, b, 8))
		return 0;
	if (w->arm) {
		uint32_t h1 = (uint32_t)(b[4] | b[5] << 8), h2 = (uint32_t)(b[6] | b[7] << 8);
		if ((h1 & 0xf800) == 0xf000 && (h2 & 0xd000) == 0xd000) {
			uint32_t sbit = (h1 >> 10) & 1, j1 = (h2 >> 13) & 1, j2 = (h2 >> 11) & 1;
			uint32_t i1 = !(j1 ^ sbit), i2 = !(j2 ^ sbit);
			uint32_t imm = sbit << 24 | i1 << 23 | i2 << 22 | (h1 & 0x3ff) << 12 |
				       (h2 & 0x7ff) << 1;
			int32_t off = (int32_t)(imm << 7) >> 7; /* sign-extend 25 bits */
			*target = (uint32_t)(ret + (uint64_t)(int64_t)off);
			return 1;
		}
		return (h2 & 0xff87) == 0x4780 ? 2 : 0;
	}
	if (b[3] == 0xe8) {
		int32_t rel = (int32_t)((uint32_t)b[4] | (uint32_t)b[5] << 8 |
					(uint32_t)b[6] << 16 | (uint32_t)b[7] << 24);
		*target = ret + (uint64_t)(int64_t)rel;
		return 1;
	}
	return (b[6] == 0xff && (b[7] & 0xf8) == 0xd0) ||	  /* call reg */
		       (b[6] == 0xff && (b[7] & 0xf8) == 0x10) || /* call [reg] */
		       (b[5] == 0xff && (b[6] & 0xf8) == 0x50) || /* call [reg+d8] */
		       (b[2] == 0xff && b[3] == 0x15)		  /* call [rip+d32] */
		   ? 2
		   : 0;
}

/* Where a function that is a single jmp rel32 goes (musl's free is one, to
 * __libc_free), or addr itself. */
static uint64_t jump_target(walker *w, uint64_t addr)
{
	uint8_t b[5];
	if (w->arm || uc_mem_read(msf_target_engine(w->t), addr, b, 5) || b[0] != 0xe9)
		return addr;
	int32_t rel = (int32_t)((uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 |
				(uint32_t)b[4] << 24);
	return addr + 5 + (uint64_t)(int64_t)rel;
}

/* Stack scanning, for a function without CFI that keeps no frame pointer
 * (a C library built with -fomit-frame-pointer): the first word from sp up
 * that points into code right after a call, a direct call only if it calls
 * the function `pc` is in (directly or through a one-jump trampoline). That
 * check rejects most stale return addresses an earlier call left on the
 * stack, but not those of indirect calls, and it skips a caller that reached
 * the function by another tail call; frames found this way say so. A pc
 * that no symbol names takes the first return address after any call. */
static int scan_step(walker *w, const msf_elf *e, uint64_t pc, const msf_regs *in, msf_regs *out)
{
	const msf_symbol *self = msf_elf_symbolize(e, pc);
	uint64_t sp = in->r[w->sp_reg];
	for (int i = 0; i < 256; i++) {
		uint64_t slot = sp + (uint64_t)(i * w->word), v, target = 0;
		if (read_word(w, slot, &v))
			return -1;
		uint64_t ret = w->arm ? v & ~1ull : v;
		if ((w->arm && !(v & 1)) || !executable(w->t, ret))
			continue;
		int call = call_before(w, ret, &target);
		if (call == 1 && self && target != sym_addr(e, self))
			target = jump_target(w, target);
		/* Without a symbol for pc (a stripped library's local function)
		 * any direct call will do. */
		if (call == 2 || (call == 1 && (!self || target == sym_addr(e, self)))) {
			*out = *in;
			out->r[w->pc_reg] = ret;
			out->r[w->sp_reg] = slot + (uint64_t)w->word;
			return 0;
		}
	}
	return -1;
}

/* Whether the function containing pc sets up rbp as a frame pointer: it
 * starts with push rbp; mov rbp, rsp (after an endbr64). ARM code has no
 * such rule gcc follows, so the answer there is no. */
static int keeps_frame_pointer(walker *w, const msf_elf *e, uint64_t pc)
{
	const msf_symbol *s = msf_elf_symbolize(e, pc);
	uint8_t b[8];
	if (w->arm || !s || uc_mem_read(msf_target_engine(w->t), sym_addr(e, s), b, 8))
		return 0;
	const uint8_t *p = b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa ? b + 4 : b;
	return p[0] == 0x55 && p[1] == 0x48 && p[2] == 0x89 && p[3] == 0xe5;
}

void msf_backtrace_get(msf_target *t, const msf_result *res, unsigned methods, msf_backtrace *bt)
{
	const msf_elf *e = msf_target_elf(t);
	walker w = {.t = t, .arm = e->machine == EM_ARM};
	w.word = w.arm ? 4 : 8;
	w.pc_reg = w.arm ? 15 : 16;
	w.sp_reg = w.arm ? 13 : 7;
	w.fp_reg = w.arm ? (strcmp(msf_target_arch_name(t), "thumb") ? 11 : 7) : 6;
	/* The walk starts from the machine state, the registers. Its pc can
	 * differ from the pc the report names: a harness hook may attribute a
	 * crash to a call site while the guest stands at the called function's
	 * first instruction. Then frame 0 is that function and frame 1 the call. */
	msf_regs regs = {0};
	for (int i = 0; i < res->n_regs && i <= w.pc_reg; i++) {
		int n = w.arm ? i : x86_64_dwarf[i];
		regs.r[n] = res->regs[i];
		regs.valid |= 1u << n;
	}
	if (!(regs.valid & (1u << w.pc_reg))) {
		regs.r[w.pc_reg] = res->pc;
		regs.valid |= 1u << w.pc_reg;
	}

	memset(bt, 0, sizeof *bt);
	msf_dwarf *d = (methods & MSF_UNWIND_CFI) ? msf_target_dwarf(t) : NULL;
	for (int i = 0; i < MSF_MAX_FRAMES; i++) {
		uint64_t pc = regs.r[w.pc_reg] & (w.arm ? ~1ull : ~0ull);
		msf_frame *f = &bt->frames[bt->n];
		if (i > 0 && (is_exit(t, pc) || !executable(t, pc)))
			break;
		f->pc = pc;
		symbolize(t, f, i > 0);
		bt->n++;
		/* Look callers up at pc - 1: inside the call instruction. */
		uint64_t lookup = i ? pc - 1 : pc;
		msf_regs next;
		msf_frame_how how;
		const msf_symbol *s = msf_elf_symbolize(e, pc);
		if (d && !msf_dwarf_cfi_step(d, lookup, w.pc_reg, w.sp_reg, w.word, &regs, &next,
					     read_word, &w))
			how = MSF_FRAME_CFI;
		else if ((methods & MSF_UNWIND_FP) && i == 0 && s && sym_addr(e, s) == pc &&
			 !entry_step(&w, &regs, &next))
			how = MSF_FRAME_ENTRY;
		else if ((methods & MSF_UNWIND_FP) &&
			 (!(methods & MSF_UNWIND_SCAN) || keeps_frame_pointer(&w, e, pc)) &&
			 !fp_step(&w, &regs, &next))
			how = MSF_FRAME_FP;
		else if ((methods & MSF_UNWIND_SCAN) && !scan_step(&w, e, pc, &regs, &next))
			how = MSF_FRAME_SCAN;
		else
			break;
		/* The stack must grow toward the caller (an entry step on ARM
		 * leaves sp as it is, and so does CFI at an ARM function's
		 * entry), and a pc may not repeat with the same sp. */
		if (next.r[w.sp_reg] < regs.r[w.sp_reg] ||
		    (next.r[w.sp_reg] == regs.r[w.sp_reg] &&
		     ((how != MSF_FRAME_ENTRY && how != MSF_FRAME_CFI) ||
		      (next.r[w.pc_reg] & ~1ull) == pc)))
			break;
		if (bt->n < MSF_MAX_FRAMES)
			bt->frames[bt->n].how = how;
		regs = next;
	}
}

uint64_t msf_bucket(msf_kind kind, const msf_backtrace *bt)
{
	char key[1024];
	int n = snprintf(key, sizeof key, "%s", msf_kind_name(kind));
	for (int i = 0; i < bt->n && i < MSF_BUCKET_FRAMES && n < (int)sizeof key; i++) {
		const msf_frame *f = &bt->frames[i];
		/* The crash itself by its exact place; the callers by function
		 * only, since a compiler may duplicate a call (two return
		 * addresses in one caller for the same path in the source). */
		if (f->func[0] && !i)
			n += snprintf(key + n, sizeof key - (size_t)n, "|%s+%" PRIx64, f->func,
				      f->offset);
		else if (!i)
			/* A crash where no symbol names the code (a stripped
			 * library's local function, such as glibc's memmove
			 * variants) is bucketed by its callers: one overflow
			 * through memcpy takes a different path in it for each
			 * length, and so a different program counter. */
			n += snprintf(key + n, sizeof key - (size_t)n, "|?");
		else if (f->func[0])
			n += snprintf(key + n, sizeof key - (size_t)n, "|%s", f->func);
		else
			n += snprintf(key + n, sizeof key - (size_t)n, "|%" PRIx64, f->pc);
	}
	return msf_hash((const uint8_t *)key, strlen(key));
}

void msf_frame_describe(const msf_frame *f, char *out, size_t cap)
{
	const char *base = strrchr(f->file, '/');
	base = base ? base + 1 : f->file;
	int n = f->func[0] ? snprintf(out, cap, "%s+0x%" PRIx64, f->func, f->offset)
			   : snprintf(out, cap, "??");
	if (n >= 0 && (size_t)n < cap && f->inlined[0])
		n += snprintf(out + n, cap - (size_t)n, " [inlined %s]", f->inlined);
	if (n >= 0 && (size_t)n < cap && f->line)
		snprintf(out + n, cap - (size_t)n, " %s:%d", base, f->line);
}

void msf_backtrace_print(const msf_backtrace *bt, int addr_width, const char *indent, FILE *out)
{
	static const char *const how[] = {"", "cfi", "fp", "entry", "scan"};
	for (int i = 0; i < bt->n; i++) {
		char desc[600];
		msf_frame_describe(&bt->frames[i], desc, sizeof desc);
		fprintf(out, "%s#%-2d 0x%0*" PRIx64 " %s%s%s%s\n", indent, i, addr_width,
			bt->frames[i].pc, desc, i ? "  (" : "", i ? how[bt->frames[i].how] : "",
			i ? ")" : "");
	}
}
