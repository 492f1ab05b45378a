"""The text classifier on pooled embeddings, as a scikit-learn estimator: texts to rows
(words and feature objects), a deep averaging network over them (alone, or averaged
with a naive Bayes linear model), trained by :func:`ffnlp.train.fit`."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.autograd import no_grad
from ffnlp.checks import check_bool, check_choice, check_real
from ffnlp.estimators.base import (
    LAYOUT,
    ClassifierBase,
    EstimatorBase,
    TextPredictions,
    check_early_stopping,
    check_fitted,
    classes_of,
    held_out_metrics,
    held_out_targets,
    labels_of,
    read_classes,
    softmax_rows,
    texts_of,
    tokens_of,
    train_config,
)
from ffnlp.models.classifier import (
    CLASSIFIER_POOLING,
    DeepAveragingConfig,
    DeepAveragingNetwork,
    NaiveBayesLinear,
    NaiveBayesLinearConfig,
    ProbabilityAverage,
    TextDataset,
    check_class_weights,
)
from ffnlp.nn import Module
from ffnlp.nn import init as nn_init
from ffnlp.text.row_features import (
    RowFeature,
    TextRows,
    check_features,
    feature_from_dict,
    feature_to_dict,
)
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import Vocab
from ffnlp.train import fit


class TextClassifier(TextPredictions, ClassifierBase, EstimatorBase):
    """A feedforward text classifier trained on raw texts: each text a bag of rows (its
    words, then the rows of each feature object), a deep averaging network over them
    (:class:`~ffnlp.models.classifier.DeepAveragingNetwork`), and with ``wide`` a naive
    Bayes linear model trained beside it and averaged with it.

    Args:
        features: feature objects adding rows beyond the words
            (:mod:`ffnlp.text.row_features`: ``Bigrams()``, ``Openings(3)``,
            ``OpeningPairs(4)``, ``WordShapes()``); each is fitted on a copy, on the
            training texts.
        embed_dim, pooling, hidden_dims, activation, dropout, word_dropout: the network (see
            :class:`~ffnlp.models.classifier.DeepAveragingConfig`).
        nb_features: feed each text's naive Bayes log-count-ratio scores over its rows to
            the network beside the pooled vector (Wang & Manning 2012); needed by
            ``pooling="nb"``.
        pool_words_only: pool the words' embeddings alone; the other rows then reach the
            network through the naive Bayes scores only (needs ``nb_features``).
        wide: train a naive Bayes linear model of all the rows
            (:class:`~ffnlp.models.classifier.NaiveBayesLinear`) beside the network, in the
            same pass, and average their probabilities; the network then pools the words
            alone (a wide-and-deep pair).
        min_count, max_vocab: the vocabulary (rarer words become ``<unk>``); feature
            tables keep what training saw ``min_count`` times.
        unknown_words: how a word outside the vocabulary is read: "unk", as ``<unk>``, or
            "prefix", as the most frequent known word sharing its longest beginning, when
            that covers all but its last 3 characters and at least 5 ("embarrassing" as
            "embarrassed"; :class:`ffnlp.text.vocab.PrefixBackoff`), else as ``<unk>``.
        tokenizer, lowercase: how texts become words ("whitespace", "regex", "char").
        pretrained: optional (vectors, found) from :func:`ffnlp.text.vectors.load_vectors`
            over ``vocab_``, or a path to a word2vec/GloVe text file. Words the vectors lack
            start from N(0, std of the pretrained rows), as in the language model
            (:func:`ffnlp.text.vectors.fill_missing`).
        freeze_embeddings: keep pretrained embeddings fixed.
        epochs, batch_size, lr, optimizer, weight_decay: training.
        batch_by_length: batches of texts of similar length (less padding, faster steps).
        lr_schedule: how the learning rate changes: "constant" (it never does), "plateau"
            (multiplied by ``lr_decay`` after every epoch whose held-out loss is no better
            than the best so far; needs an ``eval_set``, whose best epoch's weights are then
            the ones kept) or "linear" (it falls linearly to 0 over all the steps, fastText's
            schedule). The same three as ``ffnlp lm train``'s.
        lr_decay: the factor of the "plateau" schedule (0.5 halves the rate).
        class_weight: None (every text counts alike), "balanced" (each class's texts
            weighted n / (C * n_c) in the loss, so every class counts as much as any
            other), or a dict label -> weight >= 0 (1 for labels it leaves out), as in
            scikit-learn.
        lazy: Adam updates only the embedding rows a batch used (and their moments).
        random_state: one seed for everything random.
        verbose: show training progress.

    >>> clf = TextClassifier(embed_dim=8, epochs=30, lr=0.05)
    >>> texts = ["a great film", "a dull film", "great fun", "dull and flat"] * 5
    >>> clf.fit(texts, ["pos", "neg", "pos", "neg"] * 5).predict(["great fun", "dull"]).tolist()
    ['pos', 'neg']
    """

    def __init__(
        self,
        features: Sequence[RowFeature] = (),
        embed_dim: int = 100,
        pooling: str = "mean",
        hidden_dims: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        nb_features: bool = False,
        pool_words_only: bool = False,
        wide: bool = False,
        min_count: int = 1,
        max_vocab: int | None = None,
        unknown_words: str = "unk",
        tokenizer: str = "whitespace",
        lowercase: bool = False,
        pretrained: Any = None,
        freeze_embeddings: bool = False,
        epochs: int = 10,
        batch_size: int = 32,
        batch_by_length: bool = False,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        lr_decay: float = 0.5,
        class_weight: str | dict[Any, float] | None = None,
        lazy: bool = True,
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.features = features
        self.embed_dim = embed_dim
        self.pooling = pooling
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.nb_features = nb_features
        self.pool_words_only = pool_words_only
        self.wide = wide
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.unknown_words = unknown_words
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.pretrained = pretrained
        self.freeze_embeddings = freeze_embeddings
        self.epochs = epochs
        self.batch_size = batch_size
        self.batch_by_length = batch_by_length
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.class_weight = class_weight
        self.lazy = lazy
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> list[RowFeature]:
        """Refuse settings that cannot work, before anything is built; returns fresh
        copies of the feature objects (the ones given are never fitted)."""
        check_choice("unknown_words", self.unknown_words, ("unk", "prefix"))
        check_choice("pooling", self.pooling, CLASSIFIER_POOLING)
        for name in ("nb_features", "pool_words_only", "wide", "batch_by_length"):
            check_bool(name, getattr(self, name))
        if self.pooling == "nb" and not self.nb_features:
            raise ValueError(
                "pooling 'nb' weights words by their naive Bayes ratios: it needs nb_features"
            )
        if self.pool_words_only and not self.nb_features:
            raise ValueError(
                "pool_words_only leaves the rows after the words to the naive Bayes "
                "features: it needs nb_features"
            )
        return [copy.deepcopy(f) for f in check_features(self.features)]

    def _class_weights(self, classes: np.ndarray, targets: np.ndarray) -> tuple[float, ...]:
        """The loss's weight of each class, in ``classes`` order (empty: all 1)."""
        weight = self.class_weight
        if weight is None or (isinstance(weight, dict) and not weight):
            return ()
        if isinstance(weight, str) and weight == "balanced":
            counts = np.bincount(targets, minlength=len(classes))
            return tuple(float(w) for w in len(targets) / (len(counts) * counts))
        if not isinstance(weight, dict):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict label -> weight; got {weight!r}"
            )
        labels = classes.tolist()
        found: dict[int, float] = {}
        for key, value in weight.items():
            check_real(f"class_weight[{key!r}]", value, minimum=0)
            # A label as given, or as a model file writes it (JSON keys are strings).
            match = [i for i, label in enumerate(labels) if key == label] or [
                i for i, label in enumerate(labels) if str(key) == str(label)
            ]
            if not match:
                raise ValueError(
                    f"class_weight names a label the training data does not have: {key!r}; "
                    f"its labels are {labels}"
                )
            if match[0] in found:
                raise ValueError(f"class_weight gives label {labels[match[0]]!r} two weights")
            found[match[0]] = float(value)
        weights = tuple(found.get(i, 1.0) for i in range(len(labels)))
        check_class_weights(weights, len(labels))
        return weights

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None = None,
        log_path: str | Path | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int | str | None = None,
        resume: bool = False,
        early_stopping: int | None = None,
    ) -> TextClassifier:
        """Train on texts ``X`` and their labels ``y``; returns self.

        Every setting is checked and the whole model built before training starts, and
        nothing is set on the estimator until training ends: a refused fit leaves it as
        it was (fitted to its old data, or not at all).

        Args:
            X, y: the texts and one label per text.
            eval_set: optional held-out (texts, labels) whose loss and accuracy are measured
                after every epoch (for the log); alone, it does not change the training.
            log_path: append one JSON line per epoch (and every 100 steps) to this file,
                the training curves of ``ffnlp plot``.
            checkpoint, checkpoint_every, resume: crash-safe checkpoints and exact resume
                (see :func:`ffnlp.train.fit`); a resumed fit ends with the same weights,
                bit for bit, as one that was never interrupted.
            early_stopping: with ``eval_set``, its loss judges every epoch: the best epoch's
                weights are kept, and training stops after this many epochs without
                improvement (0: never early). None: the held-out set is only measured.
                ``history_`` then says what happened (:class:`ffnlp.train.History`).
        """
        early_stopping = check_early_stopping(early_stopping, eval_set)
        texts = texts_of(X)
        y = labels_of(y, len(texts))
        features = self._check_params()
        classes, targets = classes_of(y)
        class_weights = self._class_weights(classes, targets)
        tokenizer = Tokenizer(self.tokenizer, self.lowercase)
        tokens = tokens_of(tokenizer, texts)
        eval_tokens = None
        if eval_set is not None:  # refused now, not after the first epoch
            try:
                eval_tokens = tokens_of(tokenizer, texts_of(eval_set[0]))
            except (TypeError, ValueError) as err:
                raise type(err)(f"eval_set: {err}") from None
        vocab = Vocab.build(tokens, min_count=self.min_count, max_size=self.max_vocab)
        encoder = TextRows(vocab, features, self.unknown_words)
        every_word_kept = self.min_count <= 1 and self.max_vocab is None
        data = TextDataset.from_ragged(
            *encoder.fit_rows(tokens, self.min_count, every_word_kept),
            targets.astype(np.int64),
            by_length=bool(self.batch_by_length),
        )
        seed = self.random_state if self.random_state is not None else 0
        model = self._network(len(vocab), encoder.extra_rows, len(classes), class_weights, seed)
        _load_pretrained(self, deep_network(model), vocab, seed)
        for member in _members(model):
            if member.config.nb_features:
                member.set_nb_table(data, data.targets)
            if getattr(member.config, "pooling", None) == "tfidf":
                member.set_idf_table(data)
        fitted = _Fitted(classes, tokenizer, encoder, model)
        training = train_config(self, self.verbose, eval_set is not None, early_stopping)
        valid = None
        # the held-out loss steers the rate, or judges the epochs
        if training.lr_schedule == "plateau" or early_stopping is not None:
            valid = TextDataset.from_ragged(
                *encoder.rows(eval_tokens),
                held_out_targets(classes, eval_set[1]),
            )
        history = fit(
            model,
            data,
            valid,
            training,
            log_path=log_path,
            unit="texts",
            epoch_metrics=held_out_metrics(fitted.predict_proba, classes, eval_set),
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
        )
        self._set_fitted(fitted)
        self.history_ = history
        return self

    def _network(
        self,
        vocab_size: int,
        extra_rows: int,
        num_classes: int,
        class_weights: tuple[float, ...],
        seed: int,
    ) -> Module:
        nb = 1 if num_classes == 2 else num_classes  # one score, or one per class
        config = DeepAveragingConfig(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embed_dim=self.embed_dim,
            extra_rows=extra_rows,
            pooling=self.pooling,
            hidden_dims=tuple(self.hidden_dims),
            activation=self.activation,
            dropout=self.dropout,
            word_dropout=self.word_dropout,
            nb_features=nb if self.nb_features else 0,
            pool_words_only=bool(self.pool_words_only or self.wide),
            class_weights=class_weights,
        )
        rng = nn_init.as_generator(seed)  # one generator, drawn from in turn by each part
        network = DeepAveragingNetwork(config, rng=rng)
        if not self.wide:
            return network
        linear = NaiveBayesLinearConfig(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embed_dim=self.embed_dim,
            extra_rows=extra_rows,
            nb_features=nb,
            dropout=self.dropout,
            class_weights=class_weights,
        )
        return ProbabilityAverage(
            [network, NaiveBayesLinear(linear, rng=rng, dropout=network.dropout)]
        )

    def _set_fitted(self, fitted: _Fitted) -> None:
        self.classes_ = fitted.classes
        self.tokenizer_ = fitted.tokenizer
        self.vocab_ = fitted.encoder.vocab
        self.features_ = fitted.encoder.features
        self.model_ = fitted.model
        self._fitted = fitted

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities of texts ``X``, (n_texts, n_classes) in ``classes_`` order."""
        check_fitted(self)
        return self._fitted.predict_proba(X, batch_size)

    def proba_of_tokens(
        self, tokens: Sequence[Sequence[str]], batch_size: int = 1024
    ) -> np.ndarray:
        """:meth:`predict_proba` of texts already tokenized (by ``tokenizer_``)."""
        check_fitted(self)
        return self._fitted.proba_of_tokens(tokens, batch_size)

    def to_archive(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What :meth:`save` writes: (meta, arrays)."""
        check_fitted(self)
        params = {k: v for k, v in self.get_params().items() if k != "pretrained"}
        params["hidden_dims"] = list(params["hidden_dims"])
        params["features"] = [feature_to_dict(f) for f in self.features_]
        trained = _members(self.model_)[0].config.class_weights
        if isinstance(params["class_weight"], dict):  # every label's weight, as trained
            labels = [str(c) for c in self.classes_.tolist()]
            params["class_weight"] = dict(zip(labels, trained)) if trained else None
        features, arrays = [], dict(self.model_.state_dict())
        for i, feature in enumerate(self.features_):
            meta, tables = feature.state()
            features.append(meta)
            arrays.update({f"features.{i}.{k}": v for k, v in tables.items()})
        meta = {
            "estimator": type(self).__name__,
            "layout": LAYOUT,
            "params": params,
            "classes": [str(c) for c in self.classes_],
            "label_type": self.classes_.dtype.kind,
            "vocab": self.vocab_.to_dict(),
            "network": [
                {"kind": type(m).__name__, "config": asdict(m.config)}
                for m in _members(self.model_)
            ],
            "features": features,
        }
        return meta, arrays

    @classmethod
    def from_archive(
        cls, path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> TextClassifier:
        """The classifier a layout-2 file describes; checks sizes before trusting them."""
        params = dict(meta["params"])
        params["features"] = [feature_from_dict(f) for f in params["features"]]
        params["hidden_dims"] = tuple(params["hidden_dims"])
        est = cls(**params)
        classes = read_classes(meta)
        if isinstance(est.class_weight, dict) and classes.dtype.kind in "iu":
            est.class_weight = {int(k): v for k, v in est.class_weight.items()}
        vocab = Vocab.from_dict(meta["vocab"])
        features = [copy.deepcopy(f) for f in est.features]
        arrays = dict(arrays)
        for i, (feature, state) in enumerate(zip(features, meta["features"], strict=True)):
            prefix = f"features.{i}."
            tables = {k[len(prefix) :]: arrays.pop(k) for k in list(arrays) if k.startswith(prefix)}
            try:
                feature.load_state(state, tables)
            except ValueError as err:
                raise ValueError(f"{str(path)!r}: {err}") from None
        encoder = TextRows(vocab, features, est.unknown_words)
        model = _network_from(path, meta["network"], arrays)
        for config in (m.config for m in _members(model)):
            if config.vocab_size != len(vocab) or config.num_classes != len(classes):
                raise ValueError(
                    f"{str(path)!r}: the configuration does not match the vocabulary "
                    f"({len(vocab)} words) and labels ({len(classes)})"
                )
            if encoder.extra_rows != config.extra_rows:
                raise ValueError(
                    f"{str(path)!r}: the feature tables make {encoder.extra_rows} rows, the "
                    f"configuration {config.extra_rows}"
                )
        est._set_fitted(_Fitted(classes, Tokenizer(est.tokenizer, est.lowercase), encoder, model))
        return est


class _Fitted:
    """What fitting learns, in one place: the predictions a fit's log measures during
    training come from it before the estimator is touched."""

    def __init__(
        self, classes: np.ndarray, tokenizer: Tokenizer, encoder: TextRows, model: Module
    ) -> None:
        self.classes, self.tokenizer, self.encoder, self.model = classes, tokenizer, encoder, model

    def predict_proba(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        return self.proba_of_tokens(tokens_of(self.tokenizer, texts_of(X)), batch_size)

    def proba_of_tokens(self, tokens: Sequence[Sequence[str]], batch_size: int) -> np.ndarray:
        data = TextDataset.from_ragged(*self.encoder.rows(tokens))
        self.model.eval()
        out = np.empty((len(data), len(self.classes)))
        with no_grad():
            for start in range(0, len(data), batch_size):
                idx = np.arange(start, min(start + batch_size, len(data)))
                logits, _ = self.model(data.batch(idx)[0])
                out[start : start + len(idx)] = softmax_rows(logits.data.astype(np.float64))
        return out


def _members(model: Module) -> list[Module]:
    return list(model.members) if isinstance(model, ProbabilityAverage) else [model]


def deep_network(model: Module) -> DeepAveragingNetwork:
    """The deep averaging network of a classifier's model (alone, or in an average)."""
    return next(m for m in _members(model) if isinstance(m, DeepAveragingNetwork))


def _load_pretrained(
    est: TextClassifier, network: DeepAveragingNetwork, vocab: Vocab, seed: int
) -> None:
    if est.pretrained is None:
        return
    from ffnlp.text.vectors import fill_missing, load_vectors

    if isinstance(est.pretrained, (str, Path)):
        vectors, found = load_vectors(est.pretrained, vocab, lowercase=est.lowercase)
    else:
        vectors, found = est.pretrained
    if vectors.shape != (len(vocab), est.embed_dim):
        raise ValueError(
            f"pretrained vectors have shape {vectors.shape}; expected ({len(vocab)}, {est.embed_dim})"
        )
    weight = network.embedding.weight
    # The words (the first rows); the rows of bigrams and other features keep their init.
    weight.data[: len(vocab)] = fill_missing(vectors, found, rng=seed)
    if est.freeze_embeddings:
        weight.requires_grad_(False)


_NETWORKS = {"DeepAveragingNetwork": DeepAveragingNetwork, "NaiveBayesLinear": NaiveBayesLinear}
_CONFIGS = {"DeepAveragingNetwork": DeepAveragingConfig, "NaiveBayesLinear": NaiveBayesLinearConfig}


def _network_class(config: Any) -> type:
    return DeepAveragingNetwork if isinstance(config, DeepAveragingConfig) else NaiveBayesLinear


def _network_from(
    path: str | Path, described: list[dict[str, Any]], arrays: dict[str, np.ndarray]
) -> Module:
    """The network a file's ``network`` list describes, its weights checked and loaded."""
    if not described or any(d.get("kind") not in _NETWORKS for d in described):
        raise ValueError(f"{str(path)!r}: the classifier's network is not one ffnlp knows")
    configs = [_CONFIGS[d["kind"]](**d["config"]) for d in described]
    prefixes = [""] if len(configs) == 1 else [f"member{i}." for i in range(len(configs))]
    expected: dict[str, tuple[int, ...]] = {}
    for config, prefix in zip(configs, prefixes):
        expected.update(_network_class(config).parameter_shapes(config, prefix=prefix))
    io.check_shapes(path, arrays, expected)
    members: list[Module] = []
    for config in configs:
        if isinstance(config, DeepAveragingConfig):
            members.append(DeepAveragingNetwork(config, rng=0))
        else:
            shared = members[0].dropout if members else None
            members.append(NaiveBayesLinear(config, rng=0, dropout=shared))
    model = members[0] if len(members) == 1 else ProbabilityAverage(members)
    model.load_state_dict(arrays)
    return model
