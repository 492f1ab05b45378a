"""Drawing the next token from a model's distribution: temperature and top-k."""

from __future__ import annotations

import numpy as np

from ffnlp.checks import check_int, check_real


def check_sampling(temperature: float, top_k: int) -> None:
    check_real("temperature", temperature, minimum=0, min_inclusive=False, allow_inf=True)
    check_int("top_k", top_k, minimum=0, note="0 = no limit")


def sample_token(
    probs: np.ndarray,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    banned: tuple[int, ...] = (),
) -> int:
    """One token id drawn from ``probs`` (V,).

    ``temperature`` < 1 sharpens the distribution (p^(1/T), renormalised), > 1 flattens it;
    ``top_k`` > 0 keeps only the k most probable tokens; ``banned`` ids (e.g. ``<s>``,
    ``<unk>``) are never drawn.
    """
    check_sampling(temperature, top_k)
    with np.errstate(divide="ignore"):
        logits = np.log(np.asarray(probs, dtype=np.float64)) / temperature
    if banned:
        logits[list(banned)] = -np.inf
    if 0 < top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits[logits < cutoff] = -np.inf
    logits -= logits.max()
    weights = np.exp(logits)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def top_predictions(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` most probable ids with their probabilities, most probable first."""
    k = check_int("k", k, minimum=1)
    k = min(k, len(probs))
    best = np.argpartition(-probs, k - 1)[:k]
    best = best[np.argsort(-probs[best], kind="stable")]
    return [(int(i), float(probs[i])) for i in best]
