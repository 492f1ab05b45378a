"""A file given to a reader of ffnlp model files is named for what it is: another tool's
model, a data file, a text file, never "damaged"."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest

from ffnlp import io

FASTTEXT = b"\xba\x16\x4f\x2f\x0c\x00\x00\x00" + bytes(64)  # magic 793712314, version 12

CASES = {
    "model.bin": (FASTTEXT, "a fastText model"),
    "model.ftz": (FASTTEXT, "a fastText model"),
    "lm.binary": (b"mmap lm http://kheafield.com/code format version 5\n\0\0", "a KenLM binary"),
    "model.pkl": (pickle.dumps({"weights": [1, 2]}, protocol=4), "a Python pickle"),
    "model.onnx": (b"\x08\x08\x12\x05ffnlp:\x00", "an ONNX model"),
    "lm.arpa": (b"\n\\data\\\nngram 1=3\n\n\\1-grams:\n", "an ARPA n-gram model"),
    "vectors.vec": (b"2 3\nthe 0.1 0.2 0.3\ncat 0.4 0.5 0.6\n", "a word-vectors text file"),
    "data.csv": (b"text,label\ngreat film,pos\ndull film,neg\n", "a CSV file"),
    "data.tsv": (b"great film\tpos\ndull film\tneg\n", "a TSV file"),
    "notes.npz": (b"remember to train the model\n", "a text file"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_named_for_what_it_is(tmp_path, name):
    data, what = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        io.load_archive(path)
    message = str(info.value)
    assert f"{str(path)!r} looks like {what}" in message
    assert "not an ffnlp model file" in message and "damaged" not in message
    assert "\n" not in message


def test_a_pytorch_file_and_a_plain_zip(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:  # torch.save's layout since PyTorch 1.6
        archive.writestr("model/data.pkl", pickle.dumps({}))
        archive.writestr("model/data/0", bytes(16))
    with pytest.raises(ValueError, match=r"looks like a PyTorch file \(torch\.save\)"):
        io.load_archive(path)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="looks like a zip archive, not an ffnlp model file"):
        io.load_archive(tmp_path / "a.zip")


def test_a_real_torch_save(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(3)}, tmp_path / "m.pt")
    torch.save({"w": torch.zeros(3)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    for name in ("m.pt", "old.pt"):
        with pytest.raises(ValueError, match=r"looks like a PyTorch file"):
            io.load_archive(tmp_path / name)


def test_damaged_ffnlp_files_are_still_called_damaged(tmp_path):
    io.save_archive(tmp_path / "m.npz", "test", {}, {"w": np.zeros(3)})
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="is not a readable ffnlp model file") as info:
        io.load_archive(tmp_path / "cut.npz")
    assert "looks like" not in str(info.value)
    np.savez(tmp_path / "plain.npz", w=np.zeros(2))  # NumPy's own: no description
    with pytest.raises(ValueError, match="is not an ffnlp model file"):
        io.load_archive(tmp_path / "plain.npz")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"", None),
        (b"\x00\x01\x02", None),
        (b"PK\x03\x04garbage", None),
        (b"\x80\x05", "a Python pickle"),
    ],
)
def test_the_guess_never_raises(tmp_path, data, what):
    found = io.foreign_kind(tmp_path / "x", data)  # a broken zip is no guess: None
    assert (found and found[0]) == what
