/* Checkpoints (runtime/checkpoint.c): take, restore, nest, differential
 * runs of random guest and host writes, self-modifying code, memory map. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common.h"
#include "state.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	return ms_test_rnd(&rng);
}

static bool hook_mode(guest_env *e)
{
	return ms_uc_get_tracking(e->m) == MS_UC_TRACK_HOOK;
}

/* A random target for a store of `size` bytes: the data regions (stores may
 * cross pages and the boundary between the two regions) or the unused upper
 * half of the code page. */
static uint64_t rnd_target(const guest *g, uint64_t size)
{
	uint64_t a;
	if (rnd() % 8 == 0)
		a = G_CODE + 0x800 + rnd() % (0x800 - 16);
	else if (rnd() % 4 == 0) /* near a page or region boundary */
		a = G_DATA + ((rnd() % 31) + 1) * 4096 - (rnd() % 16);
	else
		a = G_DATA + rnd() % (2 * G_DATA_SIZE - 16);
	if (size >= 8 && g->max_align > 1)
		a &= ~(uint64_t)(g->max_align - 1);
	return a;
}

/* Guest stores: fill the mailbox with random commands and run them. */
static void random_guest_stores(guest_env *e)
{
	static const uint64_t sizes[] = {1, 2, 4, 8, 16};
	uint64_t n = rnd() % 24;
	guest_cmd cmds[24];
	for (uint64_t i = 0; i < n; i++) {
		cmds[i].size = sizes[rnd() % 5];
		cmds[i].address = rnd_target(e->g, cmds[i].size);
		cmds[i].value[0] = rnd();
		cmds[i].value[1] = rnd();
	}
	cr_assert_eq(ms_uc_write(e->m, G_MBOX, &n, 8), 0);
	cr_assert_eq(ms_uc_write(e->m, G_MBOX + 8, cmds, n * sizeof cmds[0]), 0);
	int err = guest_run(e, G_CMD);
	cr_assert_eq(err, 0, "run: %s", ms_strerror(err));
	cr_assert_eq(guest_reg(e, e->g->pc), G_CODE + G_DONE);
}

/* Host writes of every kind. In hook mode the writers the hook cannot see
 * are announced with ms_uc_note_written, as documented. */
static void random_host_writes(guest_env *e, int fd)
{
	uint8_t buf[300];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rnd();
	size_t len = 1 + rnd() % sizeof buf;
	uint64_t a = G_DATA + rnd() % (2 * G_DATA_SIZE - sizeof buf);
	if (!ms_uc_host_ptr(e->m, a, NULL) || !ms_uc_host_ptr(e->m, a + len - 1, NULL))
		return; /* the map was changed since the checkpoint */
	switch (rnd() % 4) {
	case 0: { /* through the host pointer (may cross into the next region) */
		size_t avail;
		uint8_t *p = ms_uc_host_ptr(e->m, a, &avail);
		cr_assert(p);
		if (len > avail)
			len = avail;
		memcpy(p, buf, len);
		if (hook_mode(e))
			ms_uc_note_written(e->m, a, len);
		break;
	}
	case 1: /* uc_mem_write */
		cr_assert_eq(uc_mem_write(e->uc, a, buf, len), UC_ERR_OK);
		if (hook_mode(e))
			ms_uc_note_written(e->m, a, len);
		break;
	case 2:
		cr_assert_eq(ms_uc_write(e->m, a, buf, len), 0);
		break;
	default: { /* the kernel: read(2) into guest RAM, announced first */
		size_t avail;
		uint8_t *p = ms_uc_host_ptr(e->m, a, &avail);
		if (len > avail)
			len = avail;
		cr_assert_eq(ms_uc_note_written(e->m, a, len), 0);
		cr_assert_eq(pread(fd, p, len, (off_t)(rnd() % 4096)), (ssize_t)len,
			     "read(2) into guest RAM: %m");
		break;
	}
	}
}

static int random_file(void)
{
	char path[256];
	uint8_t data[8192];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)rnd();
	ms_test_tmpfile(path, sizeof path, data, sizeof data);
	int fd = open(path, O_RDONLY);
	unlink(path);
	cr_assert(fd >= 0);
	return fd;
}

/* Put random content in the data regions and registers before the
 * checkpoint, so that restoring zeros would be caught. */
static void scramble(guest_env *e)
{
	uint8_t buf[4096];
	for (uint64_t a = G_DATA; a < G_DATA + 2 * G_DATA_SIZE; a += 4096 * 3) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (uint8_t)rnd();
		cr_assert_eq(ms_uc_write(e->m, a, buf, sizeof buf), 0);
	}
	uint64_t v = rnd();
	uc_reg_write(e->uc, e->g->result_reg, &v);
}

static void map_changes(guest_env *e, int kind)
{
	switch (kind) {
	case 0: /* an extra region appears (or goes) */
		if (ms_uc_host_ptr(e->m, 0x400000, NULL))
			cr_assert_eq(ms_uc_unmap(e->m, 0x400000, 0x3000), 0);
		else
			cr_assert_eq(ms_uc_map_zeroed(e->m, 0x400000, 0x3000, UC_PROT_READ), 0);
		break;
	case 1:
		cr_assert_eq(ms_uc_unmap(e->m, G_DATA + G_DATA_SIZE, G_DATA_SIZE), 0);
		break;
	/* (callers restore a checkpoint before the next guest run) */
	case 2:
		cr_assert_eq(ms_uc_protect(e->m, G_DATA + 0x2000, 0x3000, UC_PROT_READ), 0);
		break;
	default:
		cr_assert_eq(ms_uc_unmap(e->m, G_DATA + G_DATA_SIZE, G_DATA_SIZE), 0);
		cr_assert_eq(ms_uc_map_zeroed(e->m, G_DATA + G_DATA_SIZE, 0x2000, UC_PROT_ALL), 0);
		break;
	}
}

static void differential(const guest *g, int iterations)
{
	guest_env e;
	guest_open(&e, g);
	int fd = random_file();
	scramble(&e);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	engine_state ref;
	state_capture(&e, &ref);
	for (int it = 0; it < iterations; it++) {
		int writes = (int)(rnd() % 4);
		for (int w = 0; w < writes; w++)
			random_host_writes(&e, fd);
		random_guest_stores(&e);
		if (rnd() % 2)
			random_host_writes(&e, fd);
		long missed = ms_uc_verify(e.m);
		cr_assert(missed == 0 || missed == -EOPNOTSUPP, "iteration %d: %ld pages missed",
			  it, missed);
		if (it % 37 == 0)
			map_changes(&e, (int)(rnd() % 4));
		int err = ms_uc_checkpoint_restore(e.m, cp);
		cr_assert_eq(err, 0, "restore: %s", ms_strerror(err));
		state_check(&e, &ref, it);
	}
	state_free(&ref);
	ms_uc_checkpoint_free(cp);
	close(fd);
	guest_close(&e);
}

Test(checkpoint, differential_x86_64, .timeout = 600)
{
	differential(&guest_x86_64, 3000);
}

Test(checkpoint, differential_thumb, .timeout = 600)
{
	differential(&guest_thumb, 3000);
}

static void nested(const guest *g)
{
	guest_env e;
	guest_open(&e, g);
	int fd = random_file();
	scramble(&e);
	ms_uc_checkpoint *c0, *c1, *c2;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c0), 0);
	engine_state s0, s1, s2;
	state_capture(&e, &s0);
	random_guest_stores(&e);
	random_host_writes(&e, fd);
	map_changes(&e, 0);
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c1), 0);
	state_capture(&e, &s1);
	for (int it = 0; it < 300; it++) {
		random_host_writes(&e, fd);
		random_guest_stores(&e);
		if (it % 13 == 0)
			map_changes(&e, (int)(rnd() % 4));
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, c1), 0);
		state_check(&e, &s1, it);
	}
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, c0), 0);
	state_check(&e, &s0, -1);
	random_guest_stores(&e);
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c2), 0);
	state_capture(&e, &s2);
	/* Jump around between the three, with writes in between. */
	ms_uc_checkpoint *cps[] = {c0, c1, c2};
	engine_state *ss[] = {&s0, &s1, &s2};
	for (int it = 0; it < 300; it++) {
		int k = (int)(rnd() % 3);
		random_host_writes(&e, fd);
		if (it % 11 == 0)
			map_changes(&e, (int)(rnd() % 4));
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, cps[k]), 0);
		state_check(&e, ss[k], it);
		if (k != 1)
			random_guest_stores(&e);
	}
	/* Checkpoints outlive their order of creation. */
	ms_uc_checkpoint_free(c1);
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, c2), 0);
	state_check(&e, &s2, -2);
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, c0), 0);
	state_check(&e, &s0, -3);
	ms_uc_checkpoint_free(c0);
	ms_uc_checkpoint_free(c2);
	state_free(&s0);
	state_free(&s1);
	state_free(&s2);
	close(fd);
	guest_close(&e);
}

Test(checkpoint, nested_x86_64, .timeout = 300)
{
	nested(&guest_x86_64);
}

Test(checkpoint, nested_thumb, .timeout = 300)
{
	nested(&guest_thumb);
}

/* The smc entry translates an instruction, rewrites it and runs it again.
 * After a restore the original instruction must run first again: translated
 * code of restored pages is dropped. */
static void self_modifying(const guest *g)
{
	guest_env e;
	guest_open(&e, g);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(guest_run(&e, G_SMC), 0);
		cr_assert_eq(guest_reg(&e, g->result_reg), 3, "run %d: result %llu", i,
			     (unsigned long long)guest_reg(&e, g->result_reg));
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
	}
	ms_uc_stats st;
	ms_uc_get_stats(e.m, &st);
	cr_assert_gt(st.code_pages_flushed, 0);
	/* Per page, not the whole engine: at most one page per restore plus the
	 * stop-hook setup (and whole regions for untracked views). */
	ms_uc_checkpoint_free(cp);
	guest_close(&e);
}

Test(checkpoint, self_modifying_code_x86_64)
{
	self_modifying(&guest_x86_64);
}

Test(checkpoint, self_modifying_code_thumb)
{
	self_modifying(&guest_thumb);
}

/* Restoring another checkpoint drops the translations of the pages that
 * differ between the two checkpoints, even unwritten since, and only those:
 * C1 holds the rewritten code; f (at 0x380) is translated from it without
 * writing; C0
 * is restored and must run the original f. A second executable region that
 * is the same in both checkpoints keeps its translations. */
static void smc_across_checkpoints(const guest *g)
{
	guest_env e;
	guest_open(&e, g);
	cr_assert_eq(ms_uc_map_zeroed(e.m, 0x400000, 0x10000, UC_PROT_ALL), 0);
	ms_uc_checkpoint *c0, *c1;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c0), 0);
	cr_assert_eq(guest_run(&e, G_SMC), 0); /* leaves f rewritten */
	cr_assert_eq(guest_reg(&e, g->result_reg), 3);
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c1), 0);
	/* Run f alone from C1: translated with the rewritten operand. */
	uint64_t ret = (G_CODE + G_DONE) | g->thumb, zero = 0;
	cr_assert_eq(uc_reg_write(e.uc, g->result_reg, &zero), UC_ERR_OK);
	int link = g->arch == UC_ARCH_X86 ? UC_X86_REG_RBX : UC_ARM_REG_R5;
	cr_assert_eq(uc_reg_write(e.uc, link, &ret), UC_ERR_OK);
	cr_assert_eq(ms_uc_run(e.m, (G_CODE + 0x380) | g->thumb, G_CODE + G_DONE, 0, 0), 0);
	cr_assert_eq(guest_reg(&e, g->result_reg), 2, "f of C1 returns 2");
	ms_uc_stats before, after;
	ms_uc_get_stats(e.m, &before);
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, c0), 0);
	ms_uc_get_stats(e.m, &after);
	cr_assert_eq(guest_run(&e, G_SMC), 0);
	cr_assert_eq(guest_reg(&e, g->result_reg), 3, "stale f after restoring C0: %llu",
		     (unsigned long long)guest_reg(&e, g->result_reg));
	/* Untracked views are remapped whole, so their code is dropped whole. */
	const char *tracker = getenv("MEMSNAP_TRACKER");
	if (tracker && strcmp(tracker, "none") == 0 && !hook_mode(&e))
		cr_assert_geq(after.code_pages_flushed - before.code_pages_flushed, 1);
	else
		cr_assert_eq(
		    after.code_pages_flushed - before.code_pages_flushed, 1, "%llu pages dropped",
		    (unsigned long long)(after.code_pages_flushed - before.code_pages_flushed));
	ms_uc_checkpoint_free(c1);
	ms_uc_checkpoint_free(c0);
	guest_close(&e);
}

Test(checkpoint, smc_across_checkpoints_x86_64)
{
	smc_across_checkpoints(&guest_x86_64);
}

Test(checkpoint, smc_across_checkpoints_thumb)
{
	smc_across_checkpoints(&guest_thumb);
}

/* A restore that fails part way (a region cannot be mapped back) must not
 * leave state that makes a later restore skip a region. */
Test(checkpoint, failed_restore_then_restore)
{
	guest_env e;
	guest_open(&e, &guest_x86_64);
	ms_uc_checkpoint *c1, *c2;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c1), 0);
	cr_assert_eq(ms_uc_write(e.m, G_DATA + 0x10, "X", 1), 0);
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &c2), 0);
	cr_assert_eq(ms_uc_unmap(e.m, G_DATA, G_DATA_SIZE), 0);
	cr_assert_eq(ms_uc_unmap(e.m, G_DATA + G_DATA_SIZE, G_DATA_SIZE), 0);
	/* Foreign memory where the second data region was: restoring c1
	 * maps the first region back, then fails. */
	cr_assert_eq(uc_mem_map(e.uc, G_DATA + G_DATA_SIZE, 0x1000, UC_PROT_READ), UC_ERR_OK);
	cr_assert_neq(ms_uc_checkpoint_restore(e.m, c1), 0);
	cr_assert_eq(uc_mem_unmap(e.uc, G_DATA + G_DATA_SIZE, 0x1000), UC_ERR_OK);
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, c2), 0);
	char x = 0;
	cr_assert_eq(ms_uc_read(e.m, G_DATA + 0x10, &x, 1), 0);
	cr_assert_eq(x, 'X', "the first data region holds c1's content, not c2's");
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, c1), 0);
	cr_assert_eq(ms_uc_read(e.m, G_DATA + 0x10, &x, 1), 0);
	cr_assert_eq(x, 0);
	ms_uc_checkpoint_free(c2);
	ms_uc_checkpoint_free(c1);
	guest_close(&e);
}

/* One x86 instruction whose flags Unicorn 2.0.x computes differently while
 * a memory write hook exists (a shift of a memory operand by cl; the case of
 * unicorn-engine/unicorn issue 1911). Returns EFLAGS after it runs, in a
 * plain engine or under memsnap. */
static uint64_t shift_flags(bool memsnap)
{
	const uint64_t code = 0x7ff7f8d00000ull, data = 0xb5858fd000ull;
	uc_engine *uc;
	ms_uc *m = NULL;
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
	if (memsnap) {
		cr_assert_eq(ms_uc_new(uc, &m), 0);
		cr_assert_eq(ms_uc_map_zeroed(m, data, 0x1000, UC_PROT_ALL), 0);
		cr_assert_eq(ms_uc_map_zeroed(m, code, 0x1000000, UC_PROT_ALL), 0);
	} else {
		cr_assert_eq(uc_mem_map(uc, data, 0x1000, UC_PROT_ALL), UC_ERR_OK);
		cr_assert_eq(uc_mem_map(uc, code, 0x1000000, UC_PROT_ALL), UC_ERR_OK);
	}
	cr_assert_eq(uc_mem_write(uc, data + 0x667, "\x5e\x00\x00\x00", 4), UC_ERR_OK);
	/* sal dword ptr [rsp + rbx*2 + 0x3000005d], cl */
	cr_assert_eq(uc_mem_write(uc, code + 0x2e70d5, "\xd3\xb4\x04\x5d\x00\x03\xc8", 7),
		     UC_ERR_OK);
	uint64_t rax = 0x37fcffb2, flags = 0x83, rsp = data + 0x658;
	uint8_t cl = 0x46;
	uc_reg_write(uc, UC_X86_REG_RAX, &rax);
	uc_reg_write(uc, UC_X86_REG_CL, &cl);
	uc_reg_write(uc, UC_X86_REG_EFLAGS, &flags);
	uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
	cr_assert_eq(uc_emu_start(uc, code + 0x2e70d5, 0, 0, 1), UC_ERR_OK);
	uc_reg_read(uc, UC_X86_REG_EFLAGS, &flags);
	ms_uc_free(m);
	uc_close(uc);
	return flags;
}

/* Exact tracking must not change what an x86 guest computes: on Unicorn
 * 2.0.x it installs no memory hook on x86 (hook tracking does, and is
 * documented to inherit that Unicorn bug). */
Test(checkpoint, exact_tracking_keeps_x86_semantics)
{
	const char *mode = getenv("MEMSNAP_UC_TRACKING");
	if (mode && strcmp(mode, "hook") == 0)
		cr_skip_test("hook tracking installs a write hook by design (docs/runtime.md)");
	uint64_t plain = shift_flags(false), under = shift_flags(true);
	cr_assert_eq(under, plain, "EFLAGS %#llx under memsnap, %#llx in a plain engine",
		     (unsigned long long)under, (unsigned long long)plain);
}

/* A file-backed region is read lazily: mapping 64 MiB costs no memory. */
Test(checkpoint, lazy_file_backed_ram)
{
	char path[256];
	ms_test_tmpfile(path, sizeof path, "", 0);
	size_t size = 64u << 20;
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	cr_assert_eq(pwrite(fd, "memsnap", 7, 40u << 20), 7);
	ms_snapshot *snap;
	cr_assert_eq(ms_snapshot_from_fd(fd, &snap), 0);
	guest_env e;
	guest_open(&e, &guest_x86_64);
	long rss0 = ms_test_rss_kib();
	cr_assert_eq(ms_uc_map(e.m, 0x10000000, snap, UC_PROT_READ | UC_PROT_WRITE), 0);
	ms_snapshot_unref(snap);
	long rss1 = ms_test_rss_kib();
	cr_assert_lt(rss1 - rss0, 4096, "mapping 64 MiB from a file grew RSS by %ld KiB",
		     rss1 - rss0);
	char got[8] = {0};
	cr_assert_eq(ms_uc_read(e.m, 0x10000000 + (40u << 20), got, 7), 0);
	cr_assert_str_eq(got, "memsnap");
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	guest_cmd cmd = {0x10000000 + (40u << 20), 8, {0x4141414141414141ull, 0}};
	uint64_t one = 1;
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(ms_uc_write(e.m, G_MBOX, &one, 8), 0);
		cr_assert_eq(ms_uc_write(e.m, G_MBOX + 8, &cmd, sizeof cmd), 0);
		cr_assert_eq(guest_run(&e, G_CMD), 0);
		cr_assert_eq(ms_uc_read(e.m, cmd.address, got, 7), 0);
		cr_assert_eq(memcmp(got, "AAAAAAA", 7), 0);
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
		cr_assert_eq(ms_uc_read(e.m, cmd.address, got, 7), 0);
		cr_assert_eq(memcmp(got, "memsnap", 7), 0);
	}
	long grown = ms_test_rss_kib() - rss0;
	if (ms_test_under_valgrind() || getenv("MEMSNAP_TEST_SANITIZER"))
		grown = 0; /* the tool's shadow memory of each new mapping is resident */
	cr_assert_lt(grown, 8192, "RSS grew by %ld KiB", grown);
	ms_uc_checkpoint_free(cp);
	guest_close(&e);
	/* Copy-on-write: the file never changed. */
	cr_assert_eq(pread(fd, got, 7, 40u << 20), 7);
	cr_assert_eq(memcmp(got, "memsnap", 7), 0);
	close(fd);
	unlink(path);
}

/* The engine's statistics: the pages each restore put back, whatever wrote
 * them (ms_uc_write, a store across the boundary of two regions), every
 * page of the regions an untracked restore maps again; restore time once
 * timing is turned on. */
Test(checkpoint, stats_count_the_pages_each_restore_puts_back)
{
	guest_env e;
	guest_open(&e, &guest_x86_64);
	const char *tracker = getenv("MEMSNAP_TRACKER");
	bool remaps = tracker && strcmp(tracker, "none") == 0 && !hook_mode(&e);
	/* code 4 KiB, mailbox 64 KiB, two data regions of 64 KiB */
	uint64_t all = (0x1000 + 0x10000 + 2 * G_DATA_SIZE) / ms_page_size();
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	uint8_t b[16];
	memset(b, 0xab, sizeof b);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(ms_uc_write(e.m, G_DATA + (uint64_t)i * 0x3000, b, 1), 0);
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
	ms_uc_stats st;
	cr_assert_eq(ms_uc_get_stats(e.m, &st), 0);
	cr_assert_eq(st.restores, 1);
	cr_assert_eq(st.last_dirty_pages, remaps ? all : 3, "%llu pages",
		     (unsigned long long)st.last_dirty_pages);

	/* One guest store across the two data regions: two pages. */
	uint64_t at = G_DATA + G_DATA_SIZE - 8;
	guest_cmd cmd = {at, 16, {0x1111111111111111ull, 0x2222222222222222ull}};
	uint64_t one = 1;
	cr_assert_eq(ms_uc_write(e.m, G_MBOX, &one, 8), 0);
	cr_assert_eq(ms_uc_write(e.m, G_MBOX + 8, &cmd, sizeof cmd), 0);
	ms_uc_stats before;
	cr_assert_eq(ms_uc_get_stats(e.m, &before), 0);
	cr_assert_eq(guest_run(&e, G_CMD), 0);
	uint64_t got[2];
	cr_assert_eq(ms_uc_read(e.m, at, got, 16), 0);
	cr_assert_eq(got[1], cmd.value[1], "the guest store did not run");
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
	cr_assert_eq(ms_uc_get_stats(e.m, &st), 0);
	cr_assert_eq(st.restores, before.restores + 1);
	/* The mailbox page (written above) and the two pages of the store. */
	cr_assert_eq(st.last_dirty_pages, remaps ? all : 3, "%llu pages",
		     (unsigned long long)st.last_dirty_pages);
	cr_assert_eq(st.total_dirty_pages, before.total_dirty_pages + st.last_dirty_pages);
	cr_assert_eq(ms_uc_read(e.m, at, got, 16), 0);
	cr_assert_eq(got[0] | got[1], 0);
	ms_uc_checkpoint_free(cp);
	guest_close(&e);
}

Test(checkpoint, restore_of_another_engine_is_exdev)
{
	guest_env a, b;
	guest_open(&a, &guest_x86_64);
	guest_open(&b, &guest_x86_64);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	cr_assert_eq(ms_uc_checkpoint_restore(b.m, cp), -EXDEV);
	cr_assert_eq(ms_uc_checkpoint_restore(a.m, cp), 0);
	cr_assert_eq(ms_uc_checkpoint_restore(a.m, NULL), -EINVAL);
	ms_uc_checkpoint_free(cp);
	ms_uc_checkpoint_free(NULL);
	guest_close(&a);
	guest_close(&b);
}

Test(checkpoint, memory_map_of_a_checkpoint)
{
	guest_env e;
	guest_open(&e, &guest_x86_64);
	cr_assert_eq(ms_uc_protect(e.m, G_DATA, 0x1000, UC_PROT_READ), 0);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	uc_mem_region r[8];
	long n = ms_uc_checkpoint_regions(cp, r, 8);
	cr_assert_eq(n, 5);
	cr_assert_eq(r[2].begin, G_DATA);
	cr_assert_eq(r[2].end, G_DATA + 0xfff);
	cr_assert_eq(r[2].perms, UC_PROT_READ);
	cr_assert_eq(r[3].begin, G_DATA + 0x1000);
	cr_assert_eq(r[3].perms, UC_PROT_READ | UC_PROT_WRITE);
	ms_uc_checkpoint_free(cp);
	guest_close(&e);
}

/* Hook tracking does not see host pointer writes: ms_uc_verify finds them. */
Test(checkpoint, hook_tracking_misses_unannounced_host_writes)
{
	guest_env e;
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &e.uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(e.uc, &e.m), 0);
	cr_assert_eq(ms_uc_set_tracking(e.m, MS_UC_TRACK_HOOK, MS_TRACKER_AUTO), 0);
	cr_assert_eq(ms_uc_map_zeroed(e.m, G_DATA, G_DATA_SIZE, UC_PROT_ALL), 0);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	uint8_t *p = ms_uc_host_ptr(e.m, G_DATA + 0x3000, NULL);
	p[5] = 1;
	cr_assert_eq(ms_uc_verify(e.m), 1);
	cr_assert_eq(ms_uc_note_written(e.m, G_DATA + 0x3005, 1), 0);
	cr_assert_eq(ms_uc_verify(e.m), 0);
	cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
	cr_assert_eq(p[5], 0);
	ms_uc_checkpoint_free(cp);
	ms_uc_free(e.m);
	uc_close(e.uc);
}

/* With the default tracking, guest RAM sees the kernel's writes: a pread
 * into guest RAM through its host pointer, never announced, succeeds, and
 * the next checkpoint restore undoes it. */
Test(checkpoint, default_tracking_undoes_an_unannounced_pread)
{
	if (getenv("MEMSNAP_TRACKER") || getenv("MEMSNAP_UC_TRACKING"))
		cr_skip_test("a tracker other than the default was asked for");
	guest_env e;
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &e.uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(e.uc, &e.m), 0);
	cr_assert_eq(ms_uc_map_zeroed(e.m, G_DATA, G_DATA_SIZE, UC_PROT_ALL), 0);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(e.m, &cp), 0);
	char path[256];
	uint8_t content[8192];
	memset(content, 0xab, sizeof content);
	ms_test_tmpfile(path, sizeof path, content, sizeof content);
	uint8_t *p = ms_uc_host_ptr(e.m, G_DATA + 0x3000, NULL);
	cr_assert_not_null(p);
	for (int round = 0; round < 3; round++) {
		int fd = open(path, O_RDONLY);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pread(fd, p + 100, sizeof content, 0), (ssize_t)sizeof content, "%s",
			     strerror(errno));
		close(fd);
		cr_assert_eq(p[100 + 5000], 0xab);
		cr_assert_eq(ms_uc_checkpoint_restore(e.m, cp), 0);
		uint8_t back[G_DATA_SIZE];
		cr_assert_eq(ms_uc_read(e.m, G_DATA, back, sizeof back), 0);
		for (size_t i = 0; i < sizeof back; i++)
			cr_assert_eq(back[i], 0, "round %d: byte %zu not restored", round, i);
	}
	unlink(path);
	ms_uc_checkpoint_free(cp);
	ms_uc_free(e.m);
	uc_close(e.uc);
}
