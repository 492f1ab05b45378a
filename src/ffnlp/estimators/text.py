"""The text classifier on pooled embeddings, as a scikit-learn estimator: texts to rows
(words and feature objects), a deep averaging network over them (alone, or averaged
with a naive Bayes linear model), trained by :func:`ffnlp.train.fit`."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ffnlp import io
from ffnlp.autograd import no_grad
from ffnlp.checks import check_real
from ffnlp.estimators.base import (
    LAYOUT,
    ClassifierBase,
    EstimatorBase,
    GroupedSettings,
    TextPredictions,
    check_fitted,
    classes_of,
    held_out_metrics,
    held_out_targets,
    label_matrix,
    label_sets_of,
    labels_of,
    multi_label_metrics,
    read_classes,
    texts_of,
    tokens_of,
    train_config,
)
from ffnlp.estimators.quantized import PrunedRows, Quantization, quantize_classifier
from ffnlp.models.classifier import (
    ClassifierOptions,
    DeepAveraging,
    DeepAveragingConfig,
    DeepAveragingNetwork,
    NaiveBayesLinear,
    NaiveBayesLinearConfig,
    ProbabilityAverage,
    TextDataset,
    check_class_weights,
    probabilities,
)
from ffnlp.nn import Module
from ffnlp.nn import init as nn_init
from ffnlp.text.labelled import as_label_sets
from ffnlp.text.row_features import (
    RowFeature,
    TextRows,
    check_features,
    feature_from_dict,
    feature_to_dict,
)
from ffnlp.text.settings import TextSettings
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import Vocab
from ffnlp.train import CLASSIFIER_TRAINING, Training, fit


class TextClassifier(GroupedSettings, TextPredictions, ClassifierBase, EstimatorBase):
    """A feedforward text classifier trained on raw texts: each text a bag of rows (its
    words, then the rows of each feature object), a deep averaging network over them
    (:class:`~ffnlp.models.classifier.DeepAveragingNetwork`), and with ``wide`` a naive
    Bayes linear model trained beside it and averaged with it.

    ``TextClassifier()`` is the chapter's plain model (mean-pooled word embeddings and a
    softmax); ``ffnlp classify train`` starts from the ``default`` recipe instead
    (``load_recipe("default").estimator()``: bigrams, a hidden layer and the wide tower,
    settings chosen for no one dataset), and :func:`ffnlp.autotune.fit_auto` searches for
    the data's own.

    The settings of the network, of the text and of training sit in three groups, each
    declared once with its defaults, help and rules (the command line's flags are made from
    the same declarations); :meth:`from_settings` takes them flat:
    ``TextClassifier.from_settings(embed_dim=50, lr=0.01)`` is
    ``TextClassifier(network=DeepAveraging(embed_dim=50), training={"lr": 0.01})``.

    Args:
        features: feature objects adding rows beyond the words
            (:mod:`ffnlp.text.row_features`: ``Bigrams()``, ``Openings(3)``,
            ``OpeningPairs(4)``, ``WordShapes()``); each is fitted on a copy, on the
            training texts.
        network: the deep averaging network's settings
            (:class:`~ffnlp.models.classifier.DeepAveraging`: ``embed_dim``, ``pooling``,
            ``hidden_dims``, ``activation``, ``dropout``, ``word_dropout``, ``nb_features``,
            ``pool_words_only``), a dict of some of them, or None for its defaults.
        wide, batch_by_length, freeze_embeddings: the classifier's own settings, declared
            with their help in :class:`~ffnlp.models.classifier.ClassifierOptions` (``wide``:
            a naive Bayes linear model of all the rows trained beside the network, which
            then pools the words alone, their probabilities averaged).
        text: how texts become words and rows (:class:`~ffnlp.text.settings.TextSettings`:
            ``tokenizer``, ``lowercase``, ``min_count``, ``max_vocab``, ``unknown_words``;
            feature tables keep what training saw ``min_count`` times), a dict, or None.
        training: :class:`~ffnlp.train.Training` settings (``epochs``, ``batch_size``,
            ``lr``, ``optimizer``, ``lr_schedule``, ...), a dict of those that differ from
            the classifier's defaults (``CLASSIFIER_TRAINING``: 32 texts a step, a constant
            rate, lazy Adam on the embedding rows), or None for those. The "plateau"
            schedule and ``early_stopping`` watch the ``eval_set`` given to :meth:`fit`,
            whose best epoch's weights are then the ones kept.
        pretrained: optional (vectors, found) from :func:`ffnlp.text.vectors.load_vectors`
            over ``vocab_``, or a path to a word2vec/GloVe text file. Words the vectors lack
            start from N(0, std of the pretrained rows), as in the language model
            (:func:`ffnlp.text.vectors.fill_missing`).
        class_weight: None (every text counts alike), "balanced" (each class's texts
            weighted n / (C * n_c) in the loss, so every class counts as much as any
            other), or a dict label -> weight >= 0 (1 for labels it leaves out), as in
            scikit-learn.
        random_state: one seed for everything random.
        verbose: show training progress.

    >>> clf = TextClassifier.from_settings(embed_dim=8, epochs=30, lr=0.05)
    >>> texts = ["a great film", "a dull film", "great fun", "dull and flat"] * 5
    >>> clf.fit(texts, ["pos", "neg", "pos", "neg"] * 5).predict(["great fun", "dull"]).tolist()
    ['pos', 'neg']

    Label sets (a tuple of labels for each text: multi-label data) are learned with an
    independent sigmoid for each class (``loss="auto"`` picks "ova" for them), and
    :meth:`predict_labels` gives each text's set:

    >>> sets = [("sport",), ("money",), ("sport", "money")] * 10
    >>> texts = ["goal match", "bank stock", "goal bank"] * 10
    >>> clf = TextClassifier.from_settings(embed_dim=8, epochs=30, lr=0.05).fit(texts, sets)
    >>> [sorted(labels) for labels in clf.predict_labels(["goal bank", "match", "stock"])]
    [['money', 'sport'], ['sport'], ['money']]
    """

    GROUPS: ClassVar[dict[str, type]] = {
        "network": DeepAveraging,
        "text": TextSettings,
        "training": Training,
    }
    DEFAULTS: ClassVar[dict[str, Any]] = {"training": CLASSIFIER_TRAINING}

    def __init__(
        self,
        features: Sequence[RowFeature] = (),
        network: DeepAveraging | dict[str, Any] | None = None,
        wide: bool = False,
        text: TextSettings | dict[str, Any] | None = None,
        training: Training | dict[str, Any] | None = None,
        batch_by_length: bool = False,
        pretrained: Any = None,
        freeze_embeddings: bool = False,
        class_weight: str | dict[Any, float] | None = None,
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.features = features
        self.network = network
        self.wide = wide
        self.text = text
        self.training = training
        self.batch_by_length = batch_by_length
        self.pretrained = pretrained
        self.freeze_embeddings = freeze_embeddings
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> tuple[DeepAveraging, TextSettings, Training, list[RowFeature]]:
        """Refuse settings that cannot work, before anything is built; returns the groups,
        checked, and fresh copies of the feature objects (the ones given are never fitted)."""
        network, text, training = (self.group(g) for g in ("network", "text", "training"))
        for name, rule in ClassifierOptions.declared().items():
            rule.check(name, getattr(self, name))
        return network, text, training, [copy.deepcopy(f) for f in check_features(self.features)]

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
    ) -> TextClassifier:
        """Train on texts ``X`` and their labels ``y``; returns self.

        Every setting is checked and the whole model built before training starts, and
        nothing is set on the estimator until training ends: a refused fit leaves it as
        it was (fitted to its old data, or not at all).

        Args:
            X, y: the texts and one label per text, or a label set per text (a tuple,
                list or set of its labels; a label alone is a set of one): multi-label
                data, after which ``multi_label_`` is True (see the ``loss`` setting).
            eval_set: optional held-out (texts, labels) whose loss and accuracy are measured
                after every epoch (for the log). With ``training``'s ``early_stopping`` (3 by
                default) or its "plateau" schedule, its loss also judges every epoch: the best
                epoch's weights are kept, and training stops after ``early_stopping`` epochs
                without improvement; ``history_`` says what happened
                (:class:`ffnlp.train.History`).
            log_path: append one JSON line per epoch (and every 100 steps) to this file,
                the training curves of ``ffnlp plot``.
            checkpoint, checkpoint_every, resume: crash-safe checkpoints and exact resume
                (see :func:`ffnlp.train.fit`); a resumed fit ends with the same weights,
                bit for bit, as one that was never interrupted.
        """
        texts = texts_of(X)
        sets = label_sets_of(y, len(texts))
        network, text, training_settings, features = self._check_params()
        if sets is None:
            classes, targets = classes_of(labels_of(y, len(texts)))
            class_weights = self._class_weights(classes, targets)
            targets = targets.astype(np.int64)
        else:
            if self.class_weight is not None and self.class_weight != {}:
                raise ValueError(
                    "class_weight weighs the one class of each text: multi-label data "
                    "(texts with several labels) takes none; leave it out"
                )
            classes = classes_of(np.array(sorted({str(c) for s in sets for c in s})))[0]
            targets, class_weights = label_matrix(classes, sets), ()
        loss = network.loss if network.loss != "auto" else "softmax" if sets is None else "ova"
        tokenizer = text.make_tokenizer()
        tokens = tokens_of(tokenizer, texts)
        eval_tokens = None
        if eval_set is not None:  # refused now, not after the first epoch
            try:
                eval_tokens = tokens_of(tokenizer, texts_of(eval_set[0]))
            except (TypeError, ValueError) as err:
                raise type(err)(f"eval_set: {err}") from None
        vocab = Vocab.build(tokens, min_count=text.min_count, max_size=text.max_vocab)
        encoder = TextRows(vocab, features, text.unknown_words)
        data = TextDataset.from_ragged(
            *encoder.fit_rows(tokens, text.min_count, text.keeps_every_word),
            targets,
            by_length=bool(self.batch_by_length),
        )
        seed = self.random_state if self.random_state is not None else 0
        model = self._network(
            network,
            len(vocab),
            encoder.extra_rows,
            len(classes),
            class_weights,
            seed,
            loss,
            multi_label=sets is not None,
        )
        _load_pretrained(self, deep_network(model), vocab, text.lowercase, seed)
        for member in _members(model):
            if member.config.nb_features:
                member.set_nb_table(data, data.targets)
            if getattr(member.config, "pooling", None) == "tfidf":
                member.set_idf_table(data)
        fitted = _Fitted(classes, tokenizer, encoder, model, multi_label=sets is not None)
        training = train_config(
            training_settings, self.random_state, self.verbose, held_out=eval_set is not None
        )
        valid = None
        if eval_set is not None and (training.lr_schedule == "plateau" or training.early_stopping):
            # the held-out loss steers the rate or ends training
            valid = TextDataset.from_ragged(
                *encoder.rows(eval_tokens),
                held_out_targets(classes, eval_set[1])
                if sets is None
                else label_matrix(classes, as_label_sets(eval_set[1])),
            )
        if sets is None:
            metrics = held_out_metrics(fitted.predict_proba, classes, eval_set)
        else:
            metrics = multi_label_metrics(fitted.predict_proba, classes, eval_set, loss)
        history = fit(
            model,
            data,
            valid,
            training,
            log_path=log_path,
            unit="texts",
            epoch_metrics=metrics,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
        )
        self._set_fitted(fitted)
        self.history_ = history
        return self

    def _network(
        self,
        settings: DeepAveraging,
        vocab_size: int,
        extra_rows: int,
        num_classes: int,
        class_weights: tuple[float, ...],
        seed: int,
        loss: str = "softmax",
        multi_label: bool = False,
    ) -> Module:
        # one score, or one per class (label sets: every class, as each is its own question)
        nb = 1 if num_classes == 2 and not multi_label else num_classes
        config = DeepAveragingConfig(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embed_dim=settings.embed_dim,
            extra_rows=extra_rows,
            pooling=settings.pooling,
            hidden_dims=settings.hidden_dims,
            activation=settings.activation,
            dropout=settings.dropout,
            word_dropout=settings.word_dropout,
            nb_features=nb if settings.nb_features else 0,
            pool_words_only=bool(settings.pool_words_only or self.wide),
            class_weights=class_weights,
            loss=loss,
        )
        rng = nn_init.as_generator(seed)  # one generator, drawn from in turn by each part
        network = DeepAveragingNetwork(config, rng=rng)
        if not self.wide:
            return network
        linear = NaiveBayesLinearConfig(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embed_dim=settings.embed_dim,
            extra_rows=extra_rows,
            nb_features=nb,
            dropout=settings.dropout,
            class_weights=class_weights,
            loss=loss,
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
        self.multi_label_ = fitted.multi_label
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

    def quantize(
        self,
        cutoff: int = 0,
        dsub: int = 2,
        qnorm: bool = False,
        qout: bool = False,
        retrain: bool = False,
        X: Any = None,
        y: Any = None,
        epochs: int | None = None,
        random_state: int = 0,
    ) -> TextClassifier:
        """A small copy of this classifier, as fastText's ``quantize`` makes: rows cut to
        ``cutoff``, product-quantized by parts of ``dsub`` dimensions, optionally the
        dense layers retrained on texts ``X``, labels ``y`` and quantized (``qout``); see
        :func:`ffnlp.estimators.quantized.quantize_classifier`. Its ``quantized_`` says how."""
        return quantize_classifier(
            self, cutoff, dsub, qnorm, qout, retrain, X, y, epochs, random_state
        )

    def to_archive(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What :meth:`save` writes: (meta, arrays)."""
        check_fitted(self)
        params = {k: v for k, v in self.flat_settings().items() if k != "pretrained"}
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
        if self.multi_label_:  # trained on label sets (files without the key were not)
            meta["multi_label"] = True
        if getattr(self, "quantized_", None) is not None:  # the codes, not the tables
            meta, arrays = self.quantized_.archive(meta, arrays)
        return meta, arrays

    @classmethod
    def from_archive(
        cls, path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> TextClassifier:
        """The classifier a layout-2 file describes; checks sizes before trusting them."""
        params = dict(meta["params"])
        params["features"] = [feature_from_dict(f) for f in params["features"]]
        params["hidden_dims"] = tuple(params["hidden_dims"])
        est = cls.from_settings(**params)
        text = est.group("text")
        classes = read_classes(meta)
        if isinstance(est.class_weight, dict) and classes.dtype.kind in "iu":
            est.class_weight = {int(k): v for k, v in est.class_weight.items()}
        vocab = Vocab.from_dict(meta["vocab"])
        features = [copy.deepcopy(f) for f in est.features]
        arrays = dict(arrays)
        quantized = None
        if meta.get("quantized") is not None:  # decoded here, then checked as any file
            quantized, arrays = Quantization.from_archive(path, meta["quantized"], arrays)
        for i, (feature, state) in enumerate(zip(features, meta["features"], strict=True)):
            prefix = f"features.{i}."
            tables = {k[len(prefix) :]: arrays.pop(k) for k in list(arrays) if k.startswith(prefix)}
            try:
                feature.load_state(state, tables)
            except ValueError as err:
                raise ValueError(f"{str(path)!r}: {err}") from None
        encoder = TextRows(vocab, features, text.unknown_words)
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
        if quantized is not None and quantized.kept is not None:
            if len(quantized.kept) != len(vocab) + encoder.extra_rows:
                raise ValueError(f"{str(path)!r}: its quantized tables are damaged (rows kept)")
            encoder = PrunedRows(encoder, quantized.kept)
        multi_label = bool(meta.get("multi_label", False))
        est._set_fitted(_Fitted(classes, text.make_tokenizer(), encoder, model, multi_label))
        if quantized is not None:
            est.quantized_ = quantized
        return est


class _Fitted:
    """What fitting learns, in one place: the predictions a fit's log measures during
    training come from it before the estimator is touched."""

    def __init__(
        self,
        classes: np.ndarray,
        tokenizer: Tokenizer,
        encoder: TextRows,
        model: Module,
        multi_label: bool = False,
    ) -> None:
        self.classes, self.tokenizer, self.encoder, self.model = classes, tokenizer, encoder, model
        self.multi_label = multi_label
        self.loss = _members(model)[0].config.loss

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
                out[start : start + len(idx)] = probabilities(logits.data, self.loss)
        return out


def _members(model: Module) -> list[Module]:
    return list(model.members) if isinstance(model, ProbabilityAverage) else [model]


def deep_network(model: Module) -> DeepAveragingNetwork:
    """The deep averaging network of a classifier's model (alone, or in an average)."""
    return next(m for m in _members(model) if isinstance(m, DeepAveragingNetwork))


def _load_pretrained(
    est: TextClassifier, network: DeepAveragingNetwork, vocab: Vocab, lowercase: bool, seed: int
) -> None:
    if est.pretrained is None:
        return
    from ffnlp.text.vectors import fill_missing, load_vectors

    if isinstance(est.pretrained, (str, Path)):
        vectors, found = load_vectors(est.pretrained, vocab, lowercase=lowercase)
    else:
        vectors, found = est.pretrained
    dim = network.config.embed_dim
    if vectors.shape != (len(vocab), dim):
        raise ValueError(
            f"pretrained vectors have shape {vectors.shape}; expected ({len(vocab)}, {dim})"
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
