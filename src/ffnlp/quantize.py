"""Product quantization of a matrix's rows (Jégou et al. 2011, as fastText's ``quantize``
uses it, Joulin et al. 2016, "FastText.zip").

Each row of a (N, D) matrix is cut into sub-vectors of ``dsub`` dimensions; each part of
the rows has its own codebook of up to 256 centroids, learned by k-means, and a row is
stored as one byte per part: the index of the nearest centroid. With ``qnorm`` the rows'
norms are quantized apart (256 levels, one byte a row) and the parts code the unit
rows, which keeps the rows' lengths, what a linear model reads most, closer.

Only NumPy: the classifier's use of it (which tables, which rows) is
:mod:`ffnlp.estimators.quantized`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ffnlp.checks import check_int

KSUB = 256  # centroids per codebook: one byte a code
MAX_POINTS_PER_CENTROID = 64  # k-means learns from at most 64 * 256 rows (fastText: 256 * 256)
KMEANS_ITERATIONS = 25


def kmeans(
    x: np.ndarray, k: int, rng: np.random.Generator, iterations: int = KMEANS_ITERATIONS
) -> np.ndarray:
    """Lloyd's k-means of the rows of ``x`` (N, d): returns (min(k, N), d) centroids.

    Starts from ``k`` distinct rows drawn by ``rng``; a centroid left without rows is
    moved to a row drawn at random (fastText moves it next to a large cluster's).
    """
    x = np.asarray(x, dtype=np.float32)
    k = min(k, len(x))
    centroids = x[rng.choice(len(x), size=k, replace=False)].copy()
    for _ in range(iterations):
        assign = nearest(x, centroids)
        counts = np.bincount(assign, minlength=k)
        sums = np.stack(
            [np.bincount(assign, weights=x[:, j], minlength=k) for j in range(x.shape[1])], axis=1
        )
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            centroids[empty] = x[rng.choice(len(x), size=len(empty))]
    return centroids


def nearest(x: np.ndarray, centroids: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """The index of each row's nearest centroid (squared Euclidean distance), (N,)."""
    c2 = (centroids * centroids).sum(axis=1)
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every c
        out[start : start + chunk] = np.argmin(c2[None, :] - 2.0 * part @ centroids.T, axis=1)
    return out


@dataclass
class QuantizedRows:
    """A matrix's rows as product-quantization codes.

    Attributes:
        codes: (N, M) uint8, one code per part of each row (M parts of ``dsub`` dims, the
            last one shorter when ``dsub`` does not divide D).
        codebooks: (M, K, dsub) float16 centroids (half the bytes of float32, and errors
            far below the quantization's own), a shorter last part zero-padded.
        dim: D.
        norm_codes: (N,) uint8 codes of the rows' norms (``qnorm``), or None.
        norm_codebook: (K,) float16 norm levels, or None.
    """

    codes: np.ndarray
    codebooks: np.ndarray
    dim: int
    norm_codes: np.ndarray | None = None
    norm_codebook: np.ndarray | None = None

    @property
    def dsub(self) -> int:
        return int(self.codebooks.shape[2])

    def decode(self) -> np.ndarray:
        """The rows the codes stand for, (N, D) float32."""
        books = self.codebooks.astype(np.float32)
        parts = [books[m, self.codes[:, m].astype(np.int64)] for m in range(self.codes.shape[1])]
        rows = np.concatenate(parts, axis=1)[:, : self.dim] if parts else np.zeros((0, self.dim))
        rows = rows.astype(np.float32)
        if self.norm_codes is not None:
            levels = self.norm_codebook.astype(np.float32)
            rows *= levels[self.norm_codes.astype(np.int64)][:, None]
        return rows

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays a file keeps, named under ``prefix``."""
        out = {f"{prefix}codes": self.codes, f"{prefix}codebooks": self.codebooks}
        if self.norm_codes is not None:
            out[f"{prefix}norm_codes"] = self.norm_codes
            out[f"{prefix}norm_codebook"] = self.norm_codebook
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, dim: int) -> QuantizedRows:
        """The codes :meth:`arrays` wrote; raises ValueError when they do not fit together."""
        try:
            codes, books = arrays[f"{prefix}codes"], arrays[f"{prefix}codebooks"]
        except KeyError as err:
            raise ValueError(f"quantized array {err.args[0]!r} is missing") from None
        norms = arrays.get(f"{prefix}norm_codes"), arrays.get(f"{prefix}norm_codebook")
        ok = (
            codes.dtype == np.uint8
            and codes.ndim == 2
            and books.ndim == 3
            and books.dtype.kind == "f"
            and books.shape[0] == codes.shape[1]
            and 1 <= books.shape[1] <= KSUB
            and books.shape[0] * books.shape[2] >= dim > (books.shape[0] - 1) * books.shape[2]
            and (not codes.size or int(codes.max()) < books.shape[1])
            and (norms[0] is None) == (norms[1] is None)
        )
        if ok and norms[0] is not None:
            ok = (
                norms[0].dtype == np.uint8
                and norms[0].shape == (len(codes),)
                and norms[1].ndim == 1
                and (not norms[0].size or int(norms[0].max()) < len(norms[1]))
            )
        if not ok:
            raise ValueError(f"the quantized arrays {prefix}* do not fit together")
        return cls(codes, books, dim, *norms)


def quantize_rows(
    x: np.ndarray, dsub: int = 2, qnorm: bool = False, rng: int | np.random.Generator = 0
) -> QuantizedRows:
    """Product-quantize the rows of ``x`` (N, D): parts of ``dsub`` dims, a codebook of up to
    256 centroids each (k-means on a sample of at most 16,384 rows, seeded by ``rng``).

    >>> x = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)
    >>> q = quantize_rows(x, dsub=2)
    >>> q.codes.shape, q.codes.dtype.name, bool(np.abs(q.decode() - x).mean() < 0.2)
    ((1000, 4), 'uint8', True)
    """
    dsub = check_int("dsub", dsub, minimum=1)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or not len(x):
        raise ValueError(f"quantize_rows needs a (N, D) matrix with N >= 1; got shape {x.shape}")
    rng = np.random.default_rng(rng)
    n, dim = x.shape
    norm_codes = norm_codebook = None
    if qnorm:
        norms = np.sqrt((x * x).sum(axis=1))
        norm_codebook = kmeans(norms[:, None], KSUB, rng)[:, 0].astype(np.float16)
        levels = norm_codebook.astype(np.float32)[:, None]
        norm_codes = nearest(norms[:, None], levels).astype(np.uint8)
        x = x / np.maximum(norms, np.finfo(np.float32).tiny)[:, None]
    parts = -(-dim // dsub)
    padded = np.zeros((n, parts * dsub), dtype=np.float32)
    padded[:, :dim] = x
    sample = padded
    if n > KSUB * MAX_POINTS_PER_CENTROID:
        sample = padded[rng.choice(n, size=KSUB * MAX_POINTS_PER_CENTROID, replace=False)]
    k = min(KSUB, n)
    codebooks = np.zeros((parts, k, dsub), dtype=np.float16)
    codes = np.empty((n, parts), dtype=np.uint8)
    for m in range(parts):
        columns = slice(m * dsub, (m + 1) * dsub)
        found = kmeans(sample[:, columns], k, rng)
        codebooks[m, : len(found)] = found
        codes[:, m] = nearest(padded[:, columns], codebooks[m].astype(np.float32))
    return QuantizedRows(codes, codebooks, dim, norm_codes, norm_codebook)
