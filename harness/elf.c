/*
 * Guest ELF images, read with libelf: the PT_LOAD segments (what to map and
 * with which permissions) and the symbol table (to resolve locations and to
 * name the function a crash happened in).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unicorn/unicorn.h>

#include "fuzz.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int read_file(const char *path, msf_elf *elf, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: not a regular file", path);
	}
	elf->image_size = (size_t)st.st_size;
	elf->image = malloc(elf->image_size ? elf->image_size : 1);
	size_t got = 0;
	while (elf->image && got < elf->image_size) {
		ssize_t n = read(fd, elf->image + got, elf->image_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!elf->image || got != elf->image_size)
		return fail(err, errlen, "%s: cannot read the file", path);
	return 0;
}

/* The symbols of the sections of type `type` (SHT_SYMTAB, SHT_DYNSYM), their
 * values moved by `bias`. */
static int load_symbols(Elf *e, msf_elf *elf, uint32_t type_wanted, uint64_t bias)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type_wanted || !sh.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t n = sh.sh_size / sh.sh_entsize;
		if (!data)
			continue;
		msf_symbol *syms = realloc(elf->syms, (elf->n_syms + n) * sizeof *syms);
		if (!syms)
			return -1;
		elf->syms = syms;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym s;
			if (!gelf_getsym(data, (int)i, &s) || s.st_shndx == SHN_UNDEF)
				continue;
			int type = GELF_ST_TYPE(s.st_info);
			if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE)
				continue;
			const char *name = elf_strptr(e, sh.sh_link, s.st_name);
			/* Skip the ARM mapping symbols ($t, $d, $a). */
			if (!name || !*name || name[0] == '$')
				continue;
			msf_symbol *m = &elf->syms[elf->n_syms++];
			m->name = strdup(name);
			m->value = s.st_value + (s.st_shndx == SHN_ABS ? 0 : bias);
			m->size = s.st_size;
			m->is_func = type == STT_FUNC;
			if (!m->name)
				return -1;
		}
	}
	return 0;
}

int msf_elf_load(const char *path, msf_elf *elf, char *err, size_t errlen)
{
	memset(elf, 0, sizeof *elf);
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(err, errlen, "libelf: %s", elf_errmsg(-1));
	if (read_file(path, elf, err, errlen)) {
		msf_elf_free(elf);
		return -1;
	}
	Elf *e = elf_memory((char *)elf->image, elf->image_size);
	GElf_Ehdr eh;
	int rc = 0;
	size_t nph = 0;
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
		rc = fail(err, errlen, "%s: not an ELF file", path);
		goto out;
	}
	if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_ARM) {
		rc = fail(err, errlen, "%s: machine %u is not supported (x86-64, ARM)", path,
			  (unsigned)eh.e_machine);
		goto out;
	}
	elf->machine = eh.e_machine;
	elf->entry = eh.e_entry;
	if (elf_getphdrnum(e, &nph) || !nph) {
		rc = fail(err, errlen, "%s: no program headers", path);
		goto out;
	}
	elf->segs = calloc(nph, sizeof *elf->segs);
	for (size_t i = 0; elf->segs && i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > elf->image_size ||
		    ph.p_filesz > elf->image_size - ph.p_offset) {
			rc = fail(err, errlen, "%s: segment %zu lies outside the file", path, i);
			goto out;
		}
		msf_segment *s = &elf->segs[elf->n_segs++];
		s->vaddr = ph.p_vaddr;
		s->filesz = ph.p_filesz;
		s->memsz = ph.p_memsz;
		s->offset = ph.p_offset;
		s->perms = (ph.p_flags & PF_R ? UC_PROT_READ : 0) |
			   (ph.p_flags & PF_W ? UC_PROT_WRITE : 0) |
			   (ph.p_flags & PF_X ? UC_PROT_EXEC : 0);
	}
	if (!elf->segs || load_symbols(e, elf, SHT_SYMTAB, 0)) {
		rc = fail(err, errlen, "out of memory");
		goto out;
	}
	if (!elf->n_segs)
		rc = fail(err, errlen, "%s: no PT_LOAD segment", path);
out:
	if (e)
		elf_end(e);
	if (rc)
		msf_elf_free(elf);
	return rc;
}

int msf_elf_add_symbols(msf_elf *elf, const char *path, uint64_t base, uint64_t *bias_out,
			char *err, size_t errlen)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return fail(err, errlen, "libelf: %s", elf_errmsg(-1));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	GElf_Ehdr eh;
	size_t nph = 0;
	int rc = 0;
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh) || elf_getphdrnum(e, &nph)) {
		rc = fail(err, errlen, "%s: not an ELF file", path);
		goto out;
	}
	/* The file is mapped from its first PT_LOAD (file offset 0) at `base`:
	 * the load bias is base minus that segment's page-aligned address. */
	uint64_t first = UINT64_MAX;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr < first)
			first = ph.p_vaddr & ~0xfffull;
	}
	if (first == UINT64_MAX) {
		rc = fail(err, errlen, "%s: no PT_LOAD segment", path);
		goto out;
	}
	uint64_t bias = base - first;
	size_t first_sym = elf->n_syms;
	if (load_symbols(e, elf, SHT_SYMTAB, bias) || load_symbols(e, elf, SHT_DYNSYM, bias))
		rc = fail(err, errlen, "out of memory");
	/* A function without a size (_init, _fini) would name every address
	 * above it in a process's other files, such as a stripped library's
	 * local functions: such symbols still resolve, but name no crash. */
	for (size_t i = first_sym; i < elf->n_syms; i++)
		if (!elf->syms[i].size)
			elf->syms[i].is_func = 0;
	if (!rc && !elf->machine)
		elf->machine = eh.e_machine;
	if (bias_out)
		*bias_out = bias;
out:
	if (e)
		elf_end(e);
	close(fd);
	return rc;
}

void msf_elf_free(msf_elf *elf)
{
	for (size_t i = 0; i < elf->n_syms; i++)
		free(elf->syms[i].name);
	free(elf->syms);
	free(elf->segs);
	free(elf->image);
	memset(elf, 0, sizeof *elf);
}

const msf_symbol *msf_elf_symbol(const msf_elf *elf, const char *name)
{
	for (size_t i = 0; i < elf->n_syms; i++)
		if (!strcmp(elf->syms[i].name, name))
			return &elf->syms[i];
	return NULL;
}

const msf_symbol *msf_elf_symbolize(const msf_elf *elf, uint64_t addr)
{
	const msf_symbol *best = NULL;
	for (size_t i = 0; i < elf->n_syms; i++) {
		const msf_symbol *s = &elf->syms[i];
		uint64_t v = elf->machine == EM_ARM ? s->value & ~1ull : s->value;
		if (!s->is_func || v > addr)
			continue;
		if (s->size && addr >= v + s->size)
			continue;
		if (!best || v > (elf->machine == EM_ARM ? best->value & ~1ull : best->value))
			best = s;
	}
	return best;
}
