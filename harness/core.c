/*
 * core = PATH: an ELF core file (the kernel's, or gdb's gcore) as a fuzz
 * target's start state. Its PT_LOAD segments map lazily, copy-on-write, from
 * the core file; the bytes a core leaves out (read-only file mappings, of
 * which the kernel keeps at most the first page) come from the files its
 * NT_FILE note names, mapped from those files; NT_PRSTATUS (the first
 * thread's) and NT_FPREGSET give the registers. The files are not checked
 * against the ones the process had (a core records no checksum): a core
 * taken on another machine needs the same files at the same paths.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>
#include <unicorn/unicorn.h>

#include "procstate.h"
#include "target_internal.h"

#define fail msf__fail

struct msf_core {
	int fd;
	uint64_t file_size;
	GElf_Phdr *loads;
	size_t n_loads;
	struct user_regs_struct regs;
	struct user_fpregs_struct fpregs;
	int have_regs, have_fpregs;
	/* NT_FILE */
	struct core_file {
		uint64_t start, end, offset;
		char *path;
	} * files;
	size_t n_files;
};

static int parse_nt_file(msf_core *c, const uint8_t *d, size_t len)
{
	if (len < 16)
		return -1;
	uint64_t count, page;
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > (len - 16) / 24)
		return -1;
	c->files = calloc(count ? count : 1, sizeof *c->files);
	if (!c->files)
		return -1;
	const char *names = (const char *)d + 16 + count * 24, *end = (const char *)d + len;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t v[3];
		memcpy(v, d + 16 + i * 24, 24);
		size_t n = strnlen(names, (size_t)(end - names));
		if (names + n >= end)
			return -1;
		c->files[i] = (struct core_file){v[0], v[1], v[2] * page, strdup(names)};
		c->n_files++;
		if (!c->files[i].path)
			return -1;
		names += n + 1;
	}
	return 0;
}

static int parse_notes(msf_core *c, Elf *e, Elf_Scn *unused, const GElf_Phdr *ph)
{
	(void)unused;
	Elf_Data *data = elf_getdata_rawchunk(e, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
	if (!data)
		return -1;
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;
	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;
		if (nh.n_type == NT_PRSTATUS && !c->have_regs &&
		    nh.n_descsz >= sizeof(struct elf_prstatus)) {
			const struct elf_prstatus *ps = (const void *)desc;
			memcpy(&c->regs, &ps->pr_reg, sizeof c->regs);
			c->have_regs = 1;
		} else if (nh.n_type == NT_FPREGSET && !c->have_fpregs &&
			   nh.n_descsz >= sizeof c->fpregs) {
			memcpy(&c->fpregs, desc, sizeof c->fpregs);
			c->have_fpregs = 1;
		} else if (nh.n_type == NT_FILE && !c->files) {
			if (parse_nt_file(c, desc, nh.n_descsz))
				return -1;
		}
	}
	return 0;
}

static int read_core(msf_target *t, msf_core *c, char *err, size_t errlen)
{
	const char *path = t->cfg.core;
	struct stat st;
	if (fstat(c->fd, &st))
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	c->file_size = (uint64_t)st.st_size;
	Elf *e = elf_begin(c->fd, ELF_C_READ_MMAP, NULL);
	GElf_Ehdr eh;
	size_t nph = 0;
	int rc = 0;
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
		rc = fail(err, errlen, "%s: not an ELF file", path);
	} else if (eh.e_type != ET_CORE) {
		rc = fail(err, errlen, "%s: an ELF file, but not a core (e_type %u)", path,
			  (unsigned)eh.e_type);
	} else if (gelf_getclass(e) != ELFCLASS64 || eh.e_machine != EM_X86_64) {
		rc = fail(err, errlen,
			  "%s: a core of another architecture (ELF class %d, machine %u): "
			  "x86-64 cores only",
			  path, gelf_getclass(e), (unsigned)eh.e_machine);
	} else if (elf_getphdrnum(e, &nph) || !nph) {
		rc = fail(err, errlen, "%s: no program headers (truncated core?)", path);
	}
	if (!rc && !(c->loads = calloc(nph, sizeof *c->loads)))
		rc = fail(err, errlen, "out of memory");
	for (size_t i = 0; !rc && i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph)) {
			rc = fail(err, errlen,
				  "%s: program header %zu unreadable (truncated core?)", path, i);
			break;
		}
		if ((ph.p_type == PT_LOAD || ph.p_type == PT_NOTE) &&
		    (ph.p_offset > c->file_size || ph.p_filesz > c->file_size - ph.p_offset)) {
			rc = fail(err, errlen,
				  "%s: truncated core: segment %zu needs bytes up to %" PRIu64
				  ", the file has %" PRIu64,
				  path, i, ph.p_offset + ph.p_filesz, c->file_size);
			break;
		}
		if (ph.p_type == PT_NOTE && parse_notes(c, e, NULL, &ph))
			rc = fail(err, errlen, "%s: malformed notes", path);
		else if (ph.p_type == PT_LOAD && ph.p_memsz) {
			if (ph.p_vaddr % 4096 || ph.p_filesz > ph.p_memsz)
				rc = fail(err, errlen, "%s: segment %zu is not page-aligned", path,
					  i);
			c->loads[c->n_loads++] = ph;
		}
	}
	if (!rc && !c->have_regs)
		rc = fail(err, errlen, "%s: no NT_PRSTATUS note: no registers", path);
	if (e)
		elf_end(e);
	return rc;
}

int msf__core_open(msf_target *t, char *err, size_t errlen)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(err, errlen, "libelf: %s", elf_errmsg(-1));
	msf_core *c = calloc(1, sizeof *c);
	if (!c)
		return fail(err, errlen, "out of memory");
	t->core = c;
	c->fd = open(t->cfg.core, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0)
		return fail(err, errlen, "%s: %s", t->cfg.core, strerror(errno));
	if (read_core(t, c, err, errlen))
		return -1;
	char msg[MSF_ERR_LEN];
	for (size_t i = 0; i < c->n_files; i++) {
		const struct core_file *f = &c->files[i];
		if (f->offset || access(f->path, R_OK))
			continue;
		if (msf_elf_add_symbols(&t->elf, f->path, f->start, NULL, msg, sizeof msg))
			continue; /* not an ELF file */
	}
	t->elf.machine = EM_X86_64;
	t->cap.brk = c->regs.rip;
	t->cap.brk_name = strdup("the core's pc");
	return t->cap.brk_name ? 0 : fail(err, errlen, "out of memory");
}

/* The NT_FILE entry mapping addr, or NULL. */
static const struct core_file *file_at(const msf_core *c, uint64_t addr)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (addr >= c->files[i].start && addr < c->files[i].end)
			return &c->files[i];
	return NULL;
}

static uint32_t perms_of(const GElf_Phdr *ph)
{
	return (ph->p_flags & PF_R ? UC_PROT_READ : 0) | (ph->p_flags & PF_W ? UC_PROT_WRITE : 0) |
	       (ph->p_flags & PF_X ? UC_PROT_EXEC : 0);
}

/* One PT_LOAD: from the core, lazily when it holds all of the segment at a
 * page-aligned offset (the kernel's cores), else copied (gcore's are not
 * aligned); what the core leaves out of a segment comes from the file
 * NT_FILE names there, else is zeros. */
static int map_load(msf_target *t, const GElf_Phdr *ph)
{
	msf_core *c = t->core;
	uint64_t size = (ph->p_memsz + 4095) & ~4095ull;
	uint32_t perms = perms_of(ph);
	if (ph->p_filesz == ph->p_memsz && ph->p_offset % 4096 == 0)
		return msf_ram_map_file(t->ram, ph->p_vaddr, size, perms, t->cfg.core,
					ph->p_offset);
	const struct core_file *f = file_at(c, ph->p_vaddr);
	int rc = -1;
	if (ph->p_filesz < ph->p_memsz && f && f->end >= ph->p_vaddr + size)
		rc = msf_ram_map_file(t->ram, ph->p_vaddr, size, perms, f->path,
				      f->offset + (ph->p_vaddr - f->start));
	if (rc)
		rc = msf_ram_map_zeroed(t->ram, ph->p_vaddr, size, perms);
	uint8_t buf[65536];
	for (uint64_t at = 0; !rc && at < ph->p_filesz; at += sizeof buf) {
		size_t k =
		    ph->p_filesz - at < sizeof buf ? (size_t)(ph->p_filesz - at) : sizeof buf;
		if (pread(c->fd, buf, k, (off_t)(ph->p_offset + at)) != (ssize_t)k)
			return -EIO;
		rc = msf_ram_write(t->ram, ph->p_vaddr + at, buf, k);
	}
	return rc;
}

/* Whether a PT_LOAD covers any of [start, end). */
static int loaded(const msf_core *c, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < c->n_loads; i++)
		if (c->loads[i].p_vaddr < end && c->loads[i].p_vaddr + c->loads[i].p_memsz > start)
			return 1;
	return 0;
}

int msf__core_map(msf_target *t, char *err, size_t errlen)
{
	msf_core *c = t->core;
	if (t->cfg.reset != MSF_RESET_MEMSNAP)
		return fail(err, errlen, "core: reset = memcpy cannot load a core");
	for (size_t i = 0; i < c->n_loads; i++) {
		if (c->loads[i].p_vaddr >= (1ull << 47))
			continue; /* [vsyscall] */
		int e = map_load(t, &c->loads[i]);
		if (e)
			return fail(err, errlen, "%s: segment at 0x%" PRIx64 ": %s", t->cfg.core,
				    (uint64_t)c->loads[i].p_vaddr, ms_strerror(e));
	}
	/* File mappings a core leaves out altogether (gcore omits read-only
	 * ones): from their files. NT_FILE has no permissions; they were not
	 * writable (else they would be in the core), and may be code. */
	for (size_t i = 0; i < c->n_files; i++) {
		const struct core_file *f = &c->files[i];
		if (loaded(c, f->start, f->end) || f->start % 4096 || f->end <= f->start)
			continue;
		int e = msf_ram_map_file(t->ram, f->start, f->end - f->start,
					 UC_PROT_READ | UC_PROT_EXEC, f->path, f->offset);
		if (e)
			return fail(err, errlen,
				    "%s: %s (0x%" PRIx64 "-0x%" PRIx64 ", not in the core): %s",
				    t->cfg.core, f->path, f->start, f->end, ms_strerror(e));
	}
	int e = msf__x86_64_regs_write(t->uc, &c->regs, c->have_fpregs ? &c->fpregs : NULL);
	if (e)
		return fail(err, errlen, "%s: registers: %s", t->cfg.core, ms_strerror(e));
	return msf__state_finish_map(t, err, errlen);
}

void msf__core_free(msf_target *t)
{
	msf_core *c = t->core;
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	for (size_t i = 0; i < c->n_files; i++)
		free(c->files[i].path);
	free(c->files);
	free(c->loads);
	free(c);
	t->core = NULL;
}
