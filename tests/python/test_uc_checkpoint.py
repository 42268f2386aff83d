"""memsnap.uc: checkpoints and restores of CPU, memory map and memory."""
import pytest
import unicorn
from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RSI

import memsnap
from conftest import (CODE_AT, DIRTY_END, PAGE, RAM_AT, RW, page_value, setup_dirty_guest)


def test_restore_puts_memory_and_registers_back(rt):
    uc = setup_dirty_guest(rt, pages=4)
    cp = rt.checkpoint()
    rt.run(CODE_AT, DIRTY_END)
    assert [page_value(rt, p) for p in range(5)] == [0, 1, 2, 3, 0]
    assert uc.reg_read(UC_X86_REG_RCX) == 4
    rt.restore(cp)
    assert [page_value(rt, p) for p in range(5)] == [0] * 5
    assert uc.reg_read(UC_X86_REG_RCX) == 0
    assert rt.stats().last_dirty_pages == 4
    assert rt.verify() == 0


def test_writes_by_every_writer_are_undone(rt):
    uc = setup_dirty_guest(rt)
    cp = rt.checkpoint()
    rt.write(RAM_AT, b"host")
    uc.mem_write(RAM_AT + 8 * PAGE, b"engine")
    rt.restore(cp)
    assert rt.read(RAM_AT, 4) == bytes(4)
    assert uc.mem_read(RAM_AT + 8 * PAGE, 6) == bytes(6)


def test_nested_checkpoints_restore_in_any_order(rt):
    uc = setup_dirty_guest(rt, pages=1)
    base = rt.checkpoint()
    rt.write(RAM_AT + PAGE, b"one")
    uc.reg_write(UC_X86_REG_RAX, 1)
    one = rt.checkpoint()
    rt.write(RAM_AT + 2 * PAGE, b"two")
    uc.reg_write(UC_X86_REG_RAX, 2)
    two = rt.checkpoint()
    rt.write(RAM_AT + 3 * PAGE, b"three")
    for cp, rax, content in [(one, 1, [b"one", bytes(3)]), (two, 2, [b"one", b"two"]),
                             (base, 0, [bytes(3), bytes(3)]), (two, 2, [b"one", b"two"]),
                             (one, 1, [b"one", bytes(3)])]:
        rt.restore(cp)
        assert uc.reg_read(UC_X86_REG_RAX) == rax
        assert [rt.read(RAM_AT + p * PAGE, 3) for p in (1, 2)] == content
        assert rt.read(RAM_AT + 3 * PAGE, 5) == bytes(5)
        assert rt.verify() == 0


def test_same_checkpoint_restores_many_times(rt):
    uc = setup_dirty_guest(rt, pages=3)
    cp = rt.checkpoint()
    for i in range(50):
        uc.reg_write(UC_X86_REG_RSI, 1 + i % 5)
        rt.run(CODE_AT, DIRTY_END)
        rt.restore(cp)
        assert page_value(rt, 1) == 0
    assert rt.stats().restores == 50 and rt.stats().runs == 50


def test_restore_undoes_map_unmap_and_protect(rt):
    setup_dirty_guest(rt)
    rt.map(0x400000, memsnap.Snapshot.from_bytes(b"kept"), RW)
    cp = rt.checkpoint()
    assert (0x400000, 0x400fff, RW) in cp.regions()
    rt.unmap(0x400000, PAGE)
    rt.map(0x500000, PAGE, RW)
    rt.protect(RAM_AT, PAGE, unicorn.UC_PROT_READ)
    rt.restore(cp)
    assert rt.read(0x400000, 4) == b"kept"
    regions = list(rt.engine.mem_regions())
    assert all(begin != 0x500000 for begin, _, _ in regions)
    assert [p for b, e, p in regions if b <= RAM_AT <= e] == [RW]


def test_snapshot_mapped_as_ram_is_copy_on_write(rt):
    snap = memsnap.Snapshot.from_bytes(b"rom!" + bytes(PAGE - 4))
    rt.map(RAM_AT, snap, RW)
    snap.close()
    cp = rt.checkpoint()
    rt.write(RAM_AT, b"RAM!")
    rt.restore(cp)
    assert rt.read(RAM_AT, 4) == b"rom!"


def test_guest_fault_raises_unicorn_error_and_restore_recovers(rt):
    setup_dirty_guest(rt, pages=1)
    rt.engine.reg_write(UC_X86_REG_RSI, 100)  # runs past the end of RAM
    cp = rt.checkpoint()
    with pytest.raises(memsnap.UnicornError) as info:
        rt.run(CODE_AT, DIRTY_END)
    assert info.value.uc_err == unicorn.UC_ERR_WRITE_UNMAPPED
    assert info.value.errno == -(memsnap.ERR_UC_BASE - unicorn.UC_ERR_WRITE_UNMAPPED)
    assert "unmapped" in info.value.strerror
    rt.restore(cp)
    assert page_value(rt, 1) == 0 and rt.verify() == 0


def test_run_count_and_keywords(rt):
    uc = setup_dirty_guest(rt, pages=4)
    rt.run(begin=CODE_AT, until=DIRTY_END, count=2)
    assert uc.reg_read(UC_X86_REG_RCX) == 0
    with pytest.raises(TypeError):
        rt.run(CODE_AT)
    with pytest.raises(TypeError):
        rt.run(CODE_AT, DIRTY_END, bogus=1)
    with pytest.raises(TypeError):
        rt.run(CODE_AT, DIRTY_END, 0, 0, 0)
    with pytest.raises(OverflowError):
        rt.run(-1, DIRTY_END)


def test_hook_exception_is_raised_by_run(rt):
    uc = setup_dirty_guest(rt, pages=2)

    def hook(uc, address, size, data):
        raise KeyError("from a hook")

    h = uc.hook_add(unicorn.UC_HOOK_CODE, hook)
    with pytest.raises(KeyError):
        rt.run(CODE_AT, DIRTY_END)
    uc.hook_del(h)
    rt.run(CODE_AT, DIRTY_END)  # the exception does not stick


def test_hooks_see_guest_writes(rt):
    uc = setup_dirty_guest(rt, pages=3)
    seen = []
    uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, lambda uc, a, addr, s, v, d: seen.append(addr))
    cp = rt.checkpoint()
    rt.run(CODE_AT, DIRTY_END)
    rt.restore(cp)
    assert seen == [RAM_AT, RAM_AT + PAGE, RAM_AT + 2 * PAGE]


def test_hook_tracking_restores_guest_stores():
    from conftest import new_uc
    import memsnap.uc
    with memsnap.uc.attach(new_uc()) as rt:
        rt.set_tracking(memsnap.uc.TRACK_HOOK)
        assert rt.tracking == memsnap.uc.TRACK_HOOK
        setup_dirty_guest(rt, pages=3)
        cp = rt.checkpoint()
        rt.run(CODE_AT, DIRTY_END)
        rt.restore(cp)
        assert page_value(rt, 2) == 0 and rt.verify() == 0
