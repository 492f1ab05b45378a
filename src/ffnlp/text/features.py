"""Features of a text beyond its words: the chapter's hand-built sentiment features,
hashed word bigrams, word shapes, and the clause after a contrastive "but".

The hand-built features (J&M, the sentiment example of logistic regression reused by the
feedforward classifier):

    x1  count of positive lexicon words      x4  count of 1st and 2nd person pronouns
    x2  count of negative lexicon words      x5  1 if "!" is in the text, else 0
    x3  1 if "no" is in the text, else 0     x6  ln(word count)
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ffnlp.text.datasets import read_text

FEATURE_NAMES = (
    "positive words",
    "negative words",
    "has 'no'",
    "1st/2nd person pronouns",
    "has '!'",
    "ln(word count)",
)
PRONOUNS = frozenset(
    "i me my mine myself we us our ours ourselves you your yours yourself yourselves".split()
)
_POSITIVE = {"positive", "pos", "+", "+1", "1"}
_NEGATIVE = {"negative", "neg", "-", "-1"}


def read_lexicon(path: str | os.PathLike, encoding: str | None = None) -> dict[str, int]:
    """A sentiment lexicon, one ``word<TAB>polarity`` per line, polarity positive/negative
    (or pos/neg, +1/-1). Returns word -> +1 or -1."""
    lexicon: dict[str, int] = {}
    for number, line in enumerate(read_text(path, encoding, "lexicon").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise ValueError(
                f"lexicon {str(path)!r}, line {number}: expected 'word<TAB>polarity'; got {line.strip()[:40]!r}"
            )
        word, polarity = parts[0].strip(), parts[1].strip().lower()
        if polarity in _POSITIVE:
            lexicon[word] = 1
        elif polarity in _NEGATIVE:
            lexicon[word] = -1
        else:
            raise ValueError(
                f"lexicon {str(path)!r}, line {number}: polarity must be positive or negative; got {parts[1].strip()!r}"
            )
    if not lexicon:
        raise ValueError(f"lexicon {str(path)!r} has no entries")
    return lexicon


def derive_lexicon(
    tokens: Sequence[Sequence[str]],
    labels: Sequence[str],
    positive: str,
    size: int = 200,
    min_count: int = 3,
) -> dict[str, int]:
    """A lexicon from labelled data: the ``size`` words most indicative of the ``positive``
    class and of the others, by smoothed log-count ratio (the naive Bayes weight)."""
    if positive not in set(labels):
        raise ValueError(f"derive_lexicon: the positive class {positive!r} is not among the labels")
    pos, neg = Counter(), Counter()
    for words, label in zip(tokens, labels):
        (pos if label == positive else neg).update(set(words))
    vocab = [w for w in set(pos) | set(neg) if pos[w] + neg[w] >= min_count and w.isalpha()]
    if not vocab:
        raise ValueError("derive_lexicon: no word occurs often enough to enter the lexicon")
    total_pos, total_neg = sum(pos.values()) + len(vocab), sum(neg.values()) + len(vocab)
    ratio = {
        w: math.log((pos[w] + 1) / total_pos) - math.log((neg[w] + 1) / total_neg) for w in vocab
    }
    ranked = sorted(vocab, key=lambda w: (-ratio[w], w))
    half = max(1, size // 2)
    lexicon = {w: 1 for w in ranked[:half] if ratio[w] > 0}
    lexicon.update({w: -1 for w in ranked[::-1][:half] if ratio[w] < 0})
    return lexicon


def lexicon_features(tokens: Sequence[Sequence[str]], lexicon: dict[str, int]) -> np.ndarray:
    """The six hand-built features of each tokenized text, (N, 6) float32."""
    out = np.zeros((len(tokens), len(FEATURE_NAMES)), dtype=np.float32)
    for i, words in enumerate(tokens):
        polarity = [lexicon.get(w.lower(), 0) for w in words]
        lowered = {w.lower() for w in words}
        out[i] = (
            polarity.count(1),
            polarity.count(-1),
            "no" in lowered,
            sum(w.lower() in PRONOUNS for w in words),
            any("!" in w for w in words),
            math.log(max(len(words), 1)),
        )
    return out


def bigram_keys(
    ids: np.ndarray, starts: np.ndarray, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The word bigrams of each document as integer keys ``first * vocab_size + second``.

    Args:
        ids: all documents' word ids, concatenated (int64).
        starts: where each document starts in ``ids`` (len = documents + 1, last = len(ids)).
        vocab_size: the number of word ids.

    Returns:
        (keys, key_starts) in the same layout: document k's bigrams are
        ``keys[key_starts[k]:key_starts[k + 1]]``.
    """
    counts = np.maximum(np.diff(starts) - 1, 0)
    key_starts = np.concatenate(([0], np.cumsum(counts)))
    if len(ids) < 2:
        return np.zeros(0, dtype=np.int64), key_starts
    inside = np.ones(
        len(ids) - 1, dtype=bool
    )  # a pair is a bigram when both words share a document
    cuts = starts[1:-1]
    inside[cuts[(cuts > 0) & (cuts < len(ids))] - 1] = False
    return (ids[:-1] * vocab_size + ids[1:])[inside], key_starts


def hash_keys(keys: np.ndarray, buckets: int) -> np.ndarray:
    """Integer keys hashed into [0, buckets) (a 64-bit mix, so nearby keys spread out)."""
    mixed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    mixed ^= mixed >> np.uint64(29)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(32)
    return (mixed % np.uint64(buckets)).astype(np.int64)


_CAPITALS, _LOWER, _DIGIT = re.compile(r"[A-Z]+"), re.compile(r"[a-z]+"), re.compile(r"[0-9]")


def word_shape(word: str, max_length: int = 6) -> str:
    """A word's shape: each run of capital letters written ``X``, each run of lower-case
    letters ``x``, each digit ``d``, other characters kept, cut to ``max_length``.

    What cased text says beyond its words: a name ("Paris" Xx), an acronym ("NASA"
    X), a year ("1990" dddd), initials ("U.S." X.X.) — the spelling features of named-entity
    taggers (Collins 2002's word shapes), shared by rare words that each appear once.

    >>> [word_shape(w) for w in ("Paris", "NASA", "1990", "U.S.", "McDonald", "3.5")]
    ['Xx', 'X', 'dddd', 'X.X.', 'XxXx', 'd.d']
    """
    shape = _DIGIT.sub("d", _LOWER.sub("x", _CAPITALS.sub("X", word)))
    return shape[:max_length]


def contrast_clause(tokens: Sequence[str], words: Sequence[str]) -> list[str] | None:
    """The tokens after the last of ``words`` (compared without case) that stands after
    the first token and has a word after it (a token with a letter or digit, not one of
    ``words``); None when none does.

    In "X but Y" the writer's verdict is mostly Y's ("the plot is thin , but the acting
    carries it"): a bag of words weighs X and Y alike, so a classifier can score Y on its
    own as well (:class:`ffnlp.estimators.ContrastClauses`). Words are matched as whole
    tokens: "but," is not "but" unless the tokenizer splits off the comma.

    >>> contrast_clause("the plot is thin , but the acting carries it".split(), ["but"])
    ['the', 'acting', 'carries', 'it']
    >>> contrast_clause("dull , but fun , but".split(), ["but"])  # the last "but" has none
    ['fun', ',', 'but']
    >>> contrast_clause("But why ?".split(), ["but"]) is None
    True
    """
    marks = {w.lower() for w in words}
    has_word = False  # among the tokens after position i
    for i in range(len(tokens) - 1, 0, -1):
        if has_word and tokens[i].lower() in marks:
            return list(tokens[i + 1 :])
        word = tokens[i].lower() not in marks and any(c.isalnum() for c in tokens[i])
        has_word = has_word or word
    return None
