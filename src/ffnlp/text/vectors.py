"""Pretrained word vectors from word2vec or GloVe text files.

Both formats have one word per line followed by its numbers, separated by spaces; word2vec
files start with a header line "<count> <dimension>". The reader keeps only the words of a
given vocabulary, so a multi-gigabyte file costs memory for the vocabulary alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ffnlp.checks import plural
from ffnlp.text.datasets import read_text
from ffnlp.text.vocab import Vocab


def load_vectors(
    path: str | os.PathLike,
    vocab: Vocab,
    encoding: str | None = None,
    lowercase: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors for the words of ``vocab`` found in the file.

    Args:
        path: a word2vec (with header) or GloVe (without) text file.
        vocab: the words wanted.
        encoding: the file's encoding (UTF-8 by default).
        lowercase: match file words lower-cased (the first occurrence wins).

    Returns:
        (vectors, found): vectors (len(vocab), D) float32 with zeros where a word was not in
        the file, and found, a boolean mask of the rows that were.

    Raises:
        ValueError: naming the line, for a malformed line, a dimension that changes or a
            number that does not parse; or if no vocabulary word is in the file.
    """
    text = read_text(path, encoding, what="embeddings file")
    lines = text.splitlines()
    start, dim = 0, None
    header = lines[0].split()
    if len(header) == 2 and all(part.isdigit() for part in header):
        start, dim = 1, int(header[1])
        if dim <= 0:
            raise ValueError(f"embeddings file {str(path)!r}: the header gives dimension {dim}")
    rows: dict[int, np.ndarray] = {}
    for number, line in enumerate(lines[start:], start=start + 1):
        parts = line.rstrip().split(" ")
        if len(parts) < 2 or not parts[0]:
            if not line.strip():
                continue
            raise ValueError(
                f"embeddings file {str(path)!r}, line {number}: expected a word and its numbers"
            )
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise ValueError(
                f"embeddings file {str(path)!r}, line {number}: {plural(len(parts) - 1, 'number')} where "
                f"the file has {dim} per word"
            )
        word = parts[0].lower() if lowercase else parts[0]
        index = vocab.stoi.get(word)
        if index is None or index in rows:
            continue
        try:
            vector = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise ValueError(
                f"embeddings file {str(path)!r}, line {number}: a value is not a number"
            ) from None
        if not np.isfinite(vector).all():
            raise ValueError(
                f"embeddings file {str(path)!r}, line {number}: a value is NaN or infinite"
            )
        rows[index] = vector
    if dim is None:
        raise ValueError(f"embeddings file {str(path)!r} holds no vectors")
    if not rows:
        raise ValueError(
            f"embeddings file {str(Path(path))!r}: none of the {len(vocab)} vocabulary words is in it"
        )
    vectors = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    index = np.fromiter(rows, dtype=np.int64, count=len(rows))
    vectors[index] = np.stack(list(rows.values()))
    found[index] = True
    return vectors, found


def fill_missing(
    vectors: np.ndarray, found: np.ndarray, rng: int | np.random.Generator | None = 0
) -> np.ndarray:
    """The embedding matrix to start from: the pretrained rows as they are, and each row the
    file did not have drawn from N(0, s²), s the standard deviation of the pretrained rows'
    values, so the new words start at the scale of the others.

    One policy for every model that takes pretrained vectors (the language model and the
    text classifier alike). A missing row left at zero (as :func:`load_vectors` returns it)
    would make those words identical, and one left at the layer's own initialisation would
    be at another scale than the pretrained rows, which the optimizer then has to undo.

    Args:
        vectors, found: what :func:`load_vectors` returns, (V, D) and (V,).
        rng: a seed or Generator for the missing rows (a seed gives a fresh generator).

    Returns:
        A new (V, D) float32 matrix.

    >>> vectors = np.array([[1.0, -1.0], [0.0, 0.0], [3.0, -3.0]], dtype=np.float32)
    >>> filled = fill_missing(vectors, np.array([True, False, True]), rng=0)
    >>> filled[[0, 2]].tolist()
    [[1.0, -1.0], [3.0, -3.0]]
    >>> bool(filled[1].any())
    True
    """
    vectors = np.asarray(vectors)
    found = np.asarray(found, dtype=bool)
    if found.shape != (len(vectors),) or not found.any():
        raise ValueError(
            f"fill_missing: found must be one bool per row of vectors {vectors.shape} with at "
            f"least one True; got shape {found.shape}"
        )
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    scale = float(vectors[found].std())
    missing = generator.normal(0, scale, vectors.shape)  # drawn for every row: one stream
    return np.where(found[:, None], vectors, missing).astype(np.float32)
