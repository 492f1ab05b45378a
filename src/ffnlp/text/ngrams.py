"""Context windows for n-gram language models: N-1 previous token ids -> the next id.

Built with NumPy (a sliding-window view over one array of ids), never a Python loop per
token. Two layouts of a corpus:

- ``"stream"``: the corpus is one long stream, each sentence followed by ``</s>`` (the
  Penn Treebank convention); contexts run across sentence boundaries and only the very
  start is padded with ``<s>``.
- ``"sentence"``: each sentence stands alone, padded with N-1 ``<s>`` at its start, and
  ends with ``</s>``; no context reaches into another sentence.

Both predict the same targets in the same order: every token of every sentence, then its
``</s>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ffnlp.text.vocab import Vocab

LAYOUTS = ("stream", "sentence")


def _check(context_size: int, layout: str) -> None:
    if (
        isinstance(context_size, bool)
        or not isinstance(context_size, (int, np.integer))
        or context_size < 1
    ):
        raise ValueError(f"context_size must be a positive integer; got {context_size!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}")


def padded_sentences(sentences: Sequence[np.ndarray], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """All sentences in one array, each as ``<s>`` * pad + ids + ``</s>``.

    Returns the array and a boolean mask of the positions that are targets (everything but
    the padding).
    """
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    block = pad + lengths + 1
    starts = np.concatenate(([0], np.cumsum(block)[:-1]))
    out = np.full(int(block.sum()), Vocab.bos_id, dtype=np.int64)
    if lengths.sum():
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sentences])
        sentence_of = np.repeat(np.arange(len(sentences)), lengths)
        offset = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[starts[sentence_of] + pad + offset] = flat
    out[starts + pad + lengths] = Vocab.eos_id
    is_target = np.ones(len(out), dtype=bool)
    pad_positions = (starts[:, None] + np.arange(pad)[None, :]).ravel()
    is_target[pad_positions] = False
    return out, is_target


def context_windows(
    sentences: Sequence[np.ndarray], context_size: int, layout: str = "stream"
) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, targets): contexts (M, context_size) int64 and targets (M,), one row per
    predicted token.

    >>> x, y = context_windows([np.array([5, 6]), np.array([7])], context_size=2)
    >>> x.tolist(), y.tolist()
    ([[1, 1], [1, 5], [5, 6], [6, 2], [2, 7]], [5, 6, 2, 7, 2])
    """
    _check(context_size, layout)
    if not len(sentences):
        raise ValueError("context_windows: no sentences")
    if layout == "stream":
        ids, is_target = padded_sentences([np.concatenate(_with_eos(sentences))[:-1]], context_size)
    else:
        ids, is_target = padded_sentences(sentences, context_size)
    windows = np.lib.stride_tricks.sliding_window_view(ids, context_size + 1)
    keep = is_target[context_size:]
    return np.ascontiguousarray(windows[keep, :-1]), np.ascontiguousarray(windows[keep, -1])


def _with_eos(sentences: Sequence[np.ndarray]) -> list[np.ndarray]:
    eos = np.array([Vocab.eos_id], dtype=np.int64)
    return [part for s in sentences for part in (np.asarray(s, dtype=np.int64), eos)]
