"""Input rows of a text beyond its words: word bigrams, the text's opening words, pairs
of an opening word with a later one, word shapes, and the character n-grams of each word
(fastText's subwords), as feature objects.

A classifier on pooled embeddings reads each text as a bag of rows of its embedding
table: first its words (rows ``0 .. V-1``), then the rows of each feature object it was
given, in order. Every feature object follows one small protocol:

- ``fit(texts, min_count)``: learn its table from the training texts;
- ``rows(texts)``: each text's rows, as one ragged array (rows in ``[0, size)``, starts);
- ``size``: how many rows it adds;
- ``get_params()``: its settings (what a model file and ``repr`` show);
- ``state()`` / ``load_state(meta, arrays)``: its learned table, for model files.

So a new kind of feature is one new class, and nothing else changes. ``texts`` is a
:class:`Texts`: the word ids of every text, concatenated, where each starts, and the
tokens (for features that read spelling).

>>> from ffnlp.text.vocab import PrefixBackoff, Vocab
>>> tokens = [["how", "many", "cats"], ["how", "old", "is", "Paris"]]
>>> vocab = Vocab.build(tokens)
>>> texts = Texts.encode(tokens, vocab)
>>> openings = Openings(2)
>>> openings.fit(texts, min_count=1)
>>> openings.size, [r.tolist() for r in texts.split(*openings.rows(texts))]
(3, [[0, 1], [0, 2]])
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ffnlp.backend import kernels
from ffnlp.checks import check_int, is_int
from ffnlp.text.features import bigram_keys, hash_keys, word_shape
from ffnlp.text.vocab import PrefixBackoff, Vocab


@dataclass
class Texts:
    """Tokenized texts as a feature object reads them.

    Attributes:
        ids: every text's word ids, concatenated (int64).
        starts: where each text starts in ``ids`` (len = texts + 1).
        tokens: the texts' tokens (for features of spelling, such as word shapes).
        vocab_size: V, the number of word ids.
        spelling: the tokens as written, where ``tokens`` has unknown words read as known
            ones (``unknown_words="prefix"``); None when they are the same.
    """

    ids: np.ndarray
    starts: np.ndarray
    tokens: Sequence[Sequence[str]]
    vocab_size: int
    spelling: Sequence[Sequence[str]] | None = None

    @classmethod
    def encode(cls, tokens: Sequence[Sequence[str]], vocab: Vocab) -> Texts:
        ids, starts = vocab.encode_many(tokens)
        return cls(ids, starts, tokens, len(vocab))

    def split(self, rows: np.ndarray, starts: np.ndarray) -> list[np.ndarray]:
        """A ragged array (rows, starts) as one array per text."""
        return np.split(rows, starts[1:-1])

    def word_lists(self) -> list[np.ndarray]:
        return self.split(self.ids, self.starts)


def ragged(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Arrays, one per text, as one ragged array (values, starts)."""
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    flat = np.concatenate(parts).astype(np.int64) if len(parts) else np.zeros(0, np.int64)
    return flat, np.concatenate(([0], np.cumsum(lengths)))


def looked_up(
    items: Sequence[Sequence[Any]], index: dict[Any, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's items (openings, shapes, ...) as the rows ``index`` gives them, those it
    lacks (never seen in training) left out, as one ragged array."""
    return ragged(
        [np.array([index[i] for i in text if i in index], dtype=np.int64) for text in items]
    )


class RowFeature:
    """The protocol of a feature object (see the module docstring). ``kind`` names it in
    model files and recipes; the constructor's arguments are its settings."""

    kind: ClassVar[str] = ""
    _params: ClassVar[tuple[str, ...]] = ()

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._params}

    def set_params(self, **params: Any) -> RowFeature:
        for name, value in params.items():
            if name not in self._params:
                raise ValueError(f"{type(self).__name__} has no setting {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.get_params().items())))

    def check(self) -> None:
        """Refuse settings that cannot work (called before anything is fitted)."""

    def fit(self, texts: Texts, min_count: int) -> None:
        raise NotImplementedError

    def rows(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # Most features learn one table, ``table_``, with one row per row they add: these
    # defaults serve them; a feature that learns otherwise overrides them.
    table_ndim: ClassVar[int] = 1

    @property
    def size(self) -> int:
        return len(self.table_)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The learned table: (JSON-able meta, arrays)."""
        return {}, {"table": self.table_}

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Put back what :meth:`state` gave; raises ValueError on a table of the wrong shape."""
        self.table_ = _array(arrays, "table", self.table_ndim, f"the table of {self.kind}")


class Bigrams(RowFeature):
    """Word bigrams (the fastText trick): hashed into ``buckets`` rows, or with
    ``buckets=0`` one row per bigram seen ``min_count`` times in training (the
    vocabulary's ``min_count``); a bigram training never saw has no row."""

    kind = "bigrams"
    _params = ("buckets",)
    # (table_, its int64 copy, hash slots, shift) once a large lookup built them; not saved
    _slots: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None

    def __init__(self, buckets: int = 0) -> None:
        self.buckets = buckets

    def check(self) -> None:
        self.buckets = check_int("buckets", self.buckets, minimum=0)

    def fit(self, texts: Texts, min_count: int) -> None:
        if not self.buckets:
            keys, _ = bigram_keys(texts.ids, texts.starts, texts.vocab_size)
            table, counts = np.unique(keys, return_counts=True)
            self.table_ = table[counts >= min_count]

    def rows(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        keys, starts = bigram_keys(texts.ids, texts.starts, texts.vocab_size)
        if self.buckets:
            return hash_keys(keys, self.buckets), starts
        where = self._find(keys)
        found = where >= 0
        kept = np.concatenate(([0], np.cumsum(found)))
        return where[found], kept[starts]

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key in the sorted table, -1 for a bigram it lacks: by binary
        search, or for many keys (a file to predict) through a hash table of the rows,
        14 ns a key against 200 (:func:`ffnlp.backend.kernels.key_find`)."""
        table = self.table_
        if not len(table):
            return np.full(len(keys), -1, dtype=np.int64)
        if not kernels.use_for_lookup(keys.size):
            where = np.minimum(np.searchsorted(table, keys), len(table) - 1)
            return np.where(table[where] == keys, where, -1)
        if self._slots is None or self._slots[0] is not table:  # a new or another table
            bits = int(2 * len(table) - 1).bit_length()
            slots = np.full(1 << bits, -1, dtype=np.int64)
            contiguous = np.ascontiguousarray(table, dtype=np.int64)
            kernels.compiled("key_slots")(contiguous, slots, 64 - bits)
            self._slots = (table, contiguous, slots, 64 - bits)
        _, table, slots, shift = self._slots
        where = np.empty(len(keys), dtype=np.int64)
        keys = np.ascontiguousarray(keys, dtype=np.int64)
        kernels.compiled("key_find")(table, slots, shift, keys, where)
        return where

    @property
    def size(self) -> int:
        return self.buckets or len(self.table_)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({}, {}) if self.buckets else ({}, {"table": self.table_})

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if not self.buckets:
            super().load_state(meta, arrays)


class Openings(RowFeature):
    """A text's opening words: its first word, first two words, ... up to ``n``, each
    opening a row when training saw it ``min_count`` times (the vocabulary's)."""

    kind = "openings"
    _params = ("n",)
    table_ndim = 2  # word ids of each opening, -1 padded

    def __init__(self, n: int = 3) -> None:
        self.n = n

    def check(self) -> None:
        self.n = check_int("n", self.n, minimum=1)

    def _openings(self, texts: Texts) -> list[list[tuple[int, ...]]]:
        n = self.n
        return [
            [tuple(d[:k].tolist()) for k in range(1, min(n, len(d)) + 1)]
            for d in texts.word_lists()
        ]

    def fit(self, texts: Texts, min_count: int) -> None:
        counts = Counter(o for text in self._openings(texts) for o in text)
        kept = sorted(o for o, c in counts.items() if c >= min_count)
        table = np.full((len(kept), self.n), -1, dtype=np.int64)  # word ids, -1 padded
        for row, o in enumerate(kept):
            table[row, : len(o)] = o
        self.table_ = table

    def rows(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        index = {tuple(int(i) for i in r if i >= 0): row for row, r in enumerate(self.table_)}
        return looked_up(self._openings(texts), index)

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super().load_state(meta, arrays)
        if self.table_.shape[1] != self.n:
            raise ValueError("the table of openings has the wrong shape")


class OpeningPairs(RowFeature):
    """Pairs of one of a text's first ``n`` words with every later word ("what" with
    "city" in "What is the largest city ..."), a row per pair seen at least
    ``max(2, min_count)`` times in training (a pair seen once is almost always a
    one-off, and pairs are many)."""

    kind = "opening-pairs"
    _params = ("n",)

    def __init__(self, n: int = 4) -> None:
        self.n = n

    def check(self) -> None:
        self.n = check_int("n", self.n, minimum=1)

    def _keys(self, texts: Texts) -> list[np.ndarray]:
        size, empty = texts.vocab_size, np.zeros(0, dtype=np.int64)
        return [
            np.concatenate(
                [d[i] * size + d[i + 1 :] for i in range(min(self.n, len(d)))] or [empty]
            )
            for d in texts.word_lists()
        ]

    def fit(self, texts: Texts, min_count: int) -> None:
        table, counts = np.unique(np.concatenate(self._keys(texts)), return_counts=True)
        self.table_ = table[counts >= max(2, min_count)]  # keys first * V + second, sorted

    def rows(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        keys = self._keys(texts)
        table = self.table_
        if not len(table):
            return ragged([np.zeros(0, dtype=np.int64) for _ in keys])
        out = []
        for k in keys:
            where = np.minimum(np.searchsorted(table, k), len(table) - 1)
            out.append(where[table[where] == k])
        return ragged(out)


class WordShapes(RowFeature):
    """The shape of each word after the first (:func:`ffnlp.text.features.word_shape`:
    "Xx" for "Paris", "X" for "NASA", "dddd" for "1990"), a row per shape seen at least
    ``max(2, min_count)`` times in training: rare words share them (use on cased text)."""

    kind = "word-shapes"
    _params = ()

    def _shapes(self, texts: Texts) -> list[list[str]]:
        return [[word_shape(w) for w in text[1:]] for text in texts.tokens]

    def fit(self, texts: Texts, min_count: int) -> None:
        counts = Counter(shape for text in self._shapes(texts) for shape in text)
        limit = max(2, min_count)
        self.table_ = sorted(shape for shape, n in counts.items() if n >= limit)

    def rows(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        return looked_up(self._shapes(texts), {s: row for row, s in enumerate(self.table_)})

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"shapes": list(self.table_)}, {}

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.table_ = [str(shape) for shape in meta["shapes"]]


class CharNgrams(RowFeature):
    """The character n-grams of every word, ``min_n`` to ``max_n`` characters of the word
    with ``<`` and ``>`` around it (fastText's subwords, Bojanowski et al. 2017: "where"
    gives "<wh", "whe", ..., "<where>"), each hashed (CRC-32 of its UTF-8 bytes) into one of
    ``buckets`` rows. So a word training never saw still has rows: those of the n-grams it
    shares with the words it did see.

    With ``buckets=0`` the table is sized to the data: as many rows as the training words
    have distinct n-grams (``buckets_``, kept in the model file), so the rows grow with the
    vocabulary instead of fastText's fixed 2 million. Every word's n-grams are pooled with
    the text's other rows, as fastText's classifier pools them.

    >>> grams = CharNgrams(3, 4)
    >>> grams.ngrams("cat")
    ['<ca', '<cat', 'cat', 'cat>', 'at>']
    """

    kind = "char-ngrams"
    _params = ("min_n", "max_n", "buckets")

    def __init__(self, min_n: int = 3, max_n: int = 6, buckets: int = 0) -> None:
        self.min_n, self.max_n, self.buckets = min_n, max_n, buckets

    def check(self) -> None:
        self.min_n = check_int("min_n", self.min_n, minimum=1)
        self.max_n = check_int("max_n", self.max_n, minimum=1)
        self.buckets = check_int("buckets", self.buckets, minimum=0)
        if self.max_n < self.min_n:
            raise ValueError(
                f"char n-grams: max_n must be >= min_n; got min_n={self.min_n}, max_n={self.max_n}"
            )

    def ngrams(self, word: str) -> list[str]:
        """The n-grams of ``word``, in the order they start, shorter first."""
        marked = f"<{word}>"
        return [
            marked[i : i + n]
            for i in range(len(marked))
            for n in range(self.min_n, self.max_n + 1)
            if i + n <= len(marked) and marked[i : i + n] not in ("<", ">")
        ]

    def fit(self, texts: Texts, min_count: int) -> None:
        words = {w for text in (texts.spelling or texts.tokens) for w in text}
        self.buckets_ = self.buckets or max(1, len({g for w in words for g in self.ngrams(w)}))
        self._cache: dict[str, np.ndarray] = {}

    def _word_rows(self, word: str) -> np.ndarray:
        rows = self._cache.get(word)
        if rows is None:
            hashes = [zlib.crc32(g.encode("utf-8")) for g in self.ngrams(word)]
            rows = np.array(hashes, dtype=np.int64) % self.buckets_
            self._cache[word] = rows
        return rows

    def rows(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_cache"):
            self._cache = {}
        empty = np.zeros(0, dtype=np.int64)
        return ragged(
            [
                np.concatenate([self._word_rows(w) for w in text]) if len(text) else empty
                for text in (texts.spelling or texts.tokens)
            ]
        )

    def word_rows(self, word: str) -> np.ndarray:
        """The rows (in ``[0, size)``) of one word's n-grams."""
        if not hasattr(self, "_cache"):
            self._cache = {}
        return self._word_rows(word)

    @property
    def size(self) -> int:
        return self.buckets_

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"buckets": self.buckets_}, {}

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        buckets = meta.get("buckets")
        wrong = not is_int(buckets) or buckets < 1
        if wrong or (self.buckets and buckets != self.buckets):
            raise ValueError(f"the char n-gram table has a wrong size: {buckets!r}")
        self.buckets_ = int(buckets)
        self._cache = {}


class TextRows:
    """Tokens to rows of the embedding table: the words (read through ``PrefixBackoff``
    with ``unknown_words="prefix"``), then each feature object's rows, offset to follow
    the words and the features before it. Text k's rows come out as one segment.

    Args:
        vocab: the words.
        features: fitted feature objects (:meth:`fit_rows` fits them).
        unknown_words: "unk" or "prefix" (see :class:`~ffnlp.text.vocab.PrefixBackoff`).
    """

    def __init__(self, vocab: Vocab, features: Sequence[RowFeature], unknown_words: str = "unk"):
        self.vocab = vocab
        self.features = list(features)
        self.unknown_words = unknown_words
        self._backoff: PrefixBackoff | None = None

    @property
    def extra_rows(self) -> int:
        """Rows after the words': every feature's."""
        return sum(f.size for f in self.features)

    def fit_rows(
        self, tokens: Sequence[Sequence[str]], min_count: int, every_word_kept: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit every feature on the training texts and return their rows. With
        ``every_word_kept`` (the vocabulary holds every training word) no word is unknown."""
        return self.rows(tokens, fit_min_count=min_count, known=every_word_kept)

    def rows(
        self,
        tokens: Sequence[Sequence[str]],
        fit_min_count: int | None = None,
        known: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every text's rows as one ragged array (rows, starts)."""
        spelling = None
        if self.unknown_words == "prefix" and not known:
            if self._backoff is None:
                self._backoff = PrefixBackoff(self.vocab)
            tokens, spelling = self._backoff.tokens(tokens, self.vocab), tokens
        texts = Texts.encode(tokens, self.vocab)
        texts.spelling = spelling
        blocks = [(texts.ids, texts.starts)]  # each a (rows, starts) ragged array
        offset = len(self.vocab)
        for feature in self.features:
            if fit_min_count is not None:
                feature.fit(texts, fit_min_count)
            rows, starts = feature.rows(texts)
            blocks.append((rows + offset, starts))
            offset += feature.size
        return interleave(blocks)


def interleave(blocks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged arrays with the same number of segments joined segment by segment: segment
    i of the result is segment i of the first block, then of the second, and so on."""
    if len(blocks) == 1:
        return blocks[0]
    lengths = [np.diff(starts) for _, starts in blocks]
    starts = np.concatenate(([0], np.cumsum(sum(lengths))))
    out = np.empty(starts[-1], dtype=np.int64)
    before = starts[:-1].copy()  # where the next block's part of each segment goes
    for (values, block_starts), n in zip(blocks, lengths):
        segment = np.repeat(np.arange(len(n)), n)
        out[before[segment] + np.arange(len(values)) - block_starts[segment]] = values
        before += n
    return out, starts


def _array(arrays: dict[str, np.ndarray], key: str, ndim: int, what: str) -> np.ndarray:
    if key not in arrays or arrays[key].ndim != ndim:
        raise ValueError(f"{what} is missing or has the wrong shape")
    return arrays[key]


FEATURE_KINDS: dict[str, type[RowFeature]] = {
    cls.kind: cls for cls in (Bigrams, Openings, OpeningPairs, WordShapes, CharNgrams)
}


def feature_from_dict(spec: dict[str, Any]) -> RowFeature:
    """A feature object from ``{"kind": "bigrams", "buckets": 0}`` (recipes, model files)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ValueError(f"a feature is a table with a 'kind'; got {spec!r}")
    settings = {k: v for k, v in spec.items() if k != "kind"}
    kind = spec["kind"]
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature kind {kind!r}; the kinds are {', '.join(FEATURE_KINDS)}")
    cls = FEATURE_KINDS[kind]
    unknown = sorted(set(settings) - set(cls._params))
    if unknown:
        raise ValueError(f"feature {kind!r} has no setting {unknown[0]!r}")
    feature = cls(**settings)
    feature.check()
    return feature


def feature_to_dict(feature: RowFeature) -> dict[str, Any]:
    return {"kind": feature.kind, **feature.get_params()}


def check_features(features: Any) -> list[RowFeature]:
    """``features`` as a list of feature objects, each with valid settings."""
    if isinstance(features, (str, bytes, dict)) or not isinstance(features, (Sequence, np.ndarray)):
        raise ValueError(
            "features must be a list of feature objects, such as [Bigrams(), WordShapes()]; "
            f"got {features!r}"
        )
    out = []
    for f in features:
        if not isinstance(f, RowFeature):
            raise ValueError(
                f"features must be feature objects (ffnlp.text.row_features: "
                f"{', '.join(c.__name__ for c in FEATURE_KINDS.values())}); got {f!r}"
            )
        f.check()
        out.append(f)
    kinds = [f.kind for f in out]
    if len(set(kinds)) < len(kinds):
        raise ValueError(f"features lists a kind twice: {kinds}")
    return out


__all__ = [
    "FEATURE_KINDS",
    "Bigrams",
    "CharNgrams",
    "OpeningPairs",
    "Openings",
    "RowFeature",
    "TextRows",
    "Texts",
    "WordShapes",
    "check_features",
    "feature_from_dict",
    "feature_to_dict",
]
