"""Row-sparse gradients: the gradient of an embedding matrix is zero except in the rows a
batch looked up.

A batch of 256 contexts touches a few hundred of 10,000 rows; a hashed-bigram classifier
touches a few thousand of a million. Materialising the full (V, D) gradient every step
would cost more than the rest of the step together, so an :class:`Embedding` made with
``sparse=True`` gets a :class:`RowSparseGrad` instead: the touched row ids and their
gradient rows. It adds to other gradients like an array, and the optimizers update just
those rows (or densify it, for the exact dense rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class RowSparseGrad:
    """A (num_rows, D) gradient that is zero outside ``indices``.

    Attributes:
        indices: sorted unique row ids, (K,) int64.
        values: the gradient rows, (K, D).
        shape: the full shape (num_rows, D).
    """

    __slots__ = ("indices", "shape", "values")
    __array_ufunc__ = None  # ndarray + RowSparseGrad defers to RowSparseGrad.__radd__

    def __init__(self, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> None:
        self.indices = indices
        self.values = values
        self.shape = tuple(shape)

    @classmethod
    def from_rows(cls, ids: np.ndarray, rows: np.ndarray, num_rows: int) -> RowSparseGrad:
        """Sum ``rows[k]`` into row ``ids[k]`` (repeated ids add up)."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        if ids.size == 0:
            return cls(ids, rows.reshape(0, rows.shape[-1]), (num_rows, rows.shape[-1]))
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
        return cls(
            sorted_ids[starts],
            np.add.reduceat(rows[order], starts, axis=0),
            (num_rows, rows.shape[-1]),
        )

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def copy(self) -> RowSparseGrad:
        return RowSparseGrad(self.indices.copy(), self.values.copy(), self.shape)

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.values.dtype)
        out[self.indices] = self.values
        return out

    def __add__(self, other: Any) -> Any:
        if isinstance(other, RowSparseGrad):
            if other.shape != self.shape:
                raise ValueError(
                    f"cannot add sparse gradients of shapes {self.shape} and {other.shape}"
                )
            return RowSparseGrad.from_rows(
                np.concatenate([self.indices, other.indices]),
                np.concatenate([self.values, other.values]),
                self.shape[0],
            )
        dense = np.array(other, dtype=np.result_type(other, self.values), copy=True)
        dense[self.indices] += self.values
        return dense

    __radd__ = __add__

    def __mul__(self, scale: float) -> RowSparseGrad:
        return RowSparseGrad(self.indices, self.values * scale, self.shape)

    __rmul__ = __mul__

    def squared_norm(self) -> float:
        v = self.values.ravel()
        return float(np.dot(v, v))

    def __repr__(self) -> str:
        return f"RowSparseGrad({len(self.indices)} of {self.shape[0]} rows, dim {self.shape[1]})"


def as_dense(grad: Any) -> np.ndarray:
    """The gradient as a dense array, whichever form it has."""
    return grad.to_dense() if isinstance(grad, RowSparseGrad) else grad
