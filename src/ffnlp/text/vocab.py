"""The vocabulary: a fixed list of tokens, each with an integer id.

Special tokens come first: ``<unk>`` (id 0) stands for every token outside the
vocabulary, ``<s>`` pads the context before the first token of a sentence and ``</s>``
ends each sentence (it is predicted like any word, as in Mikolov's PTB setup).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ffnlp.checks import check_int

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = (UNK, BOS, EOS)


class Vocab:
    """Token <-> id mapping.

    Args:
        tokens: the ordered token list; the specials must come first, in the order
            ``<unk>``, ``<s>``, ``</s>``.

    Build one from data with :meth:`build`.

    >>> v = Vocab.build([["the", "cat"], ["the", "dog"]])
    >>> v.encode(["the", "cow"]).tolist(), len(v)
    ([3, 0], 6)
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"Vocab: the first tokens must be {SPECIALS}; got {tokens[:3]}")
        if len(set(tokens)) != len(tokens):
            duplicates = sorted({t for t in tokens if tokens.count(t) > 1})[:5]
            raise ValueError(f"Vocab: tokens must be unique; repeated: {duplicates}")
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self._itos_array = np.array(tokens, dtype=object)

    unk_id, bos_id, eos_id = 0, 1, 2

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sequence[str]],
        min_count: int = 1,
        max_size: int | None = None,
    ) -> Vocab:
        """The tokens seen at least ``min_count`` times, most frequent first (ties in
        alphabetical order, so the result never depends on dict order), at most
        ``max_size`` in all including the specials.

        Raises:
            ValueError: on bad sizes, or when no token survives ``min_count``.
        """
        return cls.from_counts(
            Counter(itertools.chain.from_iterable(sentences)), min_count, max_size
        )

    @classmethod
    def from_counts(
        cls, counts: Counter[str], min_count: int = 1, max_size: int | None = None
    ) -> Vocab:
        """Like :meth:`build`, from token counts (e.g. gathered while streaming a file
        too large to hold)."""
        min_count = check_int("min_count", min_count, minimum=1)
        if max_size is not None:
            max_size = check_int(
                "max_size",
                max_size,
                minimum=len(SPECIALS),
                min_inclusive=False,
                note="room for the special tokens",
            )
        counts = Counter(counts)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)
        )
        if not kept:
            most = max(counts.values(), default=0)
            raise ValueError(
                f"the vocabulary is empty: no token occurs at least min_count={min_count} times "
                f"(the most frequent occurs {most} times); lower --min-count or give more text"
            )
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens`` (int64); unknown tokens map to ``<unk>``."""
        return np.fromiter(
            map(self.stoi.get, tokens, itertools.repeat(0)), dtype=np.int64, count=len(tokens)
        )

    def encode_many(self, texts: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """The ids of many token lists at once, as one ragged array: (ids, starts), text k's
        ids being ``ids[starts[k]:starts[k + 1]]`` (int64; len(starts) = len(texts) + 1).
        Much faster than one :meth:`encode` per text for many short texts."""
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        starts = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        tokens = itertools.chain.from_iterable(texts)
        ids = np.fromiter(
            map(self.stoi.get, tokens, itertools.repeat(0)), dtype=np.int64, count=int(starts[-1])
        )
        return ids, starts

    def decode(self, ids: Iterable[int]) -> list[str]:
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(
                f"decode: ids must be in [0, {len(self)}); got {int(ids.min())}..{int(ids.max())}"
            )
        return self._itos_array[ids].tolist()

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.itos}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("vocabulary: expected {'tokens': [str, ...]}")
        return cls(tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    __hash__ = None  # mutable-looking container; compare by content

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[3:8]}...)"


class PrefixBackoff:
    """Reads a word outside a vocabulary as a known word that shares its beginning: a crude
    stemmer for the words a small training set never saw ("embarrassing" read as
    "embarrassed", "overshadowed" as "overshadow").

    A word of at least ``min_length`` characters becomes the most frequent known word
    (lowest id) among those sharing its longest common prefix with the vocabulary, if that
    prefix has at least ``min_prefix`` characters and leaves at most ``max_unmatched``
    characters of the word over; otherwise it stays unknown. The words sharing the longest
    prefix sit next to each other in sorted order, so each lookup is two binary searches.

    >>> backoff = PrefixBackoff(Vocab.build([["embarrassed", "film"], ["embarrassment"]]))
    >>> backoff("embarrassing"), backoff("films"), backoff("filmmaking")
    ('embarrassed', None, None)
    """

    def __init__(
        self, vocab: Vocab, min_length: int = 6, min_prefix: int = 5, max_unmatched: int = 3
    ) -> None:
        known = sorted(
            (w, i) for i, w in enumerate(vocab.itos) if i >= len(SPECIALS) and len(w) >= min_prefix
        )
        self.words = [w for w, _ in known]
        self.ids = np.array([i for _, i in known], dtype=np.int64)
        self.itos = vocab.itos
        self.min_length, self.min_prefix, self.max_unmatched = min_length, min_prefix, max_unmatched

    def __call__(self, word: str) -> str | None:
        """The known word ``word`` is read as, or None."""
        if len(word) < self.min_length or not self.words:
            return None
        at = bisect.bisect_left(self.words, word)
        # The longest common prefix with any known word is the one with a sorted neighbour.
        shared = max(
            (_common_prefix(word, self.words[j]) for j in (at - 1, at) if 0 <= j < len(self.words)),
            default=0,
        )
        if shared < max(self.min_prefix, len(word) - self.max_unmatched):
            return None
        prefix = word[:shared]
        lo = bisect.bisect_left(self.words, prefix)
        hi = bisect.bisect_left(self.words, prefix + "\U0010ffff")
        return self.itos[int(self.ids[lo:hi].min())]

    def tokens(self, texts: Sequence[Sequence[str]], vocab: Vocab) -> list[list[str]]:
        """``texts`` with every word outside ``vocab`` replaced by its back-off word, where
        it has one (texts without such words are returned as they are)."""
        unknown = {w for text in texts for w in text if w not in vocab}
        read = {w: r for w in unknown if (r := self(w)) is not None}
        if not read:
            return list(texts)
        return [[read.get(w, w) for w in text] if not read.keys().isdisjoint(text) else text
                for text in texts]  # fmt: skip


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
