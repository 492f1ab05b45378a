"""Feedforward text classifier networks (the chapter's sentiment application).

A text is a bag of rows of an embedding table: its words, and the rows of any feature
objects (:mod:`ffnlp.text.row_features`: bigrams, openings, ...) after them. The models:

- :class:`DeepAveragingNetwork`: the chapter's model. Look up the embedding of each row,
  pool them (mean, component-wise max, both, or weighted by naive Bayes ratios or by
  inverse document frequency), then hidden layers and a softmax over the classes (Iyyer
  et al. 2015's deep averaging network, with their word dropout);
- :class:`NaiveBayesLinear`: a linear model of the naive-Bayes-weighted bag of rows and
  the text's naive Bayes scores (an NBSVM-like n-gram model, Wang & Manning 2012);
- :class:`ProbabilityAverage`: an ensemble of such models trained together, in one pass:
  each keeps its own loss, and the prediction averages their probabilities.

The hand-built lexicon features of the chapter are in :mod:`ffnlp.text.features`, the
scikit-learn-style estimators that train these networks from texts in
:mod:`ffnlp.estimators`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ffnlp.autograd import Tensor, no_grad, ops
from ffnlp.backend.sorting import unique
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
from ffnlp.nn import functional as F
from ffnlp.nn import init as nn_init
from ffnlp.settings import Settings, setting
from ffnlp.text.batching import length_bucketed_minibatches, minibatches

CLASSIFIER_POOLING = ("mean", "max", "mean+max", "nb", "tfidf")
CLASSIFIER_LOSSES = ("auto", "softmax", "ova")


def _checked_class_weights(weights: Any, num_classes: int) -> tuple[float, ...]:
    try:
        out = None if isinstance(weights, str) else tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        out = None
    if out is None:
        raise ValueError(f"class_weights must be numbers, one per class; got {weights!r}")
    if out:
        check_class_weights(out, num_classes)
    return out


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


def weighted_cross_entropy(
    logits: Tensor, targets: np.ndarray, class_weights: tuple[float, ...]
) -> Tensor:
    """Mean cross-entropy over the batch, each text's weighted by its class's weight
    (scikit-learn's ``class_weight``); no weights: the plain mean."""
    if not class_weights:
        return ops.cross_entropy(logits, targets)
    weights = np.asarray(class_weights, dtype=logits.dtype)[targets]
    losses = ops.cross_entropy(logits, targets, reduction="none")
    return (losses * Tensor(weights)).mean()


def classifier_loss(
    logits: Tensor, targets: np.ndarray, loss: str, class_weights: tuple[float, ...] = ()
) -> Tensor:
    """The training loss of a classifier's logits (B, C).

    ``targets``: class ids (B,), or a 0/1 matrix (B, C) of each text's labels (label sets).
    ``loss``: "softmax", the cross-entropy of the class ids (of the labels of a set, each
    a share of the text, with a matrix); "ova", one-vs-all, an independent binary logistic
    loss for each class (:func:`ffnlp.nn.functional.one_vs_all_loss`).
    """
    if loss == "ova":
        if targets.ndim == 1:  # one label a text: its one-hot row
            targets = np.eye(logits.shape[1], dtype=logits.dtype)[targets]
        return F.one_vs_all_loss(logits, targets)
    if targets.ndim == 2:
        return F.soft_cross_entropy(logits, targets)
    return weighted_cross_entropy(logits, targets, class_weights)


def probabilities(logits: np.ndarray, loss: str) -> np.ndarray:
    """Class probabilities from logits (B, C): softmax rows, or with "ova" each class's
    own sigmoid (they need not sum to 1)."""
    logits = logits.astype(np.float64)
    if loss == "ova":
        return np.exp(-np.logaddexp(0.0, -logits))  # sigmoid, in float64, never overflowing
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _resolved_loss(loss: Any) -> str:
    """A network's loss: "softmax" or "ova" ("auto" is the estimator's to resolve)."""
    return check_choice("loss", loss, ("softmax", "ova"))


# ---------------------------------------------------------------------------- deep averaging


@dataclass
class DeepAveraging(Settings):
    """The settings of a :class:`DeepAveragingNetwork` a user chooses (the sizes found in
    the data make its :class:`DeepAveragingConfig`)."""

    embed_dim: int = setting(100, "embedding size (D)", kind="int", minimum=1)
    pooling: str = setting(
        "mean",
        "how the rows' vectors combine: mean, max (component-wise), mean+max, nb (summed, "
        "weighted by naive Bayes ratios; needs nb_features) or tfidf (summed, weighted by "
        "inverse document frequency, scaled to unit length)",
        kind="choice",
        choices=CLASSIFIER_POOLING,
    )
    hidden_dims: tuple[int, ...] = setting(
        (),
        "hidden layer sizes after pooling (none: a linear model of the pooled vector, "
        "like fastText)",
        kind="ints",
        minimum=1,
        flag="hidden",
    )
    activation: str = setting(
        "relu", "hidden activation", kind="choice", choices=tuple(sorted(ACTIVATIONS))
    )
    dropout: float = setting(
        0.0,
        "dropout on the pooled vector and after each hidden layer",
        kind="probability",
    )
    word_dropout: float = setting(
        0.0,
        "drop each word with this probability during training (Iyyer et al. 2015)",
        kind="probability",
    )
    nb_features: bool = setting(
        False,
        "feed each text's naive Bayes log-count-ratio scores (Wang & Manning 2012) to the "
        "network beside the pooled vector",
        kind="bool",
    )
    pool_words_only: bool = setting(
        False,
        "pool the words' embeddings alone: the other rows (bigrams, ...) reach the network "
        "through the naive Bayes scores only (needs nb_features)",
        kind="bool",
    )
    loss: str = setting(
        "auto",
        "softmax: one distribution over the classes; ova: one-vs-all, an independent "
        "sigmoid for each class (fastText's -loss ova), for texts with several labels; "
        "auto: ova when a training text has several labels, else softmax",
        kind="choice",
        choices=CLASSIFIER_LOSSES,
    )

    def check(self) -> DeepAveraging:
        checked = super().check()
        if checked.pooling == "nb" and not checked.nb_features:
            raise ValueError(
                "pooling 'nb' weights words by their naive Bayes ratios: it needs nb_features"
            )
        if checked.pool_words_only and not checked.nb_features:
            raise ValueError(
                "pool_words_only leaves the rows after the words to the naive Bayes "
                "features: it needs nb_features"
            )
        return checked


@dataclass
class ClassifierOptions(Settings):
    """The text classifier's own settings beside its groups (``TextClassifier``'s
    parameters of the same names, whose defaults a test holds to these): declared here, so
    that the command line's flags and the estimator's checks come from one place."""

    wide: bool = setting(
        False,
        "train a naive Bayes linear model of all the rows (words, bigrams, ...) beside the "
        "network, which then pools the words alone, in the same pass, and average their "
        "probabilities (a wide-and-deep pair)",
        kind="bool",
    )
    batch_by_length: bool = setting(
        False, "batches of texts of similar length (less padding, faster steps)", kind="bool"
    )
    freeze_embeddings: bool = setting(
        False, "keep the embeddings fixed (for pretrained vectors)", kind="bool"
    )


@dataclass
class DeepAveragingConfig:
    """Hyperparameters of :class:`DeepAveragingNetwork`.

    Attributes:
        vocab_size: V, rows for words.
        num_classes: C.
        embed_dim: D.
        extra_rows: rows after the words' (those of the feature objects; 0: words only).
        pooling: "mean", "max", "mean+max"; "nb": the sum of the embeddings of a text's
            distinct rows, each weighted by the magnitude of its naive Bayes log-count
            ratio (NBSVM's feature scaling in front of learned embeddings; needs
            ``nb_features``); "tfidf": the sum of the embeddings of a text's distinct
            rows, each weighted by its inverse document frequency, the weights scaled to
            unit length (a tf-idf logistic regression's input scaling, which weighs a short
            text's words more than the mean does; set with :meth:`set_idf_table`).
        hidden_dims: hidden layer sizes after pooling (may be empty: a linear classifier
            on pooled embeddings, like fastText).
        activation: hidden activation.
        dropout: on the pooled vector and after each hidden layer.
        word_dropout: probability of dropping each token during training (Iyyer et al.).
        nb_features: K naive Bayes log-count-ratio scores fed to the MLP beside the pooled
            vector (0: none; 1 for two classes, one per class otherwise): each text's
            summed ratios of its distinct rows, a fixed table set with :meth:`set_nb_table`.
        pool_words_only: pool the embeddings of the words only; the other rows then reach
            the network through the naive Bayes scores alone, or not at all (they are then
            another model's, as in a :class:`ProbabilityAverage` with a naive Bayes one).
        class_weights: one weight (>= 0) per class for the loss (empty: all 1).
        loss: "softmax" or "ova" (one-vs-all; see :func:`classifier_loss`); files from
            before it was a setting hold none, and are softmax.
    """

    vocab_size: int
    num_classes: int
    embed_dim: int = 100
    extra_rows: int = 0
    pooling: str = "mean"
    hidden_dims: tuple[int, ...] = ()
    activation: str = "relu"
    dropout: float = 0.0
    word_dropout: float = 0.0
    nb_features: int = 0
    pool_words_only: bool = False
    class_weights: tuple[float, ...] = ()
    loss: str = "softmax"

    def __post_init__(self) -> None:
        self.loss = _resolved_loss(self.loss)
        self.hidden_dims = tuple(
            check_int(f"hidden_dims[{i}]", h, minimum=1) for i, h in enumerate(self.hidden_dims)
        )
        for name in ("vocab_size", "num_classes", "embed_dim"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes; got {self.num_classes}")
        self.extra_rows = check_int("extra_rows", self.extra_rows, minimum=0)
        self.nb_features = check_int("nb_features", self.nb_features, minimum=0)
        self.class_weights = _checked_class_weights(self.class_weights, self.num_classes)
        declared = DeepAveraging.declared()  # the rules of the settings this config shares
        for name in ("pooling", "activation", "dropout", "word_dropout"):
            setattr(self, name, declared[name].check(name, getattr(self, name)))
        if self.pooling == "nb" and not self.nb_features:
            raise ValueError(
                "pooling 'nb' weights words by their naive Bayes ratios: it needs nb_features"
            )

    @property
    def rows(self) -> int:
        """All the rows a text may hold: words and extra rows."""
        return self.vocab_size + self.extra_rows

    @property
    def pooled_rows(self) -> int:
        """Rows of the embedding table: every row, or the words' only."""
        return self.vocab_size if self.pool_words_only else self.rows


class DeepAveragingNetwork(Module):
    """Embeddings of a text's rows, pooled, then an MLP (Iyyer et al. 2015).

    ``forward((ids, mask), targets=None)``: ids (B, T) padded row ids, mask (B, T) bool;
    returns (logits (B, C), mean cross-entropy or None). The embedding table is sparse
    (only the rows a batch uses get a gradient).
    """

    def __init__(self, config: DeepAveragingConfig, rng: nn_init.RngLike = None) -> None:
        super().__init__()
        self.config = config
        rng = nn_init.as_generator(rng)
        self.embedding = Embedding(config.pooled_rows, config.embed_dim, sparse=True, rng=rng)
        # "nb" and "tfidf" are weighted sums, the weights from the fixed tables below.
        self.pool = Pooling(config.pooling if config.pooling in POOLING_MODES else "weighted")
        if config.nb_features:
            self.nb_table = Parameter(
                np.zeros((config.rows, config.nb_features), dtype=np.float32),
                requires_grad=False,
            )
        if config.pooling == "tfidf":
            self.idf = Parameter(np.ones(config.pooled_rows, dtype=np.float32), requires_grad=False)
        self.dropout = Dropout(config.dropout, rng=rng)
        self.mlp = MLP(
            [self.mlp_width(config), *config.hidden_dims, config.num_classes],
            activation=config.activation,
            dropout=config.dropout,
            rng=rng,
        )
        self.word_rng = np.random.default_rng(rng.integers(2**63))

    @staticmethod
    def mlp_width(config: DeepAveragingConfig) -> int:
        """Inputs of the MLP: the pooled vector and the naive Bayes scores."""
        return config.embed_dim * (2 if config.pooling == "mean+max" else 1) + config.nb_features

    @staticmethod
    def parameter_shapes(
        config: DeepAveragingConfig, prefix: str = ""
    ) -> dict[str, tuple[int, ...]]:
        """The name and shape of every parameter a network of ``config`` has, without
        building it (to check a file before trusting its sizes)."""
        shapes: dict[str, tuple[int, ...]] = {
            f"{prefix}embedding.weight": (config.pooled_rows, config.embed_dim)
        }
        if config.nb_features:
            shapes[f"{prefix}nb_table"] = (config.rows, config.nb_features)
        if config.pooling == "tfidf":
            shapes[f"{prefix}idf"] = (config.pooled_rows,)
        sizes = [DeepAveragingNetwork.mlp_width(config), *config.hidden_dims, config.num_classes]
        shapes.update(MLP.parameter_shapes(sizes, config.dropout, prefix=f"{prefix}mlp."))
        return shapes

    def forward(
        self, inputs: tuple[np.ndarray, np.ndarray], targets: Any = None
    ) -> tuple[Tensor, Tensor | None]:
        ids, mask = inputs  # (B, T), (B, T)
        if self.training and self.config.word_dropout > 0:
            keep = mask & (self.word_rng.random(mask.shape) >= self.config.word_dropout)
            empty = ~keep.any(axis=1)
            keep[empty] = mask[empty]  # never drop every word of a text
            mask = keep
        features = self.dropout(self.pooled((ids, mask)))  # (B, D) or (B, 2D)
        if self.config.nb_features:  # never dropped: they are few
            features = ops.concatenate(
                [features, Tensor(nb_scores(self.nb_table, ids, mask))], axis=1
            )
        logits = self.mlp(features)
        return logits, None if targets is None else self.loss(logits, targets)

    def pooled(self, inputs: tuple[np.ndarray, np.ndarray]) -> Tensor:
        """The pooled vector of each text (B, D), or (B, 2D) for "mean+max": what the MLP
        reads beside the naive Bayes scores (before dropout). ``inputs`` as for forward."""
        ids, mask = inputs
        if self.config.pool_words_only:  # the other rows have no embedding
            mask = mask & (ids < self.config.vocab_size)
            ids = np.where(mask, ids, 0)
        return self._pooled(ids, mask)

    def _pooled(self, ids: np.ndarray, mask: np.ndarray) -> Tensor:
        if self.config.pooling == "nb":  # weights |r| on a text's distinct rows
            tokens, first = distinct_tokens(ids, mask)
            weights = np.abs(self.nb_table.data[tokens]).max(axis=-1)
            return self.pool.rows(self.embedding, tokens, first, weights)
        if self.config.pooling == "tfidf":  # idf on a text's distinct rows, unit norm
            tokens, first = distinct_tokens(ids, mask)
            weights = self.idf.data[tokens] * first
            norms = np.sqrt((weights * weights).sum(axis=1, keepdims=True))
            weights /= np.maximum(norms, np.finfo(weights.dtype).tiny)
            return self.pool.rows(self.embedding, tokens, first, weights)
        return self.pool.rows(self.embedding, ids, mask)

    def loss(self, logits: Tensor, targets: np.ndarray) -> Tensor:
        return classifier_loss(logits, targets, self.config.loss, self.config.class_weights)

    def set_nb_table(self, data: TextDataset, targets: np.ndarray, alpha: float = 1.0) -> None:
        """Fill the naive Bayes table from the training texts (see :func:`nb_table`)."""
        self.nb_table.data[...] = nb_table(
            data, targets, self.config.rows, self.config.num_classes, self.config.nb_features, alpha
        )

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
        pairs = unique(doc_of[keep] * rows + data.flat[keep])  # each text's distinct rows
        df = np.bincount(pairs % rows, minlength=rows)
        self.idf.data[...] = np.log((1.0 + len(data)) / (1.0 + df)) + 1.0


# ---------------------------------------------------------------------------- naive Bayes linear


@dataclass
class NaiveBayesLinearConfig:
    """Hyperparameters of :class:`NaiveBayesLinear`.

    Attributes:
        vocab_size, num_classes, embed_dim, extra_rows: as :class:`DeepAveragingConfig`.
        nb_features: K >= 1 naive Bayes scores (1 for two classes, else one per class).
        dropout: on the pooled vector.
        class_weights: one weight per class for the loss (empty: all 1).
        loss: "softmax" or "ova", as :class:`DeepAveragingConfig`.
    """

    vocab_size: int
    num_classes: int
    embed_dim: int = 100
    extra_rows: int = 0
    nb_features: int = 1
    dropout: float = 0.0
    class_weights: tuple[float, ...] = ()
    loss: str = "softmax"

    def __post_init__(self) -> None:
        self.loss = _resolved_loss(self.loss)
        for name in ("vocab_size", "num_classes", "embed_dim", "nb_features"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=1))
        self.extra_rows = check_int("extra_rows", self.extra_rows, minimum=0)
        self.class_weights = _checked_class_weights(self.class_weights, self.num_classes)
        check_probability("dropout", self.dropout)

    @property
    def rows(self) -> int:
        return self.vocab_size + self.extra_rows


class NaiveBayesLinear(Module):
    """A linear model of a text's rows: the sum of the embeddings of its distinct rows,
    each weighted by the magnitude of its naive Bayes ratio, and its naive Bayes scores,
    straight to the classes (NBSVM's features, Wang & Manning 2012, learned end to end).

    The embeddings start at zero, as a linear model's weights do. ``dropout`` may be a
    :class:`~ffnlp.nn.Dropout` shared with another model of an ensemble, so that their
    masks come from one generator in turn.
    """

    def __init__(
        self,
        config: NaiveBayesLinearConfig,
        rng: nn_init.RngLike = None,
        dropout: Dropout | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        rng = nn_init.as_generator(rng)
        self.nb_table = Parameter(
            np.zeros((config.rows, config.nb_features), dtype=np.float32), requires_grad=False
        )
        self.dropout = dropout if dropout is not None else Dropout(config.dropout, rng=rng)
        # Zero, as a linear model's weights start (and no 100 MB random draw).
        self.embedding = Embedding(config.rows, config.embed_dim, std=0, sparse=True)
        self.pool = Pooling("weighted")
        self.output = Linear(config.embed_dim + config.nb_features, config.num_classes, rng=rng)

    @staticmethod
    def parameter_shapes(
        config: NaiveBayesLinearConfig, prefix: str = ""
    ) -> dict[str, tuple[int, ...]]:
        width = config.embed_dim + config.nb_features
        return {
            f"{prefix}nb_table": (config.rows, config.nb_features),
            f"{prefix}embedding.weight": (config.rows, config.embed_dim),
            f"{prefix}output.weight": (config.num_classes, width),
            f"{prefix}output.bias": (config.num_classes,),
        }

    def forward(
        self, inputs: tuple[np.ndarray, np.ndarray], targets: Any = None
    ) -> tuple[Tensor, Tensor | None]:
        ids, mask = inputs
        tokens, first = distinct_tokens(ids, mask)
        ratios = self.nb_table.data[tokens] * first[:, :, None]  # (B, T, K), 0 off the bag
        pooled = self.pool.rows(self.embedding, tokens, first, np.abs(ratios).max(axis=-1))
        scores = Tensor(ratios.sum(axis=1))  # the NB scores, as nb_scores()
        logits = self.output(ops.concatenate([self.dropout(pooled), scores], axis=1))
        return logits, None if targets is None else self.loss(logits, targets)

    def loss(self, logits: Tensor, targets: np.ndarray) -> Tensor:
        return classifier_loss(logits, targets, self.config.loss, self.config.class_weights)

    def set_nb_table(self, data: TextDataset, targets: np.ndarray, alpha: float = 1.0) -> None:
        self.nb_table.data[...] = nb_table(
            data, targets, self.config.rows, self.config.num_classes, self.config.nb_features, alpha
        )


# ---------------------------------------------------------------------------- ensemble


@dataclass
class ProbabilityAverageConfig:
    """What :class:`ProbabilityAverage` is: its members' kinds and configurations."""

    members: tuple[dict[str, Any], ...] = ()


class ProbabilityAverage(Module):
    """Models trained together and averaged: p(y | x) = mean over members of p_m(y | x).

    ``forward`` returns the log of the mean of the members' probabilities (log-space, so
    the logits a softmax turns back into that mean; with the "ova" loss, the logit of each
    class's mean probability, which a sigmoid turns back into it) and, with targets, the mean of the
    members' own losses: each member learns as if alone, on the same batches, in one
    pass. The average itself is not trained through (it is an ensemble, not a mixture).
    """

    def __init__(self, members: Sequence[Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an average needs at least 2 models; got {len(members)}")
        self.members = list(members)
        for i, m in enumerate(self.members):
            setattr(self, f"member{i}", m)

    @property
    def config(self) -> ProbabilityAverageConfig:
        return ProbabilityAverageConfig(
            tuple({"kind": type(m).__name__, **asdict(m.config)} for m in self.members)
        )

    def forward(
        self, inputs: tuple[np.ndarray, np.ndarray], targets: Any = None
    ) -> tuple[Tensor, Tensor | None]:
        outputs = [m(inputs, targets) for m in self.members]
        with no_grad():
            if self.members[0].config.loss == "ova":  # each class's own probability
                mean = np.mean([probabilities(z.data, "ova") for z, _ in outputs], axis=0)
                tiny = np.finfo(np.float64).tiny  # the logit of that mean, finite
                mean = np.log(np.maximum(mean, tiny)) - np.log(np.maximum(1 - mean, tiny))
            else:
                log_probs = [ops.log_softmax(logits.data, axis=1).data for logits, _ in outputs]
                mean = np.logaddexp.reduce(log_probs, axis=0) - np.log(len(log_probs))
        logits = Tensor(mean)
        if targets is None:
            return logits, None
        total = outputs[0][1]
        for _, loss in outputs[1:]:
            total = total + loss
        return logits, total * (1.0 / len(outputs))


# ---------------------------------------------------------------------------- fixed tables


def nb_scores(table: Tensor, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sum of ``table``'s rows over each text's distinct rows, (B, K)."""
    tokens, first = distinct_tokens(ids, mask)
    rows = table.data[tokens]  # (B, T, K)
    return (rows * first[:, :, None]).sum(axis=1)


def nb_table(
    docs: Sequence[np.ndarray] | TextDataset,
    targets: np.ndarray,
    rows: int,
    num_classes: int,
    k: int,
    alpha: float = 1.0,
) -> np.ndarray:
    """The naive Bayes log-count ratios of every row, (rows, k), from training texts.

    For class c, r_c = log(p / |p|_1) - log(q / |q|_1), p and q the smoothed counts of
    texts containing each row inside and outside c (k = 1: c is the second class;
    ``targets`` are class ids (N,), or a 0/1 matrix (N, C) of label sets); the
    table is scaled so the scores of the training texts have unit standard deviation.
    """
    data = docs if isinstance(docs, TextDataset) else TextDataset(docs)
    doc_of = np.repeat(np.arange(len(data)), data.lengths)
    pairs = np.sort(doc_of * rows + data.flat)
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))]  # binarized counts
    doc, token = np.divmod(pairs, rows)
    if targets.ndim == 2:  # label sets: a text counts in each of its classes
        counts = np.stack(
            [
                np.bincount(token, weights=targets[doc, c], minlength=rows)
                for c in range(num_classes)
            ]
        )
        texts_with = np.bincount(token, minlength=rows).astype(np.float64)
    else:
        counts = (
            np.bincount(targets[doc] * rows + token, minlength=num_classes * rows)
            .reshape(num_classes, rows)
            .astype(np.float64)
        )
        texts_with = counts.sum(axis=0)
    columns = [1] if k == 1 else list(range(num_classes))
    table = np.empty((rows, k))
    for j, c in enumerate(columns):
        p = counts[c] + alpha
        q = texts_with - counts[c] + alpha
        table[:, j] = np.log(p / p.sum()) - np.log(q / q.sum())
    # Each text's score sums the ratios of its distinct rows (the pairs above).
    scores = np.zeros((len(data), k))
    for j in range(k):
        scores[:, j] = np.bincount(doc, weights=table[token, j], minlength=len(data))
    scale = scores.std(axis=0)
    return table / np.where(scale > 0, scale, 1.0)


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
