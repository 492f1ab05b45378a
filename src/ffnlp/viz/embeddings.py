"""Word embeddings in two dimensions: principal component analysis with NumPy's SVD, and
a scatter plot labelled with chosen words, by default the most frequent content words
(function words such as "the" and "'s" sit in a clump and tell little), placed so that no
two labels overlap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


# English function words, the ones left unlabelled by default (with tokens that have no
# letter, or of one character: punctuation, PTB's N, 's and n't).
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves n't""".split()
)


def content_words(words: Sequence[str], count: int) -> list[int]:
    """The indices of the first ``count`` words that are content words: not a function
    word, with a letter, longer than one character, not a special like ``<unk>``."""
    chosen = []
    for i, word in enumerate(words):
        if len(chosen) == count:
            break
        plain = word.lower()
        if (
            len(word) > 1
            and any(c.isalpha() for c in word)
            and plain not in STOPWORDS
            and not word.startswith(("<", "'"))
        ):
            chosen.append(i)
    return chosen


# Where a label may go beside its point, in order of preference: (dx, dy) in points.
_LABEL_SPOTS = ((3, 3), (-3, 3), (3, -3), (-3, -3), (5, 0), (-5, 0))


def place_labels(ax: Any, points: np.ndarray, texts: Sequence[str]) -> list[int]:
    """Write each of ``texts`` beside its point, in order, where it overlaps no label
    already written (trying a few spots around the point); a label with no free spot is
    left out. Returns the indices of the texts written. Call it once the axes' limits and
    the figure's layout are final: the check is done in the picture's own pixels."""
    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    taken: list[Any] = []
    written = []
    for i, ((x, y), text) in enumerate(zip(points, texts)):
        for dx, dy in _LABEL_SPOTS:
            label = ax.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=8,
                ha="left" if dx >= 0 else "right",
                va="bottom" if dy > 0 else "top" if dy < 0 else "center",
            )
            box = label.get_window_extent(renderer).expanded(1.05, 1.1)
            fits = inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1)
            if fits and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                written.append(i)
                break
            label.remove()
    return written


def draw_embeddings(
    vectors: np.ndarray,
    words: Sequence[str],
    out: str | Path,
    label: int = 60,
    title: str | None = None,
    chosen: Sequence[str] | None = None,
) -> tuple[Path, list[str]]:
    """Scatter the 2-D projection of ``vectors`` and label words; returns the picture's
    path and the words labelled (see :func:`plot_embeddings`)."""
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
    if chosen is not None:
        index = {w: i for i, w in enumerate(words)}
        unknown = [w for w in chosen if w not in index]
        if unknown:
            raise ValueError(
                f"not in the model's vocabulary: {', '.join(repr(w) for w in unknown[:5])}"
            )
        picked = [index[w] for w in dict.fromkeys(chosen)]
    else:
        picked = content_words(words, label)
    points = pca_2d(vectors)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(points[:, 0], points[:, 1], s=4, color="#bbbbbb", label=f"all {len(words)} words")
    ax.scatter(points[picked, 0], points[picked, 1], s=10, color="#1f77b4")
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    what = "chosen" if chosen is not None else "most frequent content"
    ax.set_title(title or f"word embeddings (PCA), the {what} words labelled")
    ax.grid(alpha=0.3)
    ax.margins(0.08)
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim())  # fixed now, so the labels placed below stay where they are
    ax.set_ylim(ax.get_ylim())
    fig.tight_layout()
    written = place_labels(ax, points[picked], [words[i] for i in picked])
    out = Path(out)
    fig.savefig(out, dpi=fig.dpi)
    plt.close(fig)
    return out, [words[picked[i]] for i in written]


def plot_embeddings(
    vectors: np.ndarray,
    words: Sequence[str],
    out: str | Path,
    label: int = 60,
    title: str | None = None,
    chosen: Sequence[str] | None = None,
) -> Path:
    """Scatter the 2-D projection of ``vectors`` and label words, no two labels
    overlapping (a label with no room is left out).

    Args:
        vectors: (V, D), one row per word in ``words``, most frequent first (ffnlp
            vocabularies are in frequency order).
        words: the V words.
        out: the picture to write (PNG, SVG, PDF).
        label: how many of the most frequent content words (see :func:`content_words`)
            to label, when ``chosen`` is None.
        chosen: the words to label instead.

    Raises:
        ValueError: a chosen word the vocabulary lacks; ImportError without matplotlib.
    """
    return draw_embeddings(vectors, words, out, label, title, chosen)[0]
