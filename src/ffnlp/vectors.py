"""The word vectors a trained model learned: written in word2vec's text format, their
nearest neighbours and analogies by cosine similarity, and the vector of a whole text.

One class, :class:`WordVectors`, for the language model and the text classifier alike:
the vectors are the rows of the model's embedding table, one per vocabulary word (the
special tokens ``<unk>``, ``<s>`` and ``</s>`` left out). A classifier with character
n-grams (:class:`~ffnlp.text.row_features.CharNgrams`) in its deep network gives a word
the mean of its own row and its n-grams' rows, as fastText does, so a word training never
saw still has a vector (its n-grams' mean).

>>> vectors = WordVectors(["king", "queen", "man", "woman"],
...                       np.array([[1.0, 1.0], [1.0, -1.0], [0.9, 1.1], [0.9, -0.9]]))
>>> [w for w, _ in vectors.neighbours("king", k=2)]
['man', 'queen']
>>> vectors.analogy("man", "king", "woman", k=1)[0][0]
'queen'
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.autograd import no_grad
from ffnlp.checks import check_int
from ffnlp.text.vocab import SPECIALS

CLASSIFIER_KIND = "text_classifier"
LM_KIND = "feedforward_lm"


class WordVectors:
    """Words and their vectors, (V, D), with the model they came from (for text vectors).

    Args:
        words: the words, one per row of ``vectors``.
        vectors: (V, D) numbers.
        model: a :class:`~ffnlp.models.language_model.FeedforwardLM` or a classifier on
            embeddings, for :meth:`vector` of unseen words and :meth:`sentence_vectors`
            (:meth:`of_model` sets it).
    """

    def __init__(self, words: Sequence[str], vectors: Any, model: Any = None) -> None:
        self.words = list(words)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.words):
            raise ValueError(
                f"WordVectors: vectors must be (V, D) with one row per word; got "
                f"{self.vectors.shape} for {len(self.words)} words"
            )
        self.index = {w: i for i, w in enumerate(self.words)}
        self.model = model
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self._unit = self.vectors / np.maximum(norms, np.finfo(np.float32).tiny)  # (V, D)

    # ------------------------------------------------------------------ from models
    @classmethod
    def load(cls, path: str | os.PathLike) -> WordVectors:
        """The vectors of a model file: a neural LM (``ffnlp lm train``) or a classifier on
        embeddings (``ffnlp classify train``).

        Raises:
            ValueError: a model of another kind, or a classifier on lexicon features.
        """
        kind = io.load_archive(path)[0].get("kind")
        if kind == LM_KIND:
            from ffnlp.models.language_model import FeedforwardLM

            return cls.of_model(FeedforwardLM.load(path))
        if kind == CLASSIFIER_KIND:
            from ffnlp.estimators import load_classifier

            return cls.of_model(load_classifier(path))
        raise ValueError(
            f"{str(path)!r} holds a {kind!r} model, which has no word vectors; give a neural "
            "LM (ffnlp lm train) or a classifier (ffnlp classify train)"
        )

    @classmethod
    def of_model(cls, model: Any) -> WordVectors:
        """The vectors of a fitted classifier on embeddings or of a neural LM."""
        from ffnlp.models.language_model import FeedforwardLM

        if isinstance(model, FeedforwardLM):
            model._require_vocab()
            weight, vocab = model.embedding.weight.data, model.vocab
            return cls(vocab.itos[len(SPECIALS) :], weight[len(SPECIALS) : len(vocab)], model)
        classifier = _text_classifier(model)
        words = classifier.vocab_.itos[len(SPECIALS) :]
        grams = _Subwords.of(classifier)
        if grams is None:
            weight = _deep_network(classifier).embedding.weight.data
            return cls(words, weight[len(SPECIALS) : len(classifier.vocab_)], model)
        return cls(words, np.stack([grams.vector(w) for w in words]), model)

    # ------------------------------------------------------------------ lookups
    def vector(self, word: str) -> np.ndarray:
        """The vector of ``word``, (D,).

        Raises:
            ValueError: ``word`` is not in the vocabulary (naming the closest known words),
                unless the model has character n-grams to build it from.
        """
        at = self.index.get(word)
        if at is not None:
            return self.vectors[at]
        grams = _Subwords.of(self.model) if self.model is not None else None
        if grams is None:
            raise ValueError(self.unknown([word]))
        return grams.vector(word)

    def unknown(self, words: Sequence[str]) -> str:
        """What to say of words outside the vocabulary: each with its closest known
        spellings."""

        def closest(word: str) -> str:
            close = difflib.get_close_matches(word, self.words, n=3, cutoff=0.6)
            if not close:
                return "no known word is spelled like it"
            return "closest known: " + ", ".join(repr(w) for w in close)

        where = f"the model's vocabulary of {len(self.words)} words"
        if len(words) == 1:
            return f"{words[0]!r} is not in {where} ({closest(words[0])})"
        each = ", ".join(f"{w!r} ({closest(w)})" for w in words)
        return f"{len(words)} words are not in {where}: {each}"

    def _query(self, words: Sequence[str]) -> list[np.ndarray]:
        """The vectors of ``words``, or one error naming every word that has none."""
        missing = list(dict.fromkeys(w for w in words if not self.has_vector(w)))
        if missing:
            raise ValueError(self.unknown(missing))
        return [self.vector(w) for w in words]

    def has_vector(self, word: str) -> bool:
        """Whether :meth:`vector` gives ``word`` a vector."""
        return word in self.index or (
            self.model is not None and _Subwords.of(self.model) is not None
        )

    def nearest(
        self, target: np.ndarray, k: int = 10, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """The ``k`` words of highest cosine similarity to ``target`` (D,), best first,
        leaving out ``exclude``."""
        k = check_int("k", k, minimum=1)
        norm = float(np.linalg.norm(target))
        scores = self._unit @ (np.asarray(target, dtype=np.float32) / max(norm, 1e-30))  # (V,)
        for word in exclude:
            if word in self.index:
                scores[self.index[word]] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        best = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
        best = best[np.lexsort((best, -scores[best]))]  # by score, ties by frequency rank
        return [(self.words[i], float(scores[i])) for i in best]

    def neighbours(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` nearest words to ``word`` by cosine similarity (itself left out)."""
        (vector,) = self._query([word])
        return self.nearest(vector, k, exclude=[word])

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> list[tuple[str, float]]:
        """a is to b as c is to ?: the ``k`` words x of highest cos(x, b - a + c), the three
        vectors first scaled to unit length (3CosAdd, Mikolov et al. 2013), the three
        words themselves left out. The score is that cosine."""
        unit = [v / max(float(np.linalg.norm(v)), 1e-30) for v in self._query([a, b, c])]
        return self.nearest(unit[1] - unit[0] + unit[2], k, exclude=[a, b, c])

    # ------------------------------------------------------------------ files
    def word2vec_text(self) -> tuple[str, int]:
        """word2vec's text format: a header "V D", then each word and its numbers, one word
        a line (what gensim's ``KeyedVectors.load_word2vec_format`` and ffnlp's
        ``--pretrained`` read). Words with spaces in them, which the format cannot hold,
        are left out. Returns (the text, the number of words in it)."""
        keep = [i for i, w in enumerate(self.words) if w and not any(c.isspace() for c in w)]
        lines = [f"{len(keep)} {self.vectors.shape[1]}"]
        lines += [
            self.words[i] + " " + " ".join(f"{x:.6g}" for x in self.vectors[i].tolist())
            for i in keep
        ]
        return "\n".join(lines) + "\n", len(keep)

    def save_word2vec(self, path: str | os.PathLike) -> int:
        """Write :meth:`word2vec_text` to ``path`` (whole, or not at all); returns the
        number of words written."""
        text, count = self.word2vec_text()
        io.atomic_write_text(path, text)
        return count

    # ------------------------------------------------------------------ texts
    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """One vector per text, (len(texts), D'):

        - a classifier: the pooled vector its deep averaging network reads (its words' and
          feature rows' embeddings pooled as the model pools them, before dropout), D' = D,
          or 2D for "mean+max" pooling;
        - a language model, which pools nothing: the mean of the embeddings of the text's
          words (``<unk>``'s row for unknown ones); zeros for a text without words.
        """
        if self.model is None:
            raise ValueError("sentence_vectors needs the model: make the vectors with of_model")
        from ffnlp.models.language_model import FeedforwardLM

        if isinstance(self.model, FeedforwardLM):
            weight = self.model.embedding.weight.data
            out = np.zeros((len(texts), weight.shape[1]), dtype=np.float32)
            for row, ids in enumerate(self.model.encode_lines(list(texts))):
                if len(ids):
                    out[row] = weight[ids].mean(axis=0)
            return out
        from ffnlp.estimators.base import texts_of, tokens_of
        from ffnlp.models.classifier import TextDataset

        classifier = _text_classifier(self.model)
        tokens = tokens_of(classifier.tokenizer_, texts_of(list(texts)))
        data = TextDataset.from_ragged(*classifier._fitted.encoder.rows(tokens))
        network = _deep_network(classifier)
        network.eval()
        parts = []
        with no_grad():
            for start in range(0, len(data), 1024):
                idx = np.arange(start, min(start + 1024, len(data)))
                parts.append(network.pooled(data.batch(idx)[0]).data)
        return np.concatenate(parts) if parts else np.zeros((0, network.config.embed_dim))


class _Subwords:
    """A classifier's word vectors built from its character n-gram rows (fastText's)."""

    def __init__(self, weight: np.ndarray, vocab: Any, grams: Any, offset: int) -> None:
        self.weight, self.vocab, self.grams, self.offset = weight, vocab, grams, offset

    @classmethod
    def of(cls, model: Any) -> _Subwords | None:
        """The n-grams of a classifier whose deep network has their rows, else None."""
        try:
            classifier = _text_classifier(model)
        except ValueError:
            return None
        network = _deep_network(classifier)
        if network.config.pool_words_only:  # the n-gram rows are the wide tower's
            return None
        offset = len(classifier.vocab_)
        for feature in classifier.features_:
            if feature.kind == "char-ngrams":
                return cls(network.embedding.weight.data, classifier.vocab_, feature, offset)
            offset += feature.size
        return None

    def vector(self, word: str) -> np.ndarray:
        """The mean of the word's row (when known) and its n-grams' rows."""
        rows = self.grams.word_rows(word) + self.offset
        if word in self.vocab:
            rows = np.concatenate(([self.vocab.stoi[word]], rows))
        return self.weight[rows].mean(axis=0)


def _text_classifier(model: Any) -> Any:
    """The classifier on embeddings inside ``model`` (itself, or the one a wrapper holds)."""
    from ffnlp.estimators import TextClassifier

    inner = getattr(model, "estimator_", model)  # ContrastClauses wraps a classifier
    if not isinstance(inner, TextClassifier):
        raise ValueError(
            f"a {type(inner).__name__} has no word embeddings (it reads lexicon features); "
            "give a classifier on embeddings or a neural LM"
        )
    if not hasattr(inner, "model_"):
        raise ValueError("the classifier is not fitted: fit it first")
    return inner


def _deep_network(classifier: Any) -> Any:
    from ffnlp.estimators.text import deep_network

    return deep_network(classifier.model_)


__all__ = ["WordVectors"]
