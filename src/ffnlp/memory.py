"""Keep freed memory for the next step instead of giving it back to the system.

A training step allocates and frees the same large arrays every time: the logits and the
softmax of a (256, 10000) batch, the (10000, 512) gradient of the output layer. glibc's
``malloc`` serves arrays above a threshold (at most 32 MB) with fresh pages from the
kernel and returns them on ``free``, so the next step faults them in again, each page
zeroed by the kernel: about 700 page faults and a tenth of a step of the word language
model, and every (1024, 10000) evaluation batch. Raising the threshold keeps such arrays
in the heap, where the next step reuses them.

:func:`keep_freed_memory` is called when ffnlp is imported. It changes the C library's
policy for the whole process; set ``FFNLP_KEEP_FREED_MEMORY=0`` to leave it alone. It does
nothing where there is no glibc ``mallopt`` (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Arrays up to this size come from the heap and are reused: a 50M-weight layer's gradient.
MMAP_THRESHOLD = 256 << 20
# Free memory at the top of the heap is returned to the system only above this.
TRIM_THRESHOLD = 512 << 20


def keep_freed_memory() -> int:
    """Ask glibc to keep freed arrays of up to 256 MB (32 MB on older versions, which
    refuse more) for reuse; returns the size it agreed to, 0 if none."""
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
