"""Row-wise ops in cache-sized blocks on the thread pool: the fast :class:`Linear` and
:class:`CrossEntropy` (registered in :data:`ffnlp.backend.FAST_PATHS`).

Each subclasses the op of :mod:`ffnlp.autograd.ops` it speeds up and computes the same
numbers (to rounding); tests/backend/ compares the two, forward and backward. The op's
docstring there has the math.

Why blocks: on a large softmax (a (256, 10000) batch of logits) each pass over memory
costs about as much as the arithmetic in it. A block of rows small enough to stay in the
cache goes through all its passes (shift, exponentials, sums) before the next block is
read, and the blocks are handed to the threads of :mod:`ffnlp.backend.threads`; NumPy
releases the GIL inside its ufuncs, so they run in parallel.
"""

from __future__ import annotations

import numpy as np

from ffnlp.autograd import ops
from ffnlp.autograd.tensor import is_grad_enabled
from ffnlp.backend.threads import PARALLEL_MIN, parallel_ranges

# Elements per block of rows: 1 MB of float32, which with its output stays in a 2 MB L2
# cache, and few enough blocks that the half-dozen NumPy calls per block cost little (the
# softmax + cross-entropy of a (256, 10000) batch: 5.2 ms with 64k-element blocks, 3.5 ms
# with these, forward and backward on two threads).
ROW_BLOCK = 1 << 18


def row_blocks(width: int) -> tuple[int, int]:
    """Rows per block and the fewest rows worth threads, for row-wise work on (N, width)."""
    width = width or 1
    return ROW_BLOCK // width or 1, PARALLEL_MIN // width or 1


class Linear(ops.Linear):
    """:class:`ffnlp.autograd.ops.Linear` with the bias added in row blocks on the threads
    once the output is large, and the bias gradient summed by BLAS."""

    def forward(self, x, weight, bias=None):
        out = super().forward(x, weight)  # the shape check and x W^T
        if bias is None:
            return out
        if out.size < PARALLEL_MIN:
            out += bias
            return out
        # A pass over a (256, 10000) output is worth the threads the product had.
        rows = out.reshape(-1, out.shape[-1])
        parallel_ranges(
            lambda lo, hi: np.add(rows[lo:hi], bias, out=rows[lo:hi]),
            len(rows),
            *row_blocks(rows.shape[1]),
        )
        return out

    @staticmethod
    def bias_grad(g2):
        # The column sums as a matrix-vector product: BLAS threads it (g2.sum(axis=0)
        # runs on one core at half the speed).
        return np.ones(len(g2), dtype=g2.dtype) @ g2


class CrossEntropy(ops.CrossEntropy):
    """:class:`ffnlp.autograd.ops.CrossEntropy` in row blocks on the threads; under
    ``no_grad`` (evaluation) only the losses are computed, no (B, C) probabilities kept."""

    def forward(self, logits, targets, reduction="mean"):
        targets = ops.check_cross_entropy(logits, targets, reduction)
        num_classes = logits.shape[-1]
        z = logits.reshape(-1, num_classes)
        t = targets.reshape(-1)
        # Evaluation needs only the losses: no (B, C) probabilities are kept, and each block
        # works in a small buffer of its own (a fresh (1024, 10000) array costs more in
        # page faults than the exponentials in it).
        keep = is_grad_enabled()
        exps = np.empty_like(z) if keep else None
        totals = np.empty((t.size, 1), dtype=logits.dtype)
        losses = np.empty(t.size, dtype=logits.dtype)

        def rows_softmax(lo: int, hi: int) -> None:
            # One block of rows goes from shifted logits to exponentials in place. The
            # division by the row sums waits for the backward pass, which scales anyway.
            e = exps[lo:hi] if keep else np.empty((hi - lo, num_classes), dtype=z.dtype)
            np.subtract(z[lo:hi], np.max(z[lo:hi], axis=1, keepdims=True), out=e)
            picked = e[np.arange(hi - lo), t[lo:hi]]  # z_y - max z
            np.exp(e, out=e)
            np.sum(e, axis=1, keepdims=True, out=totals[lo:hi])
            losses[lo:hi] = np.log(totals[lo:hi, 0]) - picked

        parallel_ranges(rows_softmax, t.size, *row_blocks(num_classes))
        if keep:
            self.saved = (exps, totals, t, logits.shape, reduction)
        return ops._reduce(losses.reshape(targets.shape), reduction)

    def backward(self, grad):
        exps, totals, t, shape, reduction = self.saved
        per_example = ops._reduced_grad(grad, shape[:-1], reduction).reshape(-1, 1)
        scale = per_example / totals  # softmax = exps / totals
        # (softmax - one_hot) * dL/dloss in one pass into a new array: the saved
        # exponentials stay intact for a second backward.
        g = np.empty_like(exps)

        def rows_grad(lo: int, hi: int) -> None:
            np.multiply(exps[lo:hi], scale[lo:hi], out=g[lo:hi])
            g[np.arange(lo, hi), t[lo:hi]] -= per_example[lo:hi, 0]

        parallel_ranges(rows_grad, t.size, *row_blocks(exps.shape[1]))
        return g.reshape(shape)
