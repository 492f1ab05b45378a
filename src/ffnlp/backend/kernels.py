"""Fused loops for the few element-wise updates that dominate a step, compiled by Numba:
the optimizer updates, and the pooled embedding lookup of the text classifier.

The optimizer update is the one place where NumPy's one-pass-per-operation model costs
more than the arithmetic: Adam over the 5-million-weight output layer of a word language
model is a dozen ufunc passes, each reading and writing the whole array, and it can take
longer than the matrix products of the step. One compiled loop reads each weight, its
gradient and its two moments once, updates all four and moves on (faster on one core by
the factor ``benchmarks/adam_update.py`` measures, 3.4x in its recorded run), and it
releases the GIL, so :func:`ffnlp.backend.threads.parallel_blocks`
spreads it over the cores. The pooled lookup (the fast version of
:class:`ffnlp.autograd.ops.EmbeddingBag` in :mod:`ffnlp.backend.compiled`) adds each
token's weighted row straight into its text's sum, where the NumPy form builds a
mostly-zero matrix of weights per distinct row and text; so predicting with a large
classifier also loads Numba (about half a second). Predicting a large file also looks up
millions of exact bigrams, through a hash table of the sorted bigram table
(:func:`key_find`) rather than a binary search into it.

Numba is optional (the ``fast`` extra). Without it, or with ``FFNLP_JIT=0`` in the
environment, :data:`available` is False and the optimizers run their NumPy form, which is
the reference the tests compare these loops with; the readable rule lives beside it in
:mod:`ffnlp.optim`. ``ffnlp.backend.use("reference")`` turns the loops off too (see
:mod:`ffnlp.backend`). The functions below are plain Python until the first large
parameter (:func:`use_for`) has Numba loaded; each is compiled at its first call, and the
machine code is cached on disk, so only the first run on a machine pays the compilation
(a few seconds); later runs take about 0.35 s to start Numba and load the first loop, and
a few hundredths of a second for each further loop they call. If Numba is there but fails
(too old for this NumPy, say), ffnlp warns once and runs the NumPy form.
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ffnlp import backend

# Loading Numba and the compiled loops costs about half a second per process (more the
# first time on a machine, when they are compiled); the loop saves about 2-3 ns per element
# per step over the NumPy form. Below a quarter of a million elements (a 512 x 512 layer)
# it would take many thousands of steps to pay back, so small models never import it.
MIN_SIZE = 1 << 18
# The hash lookup takes 14 ns a key where np.searchsorted takes about 200 (2.3M keys into a
# table of 600,000); loading its two loops takes about 0.025 s once Numba runs (starting
# Numba, 0.35 s, the pooled lookup of any large prediction pays anyway). So it pays from a
# few hundred thousand keys, a file of some 10,000 texts, or from the first call once Numba
# is loaded.
MIN_KEYS = 1 << 18

available = (
    os.environ.get("FFNLP_JIT", "1") != "0" and importlib.util.find_spec("numba") is not None
)
_compiled: dict[str, Callable[..., Any]] = {}
_LOOPS = (
    "adam_block", "adam_rows_block", "adam_lazy_rows", "bag_forward", "bag_backward",
    "key_slots", "key_find",
)  # fmt: skip


def loaded() -> bool:
    """Whether the compiled loops are loaded in this process (by a :func:`use_for` that
    said yes)."""
    return bool(_compiled)


def compiled(name: str) -> Callable[..., Any]:
    """The loop ``name`` of this module, compiled (after :func:`use_for` said yes)."""
    return _compiled[name]


def fits(array: Any) -> bool:
    """Whether a compiled loop can update ``array`` in place, whatever its size: Numba
    there, working and already loaded (by a :func:`use_for` that said yes), and the array
    contiguous float32 or float64."""
    return (
        available
        and bool(_compiled)
        and backend.fast_paths_on()
        and array.flags.c_contiguous
        and array.dtype in (np.float32, np.float64)
    )


def use_for(array: Any) -> bool:
    """Whether the compiled loops should update ``array``: a large contiguous float32 or
    float64 array, and Numba there and working. The first large array loads and checks
    the loops; if Numba cannot be imported or compile them (a Numba too old for this
    NumPy, say), it warns once and ffnlp keeps to its NumPy forms."""
    if not (
        available
        and backend.fast_paths_on()
        and array.size >= MIN_SIZE
        and array.flags.c_contiguous
        and array.dtype in (np.float32, np.float64)
    ):
        return False
    return bool(_compiled) or _load()


def use_for_lookup(size: int) -> bool:
    """Whether the compiled hash lookup (:func:`key_find`) should find ``size`` keys: Numba
    there and working, and either already loaded (a prediction in parts, after its first
    part) or at least :data:`MIN_KEYS` keys, which load it."""
    if not (available and backend.fast_paths_on()):
        return False
    return bool(_compiled) or (size >= MIN_KEYS and _load())


def _load() -> bool:
    global available
    try:
        from numba import njit

        for name in _LOOPS:
            # error_model="numpy": x / 0 gives inf as in NumPy instead of raising, which
            # leaves the loop free of branches so LLVM can vectorise it (2x faster).
            _compiled[name] = njit(nogil=True, cache=True, error_model="numpy")(globals()[name])
        # Each loop is compiled (or loaded from the disk cache, a few hundredths of a second
        # each) at its first call; one is called here, so that a Numba that cannot compile
        # them is found now, while the NumPy form can still take over. A prediction then
        # loads only the pooled lookup, not the optimizer's three loops.
        rows, ids = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int64)
        _compiled["bag_forward"](rows, ids, np.ones((1, 1), np.float32), rows.copy())
    except Exception as err:  # ImportError, Numba's own errors: run NumPy's form instead
        _compiled.clear()
        available = False
        warnings.warn(
            f"ffnlp: the compiled loops are unavailable ({type(err).__name__}: {err}); "
            "using the NumPy form, slower (benchmarks/results/adam_update.md measures both)",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True


def adam_block(
    w, g, m, v, decay, l2, one_minus_beta1, beta2, one_minus_beta2, step, eps
):  # pragma: no cover
    """One block of the Adam update, in place, in one pass (see :class:`ffnlp.optim.Adam`).

    ``decay`` multiplies each weight first (AdamW's decoupled decay; 1 for none), ``l2``
    is Adam's weight decay; ``step`` and ``eps`` already fold in the bias corrections; the
    scalars have the arrays' dtype, so float32 arrays are updated in float32 arithmetic,
    as NumPy does.
    """
    for i in range(w.size):
        wi = w[i] * decay
        gi = g[i] + l2 * wi
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + one_minus_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        w[i] = wi - step * (mi / (math.sqrt(vi) + eps))


def adam_rows_block(
    w, m, v, position, values, decay, l2, one_minus_beta1, beta2, one_minus_beta2, step, eps
):  # pragma: no cover
    """The exact (dense) Adam update of rows ``w[r]`` whose gradient is row-sparse:
    ``values[position[r]]`` where ``position[r] >= 0``, zero elsewhere, so the dense
    gradient never has to be written out. ``w``, ``m``, ``v`` are (rows, D) blocks."""
    rows, width = w.shape
    for r in range(rows):
        k = position[r]
        for j in range(width):
            wi = w[r, j] * decay
            gi = l2 * wi
            if k >= 0:
                gi += values[k, j]
            mi = m[r, j] + one_minus_beta1 * (gi - m[r, j])
            vi = beta2 * v[r, j] + one_minus_beta2 * (gi * gi)
            m[r, j] = mi
            v[r, j] = vi
            w[r, j] = wi - step * (mi / (math.sqrt(vi) + eps))


def adam_lazy_rows(
    w, m, v, rows, values, decay, l2, one_minus_beta1, beta2, one_minus_beta2, step, inv_c, eps
):  # pragma: no cover
    """Lazy Adam (see :meth:`ffnlp.optim.Adam._lazy_update`) on rows ``w[rows[k]]`` only,
    their gradient ``values[k]``; the other rows keep their weights and moments. ``decay``
    is AdamW's factor (1 for Adam), ``l2`` Adam's weight decay, ``inv_c`` 1 / sqrt(1 - b2^t)
    and ``step`` lr / (1 - b1^t). ``rows`` must not repeat a row."""
    width = w.shape[1]
    for k in range(rows.shape[0]):
        r = rows[k]
        for j in range(width):
            wi = w[r, j] * decay
            gi = values[k, j] + l2 * wi
            mi = m[r, j] + one_minus_beta1 * (gi - m[r, j])
            vi = beta2 * v[r, j] + one_minus_beta2 * (gi * gi)
            m[r, j] = mi
            v[r, j] = vi
            w[r, j] = wi - step * (mi / (math.sqrt(vi) * inv_c + eps))


def bag_forward(table, ids, weights, out):  # pragma: no cover
    """``out[b] = sum_t weights[b, t] table[ids[b, t]]`` (see
    :class:`ffnlp.autograd.ops.EmbeddingBag`); zero weights (padding) are skipped."""
    batch, length = ids.shape
    width = table.shape[1]
    for b in range(batch):
        for j in range(width):
            out[b, j] = 0
        for t in range(length):
            a = weights[b, t]
            if a != 0:
                r = ids[b, t]
                for j in range(width):
                    out[b, j] += a * table[r, j]


def bag_backward(slots, weights, grad, values):  # pragma: no cover
    """The gradient rows of :func:`bag_forward`: ``values[slots[b, t]] += weights[b, t]
    grad[b]``, ``slots`` numbering the distinct ids 0..U-1; ``values`` is overwritten."""
    batch, length = slots.shape
    width = grad.shape[1]
    for u in range(values.shape[0]):
        for j in range(width):
            values[u, j] = 0
    for b in range(batch):
        for t in range(length):
            a = weights[b, t]
            if a != 0:
                u = slots[b, t]
                for j in range(width):
                    values[u, j] += a * grad[b, j]


# A hash table of the rows of a sorted array of distinct int64 keys (the exact bigrams of a
# classifier, say), for looking up millions of keys: np.searchsorted's binary search takes
# about 20 steps into a table larger than the cache, an open-addressing probe one or two.
# slots has a power-of-two size of at least twice the keys; -1 marks an empty slot.
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing: the top bits of key * 2^64 / phi


def key_slots(table, slots, shift):  # pragma: no cover
    """Put ``i`` for each ``table[i]`` into ``slots`` (all -1 before), probing linearly."""
    mask = slots.shape[0] - 1
    for i in range(table.shape[0]):
        h = np.int64((np.uint64(table[i]) * np.uint64(_GOLDEN)) >> np.uint64(shift))
        while slots[h] >= 0:
            h = (h + 1) & mask
        slots[h] = i


def key_find(table, slots, shift, keys, out):  # pragma: no cover
    """``out[j]``: the row of ``table`` holding ``keys[j]``, or -1 when none does."""
    mask = slots.shape[0] - 1
    for j in range(keys.shape[0]):
        key = keys[j]
        h = np.int64((np.uint64(key) * np.uint64(_GOLDEN)) >> np.uint64(shift))
        out[j] = -1
        while slots[h] >= 0:
            if table[slots[h]] == key:
                out[j] = slots[h]
                break
            h = (h + 1) & mask
