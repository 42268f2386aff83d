"""memsnap.View: memory as a buffer, restore, snapshots, tracking, misuse."""
import errno
import gc

import pytest

import memsnap

PAGE = memsnap.page_size()


@pytest.fixture
def view():
    with memsnap.View(memsnap.Snapshot.from_bytes(b"base" + bytes(8 * PAGE - 4))) as v:
        yield v


def test_buffer_is_the_memory_without_copy(view):
    mem = memoryview(view)
    assert len(mem) == view.size == len(view) == 8 * PAGE
    assert not mem.readonly
    mem[0:4] = b"BASE"
    assert bytes(memoryview(view)[0:4]) == b"BASE"
    assert view.take_snapshot().read(0, 4) == b"BASE"


def test_restore_undoes_writes_in_dirty_pages(view):
    mem = memoryview(view)
    mem[0] = ord("x")
    mem[5 * PAGE] = 1
    assert view.dirty_count() == 2
    assert view.dirty_ranges() == [(0, PAGE), (5 * PAGE, PAGE)]
    view.restore()
    assert bytes(mem[0:4]) == b"base" and mem[5 * PAGE] == 0
    assert view.dirty_count() == 0
    stats = view.stats()
    assert stats.restores == 1 and stats.last_restore_pages == 2


def test_checkpoint_moves_the_restore_point(view):
    mem = memoryview(view)
    mem[0] = ord("X")
    cp = view.checkpoint()
    mem[0] = ord("Y")
    view.restore()
    assert mem[0] == ord("X")
    assert view.snapshot.read(0, 1) == b"X"
    assert cp.read(0, 1) == b"X"


def test_restore_to_another_snapshot_of_the_family(view):
    mem = memoryview(view)
    mem[PAGE] = 1
    one = view.take_snapshot()
    mem[PAGE] = 2
    two = view.take_snapshot()
    assert view.restore_to(one) >= 1
    assert mem[PAGE] == 1
    assert view.restore_to(two) >= 1
    assert mem[PAGE] == 2
    with pytest.raises(memsnap.Error) as info:
        view.restore_to(memsnap.Snapshot.zeroed(PAGE))
    assert info.value.errno == errno.EINVAL
    mem.release()  # the traceback in `info` keeps this frame alive


def test_note_written_page_is_restored(view):
    view.note_written(3 * PAGE + 10, 1)
    assert view.dirty_ranges() == [(3 * PAGE, PAGE)]
    view.note_written(6 * PAGE, 1)
    assert view.dirty_count() == 2
    with pytest.raises(memsnap.Error):
        view.note_written(9 * PAGE, 1)


def test_verify_finds_nothing_missed(view):
    memoryview(view)[2 * PAGE] = 3
    assert view.verify() == []


def test_shared_view_writes_the_snapshot():
    snap = memsnap.Snapshot.zeroed(PAGE)
    with memsnap.View(snap, shared=True) as shared:
        assert shared.shared
        memoryview(shared)[0] = 5
        shared.restore()
        assert memoryview(shared)[0] == 5
        with pytest.raises(memsnap.Error) as info:
            memsnap.View(snap)
        assert info.value.errno == errno.EBUSY
    assert snap.read(0, 1) == b"\x05"


def test_view_keeps_its_snapshot_alive():
    snap = memsnap.Snapshot.from_bytes(b"keep")
    view = memsnap.View(snap)
    snap.close()
    del snap
    gc.collect()
    assert bytes(memoryview(view)[:4]) == b"keep"
    memoryview(view)[0] = 0
    view.restore()
    assert bytes(memoryview(view)[:4]) == b"keep"
    assert view.snapshot.read(0, 4) == b"keep"


def test_buffer_keeps_the_view_alive():
    mem = memoryview(memsnap.View(memsnap.Snapshot.from_bytes(b"alive")))
    gc.collect()
    assert bytes(mem[:5]) == b"alive"


def test_close_with_exported_buffer_raises_buffer_error(view):
    mem = memoryview(view)
    with pytest.raises(BufferError):
        view.close()
    mem.release()
    view.close()
    assert view.closed


def test_protect_blocks_buffers_until_restore(view):
    view.protect(0, PAGE, memsnap.ACCESS_READ)
    with pytest.raises(BufferError):
        memoryview(view)
    view.restore()
    memoryview(view)[0] = 1


def test_protect_refused_while_buffer_exported(view):
    mem = memoryview(view)
    with pytest.raises(BufferError):
        view.protect(0, PAGE, memsnap.ACCESS_NONE)
    view.protect(0, PAGE, memsnap.ACCESS_READ | memsnap.ACCESS_WRITE)
    mem.release()


def test_protect_bad_range_raises_einval(view):
    with pytest.raises(memsnap.Error) as info:
        view.protect(1, PAGE, memsnap.ACCESS_READ)
    assert info.value.errno == errno.EINVAL


def test_trackers_are_named_and_probed():
    names = {memsnap.tracker_name(t) for t in range(5)}
    assert {"uffd-async", "uffd-sync", "mprotect", "none"} <= names
    memsnap.tracker_probe(memsnap.TRACKER_NONE)
    resolved = memsnap.tracker_resolve(memsnap.TRACKER_AUTO)
    assert resolved != memsnap.TRACKER_AUTO
    with pytest.raises(memsnap.Error):
        memsnap.tracker_name(99)


@pytest.mark.parametrize("tracker", [memsnap.TRACKER_MPROTECT, memsnap.TRACKER_NONE,
                                     memsnap.TRACKER_UFFD_SYNC, memsnap.TRACKER_UFFD_ASYNC])
def test_every_tracker_restores(tracker):
    try:
        memsnap.tracker_probe(tracker)
    except memsnap.Error as e:
        pytest.skip("tracker unavailable: " + e.strerror)
    with memsnap.View(memsnap.Snapshot.zeroed(4 * PAGE), tracker=tracker) as view:
        assert view.tracker == memsnap.tracker_name(tracker)
        mem = memoryview(view)
        mem[PAGE + 1] = 9
        view.restore()
        assert mem[PAGE + 1] == 0
        mem.release()


def test_invalid_tracker_raises_einval():
    with pytest.raises(memsnap.Error) as info:
        memsnap.View(memsnap.Snapshot.zeroed(PAGE), tracker=42)
    assert info.value.errno == errno.EINVAL


def test_use_after_close_raises_value_error(view):
    view.close()
    view.close()
    for call in (view.restore, view.take_snapshot, view.dirty_count, view.stats,
                 lambda: memoryview(view), lambda: len(view), lambda: view.snapshot,
                 lambda: memsnap.Snapshot.from_view(view)):
        with pytest.raises(ValueError):
            call()


def test_errors_carry_errno_and_text():
    err = memsnap.error(memsnap.ERR_CORRUPT)
    assert isinstance(err, memsnap.Error) and isinstance(err, OSError)
    assert err.code == memsnap.ERR_CORRUPT and err.errno == -memsnap.ERR_CORRUPT
    assert err.strerror == memsnap.strerror(memsnap.ERR_CORRUPT)
    uc_err = memsnap.error(memsnap.ERR_UC_BASE - 6)
    assert isinstance(uc_err, memsnap.UnicornError) and uc_err.uc_err == 6
    with pytest.raises(ValueError):
        memsnap.error(0)


def test_kernel_write_needs_note_written_with_uffd_sync(tmp_path):
    try:
        memsnap.tracker_probe(memsnap.TRACKER_UFFD_SYNC)
    except memsnap.Error as e:
        pytest.skip("uffd-sync unavailable: " + e.strerror)
    path = tmp_path / "input"
    path.write_bytes(b"from the kernel")
    with memsnap.View(memsnap.Snapshot.zeroed(4 * PAGE), tracker=memsnap.TRACKER_UFFD_SYNC) as view:
        # Tracking starts when first needed; until then nothing is protected.
        assert view.dirty_count() == 0
        with open(path, "rb", buffering=0) as f:
            with pytest.raises(OSError) as info:
                f.readinto(memoryview(view))
            assert info.value.errno == errno.EFAULT
            f.seek(0)
            view.note_written(0, PAGE)
            assert f.readinto(memoryview(view)[:PAGE]) == 15
        assert bytes(memoryview(view)[:15]) == b"from the kernel"
        assert view.restore() == 1
        assert bytes(memoryview(view)[:15]) == bytes(15)
        del info
