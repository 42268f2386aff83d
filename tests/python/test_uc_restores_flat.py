"""memsnap.uc: a million restores in a loop, memory flat.

The loops use the tracker runtime.h recommends for fuzz loops, uffd-sync
(O(dirty) restores, well under a microsecond here); where this process may
not use it, the default tracker runs a tenth of the rounds, as it does
under a sanitizer (slower, and RSS meaningless there)."""
import os

import pytest

import memsnap
import memsnap.uc
from conftest import CODE_AT, DIRTY_END, PAGE, RAM_AT, SANITIZER, page_value, setup_dirty_guest

try:
    memsnap.tracker_probe(memsnap.TRACKER_UFFD_SYNC)
    FAST_TRACKER = True
except memsnap.Error:
    FAST_TRACKER = False
ROUNDS = 1_000_000 if FAST_TRACKER and not SANITIZER else 100_000


@pytest.fixture
def rt(rt):
    if FAST_TRACKER:
        rt.set_tracking(memsnap.uc.TRACK_EXACT, memsnap.TRACKER_UFFD_SYNC)
    return rt


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_million_restores_keep_memory_flat(rt):
    setup_dirty_guest(rt, pages=2)
    rt.run(CODE_AT, DIRTY_END)  # translate the guest once
    cp = rt.checkpoint()
    write, restore, address, data = rt.write, rt.restore, RAM_AT + 5 * PAGE, b"dirty"

    def loop(n):
        for _ in range(n):
            write(address, data)
            restore(cp)

    loop(ROUNDS // 10)
    before = rss_bytes()
    loop(ROUNDS - ROUNDS // 10)
    grown = rss_bytes() - before
    stats = rt.stats()
    assert stats.restores == ROUNDS
    assert stats.total_dirty_pages == ROUNDS
    assert rt.read(address, 5) == bytes(5) and rt.verify() == 0
    if not SANITIZER:
        assert grown < 2 << 20, f"RSS grew by {grown} bytes"


def test_run_and_restore_loop_keeps_memory_flat(rt):
    setup_dirty_guest(rt, pages=4)
    cp = rt.checkpoint()
    run, restore = rt.run, rt.restore
    rounds = ROUNDS // 20
    for _ in range(rounds // 10):
        run(CODE_AT, DIRTY_END)
        restore(cp)
    before = rss_bytes()
    for _ in range(rounds - rounds // 10):
        run(CODE_AT, DIRTY_END)
        restore(cp)
    grown = rss_bytes() - before
    assert rt.stats().runs == rounds and page_value(rt, 3) == 0
    if not SANITIZER:
        assert grown < 2 << 20, f"RSS grew by {grown} bytes"
