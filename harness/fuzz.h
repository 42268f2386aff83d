/*
 * memsnap fuzz harness: internal interface shared by the harness sources
 * (config.c, elf.c, ram.c, target.c, report.c) and the three front ends
 * (cli.c: memsnap-fuzz, libfuzzer.c, afl.c).
 *
 * A target is a guest ELF loaded into Unicorn guest RAM managed by memsnap.
 * Its start state (memory and CPU, right before the guest function is called)
 * is checkpointed once; every input then restores that checkpoint, places the
 * input in a guest buffer, sets the argument registers and runs the function
 * until it returns to an exit address, faults, or uses up its instruction
 * budget. Harness-internal names use the msf_ ("memsnap fuzz") prefix.
 *
 * Nothing here is thread-safe: one target per thread.
 */
#ifndef MEMSNAP_HARNESS_FUZZ_H
#define MEMSNAP_HARNESS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memsnap/fuzz.h"

#define MSF_MAX_EXITS 8
#define MSF_MAX_STUBS 64
#define MSF_MAX_REG_KEYS 32
#define MSF_MAX_RAM 16
#define MSF_ERR_LEN 512
#define MSF_DEFAULT_BUDGET 100000u
#define MSF_DEFAULT_INPUT_MAX 4096u

/* ---- Configuration (config.c) ----------------------------------------- */

/* How guest RAM goes back to the start state between inputs. */
typedef enum msf_reset {
	MSF_RESET_MEMSNAP, /* ms_uc_checkpoint_restore: O(dirty pages) */
	MSF_RESET_MEMCPY,  /* copy every byte of guest RAM back (baseline) */
} msf_reset;

/* How the memsnap backend finds the pages an input dirtied (ms_uc_tracking).
 * `exact` (the default) uses a memsnap tracker: uffd-sync where the kernel
 * offers it and no RAM region is file-backed (the harness's only host-side
 * writer is ms_uc_write, so no kernel write needs announcing; the pages every
 * input rewrites stay writable, so an input costs no fault per page), else
 * what MS_TRACKER_AUTO picks; MEMSNAP_TRACKER overrides. `hook` logs guest
 * stores with a Unicorn write hook, which costs every store ~170 host
 * instructions and, on x86 with Unicorn < 2.1, changes some flags. */
typedef enum msf_tracking {
	MSF_TRACK_EXACT, /* MS_UC_TRACK_EXACT */
	MSF_TRACK_HOOK,	 /* MS_UC_TRACK_HOOK */
} msf_tracking;

/* An extra RAM region: zeroed, or holding a file's bytes. */
typedef struct msf_ram_spec {
	uint64_t addr;
	uint64_t size;
	uint32_t perms; /* UC_PROT_* */
	char *file;	/* NULL: zeroed */
	uint64_t file_offset;
} msf_ram_spec;

/* What a guest system call (x86-64 `syscall`, ARM `svc`) does. */
typedef enum msf_syscall_policy {
	MSF_SYSCALL_CRASH,   /* the run ends as a `syscall` crash (the default) */
	MSF_SYSCALL_ERROR,   /* the call returns -ENOSYS and the guest goes on */
	MSF_SYSCALL_EXIT,    /* the run ends normally; the first argument is the
			      * return value (exit status) */
	MSF_SYSCALL_EMULATE, /* x86-64: the calls a C library makes on its hot
			      * paths are answered (sysemu.c), the rest as error */
} msf_syscall_policy;

/* stub = LOC [return=N]: the function at LOC returns N at once. */
typedef struct msf_stub_spec {
	char *loc;
	uint64_t retval;
} msf_stub_spec;

/* reg = NAME VALUE: VALUE is a number or a location. */
typedef struct msf_reg_spec {
	char *name;
	char *value;
} msf_reg_spec;

/* heap = sanitize: the guest's allocator served by the harness (heap.c). */
typedef struct msf_heap_spec {
	int sanitize;
	uint64_t arena_addr; /* guest address of the arena */
	uint64_t arena_size;
	/* Symbols of malloc, free, calloc, realloc (NULL: those names); the
	 * newlib _malloc_r family is hooked too where present. */
	char *names[4];
} msf_heap_spec;

#define MSF_HEAP_DEFAULT_ARENA 0x70000000u
#define MSF_HEAP_DEFAULT_SIZE (16u << 20)
#define MSF_SYSCALL_DEFAULT_ARENA 0x60000000u
#define MSF_SYSCALL_DEFAULT_SIZE (64u << 20)

/* Locations (entry, exits, input buffer, ...) are kept as text and resolved
 * against the ELF symbol table when the target is built: "symbol",
 * "symbol+0x10" or a number. */
typedef struct msf_config {
	char *elf;
	/* A start state captured from a process (memsnap-fuzz capture,
	 * capture.h) instead of an ELF: the run starts at its registers. */
	char *state;
	/* An ELF core file (kernel or gcore) as the start state (core.c). */
	char *core;
	char *arch; /* NULL: from the ELF header */
	char *entry;
	char *exits[MSF_MAX_EXITS];
	int n_exits;
	char *abort_at;
	char *input;
	uint64_t input_max; /* 0: the input symbol's size, else 4096 */
	char *input_ptr_reg;
	char *input_len_reg;
	char *stack_top;
	msf_ram_spec ram[MSF_MAX_RAM];
	int n_ram;
	uint64_t budget;
	msf_reset reset;
	msf_tracking tracking;
	char *crash_dir;
	int save_timeouts;
	int prefault;
	char *stats_file;
	int progress;
	int quiet;
	int stop_on_known; /* libFuzzer: abort on crashes of known buckets too */
	msf_stub_spec stubs[MSF_MAX_STUBS];
	int n_stubs;
	msf_reg_spec regs[MSF_MAX_REG_KEYS];
	int n_regs;
	char *init;
	msf_syscall_policy syscall;
	uint64_t syscall_arena_addr, syscall_arena_size; /* syscall = emulate */
	msf_heap_spec heap;
	char *extension; /* shared object defining MSF_EXTENSION */
} msf_config;

void msf_config_init(msf_config *c);
void msf_config_free(msf_config *c);

/* Set one key (a line `key = value` of a config file, or `--key=value`).
 * Returns 0, or -1 with a message in err. `repeat_ok` lets later settings
 * override earlier ones (command line over file); a config file may set a
 * scalar key only once. */
int msf_config_set(msf_config *c, const char *key, const char *value, int repeat_ok, char *err,
		   size_t errlen);

/* Parse config text; `name` prefixes messages ("name:line: ..."). */
int msf_config_parse_text(msf_config *c, const char *text, const char *name, char *err,
			  size_t errlen);
int msf_config_parse_file(msf_config *c, const char *path, char *err, size_t errlen);

/* Take `--config=FILE` and every `--key=value` out of argv (the file first,
 * whatever its position), leaving the other arguments in order. Arguments
 * after a lone `--` are left alone. */
int msf_config_parse_args(msf_config *c, int *argc, char **argv, char *err, size_t errlen);

/* Check that the configuration is complete (an ELF to load). */
int msf_config_check(const msf_config *c, char *err, size_t errlen);

/* The documented keys, for --help. */
void msf_config_usage(FILE *out);

/* Numbers with an optional K/M/G suffix (binary). */
int msf_parse_u64(const char *s, uint64_t *out);

/* ---- ELF images (elf.c) ------------------------------------------------ */

typedef struct msf_segment {
	uint64_t vaddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t offset;
	uint32_t perms; /* UC_PROT_* */
} msf_segment;

typedef struct msf_symbol {
	char *name;
	uint64_t value; /* as in the symbol table: odd for Thumb functions */
	uint64_t size;
	int is_func;
} msf_symbol;

typedef struct msf_elf {
	int machine; /* EM_X86_64, EM_ARM */
	uint64_t entry;
	msf_segment *segs;
	size_t n_segs;
	msf_symbol *syms;
	size_t n_syms;
	uint8_t *image; /* the whole file */
	size_t image_size;
} msf_elf;

int msf_elf_load(const char *path, msf_elf *elf, char *err, size_t errlen);
void msf_elf_free(msf_elf *elf);
/* Append the symbols of the ELF file `path` (.symtab and .dynsym), as mapped
 * in a process whose mapping of the file's offset 0 starts at `base`: values
 * are moved by the load bias, which goes to *bias_out (may be NULL). Sets
 * elf->machine if it is 0. Returns 0 or -1 with a message in err. */
int msf_elf_add_symbols(msf_elf *elf, const char *path, uint64_t base, uint64_t *bias_out,
			char *err, size_t errlen);
const msf_symbol *msf_elf_symbol(const msf_elf *elf, const char *name);
/* The function symbol containing (or nearest below) addr; NULL if none. */
const msf_symbol *msf_elf_symbolize(const msf_elf *elf, uint64_t addr);

/* ---- Guest RAM backends (ram.c) ---------------------------------------- */

typedef struct uc_struct msf_uc;
typedef struct msf_ram msf_ram;

/* Exact tracking uses MS_TRACKER_AUTO (or MEMSNAP_TRACKER). */
/* from_process: the RAM of a state captured from a process (state, core),
 * which picks the tracker that suits file-backed regions. */
int msf_ram_new(msf_reset kind, msf_tracking tracking, int from_process, msf_uc *uc,
		msf_ram **out);
void msf_ram_free(msf_ram *r);
int msf_ram_map_zeroed(msf_ram *r, uint64_t addr, uint64_t size, uint32_t perms);
/* The RAM regions of an open engine save state (memsnap/uc_state.h) in
 * place of every region mapped so far, registers included; the memsnap
 * backend only (-EOPNOTSUPP). O(metadata): pages are read when touched. */
typedef struct ms_state ms_state;
int msf_ram_load_state(msf_ram *r, ms_state *st);
int msf_ram_map_file(msf_ram *r, uint64_t addr, uint64_t size, uint32_t perms, const char *path,
		     uint64_t offset);
int msf_ram_write(msf_ram *r, uint64_t addr, const void *buf, size_t len);
int msf_ram_read(msf_ram *r, uint64_t addr, void *buf, size_t len);
/* Host address of guest RAM at addr and the bytes up to its region's end,
 * or NULL. For reading: writes through it are not tracked by tracking =
 * hook (use msf_ram_write). */
void *msf_ram_host_ptr(msf_ram *r, uint64_t addr, size_t *avail);
/* Touch every page of every region (read), to populate it. */
void msf_ram_prefault(msf_ram *r);
/* Record the start state (CPU and memory), then restore to it. */
int msf_ram_checkpoint(msf_ram *r);
int msf_ram_restore(msf_ram *r, uint64_t *dirty_pages);
/* Run the guest; returns 0 or a memsnap error (MS_ERR_UC_BASE - uc_err). */
int msf_ram_run(msf_ram *r, uint64_t begin, uint64_t until, uint64_t count);
uint64_t msf_ram_total_pages(const msf_ram *r);
/* Pages of guest RAM that differ from what the next restore puts back but
 * were not recorded as written (ms_uc_verify): 0 when tracking saw every
 * writer. O(RAM size); for tests. -EOPNOTSUPP for the memcpy backend, which
 * tracks nothing. */
long msf_ram_verify(msf_ram *r);
/* "hook", "exact/<tracker>" (memsnap) or "-" (memcpy). */
const char *msf_ram_tracking_name(const msf_ram *r);

/* ---- Targets (target.c) -------------------------------------------------- */

typedef enum msf_kind {
	MSF_KIND_OK,
	MSF_KIND_TIMEOUT,
	MSF_KIND_READ_UNMAPPED,
	MSF_KIND_WRITE_UNMAPPED,
	MSF_KIND_FETCH_UNMAPPED,
	MSF_KIND_READ_PROT,
	MSF_KIND_WRITE_PROT,
	MSF_KIND_FETCH_PROT,
	MSF_KIND_INSN_INVALID,
	MSF_KIND_ABORT,
	MSF_KIND_EXCEPTION, /* an unhandled interrupt or CPU exception */
	MSF_KIND_ERROR,	    /* the harness or engine failed, not the guest */
	MSF_KIND_HLT,	    /* x86 hlt: the guest stopped the CPU (not a crash) */
	MSF_KIND_WFI,	    /* ARM wfi: the same on ARM (not a crash) */
	MSF_KIND_BKPT,	    /* ARM bkpt, x86 int3 */
	MSF_KIND_SYSCALL,   /* a system call under syscall = crash */
	MSF_KIND_HEAP_OVERFLOW,
	MSF_KIND_HEAP_UNDERFLOW,
	MSF_KIND_USE_AFTER_FREE,
	MSF_KIND_DOUBLE_FREE,
	MSF_KIND_INVALID_FREE,
	/* Kinds named by extensions (msf_crash), registered on first use. */
	MSF_KIND_USER_FIRST,
	MSF_KIND_USER_LAST = MSF_KIND_USER_FIRST + 15,
	MSF_KIND_COUNT_
} msf_kind;

#define MSF_MAX_REGS 20

typedef struct msf_result {
	msf_kind kind;
	int err;       /* the ms_uc_run return value */
	uint64_t pc;   /* where execution stopped (the faulting instruction) */
	uint64_t addr; /* faulting data address (memory faults) */
	int access_size;
	int have_addr;
	uint64_t retval; /* eax / r0 on a normal exit */
	uint64_t regs[MSF_MAX_REGS];
	int n_regs;
	/* One line of detail for the report: the heap sanitizer's chunk and
	 * allocation/free sites, a syscall's number. Empty when none. */
	char detail[320];
} msf_result;

typedef struct msf_stats {
	uint64_t execs;
	uint64_t crashes;
	uint64_t timeouts;
	uint64_t iter_ns;    /* restore + input + run, summed */
	uint64_t restore_ns; /* restore alone */
	uint64_t dirty_pages;
	uint64_t start_ns; /* monotonic time of the first run */
	uint64_t edges;	   /* distinct coverage map entries seen (when known) */
} msf_stats;

typedef struct msf_target msf_target;

/* Build a target: load, set up (extension included: c->extension is
 * dlopen'ed unless `ext` is given, which then wins), checkpoint. */
int msf_target_new(const msf_config *c, msf_target **out, char *err, size_t errlen);
int msf_target_new_ext(const msf_config *c, const msf_extension *ext, msf_target **out, char *err,
		       size_t errlen);
void msf_target_free(msf_target *t);

/* Guest coverage: each translation block executed hashes (previous block,
 * this block) into map[size] (size a power of two) and increments it. */
void msf_target_set_coverage(msf_target *t, uint8_t *map, size_t size);

/* Run one input (truncated to the input buffer size). */
int msf_target_run(msf_target *t, const uint8_t *data, size_t len, msf_result *res);

const msf_config *msf_target_config(const msf_target *t);
const msf_elf *msf_target_elf(const msf_target *t);
const msf_stats *msf_target_stats(const msf_target *t);
size_t msf_target_input_max(const msf_target *t);
const char *msf_target_arch_name(const msf_target *t);
const char *msf_target_reset_name(const msf_target *t);
/* "hook", "exact/uffd-async", ...; "-" for reset=memcpy. */
const char *msf_target_tracking_name(const msf_target *t);
/* msf_ram_verify of the target's guest RAM (see above). */
long msf_target_verify(msf_target *t);
/* Register names matching msf_result.regs. */
const char *const *msf_target_reg_names(const msf_target *t, int *n);
msf_uc *msf_target_engine(msf_target *t);
/* Pages of guest RAM mapped (what --reset=memcpy copies per input). */
uint64_t msf_target_ram_pages(const msf_target *t);
/* 1 at most once a second: time to refresh the progress line. */
int msf_target_tick(msf_target *t, uint64_t now_ns);

/* ---- Reports (report.c) ------------------------------------------------- */

const char *msf_kind_name(msf_kind kind);
/* The kind for an extension's crash name, registered on first use (a
 * process-wide table of MSF_KIND_USER_LAST - MSF_KIND_USER_FIRST + 1
 * names, append-only and guarded by a lock, because msf_kind_name has no
 * target to hang it on). Returns the kind, or -EINVAL / -ENOSPC. */
int msf_kind_register(const char *name);
int msf_kind_is_crash(msf_kind kind);
uint64_t msf_hash(const uint8_t *data, size_t len);

/* Print the crash report of `res` (kind, PC, address, instruction,
 * registers) for the input data[len]. */
void msf_report(msf_target *t, const msf_result *res, const uint8_t *data, size_t len,
		const char *saved_as, FILE *out);

/* Save a crashing input as <crash_dir>/crash-<kind>-<bucket> (triage.h:
 * one name per bug; an existing file is replaced only by a smaller input),
 * a timeout as <crash_dir>/timeout-<hash>; the path goes to path[cap].
 * Returns 0 when the file is new, 1 when one of that name was there
 * already (a known bug), or -errno. */
int msf_save_input(msf_target *t, const msf_result *res, const uint8_t *data, size_t len,
		   char *path, size_t cap);

/* Campaign statistics: one human line, or `key: value` lines (stats file). */
void msf_stats_line(const msf_target *t, FILE *out);
void msf_stats_write_file(const msf_target *t, const char *path);

/* Handle one result the way every front end does: on a crash save the
 * input and, for a bucket that had no file yet, print the report; on a
 * timeout save it when asked. Also updates the progress line and stats file
 * once a second. Returns 1 for a crash of a known bucket (its file was in
 * crash_dir already), else 0. */
int msf_after_run(msf_target *t, const msf_result *res, const uint8_t *data, size_t len);

uint64_t msf_now_ns(void);

/* ---- AFL++ (afl_map.c) ------------------------------------------------- */

/* AFL++'s shared coverage map and its usable size (a power of two), or
 * NULL outside an AFL++ build or before the fork server attached it. */
uint8_t *msf_afl_map(size_t *size);
/* Before __AFL_INIT(): ask the fork server to announce a map of `size`. */
void msf_afl_reserve_map(size_t size);

#endif
