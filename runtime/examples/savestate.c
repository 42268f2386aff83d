/*
 * Engine save states in a nutshell: run a guest part of the way, save the
 * machine to a file, load it into a second engine and let both finish: they
 * end in the same state.
 *
 * The guest (x86-64) adds 1 to a counter in RAM ten times; the first engine
 * stops after four additions and saves.
 *
 *   memsnap-uc-savestate-example [FILE]   (default: memsnap-example.mss)
 */
#include <inttypes.h>
#include <stdio.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc_state.h"

#define CODE 0x10000
#define DATA 0x200000

/* mov ecx, 10; loop: inc qword ptr [0x200000]; dec ecx; jnz loop; nop */
static const uint8_t code[] = {0xb9, 0x0a, 0x00, 0x00, 0x00, 0x48, 0xff, 0x04, 0x25,
			       0x00, 0x00, 0x20, 0x00, 0xff, 0xc9, 0x75, 0xf4, 0x90};
#define END (CODE + sizeof code - 1)

static int finish(ms_uc *m, uint64_t *counter)
{
	uint64_t rip;
	int err = ms_uc_error(uc_reg_read(ms_uc_engine(m), UC_X86_REG_RIP, &rip));
	if (!err)
		err = ms_uc_run(m, rip, END, 0, 0);
	if (!err)
		err = ms_uc_read(m, DATA, counter, sizeof *counter);
	return err;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "memsnap-example.mss";
	uc_engine *uc1, *uc2;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc1) || uc_open(UC_ARCH_X86, UC_MODE_64, &uc2))
		return 1;
	ms_uc *m1 = NULL, *m2 = NULL;
	ms_uc_checkpoint *cp = NULL, *loaded = NULL;
	int err = ms_uc_new(uc1, &m1);
	if (!err)
		err = ms_uc_map_zeroed(m1, CODE, 4096, UC_PROT_READ | UC_PROT_EXEC);
	if (!err)
		err = ms_uc_map_zeroed(m1, DATA, 1 << 20, UC_PROT_READ | UC_PROT_WRITE);
	if (!err)
		err = ms_uc_write(m1, CODE, code, sizeof code);
	/* 1 + 4 × 3 instructions: four additions, stopped inside the loop. */
	if (!err)
		err = ms_uc_run(m1, CODE, END, 0, 13);
	if (!err)
		err = ms_uc_checkpoint_take(m1, &cp);
	if (!err)
		err = ms_uc_checkpoint_save(cp, path, NULL);

	/* A second engine, as another process would do it. */
	if (!err)
		err = ms_uc_new(uc2, &m2);
	if (!err)
		err = ms_uc_checkpoint_load(m2, path, MS_STATE_VERIFY, &loaded);
	if (!err)
		err = ms_uc_checkpoint_restore(m2, loaded);
	uint64_t at_save = 0, c1 = 0, c2 = 0;
	if (!err)
		err = ms_uc_read(m2, DATA, &at_save, sizeof at_save);
	if (!err)
		err = finish(m1, &c1);
	if (!err)
		err = finish(m2, &c2);
	if (!err && (at_save != 4 || c1 != 10 || c2 != 10))
		err = -1;
	if (err)
		fprintf(stderr, "error: %s\n", err == -1 ? "wrong counter" : ms_strerror(err));
	else
		printf("saved at %" PRIu64 ", finished at %" PRIu64 " (original) and %" PRIu64
		       " (loaded)\n",
		       at_save, c1, c2);
	remove(path);
	ms_uc_checkpoint_free(loaded);
	ms_uc_checkpoint_free(cp);
	ms_uc_free(m2);
	ms_uc_free(m1);
	uc_close(uc2);
	uc_close(uc1);
	return err ? 1 : 0;
}
