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
        (b"hello, I am text", "not a readable ffnlp model file"),
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
