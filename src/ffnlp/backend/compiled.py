"""Ops as compiled loops (Numba): the fast :class:`EmbeddingBag` (registered in
:data:`ffnlp.backend.FAST_PATHS`).

It subclasses :class:`ffnlp.autograd.ops.EmbeddingBag` and computes the same sums (to
rounding), which tests/backend/ checks forward and backward. For a table of at least
:data:`ffnlp.backend.kernels.MIN_SIZE` weights, with Numba there and working, it makes one
pass over the batch's tokens, adding each token's weighted row straight into its text's
sum (and, backward, each text's gradient into the token's row), where the plain op builds
a (U, B) matrix of summed weights, mostly zeros for a large vocabulary. Otherwise it runs
the plain op. A large batch's forward is split over ffnlp's threads by texts (each text's
sum is its own, taken in the same order whichever thread takes it: the threads change no
bit): 8.2 -> 5.0 ms for a prediction's part of 8,192 texts; a training batch of 512 is
too small to gain (0.26 ms on one thread, 0.30 split: ``benchmarks/bag_threads.py``). The
backward stays on one thread: split by columns (texts share rows, not columns), a training
batch's was slower when tried (1.39 ms against 1.09).
"""

from __future__ import annotations

import numpy as np

from ffnlp.autograd import is_grad_enabled, ops
from ffnlp.autograd.sparse import RowSparseGrad
from ffnlp.backend import kernels, sorting, threads

# Below this many tokens, a prediction (no gradient) with the loops not yet loaded runs the
# plain op: loading them costs a few tenths of a second, which one line from the shell
# would wait for (training loads them anyway, for the optimizer of a large table).
SMALL_INFERENCE = 4096
# A forward of at least this many multiply-adds (tokens x width, a few milliseconds of one
# core: a prediction's part, not a training batch of 512 texts, 2M) is split over the
# threads, in blocks of about BLOCK_WORK each (handing out a block costs microseconds).
PARALLEL_WORK = 1 << 23
BLOCK_WORK = 1 << 19


def _small_inference(ids) -> bool:
    return not is_grad_enabled() and not kernels.loaded() and np.size(ids) < SMALL_INFERENCE


class EmbeddingBag(ops.EmbeddingBag):
    """:class:`ffnlp.autograd.ops.EmbeddingBag` as two compiled loops over the tokens."""

    ran_compiled = False  # whether this node's forward ran the loop (its backward follows)

    def forward(self, weight, ids, weights, sparse=False):
        if _small_inference(ids) or not kernels.use_for(weight):
            return super().forward(weight, ids, weights, sparse)
        ids, weights = ops.check_embedding_bag(weight, ids, weights)
        if not weights.size:
            return super().forward(weight, ids, weights, sparse)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        weights = np.ascontiguousarray(weights)
        out = np.empty((ids.shape[0], weight.shape[1]), dtype=weight.dtype)
        loop = kernels.compiled("bag_forward")
        if ids.size * weight.shape[1] >= PARALLEL_WORK and threads.get_num_threads() > 1:
            rows = max(1, BLOCK_WORK // (ids.shape[1] * weight.shape[1]))
            threads.parallel_ranges(
                lambda lo, hi: loop(weight, ids[lo:hi], weights[lo:hi], out[lo:hi]),
                ids.shape[0], rows, min_size=0,
            )  # fmt: skip
        else:
            loop(weight, ids, weights, out)
        self.ran_compiled = True
        self.saved = (weight.shape, sparse, ids, weights)
        return out

    def backward(self, grad):
        if not self.ran_compiled:
            return super().backward(grad)
        shape, sparse, ids, weights = self.saved
        unique, slots = distinct_rows(ids, shape[0])
        values = np.empty((len(unique), grad.shape[1]), dtype=grad.dtype)
        grad = np.ascontiguousarray(grad)
        kernels.compiled("bag_backward")(slots.reshape(ids.shape), weights, grad, values)
        rows = RowSparseGrad(unique, values, shape)
        return rows if sparse else rows.to_dense()


def distinct_rows(ids: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ids, return_inverse=True)`` for ids in ``range(rows)``: the sorted
    distinct ids (U,) and each id's place among them (ids' shape).

    np.unique sorts the batch's ids (argsort, for the inverse), a few tenths of a
    millisecond for a classifier's batch of ten thousand tokens, every step. Marking them in
    a table of ``rows`` flags reads them twice and the flags once, several times faster
    while the table is not much larger than the batch; past that, one sort finds them
    (:func:`ffnlp.backend.sorting.unique`).
    """
    flat = ids.reshape(-1)
    if rows > 64 * flat.size:
        distinct, slots = sorting.unique(flat, return_inverse=True)
        return distinct, slots.reshape(ids.shape)
    seen = np.zeros(rows, dtype=bool)
    seen[flat] = True
    unique = np.flatnonzero(seen)
    place = np.empty(rows, dtype=np.int64)
    place[unique] = np.arange(len(unique))
    return unique, place[ids]
