"""Word embeddings in two dimensions: principal component analysis with NumPy's SVD, and
a scatter plot labelled with the most frequent words."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ffnlp.viz.curves import pyplot


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project the rows of ``vectors`` (V, D) onto their first two principal components,
    (V, 2): centre the rows, take the SVD X = U S Vᵀ, keep X V[:, :2] = U[:, :2] S[:2].

    The sign of each component is fixed (its largest coordinate is positive), so the same
    vectors always give the same picture.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"pca_2d: need a (V, D) matrix with V >= 2 rows; got shape {x.shape}")
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    points = u[:, :2] * s[:2]
    if points.shape[1] < 2:  # D = 1: the second coordinate is 0
        points = np.hstack([points, np.zeros((len(points), 1))])
    flip = np.sign(points[np.abs(points).argmax(axis=0), [0, 1]])
    return points * np.where(flip == 0, 1, flip)


def plot_embeddings(
    vectors: np.ndarray,
    words: Sequence[str],
    out: str | Path,
    label: int = 60,
    title: str | None = None,
) -> Path:
    """Scatter the 2-D projection of ``vectors`` and label the first ``label`` words.

    Args:
        vectors: (V, D), one row per word in ``words``, most frequent first (ffnlp
            vocabularies are in frequency order).
        words: the V words.
        out: the picture to write (PNG, SVG, PDF).
        label: how many of the most frequent words get their word written beside them.
    """
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
    points = pca_2d(vectors)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(points[:, 0], points[:, 1], s=4, color="#bbbbbb", label=f"all {len(words)} words")
    top = min(label, len(words))
    ax.scatter(points[:top, 0], points[:top, 1], s=10, color="#1f77b4")
    for (x, y), word in zip(points[:top], words[:top]):
        ax.annotate(word, (x, y), fontsize=8, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.set_title(title or f"word embeddings (PCA), the {top} most frequent words labelled")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
