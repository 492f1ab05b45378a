"""Reading text corpora from disk, with clear errors for the files people actually pass.

Every reader raises ``ValueError`` with one line that names the file, says what is wrong
and how to fix it: a missing file, a directory, an empty or binary file, or bytes that are
not in the expected encoding (never silent mojibake).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from ffnlp.text.tokenize import Tokenizer

T = TypeVar("T")


def read_text(path: str | os.PathLike, encoding: str | None = None, what: str = "file") -> str:
    """The whole text of ``path``, decoded strictly.

    Args:
        path: the file.
        encoding: its encoding; by default UTF-8, and a file that is not valid UTF-8 is an
            error that asks for ``--encoding``.
        what: how to call the file in messages ("corpus", "training file", ...).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a directory, not a file")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(
                f"unknown encoding {encoding!r}; use a name such as utf-8, cp1252 or latin-1"
            ) from None
    try:
        data = path.read_bytes()
    except PermissionError:
        raise ValueError(f"{what} {str(path)!r} cannot be read (permission denied)") from None
    if not data.strip():
        raise ValueError(f"{what} {str(path)!r} is empty")
    if b"\x00" in data[: 1 << 20]:
        raise ValueError(
            f"{what} {str(path)!r} looks like a binary file (it contains NUL bytes), not text"
        )
    try:
        return data.decode(encoding or "utf-8")
    except UnicodeDecodeError as err:
        hint = (
            "give its encoding with --encoding (e.g. cp1252 or latin-1)"
            if encoding is None
            else "check --encoding"
        )
        raise ValueError(
            f"{what} {str(path)!r} is not valid {encoding or 'UTF-8'}: byte 0x{data[err.start]:02x} at "
            f"offset {err.start}; {hint}"
        ) from None


def read_lines(
    path: str | os.PathLike, encoding: str | None = None, what: str = "file"
) -> list[str]:
    """The non-blank lines of a text file, without their line endings."""
    return [line for line in read_text(path, encoding, what).splitlines() if line.strip()]


def load_corpus(
    path: str | os.PathLike,
    tokenizer: Tokenizer | None = None,
    encoding: str | None = None,
    what: str = "corpus",
) -> list[list[str]]:
    """One token list per sentence: per non-blank line, or as ``tokenizer.sentences`` says
    (see :meth:`Tokenizer.sentence_texts`)."""
    tokenizer = tokenizer or Tokenizer()
    texts = tokenizer.sentence_texts(read_text(path, encoding, what))
    sentences = [tokens for tokens in tokenizer.many(texts) if tokens]
    if not sentences:
        raise ValueError(f"{what} {str(path)!r} has no tokens")
    return sentences


def split(items: Sequence[T], fractions: Sequence[float], seed: int = 0) -> list[list[T]]:
    """Shuffle ``items`` with ``seed`` and cut them into parts of the given fractions
    (e.g. (0.8, 0.1, 0.1)); the last part takes the rounding remainder."""
    if not fractions or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split: fractions must be positive and sum to 1; got {tuple(fractions)}")
    order = np.random.default_rng(seed).permutation(len(items))
    bounds = np.floor(np.cumsum(fractions)[:-1] * len(items)).astype(int)
    return [[items[i] for i in part] for part in np.split(order, bounds)]


def held_out_blocks(
    items: Sequence[T], fraction: float, seed: int = 0, blocks: int = 10
) -> tuple[list[T], list[T], list[tuple[int, int]]]:
    """Hold out about ``fraction`` of ``items`` (sentences, in the order of the text) as
    ``blocks`` contiguous runs, one at a random place (``seed``) in each of ``blocks``
    equal stretches of the text: unlike random lines, a held-out sentence's neighbours are
    held out with it, so the rest does not hold the text around it.

    Returns:
        (kept, held_out, spans): the items kept and held out, each in order, and the
        ``(start, stop)`` of each held-out run.

    Raises:
        ValueError: a fraction outside (0, 0.5], or too few items to hold out one and keep
            the rest.
    """
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 < fraction <= 0.5
    ):
        raise ValueError(
            f"--valid-fraction must be a number in (0, 0.5] (e.g. 0.1 holds out a tenth); got {fraction!r}"
        )
    n = len(items)
    held = round(n * fraction)
    if held < 1 or held >= n:
        raise ValueError(
            f"--valid-fraction {fraction:g} of {n} sentence{'s' * (n != 1)} holds out none: give "
            "more text, a larger fraction, or a --valid FILE"
        )
    blocks = min(blocks, held)
    rng = np.random.default_rng(seed)
    spans = []
    for k in range(blocks):
        lo, hi = k * n // blocks, (k + 1) * n // blocks  # the k-th stretch of the text
        size = held // blocks + (k < held % blocks)
        start = int(rng.integers(lo, max(lo, hi - size) + 1))
        spans.append((start, min(start + size, n)))
    out = np.zeros(n, dtype=bool)
    for start, stop in spans:
        out[start:stop] = True
    kept = [item for item, o in zip(items, out) if not o]
    return kept, [item for item, o in zip(items, out) if o], spans
