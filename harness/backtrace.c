/*
 * Backtraces of a guest stopped by a crash, and the crash buckets built from
 * them.
 *
 * Each step prefers the DWARF call frame information (exact wherever the
 * compiler emitted it, leaf functions and prologues included). Without CFI
 * for a pc, a stop on a function's first instruction (a hook or an abort
 * location at a function, a C library function built without CFI) takes the
 * return address from [rsp] or lr; anywhere else the frame-pointer chain is
 * followed. Every step must land in executable guest memory with a stack
 * pointer above the previous one, so a wrong guess ends the walk instead of
 * inventing frames.
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
		else if ((methods & MSF_UNWIND_FP) && !fp_step(&w, &regs, &next))
			how = MSF_FRAME_FP;
		else
			break;
		/* The stack must grow toward the caller (an entry step on ARM
		 * leaves sp as it is). */
		if (next.r[w.sp_reg] < regs.r[w.sp_reg] ||
		    (next.r[w.sp_reg] == regs.r[w.sp_reg] && how != MSF_FRAME_ENTRY &&
		     how != MSF_FRAME_CFI))
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
		if (f->func[0])
			n += snprintf(key + n, sizeof key - (size_t)n, "|%s+%" PRIx64, f->func,
				      f->offset);
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
	static const char *const how[] = {"", "cfi", "fp", "entry"};
	for (int i = 0; i < bt->n; i++) {
		char desc[600];
		msf_frame_describe(&bt->frames[i], desc, sizeof desc);
		fprintf(out, "%s#%-2d 0x%0*" PRIx64 " %s%s%s%s\n", indent, i, addr_width,
			bt->frames[i].pc, desc, i ? "  (" : "", i ? how[bt->frames[i].how] : "",
			i ? ")" : "");
	}
}
