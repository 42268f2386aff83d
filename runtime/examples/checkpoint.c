/*
 * memsnap-uc in a nutshell: map guest RAM, take a checkpoint, run the guest
 * many times and put it back after each run in O(dirty pages).
 *
 * The guest (x86-64) adds 1 to a counter in RAM and stops; because every run
 * starts from the checkpoint, the counter reads 1 after every run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <unicorn/unicorn.h>

#include "memsnap/uc.h"

#define CODE 0x10000
#define DATA 0x200000

int main(void)
{
	/* inc qword ptr [0x200000]; nop (the stop address) */
	static const uint8_t code[] = {0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x90};
	uc_engine *uc;
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &uc) != UC_ERR_OK)
		return 1;
	ms_uc *m;
	ms_uc_checkpoint *start = NULL;
	int err = ms_uc_new(uc, &m);
	if (!err)
		err = ms_uc_map_zeroed(m, CODE, 4096, UC_PROT_READ | UC_PROT_EXEC);
	if (!err)
		err = ms_uc_map_zeroed(m, DATA, 1 << 20, UC_PROT_READ | UC_PROT_WRITE);
	if (!err)
		err = ms_uc_write(m, CODE, code, sizeof code);
	if (!err)
		err = ms_uc_checkpoint_take(m, &start);
	uint64_t counter = 0;
	for (int i = 0; !err && i < 1000; i++) {
		err = ms_uc_run(m, CODE, CODE + sizeof code - 1, 0, 0);
		if (!err)
			err = ms_uc_read(m, DATA, &counter, sizeof counter);
		if (!err && counter != 1)
			err = -1;
		if (!err)
			err = ms_uc_checkpoint_restore(m, start);
	}
	ms_uc_stats st = {0};
	ms_uc_get_stats(m, &st);
	if (err)
		fprintf(stderr, "error: %s\n", ms_strerror(err));
	else
		printf("%" PRIu64 " runs, %" PRIu64 " restores, %" PRIu64 " pages restored\n",
		       st.runs, st.restores, st.total_dirty_pages);
	ms_uc_checkpoint_free(start);
	ms_uc_free(m);
	uc_close(uc);
	return err ? 1 : 0;
}
