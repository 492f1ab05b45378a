"""The adaptive softmax (Grave, Joulin, Cissé, Grangier & Jégou 2017): a cheaper output
layer for large vocabularies.

Words follow Zipf's law: in the Penn Treebank the 2,000 most frequent of 10,000 words
cover about 87% of the tokens. The adaptive softmax keeps a full-size softmax only for
that *head* and moves the rare words into *clusters*, each one extra entry of the head.
With the vocabulary sorted by frequency and cut at ``cutoffs`` = (c_1, ..., c_K),

    p(w | h) = p_head(w | h)                          for w < c_1
    p(w | h) = p_head(cluster k | h) p_k(w | h)       for c_k <= w < c_{k+1}

where each cluster's softmax works on a projection of h to d / div_value^k dimensions.
A training step computes a cluster's softmax only for the examples whose target is in it,
so most of the (B, V) output products disappear. Evaluation (:meth:`log_prob`) builds
the exact, normalised distribution over every word.

Tied to adaptive input embeddings (``tied=``, :class:`ffnlp.nn.AdaptiveInput`; Baevski &
Auli 2019, section 3), the head's word rows are the input's head table E_0, and cluster k
scores its words with the input's band table and projection, logits = (h P_k) E_k^T: the
output owns only the K cluster rows of the head and the head's bias.

The layer is a composition of gradient-checked ops (linear, matmul, gather_rows,
cross_entropy, log_softmax), so its gradient needs no code of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ffnlp.autograd import Tensor, ops
from ffnlp.checks import check_cutoffs
from ffnlp.nn import init as nn_init
from ffnlp.nn.layers import Linear, Sequential
from ffnlp.nn.module import Module, Parameter

if TYPE_CHECKING:
    from ffnlp.nn.adaptive_input import AdaptiveInput


class AdaptiveSoftmax(Module):
    """The output layer p(w | h) over ``vocab_size`` words, ids sorted by frequency.

    Args:
        in_features: size of h (H).
        vocab_size: V.
        cutoffs: where the head ends and each cluster ends, e.g. (2000,) or (2000, 6000).
        div_value: cluster k projects h to H // div_value^k dimensions (at least 1).
        rng: seed or Generator for the initial weights.
        tied: adaptive input embeddings of the same vocabulary, cutoffs and H to share
            the word rows and projections with (its div_value is the one used).

    Attributes:
        head: Linear(H, c_1 + K), the frequent words then one entry per cluster.
        tail0, tail1, ...: Sequential(projection H -> H_k, Linear H_k -> cluster size),
            without biases, as in the paper.
        Tied, instead of those: cluster_weight (K, H), the head's cluster rows, and
        head_bias (c_1 + K,).

    >>> layer = AdaptiveSoftmax(8, 20, cutoffs=(5,), rng=0)
    >>> h = Tensor(np.ones((3, 8), dtype=np.float32))
    >>> layer.log_prob(h).shape
    (3, 20)
    """

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        rng: nn_init.RngLike = None,
        tied: AdaptiveInput | None = None,
    ) -> None:
        super().__init__()
        rng = nn_init.as_generator(rng)
        self.cutoffs = check_cutoffs(cutoffs, vocab_size)
        self.vocab_size = vocab_size
        self.bounds = (*self.cutoffs, vocab_size)
        clusters = len(self.cutoffs)
        # Held outside the registry: the input's parameters are the embedding's, counted
        # and saved once under its names.
        object.__setattr__(self, "tied", tied)
        if tied is not None:
            if (tied.vocab_size, tied.cutoffs, tied.embedding_dim) != (
                vocab_size,
                self.cutoffs,
                in_features,
            ):
                raise ValueError(
                    "adaptive softmax: a tied input must have the same vocab_size, cutoffs and "
                    f"size as the output ({vocab_size}, {self.cutoffs}, {in_features}); got "
                    f"({tied.vocab_size}, {tied.cutoffs}, {tied.embedding_dim})"
                )
            shape = (clusters, in_features)
            self.cluster_weight = Parameter(nn_init.initializer("xavier")(shape, rng))
            self.head_bias = Parameter(np.zeros(self.cutoffs[0] + clusters, dtype=np.float32))
            return
        self.head = Linear(in_features, self.cutoffs[0] + clusters, rng=rng)
        for k in range(clusters):
            width = max(1, int(in_features // div_value ** (k + 1)))
            size = self.bounds[k + 1] - self.bounds[k]
            tail = Sequential(
                Linear(in_features, width, bias=False, rng=rng),
                Linear(width, size, bias=False, rng=rng),
            )
            setattr(self, f"tail{k}", tail)

    @staticmethod
    def parameter_shapes(
        in_features: int,
        vocab_size: int,
        cutoffs: Sequence[int],
        div_value: float,
        prefix: str,
        tied: bool = False,
    ) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters, without building the layer (``tied``: the
        output's own, beside those of the :class:`AdaptiveInput` it is tied to)."""
        if tied:
            return {
                f"{prefix}cluster_weight": (len(cutoffs), in_features),
                f"{prefix}head_bias": (cutoffs[0] + len(cutoffs),),
            }
        bounds = (*cutoffs, vocab_size)
        shapes = {
            f"{prefix}head.weight": (cutoffs[0] + len(cutoffs), in_features),
            f"{prefix}head.bias": (cutoffs[0] + len(cutoffs),),
        }
        for k in range(len(cutoffs)):
            width = max(1, int(in_features // div_value ** (k + 1)))
            shapes[f"{prefix}tail{k}.0.weight"] = (width, in_features)
            shapes[f"{prefix}tail{k}.1.weight"] = (bounds[k + 1] - bounds[k], width)
        return shapes

    def _head_logits(self, h: Tensor) -> Tensor:
        """(B, H) -> (B, c_1 + K): the frequent words, then one entry per cluster."""
        if self.tied is None:
            return self.head(h)
        weight = ops.concatenate([self.tied.head.weight, self.cluster_weight], axis=0)
        return ops.linear(h, weight, self.head_bias)

    def _tail_logits(self, k: int, h: Tensor) -> Tensor:
        """(n, H) -> (n, size of cluster k): the scores of cluster k's words."""
        if self.tied is None:
            return getattr(self, f"tail{k}")(h)
        table, proj = self.tied.tables()[k + 1], self.tied.projections()[k]
        return ops.linear(ops.matmul(h, proj), table)  # (h P_k) E_k^T: (n, d_k) -> (n, size)

    def loss(self, h: Tensor, targets: Any) -> Tensor:
        """Mean negative log-likelihood of ``targets`` (B,) given ``h`` (B, H), computing
        each cluster's softmax only for the examples whose target falls in it."""
        targets = np.asarray(targets)
        if targets.ndim != 1 or len(targets) != h.shape[0]:
            raise ValueError(
                f"adaptive softmax: targets of shape {targets.shape} do not fit h of shape {h.shape}"
            )
        if targets.size and (targets.min() < 0 or targets.max() >= self.vocab_size):
            raise ValueError(
                f"adaptive softmax: targets must be in [0, {self.vocab_size}); got "
                f"{int(targets.min())}..{int(targets.max())}"
            )
        head_targets = targets.copy()
        total = None
        for k in range(len(self.cutoffs)):
            low, high = self.bounds[k], self.bounds[k + 1]
            rows = np.flatnonzero((targets >= low) & (targets < high))
            if rows.size == 0:
                continue
            head_targets[rows] = self.cutoffs[0] + k  # the head predicts the cluster...
            logits = self._tail_logits(k, ops.gather_rows(h, rows))  # ...and the cluster the word
            part = ops.cross_entropy(logits, targets[rows] - low, reduction="sum")
            total = part if total is None else total + part
        head = ops.cross_entropy(self._head_logits(h), head_targets, reduction="sum")
        total = head if total is None else head + total
        return total * (1.0 / len(targets))

    def log_prob(self, h: Tensor) -> Tensor:
        """Exact log p(w | h) for every word: (B, H) -> (B, V)."""
        head = ops.log_softmax(self._head_logits(h))  # (B, c_1 + K)
        first = self.cutoffs[0]
        parts = [head[:, :first]]
        for k in range(len(self.cutoffs)):
            cluster = head[:, first + k : first + k + 1]  # (B, 1): log p(cluster k)
            parts.append(ops.log_softmax(self._tail_logits(k, h)) + cluster)
        return ops.concatenate(parts, axis=1)

    def extra_repr(self) -> str:
        tied = ", tied" if self.tied is not None else ""
        return f"vocab_size={self.vocab_size}, cutoffs={self.cutoffs}{tied}"
