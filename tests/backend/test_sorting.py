"""ffnlp.backend.sorting.unique against the np.unique it stands in for."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ffnlp.backend.sorting import unique

FLAGS = list(itertools.product((False, True), repeat=3))


def _compare(values, flags):
    index, inverse, counts = flags
    kwargs = {"return_index": index, "return_inverse": inverse, "return_counts": counts}
    got, expected = unique(values, **kwargs), np.unique(values, **kwargs)
    if not any(flags):
        got, expected = (got,), (expected,)
    assert len(got) == len(expected)
    for mine, numpys in zip(got, expected):
        np.testing.assert_array_equal(mine, np.asarray(numpys).reshape(-1))
        assert mine.dtype == np.asarray(numpys).dtype


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize(
    ("size", "high"), [(0, 5), (1, 5), (1000, 7), (5000, 10**12), (20_000, 20_000)]
)
def test_unique_gives_what_np_unique_gives(size, high, flags):
    values = np.random.default_rng(size).integers(-3, high, size=size)
    _compare(values, flags)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.int64, st.integers(0, 60), elements=st.integers(-4, 4)),
    st.sampled_from(FLAGS),
)
def test_unique_on_arrays_full_of_repeats(values, flags):
    _compare(values, flags)


def test_the_first_occurrence_and_inverse_rebuild_the_input():
    values = np.array([5, 3, 5, 5, 1, 3, 9, 1])
    distinct, first, inverse, counts = unique(
        values, return_index=True, return_inverse=True, return_counts=True
    )
    assert distinct.tolist() == [1, 3, 5, 9]
    assert first.tolist() == [4, 1, 0, 6]  # the earliest place of each, whatever the sort
    assert counts.tolist() == [2, 2, 3, 1]
    np.testing.assert_array_equal(distinct[inverse], values)


def test_unique_flattens_as_np_unique_does():
    values = np.array([[3, 1], [1, 2]])
    assert unique(values).tolist() == [1, 2, 3]
    assert unique(values, return_inverse=True)[1].tolist() == [2, 0, 0, 1]
