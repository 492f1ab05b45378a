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
