"""The process-wide settings that make training faster: one explicit call, never an import.

:func:`tune_process` makes two changes that reach beyond ffnlp, to the whole process (and
the processes it starts), so a plain ``import ffnlp`` makes neither; the ``ffnlp``
command makes both before it imports NumPy (``ffnlp/__main__.py``), and so do the
benchmarks. A program of your own calls it first thing::

    import ffnlp.backend
    ffnlp.backend.tune_process()   # before `import numpy`, for the first setting to count
    import numpy as np

1. **OpenBLAS's idle threads sleep at once** (``OPENBLAS_THREAD_TIMEOUT=4``). They spin
   for 2^28 cycles (~0.1 s) after every matrix product before they sleep, so on a machine
   with few cores they take the cores ffnlp's own threads need for the softmax and the
   optimizer update right after: with two threads those ran slower than with one. 2^4
   cycles lets them sleep at once. OpenBLAS reads the variable once, when NumPy loads it:
   set later, it counts only for the processes started from this one. A value already in
   the environment is kept.
2. **Freed memory is kept for the next step** (glibc's malloc thresholds). A training step
   allocates and frees the same large arrays every time: the logits and the softmax of a
   (256, 10000) batch, the (10000, 512) gradient of the output layer. glibc's ``malloc``
   serves arrays above a threshold (at most 32 MB) with fresh pages from the kernel and
   returns them on ``free``, so the next step faults them in again, each page zeroed by
   the kernel: about 700 page faults and a tenth of a step of the word language model,
   and every (1024, 10000) evaluation batch. Raising the threshold keeps such arrays in
   the heap, where the next step reuses them. ``FFNLP_KEEP_FREED_MEMORY=0`` leaves malloc
   alone; there is nothing to do where there is no glibc ``mallopt`` (macOS, Windows, musl).

This module imports nothing heavy (no NumPy), so it can run before NumPy loads.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

# How long OpenBLAS's idle threads spin before they sleep: 2^4 cycles.
OPENBLAS_THREAD_TIMEOUT = "4"

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Arrays up to this size come from the heap and are reused: a 50M-weight layer's gradient.
MMAP_THRESHOLD = 256 << 20
# Free memory at the top of the heap is returned to the system only above this.
TRIM_THRESHOLD = 512 << 20


@dataclass(frozen=True)
class ProcessSettings:
    """What :func:`tune_process` did.

    Attributes:
        openblas_thread_timeout: the value of ``OPENBLAS_THREAD_TIMEOUT`` now in the
            environment (the user's, if one was set).
        openblas_loaded_before: whether NumPy was already imported, so that this process's
            OpenBLAS kept the timeout it read when it loaded (the processes it starts still
            get the new one).
        freed_memory_kept: the largest freed array glibc now keeps for reuse, in bytes;
            0 if malloc was left alone.
    """

    openblas_thread_timeout: str
    openblas_loaded_before: bool
    freed_memory_kept: int


applied: ProcessSettings | None = None  # the last tune_process() of this process, if any


def tune_process() -> ProcessSettings:
    """Make the two process-wide settings described in :mod:`ffnlp.backend.process`:
    ``OPENBLAS_THREAD_TIMEOUT=4`` unless the environment has a value, and glibc's malloc
    thresholds raised unless ``FFNLP_KEEP_FREED_MEMORY=0``. Safe to call more than once.

    Returns:
        a :class:`ProcessSettings` saying what took effect.
    """
    global applied
    loaded_before = "numpy" in sys.modules
    timeout = os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    applied = ProcessSettings(timeout, loaded_before, keep_freed_memory())
    return applied


def keep_freed_memory() -> int:
    """Ask glibc to keep freed arrays of up to 256 MB (32 MB on older versions, which
    refuse more) for reuse; returns the size it agreed to, 0 if none (or if
    ``FFNLP_KEEP_FREED_MEMORY=0``)."""
    if not sys.platform.startswith("linux") or os.environ.get("FFNLP_KEEP_FREED_MEMORY") == "0":
        return 0
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already uses
    except (OSError, AttributeError):
        return 0
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if not mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        return 0
    for threshold in (MMAP_THRESHOLD, 32 << 20):
        if mallopt(M_MMAP_THRESHOLD, threshold):
            return threshold
    return 0
