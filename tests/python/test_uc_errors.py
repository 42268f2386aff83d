"""memsnap.uc: every misuse raises, none crashes."""
import errno

import pytest
import unicorn

import memsnap
import memsnap.uc
from conftest import CODE_AT, DIRTY_END, PAGE, RAM_AT, RW, new_uc, setup_dirty_guest


def test_attach_needs_a_uc():
    with pytest.raises(TypeError):
        memsnap.uc.attach(object())


def test_attach_twice_raises_ebusy(uc, rt):
    with pytest.raises(memsnap.Error) as info:
        memsnap.uc.attach(uc)
    assert info.value.errno == errno.EBUSY


def test_attach_again_after_close(uc):
    first = memsnap.uc.attach(uc)
    first.close()
    with memsnap.uc.attach(uc) as second:
        second.map(RAM_AT, PAGE, RW)
        assert second.read(RAM_AT, 1) == b"\x00"


def test_map_errors(rt):
    rt.map(RAM_AT, 4 * PAGE, RW)
    cases = [((RAM_AT + 2 * PAGE, PAGE), errno.EEXIST), ((RAM_AT + 8 * PAGE + 1, PAGE), errno.EINVAL),
             ((RAM_AT + 8 * PAGE, 100), errno.EINVAL), ((RAM_AT + 8 * PAGE, 0), errno.EINVAL)]
    for args, expected in cases:
        with pytest.raises(memsnap.Error) as info:
            rt.map(*args, RW)
        assert info.value.errno == expected, args
    with pytest.raises(TypeError):
        rt.map(RAM_AT, "big")
    with pytest.raises(ValueError):
        closed = memsnap.Snapshot.zeroed(PAGE)
        closed.close()
        rt.map(0x900000, closed)


def test_unmap_and_protect_errors(rt):
    rt.map(RAM_AT, 4 * PAGE, RW)
    with pytest.raises(memsnap.Error) as info:
        rt.unmap(0x900000, PAGE)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(memsnap.Error) as info:
        rt.unmap(RAM_AT, PAGE)  # not the whole region
    assert info.value.errno == errno.EINVAL
    with pytest.raises(memsnap.Error) as info:
        rt.protect(0x900000, PAGE, RW)
    assert info.value.errno in (errno.ENOENT, errno.EINVAL)


def test_access_outside_memsnap_regions_raises_efault(rt):
    rt.engine.mem_map(0x900000, PAGE)  # plain Unicorn memory
    for call in (lambda: rt.write(0x900000, b"x"), lambda: rt.read(0x900000, 1),
                 lambda: rt.read(0, 1)):
        with pytest.raises(memsnap.Error) as info:
            call()
        assert info.value.errno == errno.EFAULT
    with pytest.raises(memsnap.Error):
        rt.read(RAM_AT, -1)


def test_checkpoint_of_another_runtime_raises_exdev(rt):
    setup_dirty_guest(rt)
    with memsnap.uc.attach(new_uc()) as other:
        setup_dirty_guest(other)
        foreign = other.checkpoint()
        with pytest.raises(memsnap.Error) as info:
            rt.restore(foreign)
        assert info.value.errno == errno.EXDEV
        assert info.value.strerror == memsnap.strerror(-errno.EXDEV)
    with pytest.raises(TypeError):
        rt.restore(None)
    with pytest.raises(TypeError):
        rt.restore(memsnap.Snapshot.zeroed(PAGE))


def test_set_tracking_after_map_raises_ebusy(rt):
    rt.map(RAM_AT, PAGE, RW)
    with pytest.raises(memsnap.Error) as info:
        rt.set_tracking(memsnap.uc.TRACK_HOOK)
    assert info.value.errno == errno.EBUSY
    with pytest.raises(memsnap.Error) as info:
        rt.set_tracking(7)
    assert info.value.errno in (errno.EINVAL, errno.EBUSY)


def test_use_after_close_raises_value_error(rt):
    setup_dirty_guest(rt)
    cp = rt.checkpoint()
    rt.close()
    rt.close()
    assert rt.closed
    for call in (rt.checkpoint, lambda: rt.restore(cp), lambda: rt.run(CODE_AT, DIRTY_END),
                 lambda: rt.map(0x900000, PAGE), lambda: rt.unmap(RAM_AT, PAGE), rt.stats,
                 rt.verify, lambda: rt.write(RAM_AT, b"x"), lambda: rt.read(RAM_AT, 1),
                 lambda: rt.note_written(RAM_AT, 1), lambda: rt.save(cp, "/tmp/never"),
                 lambda: rt.load("/tmp/never"), lambda: rt.tracking):
        with pytest.raises(ValueError):
            call()
    assert cp.regions()  # a checkpoint outlives its runtime's state
    cp.close()


def test_closed_checkpoint_raises_value_error(rt):
    setup_dirty_guest(rt)
    with rt.checkpoint() as cp:
        pass
    assert cp.closed
    for call in (lambda: rt.restore(cp), cp.regions, lambda: rt.save(cp, "/tmp/never")):
        with pytest.raises(ValueError):
            call()


def test_close_during_run_raises_ebusy(rt):
    uc = setup_dirty_guest(rt)
    errors = []

    def hook(uc, address, size, data):
        for call in (rt.close, lambda: rt.run(CODE_AT, DIRTY_END)):
            try:
                call()
            except memsnap.Error as e:
                errors.append(e.errno)

    h = uc.hook_add(unicorn.UC_HOOK_CODE, hook, begin=CODE_AT, end=CODE_AT)
    rt.run(CODE_AT, DIRTY_END)
    uc.hook_del(h)
    assert errors == [errno.EBUSY, errno.EBUSY]
    assert not rt.closed


def test_other_threads_get_ebusy_during_run(rt):
    import threading
    uc = setup_dirty_guest(rt)
    cp = rt.checkpoint()
    tried, errors = threading.Event(), []

    def other():
        for call in (lambda: rt.restore(cp), lambda: rt.read(RAM_AT, 1), rt.close):
            try:
                call()
            except memsnap.Error as e:
                errors.append(e.errno)
        tried.set()

    def hook(uc, address, size, data):
        threading.Thread(target=other).start()
        assert tried.wait(10)
        assert rt.read(RAM_AT, 1) == b"\x00"  # the running thread may call in

    h = uc.hook_add(unicorn.UC_HOOK_CODE, hook, begin=CODE_AT, end=CODE_AT)
    rt.run(CODE_AT, DIRTY_END)
    uc.hook_del(h)
    assert errors == [errno.EBUSY] * 3
    rt.restore(cp)
