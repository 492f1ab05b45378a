"""Fused loops for the few element-wise updates that dominate a step, compiled by Numba.

The optimizer update is the one place where NumPy's one-pass-per-operation model costs
more than the arithmetic: Adam over the 5-million-weight output layer of a word language
model is a dozen ufunc passes, each reading and writing the whole array, and it can take
longer than the matrix products of the step. One compiled loop reads each weight, its
gradient and its two moments once, updates all four and moves on: three to four times
faster on one core, and it releases the GIL, so :func:`ffnlp.threads.parallel_blocks`
spreads it over the cores.

Numba is optional (the ``fast`` extra). Without it, or with ``FFNLP_JIT=0`` in the
environment, :data:`available` is False and the optimizers run their NumPy form, which is
the reference the tests compare these loops with; the readable rule lives beside it in
:mod:`ffnlp.optim`. The functions below are plain Python until :func:`compiled` compiles
them; the machine code is cached on disk, so only the first run on a machine pays the
compilation (a few seconds), later runs about half a second to load it.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from typing import Any

# Loading Numba and the compiled loops costs about a second per process; the loop saves
# about 2-3 ns per element per step over the NumPy form. Below a quarter of a million
# elements (a 512 x 512 layer) it would take many thousands of steps to pay back, so
# small models never import it.
MIN_SIZE = 1 << 18

available = (
    os.environ.get("FFNLP_JIT", "1") != "0" and importlib.util.find_spec("numba") is not None
)
_compiled: dict[str, Callable[..., Any]] = {}


def compiled(name: str) -> Callable[..., Any]:
    """The loop ``name`` of this module compiled without the GIL and cached on disk (Numba
    is imported on the first call)."""
    fn = _compiled.get(name)
    if fn is None:
        from numba import njit

        # error_model="numpy": x / 0 gives inf as in NumPy instead of raising, which leaves
        # the loop free of branches so LLVM can vectorise it (2x faster).
        fn = _compiled[name] = njit(nogil=True, cache=True, error_model="numpy")(globals()[name])
    return fn


def use_for(array: Any) -> bool:
    """Whether the compiled loops should update ``array``: Numba is there, the array is a
    large contiguous float array."""
    return (
        available
        and array.size >= MIN_SIZE
        and array.flags.c_contiguous
        and array.dtype.kind == "f"
    )


def adam_block(
    w, g, m, v, l2, one_minus_beta1, beta2, one_minus_beta2, step, eps
):  # pragma: no cover
    """One block of the Adam update, in place, in one pass (see :class:`ffnlp.optim.Adam`).

    ``step`` and ``eps`` already fold in the bias corrections; the scalars have the
    arrays' dtype, so float32 arrays are updated in float32 arithmetic, as NumPy does.
    """
    for i in range(w.size):
        gi = g[i] + l2 * w[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + one_minus_beta2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        w[i] -= step * (mi / (math.sqrt(vi) + eps))


def adam_rows_block(
    w, m, v, position, values, l2, one_minus_beta1, beta2, one_minus_beta2, step, eps
):  # pragma: no cover
    """The exact (dense) Adam update of rows ``w[r]`` whose gradient is row-sparse:
    ``values[position[r]]`` where ``position[r] >= 0``, zero elsewhere, so the dense
    gradient never has to be written out. ``w``, ``m``, ``v`` are (rows, D) blocks."""
    rows, width = w.shape
    for r in range(rows):
        k = position[r]
        for j in range(width):
            gi = l2 * w[r, j]
            if k >= 0:
                gi += values[k, j]
            mi = m[r, j] + one_minus_beta1 * (gi - m[r, j])
            vi = beta2 * v[r, j] + one_minus_beta2 * (gi * gi)
            m[r, j] = mi
            v[r, j] = vi
            w[r, j] -= step * (mi / (math.sqrt(vi) + eps))
