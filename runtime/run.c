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
 * where `until` would have stopped it) and runs Unicorn with its exits
 * mechanism on and no exit at all: Unicorn then has no `until` address, so
 * its invalidation after each run finds nothing to drop, nothing is
 * retranslated, and memory stays flat (docs/runtime.md has the
 * measurements). No address is set aside for that: code anywhere, the
 * top of the address space and the x86 reset vector included, runs. The
 * exits mechanism is turned off again after the run, so plain
 * uc_emu_start calls on the same engine keep their `until`; a caller who
 * turned it on keeps it on, with its exits.
 *
 * A hook is compiled into the translated code of its address, so a new stop
 * address costs the retranslation of its page. Loops that stop at several
 * addresses (a debugger's "run to here", a harness with several exits) would
 * pay that on every run if the hook moved: instead each of the last
 * MS__UC_STOPS addresses keeps its hook, and a hook stops the guest only
 * when its address is this run's `until`. Beyond that many addresses in
 * turn, the oldest hook is replaced (a retranslation per new address, as
 * before, memory still bounded by the hooks' number).
 */
#define _GNU_SOURCE
#include <errno.h>

#include "internal.h"

static void stop_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
	(void)size;
	const ms_uc *m = user_data;
	if (address == m->stop_addr)
		uc_emu_stop(uc);
}

static int set_stop(ms_uc *m, uint64_t until)
{
	for (unsigned i = 0; i < m->n_stops; i++) {
		if (m->stops[i].addr == until) {
			m->stop_addr = until;
			return 0;
		}
	}
	unsigned slot = m->n_stops < MS__UC_STOPS ? m->n_stops : m->next_stop;
	uc_hook h;
	uc_err e = uc_hook_add(m->uc, &h, UC_HOOK_CODE, (void *)stop_hook, m, until, until);
	if (e)
		return ms_uc_error(e);
	if (m->n_stops < MS__UC_STOPS) {
		m->n_stops++;
	} else {
		uc_hook_del(m->uc, m->stops[slot].hook);
		m->next_stop = (slot + 1) % MS__UC_STOPS;
	}
	m->stops[slot] = (struct ms__uc_stop){.addr = until, .hook = h};
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
	/* Exits on with none set: Unicorn ignores the `until` argument. A
	 * caller who turned exits on keeps them (reading their count fails
	 * only while they are off). */
	size_t nexits;
	bool own = uc_ctl(m->uc, MS__UC_CTL_READ(UC_CTL_UC_EXITS_CNT, 1), &nexits) != UC_ERR_OK;
	if (own) {
		err = ms_uc_error(uc_ctl_exits_enable(m->uc));
		if (err)
			return err;
	}
	err = ms_uc_error(uc_emu_start(m->uc, begin, 0, timeout_us, count));
	int off = own ? ms_uc_error(uc_ctl_exits_disable(m->uc)) : 0;
	return err ? err : off;
}
