"""Corpora larger than memory: the token ids of a corpus in a memory-mapped file.

``ffnlp data encode CORPUS --out DIR`` (or :func:`encode_corpus`) reads a text file twice,
a line at a time, never holding it: once to count the tokens and build the vocabulary,
once to write every sentence's ids followed by ``</s>`` into ``DIR/ids.npy`` (a NumPy
array file, uint16 when the vocabulary has at most 65,536 tokens, else uint32). The
vocabulary and the settings go to ``DIR/vocab.json``, written last, so a folder with it is
complete. Training opens ``ids.npy`` memory-mapped (:func:`open_encoded`) and gathers
each batch's context windows from it (:class:`ffnlp.text.ngrams.StreamWindows`).
"""

from __future__ import annotations

import codecs
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import Vocab

IDS_FILE = "ids.npy"
META_FILE = "vocab.json"
FORMAT = "ffnlp encoded corpus"
_CHUNK = 1 << 20  # ids written at a time


@dataclass
class EncodedCorpus:
    """An encoded corpus opened read-only.

    Attributes:
        ids: every sentence's ids then ``</s>``, one after the other; (M,) uint16 or uint32,
            memory-mapped (pages are read from disk as batches need them).
        vocab: the vocabulary the ids index.
        meta: the settings it was made with (tokenizer, lowercase, min_count, max_vocab)
            and its counts (sentences, tokens).
        path: the folder.
    """

    ids: np.ndarray
    vocab: Vocab
    meta: dict[str, Any]
    path: Path


def is_encoded(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by :func:`encode_corpus`."""
    return (Path(path) / META_FILE).is_file()


def _sentences(path: Path, tokenizer: Tokenizer, encoding: str | None) -> Iterator[list[str]]:
    """Token lists of the non-blank lines, read a line at a time."""
    try:
        with open(path, encoding=encoding or "utf-8", newline=None) as handle:
            for number, line in enumerate(handle, start=1):
                if "\x00" in line:
                    raise ValueError(
                        f"corpus {str(path)!r} looks like a binary file (NUL bytes at line {number}), not text"
                    )
                tokens = tokenizer(line) if line.strip() else []
                if tokens:
                    yield tokens
    except UnicodeDecodeError as err:
        raise ValueError(
            f"corpus {str(path)!r} is not valid {encoding or 'UTF-8'} ({err.reason}); give its "
            "encoding with --encoding (e.g. cp1252 or latin-1)"
        ) from None


def encode_corpus(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    tokenizer: Tokenizer | None = None,
    encoding: str | None = None,
    min_count: int = 1,
    max_vocab: int | None = None,
) -> EncodedCorpus:
    """Write ``path``'s token ids and vocabulary into the folder ``out_dir`` (created if
    needed), streaming: memory holds the token counts and a chunk of ids, never the text.

    Returns the corpus, opened (see :func:`open_encoded`).

    Raises:
        ValueError: a missing, empty or undecodable file, or bad vocabulary settings.
    """
    path, out = Path(path), Path(out_dir)
    tokenizer = tokenizer or Tokenizer()
    if not path.is_file():
        raise ValueError(
            f"corpus {str(path)!r} {'is a directory' if path.is_dir() else 'does not exist'}"
        )
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(
                f"unknown encoding {encoding!r}; use e.g. utf-8, cp1252 or latin-1"
            ) from None
    if out.exists() and not out.is_dir():
        raise ValueError(f"cannot write the encoded corpus to {str(out)!r}: it is a file")
    counts: Counter[str] = Counter()
    sentences = 0
    for tokens in _sentences(path, tokenizer, encoding):  # pass 1: count
        counts.update(tokens)
        sentences += 1
    if not sentences:
        raise ValueError(f"corpus {str(path)!r} has no tokens")
    vocab = Vocab.from_counts(counts, min_count=min_count, max_size=max_vocab)
    tokens_total = sum(counts.values())
    del counts
    dtype = np.uint16 if len(vocab) <= 1 << 16 else np.uint32
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).unlink(missing_ok=True)  # the folder is incomplete until the end
    partial = out / f".{IDS_FILE}.partial"
    ids = np.lib.format.open_memmap(
        partial, mode="w+", dtype=dtype, shape=(tokens_total + sentences,)
    )
    chunk: list[np.ndarray] = []
    filled = written = 0
    for tokens in _sentences(path, tokenizer, encoding):  # pass 2: encode
        chunk.append(vocab.encode(tokens))
        chunk.append(np.array([Vocab.eos_id]))
        filled += len(tokens) + 1
        if filled >= _CHUNK:
            written = _flush(ids, chunk, written)
            chunk, filled = [], 0
    written = _flush(ids, chunk, written)
    if written != len(ids):
        raise ValueError(
            f"corpus {str(path)!r} changed while it was being encoded; encode it again"
        )
    ids.flush()
    del ids
    os.replace(partial, out / IDS_FILE)
    meta = {
        "format": FORMAT,
        "source": str(path),
        "tokenizer": tokenizer.mode,
        "lowercase": tokenizer.lowercase,
        "min_count": min_count,
        "max_vocab": max_vocab,
        "sentences": sentences,
        "tokens": tokens_total,
        "dtype": np.dtype(dtype).name,
        "vocab": vocab.to_dict(),
    }
    io.atomic_write_text(out / META_FILE, json.dumps(meta))
    return open_encoded(out)


def _flush(ids: np.ndarray, chunk: list[np.ndarray], written: int) -> int:
    if not chunk:
        return written
    block = np.concatenate(chunk)
    if written + len(block) > len(ids):
        raise ValueError("the corpus changed while it was being encoded; encode it again")
    ids[written : written + len(block)] = block
    return written + len(block)


def open_encoded(path: str | os.PathLike) -> EncodedCorpus:
    """Open a folder written by :func:`encode_corpus`; the ids are memory-mapped read-only.

    Raises:
        ValueError: when the folder is not a complete encoded corpus.
    """
    folder = Path(path)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError
        vocab = Vocab.from_dict(meta["vocab"])
        ids = np.load(folder / IDS_FILE, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            f"{str(folder)!r} is not a complete encoded corpus (write one with: ffnlp data encode CORPUS --out {folder})"
        ) from None
    expected = meta.get("tokens", -1) + meta.get("sentences", -1)
    if ids.ndim != 1 or ids.dtype.kind != "u" or len(ids) != expected:
        raise ValueError(
            f"{str(folder / IDS_FILE)!r} does not match its {META_FILE}; encode the corpus again"
        )
    return EncodedCorpus(ids, vocab, meta, folder)
