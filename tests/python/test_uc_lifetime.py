"""memsnap.uc: engines, runtimes and checkpoints freed in any order."""
import gc
import weakref

import unicorn

import memsnap
import memsnap.uc
from conftest import CODE_AT, DIRTY_END, RAM_AT, new_uc, page_value, setup_dirty_guest


def test_runtime_keeps_the_engine_open():
    uc = new_uc()
    rt = memsnap.uc.attach(uc)
    setup_dirty_guest(rt, pages=2)
    cp = rt.checkpoint()
    engine = weakref.ref(uc)
    del uc
    gc.collect()
    assert engine() is rt.engine
    rt.run(CODE_AT, DIRTY_END)
    rt.restore(cp)
    assert page_value(rt, 1) == 0


def test_checkpoint_keeps_its_runtime():
    rt = memsnap.uc.attach(new_uc())
    setup_dirty_guest(rt)
    cp = rt.checkpoint()
    runtime = weakref.ref(rt)
    del rt
    gc.collect()
    assert runtime() is cp.runtime
    cp.runtime.restore(cp)


def test_engine_closes_once_everything_is_gone():
    rt = memsnap.uc.attach(new_uc())
    setup_dirty_guest(rt)
    cp = rt.checkpoint()
    key = memsnap.uc._engine_handle(rt.engine)
    assert key in memsnap.uc._guards
    # memsnap, not the unicorn binding, closes an attached engine.
    assert memsnap.uc._guards[key].release is not None
    del rt, cp
    gc.collect()
    assert key not in memsnap.uc._guards


def test_cycle_through_a_hook_is_collected():
    uc = new_uc()
    rt = memsnap.uc.attach(uc)
    setup_dirty_guest(rt, pages=2)
    cp = rt.checkpoint()
    # The hook refers to the runtime and its checkpoint: uc -> hook -> rt -> uc.
    uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda *args, held=(rt, cp): held)
    rt.run(CODE_AT, DIRTY_END)
    rt.restore(cp)
    key = memsnap.uc._engine_handle(uc)
    runtime = weakref.ref(rt)
    del uc, rt, cp
    gc.collect()
    assert runtime() is None
    assert key not in memsnap.uc._guards


def test_many_engines_come_and_go():
    for _ in range(20):
        uc = new_uc()
        rt = memsnap.uc.attach(uc)
        setup_dirty_guest(rt)
        uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda *args, rt=rt: None)
        rt.checkpoint()
        del uc, rt
    gc.collect()
    assert not memsnap.uc._guards


def test_closed_runtime_leaves_a_working_engine():
    uc = new_uc()
    rt = memsnap.uc.attach(uc)
    setup_dirty_guest(rt)
    rt.close()
    assert all(b != RAM_AT for b, _, _ in uc.mem_regions())
    uc.mem_map(RAM_AT, 0x1000)
    uc.mem_write(RAM_AT, b"plain")
    assert uc.mem_read(RAM_AT, 5) == b"plain"


def test_objects_are_context_managers():
    with memsnap.uc.attach(new_uc()) as rt:
        setup_dirty_guest(rt)
        with rt.checkpoint() as cp:
            rt.restore(cp)
        assert cp.closed
    assert rt.closed


def test_engine_closed_by_a_finalizer_is_taken_over():
    # Bindings after Unicorn 2.0 close the engine from a weakref.finalize
    # stored on the Uc; memsnap detaches it and closes the engine itself.
    uc = new_uc()
    refs = type(uc)._cleanup._refs
    for key in [key for key, ref in refs.items() if ref() is uc]:
        del refs[key]  # the binding's own close is dropped with its reference
    closed = []

    def release(handle):
        closed.append(handle)
        unicorn.Uc.release_handle(handle)

    uc._Uc__finalizer = weakref.finalize(uc, release, uc._uch)
    rt = memsnap.uc.attach(uc)
    assert not uc._Uc__finalizer.alive
    setup_dirty_guest(rt)
    cp = rt.checkpoint()
    uc.hook_add(unicorn.UC_HOOK_BLOCK, lambda *args, held=(rt, cp): held)
    handle = uc._uch
    del uc, rt, cp
    gc.collect()
    assert closed == [handle]
