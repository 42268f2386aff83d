/* Save states of engines (runtime/savestate.c): a checkpoint of a running
 * guest saved to a file and loaded into a fresh engine continues exactly like
 * the original; incremental states; every kind of bad file or misuse. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common.h"
#include "../state/util.h"
#include "memsnap/uc_state.h"
#include "state.h"

static char dir[512];

static void setup(void)
{
	st_tmpdir(dir, sizeof dir);
}

static void teardown(void)
{
	st_rmtree(dir);
}

TestSuite(savestate, .init = setup, .fini = teardown);

static void path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

/* Mailbox for the spin entry: 3 pages written round-robin, rcx iterations. */
static void spin_setup(guest_env *e, uint64_t iterations)
{
	uint64_t mbox[4] = {3, G_DATA, G_DATA + 0x5000, G_DATA + G_DATA_SIZE + 0x3000};
	cr_assert_eq(ms_uc_write(e->m, G_MBOX, mbox, sizeof mbox), 0);
	cr_assert_eq(uc_reg_write(e->uc, e->g->count_reg, &iterations), UC_ERR_OK);
}

/* Run the spin loop for `count` instructions only: the guest stops in the
 * middle of its work, with live registers and half-written pages. */
static void run_partly(guest_env *e, size_t count)
{
	int err = ms_uc_run(e->m, (G_CODE + G_SPIN) | e->g->thumb, G_CODE + G_DONE, 0, count);
	cr_assert_eq(err, 0, "run: %s", ms_strerror(err));
	cr_assert_neq(guest_reg(e, e->g->pc), G_CODE + G_DONE);
}

/* Continue from the current PC to the end. */
static void run_rest(guest_env *e)
{
	uint64_t pc = guest_reg(e, e->g->pc) | e->g->thumb;
	int err = ms_uc_run(e->m, pc, G_CODE + G_DONE, 0, 0);
	cr_assert_eq(err, 0, "run: %s", ms_strerror(err));
	cr_assert_eq(guest_reg(e, e->g->pc), G_CODE + G_DONE);
}

static void fresh_engine(guest_env *e, const guest *g)
{
	e->g = g;
	cr_assert_eq(uc_open(g->arch, g->mode, &e->uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(e->uc, &e->m), 0);
}

static void load_and_restore(guest_env *e, const char *path, unsigned flags)
{
	ms_uc_checkpoint *cp;
	int err = ms_uc_checkpoint_load(e->m, path, flags, &cp);
	cr_assert_eq(err, 0, "load: %s", ms_strerror(err));
	err = ms_uc_checkpoint_restore(e->m, cp);
	cr_assert_eq(err, 0, "restore: %s", ms_strerror(err));
	ms_uc_checkpoint_free(cp);
}

/* Save a guest stopped mid-run, load it into a fresh engine: same map, RAM
 * and registers; both then finish the run identically. */
static void running_guest(const guest *g, ms_uc_tracking tracking)
{
	guest_env a, b;
	guest_open(&a, g);
	spin_setup(&a, 5000);
	cr_assert_eq(ms_uc_protect(a.m, G_DATA + 0x8000, 0x2000, UC_PROT_READ), 0);
	run_partly(&a, 1234);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	char path[600];
	path_in(path, sizeof path, "running.mss");
	int err = ms_uc_checkpoint_save(cp, path, NULL);
	cr_assert_eq(err, 0, "save: %s", ms_strerror(err));
	engine_state at_save;
	state_capture(&a, &at_save);

	fresh_engine(&b, g);
	cr_assert_eq(ms_uc_set_tracking(b.m, tracking, MS_TRACKER_AUTO), 0);
	load_and_restore(&b, path, MS_STATE_VERIFY);
	state_check(&b, &at_save, 0);

	run_rest(&a);
	run_rest(&b);
	engine_state done;
	state_capture(&a, &done);
	state_check(&b, &done, 1);

	/* The loaded checkpoint restores like any other, again and again. */
	ms_uc_checkpoint *loaded;
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, 0, &loaded), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ms_uc_checkpoint_restore(b.m, loaded), 0);
		state_check(&b, &at_save, 2 + i);
		run_rest(&b);
		state_check(&b, &done, 2 + i);
	}
	state_free(&done);
	state_free(&at_save);
	ms_uc_checkpoint_free(loaded);
	ms_uc_checkpoint_free(cp);
	guest_close(&b);
	guest_close(&a);
}

Test(savestate, running_guest_x86_64_continues_in_a_fresh_engine)
{
	running_guest(&guest_x86_64, MS_UC_TRACK_EXACT);
}

Test(savestate, running_guest_thumb_continues_in_a_fresh_engine)
{
	running_guest(&guest_thumb, MS_UC_TRACK_EXACT);
}

Test(savestate, loads_into_an_engine_with_hook_tracking)
{
	running_guest(&guest_x86_64, MS_UC_TRACK_HOOK);
}

/* A hook-tracked checkpoint (content as deltas) saves the same bytes. */
Test(savestate, saves_from_hook_tracking)
{
	guest_env a, b;
	fresh_engine(&a, &guest_x86_64);
	cr_assert_eq(ms_uc_set_tracking(a.m, MS_UC_TRACK_HOOK, MS_TRACKER_NONE), 0);
	ms_snapshot *code = guest_code_snapshot(a.g);
	cr_assert_eq(ms_uc_map(a.m, G_CODE, code, UC_PROT_ALL), 0);
	ms_snapshot_unref(code);
	cr_assert_eq(ms_uc_map_zeroed(a.m, G_MBOX, 0x10000, UC_PROT_READ | UC_PROT_WRITE), 0);
	cr_assert_eq(ms_uc_map_zeroed(a.m, G_DATA, 2 * G_DATA_SIZE, UC_PROT_READ | UC_PROT_WRITE),
		     0);
	spin_setup(&a, 300);
	ms_uc_checkpoint *c0, *c1;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &c0), 0);
	run_partly(&a, 500);
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &c1), 0); /* a delta over c0 */
	char path[600];
	path_in(path, sizeof path, "hook.mss");
	cr_assert_eq(ms_uc_checkpoint_save(c1, path, NULL), 0);
	engine_state ref;
	state_capture(&a, &ref);
	fresh_engine(&b, &guest_x86_64);
	load_and_restore(&b, path, MS_STATE_VERIFY);
	state_check(&b, &ref, 0);
	state_free(&ref);
	ms_uc_checkpoint_free(c0);
	ms_uc_checkpoint_free(c1);
	guest_close(&b);
	guest_close(&a);
}

/* Load a base, run, save relative to it: the file stores only the pages
 * written, and loads only over that base. */
Test(savestate, incremental_state_over_its_base)
{
	guest_env a, b, c;
	guest_open(&a, &guest_x86_64);
	spin_setup(&a, 40);
	run_partly(&a, 50);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	char base_path[600], inc_path[600], other_path[600];
	path_in(base_path, sizeof base_path, "base.mss");
	path_in(inc_path, sizeof inc_path, "inc.mss");
	path_in(other_path, sizeof other_path, "other.mss");
	cr_assert_eq(ms_uc_checkpoint_save(cp, base_path, NULL), 0);
	ms_uc_checkpoint_free(cp);

	/* Engine b starts from the base file and runs. */
	fresh_engine(&b, &guest_x86_64);
	ms_state *base;
	cr_assert_eq(ms_state_open(base_path, 0, &base), 0);
	cr_assert_eq(ms_uc_checkpoint_from_state(b.m, base, &cp), 0);
	cr_assert_eq(ms_uc_checkpoint_restore(b.m, cp), 0);
	ms_uc_checkpoint_free(cp);
	run_rest(&b);
	cr_assert_eq(ms_uc_checkpoint_take(b.m, &cp), 0);
	int err = ms_uc_checkpoint_save(cp, inc_path, base);
	cr_assert_eq(err, 0, "incremental save: %s", ms_strerror(err));
	ms_uc_checkpoint_free(cp);
	engine_state ref;
	state_capture(&b, &ref);

	ms_state *inc;
	cr_assert_eq(ms_state_open(inc_path, MS_STATE_VERIFY, &inc), 0);
	ms_state_info info;
	cr_assert_eq(ms_state_get_info(inc, &info), 0);
	cr_assert(info.flags & MS_STATE_INCREMENTAL);
	uint64_t stored = 0;
	for (size_t i = 0; i < ms_state_region_count(inc); i++) {
		ms_state_region r;
		cr_assert_eq(ms_state_region_info(inc, i, &r), 0);
		stored += r.stored_bytes;
	}
	/* 3 data pages and the stack page at most, not 4 regions of RAM. */
	cr_assert_leq(stored, 4 * 4096, "%llu bytes stored", (unsigned long long)stored);

	fresh_engine(&c, &guest_x86_64);
	/* Without its base: refused, nothing built. */
	cr_assert_eq(ms_uc_checkpoint_from_state(c.m, inc, &cp), MS_ERR_MISMATCH);
	cr_assert_eq(ms_uc_checkpoint_load(c.m, inc_path, 0, &cp), MS_ERR_MISMATCH);
	/* Over another state than its base: refused. */
	guest_env d;
	guest_open(&d, &guest_x86_64);
	cr_assert_eq(ms_uc_checkpoint_take(d.m, &cp), 0);
	cr_assert_eq(ms_uc_checkpoint_save(cp, other_path, NULL), 0);
	ms_uc_checkpoint_free(cp);
	guest_close(&d);
	ms_state *other;
	cr_assert_eq(ms_state_open(other_path, 0, &other), 0);
	cr_assert_eq(ms_state_set_base(inc, other), MS_ERR_MISMATCH);
	ms_state_close(other);
	/* Over its base: the state b was in. */
	cr_assert_eq(ms_state_set_base(inc, base), 0);
	err = ms_uc_checkpoint_from_state(c.m, inc, &cp);
	cr_assert_eq(err, 0, "load: %s", ms_strerror(err));
	cr_assert_eq(ms_uc_checkpoint_restore(c.m, cp), 0);
	state_check(&c, &ref, 0);
	ms_uc_checkpoint_free(cp);
	ms_state_close(inc);
	ms_state_close(base);
	state_free(&ref);
	guest_close(&c);
	guest_close(&b);
	guest_close(&a);
}

/* Loading replaces the engine's memsnap regions; the map it had is gone. */
Test(savestate, load_replaces_the_memory_map)
{
	guest_env a, b;
	guest_open(&a, &guest_x86_64);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	char path[600];
	path_in(path, sizeof path, "map.mss");
	cr_assert_eq(ms_uc_checkpoint_save(cp, path, NULL), 0);
	ms_uc_checkpoint_free(cp);
	engine_state ref;
	state_capture(&a, &ref);

	fresh_engine(&b, &guest_x86_64);
	cr_assert_eq(ms_uc_map_zeroed(b.m, 0x400000, 0x3000, UC_PROT_READ), 0);
	cr_assert_eq(ms_uc_map_zeroed(b.m, G_DATA + 0x1000, 0x1000, UC_PROT_ALL), 0);
	load_and_restore(&b, path, 0);
	state_check(&b, &ref, 0);
	cr_assert_null(ms_uc_host_ptr(b.m, 0x400000, NULL));
	state_free(&ref);
	guest_close(&b);
	guest_close(&a);
}

static void save_x86(char *path, size_t cap, const char *name)
{
	guest_env a;
	guest_open(&a, &guest_x86_64);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	path_in(path, cap, name);
	cr_assert_eq(ms_uc_checkpoint_save(cp, path, NULL), 0);
	ms_uc_checkpoint_free(cp);
	guest_close(&a);
}

/* The registers of b, to see that a refused load changed nothing. */
static long regs_of(guest_env *e, uint8_t *buf, size_t cap)
{
	return ms__uc_regs_save(e->uc, e->g->arch, e->g->mode, buf, cap);
}

Test(savestate, another_architecture_is_a_mismatch)
{
	char path[600];
	save_x86(path, sizeof path, "x86.mss");
	guest_env t;
	guest_open(&t, &guest_thumb);
	uint8_t before[2048], after[2048];
	long n = regs_of(&t, before, sizeof before);
	ms_uc_checkpoint *cp = NULL;
	cr_assert_eq(ms_uc_checkpoint_load(t.m, path, 0, &cp), MS_ERR_MISMATCH);
	cr_assert_null(cp);
	cr_assert_eq(regs_of(&t, after, sizeof after), n);
	cr_assert_arr_eq(before, after, (size_t)n);
	guest_close(&t);
	/* 32-bit x86 is another mode of the same architecture. */
	uc_engine *uc;
	ms_uc *m;
	cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_32, &uc), UC_ERR_OK);
	cr_assert_eq(ms_uc_new(uc, &m), 0);
	cr_assert_eq(ms_uc_checkpoint_load(m, path, 0, &cp), MS_ERR_MISMATCH);
	ms_uc_free(m);
	uc_close(uc);
}

Test(savestate, missing_and_corrupt_files)
{
	guest_env b;
	fresh_engine(&b, &guest_x86_64);
	ms_uc_checkpoint *cp = NULL;
	char path[600];
	path_in(path, sizeof path, "absent.mss");
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, 0, &cp), -ENOENT);
	save_x86(path, sizeof path, "flip.mss");
	/* Flip one bit in the RAM data (found by a full verification) and one
	 * in the metadata (found at open). */
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0);
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	uint8_t byte;
	off_t at = st.st_size - 100;
	cr_assert_eq(pread(fd, &byte, 1, at), 1);
	byte ^= 0x10;
	cr_assert_eq(pwrite(fd, &byte, 1, at), 1);
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, MS_STATE_VERIFY, &cp), MS_ERR_CORRUPT);
	cr_assert_eq(pread(fd, &byte, 1, 200), 1);
	byte ^= 0x01;
	cr_assert_eq(pwrite(fd, &byte, 1, 200), 1);
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, 0, &cp), MS_ERR_CORRUPT);
	close(fd);
	/* A file that is not a state at all. */
	path_in(path, sizeof path, "text.mss");
	char text[4096];
	memset(text, 'x', sizeof text);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(write(fd, text, sizeof text), (ssize_t)sizeof text);
	close(fd);
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, 0, &cp), MS_ERR_FORMAT);
	cr_assert_null(cp);
	cr_assert_eq(ms_uc_checkpoint_load(NULL, path, 0, &cp), -EINVAL);
	cr_assert_eq(ms_uc_checkpoint_save(NULL, path, NULL), -EINVAL);
	guest_close(&b);
}

/* States written with the library's writer, with good checksums but
 * content the runtime must refuse. */
typedef struct forged {
	const char *engine;
	uint64_t version; /* 0: this Unicorn's */
	uint32_t mode;
	int cpu; /* 0 none, 1 good, 2 garbage, 3 unknown register id, 4 empty,
		    5 RIP missing, 6 a register twice */
	int map; /* 0 none, 1 good, 2 not covering, 3 bad perms, 4 outside */
} forged;

static void forge(const char *path, const forged *f)
{
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	ms_state_machine mach = {.arch = UC_ARCH_X86,
				 .mode = f->mode ? f->mode : UC_MODE_64,
				 .page_size = 4096,
				 .engine_version =
				     f->version ? f->version : uc_version(NULL, NULL)};
	snprintf(mach.engine, sizeof mach.engine, "%s", f->engine);
	cr_assert_eq(ms_state_writer_set_machine(w, &mach), 0);
	if (f->cpu) {
		uc_engine *uc;
		cr_assert_eq(uc_open(UC_ARCH_X86, UC_MODE_64, &uc), UC_ERR_OK);
		uint8_t regs[2048];
		long n = ms__uc_regs_save(uc, UC_ARCH_X86, UC_MODE_64, regs, sizeof regs);
		uc_close(uc);
		cr_assert_gt(n, 40);
		if (f->cpu == 2)
			memset(regs + 20, 0xee, 16);
		if (f->cpu == 3)
			regs[20] = 0xfe; /* first entry's register id */
		if (f->cpu == 4)	 /* no registers at all */
			n = 20, memset(regs + 16, 0, 4);
		if (f->cpu == 5) /* RIP (the last) left out */
			n -= 16, regs[16] = (uint8_t)(regs[16] - 1);
		if (f->cpu == 6) /* RAX twice, in RBX's place */
			memcpy(regs + 36, regs + 20, 4);
		cr_assert_eq(ms_state_writer_add_blob(w, MS_UC_STATE_BLOB_CPU, MS_UC_STATE_TYPE_CPU,
						      regs, (size_t)n),
			     0);
	}
	if (f->map) {
		uint8_t map[8 + 2 * 24] = {0};
		map[0] = 1;
		map[4] = 2;
		uint64_t runs[2][2] = {{0x10000, 0x1000}, {0x11000, 0x1000}};
		if (f->map == 2)
			runs[1][1] = 0x800; /* leaves half a page uncovered */
		if (f->map == 4)
			runs[1][0] = 0x90000;
		for (int i = 0; i < 2; i++) {
			memcpy(map + 8 + i * 24, &runs[i][0], 8);
			memcpy(map + 8 + i * 24 + 8, &runs[i][1], 8);
			map[8 + i * 24 + 16] = f->map == 3 ? 0x80 : UC_PROT_READ;
		}
		cr_assert_eq(ms_state_writer_add_blob(w, MS_UC_STATE_BLOB_MAP, MS_UC_STATE_TYPE_MAP,
						      map, sizeof map),
			     0);
	}
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(0x2000, &s), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, UC_PROT_READ, s), 0);
	ms_snapshot_unref(s);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
}

static int load_forged(const forged *f)
{
	char path[600];
	path_in(path, sizeof path, "forged.mss");
	forge(path, f);
	guest_env b;
	fresh_engine(&b, &guest_x86_64);
	uint8_t before[2048], after[2048];
	long n = regs_of(&b, before, sizeof before);
	ms_uc_checkpoint *cp = NULL;
	int err = ms_uc_checkpoint_load(b.m, path, 0, &cp);
	if (!err) {
		cr_assert_eq(ms_uc_checkpoint_restore(b.m, cp), 0);
		ms_uc_checkpoint_free(cp);
	} else {
		cr_assert_null(cp);
		cr_assert_eq(regs_of(&b, after, sizeof after), n);
		cr_assert_arr_eq(before, after, (size_t)n, "a refused load changed registers");
		cr_assert_null(ms_uc_host_ptr(b.m, 0x10000, NULL));
	}
	guest_close(&b);
	return err;
}

Test(savestate, forged_states_are_refused_and_change_nothing)
{
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 1, 1}), 0); /* the control */
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 1, 0}), 0); /* map is optional */
	cr_assert_eq(load_forged(&(forged){"qemu", 0, 0, 1, 1}), MS_ERR_MISMATCH);
	cr_assert_eq(load_forged(&(forged){"unicornx", 0, 0, 1, 1}), MS_ERR_MISMATCH);
	cr_assert_eq(load_forged(&(forged){"unicorn", 9u << 24, 0, 1, 1}), MS_ERR_MISMATCH);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, UC_MODE_32, 1, 1}), MS_ERR_MISMATCH);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 0, 1}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 2, 1}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 3, 1}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 4, 1}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 5, 1}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 6, 1}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 1, 2}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 1, 3}), MS_ERR_CORRUPT);
	cr_assert_eq(load_forged(&(forged){"unicorn", 0, 0, 1, 4}), MS_ERR_CORRUPT);
}

/* A state that is not an engine's (no machine record). */
Test(savestate, plain_state_is_a_mismatch)
{
	char path[600];
	path_in(path, sizeof path, "plain.mss");
	ms_state_writer *w;
	cr_assert_eq(ms_state_writer_new(path, &w), 0);
	ms_snapshot *s;
	cr_assert_eq(ms_snapshot_zeroed(0x1000, &s), 0);
	cr_assert_eq(ms_state_writer_add_region(w, 0x10000, UC_PROT_READ, s), 0);
	ms_snapshot_unref(s);
	cr_assert_eq(ms_state_writer_commit(w), 0);
	ms_state_writer_free(w);
	guest_env b;
	fresh_engine(&b, &guest_x86_64);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, 0, &cp), MS_ERR_MISMATCH);
	guest_close(&b);
}

/* Guest memory the caller mapped with Unicorn directly where the state has a
 * region: the load is refused before anything changes. */
Test(savestate, region_over_foreign_memory_is_refused)
{
	char path[600];
	save_x86(path, sizeof path, "foreign.mss");
	guest_env b;
	fresh_engine(&b, &guest_x86_64);
	cr_assert_eq(uc_mem_map(b.uc, G_DATA + 0x4000, 0x1000, UC_PROT_READ), UC_ERR_OK);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_load(b.m, path, 0, &cp), -EEXIST);
	/* Memory elsewhere is fine, and stays. */
	cr_assert_eq(uc_mem_unmap(b.uc, G_DATA + 0x4000, 0x1000), UC_ERR_OK);
	cr_assert_eq(uc_mem_map(b.uc, 0x7000000, 0x1000, UC_PROT_READ), UC_ERR_OK);
	load_and_restore(&b, path, 0);
	uint8_t x;
	cr_assert_eq(uc_mem_read(b.uc, 0x7000000, &x, 1), UC_ERR_OK);
	guest_close(&b);
}

/* The save is atomic: a save that fails leaves the previous file intact. */
Test(savestate, failed_save_keeps_the_previous_file)
{
	char path[600];
	save_x86(path, sizeof path, "keep.mss");
	guest_env a;
	guest_open(&a, &guest_x86_64);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	/* The directory is read-only: the temporary file cannot be created
	 * (root ignores directory permissions: then the save succeeds). */
	cr_assert_eq(chmod(dir, 0500), 0);
	int err = ms_uc_checkpoint_save(cp, path, NULL);
	cr_assert_eq(chmod(dir, 0700), 0);
	if (geteuid() != 0)
		cr_assert_eq(err, -EACCES);
	guest_env b;
	fresh_engine(&b, &guest_x86_64);
	load_and_restore(&b, path, MS_STATE_VERIFY);
	guest_close(&b);
	ms_uc_checkpoint_free(cp);
	guest_close(&a);
}

/* Loading maps RAM from the file: resident memory does not grow with the
 * state's size until the guest touches it, and then only by what it reads. */
Test(savestate, load_is_lazy)
{
	if (ms_test_counts_unreliable())
		cr_skip_test("resident memory is not meaningful here");
	const size_t size = 64u << 20;
	guest_env a, b;
	fresh_engine(&a, &guest_x86_64);
	cr_assert_eq(ms_uc_map_zeroed(a.m, 0x1000000, size, UC_PROT_READ | UC_PROT_WRITE), 0);
	uint8_t *p = ms_uc_host_ptr(a.m, 0x1000000, NULL);
	for (size_t off = 0; off < size; off += 4096)
		memset(p + off, (int)(off >> 12) | 1, 64);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	char path[600];
	path_in(path, sizeof path, "big.mss");
	cr_assert_eq(ms_uc_checkpoint_save(cp, path, NULL), 0);
	ms_uc_checkpoint_free(cp);
	guest_close(&a);

	fresh_engine(&b, &guest_x86_64);
	long before = ms_test_rss_kib();
	load_and_restore(&b, path, 0);
	long after = ms_test_rss_kib();
	cr_assert_lt(after - before, 8 * 1024, "a lazy load of 64 MiB grew RSS by %ld KiB",
		     after - before);
	uint8_t x[64];
	cr_assert_eq(ms_uc_read(b.m, 0x1000000 + 0x123000, x, sizeof x), 0);
	cr_assert_eq(x[0], (0x123 & 0xff) | 1);
	cr_assert_eq(ms_uc_read(b.m, 0x1000000 + size - 4096, x, sizeof x), 0);
	cr_assert_eq(x[63], (int)(((size - 4096) >> 12) & 0xff) | 1);
	guest_close(&b);
}

/* memsnap-uc-state prints the machine, map and registers, verifies, and
 * says what is wrong with a file that is not an engine's state. */
static int tool(const char *args, char *out, size_t cap)
{
	const char *bin = getenv("MEMSNAP_UC_STATE_TOOL");
	cr_assert(bin, "MEMSNAP_UC_STATE_TOOL is not set (run the tests with meson test)");
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
	FILE *f = popen(cmd, "r");
	cr_assert(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(savestate, inspection_tool)
{
	guest_env a;
	guest_open(&a, &guest_x86_64);
	uint64_t rip = 0x10abc;
	cr_assert_eq(uc_reg_write(a.uc, UC_X86_REG_RIP, &rip), UC_ERR_OK);
	cr_assert_eq(ms_uc_protect(a.m, G_DATA, 0x1000, UC_PROT_READ), 0);
	ms_uc_checkpoint *cp;
	cr_assert_eq(ms_uc_checkpoint_take(a.m, &cp), 0);
	char path[600], args[700];
	path_in(path, sizeof path, "tool.mss");
	cr_assert_eq(ms_uc_checkpoint_save(cp, path, NULL), 0);
	ms_uc_checkpoint_free(cp);
	guest_close(&a);

	static char out[1 << 16];
	snprintf(args, sizeof args, "--verify %s", path);
	cr_assert_eq(tool(args, out, sizeof out), 0, "%s", out);
	cr_assert(strstr(out, "x86, 64-bit"), "%s", out);
	cr_assert(strstr(out, "RIP      0x0000000000010abc"), "%s", out);
	cr_assert(strstr(out, "0x0000000000100000 0x0000000000100fff r--"), "%s", out);
	cr_assert(strstr(out, "0x0000000000101000 0x000000000010ffff rw-"), "%s", out);
	cr_assert(strstr(out, "all RAM checksums match"), "%s", out);

	/* A bit flipped in RAM: --verify says so with status 1. */
	int fd = open(path, O_RDWR);
	struct stat sb;
	cr_assert_eq(fstat(fd, &sb), 0);
	uint8_t byte = 0x5a;
	cr_assert_eq(pwrite(fd, &byte, 1, sb.st_size - 4096), 1);
	close(fd);
	cr_assert_eq(tool(args, out, sizeof out), 1, "%s", out);
	cr_assert(strstr(out, "checksum"), "%s", out);

	snprintf(args, sizeof args, "%s/absent.mss", dir);
	cr_assert_eq(tool(args, out, sizeof out), 2, "%s", out);
	cr_assert(strstr(out, "No such file"), "%s", out);
}
