"""memsnap.uc: engine save states, full and incremental."""
import errno

import pytest
import unicorn
from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RCX

import memsnap
import memsnap.uc
from conftest import (CODE_AT, DIRTY_END, PAGE, RAM_AT, new_uc, page_value, setup_dirty_guest)


def saved_engine(path, pages=3):
    rt = memsnap.uc.attach(new_uc())
    uc = setup_dirty_guest(rt, pages=pages)
    rt.run(CODE_AT, DIRTY_END)
    uc.reg_write(UC_X86_REG_RAX, 0x1234)
    cp = rt.checkpoint()
    rt.save(cp, path)
    return rt, cp


def test_save_then_load_into_a_new_engine(tmp_state):
    saved_engine(tmp_state)
    with memsnap.uc.attach(new_uc()) as rt:
        cp = rt.load(tmp_state, verify=True)
        rt.restore(cp)
        uc = rt.engine
        assert uc.reg_read(UC_X86_REG_RAX) == 0x1234
        assert uc.reg_read(UC_X86_REG_RCX) == 3
        assert [page_value(rt, p) for p in range(4)] == [0, 1, 2, 0]
        rt.write(RAM_AT + PAGE, b"\xff" * 8)
        rt.restore(cp)
        assert page_value(rt, 1) == 1
        # The loaded machine runs.
        rt.run(CODE_AT, DIRTY_END)


def test_incremental_save_loads_over_its_base(tmp_path):
    base_path, inc_path = tmp_path / "base.mss", tmp_path / "inc.mss"
    saved_engine(base_path)
    with memsnap.uc.attach(new_uc()) as rt:
        rt.restore(rt.load(base_path))
        rt.write(RAM_AT + 10 * PAGE, b"later")
        rt.save(rt.checkpoint(), inc_path, base=base_path)
    assert inc_path.stat().st_size < base_path.stat().st_size + 4 * PAGE
    with memsnap.uc.attach(new_uc()) as rt:
        with pytest.raises(memsnap.Error) as info:
            rt.load(inc_path)
        assert info.value.code == memsnap.ERR_MISMATCH
        rt.restore(rt.load(inc_path, base=base_path))
        assert rt.read(RAM_AT + 10 * PAGE, 5) == b"later"
        assert page_value(rt, 2) == 2


def test_load_errors(tmp_path, tmp_state):
    with memsnap.uc.attach(new_uc()) as rt:
        with pytest.raises(memsnap.Error) as info:
            rt.load(tmp_path / "absent.mss")
        assert info.value.errno == errno.ENOENT
        junk = tmp_path / "junk.mss"
        junk.write_bytes(b"not a state" * 100)
        with pytest.raises(memsnap.Error) as info:
            rt.load(junk)
        assert info.value.code in (memsnap.ERR_FORMAT, memsnap.ERR_CORRUPT)
        with pytest.raises(memsnap.Error):
            rt.load(tmp_path / "absent.mss", base=tmp_path / "absent-base.mss")
    saved_engine(tmp_state)
    arm = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB)
    with memsnap.uc.attach(arm) as rt:
        with pytest.raises(memsnap.Error) as info:
            rt.load(tmp_state)
        assert info.value.code == memsnap.ERR_MISMATCH


def test_corrupt_state_is_refused(tmp_state):
    saved_engine(tmp_state)
    data = bytearray(tmp_state.read_bytes())
    data[100] ^= 0xFF
    tmp_state.write_bytes(bytes(data))
    with memsnap.uc.attach(new_uc()) as rt:
        with pytest.raises(memsnap.Error) as info:
            rt.load(tmp_state)
        assert info.value.code in (memsnap.ERR_CORRUPT, memsnap.ERR_FORMAT)


def test_save_errors(tmp_path):
    rt, cp = saved_engine(tmp_path / "ok.mss")
    with pytest.raises(memsnap.Error) as info:
        rt.save(cp, tmp_path / "no" / "dir.mss")
    assert info.value.errno == errno.ENOENT
    with pytest.raises(memsnap.Error) as info:
        rt.save(cp, tmp_path / "x.mss", base=tmp_path / "absent.mss")
    assert info.value.errno == errno.ENOENT
    with memsnap.uc.attach(new_uc()) as other:
        with pytest.raises(memsnap.Error) as info:
            other.save(cp, tmp_path / "x.mss")
        assert info.value.errno == errno.EXDEV
    rt.close()
