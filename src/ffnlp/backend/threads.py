"""How many cores ffnlp uses, and the one helper that spreads element-wise work over them.

Matrix products run in the BLAS library's own thread pool. NumPy's element-wise operations
(the optimizer updates, the softmax) run on one core and make one pass over memory per
operation; on a large parameter that pass, not the arithmetic, is what costs. So the few
hot element-wise loops go through :func:`parallel_blocks` (or :func:`parallel_ranges`),
which cuts the flattened arrays into blocks small enough to stay in the cache while
several operations run over them, and hands the blocks one at a time to whichever thread
of a small pool (the caller included) is free. NumPy releases the GIL inside
its ufuncs, so the threads run in parallel.

:func:`set_num_threads` sets both pools: the BLAS one through threadpoolctl (the
``threads`` extra) and ffnlp's own. Without it ffnlp uses every core.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ffnlp.checks import check_int

# Elements per block: a few float32 arrays of 64k elements (256 KB each) stay in the L2/L3
# cache while every operation of an update runs over them.
BLOCK = 1 << 16
# Below this many elements the pool's overhead (tens of microseconds) costs more than it saves.
PARALLEL_MIN = 1 << 18

_num_threads = os.cpu_count() or 1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_blas_limits = None


def _forget_pool() -> None:
    # A forked child inherits the pool object but not its threads: work handed to it would
    # wait forever. The child makes its own pool when it first needs one.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()  # in case the fork came while another thread held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def get_num_threads() -> int:
    """The number of threads ffnlp's element-wise work uses."""
    return _num_threads


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads for matrix products (BLAS) and for ffnlp's element-wise work.

    The BLAS limit needs threadpoolctl (``pip install ffnlp[threads]``); without it only
    ffnlp's own pool is limited.

    Raises:
        ValueError: if ``threads`` is not a positive integer.
    """
    global _num_threads, _pool, _blas_limits
    _num_threads = check_int("threads", threads, minimum=1)
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _blas_limits = threadpool_limits(limits=_num_threads, user_api="blas")


@contextlib.contextmanager
def limited_threads(threads: int) -> Iterator[None]:
    """:func:`set_num_threads` for a ``with`` block only: afterwards both pools have their
    old sizes back (the demo's small matrices, where a second thread only waits, use it)."""
    global _num_threads, _pool, _blas_limits
    before, blas_before = _num_threads, _blas_limits
    set_num_threads(threads)
    try:
        yield
    finally:
        if _blas_limits is not None and _blas_limits is not blas_before:
            _blas_limits.restore_original_limits()
        _blas_limits = blas_before
        _num_threads = before
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def parallel_blocks(work: Callable[..., None], *arrays: np.ndarray) -> None:
    """Call ``work(*pieces)`` on matching blocks of the flattened ``arrays``, on all threads.

    The arrays must have the same size and be contiguous (their flat views are written in
    place). ``work`` must only touch the pieces it is given.
    """
    if not all(a.flags.c_contiguous for a in arrays):  # a copy would take the writes
        raise ValueError("parallel_blocks needs contiguous arrays")
    flat = [a.reshape(-1) for a in arrays]
    parallel_ranges(lambda lo, hi: work(*(a[lo:hi] for a in flat)), flat[0].size)


def parallel_ranges(
    work: Callable[[int, int], None], size: int, block: int = BLOCK, min_size: int = PARALLEL_MIN
) -> None:
    """Call ``work(lo, hi)`` over consecutive ranges of at most ``block`` of ``range(size)``,
    on all threads (on this one alone when ``size < min_size``).

    ``work`` must only touch its own range, and release the GIL to gain from the threads
    (NumPy ufuncs and the compiled loops of :mod:`ffnlp.backend.kernels` do). The calling thread works too, and the
    ranges are handed out one at a time to whichever thread is free: a thread slowed down
    by another process on its core (or by BLAS threads still spinning after a matrix
    product) takes fewer ranges instead of holding the others up. Which thread does a
    range never changes what is computed, so results do not depend on the threads.
    """
    if _num_threads == 1 or size < min_size:
        for start in range(0, size, block):
            work(start, min(start + block, size))
        return
    global _pool
    if _pool is None:
        with _pool_lock:  # two Python threads may get here at once: one pool, not two
            if _pool is None:
                _pool = ThreadPoolExecutor(_num_threads - 1, thread_name_prefix="ffnlp")
    starts = iter(range(0, size, block))  # shared: next() under the GIL gives each range once
    failed = threading.Event()  # after an error the other threads take no new ranges

    def drain() -> None:
        for start in starts:
            if failed.is_set():
                return
            try:
                work(start, min(start + block, size))
            except BaseException:
                failed.set()
                raise

    helpers = [_pool.submit(drain) for _ in range(_num_threads - 1)]
    try:
        drain()
    finally:
        concurrent.futures.wait(helpers)  # nothing may still be writing when we return
    for helper in helpers:
        helper.result()  # a helper's error, raised here
