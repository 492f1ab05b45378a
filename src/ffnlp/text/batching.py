"""Mini-batches: shuffled index arrays from a seeded generator."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ffnlp.checks import check_int


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
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if shuffle and rng is None:
        raise ValueError("minibatches: shuffle=True needs a random generator (rng)")
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def strided_minibatches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled batches covering ``range(n)`` with no permutation held in memory, for
    datasets too large for one (8 bytes an example): the i-th example of the epoch is
    ``(a·i + c) mod n``, with ``a`` coprime to n and ``c`` drawn from ``rng``. Each index
    comes once per epoch; neighbours in a batch lie ``a`` apart, far from each other in
    the corpus. A weaker shuffle than a permutation, but one that costs O(batch_size).
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if n >= 1 << 32:  # a·i must stay below 2**64
        raise ValueError(f"strided_minibatches: at most 2**32 examples; got {n}")
    a = 1
    if n > 2:
        a = int(rng.integers(1, n))
        while math.gcd(a, n) != 1:
            a = int(rng.integers(1, n))
    c = np.uint64(rng.integers(n)) if n else np.uint64(0)
    for start in range(0, n, batch_size):
        i = np.arange(start, min(start + batch_size, n), dtype=np.uint64)
        yield ((np.uint64(a) * i + c) % np.uint64(n)).astype(np.int64)


def length_bucketed_minibatches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, span: int = 50
) -> Iterator[np.ndarray]:
    """Shuffled batches of examples of similar length, so a padded batch is mostly real
    tokens: the examples are shuffled, each run of ``span`` batches' worth is sorted by
    length (stably) and cut into batches, and the order of all the batches is shuffled.
    Each index comes once per epoch, in ``num_batches(len(lengths), batch_size)`` batches;
    the last one may be smaller. The bucketing of torchtext's BucketIterator.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    span = check_int("span", span, minimum=1)
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    chunk = batch_size * span
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    for b in rng.permutation(len(batches)):
        yield batches[b]
