/*
 * memsnap-fuzz capture: a start state taken from a live x86-64 Linux
 * process with ptrace (capture.h has the file's form).
 *
 * The program runs as our traced child. It stops first at its own entry
 * point (AT_ENTRY), after the dynamic loader has mapped its libraries, so
 * that a symbol of any of them resolves (libelf, with each file's load
 * bias). An int3 there, continue; on the hit the byte goes back and rip
 * moves back onto it. Then the registers and the memory map are read: what
 * the process wrote (writable and anonymous mappings, and read-only file
 * mappings that no longer match their file, such as relocated RELRO pages)
 * is copied into an engine save state; read-only mappings that match their
 * file are only recorded, to be mapped from the file at load. The process is
 * killed.
 *
 * Unicorn 2 emulates no AVX and no xsavec: unless told otherwise, the
 * program runs with GLIBC_TUNABLES hiding AVX from glibc's function choice
 * and LD_BIND_NOW=1 (no lazy binding, whose resolver saves registers with
 * xsavec), so that the captured code runs under Unicorn.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <unicorn/unicorn.h>
#include <xxhash.h>

#include "capture.h"
#include "target_internal.h"
#include "memsnap/uc_state.h"

#define TUNABLES                                                                                   \
	"glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX_Fast_Unaligned_"  \
	"Load,-FMA,-FMA4,-BMI1,-BMI2,-LZCNT,-MOVBE,-RTM,-XSAVEC"

#define fail msf__fail

typedef struct pmap {
	uint64_t start, end, offset;
	char perms[5];
	char *path; /* "" for anonymous */
} pmap;

typedef struct pmaps {
	pmap *v;
	size_t n;
} pmaps;

static void pmaps_free(pmaps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int read_maps(pid_t pid, pmaps *out)
{
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(name, "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	int rc = 0;
	out->v = NULL;
	out->n = 0;
	while (getline(&line, &cap, f) > 0) {
		pmap p = {0};
		int pos = 0;
		unsigned long long s, e, off;
		if (sscanf(line, "%llx-%llx %4s %llx %*s %*s %n", &s, &e, p.perms, &off, &pos) <
		    4) {
			rc = -EINVAL;
			break;
		}
		char *path = line + pos;
		path[strcspn(path, "\n")] = 0;
		p.start = s, p.end = e, p.offset = off;
		p.path = strdup(path);
		if (out->n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			pmap *v = realloc(out->v, alloc * sizeof *v);
			if (!v) {
				free(p.path);
				rc = -ENOMEM;
				break;
			}
			out->v = v;
		}
		if (!p.path) {
			rc = -ENOMEM;
			break;
		}
		out->v[out->n++] = p;
	}
	free(line);
	fclose(f);
	if (rc)
		pmaps_free(out);
	return rc;
}

/* 1 if `path` starts with the ELF magic. */
static int is_elf_file(const char *path)
{
	if (path[0] != '/')
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	unsigned char m[4];
	int ok = pread(fd, m, 4, 0) == 4 && !memcmp(m, ELFMAG, 4);
	close(fd);
	return ok;
}

/* Symbols of every ELF file mapped in the process, the executable first. */
static int process_symbols(const pmaps *m, msf_elf *elf, char *err, size_t errlen)
{
	memset(elf, 0, sizeof *elf);
	for (size_t i = 0; i < m->n; i++) {
		const pmap *p = &m->v[i];
		if (p->offset || !is_elf_file(p->path))
			continue;
		if (msf_elf_add_symbols(elf, p->path, p->start, NULL, err, errlen))
			return -1;
	}
	return 0;
}

/* The program must be a 64-bit x86-64 ELF (a script or anything else is
 * left to exec). */
static int check_program(const char *prog, char *err, size_t errlen)
{
	char path[4096];
	if (!strchr(prog, '/')) {
		const char *env = getenv("PATH");
		char *dirs = strdup(env ? env : "/usr/bin:/bin"), *save = NULL;
		path[0] = 0;
		for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d;
		     d = strtok_r(NULL, ":", &save)) {
			snprintf(path, sizeof path, "%s/%s", d, prog);
			if (!access(path, X_OK))
				break;
			path[0] = 0;
		}
		free(dirs);
		if (!path[0])
			return 0; /* exec will say */
	} else {
		snprintf(path, sizeof path, "%s", prog);
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_Ehdr eh;
	ssize_t n = pread(fd, &eh, sizeof eh, 0);
	close(fd);
	if (n < EI_NIDENT || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return 0;
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || n < (ssize_t)sizeof eh ||
	    eh.e_machine != EM_X86_64)
		return fail(err, errlen,
			    "%s: not an x86-64 program (ELF class %u, machine %u): "
			    "capture takes x86-64 Linux processes only",
			    prog, eh.e_ident[EI_CLASS], n >= (ssize_t)sizeof eh ? eh.e_machine : 0);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_auxv_entry(pid_t pid, uint64_t *out)
{
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/auxv", (int)pid);
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t av[2];
	int rc = -ENOENT;
	while (read(fd, av, sizeof av) == (ssize_t)sizeof av && av[0] != AT_NULL)
		if (av[0] == AT_ENTRY) {
			*out = av[1];
			rc = 0;
			break;
		}
	close(fd);
	return rc;
}

static int bp_set(pid_t pid, uint64_t addr, long *orig)
{
	errno = 0;
	long w = ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, NULL);
	if (errno)
		return -errno;
	*orig = w;
	if (ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)((w & ~0xffL) | 0xcc)))
		return -errno;
	return 0;
}

/* Continue until the int3 at addr traps; the byte goes back and rip onto
 * it. Signals meant for the process are delivered. */
static int run_to(pid_t pid, uint64_t addr, const char *what, double deadline, char *err,
		  size_t errlen)
{
	long orig;
	int rc = bp_set(pid, addr, &orig);
	if (rc)
		return fail(err, errlen, "cannot set a breakpoint at %s (0x%" PRIx64 "): %s", what,
			    addr, strerror(-rc));
	int sig = 0;
	for (;;) {
		if (ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig))
			return fail(err, errlen, "ptrace(PTRACE_CONT): %s", strerror(errno));
		sig = 0;
		int st;
		pid_t w;
		while ((w = waitpid(pid, &st, WNOHANG | __WALL)) == 0) {
			if (now_s() > deadline)
				return fail(err, errlen,
					    "the program did not reach %s (0x%" PRIx64
					    ") before the timeout",
					    what, addr);
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		if (w < 0)
			return fail(err, errlen, "waitpid: %s", strerror(errno));
		if (WIFEXITED(st))
			return fail(err, errlen,
				    "the program exited with status %d before reaching %s "
				    "(0x%" PRIx64 ")",
				    WEXITSTATUS(st), what, addr);
		if (WIFSIGNALED(st))
			return fail(err, errlen,
				    "the program was killed by signal %d before reaching %s",
				    WTERMSIG(st), what);
		if (!WIFSTOPPED(st))
			continue;
		if (WSTOPSIG(st) != SIGTRAP) {
			sig = WSTOPSIG(st);
			continue;
		}
		struct user_regs_struct r;
		if (ptrace(PTRACE_GETREGS, pid, NULL, &r))
			return fail(err, errlen, "ptrace(PTRACE_GETREGS): %s", strerror(errno));
		if (r.rip - 1 != addr)
			continue;
		r.rip = addr;
		if (ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)orig) ||
		    ptrace(PTRACE_SETREGS, pid, NULL, &r))
			return fail(err, errlen, "ptrace: %s", strerror(errno));
		return 0;
	}
}

/* The program's environment: ours, with GLIBC_TUNABLES and LD_BIND_NOW
 * set unless o->keep_cpu. Made before the fork (the child only execs). */
static char **program_env(const msf_capture_opts *o)
{
	extern char **environ;
	static char tunables[] = "GLIBC_TUNABLES=" TUNABLES, bind_now[] = "LD_BIND_NOW=1";
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 3, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (o->keep_cpu || (strncmp(environ[i], "GLIBC_TUNABLES=", 15) &&
				    strncmp(environ[i], "LD_BIND_NOW=", 12)))
			env[k++] = environ[i];
	if (!o->keep_cpu) {
		env[k++] = tunables;
		env[k++] = bind_now;
	}
	return env;
}

/* Start argv traced, stopped at its exec. The child reports a failed
 * PTRACE_TRACEME or exec through a close-on-exec pipe. */
static int start(const msf_capture_opts *o, pid_t *pid_out, char *err, size_t errlen)
{
	char **env = program_env(o);
	int pfd[2];
	if (!env)
		return fail(err, errlen, "out of memory");
	if (pipe2(pfd, O_CLOEXEC)) {
		free(env);
		return fail(err, errlen, "pipe: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid < 0) {
		free(env);
		close(pfd[0]);
		close(pfd[1]);
		return fail(err, errlen, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(pfd[0]);
		/* Fixed addresses: two captures of one program agree. */
		personality(ADDR_NO_RANDOMIZE);
		int report[2] = {0, 0};
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL)) {
			report[1] = errno;
		} else {
			execvpe(o->argv[0], o->argv, env);
			report[0] = 1;
			report[1] = errno;
		}
		if (write(pfd[1], report, sizeof report) < 0)
			_exit(126);
		_exit(127);
	}
	free(env);
	close(pfd[1]);
	int report[2];
	ssize_t n = read(pfd[0], report, sizeof report);
	close(pfd[0]);
	int st = 0;
	if (n == (ssize_t)sizeof report) {
		waitpid(pid, &st, 0);
		if (report[0])
			return fail(err, errlen, "cannot run %s: %s", o->argv[0],
				    strerror(report[1]));
		return fail(err, errlen,
			    "ptrace(PTRACE_TRACEME): %s: this process may not trace %s (a "
			    "seccomp filter, kernel.yama.ptrace_scope = 3 or a container policy "
			    "forbids it)",
			    strerror(report[1]), o->argv[0]);
	}
	if (waitpid(pid, &st, __WALL) != pid || !WIFSTOPPED(st)) {
		if (!WIFEXITED(st) && !WIFSIGNALED(st)) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, __WALL);
		}
		return fail(err, errlen, "%s did not stop at its exec", o->argv[0]);
	}
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_EXITKILL);
	*pid_out = pid;
	return 0;
}

static uint32_t uc_perms(const char *p)
{
	return (p[0] == 'r' ? UC_PROT_READ : 0) | (p[1] == 'w' ? UC_PROT_WRITE : 0) |
	       (p[2] == 'x' ? UC_PROT_EXEC : 0);
}

static int read_all(int fd, uint64_t off, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

int msf_capture_hash_file(const char *path, uint64_t offset, uint64_t size, uint64_t *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (offset % 4096 || size > UINT64_MAX - offset ||
		 offset + size > (((uint64_t)st.st_size + 4095) & ~4095ull))
		rc = -ERANGE; /* the file is shorter than the mapping now */
	void *p = MAP_FAILED;
	if (!rc && size) {
		p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, (off_t)offset);
		if (p == MAP_FAILED)
			rc = -errno;
	}
	if (!rc)
		*out = size ? XXH3_64bits(p, size) : XXH3_64bits("", 0);
	if (p != MAP_FAILED)
		munmap(p, size);
	close(fd);
	return rc;
}

typedef struct text {
	char *s;
	size_t len, cap;
} text;

static int text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int text_add(text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return 0;
		}
		size_t cap = (t->cap + (size_t)n + 1) * 2;
		char *s = realloc(t->s, cap);
		if (!s)
			return -ENOMEM;
		t->s = s;
		t->cap = cap;
	}
}

/* A read-only file mapping whose bytes are still the file's: 1 and its
 * hash; 0 when it must be copied (written since, or past the file's end). */
static int matches_file(const pmap *p, const uint8_t *mem, uint64_t *hash)
{
	uint64_t size = p->end - p->start;
	int fd = open(p->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stat st;
	int ok = !fstat(fd, &st) && S_ISREG(st.st_mode) &&
		 p->offset + size <= (((uint64_t)st.st_size + 4095) & ~4095ull);
	uint8_t *buf = ok ? calloc(1, size) : NULL;
	ok = ok && buf;
	if (buf) {
		uint64_t in_file = (uint64_t)st.st_size - p->offset;
		ok = !read_all(fd, p->offset, buf, in_file < size ? in_file : size) &&
		     !memcmp(buf, mem, size);
	}
	free(buf);
	close(fd);
	if (ok)
		*hash = XXH3_64bits(mem, size);
	return ok;
}

typedef struct capture_counts {
	uint64_t copied, recorded;
	size_t n_copied, n_recorded;
} capture_counts;

/* A read-only file mapping still as in its file: recorded (1), or 0 to be
 * copied, or -1 with err set. */
static int record_file(int mem, const pmap *p, text *blob, char *err, size_t errlen)
{
	uint64_t size = p->end - p->start, hash;
	if (p->path[0] != '/' || p->perms[1] == 'w')
		return 0;
	uint8_t *buf = malloc(size);
	if (!buf)
		return fail(err, errlen, "out of memory (%" PRIu64 " bytes)", size);
	int same = !read_all(mem, p->start, buf, size) && matches_file(p, buf, &hash);
	free(buf);
	if (same &&
	    text_add(blob,
		     "file 0x%" PRIx64 " 0x%" PRIx64 " %u 0x%" PRIx64 " 0x%016" PRIx64 " %s\n",
		     p->start, size, uc_perms(p->perms), p->offset, hash, p->path))
		return fail(err, errlen, "out of memory");
	return same;
}

/* A mapping's bytes into the engine's RAM, a chunk at a time; all-zero and
 * unreadable chunks stay unwritten (zeros, and holes in the state file). */
static int copy_mapping(int mem, const pmap *p, ms_uc *u)
{
	enum { CHUNK = 1 << 20 };
	static const uint8_t zero[65536];
	uint64_t size = p->end - p->start;
	int e = ms_uc_map_zeroed(u, p->start, size, uc_perms(p->perms));
	uint8_t *buf = e ? NULL : malloc(CHUNK);
	if (!e && !buf)
		e = -ENOMEM;
	for (uint64_t at = 0; !e && at < size; at += CHUNK) {
		size_t k = size - at < CHUNK ? (size_t)(size - at) : CHUNK;
		if (read_all(mem, p->start + at, buf, k))
			continue;
		for (size_t z = 0; !e && z < k; z += sizeof zero) {
			size_t n = k - z < sizeof zero ? k - z : sizeof zero;
			if (memcmp(buf + z, zero, n))
				e = ms_uc_write(u, p->start + at + z, buf + z, n);
		}
	}
	free(buf);
	return e;
}

/* Every readable mapping: recorded, or copied into the engine's RAM. */
static int take_memory(pid_t pid, const pmaps *m, ms_uc *u, text *blob, capture_counts *cnt,
		       char *err, size_t errlen)
{
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/mem", (int)pid);
	int mem = open(name, O_RDONLY | O_CLOEXEC);
	if (mem < 0)
		return fail(err, errlen, "%s: %s", name, strerror(errno));
	int rc = 0;
	for (size_t i = 0; !rc && i < m->n; i++) {
		const pmap *p = &m->v[i];
		uint64_t size = p->end - p->start;
		if (p->perms[0] != 'r' || !strcmp(p->path, "[vvar]") ||
		    !strcmp(p->path, "[vsyscall]") || p->start >= (1ull << 47))
			continue;
		int recorded = record_file(mem, p, blob, err, errlen);
		if (recorded < 0) {
			rc = -1;
		} else if (recorded) {
			cnt->recorded += size;
			cnt->n_recorded++;
		} else {
			int e = copy_mapping(mem, p, u);
			if (e)
				rc = fail(err, errlen, "copying 0x%" PRIx64 "-0x%" PRIx64 " %s: %s",
					  p->start, p->end, p->path, ms_strerror(e));
			cnt->copied += size;
			cnt->n_copied++;
		}
	}
	close(mem);
	return rc;
}

int msf__x86_64_regs_write(uc_engine *uc, const void *user_regs, const void *user_fpregs)
{
	const struct user_regs_struct *rp = user_regs;
	struct user_regs_struct r;
	memcpy(&r, rp, sizeof r);
	const struct {
		int id;
		uint64_t v;
	} gp[] = {
	    {UC_X86_REG_RAX, r.rax},	     {UC_X86_REG_RBX, r.rbx},
	    {UC_X86_REG_RCX, r.rcx},	     {UC_X86_REG_RDX, r.rdx},
	    {UC_X86_REG_RSI, r.rsi},	     {UC_X86_REG_RDI, r.rdi},
	    {UC_X86_REG_RBP, r.rbp},	     {UC_X86_REG_RSP, r.rsp},
	    {UC_X86_REG_R8, r.r8},	     {UC_X86_REG_R9, r.r9},
	    {UC_X86_REG_R10, r.r10},	     {UC_X86_REG_R11, r.r11},
	    {UC_X86_REG_R12, r.r12},	     {UC_X86_REG_R13, r.r13},
	    {UC_X86_REG_R14, r.r14},	     {UC_X86_REG_R15, r.r15},
	    {UC_X86_REG_RIP, r.rip},	     {UC_X86_REG_EFLAGS, r.eflags},
	    {UC_X86_REG_FS_BASE, r.fs_base}, {UC_X86_REG_GS_BASE, r.gs_base},
	};
	uc_err e = UC_ERR_OK;
	for (size_t i = 0; !e && i < sizeof gp / sizeof gp[0]; i++)
		e = uc_reg_write(uc, gp[i].id, &gp[i].v);
	if (e || !user_fpregs)
		return ms_uc_error(e);
	/* SSE state: the x87 stack is empty at a call by the ABI, and the upper
	 * halves of the AVX registers are not kept across one. */
	struct user_fpregs_struct f;
	memcpy(&f, user_fpregs, sizeof f);
	uint32_t mxcsr = f.mxcsr;
	uint16_t fpcw = f.cwd;
	for (int i = 0; !e && i < 16; i++)
		e = uc_reg_write(uc, UC_X86_REG_XMM0 + i, (const uint8_t *)f.xmm_space + 16 * i);
	if (!e)
		e = uc_reg_write(uc, UC_X86_REG_MXCSR, &mxcsr);
	if (!e)
		e = uc_reg_write(uc, UC_X86_REG_FPCW, &fpcw);
	return ms_uc_error(e);
}

static int take_registers(pid_t pid, uc_engine *uc, char *err, size_t errlen)
{
	struct user_regs_struct r;
	struct user_fpregs_struct f;
	if (ptrace(PTRACE_GETREGS, pid, NULL, &r) || ptrace(PTRACE_GETFPREGS, pid, NULL, &f))
		return fail(err, errlen, "ptrace(PTRACE_GETREGS): %s", strerror(errno));
	int e = msf__x86_64_regs_write(uc, &r, &f);
	return e ? fail(err, errlen, "registers: %s", ms_strerror(e)) : 0;
}

/* Resolve o->brk in the process as it is now. */
static int resolve_break(pid_t pid, const char *loc, uint64_t *out, char *err, size_t errlen)
{
	if (loc[0] >= '0' && loc[0] <= '9')
		return msf_parse_u64(loc, out) ? fail(err, errlen, "bad address '%s'", loc) : 0;
	pmaps m;
	int rc = read_maps(pid, &m);
	if (rc)
		return fail(err, errlen, "/proc/%d/maps: %s", (int)pid, strerror(-rc));
	msf_elf elf;
	rc = process_symbols(&m, &elf, err, errlen);
	pmaps_free(&m);
	char name[256];
	uint64_t off = 0;
	const char *plus = strchr(loc, '+');
	size_t n = plus ? (size_t)(plus - loc) : strlen(loc);
	if (!rc && (n >= sizeof name || (plus && msf_parse_u64(plus + 1, &off))))
		rc = fail(err, errlen, "bad location '%s'", loc);
	if (!rc) {
		memcpy(name, loc, n);
		name[n] = 0;
		const msf_symbol *s = msf_elf_symbol(&elf, name);
		if (!s)
			rc = fail(err, errlen,
				  "symbol '%s' is in neither the program nor a library it loaded "
				  "at start",
				  name);
		else
			*out = s->value + off;
	}
	msf_elf_free(&elf);
	return rc;
}

/* Write the state of the stopped process. */
static int write_state(pid_t pid, const msf_capture_opts *o, uint64_t brk, capture_counts *cnt,
		       char *err, size_t errlen)
{
	pmaps m;
	int rc = read_maps(pid, &m);
	if (rc)
		return fail(err, errlen, "/proc/%d/maps: %s", (int)pid, strerror(-rc));
	uc_engine *uc = NULL;
	ms_uc *u = NULL;
	ms_uc_checkpoint *cp = NULL;
	text blob = {0};
	uc_err ue = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	if (ue) {
		pmaps_free(&m);
		return fail(err, errlen, "uc_open: %s", uc_strerror(ue));
	}
	int e = ms_uc_new(uc, &u);
	if (e)
		rc = fail(err, errlen, "ms_uc_new: %s", ms_strerror(e));
	if (!rc && text_add(&blob, MSF_CAPTURE_MAGIC "\nbreak 0x%" PRIx64 " %s\n", brk, o->brk))
		rc = fail(err, errlen, "out of memory");
	for (size_t i = 0; !rc && i < m.n; i++)
		if (!m.v[i].offset && is_elf_file(m.v[i].path) &&
		    text_add(&blob, "elf 0x%" PRIx64 " %s\n", m.v[i].start, m.v[i].path))
			rc = fail(err, errlen, "out of memory");
	if (!rc)
		rc = take_memory(pid, &m, u, &blob, cnt, err, errlen);
	if (!rc)
		rc = take_registers(pid, uc, err, errlen);
	if (!rc && (e = ms_uc_checkpoint_take(u, &cp)))
		rc = fail(err, errlen, "checkpoint: %s", ms_strerror(e));
	if (!rc) {
		ms_uc_state_blob b = {MSF_CAPTURE_BLOB, MSF_CAPTURE_BLOB_TYPE, blob.s, blob.len};
		e = ms_uc_checkpoint_save_blobs(cp, o->out, NULL, &b, 1);
		if (e)
			rc = fail(err, errlen, "%s: %s", o->out, ms_strerror(e));
	}
	ms_uc_checkpoint_free(cp);
	ms_uc_free(u);
	uc_close(uc);
	free(blob.s);
	pmaps_free(&m);
	return rc;
}

int msf_capture(const msf_capture_opts *o, char *err, size_t errlen)
{
	if (!o->argv || !o->argv[0] || !o->brk || !o->out)
		return fail(err, errlen, "capture: a breakpoint, an output file and a program");
	if (check_program(o->argv[0], err, errlen))
		return -1;
	double t0 = now_s(), deadline = t0 + (o->timeout_s > 0 ? o->timeout_s : 10);
	pid_t pid = -1;
	if (start(o, &pid, err, errlen))
		return -1;
	uint64_t entry = 0, brk = 0;
	capture_counts cnt = {0};
	int rc = read_auxv_entry(pid, &entry);
	if (rc)
		rc = fail(err, errlen, "/proc/%d/auxv: no AT_ENTRY: %s", (int)pid, strerror(-rc));
	if (!rc)
		rc = run_to(pid, entry, "the program's entry point", deadline, err, errlen);
	if (!rc)
		rc = resolve_break(pid, o->brk, &brk, err, errlen);
	if (!rc && brk != entry)
		rc = run_to(pid, brk, o->brk, deadline, err, errlen);
	double t1 = now_s();
	if (!rc)
		rc = write_state(pid, o, brk, &cnt, err, errlen);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, __WALL);
	if (!rc && !o->quiet)
		printf("captured %s at %s (0x%" PRIx64 ") in %.1f ms: %zu mappings copied (%" PRIu64
		       " KiB), %zu mapped from their files (%" PRIu64 " KiB); written to %s in "
		       "%.1f ms\n",
		       o->argv[0], o->brk, brk, (t1 - t0) * 1e3, cnt.n_copied, cnt.copied / 1024,
		       cnt.n_recorded, cnt.recorded / 1024, o->out, (now_s() - t1) * 1e3);
	return rc;
}
