"""Mini-batches: shuffled index arrays from a seeded generator."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def minibatches(
    n: int,
    batch_size: int,
    rng: np.random.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[np.ndarray]:
    """Index arrays covering ``range(n)`` in batches of ``batch_size``.

    With ``shuffle`` the order is a permutation drawn from ``rng`` (required then), so the
    same generator state gives the same batches. The last batch may be smaller unless
    ``drop_last``.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if shuffle and rng is None:
        raise ValueError("minibatches: shuffle=True needs a random generator (rng)")
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
