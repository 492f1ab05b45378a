"""Model files: round trip, no pickle, and refusal of damaged or foreign files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from ffnlp import io


def _save(path):
    arrays = {
        "w": np.arange(6, dtype=np.float32).reshape(2, 3),
        "ids": np.array([1, 2], dtype=np.int64),
    }
    io.save_archive(path, "toy", {"config": {"size": 3}}, arrays)
    return arrays


def test_round_trip(tmp_path):
    arrays = _save(tmp_path / "m.npz")
    meta, loaded = io.load_archive(tmp_path / "m.npz", kind="toy")
    assert meta["config"] == {"size": 3} and meta["version"] == io.FORMAT_VERSION
    for name in arrays:
        np.testing.assert_array_equal(loaded[name], arrays[name])
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_one_altered_byte_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("w.npy")
    # Flip a byte inside the stored array data (npz members are stored uncompressed).
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128 + 4
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"damaged|checksum"):
        io.load_archive(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable ffnlp model file"),
        (b"hello, I am text", "looks like a text file, not an ffnlp model file"),
    ],
)
def test_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        io.load_archive(path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="not a readable ffnlp model file"):
        io.load_archive(path)


def test_unknown_version_and_wrong_kind(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    with pytest.raises(ValueError, match="holds a 'toy' model, not a 'feedforward_lm' model"):
        io.load_archive(path, kind="feedforward_lm")
    meta = {"format": "ffnlp", "version": 99, "kind": "toy"}
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, __meta__=blob)
    with pytest.raises(ValueError, match="format version 99, which this ffnlp does not know"):
        io.load_archive(path)


def test_pickled_arrays_are_never_loaded(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(
        path, __meta__=np.frombuffer(b"{}", dtype=np.uint8), evil=np.array([{"a": 1}], dtype=object)
    )
    with pytest.raises(ValueError, match="not a readable ffnlp model file"):
        io.load_archive(path)


def test_writing_into_a_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(ValueError, match=r"the directory .* does not exist"):
        _save(tmp_path / "nope" / "m.npz")


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.npz"
    _save(path)
    before = path.read_bytes()

    def explode(handle):
        handle.write(b"partial")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        io.atomic_write(path, explode)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*tmp"))


def test_every_one_byte_change_anywhere_is_refused(tmp_path):
    """Headers and timestamps included: the seal covers every byte of the file."""
    path = tmp_path / "m.npz"
    io.save_archive(path, "toy", {"config": {}}, {"w": np.ones(2, dtype=np.float32)})
    original = path.read_bytes()
    for offset in range(len(original)):
        altered = bytearray(original)
        altered[offset] ^= 0x20
        path.write_bytes(bytes(altered))
        with pytest.raises(ValueError, match=r"damaged|not a readable|not an ffnlp|format version"):
            io.load_archive(path)


def test_version_1_files_without_a_seal_are_still_read(tmp_path):
    path = tmp_path / "m.npz"
    arrays = {"w": np.ones(3, dtype=np.float32)}
    meta = {"format": "ffnlp", "version": 1, "kind": "toy"}
    meta["checksum"] = io._checksum(meta, arrays)
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, __meta__=blob, **arrays)
    loaded_meta, loaded = io.load_archive(path, kind="toy")
    assert loaded_meta["version"] == 1 and np.array_equal(loaded["w"], arrays["w"])
    # Without a seal, the contents' checksum is what finds a changed value.
    np.savez(path, __meta__=blob, w=np.full(3, 2, dtype=np.float32))
    with pytest.raises(ValueError, match="checksum does not match its contents"):
        io.load_archive(path, kind="toy")


def test_a_full_disk_keeps_the_old_file_and_says_so(tmp_path, monkeypatch):
    import errno
    import os

    path = tmp_path / "m.npz"
    _save(path)
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(
        OSError,
        match=r"cannot write .*m\.npz.*No space left on device \(the existing file is unchanged\)",
    ):
        _save(path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*tmp"))


def test_a_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    """A forged .npy header must not make the reader allocate what it claims."""
    path = tmp_path / "m.npz"
    header = io.np.lib.format.header_data_from_array_1_0(np.zeros(1, np.float32))
    header["shape"] = (10**12,)
    with zipfile.ZipFile(path, "w") as archive, archive.open("w.npy", "w") as member:
        io.np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\0" * 4)
    with pytest.raises(ValueError, match="shorter than its header says"):
        io.load_archive(path)


def test_check_shapes_names_the_array():
    arrays = {"a": np.zeros((2, 3), np.float32), "b": np.zeros(2, np.float32)}
    io.check_shapes("m", arrays, {"a": (2, 3), "b": (2,)})
    with pytest.raises(
        ValueError, match=r"array 'a' has shape \(2, 3\), the configuration implies \(4, 3\)"
    ):
        io.check_shapes("m", arrays, {"a": (4, 3), "b": (2,)})
    with pytest.raises(ValueError, match=r"missing arrays \['c'\]; unexpected arrays \['b'\]"):
        io.check_shapes("m", arrays, {"a": (2, 3), "c": (2,)})
