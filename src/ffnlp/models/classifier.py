"""Feedforward text classifier networks (the chapter's sentiment application).

Two ways to turn a text into a vector for a feedforward network:

- *pooled embeddings*: look up a learned embedding for each word (and, optionally, each
  hashed word bigram, the fastText trick), pool them by mean, component-wise max or both,
  then hidden layers and a softmax over the classes (Iyyer et al. 2015's deep averaging
  network, with their word dropout);
- *hand-built features*: the chapter's six lexicon features (``ffnlp.text.features``).

This module holds the pooled-embedding network and its padded batches; the
scikit-learn-style estimators that train it from texts are in :mod:`ffnlp.estimators`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffnlp.autograd import Tensor, no_grad, ops
from ffnlp.checks import check_choice, check_int, check_probability
from ffnlp.nn import (
    ACTIVATIONS,
    MLP,
    POOLING_MODES,
    Dropout,
    Embedding,
    Linear,
    Module,
    Parameter,
    Pooling,
)
from ffnlp.nn import init as nn_init
from ffnlp.text.batching import length_bucketed_minibatches, minibatches

# ---------------------------------------------------------------------------- the network

CLASSIFIER_POOLING = ("mean", "max", "mean+max", "nb", "tfidf")


@dataclass
class PooledClassifierConfig:
    """Hyperparameters of :class:`PooledClassifier`.

    Attributes:
        vocab_size: rows for words (plus ``buckets`` more rows: bigrams, hashed or one per
            bigram kept, and text openings; see :class:`ffnlp.estimators.TextClassifier`).
        num_classes: C.
        embed_dim: D.
        pooling: "mean", "max", "mean+max", or "nb": the sum of the embeddings of a text's
            distinct words (and bigrams), each weighted by the magnitude of its naive Bayes
            log-count ratio — NBSVM's feature scaling (Wang & Manning 2012) in front of
            learned embeddings; needs ``nb_features``. "tfidf": the sum of the embeddings of a
            text's distinct words (and bigrams), each weighted by its inverse document
            frequency, the weights scaled to unit Euclidean length: the input scaling of a
            tf-idf logistic regression, which weighs a short text's words more than the mean
            does (a table set from the training data with
            :meth:`PooledClassifier.set_idf_table`).
        hidden_dims: hidden layer sizes after pooling (may be empty: a linear classifier
            on pooled embeddings, like fastText).
        activation: hidden activation.
        dropout: on the pooled vector and after each hidden layer.
        word_dropout: probability of dropping each token during training (Iyyer et al.).
        buckets: rows after the words' (0: words only).
        nb_features: number of naive Bayes log-count-ratio features (0: none; 1 for two
            classes, one per class otherwise): each text's summed log-count ratios of its
            distinct words and bigrams (Wang & Manning 2012), a fixed table set from the
            training data with :meth:`PooledClassifier.set_nb_table`.
        pool_words_only: pool the embeddings of the words only (rows below
            ``vocab_size``); the other rows (bigrams, openings) then feed the naive Bayes
            features alone, a linear bigram model beside the deep averaging network of the
            words (a wide-and-deep pair); needs ``nb_features``.
        wide: train a second, linear tower beside the network: the "nb" pooling of all a
            text's rows (words, bigrams, openings) and the naive Bayes features, straight
            to the classes (an NBSVM-like bigram model). The network then pools the words
            only and gets no NB features. Each tower has its own cross-entropy (the loss is
            their mean) and the prediction averages the two towers' probabilities: an
            ensemble of a deep averaging network and a linear n-gram model, trained in one
            pass over the data. The tower's pooled vector gets the same ``dropout``. The
            loss logged for held-out data is that of the averaged probabilities, so it is
            not the training loss's mean of two. Needs ``nb_features``.
        class_weights: one weight (>= 0) per class for the training loss (empty: all 1):
            each text's cross-entropy is multiplied by its class's weight before the batch
            mean, scikit-learn's ``class_weight``. Weights n / (C * n_c) make every class count
            as much as any other, whatever share of the training data it has.
    """

    vocab_size: int
    num_classes: int
    embed_dim: int = 100
    pooling: str = "mean"
    hidden_dims: tuple[int, ...] = ()
    activation: str = "relu"
    dropout: float = 0.0
    word_dropout: float = 0.0
    buckets: int = 0
    nb_features: int = 0
    pool_words_only: bool = False
    wide: bool = False
    class_weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self.hidden_dims = tuple(
            check_int(f"hidden_dims[{i}]", h, minimum=1) for i, h in enumerate(self.hidden_dims)
        )
        try:
            weights = (
                None
                if isinstance(self.class_weights, str)
                else tuple(float(w) for w in self.class_weights)
            )
        except (TypeError, ValueError):
            weights = None
        if weights is None:
            raise ValueError(
                f"class_weights must be numbers, one per class; got {self.class_weights!r}"
            )
        self.class_weights = weights
        for name in ("vocab_size", "num_classes", "embed_dim"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes; got {self.num_classes}")
        check_choice("pooling", self.pooling, CLASSIFIER_POOLING)
        if self.pooling == "nb" and not self.nb_features:
            raise ValueError(
                "pooling 'nb' weights words by their naive Bayes ratios: it needs nb_features"
            )
        if self.pool_words_only and not self.nb_features:
            raise ValueError(
                "pool_words_only leaves the rows after the words to the naive Bayes "
                "features: it needs nb_features"
            )
        if self.wide and not self.nb_features:
            raise ValueError(
                "wide=True weighs rows by their naive Bayes ratios: it needs nb_features "
                f"(set nb_features=True); got nb_features={self.nb_features!r}"
            )
        if self.wide and self.pooling == "nb":
            raise ValueError(
                "with wide=True the network pools the words alone and the wide tower has the "
                "'nb' pooling: choose the network's pooling from mean, max, mean+max or "
                f"tfidf; got pooling={self.pooling!r}"
            )
        if self.class_weights:
            check_class_weights(self.class_weights, self.num_classes)
        check_choice("activation", self.activation, sorted(ACTIVATIONS))
        check_probability("dropout", self.dropout)
        check_probability("word_dropout", self.word_dropout)
        self.buckets = check_int("buckets", self.buckets, minimum=0)
        self.nb_features = check_int("nb_features", self.nb_features, minimum=0)


def check_class_weights(weights: Sequence[float], num_classes: int) -> None:
    """Refuse class weights that are not one finite number >= 0 per class, not all 0."""
    if (
        len(weights) != num_classes
        or not all(np.isfinite(w) and w >= 0 for w in weights)
        or not any(w > 0 for w in weights)
    ):
        raise ValueError(
            f"class_weights must be {num_classes} numbers >= 0, one per class, not all 0; "
            f"got {tuple(weights)}"
        )


class PooledClassifier(Module):
    """Embeddings of the words (and hashed bigrams) of a text, pooled, then an MLP.

    ``forward((ids, mask), targets=None)``: ids (B, T) padded token ids, mask (B, T) bool;
    returns (logits (B, C), mean cross-entropy or None). The embedding table is sparse
    (only the rows a batch uses get a gradient).
    """

    def __init__(self, config: PooledClassifierConfig, rng: nn_init.RngLike = None) -> None:
        super().__init__()
        self.config = config
        rng = nn_init.as_generator(rng)
        self.embedding = Embedding(
            self.embedding_rows(config), config.embed_dim, sparse=True, rng=rng
        )
        self.pool = Pooling(config.pooling) if config.pooling in POOLING_MODES else None
        width = self.network_width(config)
        if config.nb_features:
            rows = config.vocab_size + config.buckets
            self.nb_table = Parameter(
                np.zeros((rows, config.nb_features), dtype=np.float32), requires_grad=False
            )
        if config.pooling == "tfidf":
            self.idf = Parameter(
                np.ones(self.embedding_rows(config), dtype=np.float32), requires_grad=False
            )
        self.dropout = Dropout(config.dropout, rng=rng)
        self.mlp = MLP(
            [width, *config.hidden_dims, config.num_classes],
            activation=config.activation,
            dropout=config.dropout,
            rng=rng,
        )
        self.word_rng = np.random.default_rng(rng.integers(2**63))
        if config.wide:
            rows = config.vocab_size + config.buckets
            # Zero, as a linear model's weights start (and no 100 MB random draw).
            self.wide_embedding = Embedding(rows, config.embed_dim, std=0, sparse=True)
            self.wide_output = Linear(
                config.embed_dim + config.nb_features, config.num_classes, rng=rng
            )

    @staticmethod
    def parameter_shapes(config: PooledClassifierConfig) -> dict[str, tuple[int, ...]]:
        """The name and shape of every parameter a network of ``config`` has, without
        building it (to check a file before trusting its sizes)."""
        rows = config.vocab_size + config.buckets
        width = PooledClassifier.network_width(config)
        shapes: dict[str, tuple[int, ...]] = {
            "embedding.weight": (PooledClassifier.embedding_rows(config), config.embed_dim)
        }
        if config.nb_features:
            shapes["nb_table"] = (rows, config.nb_features)
        if config.pooling == "tfidf":
            shapes["idf"] = (PooledClassifier.embedding_rows(config),)
        sizes = [width, *config.hidden_dims, config.num_classes]
        shapes.update(MLP.parameter_shapes(sizes, config.dropout, prefix="mlp."))
        if config.wide:
            shapes["wide_embedding.weight"] = (rows, config.embed_dim)
            shapes["wide_output.weight"] = (
                config.num_classes,
                config.embed_dim + config.nb_features,
            )
            shapes["wide_output.bias"] = (config.num_classes,)
        return shapes

    @staticmethod
    def network_width(config: PooledClassifierConfig) -> int:
        """Inputs of the MLP: the pooled vector, and the NB features unless the wide tower
        has them."""
        pooled = config.embed_dim * (2 if config.pooling == "mean+max" else 1)
        return pooled + (0 if config.wide else config.nb_features)

    @staticmethod
    def embedding_rows(config: PooledClassifierConfig) -> int:
        """Rows of the embedding table: one per word, and one per bigram or opening
        unless only the words are pooled (``pool_words_only``, or beside a ``wide`` tower)."""
        words_only = config.pool_words_only or config.wide
        return config.vocab_size + (0 if words_only else config.buckets)

    def forward(
        self, inputs: tuple[np.ndarray, np.ndarray], targets: Any = None
    ) -> tuple[Tensor, Tensor | None]:
        ids, mask = inputs
        all_mask = mask
        if self.training and self.config.word_dropout > 0:
            keep = mask & (self.word_rng.random(mask.shape) >= self.config.word_dropout)
            empty = ~keep.any(axis=1)
            keep[empty] = mask[empty]  # never drop every word of a text
            mask = keep
        pool_ids, pool_mask = ids, mask
        if self.config.pool_words_only or self.config.wide:  # other rows have no embedding
            pool_mask = mask & (ids < self.config.vocab_size)
            pool_ids = np.where(pool_mask, ids, 0)
        if self.config.pooling == "mean":  # fused: no (B, T, D) tensor in either direction
            weights = pool_mask / np.maximum(pool_mask.sum(axis=1, keepdims=True), 1)
            pooled = ops.embedding_bag(self.embedding.weight, pool_ids, weights, sparse=True)
        elif self.config.pooling == "nb":  # fused too; weights |r| on distinct tokens
            tokens, first = distinct_tokens(pool_ids, pool_mask)
            weights = np.abs(self.nb_table.data[tokens]).max(axis=-1) * first
            pooled = ops.embedding_bag(self.embedding.weight, tokens, weights, sparse=True)
        elif self.config.pooling == "tfidf":  # fused too; idf on distinct tokens, unit norm
            tokens, first = distinct_tokens(pool_ids, pool_mask)
            weights = self.idf.data[tokens] * first
            norms = np.sqrt((weights * weights).sum(axis=1, keepdims=True))
            weights /= np.maximum(norms, np.finfo(weights.dtype).tiny)
            pooled = ops.embedding_bag(self.embedding.weight, tokens, weights, sparse=True)
        else:
            pooled = self.pool(self.embedding(pool_ids), pool_mask)  # (B, D) or (B, 2D)
        features = self.dropout(pooled)
        if self.config.nb_features and not self.config.wide:  # never dropped: they are few
            features = ops.concatenate([features, Tensor(self.nb_scores(ids, mask))], axis=1)
        logits = self.mlp(features)
        if self.config.wide:
            return self._with_wide_tower(logits, ids, all_mask, targets)
        return logits, None if targets is None else self.loss(logits, targets)

    def loss(self, logits: Tensor, targets: np.ndarray) -> Tensor:
        """Mean cross-entropy over the batch, each text's weighted by its class's weight.

        The weights are ``config.class_weights`` (none: the plain mean)."""
        if not self.config.class_weights:
            return ops.cross_entropy(logits, targets)
        weights = np.asarray(self.config.class_weights, dtype=logits.dtype)[targets]
        losses = ops.cross_entropy(logits, targets, reduction="none")
        return (losses * Tensor(weights)).mean()

    def _with_wide_tower(
        self, deep: Tensor, ids: np.ndarray, mask: np.ndarray, targets: Any
    ) -> tuple[Tensor, Tensor | None]:
        """The linear tower over all the rows (no word dropout: it is the dropout of a
        deep network); returns log of the mean of the towers' probabilities, and the mean
        of their cross-entropies."""
        tokens, first = distinct_tokens(ids, mask)
        ratios = self.nb_table.data[tokens] * first[:, :, None]  # (B, T, K), 0 off the bag
        weights = np.abs(ratios).max(axis=-1)
        pooled = ops.embedding_bag(self.wide_embedding.weight, tokens, weights, sparse=True)
        scores = Tensor(ratios.sum(axis=1))  # the NB scores, as nb_scores(ids, mask)
        wide = self.wide_output(ops.concatenate([self.dropout(pooled), scores], axis=1))
        with no_grad():
            both = np.logaddexp(
                ops.log_softmax(deep.data, axis=1).data, ops.log_softmax(wide.data, axis=1).data
            )
        logits = Tensor(both - np.log(2.0))
        if targets is None:
            return logits, None
        loss = (self.loss(deep, targets) + self.loss(wide, targets)) * 0.5
        return logits, loss

    def nb_scores(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Sum of the table's rows over each text's distinct tokens, (B, nb_features)."""
        tokens, first = distinct_tokens(ids, mask)
        rows = self.nb_table.data[tokens]  # (B, T, K)
        return (rows * first[:, :, None]).sum(axis=1)

    def set_idf_table(self, docs: Sequence[np.ndarray] | TextDataset) -> None:
        """Fill the inverse document frequencies of the "tfidf" pooling from the training
        texts (token id arrays, or a :class:`TextDataset`): idf = ln((1 + N) / (1 + df)) + 1
        for a row that df of the N texts contain (scikit-learn's smoothed idf; a row no
        text contains gets the largest value, as an unseen word would)."""
        if self.config.pooling != "tfidf":
            raise ValueError(
                f"the idf table belongs to pooling 'tfidf', not {self.config.pooling!r}"
            )
        data = docs if isinstance(docs, TextDataset) else TextDataset(docs)
        rows = len(self.idf.data)
        doc_of = np.repeat(np.arange(len(data)), data.lengths)
        keep = data.flat < rows  # with pool_words_only, only the words have weights
        pairs = np.unique(doc_of[keep] * rows + data.flat[keep])  # each text's distinct rows
        df = np.bincount(pairs % rows, minlength=rows)
        self.idf.data[...] = np.log((1.0 + len(data)) / (1.0 + df)) + 1.0

    def set_nb_table(
        self, docs: Sequence[np.ndarray] | TextDataset, targets: np.ndarray, alpha: float = 1.0
    ) -> None:
        """Fill the naive Bayes table from training texts (token id arrays, or a
        :class:`TextDataset`) and class ids.

        For class c, r_c = log(p / |p|_1) - log(q / |q|_1), p and q the smoothed counts of
        texts containing each token inside and outside c; the table is scaled so the
        features of the training texts have unit standard deviation.
        """
        k = self.config.nb_features
        rows = self.config.vocab_size + self.config.buckets
        data = docs if isinstance(docs, TextDataset) else TextDataset(docs)
        doc_of = np.repeat(np.arange(len(data)), data.lengths)
        pairs = np.sort(doc_of * rows + data.flat)
        pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]  # binarized counts
        doc, token = np.divmod(pairs, rows)
        classes = self.config.num_classes
        counts = (
            np.bincount(targets[doc] * rows + token, minlength=classes * rows)
            .reshape(classes, rows)
            .astype(np.float64)
        )
        columns = [1] if k == 1 else list(range(classes))
        table = np.empty((rows, k))
        for j, c in enumerate(columns):
            p = counts[c] + alpha
            q = counts.sum(axis=0) - counts[c] + alpha
            table[:, j] = np.log(p / p.sum()) - np.log(q / q.sum())
        # Each text's score sums the ratios of its distinct tokens (the pairs above).
        scores = np.zeros((len(data), k))
        for j in range(k):
            scores[:, j] = np.bincount(doc, weights=table[token, j], minlength=len(data))
        scale = scores.std(axis=0)
        self.nb_table.data[...] = table / np.where(scale > 0, scale, 1.0)


def distinct_tokens(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's token ids sorted, and a mask marking the first occurrence of each real
    token: the binarized bag of words that naive Bayes features count."""
    order = np.sort(np.where(mask, ids, -1), axis=1)
    first = np.ones_like(mask)
    first[:, 1:] = order[:, 1:] != order[:, :-1]
    return np.maximum(order, 0), first & (order >= 0)


class TextDataset:
    """Variable-length token id sequences, padded per batch, with their class ids.

    With ``by_length`` the training batches hold texts of similar length
    (:func:`ffnlp.text.batching.length_bucketed_minibatches`): less padding, faster steps.
    """

    def __init__(
        self,
        docs: Sequence[np.ndarray],
        targets: np.ndarray | None = None,
        by_length: bool = False,
    ) -> None:
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        self.starts = np.concatenate(([0], np.cumsum(lengths)))
        self.flat = (
            np.concatenate([np.asarray(d, dtype=np.int64) for d in docs])
            if len(docs)
            else np.zeros(0, np.int64)
        )
        self.lengths = lengths
        self.targets = targets if targets is not None else np.zeros(len(docs), dtype=np.int64)
        self.by_length = by_length

    @classmethod
    def from_ragged(
        cls,
        rows: np.ndarray,
        starts: np.ndarray,
        targets: np.ndarray | None = None,
        by_length: bool = False,
    ) -> TextDataset:
        """The texts of one ragged array: text k is ``rows[starts[k]:starts[k + 1]]``."""
        data = cls.__new__(cls)
        data.flat = np.asarray(rows, dtype=np.int64)
        data.starts = np.asarray(starts, dtype=np.int64)
        data.lengths = np.diff(data.starts)
        n = len(data.lengths)
        data.targets = targets if targets is not None else np.zeros(n, dtype=np.int64)
        data.by_length = by_length
        return data

    def batch_order(
        self, n: int, batch_size: int, rng: np.random.Generator
    ) -> Iterator[np.ndarray]:
        """The training loop's batches of one epoch (see the class docstring)."""
        if self.by_length:
            return length_bucketed_minibatches(self.lengths[:n], batch_size, rng)
        return minibatches(n, batch_size, rng)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, indices: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        lengths = self.lengths[indices]
        width = max(int(lengths.max()), 1) if len(indices) else 1
        positions = np.arange(width)
        mask = positions[None, :] < lengths[:, None]
        where = np.where(mask, self.starts[indices][:, None] + positions[None, :], 0)
        ids = (
            self.flat[np.minimum(where, max(len(self.flat) - 1, 0))]
            if len(self.flat)
            else np.zeros_like(where)
        )
        return (np.where(mask, ids, 0), mask), self.targets[indices]
