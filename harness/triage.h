/*
 * memsnap fuzz harness: crash triage. Backtraces of the guest at a crash
 * (DWARF call frame information where the ELF has it, frame pointers
 * otherwise), function names and source lines from DWARF, crash buckets, and
 * the grouping of a directory of crashing inputs (`memsnap-fuzz triage`).
 *
 * Like the rest of the harness: one target per thread.
 */
#ifndef MEMSNAP_HARNESS_TRIAGE_H
#define MEMSNAP_HARNESS_TRIAGE_H

#include "fuzz.h"

/* ---- Target extension points (target.c) -------------------------------- */

typedef struct msf_dwarf msf_dwarf;

msf_ram *msf_target_ram(msf_target *t);
/* The guest ELF's DWARF, opened on first use; NULL if the file has none. */
msf_dwarf *msf_target_dwarf(msf_target *t);
/* The resolved exit addresses (Thumb bit cleared). */
const uint64_t *msf_target_exits(const msf_target *t, int *n);

/* ---- DWARF (dwarf.c, elfutils' libdw) ---------------------------------- */

/* Registers by DWARF number: x86-64 0-16 (rax, rdx, rcx, rbx, rsi, rdi,
 * rbp, rsp, r8-r15, then the return address column, the pc), ARM 0-15. */
#define MSF_DWARF_REGS 17

typedef struct msf_regs {
	uint64_t r[MSF_DWARF_REGS];
	uint32_t valid; /* bit n: r[n] is known */
} msf_regs;

/* Reads a guest word (8 bytes on x86-64, 4 on ARM); 0 or -1. */
typedef int (*msf_read_word)(void *arg, uint64_t addr, uint64_t *out);

/* Opens the DWARF of an ELF file: 0, or -1 when it has no DWARF or CFI at
 * all (then *out is NULL). */
int msf_dwarf_open(const char *path, msf_dwarf **out);
void msf_dwarf_close(msf_dwarf *d);

/* The source line of addr: *file (owned by d) and *line, or 0 if unknown.
 * Returns 1 when found. */
int msf_dwarf_source(msf_dwarf *d, uint64_t addr, const char **file, int *line);

/* The innermost function containing addr, inlined ones included, by its
 * DWARF name (owned by d); NULL if unknown. */
const char *msf_dwarf_function(msf_dwarf *d, uint64_t addr);

/* One step of unwinding with the call frame information covering `lookup`
 * (.eh_frame, then .debug_frame): the caller's registers from the callee's.
 * pc_reg is the DWARF number of the pc (16 on x86-64, 15 on ARM), sp_reg of
 * the stack pointer. Returns 0, or -1 when no CFI covers lookup or a rule
 * cannot be evaluated. */
int msf_dwarf_cfi_step(msf_dwarf *d, uint64_t lookup, int pc_reg, int sp_reg, int word,
		       const msf_regs *in, msf_regs *out, msf_read_word read, void *arg);

/* ---- Backtraces and buckets (backtrace.c) ------------------------------ */

#define MSF_MAX_FRAMES 32
#define MSF_BUCKET_FRAMES 3

/* How a frame was found. */
typedef enum msf_frame_how {
	MSF_FRAME_PC,	 /* frame 0: where the guest stopped */
	MSF_FRAME_CFI,	 /* DWARF call frame information */
	MSF_FRAME_FP,	 /* the frame-pointer chain (rbp; r7 in Thumb, r11 in ARM) */
	MSF_FRAME_ENTRY, /* stopped on a function's first instruction: the
			    return address is at [rsp] (x86-64) or in lr (ARM) */
	MSF_FRAME_SCAN,	 /* a heuristic: the first word up the stack that is an
			    address in code right after a call instruction */
} msf_frame_how;

/* Unwinding methods, for msf_backtrace's `methods` (tests pick one). */
#define MSF_UNWIND_CFI 1u
#define MSF_UNWIND_FP 2u   /* frame pointers, and the function-entry rule */
#define MSF_UNWIND_SCAN 4u /* stack scanning, where neither of the others fits */
#define MSF_UNWIND_ALL (MSF_UNWIND_CFI | MSF_UNWIND_FP | MSF_UNWIND_SCAN)

typedef struct msf_frame {
	uint64_t pc; /* frame 0: the stop pc; others: the return address */
	msf_frame_how how;
	char func[128];	  /* ELF symbol ("" if none) */
	uint64_t offset;  /* pc - the symbol's address */
	char inlined[96]; /* DWARF name of an inlined function at pc, if any */
	char file[256];	  /* DWARF source file ("" if unknown) */
	int line;	  /* of pc, or of the call (pc - 1) for callers */
} msf_frame;

typedef struct msf_backtrace {
	msf_frame frames[MSF_MAX_FRAMES];
	int n;
} msf_backtrace;

/* The guest's call stack where `res` stopped, read from its registers and
 * from guest memory as the run left them (so before the next run). Walks
 * from the stop pc up to the function the harness called, preferring CFI,
 * then the function-entry rule, then frame pointers in a function that sets
 * one up (x86-64: its first instructions are push rbp; mov rbp, rsp), then
 * stack scanning; stops at an exit address, at a pc outside executable
 * guest memory, or when the stack does not grow. Always yields at least
 * frame 0. */
void msf_backtrace_get(msf_target *t, const msf_result *res, unsigned methods, msf_backtrace *bt);

/* The bucket of a crash: 64-bit FNV-1a of the kind, of frame 0 as
 * symbol+offset and of the next callers up to MSF_BUCKET_FRAMES frames as
 * symbol names (a pc where there is no symbol), so that it depends only on
 * where the guest crashed and through which functions, not on the input,
 * nor on which of several calls of one function in a caller was taken. */
uint64_t msf_bucket(msf_kind kind, const msf_backtrace *bt);

/* "name_set+0x1c heap.c:70" (file without its directory). */
void msf_frame_describe(const msf_frame *f, char *out, size_t cap);

/* Print a backtrace, one frame a line, each prefixed with indent. */
void msf_backtrace_print(const msf_backtrace *bt, int addr_width, const char *indent, FILE *out);

/* ---- Triage (triage.c) ------------------------------------------------- */

typedef struct msf_triage_input {
	const char *path;
	const uint8_t *data;
	size_t len;
} msf_triage_input;

/* Runs every input once, groups the crashes by bucket and prints a summary
 * (kind, count, top frames and the smallest input of each bucket, largest
 * bucket first) followed by the full report of each bucket's smallest
 * input. Returns the number of buckets, or -errno. */
int msf_triage(msf_target *t, const msf_triage_input *in, size_t n, FILE *out);

#endif
