"""Stateless building blocks: activations, losses, dropout, pooling, the L2 penalty and the
ordinally-forgetting encoding of a word history.

The losses are defined here (cross-entropy reuses the fused op of
:mod:`ffnlp.autograd.ops`); the layers in ``layers.py`` wrap these functions as modules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ffnlp.autograd import Tensor, ops
from ffnlp.autograd.ops import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from ffnlp.checks import check_probability, check_real

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "concat_pool",
    "cross_entropy",
    "dropout",
    "fofe",
    "fofe_window",
    "l2_penalty",
    "log_softmax",
    "max_pool",
    "mean_pool",
    "nll_loss",
    "one_vs_all_loss",
    "relu",
    "sigmoid",
    "soft_cross_entropy",
    "softmax",
    "tanh",
]


def nll_loss(log_probs: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer ``targets`` given ``log_probs`` (B, C).

    ``cross_entropy(z, y)`` equals ``nll_loss(log_softmax(z), y)``; prefer the former, fused
    and faster, when you have logits.
    """
    ops._check_reduction("nll_loss", reduction)
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if log_probs.ndim != 2 or targets.shape != log_probs.shape[:1]:
        raise ValueError(
            f"nll_loss: expected log_probs (B, C) and targets (B,); got {log_probs.shape} "
            f"and {targets.shape}"
        )
    if targets.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: targets must be integer class ids; got dtype {targets.dtype}")
    picked = -log_probs[np.arange(len(targets)), targets]
    if reduction == "mean":
        return picked.mean()
    return picked.sum() if reduction == "sum" else picked


def binary_cross_entropy(probs: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """-[y log p + (1 - y) log(1 - p)] for probabilities ``probs`` in (0, 1).

    A probability of exactly 0 or 1 gives an infinite loss; with logits, use
    :func:`binary_cross_entropy_with_logits`, which is stable.
    """
    ops._check_reduction("binary_cross_entropy", reduction)
    y = Tensor(
        np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=probs.dtype)
    )
    if y.shape != probs.shape:
        raise ValueError(
            f"binary_cross_entropy: targets of shape {y.shape} do not match probs of shape {probs.shape}"
        )
    losses = -(y * probs.log() + (1 - y) * (1 - probs).log())
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def _label_matrix(op: str, logits: Tensor, targets: Any) -> np.ndarray:
    y = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=logits.dtype)
    if logits.ndim != 2 or y.shape != logits.shape:
        raise ValueError(
            f"{op}: expected logits (B, C) and targets (B, C); got {logits.shape} and {y.shape}"
        )
    return y


def one_vs_all_loss(logits: Tensor, targets: Any) -> Tensor:
    """One-vs-all loss of multi-label data: each class an independent binary decision.

    L = (1/B) sum_b sum_c BCE(sigmoid(z_bc), y_bc), the sum of C binary logistic losses a
    text, averaged over the batch (fastText's ``-loss ova``, which sums its classes'
    binary losses for each example).

    Args:
        logits: (B, C).
        targets: (B, C) of 0/1 (1: the text has that label); values in [0, 1] also work.
    """
    y = _label_matrix("one_vs_all_loss", logits, targets)
    return binary_cross_entropy_with_logits(logits, y, reduction="sum") * (1.0 / len(y))


def soft_cross_entropy(logits: Tensor, targets: Any) -> Tensor:
    """Cross-entropy of target distributions under softmax(logits), averaged over the batch:
    -(1/B) sum_b sum_c q_bc log softmax(z_b)_c, with q each row of ``targets`` (B, C)
    scaled to sum to 1. For label sets, q spreads a text's weight evenly over its labels:
    the expected loss of fastText's softmax on a multi-label line, where each update picks
    one of the line's labels at random."""
    y = _label_matrix("soft_cross_entropy", logits, targets)
    totals = y.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("soft_cross_entropy: every row of targets needs a label (a sum > 0)")
    q = Tensor(y / totals)
    return -(q * log_softmax(logits, axis=1)).sum() * (1.0 / len(y))


def dropout(x: Tensor, p: float, rng: np.random.Generator, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the survivors by
    1 / (1 - p), so the expected activation is unchanged and evaluation needs no rescaling."""
    check_probability("dropout", p)
    if not training or p == 0:
        return x
    keep = rng.random(x.shape, dtype=np.float32) >= p
    return x * (keep.astype(x.dtype) * np.asarray(1.0 / (1.0 - p), dtype=x.dtype))


def l2_penalty(
    named_parameters: Iterable[tuple[str, Tensor]],
    weight_decay: float,
    skip_biases: bool = True,
) -> Tensor:
    """The L2 regulariser (weight_decay / 2) * sum of squared weights.

    Its gradient is ``weight_decay * w``, the same as the ``weight_decay`` option of
    :class:`ffnlp.optim.SGD`. Biases (parameters named ``bias``) are skipped by default:
    they do not make the function more complex, so shrinking them only adds error.

    Args:
        named_parameters: ``model.named_parameters()``.
        weight_decay: the coefficient, >= 0.
        skip_biases: leave parameters whose name ends in ``bias`` out.
    """
    check_real("l2_penalty: weight_decay", weight_decay, minimum=0)
    terms = [
        (p * p).sum()
        for name, p in named_parameters
        if p.requires_grad and not (skip_biases and name.split(".")[-1] == "bias")
    ]
    if not terms:
        return Tensor(0.0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total * (0.5 * weight_decay)


# ---------------------------------------------------------------------------- pooling


def _check_pool_inputs(op: str, x: Tensor, mask: Any) -> np.ndarray:
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if x.ndim != 3:
        raise ValueError(f"{op}: expected x of shape (B, T, D); got {x.shape}")
    if mask.shape != x.shape[:2]:
        raise ValueError(
            f"{op}: mask of shape {mask.shape} does not match x of shape {x.shape}; expected {x.shape[:2]}"
        )
    if mask.dtype != np.bool_:
        raise TypeError(
            f"{op}: mask must be boolean (True for real tokens); got dtype {mask.dtype}"
        )
    return mask


def mean_pool(x: Tensor, mask: Any) -> Tensor:
    """Mean of the real positions of each sequence in a padded batch.

    x: (B, T, D); mask: bool (B, T), True for real tokens. Returns (B, D); a sequence with no
    real token pools to zeros. Padding gets exactly zero weight, in value and gradient.
    """
    mask = _check_pool_inputs("mean_pool", x, mask)
    weights = mask.astype(x.dtype)
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1)  # (B, T): 1/length or 0
    return (x * weights[:, :, None]).sum(axis=1)


def max_pool(x: Tensor, mask: Any) -> Tensor:
    """Component-wise maximum over the real positions of each sequence.

    x: (B, T, D); mask: bool (B, T). Returns (B, D); padding positions can never be the
    maximum (they are set to -inf first), and a sequence with no real token pools to zeros.
    """
    mask = _check_pool_inputs("max_pool", x, mask)
    pooled = ops.masked_fill(x, ~mask[:, :, None], -np.inf).max(axis=1)
    empty = ~mask.any(axis=1)
    if empty.any():
        pooled = ops.masked_fill(pooled, empty[:, None], 0.0)
    return pooled


def concat_pool(x: Tensor, mask: Any = None) -> Tensor:
    """Concatenate the T vectors of each row: (B, T, D) -> (B, T*D), as the n-gram language
    model does with its context words. Positions where ``mask`` is False become zeros."""
    if x.ndim != 3:
        raise ValueError(f"concat_pool: expected x of shape (B, T, D); got {x.shape}")
    if mask is not None:
        mask = _check_pool_inputs("concat_pool", x, mask)
        x = x * mask.astype(x.dtype)[:, :, None]
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2])


# ---------------------------------------------------------------------------- FOFE


def fofe_window(alphas: Sequence[float], tolerance: float = 1e-3) -> int:
    """The smallest history length K with max(alphas)^K <= ``tolerance``.

    The words a FOFE code of K words leaves out would carry together a fraction
    sum_{k>=K} a^k / sum_{k>=0} a^k = a^K of its total weight (for a in (0, 1)), so K words
    keep all but ``tolerance`` of it: 20 words for a = 0.7 and 1e-3, 66 for a = 0.9.
    """
    if not alphas:
        raise ValueError("fofe_window: no forgetting factors given")
    largest = max(
        check_real(f"alphas[{i}]", a, 0, 1, min_inclusive=False, max_inclusive=False)
        for i, a in enumerate(alphas)
    )
    check_real("tolerance", tolerance, 0, 1, min_inclusive=False, max_inclusive=False)
    return max(1, math.ceil(math.log(tolerance) / math.log(largest) - 1e-9))


def fofe(
    weight: Tensor,
    ids: Any,
    alphas: Sequence[float],
    ignore: int | None = None,
    sparse: bool = False,
    keep: np.ndarray | None = None,
) -> Tensor:
    """The fixed-size ordinally-forgetting encoding (Zhang, Jiang, Xu, Hou & Dai 2015) of
    each row of ``ids``, one code per forgetting factor.

    The code of a history w_1 ... w_K (oldest first) is the end of the recursion
    z_k = a z_{k-1} + E[w_k] from z_0 = 0, that is sum_k a^(K-k) E[w_k]: the last word with
    weight 1, the one before with a, then a^2, ... Ids equal to ``ignore`` (the padding
    before a text's start) add nothing.

    It is one weighted :func:`~ffnlp.autograd.ops.embedding_bag` per code (a composition of
    that gradient-checked op, not a new one): on a PTB-sized batch it is 7-14 times faster
    than gathering the (B, K, D) rows and multiplying them by the weights with the fast
    backend, 1.3-3 times in the NumPy form (``benchmarks/fofe.py``), and its gradient of
    ``weight`` is row-sparse when ``sparse``.

    Args:
        weight: the embedding matrix E, (V, D).
        ids: integer array (B, K), each row a history, oldest word first.
        alphas: the J forgetting factors, each in (0, 1).
        ignore: an id that contributes nothing (None: every id counts).
        sparse: a row-sparse gradient for ``weight``.
        keep: optional booleans, ``ids``' shape: only the ids marked True count (the band
            of an adaptive input's table that ``weight`` is, see
            :meth:`ffnlp.nn.AdaptiveInput.fofe`).

    Returns:
        (B, J*D): the J codes of each history side by side, in the order of ``alphas``.

    >>> E = Tensor(np.eye(3))
    >>> fofe(E, np.array([[0, 1, 2]]), [0.5]).data.tolist()
    [[0.25, 0.5, 1.0]]
    """
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if ids.ndim != 2:
        raise ValueError(f"fofe: ids must be (B, K); got shape {ids.shape}")
    if not len(alphas):
        raise ValueError("fofe: no forgetting factors given")
    alphas = np.array(
        [
            check_real(f"fofe: alphas[{i}]", a, 0, 1, min_inclusive=False, max_inclusive=False)
            for i, a in enumerate(alphas)
        ]
    )
    batch, length = ids.shape
    J = len(alphas)
    powers = alphas[:, None] ** np.arange(length - 1, -1, -1)[None, :]  # (J, K): a^(K-k)
    weights = np.broadcast_to(powers, (batch, J, length))
    if ignore is not None:
        weights = weights * (ids != ignore)[:, None, :]
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != ids.shape:
            raise ValueError(f"fofe: keep must have the ids' shape {ids.shape}; got {keep.shape}")
        weights = weights * keep[:, None, :]
    bags = np.repeat(ids, J, axis=0)  # (B*J, K): row b*J + j is history b under alpha j
    codes = ops.embedding_bag(weight, bags, weights.reshape(batch * J, length), sparse=sparse)
    return codes.reshape(batch, J * weight.shape[1])  # (B, J*D)
