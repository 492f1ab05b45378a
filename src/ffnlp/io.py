"""Model and checkpoint files: arrays plus a JSON description, in one ``.npz`` archive that
is never unpickled, sealed by a checksum and written atomically (``docs/file-format.md``).

Layout of a model file (a zip archive, NumPy's ``.npz``):

- one array per tensor (parameters, count tables), by name;
- ``__meta__``: UTF-8 JSON (as a uint8 array) with ``format`` ("ffnlp"), ``version``,
  ``kind`` (which model), ``config``, ``vocab`` and anything else the model needs, and a
  SHA-256 ``checksum`` over the JSON (without the checksum) and every array's name, dtype,
  shape and bytes;
- the zip comment (version 2): the SHA-256 of every byte before it, so a change anywhere in
  the file, headers included, is caught.

Loading parses each ``.npy`` header itself (no pickle, no object arrays, no header that
claims more bytes than the file holds), then checks the format, version and seal (the
checksum, of an unsealed version 1 file) before anything is built from the file; models
then check the arrays' shapes against their configuration (:func:`check_shapes`). Every
write goes to a temporary file in the same directory, is flushed to disk, then renamed
over the target: a crash leaves the old file or the new one, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import numpy as np

FORMAT = "ffnlp"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 files have no seal (see _seal)
META_KEY = "__meta__"


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write(fileobj)`` atomically (temporary file, fsync, rename).

    Raises:
        ValueError: if the directory does not exist or cannot be written.
        OSError: naming the file, when writing fails (a full disk); the temporary file is
            removed and the target is left untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ValueError(
            f"cannot write {str(path)!r}: the directory {str(directory)!r} does not exist"
        )
    if path.is_dir():
        raise ValueError(f"cannot write {str(path)!r}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except PermissionError:
        raise ValueError(
            f"cannot write {str(path)!r}: permission denied in {str(directory)!r}"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it normal permissions
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError) and not isinstance(err, PermissionError):
            # A full disk, a quota, an I/O error: say which file, and that nothing was lost.
            reason = err.strerror or str(err)
            kept = "the existing file is unchanged" if path.exists() else "nothing was written"
            raise OSError(f"cannot write {str(path)!r}: {reason} ({kept})") from None
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    atomic_write(path, lambda handle: handle.write(text.encode(encoding)))


def _checksum(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(meta, sort_keys=True).encode("utf-8"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _contents_checksum(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str | None:
    try:
        return _checksum(meta, arrays)
    except (TypeError, ValueError, RecursionError):  # a description no file of ours has
        return None


def save_archive(
    path: str | os.PathLike,
    kind: str,
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    compress: bool = False,
) -> None:
    """Save ``arrays`` and the JSON-able ``meta`` as a model file of the given ``kind``
    (``compress``: its members deflated, as ``np.savez_compressed`` writes them)."""
    if META_KEY in arrays:
        raise ValueError(f"array name {META_KEY!r} is reserved")
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind not in "biuf":
            raise TypeError(
                f"save_archive: array {name!r} has dtype {np.asarray(array).dtype}; only numbers can be saved"
            )
    full = {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind, **meta}
    full["checksum"] = _checksum(full, arrays)
    blob = np.frombuffer(json.dumps(full, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    buffer = BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **{META_KEY: blob}, **arrays)
    sealed = _seal(buffer.getvalue())
    atomic_write(path, lambda handle: handle.write(sealed))


_EOCD = b"PK\x05\x06"  # the zip's end-of-central-directory record, 22 bytes + its comment
_SEAL = 64  # hex digits of a SHA-256


def _seal(data: bytes) -> bytes:
    """Put the SHA-256 of the whole file in the zip's comment, so that any byte changed
    anywhere (zip headers and timestamps included, which the checksum of the contents does
    not cover) makes the file fail to load."""
    if data[-22:-18] != _EOCD or data[-2:] != b"\0\0":
        raise AssertionError("np.savez wrote an archive with a comment")  # internal invariant
    head = data[:-2] + _SEAL.to_bytes(2, "little")
    return head + hashlib.sha256(head).hexdigest().encode("ascii")


def _looks_sealed(data: bytes) -> bool:
    end = data[-22 - _SEAL :]  # the zip's end record and the seal: no copy of the rest
    return len(data) > 22 + _SEAL and end[:4] == _EOCD and end[20:22] == _SEAL.to_bytes(2, "little")


def _check_seal(path: Path, data: bytes) -> None:
    head, seal = memoryview(data)[:-_SEAL], data[-_SEAL:]
    if not _looks_sealed(data):
        raise ValueError(
            f"{str(path)!r} is not a readable ffnlp model file (truncated: its end is missing)"
        )
    if hashlib.sha256(head).hexdigest().encode("ascii") != seal:
        raise ValueError(
            f"{str(path)!r} is damaged or was altered: its checksum does not match its bytes"
        )


def _read_npz(data: bytes) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` archive, read without pickle and checked before it is
    allocated: a member must be a stored ``.npy`` file whose header fits its size."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(BytesIO(data)) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename!r}")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"member {info.filename!r} has .npy version {version}")
                if dtype.hasobject:
                    raise ValueError(f"member {info.filename!r} holds Python objects")
                size = dtype.itemsize * math.prod(shape)
                if size > info.file_size - member.tell():  # a header that claims too much
                    raise ValueError(f"member {info.filename!r} is shorter than its header says")
                array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
                if member.readinto(array.reshape(-1, order="A").view(np.uint8)) != size:
                    raise ValueError(f"member {info.filename!r} is shorter than its header says")
                arrays[info.filename[: -len(".npy")]] = array
    return arrays


_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save before 1.6
_FOREIGN_HINT = "ffnlp reads the .npz model files its train commands write"


def foreign_kind(path: str | os.PathLike, data: bytes) -> tuple[str, str] | None:
    """What a file that is not an ffnlp model file looks like, judged by its first bytes:
    (what it is, what to do instead), or None when it looks like nothing in particular
    (then it is damaged, or truncated). Never raises."""
    try:
        return _foreign_kind(Path(path), data)
    except Exception:  # a guess about a strange file must never hide the real error
        return None


def _foreign_kind(path: Path, data: bytes) -> tuple[str, str] | None:
    if data[:4] == b"\xba\x16\x4f\x2f":  # fastText's magic number, 793712314 little-endian
        return "a fastText model", _FOREIGN_HINT + "; train one from fastText's text files"
    if data.startswith(b"mmap lm "):
        return "a KenLM binary model", "ffnlp ngram reads the ARPA file it was built from"
    if data.startswith(_TORCH_LEGACY_MAGIC):
        return "a PyTorch file (torch.save)", _FOREIGN_HINT
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = archive.namelist()
        if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
            return "a PyTorch file (torch.save)", _FOREIGN_HINT
        if names and not any(name.endswith(".npy") for name in names):
            return "a zip archive", _FOREIGN_HINT
        return None
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle", _FOREIGN_HINT + " (never pickles)"
    if path.suffix.lower() == ".onnx":
        return (
            "an ONNX model",
            "ffnlp writes ONNX files (ffnlp export) for other runtimes, but reads its own .npz files",
        )
    head = data[: 1 << 16]
    if not head or b"\0" in head:
        return None
    text = head.decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if any(line.strip() == "\\data\\" for line in lines):
        return (
            "an ARPA n-gram model",
            "ffnlp ngram eval, score, predict and generate read ARPA files",
        )
    if lines and re.fullmatch(r"\d+ \d+", lines[0].strip()):
        return (
            "a word-vectors text file (word2vec format)",
            "give it to --pretrained; " + _FOREIGN_HINT,
        )
    sample = lines[:20]
    for separator, name in ((",", "a CSV file"), ("\t", "a TSV file")):
        if len(sample) >= 2 and len({line.count(separator) for line in sample}) == 1:
            if sample[0].count(separator):
                return name, "data files go to train, test or predict; " + _FOREIGN_HINT
    return "a text file", _FOREIGN_HINT


def _not_a_model(path: Path, data: bytes) -> ValueError | None:
    found = foreign_kind(path, data)
    if found is None:
        return None
    what, hint = found
    return ValueError(f"{str(path)!r} looks like {what}, not an ffnlp model file; {hint}")


def load_archive(
    path: str | os.PathLike, kind: str | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model file; returns (meta, arrays).

    Raises:
        ValueError: with one line naming the file and the problem: missing, not an ffnlp
            model file, truncated or altered (checksum), an unknown format version, or a
            different kind of model than ``kind``.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"model file {str(path)!r} is a directory, not a file")
    data = b""
    try:
        data = path.read_bytes()
        sealed = _looks_sealed(data)
        if sealed:  # check the bytes first: an altered byte is named as such
            _check_seal(path, data)
        arrays = _read_npz(data)
    except PermissionError:
        raise ValueError(f"model file {str(path)!r} cannot be read (permission denied)") from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,  # a compression method zipfile does not know
        RuntimeError,  # an encrypted member
        EOFError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        SyntaxError,  # a .npy header that is not a Python literal
        MemoryError,
        zlib.error,
    ) as err:
        foreign = _not_a_model(path, data)
        if foreign is not None:
            raise foreign from None
        raise ValueError(
            f"{str(path)!r} is not a readable ffnlp model file (damaged or truncated: {err})"
        ) from None
    blob = arrays.pop(META_KEY, None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
        foreign = _not_a_model(path, data)
        if foreign is not None:
            raise foreign
        raise ValueError(f"{str(path)!r} is not an ffnlp model file (no {META_KEY} entry)")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{str(path)!r} is damaged: its description is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an ffnlp model file")
    version = meta.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ValueError(
            f"{str(path)!r} has format version {version!r}, which this ffnlp does not know "
            f"(it reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade ffnlp or "
            "re-train the model"
        )
    stored = meta.pop("checksum", None)
    if version >= 2 and not sealed:
        _check_seal(path, data)  # raises: a version 2 file carries its seal
    # The seal covered every byte as written, the checksum among them: the contents'
    # checksum (a second pass over a large model) is left to the unsealed version 1 files.
    if not sealed and stored != _contents_checksum(meta, arrays):
        raise ValueError(
            f"{str(path)!r} is damaged or was altered: its checksum does not match its contents"
        )
    if kind is not None and meta.get("kind") != kind:
        raise ValueError(f"{str(path)!r} holds a {meta.get('kind')!r} model, not a {kind!r} model")
    return meta, arrays


def check_shapes(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[int, ...]],
) -> None:
    """Refuse a file whose arrays do not have the names and shapes its configuration
    implies, before a model is built (so a forged size cannot allocate a huge model).

    Raises:
        ValueError: naming the first missing, unexpected or misshapen array.
    """
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        parts = ([f"missing arrays {missing}"] if missing else []) + (
            [f"unexpected arrays {unexpected}"] if unexpected else []
        )
        raise ValueError(f"{str(path)!r} does not match its configuration: {'; '.join(parts)}")
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != tuple(shape):
            raise ValueError(
                f"{str(path)!r} does not match its configuration: array {name!r} has shape "
                f"{tuple(arrays[name].shape)}, the configuration implies {tuple(shape)}"
            )
        if arrays[name].dtype.kind != "f":
            raise ValueError(
                f"{str(path)!r}: array {name!r} has dtype {arrays[name].dtype}; parameters are floats"
            )
