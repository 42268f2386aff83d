/*
 * Start states captured from a live process (capture.c) and loaded as a
 * fuzz target's start state (procstate.c). Not installed.
 *
 * A capture is a memsnap engine save state (memsnap/uc_state.h): the
 * process's writable and anonymous memory as regions, its registers as the
 * "uc.cpu" blob, and one more blob, "capture.maps" (type
 * MSF_CAPTURE_BLOB_TYPE), that lists what the state does not copy. The blob
 * is text, one record a line, fields separated by one space, the path last
 * (it runs to the end of the line):
 *
 *   memsnap-capture 1
 *   break ADDR NAME               where the process stopped (rip)
 *   elf BASE PATH                 an ELF file mapped with its offset 0 at BASE
 *   file START SIZE PERMS OFFSET XXH3 PATH
 *                                 a read-only mapping of SIZE bytes of PATH
 *                                 at OFFSET, at guest START with UC_PROT_*
 *                                 PERMS, whose bytes hash to XXH3 (64-bit)
 *
 * Numbers are hexadecimal with 0x. A load maps every `file` record
 * copy-on-write from the file itself and refuses the state if the bytes
 * there no longer hash to XXH3 (the file changed since the capture).
 */
#ifndef MEMSNAP_HARNESS_CAPTURE_H
#define MEMSNAP_HARNESS_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

#define MSF_CAPTURE_BLOB "capture.maps"
#define MSF_CAPTURE_BLOB_TYPE 0x6d730011u
#define MSF_CAPTURE_MAGIC "memsnap-capture 1"

typedef struct msf_capture_opts {
	const char *brk;   /* SYMBOL, SYMBOL+OFF or ADDR */
	const char *out;   /* the state file */
	double timeout_s;  /* to reach the breakpoint; 0: 10 s */
	int keep_cpu;	   /* leave GLIBC_TUNABLES and LD_BIND_NOW alone */
	int quiet;	   /* no summary on stdout */
	char *const *argv; /* the program and its arguments */
} msf_capture_opts;

/* Run argv under ptrace until it reaches o->brk, write the start state to
 * o->out, kill the process. Returns 0, or -1 with a message in err. */
int msf_capture(const msf_capture_opts *o, char *err, size_t errlen);

/* One read-only file mapping of a capture. */
typedef struct msf_capture_file {
	uint64_t start, size, offset, hash;
	uint32_t perms;
	char *path;
} msf_capture_file;

typedef struct msf_capture_elf {
	uint64_t base;
	char *path;
} msf_capture_elf;

typedef struct msf_capture_info {
	uint64_t brk;
	char *brk_name;
	msf_capture_elf *elfs;
	size_t n_elfs;
	msf_capture_file *files;
	size_t n_files;
} msf_capture_info;

/* Parse a "capture.maps" blob. Returns 0, or -1 with a message in err. */
int msf_capture_info_parse(const char *text, size_t len, msf_capture_info *out, char *err,
			   size_t errlen);
void msf_capture_info_free(msf_capture_info *ci);

/* XXH3-64 of `size` bytes of `path` at `offset` (bytes past the end of the
 * file, in its last page, count as zeros, as in a mapping). 0 or -errno. */
int msf_capture_hash_file(const char *path, uint64_t offset, uint64_t size, uint64_t *out);

/* Write x86-64 registers as Linux gives them (struct user_regs_struct and,
 * unless NULL, struct user_fpregs_struct of <sys/user.h>: ptrace, core
 * notes) into an x86-64 engine: the general registers, rip, eflags,
 * fs_base, gs_base, xmm0-15, mxcsr and the x87 control word. 0 or an
 * ms_uc_error code. */
typedef struct uc_struct uc_engine;
int msf__x86_64_regs_write(uc_engine *uc, const void *user_regs, const void *user_fpregs);

#endif
