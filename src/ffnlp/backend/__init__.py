"""The fast paths: faster versions of a few ops, registered beside the plain ones.

:mod:`ffnlp.autograd.ops` writes every op as the chapter does: the cross-entropy's
backward is ``softmax - one_hot``, the affine map is ``x W^T + b``. Three ops cost enough
in a training step to have a faster version here that computes the same numbers (to
rounding), in cache-sized blocks, on a thread pool or as one compiled loop:

    op (ffnlp.autograd.ops)  its fast version                                  module
    Linear                   the bias added in row blocks on the threads,      blocked.py
                             its gradient summed by BLAS
    CrossEntropy             the softmax in cache-sized row blocks on the      blocked.py
                             threads, no probabilities kept under no_grad
    EmbeddingBag             one compiled loop over the tokens (Numba), for    compiled.py
                             tables of at least kernels.MIN_SIZE weights

:data:`FAST_PATHS` is the whole registry: an op's function form (``ops.linear``, ...)
asks :func:`implementation` which class to run, and gets the fast one unless the fast
paths are off. Each fast version subclasses its op, keeps its name (graph pictures look
the same) and is compared with it, forward and backward, by tests/backend/.

The rest of the package serves the fast paths and the optimizers: :mod:`.threads` (how
many cores, the thread pool), :mod:`.kernels` (the loops Numba compiles: Adam's updates
and the embedding bag's) and :mod:`.process` (:func:`tune_process`, the process-wide
settings that the ``ffnlp`` command and the benchmarks make, and a plain ``import
ffnlp`` does not).

Turning the fast paths off, to run the ops exactly as ``ops.py`` writes them::

    import ffnlp.backend
    ffnlp.backend.use("reference")   # or FFNLP_BACKEND=reference in the environment

``"reference"`` also turns off the optimizers' compiled update (they run their NumPy
rule from :mod:`ffnlp.optim`); ``use("fast")`` turns everything back on. This module
imports nothing heavy (no NumPy), so the ``ffnlp`` command can call
:func:`tune_process` before NumPy loads.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator

from ffnlp.backend.process import tune_process

BACKENDS = ("fast", "reference")

# The registry, one line per op that has a fast version: "module.Op" -> "module.FastOp".
FAST_PATHS: dict[str, str] = {
    "ffnlp.autograd.ops.Linear": "ffnlp.backend.blocked.Linear",
    "ffnlp.autograd.ops.CrossEntropy": "ffnlp.backend.blocked.CrossEntropy",
    "ffnlp.autograd.ops.EmbeddingBag": "ffnlp.backend.compiled.EmbeddingBag",
}


def _check(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {name!r}")
    return name


# A bad value is reported by the first op that asks (as a ValueError, which the command
# line prints as one line), not by a traceback on import.
_current = os.environ.get("FFNLP_BACKEND") or "fast"
_active: dict[type, type] = {}  # op -> the class that runs it on the current backend


def use(name: str) -> None:
    """Run the ops on backend ``name``: ``"fast"`` (the default) or ``"reference"`` (the
    plain ops of :mod:`ffnlp.autograd.ops`, and the optimizers' NumPy rule).

    Ops already recorded in a graph keep the version that ran their forward pass.

    Raises:
        ValueError: if ``name`` is not one of :data:`BACKENDS`.
    """
    global _current
    _current = _check(name)
    _active.clear()


def current() -> str:
    """The backend the ops run on now: ``"fast"`` or ``"reference"``."""
    return _current


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """:func:`use` for a ``with`` block only; the backend before it comes back after.

    >>> import ffnlp.backend
    >>> with ffnlp.backend.using("reference"):
    ...     ffnlp.backend.current()
    'reference'
    """
    before = _current
    use(name)
    try:
        yield
    finally:
        use(before)


def fast_paths_on() -> bool:
    """Whether the fast paths (the registered ops, the compiled optimizer update) are on."""
    return _current == "fast"


def implementation(op: type) -> type:
    """The class that runs ``op``: its registered fast version while the fast paths are
    on, else ``op`` itself (also for an op with no fast version)."""
    run = _active.get(op)  # every call of linear, cross_entropy, ...: kept to one lookup
    if run is None:
        run = _active[op] = _resolve(op)
    return run


def _resolve(op: type) -> type:
    if _current == "reference":
        return op
    if _current != "fast":
        raise ValueError(
            f"FFNLP_BACKEND must be one of {BACKENDS}; got {_current!r} (unset it for the fast paths)"
        )
    path = FAST_PATHS.get(f"{op.__module__}.{op.__qualname__}")
    if path is None:
        return op
    module, _, name = path.rpartition(".")
    fast = getattr(importlib.import_module(module), name)
    assert issubclass(fast, op) and fast.__name__ == op.__name__, (op, fast)
    return fast


__all__ = [
    "BACKENDS",
    "FAST_PATHS",
    "current",
    "fast_paths_on",
    "implementation",
    "tune_process",
    "use",
    "using",
]
