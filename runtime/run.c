/*
 * ms_uc_run: uc_emu_start for campaigns of any length.
 *
 * Unicorn 2.0.1 invalidates the translation block at the `until` address
 * after every uc_emu_start, so the guest's last block is translated again on
 * each call. Invalidated code is not reclaimed: the translation buffer fills
 * (~300 bytes per call) and the engine crashes after 4,194,276 calls.
 *
 * ms_uc_run never hands the real `until` to Unicorn. It stops the guest with
 * a UC_HOOK_CODE hook bounded to the single address `until` (the hook calls
 * uc_emu_stop before that instruction executes, so the guest stops exactly
 * where `until` would have stopped it) and passes Unicorn an `until` at which
 * no code is ever translated. The invalidation Unicorn does after each run
 * then finds nothing to drop, nothing is retranslated, and memory stays flat
 * (docs/runtime.md has the measurements).
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

static void stop_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	(void)address;
	(void)size;
	(void)user_data;
	uc_emu_stop(uc);
}

/* An address the guest never executes: the top of the address space, where
 * no 4 KiB-aligned region of memsnap ends and no code is translated. */
static uint64_t never_address(const ms_uc *m)
{
	if (m->arch == UC_ARCH_X86 && (m->mode & UC_MODE_64))
		return 0xfffffffffffffff0ull;
	return 0xfffffff0ull;
}

static int set_stop(ms_uc *m, uint64_t until)
{
	if (m->stop_hook_set && m->stop_addr == until)
		return 0;
	if (m->stop_hook_set) {
		uc_hook_del(m->uc, m->stop_hook);
		m->stop_hook_set = false;
	}
	uc_err e =
	    uc_hook_add(m->uc, &m->stop_hook, UC_HOOK_CODE, (void *)stop_hook, m, until, until);
	if (e)
		return ms_uc_error(e);
	m->stop_hook_set = true;
	m->stop_addr = until;
	/* Hooks are compiled into translated code: a block already translated
	 * across `until` must be translated again to call the new hook. */
	ms__uc_remove_cache(m->uc, until & ~(uint64_t)4095, until | 4095);
	return 0;
}

int ms_uc_run(ms_uc *m, uint64_t begin, uint64_t until, uint64_t timeout_us, size_t count)
{
	if (!m)
		return -EINVAL;
	m->stats.runs++;
	int err = set_stop(m, until);
	if (err)
		return err;
	if (!m->never_addr)
		m->never_addr = never_address(m);
	return ms_uc_error(uc_emu_start(m->uc, begin, m->never_addr, timeout_us, count));
}
