/*
 * Outcomes as people read them: crash reports (kind, PC, faulting address,
 * the faulting instruction disassembled with capstone, registers), saved
 * crashing inputs, and campaign statistics.
 */
#define _GNU_SOURCE
#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unicorn/unicorn.h>

#include "memsnap/memsnap.h"
#include "fuzz.h"
#include "triage.h"

static const char *const kind_names[MSF_KIND_COUNT_] = {
    [MSF_KIND_OK] = "ok",
    [MSF_KIND_TIMEOUT] = "timeout",
    [MSF_KIND_READ_UNMAPPED] = "read-unmapped",
    [MSF_KIND_WRITE_UNMAPPED] = "write-unmapped",
    [MSF_KIND_FETCH_UNMAPPED] = "fetch-unmapped",
    [MSF_KIND_READ_PROT] = "read-protected",
    [MSF_KIND_WRITE_PROT] = "write-protected",
    [MSF_KIND_FETCH_PROT] = "fetch-protected",
    [MSF_KIND_INSN_INVALID] = "invalid-instruction",
    [MSF_KIND_ABORT] = "abort",
    [MSF_KIND_EXCEPTION] = "exception",
    [MSF_KIND_ERROR] = "harness-error",
    [MSF_KIND_HLT] = "hlt",
    [MSF_KIND_WFI] = "wfi",
    [MSF_KIND_BKPT] = "bkpt",
    [MSF_KIND_SYSCALL] = "syscall",
    [MSF_KIND_HEAP_OVERFLOW] = "heap-overflow",
    [MSF_KIND_HEAP_UNDERFLOW] = "heap-underflow",
    [MSF_KIND_USE_AFTER_FREE] = "use-after-free",
    [MSF_KIND_DOUBLE_FREE] = "double-free",
    [MSF_KIND_INVALID_FREE] = "invalid-free",
};

/* Names of extension crash kinds (msf_crash): process-wide because
 * msf_kind_name takes no target; append-only under a lock, so a name once
 * returned stays valid. */
static pthread_mutex_t user_kinds_lock = PTHREAD_MUTEX_INITIALIZER;
static char user_kinds[MSF_KIND_USER_LAST - MSF_KIND_USER_FIRST + 1][32];
static int n_user_kinds;

int msf_kind_register(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	if (!len || len >= sizeof user_kinds[0])
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			return -EINVAL;
	for (int k = 0; k < MSF_KIND_USER_FIRST; k++)
		if (kind_names[k] && !strcmp(kind_names[k], name))
			return k;
	int rc = -ENOSPC;
	pthread_mutex_lock(&user_kinds_lock);
	for (int i = 0; i < n_user_kinds && rc < 0; i++)
		if (!strcmp(user_kinds[i], name))
			rc = MSF_KIND_USER_FIRST + i;
	if (rc < 0 && n_user_kinds <= MSF_KIND_USER_LAST - MSF_KIND_USER_FIRST) {
		memcpy(user_kinds[n_user_kinds], name, len + 1);
		rc = MSF_KIND_USER_FIRST + n_user_kinds++;
	}
	pthread_mutex_unlock(&user_kinds_lock);
	return rc;
}

const char *msf_kind_name(msf_kind kind)
{
	if (kind >= MSF_KIND_USER_FIRST && kind <= MSF_KIND_USER_LAST) {
		const char *name = "?";
		pthread_mutex_lock(&user_kinds_lock);
		if ((int)kind - MSF_KIND_USER_FIRST < n_user_kinds)
			name = user_kinds[kind - MSF_KIND_USER_FIRST];
		pthread_mutex_unlock(&user_kinds_lock);
		return name;
	}
	return kind < MSF_KIND_COUNT_ && kind_names[kind] ? kind_names[kind] : "?";
}

/* hlt and wfi end a run the way a device idles: the input is done, nothing
 * went wrong that the guest did not ask for. */
int msf_kind_is_crash(msf_kind kind)
{
	return kind != MSF_KIND_OK && kind != MSF_KIND_TIMEOUT && kind != MSF_KIND_ERROR &&
	       kind != MSF_KIND_HLT && kind != MSF_KIND_WFI;
}

/* FNV-1a, 64 bits: names saved inputs; not a security boundary. */
uint64_t msf_hash(const uint8_t *data, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return h;
}

static const char *access_of(msf_kind k)
{
	switch (k) {
	case MSF_KIND_READ_UNMAPPED:
	case MSF_KIND_READ_PROT:
		return "read";
	case MSF_KIND_WRITE_UNMAPPED:
	case MSF_KIND_WRITE_PROT:
		return "write";
	default:
		return "fetch";
	}
}

/* The instruction at pc, or a note saying why there is none. */
static void disassemble(msf_target *t, uint64_t pc, char *out, size_t cap)
{
	uint8_t code[16];
	size_t n = sizeof code;
	uc_engine *uc = msf_target_engine(t);
	while (n && uc_mem_read(uc, pc, code, n))
		n--;
	if (!n) {
		snprintf(out, cap, "(no readable code at this address)");
		return;
	}
	int arm = msf_target_elf(t)->machine == EM_ARM;
	int thumb = arm && !strcmp(msf_target_arch_name(t), "thumb");
	csh cs;
	if (cs_open(arm ? CS_ARCH_ARM : CS_ARCH_X86,
		    arm ? (thumb ? CS_MODE_THUMB : CS_MODE_ARM) : CS_MODE_64, &cs) != CS_ERR_OK) {
		snprintf(out, cap, "(capstone unavailable)");
		return;
	}
	cs_insn *insn = NULL;
	size_t count = cs_disasm(cs, code, n, pc, 1, &insn);
	if (count) {
		char hex[64] = "";
		for (size_t i = 0; i < insn[0].size && i < 16; i++)
			snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", insn[0].bytes[i]);
		snprintf(out, cap, "%s %s    [%.*s]", insn[0].mnemonic, insn[0].op_str,
			 (int)(3 * insn[0].size - 1), hex);
		cs_free(insn, count);
	} else {
		snprintf(out, cap, "(not a valid instruction: %02x %02x %02x %02x)", code[0],
			 n > 1 ? code[1] : 0, n > 2 ? code[2] : 0, n > 3 ? code[3] : 0);
	}
	cs_close(&cs);
}

static void symbolize(const msf_target *t, uint64_t addr, char *out, size_t cap)
{
	const msf_elf *elf = msf_target_elf(t);
	const msf_symbol *s = msf_elf_symbolize(elf, addr);
	if (!s) {
		out[0] = 0;
		return;
	}
	uint64_t v = elf->machine == EM_ARM ? s->value & ~1ull : s->value;
	snprintf(out, cap, " <%s+0x%" PRIx64 ">", s->name, addr - v);
}

void msf_report(msf_target *t, const msf_result *res, const uint8_t *data, size_t len,
		const char *saved_as, FILE *out)
{
	const msf_config *c = msf_target_config(t);
	char sym[300], insn[300];
	int w = msf_target_elf(t)->machine == EM_ARM ? 8 : 16;
	symbolize(t, res->pc, sym, sizeof sym);
	if (res->kind == MSF_KIND_TIMEOUT)
		fprintf(out,
			"==memsnap-fuzz== TIMEOUT: %" PRIu64
			" instructions without reaching an exit\n",
			c->budget);
	else if (res->kind == MSF_KIND_ERROR)
		fprintf(out, "==memsnap-fuzz== HARNESS ERROR: %s\n", ms_strerror(res->err));
	else if (res->kind == MSF_KIND_HLT || res->kind == MSF_KIND_WFI)
		fprintf(out, "==memsnap-fuzz== HALTED: the guest ran %s\n",
			msf_kind_name(res->kind));
	else
		fprintf(out, "==memsnap-fuzz== CRASH: %s\n", msf_kind_name(res->kind));
	fprintf(out, "  pc:        0x%0*" PRIx64 "%s\n", w, res->pc, sym);
	msf_backtrace bt;
	msf_backtrace_get(t, res, MSF_UNWIND_ALL, &bt);
	/* The line of the pc above; a hook may have named another pc than the
	 * one the guest stands at, and then the backtrace tells both. */
	if (bt.frames[0].line && bt.frames[0].pc == res->pc) {
		const char *base = strrchr(bt.frames[0].file, '/');
		fprintf(out, "  source:    %s:%d\n", base ? base + 1 : bt.frames[0].file,
			bt.frames[0].line);
	}
	disassemble(t, res->pc, insn, sizeof insn);
	fprintf(out, "  insn:      %s\n", insn);
	if (res->have_addr)
		fprintf(out, "  address:   0x%0*" PRIx64 " (%s of %d bytes, %s)\n", w, res->addr,
			access_of(res->kind), res->access_size,
			strstr(msf_kind_name(res->kind), "unmapped") ? "unmapped"
								     : "not permitted");
	if (res->detail[0])
		fprintf(out, "  detail:    %s\n", res->detail);
	if (res->err && res->kind != MSF_KIND_ERROR)
		fprintf(out, "  unicorn:   %s\n", ms_strerror(res->err));
	fprintf(out, "  input:     %zu bytes, hash %016" PRIx64 "\n", len, msf_hash(data, len));
	if (msf_kind_is_crash(res->kind))
		fprintf(out, "  bucket:    %016" PRIx64 " (kind and top %d frames)\n",
			msf_bucket(res->kind, &bt), MSF_BUCKET_FRAMES);
	if (saved_as)
		fprintf(out, "  saved as:  %s\n", saved_as);
	fprintf(out, "  target:    %s %s, budget %" PRIu64 " instructions\n",
		msf_target_arch_name(t), c->elf, c->budget);
	int n;
	const char *const *names = msf_target_reg_names(t, &n);
	fprintf(out, "  registers:\n");
	for (int i = 0; i < res->n_regs && i < n; i++)
		fprintf(out, "%s%-6s 0x%0*" PRIx64 "%s", i % 4 ? "  " : "    ", names[i], w,
			res->regs[i], i % 4 == 3 || i == res->n_regs - 1 ? "\n" : "");
	fprintf(out, "  backtrace:\n");
	msf_backtrace_print(&bt, w, "    ", out);
}

/* Writes data to path through a temporary file, so that a reader never sees
 * half an input. */
static int write_file(const char *path, const uint8_t *data, size_t len)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = len ? write(fd, data, len) : 0;
	int rc = n == (ssize_t)len ? 0 : -EIO;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int msf_save_input(msf_target *t, const msf_result *res, const uint8_t *data, size_t len,
		   char *path, size_t cap)
{
	const msf_config *c = msf_target_config(t);
	const char *dir = c->crash_dir ? c->crash_dir : ".";
	if (res->kind == MSF_KIND_TIMEOUT) {
		snprintf(path, cap, "%s/timeout-%016" PRIx64, dir, msf_hash(data, len));
		return access(path, F_OK) == 0 ? 0 : write_file(path, data, len);
	}
	/* A crash is named by its bucket: every input that hits the same bug
	 * the same way gets the same name, and the file keeps the smallest. */
	msf_backtrace bt;
	msf_backtrace_get(t, res, MSF_UNWIND_ALL, &bt);
	snprintf(path, cap, "%s/crash-%s-%016" PRIx64, dir, msf_kind_name(res->kind),
		 msf_bucket(res->kind, &bt));
	struct stat st;
	if (stat(path, &st) != 0)
		return write_file(path, data, len);
	if ((uint64_t)st.st_size <= len)
		return 1;
	int rc = write_file(path, data, len);
	return rc ? rc : 1;
}

void msf_stats_line(const msf_target *t, FILE *out)
{
	const msf_stats *s = msf_target_stats(t);
	double secs = s->execs ? (double)(msf_now_ns() - s->start_ns) / 1e9 : 0;
	double n = s->execs ? (double)s->execs : 1;
	fprintf(out,
		"execs %" PRIu64 "  %.0f execs/s  iteration %.2f us  restore %.2f us (%.1f%%)  "
		"dirty %.1f pages/iter  crashes %" PRIu64 "  timeouts %" PRIu64 "  [%s, %s]",
		s->execs, secs > 0 ? (double)s->execs / secs : 0, (double)s->iter_ns / n / 1e3,
		(double)s->restore_ns / n / 1e3,
		s->iter_ns ? 100.0 * (double)s->restore_ns / (double)s->iter_ns : 0,
		(double)s->dirty_pages / n, s->crashes, s->timeouts, msf_target_reset_name(t),
		msf_target_tracking_name(t));
}

void msf_stats_write_file(const msf_target *t, const char *path)
{
	const msf_stats *s = msf_target_stats(t);
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	double secs = s->execs ? (double)(msf_now_ns() - s->start_ns) / 1e9 : 0;
	double n = s->execs ? (double)s->execs : 1;
	fprintf(f, "execs: %" PRIu64 "\n", s->execs);
	fprintf(f, "elapsed_s: %.3f\n", secs);
	fprintf(f, "execs_per_sec: %.0f\n", secs > 0 ? (double)s->execs / secs : 0);
	fprintf(f, "iteration_us: %.3f\n", (double)s->iter_ns / n / 1e3);
	fprintf(f, "restore_us: %.3f\n", (double)s->restore_ns / n / 1e3);
	fprintf(f, "restore_share_pct: %.2f\n",
		s->iter_ns ? 100.0 * (double)s->restore_ns / (double)s->iter_ns : 0);
	fprintf(f, "dirty_pages_per_exec: %.2f\n", (double)s->dirty_pages / n);
	fprintf(f, "ram_pages: %" PRIu64 "\n", msf_target_ram_pages(t));
	fprintf(f, "crashes: %" PRIu64 "\n", s->crashes);
	fprintf(f, "timeouts: %" PRIu64 "\n", s->timeouts);
	fprintf(f, "reset: %s\n", msf_target_reset_name(t));
	fprintf(f, "tracking: %s\n", msf_target_tracking_name(t));
	fprintf(f, "arch: %s\n", msf_target_arch_name(t));
	fclose(f);
	rename(tmp, path);
}

int msf_after_run(msf_target *t, const msf_result *res, const uint8_t *data, size_t len)
{
	const msf_config *c = msf_target_config(t);
	if (len > msf_target_input_max(t))
		len = msf_target_input_max(t);
	int crash = msf_kind_is_crash(res->kind) || res->kind == MSF_KIND_ERROR;
	int known = 0;
	if (crash || (res->kind == MSF_KIND_TIMEOUT && c->save_timeouts)) {
		char path[4096];
		int rc = msf_save_input(t, res, data, len, path, sizeof path);
		if (rc < 0)
			fprintf(stderr, "memsnap-fuzz: cannot save %s: %s\n", path, strerror(-rc));
		known = crash && rc == 1;
		if (crash && !known && !c->quiet)
			msf_report(t, res, data, len, rc ? NULL : path, stderr);
	}
	uint64_t now = msf_now_ns();
	if ((c->progress || c->stats_file) && (crash || msf_target_tick(t, now))) {
		if (c->stats_file)
			msf_stats_write_file(t, c->stats_file);
		if (c->progress) {
			fprintf(stderr, "\r[memsnap] ");
			msf_stats_line(t, stderr);
			fflush(stderr);
		}
	}
	return known;
}
