"""The helpers of the compiled ops against the NumPy they replace."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp.backend.compiled import distinct_rows


@pytest.mark.parametrize(
    ("rows", "shape"),
    [(50, (12, 10)), (3000, (512, 20)), (10, (1, 1)), (7, (3, 0)), (100_000, (4, 5))],
)
def test_distinct_rows_is_np_unique_with_its_inverse(rows, shape):
    # (100_000, (4, 5)): a table much larger than the batch, where np.unique itself runs.
    ids = np.random.default_rng(rows).integers(0, rows, size=shape)
    ids[:, -1:] = 0  # padding, as the classifier's batches have
    unique, slots = distinct_rows(ids, rows)
    expected, inverse = np.unique(ids, return_inverse=True)
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(slots, inverse.reshape(ids.shape))
    assert unique.dtype == np.int64 and slots.shape == ids.shape
    np.testing.assert_array_equal(unique[slots], ids)


def _binary_search(table, keys):
    where = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    found = np.where(table[where] == keys, where, -1)
    # independently of the search: found exactly where the key is in the table, and there
    assert ((found >= 0) == np.isin(keys, table)).all()
    assert (table[found[found >= 0]] == keys[found >= 0]).all()
    return found


@pytest.mark.parametrize("size", [1, 3, 1000, 70_000])
def test_exact_bigram_lookup_through_the_hash_table_is_the_binary_search(size, monkeypatch):
    # The hashed lookup (compiled) against the sorted search it replaces for many keys:
    # keys in the table and keys not in it, keys up to 2^62, and a table put back (a new
    # array, as loading a model file gives) rebuilding its slots.
    from ffnlp.backend import kernels
    from ffnlp.text.row_features import Bigrams

    rng = np.random.default_rng(size)
    table = np.unique(rng.integers(0, 2**62, size))
    keys = np.concatenate([rng.choice(table, 3 * size), rng.integers(0, 2**62, size)])
    keys = np.concatenate([keys, table[:1] - 1, table[-1:] + 1])
    bigrams = Bigrams()
    bigrams.table_ = table
    numba_there = kernels.available
    monkeypatch.setattr(kernels, "available", False)  # the binary search, with or without Numba
    np.testing.assert_array_equal(bigrams._find(keys), _binary_search(table, keys))
    if not numba_there:
        pytest.skip("Numba is not installed: the hashed lookup cannot run (the search did)")
    monkeypatch.setattr(kernels, "available", True)
    monkeypatch.setattr(kernels, "MIN_KEYS", 1)
    monkeypatch.setattr(kernels, "_compiled", {})  # loaded here, unloaded after the test
    hashed = bigrams._find(keys)
    assert kernels.loaded() and bigrams._slots[0] is table
    np.testing.assert_array_equal(hashed, _binary_search(table, keys))
    assert (hashed >= 0).sum() >= 3 * size
    bigrams.table_ = table[::2].copy()
    np.testing.assert_array_equal(bigrams._find(keys), _binary_search(bigrams.table_, keys))


@pytest.mark.parametrize("width", [1, 7, 64])
def test_the_pooled_lookup_split_over_threads_changes_no_bit(monkeypatch, width):
    # The forward by blocks of texts, handed to two threads: every sum is taken in the
    # same order as on one thread, so the bits are the same (the backward's too).
    import ffnlp
    from ffnlp.autograd import Tensor, ops
    from ffnlp.backend import compiled, kernels, threads

    if not kernels.available:
        pytest.skip("Numba unavailable (not installed, or FFNLP_JIT=0): only the NumPy form runs")
    monkeypatch.setattr(kernels, "MIN_SIZE", 1)
    rng = np.random.default_rng(width)
    table = rng.standard_normal((500, width)).astype(np.float32)
    ids = rng.integers(0, 500, size=(301, 40))
    weights = rng.random((301, 40)).astype(np.float32)
    weights[:, 30:] = 0  # padding
    upstream = rng.standard_normal((301, width)).astype(np.float32)

    def run():
        t = Tensor(table.copy(), requires_grad=True)
        out = ops.embedding_bag(t, ids, weights)
        (out * Tensor(upstream)).sum().backward()
        return out.data, t.grad

    blocks = []
    real = threads.parallel_ranges
    monkeypatch.setattr(
        threads, "parallel_ranges", lambda *a, **k: blocks.append(a[1:3]) or real(*a, **k)
    )
    before = ffnlp.get_num_threads()
    try:
        ffnlp.set_num_threads(1)
        alone = run()
        assert not blocks
        ffnlp.set_num_threads(2)
        monkeypatch.setattr(compiled, "PARALLEL_WORK", 1)
        monkeypatch.setattr(compiled, "BLOCK_WORK", 40 * width * 16)  # 16 texts a block
        split = run()
    finally:
        ffnlp.set_num_threads(before)
    assert blocks == [(301, 16)]  # texts in blocks of 16
    np.testing.assert_array_equal(split[0], alone[0])
    np.testing.assert_array_equal(split[1], alone[1])
    reference = ops.EmbeddingBag.apply(Tensor(table), ids, weights).data
    np.testing.assert_allclose(alone[0], reference, rtol=1e-5, atol=1e-5)
