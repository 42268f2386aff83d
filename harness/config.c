/*
 * Target configuration: `key = value` lines in a file, or `--key=value`
 * arguments, which override the file. The keys are listed in keys[] below
 * and documented in docs/harness.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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

void msf_config_init(msf_config *c)
{
	memset(c, 0, sizeof *c);
	c->budget = MSF_DEFAULT_BUDGET;
	c->reset = MSF_RESET_MEMSNAP;
	c->tracking = MSF_TRACK_EXACT;
	c->heap.arena_addr = MSF_HEAP_DEFAULT_ARENA;
	c->heap.arena_size = MSF_HEAP_DEFAULT_SIZE;
	c->syscall_arena_addr = MSF_SYSCALL_DEFAULT_ARENA;
	c->syscall_arena_size = MSF_SYSCALL_DEFAULT_SIZE;
}

void msf_config_free(msf_config *c)
{
	free(c->elf);
	free(c->state);
	free(c->core);
	free(c->arch);
	free(c->entry);
	for (int i = 0; i < c->n_exits; i++)
		free(c->exits[i]);
	free(c->abort_at);
	free(c->input);
	free(c->input_ptr_reg);
	free(c->input_len_reg);
	free(c->stack_top);
	for (int i = 0; i < c->n_ram; i++)
		free(c->ram[i].file);
	free(c->crash_dir);
	free(c->stats_file);
	for (int i = 0; i < c->n_stubs; i++)
		free(c->stubs[i].loc);
	for (int i = 0; i < c->n_regs; i++) {
		free(c->regs[i].name);
		free(c->regs[i].value);
	}
	free(c->init);
	for (int i = 0; i < 4; i++)
		free(c->heap.names[i]);
	free(c->extension);
	memset(c, 0, sizeof *c);
}

int msf_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift) {
		end++;
		if (v > (UINT64_MAX >> shift))
			return -1;
		v <<= shift;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
		*out = 1;
	else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* "r", "rw", "rx", "rwx", "---"-style letters in any order. */
static int parse_perms(const char *s, uint32_t *out)
{
	uint32_t p = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s == 'r')
			p |= UC_PROT_READ;
		else if (*s == 'w')
			p |= UC_PROT_WRITE;
		else if (*s == 'x')
			p |= UC_PROT_EXEC;
		else if (*s != '-')
			return -1;
	}
	*out = p;
	return 0;
}

/* A location: a symbol (optionally +offset) or a number. Only the syntax is
 * checked here; symbols are resolved against the ELF later. */
static int check_location(const char *v)
{
	if (isdigit((unsigned char)v[0])) {
		uint64_t x;
		return msf_parse_u64(v, &x);
	}
	for (const char *p = v; *p && *p != '+'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '$')
			return -1;
	const char *plus = strchr(v, '+');
	if (plus) {
		uint64_t x;
		if (plus == v || msf_parse_u64(plus + 1, &x))
			return -1;
	}
	return 0;
}

static int set_string(char **slot, const char *v, int repeat_ok, const char *key, char *err,
		      size_t errlen)
{
	if (*slot && !repeat_ok)
		return fail(err, errlen, "'%s' is set twice", key);
	free(*slot);
	*slot = strdup(v);
	return *slot ? 0 : fail(err, errlen, "out of memory");
}

/* ram = ADDRESS SIZE [PERMS] [file=PATH[@OFFSET]] */
static int parse_ram(msf_config *c, const char *v, char *err, size_t errlen)
{
	if (c->n_ram == MSF_MAX_RAM)
		return fail(err, errlen, "too many RAM regions (at most %d)", MSF_MAX_RAM);
	char *copy = strdup(v), *save = NULL;
	if (!copy)
		return fail(err, errlen, "out of memory");
	msf_ram_spec r = {.perms = UC_PROT_READ | UC_PROT_WRITE};
	int n = 0, rc = 0;
	for (char *tok = strtok_r(copy, " \t", &save); tok && !rc;
	     tok = strtok_r(NULL, " \t", &save), n++) {
		if (n == 0) {
			if (msf_parse_u64(tok, &r.addr))
				rc = fail(err, errlen, "ram: bad address '%s'", tok);
		} else if (n == 1) {
			if (msf_parse_u64(tok, &r.size))
				rc = fail(err, errlen, "ram: bad size '%s'", tok);
		} else if (!strncmp(tok, "file=", 5)) {
			char *at = strrchr(tok + 5, '@');
			if (at) {
				*at = 0;
				if (msf_parse_u64(at + 1, &r.file_offset))
					rc = fail(err, errlen, "ram: bad file offset '%s'", at + 1);
			}
			if (!rc && !tok[5])
				rc = fail(err, errlen, "ram: empty file name");
			if (!rc) {
				free(r.file);
				r.file = strdup(tok + 5);
			}
		} else if (parse_perms(tok, &r.perms)) {
			rc = fail(err, errlen, "ram: bad permissions '%s' (use r, w, x)", tok);
		}
	}
	if (!rc && n < 2)
		rc = fail(err, errlen, "ram: expected 'ADDRESS SIZE [PERMS] [file=PATH[@OFFSET]]'");
	if (!rc && r.size == 0)
		rc = fail(err, errlen, "ram: size is zero");
	if (!rc && ((r.addr | r.size) & 0xfff))
		rc = fail(err, errlen, "ram: address and size must be multiples of 4 KiB");
	if (!rc && r.addr + r.size < r.addr)
		rc = fail(err, errlen, "ram: region wraps around the address space");
	if (!rc && (r.file_offset & 0xfff))
		rc = fail(err, errlen, "ram: file offset must be a multiple of 4 KiB");
	free(copy);
	if (rc) {
		free(r.file);
		return rc;
	}
	c->ram[c->n_ram++] = r;
	return 0;
}

/* stack = ADDRESS SIZE: a zeroed RW region whose top is the stack top. */
static int parse_stack(msf_config *c, const char *v, int repeat_ok, char *err, size_t errlen)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s rw", v);
	if (parse_ram(c, buf, err, errlen))
		return fail(err, errlen, "stack: expected 'ADDRESS SIZE' (multiples of 4 KiB)");
	msf_ram_spec *r = &c->ram[c->n_ram - 1];
	char top[32];
	snprintf(top, sizeof top, "0x%llx", (unsigned long long)(r->addr + r->size));
	return set_string(&c->stack_top, top, repeat_ok, "stack", err, errlen);
}

/* A number that may be negative ("-38"), kept as its 64-bit two's
 * complement, so that a stub can return -1 or -ENOSYS. */
static int parse_i64(const char *s, uint64_t *out)
{
	if (*s != '-')
		return msf_parse_u64(s, out);
	uint64_t v;
	if (msf_parse_u64(s + 1, &v) || v > (uint64_t)INT64_MAX + 1)
		return -1;
	*out = (uint64_t)0 - v;
	return 0;
}

/* stub = LOC [return=N] */
static int parse_stub(msf_config *c, const char *v, char *err, size_t errlen)
{
	if (c->n_stubs == MSF_MAX_STUBS)
		return fail(err, errlen, "stub: at most %d stubs", MSF_MAX_STUBS);
	char loc[256], extra[256] = "", rest[8] = "";
	int n = sscanf(v, "%255s %255s %7s", loc, extra, rest);
	if (n < 1 || n > 2)
		return fail(err, errlen, "stub: expected 'SYMBOL|ADDRESS [return=N]', got '%s'", v);
	if (check_location(loc))
		return fail(err, errlen, "stub: '%s' is neither a symbol nor an address", loc);
	msf_stub_spec s = {.retval = 0};
	if (n == 2 && (strncmp(extra, "return=", 7) || parse_i64(extra + 7, &s.retval)))
		return fail(err, errlen, "stub: '%s' is not return=NUMBER", extra);
	if (!(s.loc = strdup(loc)))
		return fail(err, errlen, "out of memory");
	c->stubs[c->n_stubs++] = s;
	return 0;
}

/* reg = NAME VALUE; the name is checked against the architecture later. */
static int parse_reg(msf_config *c, const char *v, char *err, size_t errlen)
{
	if (c->n_regs == MSF_MAX_REG_KEYS)
		return fail(err, errlen, "reg: at most %d registers", MSF_MAX_REG_KEYS);
	char name[32], value[256], rest[8];
	if (sscanf(v, "%31s %255s %7s", name, value, rest) != 2)
		return fail(err, errlen, "reg: expected 'NAME VALUE', got '%s'", v);
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return fail(err, errlen, "reg: bad register name '%s'", name);
	uint64_t x;
	if (value[0] == '-' ? parse_i64(value, &x) : check_location(value))
		return fail(err, errlen, "reg: '%s' is neither a number nor a symbol", value);
	msf_reg_spec r = {strdup(name), strdup(value)};
	if (!r.name || !r.value) {
		free(r.name);
		free(r.value);
		return fail(err, errlen, "out of memory");
	}
	c->regs[c->n_regs++] = r;
	return 0;
}

/* heap_arena, syscall_arena = ADDR SIZE; with `shadow`, the heap
 * sanitizer's state page and shadow (size / 8) follow the area. */
static int parse_arena(const char *key, const char *v, bool shadow, uint64_t *addr_out,
		       uint64_t *size_out, char *err, size_t errlen)
{
	char a[64], b[64], rest[8];
	uint64_t addr, size;
	if (sscanf(v, "%63s %63s %7s", a, b, rest) != 2 || msf_parse_u64(a, &addr) ||
	    msf_parse_u64(b, &size))
		return fail(err, errlen, "%s: expected 'ADDRESS SIZE', got '%s'", key, v);
	if (size < (64u << 10) || ((addr | size) & 0xffff))
		return fail(err, errlen,
			    "%s: address and size must be multiples of 64 KiB, size at least "
			    "64 KiB",
			    key);
	uint64_t extra = shadow ? size / 8 + 0x10000 : 0;
	if (addr + size + extra < addr)
		return fail(err, errlen, "%s: wraps around the address space", key);
	*addr_out = addr;
	*size_out = size;
	return 0;
}

static const struct {
	const char *key;
	const char *help;
} keys[] = {
    {"elf", "PATH        guest ELF image (PT_LOAD segments are mapped)"},
    {"state", "PATH      a start state captured from a process (memsnap-fuzz capture);\n"
	      "                  there `input = @REG` is the buffer a captured register points to"},
    {"core", "PATH       an x86-64 ELF core file (kernel, gcore) as the start state"},
    {"arch", "x86-64|thumb|arm  override the architecture taken from the ELF"},
    {"entry", "LOC       function to call (default: ELF entry point)"},
    {"exit", "LOC[,LOC]  return addresses that end a run (default: memsnap_demo_exit)"},
    {"abort", "LOC       reaching it is a crash (guest-declared abort)"},
    {"input", "LOC       guest buffer receiving the input (default: memsnap_demo_input)"},
    {"input_max", "N     largest input (default: input symbol size, else 4096)"},
    {"input_ptr_reg", "REG  register holding the buffer address (rdi / r0)"},
    {"input_len_reg", "REG  register holding the length (rsi / r1)"},
    {"stack_top", "LOC   initial stack pointer (default: memsnap_demo_stack_top)"},
    {"stack", "ADDR SIZE  map a zeroed stack region; its top is the stack top"},
    {"ram", "ADDR SIZE [PERMS] [file=PATH[@OFF]]  extra RAM region (repeatable)"},
    {"budget", "N        instructions per input before it is a timeout (100000)"},
    {"reset", "memsnap|memcpy  how guest RAM is reset between inputs"},
    {"tracking", "exact|hook  how memsnap finds dirty pages (exact; its tracker: MEMSNAP_TRACKER)"},
    {"crash_dir", "DIR   where crashing inputs are saved (default: .)"},
    {"save_timeouts", "BOOL  also save inputs that time out"},
    {"prefault", "BOOL   read every RAM page once at start"},
    {"stats_file", "PATH  rewrite campaign statistics there every second"},
    {"progress", "BOOL   print a progress line every second (stderr)"},
    {"quiet", "BOOL      print no crash reports (front ends still save inputs)"},
    {"stop_on_known", "BOOL  libFuzzer: end on a crash whose bucket has a file in crash_dir"},
    {"stub", "LOC [return=N]  the function at LOC returns N (default 0) at once (repeatable)"},
    {"reg", "NAME VALUE  register value at the start state (repeatable; fs_base, gs_base)"},
    {"init", "LOC       guest function run to completion before the start state is taken"},
    {"syscall", "crash|error|exit|emulate  what syscall/svc does (crash; error returns -ENOSYS)"},
    {"syscall_arena", "ADDR SIZE  brk/mmap memory of syscall = emulate (0x60000000 64M)"},
    {"heap", "off|sanitize  serve malloc/free from a checked guest arena"},
    {"heap_arena", "ADDR SIZE  the sanitizer's arena (0x70000000 16M)"},
    {"heap_malloc", "SYM  (also heap_free, heap_calloc, heap_realloc) allocator names"},
    {"extension", "PATH  shared object defining MSF_EXTENSION (memsnap/fuzz.h)"},
};

void msf_config_usage(FILE *out)
{
	fprintf(out, "Target keys (config file `key = value`, or --key=value):\n");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		fprintf(out, "  %s %s\n", keys[i].key, keys[i].help);
	fprintf(out, "LOC is a symbol, symbol+offset or a number; N takes K/M/G suffixes.\n");
}

int msf_config_set(msf_config *c, const char *key, const char *v, int repeat_ok, char *err,
		   size_t errlen)
{
	if (!*v)
		return fail(err, errlen, "'%s' has an empty value", key);
	if (!strcmp(key, "elf"))
		return set_string(&c->elf, v, repeat_ok, key, err, errlen);
	if (!strcmp(key, "state"))
		return set_string(&c->state, v, repeat_ok, key, err, errlen);
	if (!strcmp(key, "core"))
		return set_string(&c->core, v, repeat_ok, key, err, errlen);
	if (!strcmp(key, "arch")) {
		if (strcmp(v, "x86-64") && strcmp(v, "thumb") && strcmp(v, "arm"))
			return fail(err, errlen, "arch: '%s' is not x86-64, thumb or arm", v);
		return set_string(&c->arch, v, repeat_ok, key, err, errlen);
	}
	if (!strcmp(key, "entry") || !strcmp(key, "abort") || !strcmp(key, "input") ||
	    !strcmp(key, "stack_top")) {
		/* input = @REG: the buffer a captured register points to. */
		int at_reg = !strcmp(key, "input") && v[0] == '@' && v[1];
		if (!at_reg && check_location(v))
			return fail(err, errlen, "%s: '%s' is neither a symbol nor an address", key,
				    v);
		char **slot = !strcmp(key, "entry")   ? &c->entry
			      : !strcmp(key, "abort") ? &c->abort_at
			      : !strcmp(key, "input") ? &c->input
						      : &c->stack_top;
		return set_string(slot, v, repeat_ok, key, err, errlen);
	}
	if (!strcmp(key, "exit")) {
		if (c->n_exits && !repeat_ok)
			return fail(err, errlen, "'exit' is set twice (list exits with commas)");
		for (int i = 0; i < c->n_exits; i++)
			free(c->exits[i]);
		c->n_exits = 0;
		char *copy = strdup(v), *save = NULL;
		int rc = copy ? 0 : fail(err, errlen, "out of memory");
		for (char *tok = copy ? strtok_r(copy, ", \t", &save) : NULL; tok && !rc;
		     tok = strtok_r(NULL, ", \t", &save)) {
			if (c->n_exits == MSF_MAX_EXITS)
				rc = fail(err, errlen, "exit: at most %d exits", MSF_MAX_EXITS);
			else if (check_location(tok))
				rc = fail(err, errlen,
					  "exit: '%s' is neither a symbol nor an address", tok);
			else
				c->exits[c->n_exits++] = strdup(tok);
		}
		free(copy);
		if (!rc && !c->n_exits)
			rc = fail(err, errlen, "exit: no address given");
		return rc;
	}
	if (!strcmp(key, "input_max") || !strcmp(key, "budget")) {
		uint64_t n;
		if (msf_parse_u64(v, &n) || n == 0)
			return fail(err, errlen, "%s: '%s' is not a positive number", key, v);
		if (!strcmp(key, "budget")) {
			c->budget = n;
		} else {
			if (n > (1u << 30))
				return fail(err, errlen, "input_max: %s is over 1 GiB", v);
			c->input_max = n;
		}
		return 0;
	}
	if (!strcmp(key, "input_ptr_reg") || !strcmp(key, "input_len_reg")) {
		for (const char *p = v; *p; p++)
			if (!isalnum((unsigned char)*p))
				return fail(err, errlen, "%s: bad register name '%s'", key, v);
		return set_string(!strcmp(key, "input_ptr_reg") ? &c->input_ptr_reg
								: &c->input_len_reg,
				  v, repeat_ok, key, err, errlen);
	}
	if (!strcmp(key, "stack"))
		return parse_stack(c, v, repeat_ok, err, errlen);
	if (!strcmp(key, "ram"))
		return parse_ram(c, v, err, errlen);
	if (!strcmp(key, "reset")) {
		if (!strcmp(v, "memsnap"))
			c->reset = MSF_RESET_MEMSNAP;
		else if (!strcmp(v, "memcpy"))
			c->reset = MSF_RESET_MEMCPY;
		else
			return fail(err, errlen, "reset: '%s' is not memsnap or memcpy", v);
		return 0;
	}
	if (!strcmp(key, "tracking")) {
		if (!strcmp(v, "hook"))
			c->tracking = MSF_TRACK_HOOK;
		else if (!strcmp(v, "exact"))
			c->tracking = MSF_TRACK_EXACT;
		else
			return fail(err, errlen,
				    "tracking: '%s' is not hook or exact (choose exact's tracker "
				    "with MEMSNAP_TRACKER)",
				    v);
		return 0;
	}
	if (!strcmp(key, "crash_dir"))
		return set_string(&c->crash_dir, v, repeat_ok, key, err, errlen);
	if (!strcmp(key, "extension"))
		return set_string(&c->extension, v, repeat_ok, key, err, errlen);
	if (!strcmp(key, "stub"))
		return parse_stub(c, v, err, errlen);
	if (!strcmp(key, "reg"))
		return parse_reg(c, v, err, errlen);
	if (!strcmp(key, "init")) {
		if (check_location(v))
			return fail(err, errlen, "init: '%s' is neither a symbol nor an address",
				    v);
		return set_string(&c->init, v, repeat_ok, key, err, errlen);
	}
	if (!strcmp(key, "syscall")) {
		if (!strcmp(v, "crash"))
			c->syscall = MSF_SYSCALL_CRASH;
		else if (!strcmp(v, "error"))
			c->syscall = MSF_SYSCALL_ERROR;
		else if (!strcmp(v, "exit"))
			c->syscall = MSF_SYSCALL_EXIT;
		else if (!strcmp(v, "emulate"))
			c->syscall = MSF_SYSCALL_EMULATE;
		else
			return fail(err, errlen,
				    "syscall: '%s' is not crash, error, exit or emulate", v);
		return 0;
	}
	if (!strcmp(key, "syscall_arena"))
		return parse_arena(key, v, false, &c->syscall_arena_addr, &c->syscall_arena_size,
				   err, errlen);
	if (!strcmp(key, "heap")) {
		if (!strcmp(v, "sanitize"))
			c->heap.sanitize = 1;
		else if (!strcmp(v, "off"))
			c->heap.sanitize = 0;
		else
			return fail(err, errlen, "heap: '%s' is not off or sanitize", v);
		return 0;
	}
	if (!strcmp(key, "heap_arena"))
		return parse_arena(key, v, true, &c->heap.arena_addr, &c->heap.arena_size, err,
				   errlen);
	static const char *const heap_keys[4] = {"heap_malloc", "heap_free", "heap_calloc",
						 "heap_realloc"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(key, heap_keys[i])) {
			if (check_location(v) || isdigit((unsigned char)v[0]) || strchr(v, '+'))
				return fail(err, errlen, "%s: '%s' is not a symbol name", key, v);
			return set_string(&c->heap.names[i], v, repeat_ok, key, err, errlen);
		}
	if (!strcmp(key, "stats_file"))
		return set_string(&c->stats_file, v, repeat_ok, key, err, errlen);
	int *flag = !strcmp(key, "save_timeouts")   ? &c->save_timeouts
		    : !strcmp(key, "prefault")	    ? &c->prefault
		    : !strcmp(key, "progress")	    ? &c->progress
		    : !strcmp(key, "quiet")	    ? &c->quiet
		    : !strcmp(key, "stop_on_known") ? &c->stop_on_known
						    : NULL;
	if (flag) {
		if (parse_bool(v, flag))
			return fail(err, errlen, "%s: '%s' is not a boolean (true/false)", key, v);
		return 0;
	}
	return fail(err, errlen, "unknown key '%s'", key);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int msf_config_parse_text(msf_config *c, const char *text, const char *name, char *err,
			  size_t errlen)
{
	char *copy = strdup(text);
	if (!copy)
		return fail(err, errlen, "out of memory");
	int rc = 0, lineno = 0;
	char *save = NULL, msg[MSF_ERR_LEN];
	/* strtok_r would skip empty lines and lose the line numbers. */
	for (char *line = copy, *next; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *l = trim(line);
		if (!*l)
			continue;
		char *eq = strchr(l, '=');
		if (!eq) {
			rc = fail(err, errlen, "%s:%d: expected 'key = value', got '%s'", name,
				  lineno, l);
			break;
		}
		*eq = 0;
		char *key = trim(l), *value = trim(eq + 1);
		if (!*key) {
			rc = fail(err, errlen, "%s:%d: missing key before '='", name, lineno);
			break;
		}
		if (msf_config_set(c, key, value, 0, msg, sizeof msg))
			rc = fail(err, errlen, "%s:%d: %s", name, lineno, msg);
	}
	(void)save;
	free(copy);
	return rc;
}

int msf_config_parse_file(msf_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	int rc = msf_config_parse_text(c, n > 0 ? text : "", path, err, errlen);
	free(text);
	if (rc)
		return rc;
	/* Relative ELF, state and extension paths are relative to the config file. */
	const char *slash = strrchr(path, '/');
	char **paths[4] = {&c->elf, &c->extension, &c->state, &c->core};
	for (int i = 0; i < 4 && slash; i++) {
		if (!*paths[i] || (*paths[i])[0] == '/')
			continue;
		char *full = NULL;
		if (asprintf(&full, "%.*s/%s", (int)(slash - path), path, *paths[i]) < 0)
			return fail(err, errlen, "out of memory");
		free(*paths[i]);
		*paths[i] = full;
	}
	return 0;
}

int msf_config_parse_args(msf_config *c, int *argc, char **argv, char *err, size_t errlen)
{
	/* The file first, so that flags override it wherever they stand. */
	for (int i = 1; i < *argc && strcmp(argv[i], "--"); i++)
		if (!strncmp(argv[i], "--config=", 9))
			if (msf_config_parse_file(c, argv[i] + 9, err, errlen))
				return -1;
	int out = 1, rest = 0;
	char msg[MSF_ERR_LEN];
	for (int i = 1; i < *argc; i++) {
		char *a = argv[i];
		if (rest || strncmp(a, "--", 2) || !strchr(a, '=')) {
			rest |= !strcmp(a, "--");
			argv[out++] = a;
			continue;
		}
		if (!strncmp(a, "--config=", 9))
			continue;
		char key[64];
		size_t klen = (size_t)(strchr(a, '=') - (a + 2));
		if (klen >= sizeof key) {
			argv[out++] = a;
			continue;
		}
		memcpy(key, a + 2, klen);
		key[klen] = 0;
		for (char *k = key; *k; k++)
			if (*k == '-')
				*k = '_';
		if (msf_config_set(c, key, a + 3 + klen, 1, msg, sizeof msg))
			return fail(err, errlen, "%s: %s", a, msg);
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int msf_config_check(const msf_config *c, char *err, size_t errlen)
{
	if (!!c->elf + !!c->state + !!c->core > 1)
		return fail(err, errlen,
			    "more than one of 'elf', 'state' and 'core': a target starts from one");
	if (!c->elf && !c->state && !c->core)
		return fail(err, errlen,
			    "no guest image: set 'elf', 'state' or 'core' (--elf=PATH "
			    "or a config file)");
	return 0;
}
