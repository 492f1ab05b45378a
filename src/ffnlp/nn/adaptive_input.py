"""Adaptive input embeddings (Baevski & Auli 2019): smaller rows for rarer words.

The vocabulary, sorted by frequency, is cut at ``cutoffs`` = (c_1, ..., c_K) into the
bands of the adaptive softmax. The head's words (w < c_1) have D-dimensional rows, as in a
plain embedding table; band k's words (c_k <= w < c_{k+1}) have rows of only
d_k = D / div_value^k dimensions, each band with its projection P_k (D, d_k) up to D:

    e(w) = E_0[w]                   for w < c_1
    e(w) = P_k E_k[w - c_k]         for c_k <= w < c_{k+1}

Rare words are seen too seldom to fill D dimensions, so the table gets much smaller
(33,278 x 128 is 4.3M numbers; with cutoffs (2600, 13000) and div_value 4 it is 0.8M).
Baevski & Auli tie these tables and projections to the adaptive softmax's, which is what
:class:`ffnlp.nn.AdaptiveSoftmax` does when given ``tied=`` this layer.

Built from gradient-checked ops (gather_rows, linear, concatenate), so no gradient code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp.autograd import Tensor, ops
from ffnlp.checks import check_cutoffs
from ffnlp.nn import init as nn_init
from ffnlp.nn.functional import fofe
from ffnlp.nn.layers import Embedding, Linear
from ffnlp.nn.module import Module


def band_widths(dim: int, bands: int, div_value: float) -> list[int]:
    """The row size of each band: dim for the head, then dim // div_value^k (at least 1)."""
    return [dim] + [max(1, int(dim // div_value**k)) for k in range(1, bands)]


class AdaptiveInput(Module):
    """Embeddings of ``vocab_size`` words, ids sorted by frequency, with smaller rows for
    the rarer bands, each projected up to ``embedding_dim``.

    Args:
        vocab_size: V.
        embedding_dim: D, the size of every returned embedding (and of the head's rows).
        cutoffs: where the head and each band end (checked by the adaptive softmax's rule).
        div_value: band k's rows have D // div_value^k numbers.
        sparse: row-sparse gradients for the tables (see :class:`ffnlp.nn.Embedding`).
        rng: seed or Generator.

    Attributes:
        head: Embedding(c_1, D).
        tail0, tail1, ...: Embedding(band size, d_k) for bands 1..K.
        proj0, proj1, ...: Linear(d_k, D) without bias; its weight is P_k, (D, d_k).

    >>> layer = AdaptiveInput(20, 8, cutoffs=(5, 12), div_value=2.0, rng=0)
    >>> layer(np.array([[0, 7, 19]])).shape
    (1, 3, 8)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        sparse: bool = False,
        rng: nn_init.RngLike = None,
    ) -> None:
        super().__init__()
        rng = nn_init.as_generator(rng)
        self.cutoffs = check_cutoffs(cutoffs, vocab_size)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.bounds = (0, *self.cutoffs, vocab_size)
        widths = band_widths(embedding_dim, len(self.bounds) - 1, div_value)
        self.head = Embedding(self.cutoffs[0], embedding_dim, sparse=sparse, rng=rng)
        for k in range(len(self.cutoffs)):
            size = self.bounds[k + 2] - self.bounds[k + 1]
            setattr(self, f"tail{k}", Embedding(size, widths[k + 1], sparse=sparse, rng=rng))
            setattr(self, f"proj{k}", Linear(widths[k + 1], embedding_dim, bias=False, rng=rng))

    @staticmethod
    def parameter_shapes(
        vocab_size: int, embedding_dim: int, cutoffs: Sequence[int], div_value: float, prefix: str
    ) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters, without building the layer."""
        bounds = (0, *cutoffs, vocab_size)
        widths = band_widths(embedding_dim, len(bounds) - 1, div_value)
        shapes = {f"{prefix}head.weight": (cutoffs[0], embedding_dim)}
        for k in range(len(cutoffs)):
            shapes[f"{prefix}tail{k}.weight"] = (bounds[k + 2] - bounds[k + 1], widths[k + 1])
            shapes[f"{prefix}proj{k}.weight"] = (embedding_dim, widths[k + 1])
        return shapes

    def tables(self) -> list[Tensor]:
        """Each band's table: E_0 (c_1, D), then E_k (band size, d_k)."""
        return [self.head.weight] + [getattr(self, f"tail{k}").weight for k in self._bands()]

    def projections(self) -> list[Tensor]:
        """P_k (D, d_k) of bands 1..K."""
        return [getattr(self, f"proj{k}").weight for k in self._bands()]

    def _bands(self) -> range:
        return range(len(self.cutoffs))

    def forward(self, ids: Any) -> Tensor:
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"embedding: ids must be integers; got dtype {ids.dtype}")
        flat = ids.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.vocab_size):
            bad = flat.min() if flat.min() < 0 else flat.max()
            raise ValueError(
                f"embedding: id {int(bad)} is out of range for {self.vocab_size} rows "
                f"(ids must be in [0, {self.vocab_size}))"
            )
        # Group the ids by band, embed each group with its table and projection, then put
        # the rows back in the ids' order with one gather (whose gradient is the scatter).
        band = np.searchsorted(self.cutoffs, flat, side="right")  # 0 for the head
        order = np.argsort(band, kind="stable")
        ends = np.cumsum(np.bincount(band, minlength=len(self.bounds) - 1))
        parts = []
        for k, start in enumerate((0, *ends[:-1])):
            positions = order[start : ends[k]]
            if positions.size == 0:
                continue
            rows = flat[positions] - self.bounds[k]
            if k == 0:
                parts.append(self.head(rows))  # (n_0, D)
            else:
                tail, proj = getattr(self, f"tail{k - 1}"), getattr(self, f"proj{k - 1}")
                parts.append(proj(tail(rows)))  # (n_k, d_k) -> (n_k, D)
        if len(parts) == 1:
            out = parts[0]  # one band: already in the ids' order
        else:
            inverse = np.empty_like(order)
            inverse[order] = np.arange(len(order))
            out = ops.gather_rows(ops.concatenate(parts, axis=0), inverse)
        return out.reshape(*ids.shape, self.embedding_dim)

    def fofe(self, ids: Any, alphas: Sequence[float], ignore: int | None = None) -> Tensor:
        """The FOFE codes of each row of ``ids`` over these embeddings: what
        :func:`ffnlp.nn.functional.fofe` gives for the (V, D) table of every e(w), (B, J*D).

        A code is linear in the embeddings, so band k's share of it, a weighted sum of
        projected rows P_k E_k[w], is P_k times the weighted sum of its small rows: one
        weighted bag per band and factor over the small table, then one projection of
        the (B*J, d_k) sums, instead of projecting every one of the B*K words.
        """
        ids = np.asarray(ids)
        batch, factors = ids.shape[0], len(alphas)
        band = np.searchsorted(self.cutoffs, ids, side="right")  # 0 for the head
        counts = np.ones(ids.shape, bool) if ignore is None else ids != ignore
        codes = None
        for k, table in enumerate(self.tables()):
            keep = (band == k) & counts  # band k's words; the others add nothing here
            local = np.where(band == k, ids - self.bounds[k], 0)
            part = fofe(table, local, alphas, sparse=self.head.sparse, keep=keep)
            if k > 0:  # (B, J*d_k) -> each code projected to D
                proj = getattr(self, f"proj{k - 1}")
                part = proj(part.reshape(batch * factors, table.shape[1]))
                part = part.reshape(batch, factors * self.embedding_dim)
            codes = part if codes is None else codes + part
        return codes

    def full_table(self) -> np.ndarray:
        """Every word's embedding e(w) as one (V, D) array (for word vectors and plots)."""
        blocks = [self.head.weight.data]
        for table, proj in zip(self.tables()[1:], self.projections()):
            blocks.append(table.data @ proj.data.T)
        return np.concatenate(blocks, axis=0)

    @property
    def weight(self) -> Tensor:
        """The effective (V, D) table as a constant tensor, so code that reads
        ``embedding.weight.data`` of a plain Embedding reads the same vectors here."""
        return Tensor(self.full_table())

    def extra_repr(self) -> str:
        return f"{self.vocab_size}, {self.embedding_dim}, cutoffs={self.cutoffs}"
