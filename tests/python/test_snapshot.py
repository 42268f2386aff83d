"""memsnap.Snapshot: constructors, content, files, lifetime."""
import errno

import pytest

import memsnap

PAGE = memsnap.page_size()


def test_zeroed_is_page_rounded_and_zero():
    with memsnap.Snapshot.zeroed(PAGE + 1) as snap:
        assert snap.size == 2 * PAGE
        assert len(snap) == 2 * PAGE
        assert snap.read() == bytes(2 * PAGE)
        assert snap.depth == 0


def test_from_bytes_copies_and_pads():
    data = bytearray(b"memsnap")
    snap = memsnap.Snapshot.from_bytes(data)
    data[0] = 0
    assert snap.read(0, 7) == b"memsnap"
    assert snap.read(7, 5) == bytes(5)
    assert snap.size == PAGE


def test_from_bytes_accepts_any_buffer():
    assert memsnap.Snapshot.from_bytes(memoryview(b"abc")).read(0, 3) == b"abc"
    assert memsnap.Snapshot.from_bytes(b"").size == 0


def test_save_and_from_file_round_trip(tmp_path):
    path = tmp_path / "snap.bin"
    memsnap.Snapshot.from_bytes(b"x" * 5000).save(path)
    snap = memsnap.Snapshot.from_file(path)
    assert snap.read(0, 5000) == b"x" * 5000
    assert snap.size == 2 * PAGE


def test_from_view_holds_the_views_content():
    snap = memsnap.Snapshot.zeroed(4 * PAGE)
    view = memsnap.View(snap)
    memoryview(view)[PAGE] = 7
    taken = memsnap.Snapshot.from_view(view)
    memoryview(view)[PAGE] = 9
    assert taken.read(PAGE, 1) == b"\x07"
    assert taken.depth in (0, 1)


def test_clone_keeps_the_content():
    snap = memsnap.Snapshot.from_bytes(b"abc")
    assert snap.clone().read(0, 3) == b"abc"


def test_read_outside_raises_einval():
    snap = memsnap.Snapshot.zeroed(PAGE)
    with pytest.raises(memsnap.Error) as info:
        snap.read(PAGE, 1)
    assert info.value.errno == errno.EINVAL
    assert info.value.code == -errno.EINVAL
    assert info.value.strerror == memsnap.strerror(-errno.EINVAL)
    assert info.value.uc_err is None


def test_from_file_missing_raises_enoent(tmp_path):
    with pytest.raises(memsnap.Error) as info:
        memsnap.Snapshot.from_file(tmp_path / "absent")
    assert info.value.errno == errno.ENOENT


def test_from_file_directory_raises(tmp_path):
    with pytest.raises(memsnap.Error) as info:
        memsnap.Snapshot.from_file(tmp_path)
    assert info.value.errno in (errno.EISDIR, errno.EINVAL)


def test_save_into_missing_directory_raises(tmp_path):
    with pytest.raises(memsnap.Error) as info:
        memsnap.Snapshot.zeroed(PAGE).save(tmp_path / "no" / "such")
    assert info.value.errno == errno.ENOENT


def test_bad_arguments_raise_type_and_overflow_errors():
    with pytest.raises(OverflowError):
        memsnap.Snapshot.zeroed(-1)
    with pytest.raises(TypeError):
        memsnap.Snapshot.zeroed("1")
    with pytest.raises(TypeError):
        memsnap.Snapshot.from_bytes("text")
    with pytest.raises(TypeError):
        memsnap.Snapshot()
    with pytest.raises(TypeError):
        memsnap.Snapshot.from_view(b"x")


def test_huge_size_raises_memsnap_error():
    with pytest.raises(memsnap.Error):
        memsnap.Snapshot.zeroed(1 << 62)


def test_use_after_close_raises_value_error():
    snap = memsnap.Snapshot.zeroed(PAGE)
    snap.close()
    snap.close()
    assert snap.closed
    for call in (lambda: snap.size, lambda: snap.read(), lambda: len(snap), snap.clone,
                 lambda: memsnap.View(snap), lambda: snap.save("/tmp/x")):
        with pytest.raises(ValueError):
            call()
    assert "closed" in repr(snap)
