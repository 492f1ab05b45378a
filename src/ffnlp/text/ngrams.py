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

import hashlib
from collections.abc import Sequence

import numpy as np

from ffnlp.checks import check_choice, check_int
from ffnlp.text.batching import strided_minibatches
from ffnlp.text.vocab import Vocab

LAYOUTS = ("stream", "sentence")


def _check(context_size: int, layout: str) -> None:
    check_int("context_size", context_size, minimum=1)
    check_choice("layout", layout, LAYOUTS)


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


def sentence_depths(is_target: np.ndarray) -> np.ndarray:
    """For each position of :func:`padded_sentences`'s array with one ``<s>`` per sentence,
    its distance from the sentence's ``<s>`` (0 at the ``<s>`` itself): how many words of
    history it has."""
    starts = np.flatnonzero(~is_target)
    block = np.diff(np.concatenate((starts, [len(is_target)])))
    return np.arange(len(is_target)) - np.repeat(starts, block)


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


class StreamWindows:
    """The context windows of one stream of ids (``s1 </s> s2 </s> ...``), gathered on
    demand for each batch: for a memory-mapped corpus (:mod:`ffnlp.text.encoded`) only the
    batch's windows are ever in memory, never all of them.

    Window j predicts ``ids[j]`` from the ``context_size`` ids before it, ``<s>`` before the
    start; with the "sentence" layout also ``<s>`` for everything up to the last ``</s>``
    in the context. The windows equal :func:`context_windows`' for the same sentences.

    It is a dataset for :func:`ffnlp.train.fit`; its batch order is
    :func:`~ffnlp.text.batching.strided_minibatches` (no permutation of all windows).

    >>> w = StreamWindows(np.array([5, 6, 2, 7, 2]), context_size=2)
    >>> x, y = w.batch(np.arange(5))
    >>> x.tolist(), y.tolist()
    ([[1, 1], [1, 5], [5, 6], [6, 2], [2, 7]], [5, 6, 2, 7, 2])
    """

    batch_order = staticmethod(strided_minibatches)

    def __init__(self, ids: np.ndarray, context_size: int, layout: str = "stream") -> None:
        _check(context_size, layout)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ValueError(
                f"StreamWindows: ids must be 1-D integers; got {ids.dtype} {ids.shape}"
            )
        self.ids, self.context_size, self.layout = ids, int(context_size), layout

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        positions = indices[:, None] + np.arange(-self.context_size, 0)  # (B, N)
        contexts = self.ids[np.maximum(positions, 0)].astype(np.int64)
        contexts[positions < 0] = Vocab.bos_id
        if self.layout == "sentence":  # nothing from before the sentence's start
            ends = contexts == Vocab.eos_id
            before_last_end = np.flip(np.cumsum(np.flip(ends, axis=1), axis=1), axis=1) > 0
            contexts[before_last_end] = Vocab.bos_id
        return contexts, self.ids[indices].astype(np.int64)

    def fingerprint(self) -> str:
        """A hash of the stream's length, layout and 66 blocks of it (its ends and 64
        evenly spaced), cheap for any size."""
        n, block = len(self.ids), 4096
        digest = hashlib.blake2b(f"{n} {self.context_size} {self.layout}".encode(), digest_size=16)
        for start in sorted(set(np.linspace(0, max(n - block, 0), 66).astype(np.int64).tolist())):
            digest.update(np.ascontiguousarray(self.ids[start : start + block]).tobytes())
        return digest.hexdigest()
