/*
 * memsnap-bench fuzz: Unicorn iterations per second when every iteration
 * runs a short x86-64 guest (guest-x86_64.S: D scattered 8-byte stores into
 * guest RAM, then arithmetic up to ~N instructions) and then resets guest
 * RAM of R bytes.
 *
 * Strategies:
 *   floor         no reset at all: the engine's own cost
 *   floor-cpu     uc_context_restore of the CPU, no memory reset: what a
 *                 checkpoint restore costs before any memory is put back
 *   limit         memcpy of exactly the pages the guest wrote (known here
 *                 from the guest's input table) and uc_context_restore of
 *                 the CPU: the floor for a reset
 *   memsnap       guest RAM is a memsnap copy-on-write view (automatic
 *                 tracker) mapped with uc_mem_map_ptr; reset is
 *                 ms_view_restore() (RAM is read/write data, so, as in
 *                 the runtime, no translated code is dropped)
 *   memsnap-T     the same with tracker T
 *   memsnap-uc    the runtime (memsnap/uc.h): RAM mapped with ms_uc_map,
 *                 guest run with ms_uc_run, reset with
 *                 ms_uc_checkpoint_restore (built when libmemsnap-uc is)
 *   memsnap-uc-2stops  memsnap-uc with ms_uc_run's `until` alternating
 *                 between two addresses from one run to the next (a
 *                 harness with several exits)
 *   memcpy        memcpy of all guest RAM from a pristine copy
 *   uc_mem_write  uc_mem_write of all guest RAM from a pristine copy
 *   fresh_engine  uc_close + uc_open + a fresh MAP_PRIVATE mapping of the
 *                 RAM image per iteration
 *
 * Every strategy that keeps its engine runs the guest with the runtime's
 * ms_uc_run when the runtime is built, so that floor, limit and memsnap
 * differ only in the reset.
 *
 * Strategies take turns in rounds (interleaved); the figure reported is the
 * median over rounds of iterations per second. Every engine serves one cell
 * and at most a few hundred thousand uc_emu_start calls (Unicorn 2.0.1
 * crashes after ~4.19 million calls on one engine).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unicorn/unicorn.h>

#include "bench.h"
#ifdef MSB_HAVE_MEMSNAP_UC
#include "memsnap/uc.h"
#endif

extern const uint8_t msb_guest_code[], msb_guest_exit[], msb_guest_end[];

#define CODE_BASE 0x1000u
#define TABLE_BASE 0x100000u
#define TABLE_SIZE 0x10000u /* room for 8192 page offsets */
#define RAM_BASE 0x10000000u
#define MAX_ROUND_ITERS 50000 /* keeps every engine far below ~1M calls */
#define MAX_ROUNDS 32
/* Guest RAM holds data only (the code has its own read/execute page), as an
 * ELF's writable segments do: a restore drops no translated code there. */
#define RAM_PROT (UC_PROT_READ | UC_PROT_WRITE)

enum kind { K_FLOOR, K_FLOOR_CPU, K_LIMIT, K_MEMSNAP, K_MEMSNAP_UC, K_MEMCPY, K_UCWRITE, K_FRESH };

typedef struct strategy {
	char name[32];
	enum kind kind;
	ms_tracker tracker;
	bool two_stops;	    /* K_MEMSNAP_UC: `until` alternates */
	unsigned long runs; /* runs so far (two_stops) */
	uc_engine *uc;
	uc_context *ctx; /* K_LIMIT, K_FLOOR_CPU: the CPU state resets put back */
	uint8_t *ram;
	ms_view *view; /* K_MEMSNAP: lives as long as the RAM size */
#ifdef MSB_HAVE_MEMSNAP_UC
	ms_uc *msuc;
	ms_uc_checkpoint *cp;
#endif
	double *reset_ns, *iter_ns;
	size_t n, cap;
	double rates[MAX_ROUNDS];
	size_t nrounds;
	bool ok;
	int err;
	const char *what;
} strategy;

typedef struct cell {
	size_t ram_size;
	int fd;			 /* the RAM image */
	const uint8_t *pristine; /* shared read-only mapping of it */
	ms_snapshot *snap;
	uint8_t *shared_ram; /* RAM of floor, limit, memcpy, uc_mem_write */
	uint64_t *table;     /* byte offsets of the pages the guest writes */
	size_t nd;
	uint64_t rounds; /* C, the guest's arithmetic rounds */
} cell;

const char *msb_unicorn_version(void)
{
	static char buf[64];
	unsigned maj = 0, min = 0;
	uc_version(&maj, &min);
	snprintf(buf, sizeof buf, "%u.%u (headers %d.%d.%d)", maj, min, UC_API_MAJOR, UC_API_MINOR,
		 UC_API_PATCH);
	return buf;
}

static int uc_fail(strategy *s, const char *what, uc_err e)
{
	s->ok = false;
	s->err = MS_ERR_UC_BASE - (int)e;
	s->what = what;
	(void)uc_strerror;
	return -1;
}

static uint64_t exit_address(void)
{
	return CODE_BASE + (uint64_t)(msb_guest_exit - msb_guest_code);
}

/* An engine with the guest code, the page table of this cell and `ram`
 * mapped as guest RAM (NULL: no RAM, the runtime maps it). */
static int engine_new(strategy *s, const cell *c, uint8_t *ram)
{
	uc_engine *uc;
	uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	if (e != UC_ERR_OK)
		return uc_fail(s, "uc_open", e);
	size_t code_len = (size_t)(msb_guest_end - msb_guest_code);
	if ((e = uc_mem_map(uc, CODE_BASE, 0x1000, UC_PROT_READ | UC_PROT_EXEC)) ||
	    (e = uc_mem_write(uc, CODE_BASE, msb_guest_code, code_len)) ||
	    (e = uc_mem_map(uc, TABLE_BASE, TABLE_SIZE, UC_PROT_READ)) ||
	    (c->nd && (e = uc_mem_write(uc, TABLE_BASE, c->table, c->nd * 8))) ||
	    (ram && (e = uc_mem_map_ptr(uc, RAM_BASE, c->ram_size, RAM_PROT, ram)))) {
		uc_close(uc);
		return uc_fail(s, "engine setup", e);
	}
	s->uc = uc;
#ifdef MSB_HAVE_MEMSNAP_UC
	/* Every strategy that keeps its engine runs the guest the same way,
	 * with the runtime's ms_uc_run (no `until` passed to Unicorn, whose
	 * exit block would be translated again on every call). */
	if (ram && s->kind != K_FRESH) {
		int err = ms_uc_new(uc, &s->msuc);
		if (err) {
			s->ok = false;
			s->err = err;
			s->what = "ms_uc_new";
			return -1;
		}
	}
#endif
	return 0;
}

static uc_err run_guest(strategy *s, const cell *c)
{
	int regs[] = {UC_X86_REG_RDI, UC_X86_REG_RSI, UC_X86_REG_RDX, UC_X86_REG_RCX,
		      UC_X86_REG_R9};
	uint64_t vals[] = {RAM_BASE, TABLE_BASE, c->nd, c->rounds, 1};
	void *ptrs[5];
	for (int i = 0; i < 5; i++)
		ptrs[i] = &vals[i];
	uc_err e = uc_reg_write_batch(s->uc, regs, ptrs, 5);
	if (e != UC_ERR_OK)
		return e;
#ifdef MSB_HAVE_MEMSNAP_UC
	/* The runtime's own run call (it keeps long campaigns safe). */
	if (s->msuc) {
		/* The second stop is the padding nop just before the exit. */
		uint64_t until = exit_address() - (s->two_stops && (s->runs++ & 1));
		int err = ms_uc_run(s->msuc, CODE_BASE, until, 0, 0);
		return err ? (uc_err)(MS_ERR_UC_BASE - err) : UC_ERR_OK;
	}
#endif
	/* count stays 0 for every run: switching it flushes all blocks. */
	return uc_emu_start(s->uc, CODE_BASE, exit_address(), 0, 0);
}

static uint8_t *map_image(const cell *c)
{
	void *p =
	    mmap(NULL, c->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, c->fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int strategy_setup(strategy *s, cell *c)
{
	switch (s->kind) {
	case K_LIMIT:
	case K_FLOOR_CPU:
		s->ram = c->shared_ram;
		if (engine_new(s, c, s->ram))
			return -1;
		uc_err e = uc_context_alloc(s->uc, &s->ctx);
		if (!e)
			e = uc_context_save(s->uc, s->ctx);
		return e ? uc_fail(s, "uc_context_save", e) : 0;
	case K_FLOOR:
	case K_MEMCPY:
	case K_UCWRITE:
		s->ram = c->shared_ram;
		return engine_new(s, c, s->ram);
	case K_MEMSNAP:
		s->ram = ms_view_data(s->view);
		return engine_new(s, c, s->ram);
	case K_FRESH:
		s->ram = map_image(c);
		if (!s->ram) {
			s->ok = false;
			s->err = -ENOMEM;
			return -1;
		}
		return engine_new(s, c, s->ram);
	case K_MEMSNAP_UC:
#ifdef MSB_HAVE_MEMSNAP_UC
		if (engine_new(s, c, NULL))
			return -1;
		int err = ms_uc_new(s->uc, &s->msuc);
		if (!err)
			err = ms_uc_map(s->msuc, RAM_BASE, c->snap, RAM_PROT);
		if (!err)
			err = ms_uc_checkpoint_take(s->msuc, &s->cp);
		if (err) {
			s->ok = false;
			s->err = err;
			s->what = "memsnap-uc setup";
			return -1;
		}
		s->ram = ms_uc_host_ptr(s->msuc, RAM_BASE, NULL);
		if (!s->ram) {
			s->ok = false;
			s->err = -EFAULT;
			s->what = "ms_uc_host_ptr";
			return -1;
		}
		return 0;
#else
		return -1;
#endif
	}
	return -1;
}

static void strategy_teardown(strategy *s, const cell *c)
{
#ifdef MSB_HAVE_MEMSNAP_UC
	ms_uc_checkpoint_free(s->cp);
	s->cp = NULL;
	ms_uc_free(s->msuc);
	s->msuc = NULL;
#endif
	if (s->ctx)
		uc_context_free(s->ctx);
	s->ctx = NULL;
	if (s->uc)
		uc_close(s->uc);
	s->uc = NULL;
	if (s->kind == K_FRESH && s->ram)
		munmap(s->ram, c->ram_size);
	s->ram = NULL;
}

/* Put guest RAM back; returns 0 or -1 (s->err set). */
static int reset(strategy *s, cell *c)
{
	size_t ps = ms_page_size();
	uc_err e;
	switch (s->kind) {
	case K_FLOOR:
		return 0;
	case K_FLOOR_CPU:
		e = uc_context_restore(s->uc, s->ctx);
		return e ? uc_fail(s, "uc_context_restore", e) : 0;
	case K_LIMIT:
		for (size_t i = 0; i < c->nd; i++) {
			size_t off = (size_t)c->table[i] & ~(ps - 1);
			memcpy(s->ram + off, c->pristine + off, ps);
		}
		/* A reset puts the CPU back too, as a checkpoint restore does. */
		e = uc_context_restore(s->uc, s->ctx);
		return e ? uc_fail(s, "uc_context_restore", e) : 0;
	case K_MEMSNAP: {
		int err = ms_view_restore(s->view);
		if (err < 0) {
			s->ok = false;
			s->err = err;
			s->what = "ms_view_restore";
			return -1;
		}
		/* RAM is not executable: no translated code to drop. */
		return 0;
	}
	case K_MEMSNAP_UC:
#ifdef MSB_HAVE_MEMSNAP_UC
	{
		int err = ms_uc_checkpoint_restore(s->msuc, s->cp);
		if (err) {
			s->ok = false;
			s->err = err;
			s->what = "ms_uc_checkpoint_restore";
			return -1;
		}
		return 0;
	}
#else
		return -1;
#endif
	case K_MEMCPY:
		memcpy(s->ram, c->pristine, c->ram_size);
		return 0;
	case K_UCWRITE:
		/* In pieces of at most 1 GiB: Unicorn 2.0.1 refuses a single
		 * write of 4 GiB (UC_ERR_ARG). */
		for (size_t off = 0; off < c->ram_size; off += (size_t)1 << 30) {
			size_t len = c->ram_size - off < ((size_t)1 << 30) ? c->ram_size - off
									   : (size_t)1 << 30;
			e = uc_mem_write(s->uc, RAM_BASE + off, c->pristine + off, len);
			if (e != UC_ERR_OK)
				return uc_fail(s, "uc_mem_write", e);
		}
		return 0;
	case K_FRESH:
		strategy_teardown(s, c);
		return strategy_setup(s, c);
	}
	return -1;
}

/* The guest wrote its index into each table page (checked once, before a
 * reset). */
static bool guest_wrote(const strategy *s, const cell *c)
{
	for (size_t i = 0; i < c->nd; i++) {
		uint64_t v;
		memcpy(&v, s->ram + c->table[i], 8);
		if (v != i)
			return false;
	}
	return true;
}

static bool ram_pristine(const msb_options *o, const strategy *s, const cell *c)
{
	size_t ps = ms_page_size();
	if (o->quick)
		return memcmp(s->ram, c->pristine, c->ram_size) == 0;
	for (size_t i = 0; i < c->nd; i++) {
		size_t off = (size_t)c->table[i] & ~(ps - 1);
		if (memcmp(s->ram + off, c->pristine + off, ps) != 0)
			return false;
	}
	size_t sample[128], npages = c->ram_size / ps;
	size_t n = npages < 128 ? npages : 128;
	msb_pick_pages(msb_seed(c->ram_size, c->nd, 99, 0), npages, n, sample);
	for (size_t i = 0; i < n; i++)
		if (memcmp(s->ram + sample[i] * ps, c->pristine + sample[i] * ps, ps) != 0)
			return false;
	return true;
}

/* The live strategy of this kind, if one ran. */
static const strategy *find_kind(const strategy *strats, const size_t *live, size_t nlive,
				 enum kind kind)
{
	for (size_t k = 0; k < nlive; k++)
		if (strats[live[k]].kind == kind)
			return &strats[live[k]];
	return NULL;
}

/* Median over rounds of s's rate divided by ref's in the same round: the
 * strategies take turns within a round, so a round's ratio cancels most of
 * the machine's drift, which a ratio of medians keeps. */
static double paired_ratio(const strategy *s, const strategy *ref)
{
	if (!ref || !ref->ok || !s->ok || ref->nrounds != s->nrounds || s->nrounds == 0)
		return NAN;
	double r[MAX_ROUNDS];
	for (size_t i = 0; i < s->nrounds; i++)
		r[i] = s->rates[i] / ref->rates[i];
	return msb_quantile(r, s->nrounds, 0.5);
}

/* One round: iterations until the time budget is spent. */
static void run_round(strategy *s, cell *c, uint64_t budget_ns, bool warmup)
{
	uint64_t start = msb_now_ns(), t2 = start;
	size_t iters = 0;
	do {
		uint64_t t0 = msb_now_ns();
		uc_err e = run_guest(s, c);
		if (e != UC_ERR_OK) {
			uc_fail(s, "uc_emu_start", e);
			return;
		}
		if (warmup && iters == 0 && !guest_wrote(s, c)) {
			s->ok = false;
			s->what = "guest stores not seen";
		}
		uint64_t t1 = msb_now_ns();
		if (reset(s, c))
			return;
		t2 = msb_now_ns();
		iters++;
		if (!warmup && s->n < s->cap) {
			s->reset_ns[s->n] = (double)(t2 - t1);
			s->iter_ns[s->n] = (double)(t2 - t0);
			s->n++;
		}
	} while (t2 - start < budget_ns && iters < MAX_ROUND_ITERS);
	if (!warmup && s->nrounds < MAX_ROUNDS)
		s->rates[s->nrounds++] = (double)iters * 1e9 / (double)(t2 - start);
	/* The floors leave the guest's stores in the RAM they share with
	 * others. */
	if (s->kind == K_FLOOR || s->kind == K_FLOOR_CPU) {
		size_t ps = ms_page_size();
		for (size_t i = 0; i < c->nd; i++) {
			size_t off = (size_t)c->table[i] & ~(ps - 1);
			memcpy(s->ram + off, c->pristine + off, ps);
		}
	}
}

static size_t list_strategies(const msb_options *o, strategy *list)
{
	size_t n = 0;
	static const struct {
		const char *name;
		enum kind kind;
	} plain[] = {{"floor", K_FLOOR},
		     {"floor-cpu", K_FLOOR_CPU},
		     {"limit", K_LIMIT},
		     {"memsnap", K_MEMSNAP}};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (msb_wants(o, plain[i].name)) {
			list[n] = (strategy){.kind = plain[i].kind};
			snprintf(list[n++].name, 32, "%s", plain[i].name);
		}
	for (int t = MS_TRACKER_AUTO + 1; t < MS_TRACKER_COUNT_; t++) {
		strategy s = {.kind = K_MEMSNAP, .tracker = (ms_tracker)t};
		snprintf(s.name, sizeof s.name, "memsnap-%s", ms_tracker_name((ms_tracker)t));
		if (msb_wants(o, s.name) && msb_tracker_measured((ms_tracker)t))
			list[n++] = s;
	}
#ifdef MSB_HAVE_MEMSNAP_UC
	if (msb_wants(o, "memsnap-uc"))
		list[n++] = (strategy){.name = "memsnap-uc", .kind = K_MEMSNAP_UC};
	if (msb_wants(o, "memsnap-uc-2stops"))
		list[n++] = (strategy){
		    .name = "memsnap-uc-2stops", .kind = K_MEMSNAP_UC, .two_stops = true};
#else
	/* HOOK: memsnap-uc (the runtime, memsnap/uc.h) is measured when
	 * bench/meson.build finds memsnap_uc_dep and defines
	 * MSB_HAVE_MEMSNAP_UC. */
	if (o->n_strategies && msb_wants(o, "memsnap-uc"))
		fprintf(stderr,
			"memsnap-bench: memsnap-uc: the runtime is not part of this build\n");
#endif
	static const struct {
		const char *name;
		enum kind kind;
	} slow[] = {{"memcpy", K_MEMCPY}, {"uc_mem_write", K_UCWRITE}, {"fresh_engine", K_FRESH}};
	for (size_t i = 0; i < 3; i++)
		if (msb_wants(o, slow[i].name)) {
			list[n] = (strategy){.kind = slow[i].kind};
			snprintf(list[n++].name, 32, "%s", slow[i].name);
		}
	return n;
}

static void run_cell(msb_options *o, cell *c, strategy *strats, size_t ns, long target)
{
	char sz[16];
	msb_size_str(c->ram_size, sz, sizeof sz);
	size_t ps = ms_page_size();
	size_t npages = c->ram_size / ps;
	size_t *pages = malloc(c->nd * sizeof *pages + 1);
	msb_pick_pages(msb_seed(c->ram_size, c->nd, 1234, 0), npages, c->nd, pages);
	uint64_t rs = 42;
	for (size_t i = 0; i < c->nd; i++)
		c->table[i] = pages[i] * ps + (msb_rand(&rs) % (ps / 8)) * 8;
	free(pages);
	long fixed = 6 + 5 * (long)c->nd;
	c->rounds = target > fixed ? (uint64_t)((target - fixed + 3) / 4) : 0;
	long insns = fixed + 4 * (long)c->rounds;

	size_t rounds = o->quick ? 2 : 5;
	if (o->n_rounds)
		rounds = (size_t)o->rounds[0];
	uint64_t budget = o->quick ? 15000000u : 150000000u;
	size_t live[MSB_MAX_STRATEGIES], nlive = 0;
	for (size_t i = 0; i < ns; i++) {
		strategy *s = &strats[i];
		s->ok = true;
		s->err = 0;
		s->what = NULL;
		s->n = 0;
		s->nrounds = 0;
		s->cap = MAX_ROUND_ITERS * rounds;
		if (s->kind == K_MEMSNAP && !s->view)
			continue;
		if (strategy_setup(s, c) == 0) {
			s->reset_ns = malloc(s->cap * sizeof(double));
			s->iter_ns = malloc(s->cap * sizeof(double));
			live[nlive++] = i;
		} else {
			fprintf(stderr, "memsnap-bench: fuzz %s %s: %s: %s (skipped)\n", sz,
				s->name, s->what ? s->what : "setup", ms_strerror(s->err));
			strategy_teardown(s, c);
		}
	}
	for (size_t r = 0; r <= rounds; r++) {
		msb_progress(o, "fuzz %s D=%zu insns=%ld round %zu/%zu", sz, c->nd, insns, r,
			     rounds);
		for (size_t k = 0; k < nlive; k++) {
			strategy *s = &strats[live[(k + r) % nlive]];
			if (s->ok)
				run_round(s, c, r == 0 ? budget / 10 : budget, r == 0);
		}
	}
	for (size_t k = 0; k < nlive; k++) {
		strategy *s = &strats[live[k]];
		if (s->ok && s->kind != K_FLOOR && s->kind != K_FLOOR_CPU &&
		    !ram_pristine(o, s, c)) {
			s->ok = false;
			s->what = "RAM differs from the image after reset";
		}
	}
	/* Paired ratios from the rates in round order (quantiles sort them). */
	double x_limit[MSB_MAX_STRATEGIES], x_floor[MSB_MAX_STRATEGIES];
	const strategy *limit_ref = find_kind(strats, live, nlive, K_LIMIT);
	const strategy *floor_ref = find_kind(strats, live, nlive, K_FLOOR);
	for (size_t k = 0; k < nlive; k++) {
		x_limit[k] = paired_ratio(&strats[live[k]], limit_ref);
		x_floor[k] = paired_ratio(&strats[live[k]], floor_ref);
	}
	for (size_t k = 0; k < nlive; k++) {
		strategy *s = &strats[live[k]];
		if (!s->ok)
			fprintf(stderr, "memsnap-bench: fuzz %s D=%zu %s: %s%s%s\n", sz, c->nd,
				s->name, s->what ? s->what : "failed", s->err ? ": " : "",
				s->err ? ms_strerror(s->err) : "");
		msb_result *res = msb_add("fuzz");
		snprintf(res->strategy, sizeof res->strategy, "%s", s->name);
		if (s->view)
			snprintf(res->tracker, sizeof res->tracker, "%s",
				 ms_tracker_name(ms_view_tracker(s->view)));
		res->size_bytes = c->ram_size;
		res->dirty_pages = (long)c->nd;
		res->insns = insns;
		res->verified = s->ok;
		res->reps = (long)s->n;
		res->iters_per_sec = msb_quantile(s->rates, s->nrounds, 0.5);
		res->x_limit = x_limit[k];
		res->x_floor = x_floor[k];
		res->restore_ns_median = msb_quantile(s->reset_ns, s->n, 0.5);
		res->restore_ns_p99 = msb_quantile(s->reset_ns, s->n, 0.99);
		res->iteration_ns_median = msb_quantile(s->iter_ns, s->n, 0.5);
		res->iteration_ns_p99 = msb_quantile(s->iter_ns, s->n, 0.99);
		free(s->reset_ns);
		free(s->iter_ns);
		s->reset_ns = s->iter_ns = NULL;
		strategy_teardown(s, c);
	}
	msb_progress_done(o);
}

static void run_ram(msb_options *o, size_t ram_size, strategy *strats, size_t ns)
{
	char sz[16];
	msb_size_str(ram_size, sz, sizeof sz);
	cell c = {.ram_size = ram_size, .fd = -1};
	int err = msb_make_image(ram_size, &c.fd);
	void *p = MAP_FAILED;
	if (!err && (p = mmap(NULL, ram_size, PROT_READ, MAP_SHARED, c.fd, 0)) == MAP_FAILED)
		err = -errno;
	if (!err)
		err = ms_snapshot_from_fd(c.fd, &c.snap);
	if (!err && !(c.shared_ram = msb_map_anon(ram_size)))
		err = -ENOMEM;
	c.table = calloc(TABLE_SIZE / 8, 8);
	if (!err && !c.table)
		err = -ENOMEM;
	if (err) {
		fprintf(stderr, "memsnap-bench: fuzz %s: setup: %s\n", sz, ms_strerror(err));
		goto out;
	}
	c.pristine = p;
	msb_touch_pages(c.pristine, ram_size);
	memcpy(c.shared_ram, c.pristine, ram_size);
	for (size_t i = 0; i < ns; i++) {
		strategy *s = &strats[i];
		if (s->kind != K_MEMSNAP)
			continue;
		err = s->tracker ? ms_view_new_tracked(c.snap, MS_VIEW_COW, s->tracker, &s->view)
				 : ms_view_new(c.snap, MS_VIEW_COW, &s->view);
		if (err) {
			fprintf(stderr, "memsnap-bench: fuzz %s %s: %s (skipped)\n", sz, s->name,
				ms_strerror(err));
			s->view = NULL;
			continue;
		}
		msb_touch_pages(ms_view_data(s->view), ram_size);
	}
	for (size_t ii = 0; ii < o->n_insns; ii++)
		for (size_t di = 0; di < o->n_dirty; di++) {
			c.nd = (size_t)o->dirty[di];
			if (c.nd > ram_size / ms_page_size() || c.nd > TABLE_SIZE / 8) {
				fprintf(stderr, "memsnap-bench: fuzz: D=%zu too large, skipped\n",
					c.nd);
				continue;
			}
			run_cell(o, &c, strats, ns, o->insns[ii]);
		}
	for (size_t i = 0; i < ns; i++) {
		ms_view_free(strats[i].view);
		strats[i].view = NULL;
	}
out:
	free(c.table);
	if (c.shared_ram)
		munmap(c.shared_ram, ram_size);
	if (p != MAP_FAILED)
		munmap(p, ram_size);
	ms_snapshot_unref(c.snap);
	if (c.fd >= 0)
		close(c.fd);
}

int msb_fuzz(msb_options *o)
{
	if (o->n_sizes == 0) {
		o->sizes[o->n_sizes++] = 64u << 20;
		if (!o->quick) {
			o->sizes[o->n_sizes++] = 1u << 30;
			o->sizes[o->n_sizes++] = (size_t)4 << 30;
		}
	}
	if (o->n_dirty == 0) {
		o->dirty[o->n_dirty++] = 1;
		o->dirty[o->n_dirty++] = 16;
		if (!o->quick)
			o->dirty[o->n_dirty++] = 256;
	}
	if (o->n_insns == 0) {
		o->insns[o->n_insns++] = 1000;
		if (!o->quick)
			o->insns[o->n_insns++] = 10000;
	}
	if (o->n_rounds && (o->n_rounds > 1 || o->rounds[0] < 1 || o->rounds[0] > MAX_ROUNDS)) {
		fprintf(stderr, "memsnap-bench: fuzz: --rounds takes one count, 1 to %d\n",
			MAX_ROUNDS);
		return 2;
	}
	strategy strats[MSB_MAX_STRATEGIES];
	size_t ns = list_strategies(o, strats);
	if (ns == 0) {
		fprintf(stderr, "memsnap-bench: fuzz: no strategy selected\n");
		return 2;
	}
	for (size_t i = 0; i < o->n_sizes; i++) {
		uint64_t need = 2 * (uint64_t)o->sizes[i] + (512u << 20);
		uint64_t avail = msb_mem_available();
		if (avail && avail < need) {
			fprintf(stderr,
				"memsnap-bench: fuzz with %zu bytes of RAM skipped: not enough "
				"memory\n",
				o->sizes[i]);
			continue;
		}
		run_ram(o, o->sizes[i], strats, ns);
	}
	return 0;
}
