"""scikit-learn-style classifiers: :class:`TextClassifier` trains a feedforward network
from raw texts (pooled embeddings or the chapter's hand-built lexicon features);
:class:`FeedforwardClassifier` is the same kind of network on numeric feature matrices.

Both follow scikit-learn's conventions (``__init__`` only stores parameters, ``fit``
returns self, learned attributes end in ``_``, ``predict_proba`` columns follow
``classes_``) and, when scikit-learn is installed, are real scikit-learn estimators that
work inside its ``Pipeline`` and ``GridSearchCV``.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.autograd import Tensor, no_grad, ops
from ffnlp.checks import check_bool, check_choice, check_int, check_real
from ffnlp.models.classifier import (
    PooledClassifier,
    PooledClassifierConfig,
    TextDataset,
    check_class_weights,
)
from ffnlp.nn import MLP, Module
from ffnlp.text.features import (
    FEATURE_NAMES,
    bigram_keys,
    contrast_clause,
    derive_lexicon,
    hash_keys,
    lexicon_features,
    word_shape,
)
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import PrefixBackoff, Vocab
from ffnlp.train import LR_SCHEDULES, ArrayDataset, TrainConfig, fit

KIND = "text_classifier"

try:  # scikit-learn is optional: with it, the estimators are real sklearn estimators.
    from sklearn.base import BaseEstimator as _EstimatorBase
    from sklearn.base import ClassifierMixin as _ClassifierBase
    from sklearn.exceptions import NotFittedError
except ImportError:  # pragma: no cover - exercised when scikit-learn is absent

    class NotFittedError(ValueError, AttributeError):
        """Raised when a model is used before ``fit``."""

    class _EstimatorBase:
        """get_params / set_params by the constructor's signature, as scikit-learn does."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params: Any) -> _EstimatorBase:
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(
                        f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}"
                    )
                setattr(self, name, value)
            return self

        def __repr__(self) -> str:
            defaults = {
                p.name: p.default
                for p in inspect.signature(type(self).__init__).parameters.values()
            }
            changed = [
                f"{k}={v!r}"
                for k, v in self.get_params().items()
                if defaults.get(k) is not v and defaults.get(k) != v
            ]
            return f"{type(self).__name__}({', '.join(changed)})"

    class _ClassifierBase:
        _estimator_type = "classifier"

        def score(self, X: Any, y: Any) -> float:
            return float(np.mean(self.predict(X) == np.asarray(y)))


# ---------------------------------------------------------------------------- estimators


def _check_fitted(estimator: Any, attribute: str = "classes_") -> None:
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit() first")


def _train_config(est: Any, verbose: bool, held_out: bool) -> TrainConfig:
    """The training settings of ``est``; ``held_out``: whether it is given an ``eval_set``."""
    schedule = check_choice("lr_schedule", est.lr_schedule, LR_SCHEDULES)
    check_real("lr_decay", est.lr_decay, 0, 1, min_inclusive=False)
    if schedule == "plateau" and not held_out:
        raise ValueError(
            "lr_schedule='plateau' lowers the learning rate when the held-out loss stops "
            "improving: it needs an eval_set (--valid on the command line)"
        )
    return TrainConfig(
        epochs=est.epochs,
        batch_size=est.batch_size,
        optimizer=est.optimizer,
        lr=est.lr,
        weight_decay=est.weight_decay,
        # 1 under the other schedules, where it does nothing: their checkpoints from before
        # "constant" had its own name (a "plateau" that never acted) still resume.
        lr_decay=est.lr_decay if schedule == "plateau" else 1.0,
        lr_schedule=schedule,
        early_stopping=0,
        lazy_embeddings=getattr(est, "lazy", False),
        seed=est.random_state if est.random_state is not None else 0,
        progress=verbose,
    )


class _WithLoss(Module):
    """A network on feature rows, given the call shape the training loop expects:
    ``forward(x, targets) -> (logits, cross-entropy)``."""

    def __init__(self, network: Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: np.ndarray, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        logits = self.network(Tensor(x))
        return logits, None if targets is None else ops.cross_entropy(logits, targets)


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class FeedforwardClassifier(_ClassifierBase, _EstimatorBase):
    """A feedforward network on numeric features: standardise, hidden layers, softmax.

    Args:
        hidden_dims: hidden layer sizes (empty: multinomial logistic regression).
        activation: "relu", "tanh" or "sigmoid".
        dropout: dropout after each hidden layer.
        weight_decay: L2 on the weights (not the biases).
        epochs, batch_size, lr, optimizer: training settings (``optimizer`` "adam", "adamw"
            or "sgd").
        lr_schedule, lr_decay: how the learning rate changes, as in :class:`TextClassifier`.
        standardize: scale each feature to zero mean and unit variance first.
        random_state: seed of the initial weights, dropout and batch order.
        verbose: show training progress.

    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
    >>> y = np.array([0, 1, 1, 0] * 10)
    >>> FeedforwardClassifier(hidden_dims=(8,), epochs=300, lr=0.02).fit(X, y).score(X, y)
    1.0
    """

    def __init__(
        self,
        hidden_dims: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        weight_decay: float = 0.0,
        epochs: int = 200,
        batch_size: int = 32,
        lr: float = 1e-3,
        optimizer: str = "adam",
        lr_schedule: str = "constant",
        lr_decay: float = 0.5,
        standardize: bool = True,
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    def _validate(self, X: Any, y: Any = None, reset: bool = True) -> Any:
        try:
            from sklearn.utils.validation import validate_data
        except ImportError:
            return self._validate_plain(X, y, reset)
        if y is None:
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        return validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])

    def _validate_plain(self, X: Any, y: Any, reset: bool) -> Any:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(
                f"X must be a 2-D array of shape (n_samples, n_features); got shape {X.shape}"
            )
        if X.shape[0] == 0:
            raise ValueError("X has 0 samples; at least 1 is required")
        if not np.isfinite(X).all():
            raise ValueError(
                "Input X contains NaN or infinity; remove or impute those values first"
            )
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input"
            )
        if y is None:
            return X
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"y must be 1-D with one label per row of X; got shape {y.shape} for {len(X)} rows"
            )
        return X, y

    def fit(
        self,
        X: Any,
        y: Any,
        checkpoint: str | Path | None = None,
        checkpoint_every: int | str | None = None,
        resume: bool = False,
        eval_set: tuple[Any, Any] | None = None,
        log_path: str | Path | None = None,
    ) -> FeedforwardClassifier:
        """Train on feature rows ``X`` (n, features) and labels ``y``; returns self.

        ``checkpoint``, ``checkpoint_every``, ``resume``: crash-safe checkpoints and exact
        resume (see :func:`ffnlp.train.fit`). ``eval_set`` (rows, labels) is measured after
        every epoch and ``log_path`` gets the JSON-lines log, as in :meth:`TextClassifier.fit`.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        X, y = self._validate(X, y, reset=True)
        try:
            from sklearn.utils.multiclass import check_classification_targets

            check_classification_targets(y)
        except ImportError:
            if np.asarray(y).dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
                raise ValueError(
                    "Unknown label type: continuous targets; a classifier needs class labels"
                ) from None
        self.classes_, targets = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"the training data has only one class ({self.classes_[0].item()!r}); a classifier needs at least 2 classes"
            )
        self.mean_ = X.mean(axis=0) if self.standardize else np.zeros(X.shape[1])
        scale = X.std(axis=0) if self.standardize else np.ones(X.shape[1])
        self.scale_ = np.where(scale > 0, scale, 1.0)
        inputs = ((X - self.mean_) / self.scale_).astype(np.float32)
        sizes = [X.shape[1], *tuple(self.hidden_dims), len(self.classes_)]
        self.network_ = MLP(
            sizes,
            activation=self.activation,
            dropout=self.dropout,
            rng=self.random_state if self.random_state is not None else 0,
        )
        training = _train_config(self, self.verbose, held_out=eval_set is not None)
        valid = None
        if training.lr_schedule == "plateau":  # the held-out loss steers the rate
            rows = self._validate(eval_set[0], reset=False)
            valid = ArrayDataset(
                ((rows - self.mean_) / self.scale_).astype(np.float32),
                _held_out_targets(self, eval_set[1]),
            )
        fit(
            _WithLoss(self.network_),
            ArrayDataset(inputs, targets.astype(np.int64)),
            valid,
            training,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            log_path=log_path,
            epoch_metrics=_held_out_metrics(self, eval_set),
        )
        self.n_iter_ = self.epochs
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        _check_fitted(self)
        X = self._validate(X, reset=False)
        x = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        self.network_.eval()
        with no_grad():
            logits = self.network_(Tensor(x)).data  # float64 in, so rows do not depend on the batch
        return _softmax_rows(logits.astype(np.float64))

    def predict(self, X: Any) -> np.ndarray:
        _check_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class TextClassifier(_ClassifierBase, _EstimatorBase):
    """A feedforward text classifier, trained on raw texts.

    Args:
        features: "embeddings" (pooled learned embeddings) or "lexicon" (the chapter's six
            hand-built features).
        embed_dim, pooling, hidden_dims, activation, dropout, word_dropout: the network (see
            :class:`PooledClassifierConfig`).
        bigrams: add word-bigram features: hashed into ``buckets`` rows (the fastText
            trick), or with ``buckets=0`` one row per bigram seen ``min_count`` times.
        prefix_ngrams: add features for a text's opening words: its first word, first two
            words, ... up to this many, each opening its own row (seen ``min_count`` times
            in training) — the words that decide a question's type ("how many", "who").
        prefix_pairs: add features pairing each of a text's first this many words with
            every later word ("what" with "city" in "What is the largest city ..."), one row
            per pair seen at least ``max(2, min_count)`` times in training: the question
            word with the head noun, wherever the noun stands.
        word_shapes: add a feature for the shape of each word after the first
            (:func:`ffnlp.text.features.word_shape`: "Xx" for "Paris", "X" for "NASA",
            "dddd" for "1990"), one row per shape seen at least ``max(2, min_count)``
            times in training: names, acronyms and numbers in cased text, rare words
            included (use with ``lowercase=False``).
        nb_features: add each text's naive Bayes log-count-ratio score over its words (and
            bigrams) as inputs of the network (Wang & Manning 2012's NB features).
        pool_words_only: pool the embeddings of the words alone; bigrams and openings
            then reach the network only through the NB features (a linear bigram model
            beside a deep averaging network of the words); needs ``nb_features``.
        wide: train a linear n-gram model beside the network, in the same pass: the NB-
            weighted bag of all the text's rows and the NB features, straight to the
            classes; the network pools the words only, and predictions average the two
            models' probabilities (see :class:`PooledClassifierConfig`); needs
            ``nb_features``.
        min_count, max_vocab: the vocabulary (rarer words become ``<unk>``).
        unknown_words: how a word outside the vocabulary is read: "unk", as ``<unk>``, or
            "prefix", as the most frequent known word sharing its longest beginning, when
            that covers all but its last 3 characters and at least 5 ("embarrassing" as
            "embarrassed"; :class:`ffnlp.text.vocab.PrefixBackoff`), else as ``<unk>``.
        contrast_words: words such as "but" that hand a text's verdict to the clause after
            them: at prediction, a text holding one of them (a whole token, compared without
            case, after the first token and with a word after it) gets the mean of two
            probabilities, the whole text's and those of the tokens after the last such one
            (:func:`ffnlp.text.features.contrast_clause`). Training is unchanged, so they
            can be set on a trained model (``set_params``). Not with ``tokenizer="char"``.
        tokenizer, lowercase: how texts become words ("whitespace", "regex", "char").
        lexicon: for ``features="lexicon"``, a dict word -> +1/-1; None derives one from the
            training data (binary tasks), keeping ``lexicon_size`` words.
        pretrained: optional (vectors, found) from :func:`ffnlp.text.vectors.load_vectors`
            over ``vocab_``, or a path to a word2vec/GloVe text file. Words the vectors lack
            start from N(0, std of the pretrained rows), as in the language model
            (:func:`ffnlp.text.vectors.fill_missing`).
        freeze_embeddings: keep pretrained embeddings fixed.
        epochs, batch_size, lr, optimizer, weight_decay: training (Adam updates only the
            embedding rows a batch used: ``lazy``).
        class_weight: None (every text counts alike), "balanced" (each class's texts are
            weighted n / (C * n_c) in the loss, so every class counts as much as any other:
            a model trained on data with 56 % of one class stops favouring it where the
            classes are even), or a dict label -> weight >= 0 (1 for labels it leaves out;
            a key matches a label equal to it, or else one with the same string, as a
            model file writes labels), as in scikit-learn. For ``features="embeddings"``.
        batch_by_length: train on batches of texts of similar length (shuffled texts,
            sorted by length in runs of 50 batches, the batches shuffled): less padding,
            so faster steps, on corpora whose texts vary in length.
        lr_schedule: how the learning rate changes: "constant" (it never does), "plateau"
            (multiplied by ``lr_decay`` after every epoch whose held-out loss is no better
            than the best so far; needs an ``eval_set``, whose best epoch's weights are then
            the ones kept) or "linear" (it falls linearly to 0 over all the steps, fastText's
            schedule). The same three as ``ffnlp lm train``'s.
        lr_decay: the factor of the "plateau" schedule (0.5 halves the rate).
        random_state: one seed for everything random.
        verbose: show training progress.
    """

    def __init__(
        self,
        features: str = "embeddings",
        embed_dim: int = 100,
        pooling: str = "mean",
        hidden_dims: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        word_dropout: float = 0.0,
        bigrams: bool = False,
        buckets: int = 200_000,
        prefix_ngrams: int = 0,
        prefix_pairs: int = 0,
        word_shapes: bool = False,
        nb_features: bool = False,
        pool_words_only: bool = False,
        wide: bool = False,
        min_count: int = 1,
        max_vocab: int | None = None,
        unknown_words: str = "unk",
        contrast_words: Sequence[str] = (),
        tokenizer: str = "whitespace",
        lowercase: bool = False,
        lexicon: dict[str, int] | None = None,
        lexicon_size: int = 200,
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
        self.bigrams = bigrams
        self.buckets = buckets
        self.prefix_ngrams = prefix_ngrams
        self.prefix_pairs = prefix_pairs
        self.word_shapes = word_shapes
        self.nb_features = nb_features
        self.pool_words_only = pool_words_only
        self.wide = wide
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.unknown_words = unknown_words
        self.contrast_words = contrast_words
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.lexicon = lexicon
        self.lexicon_size = lexicon_size
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

    # ------------------------------------------------------------------ data
    def _texts(self, X: Any) -> list[str]:
        if isinstance(X, str) or not isinstance(X, (Sequence, np.ndarray)):
            raise TypeError(f"X must be a list of texts; got {type(X).__name__}")
        texts = [str(x) for x in (X.ravel() if isinstance(X, np.ndarray) else X)]
        if not texts:
            raise ValueError("X holds no texts")
        return texts

    def _contrast_words(self) -> tuple[str, ...]:
        words = self.contrast_words
        if words is None:
            return ()
        if (
            isinstance(words, str)
            or not isinstance(words, (Sequence, np.ndarray))
            or not all(isinstance(w, str) and w.split() == [w] for w in words)
        ):
            raise ValueError(
                f"contrast_words must be a list of single words, such as ['but']; got {words!r}"
            )
        if len(words) and self.tokenizer == "char":
            raise ValueError(
                "contrast_words are matched against whole tokens, and tokenizer='char' makes "
                "every character a token: use tokenizer 'whitespace' or 'regex'"
            )
        return tuple(str(w) for w in words)

    def _class_weights(self, classes: np.ndarray, targets: np.ndarray) -> tuple[float, ...]:
        """The loss's weight of each class, in ``classes`` order (empty: all 1)."""
        weight = self.class_weight
        if weight is None or (isinstance(weight, dict) and not weight):
            return ()
        if self.features == "lexicon":
            raise ValueError(
                "class_weight weights the loss of the embedding network: it needs "
                f"features='embeddings'; got features={self.features!r}"
            )
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
            check_real(f"class_weight[{key!r}]", value, allow_inf=True)
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

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        tokens = self.tokenizer_.many(texts)
        empty = [i for i, t in enumerate(tokens) if not t]
        if empty:
            raise ValueError(
                f"text {empty[0]} is empty (no tokens); every text needs at least one word"
            )
        return tokens

    def _documents(
        self, tokens: Sequence[Sequence[str]], learn_tables: bool = False
    ) -> list[np.ndarray]:
        """Rows of each text: its words; then (with ``bigrams``) its bigrams, hashed into
        ``buckets`` rows, or with ``buckets=0`` looked up in the table of training bigrams
        seen at least ``min_count`` times; then (with ``prefix_ngrams``) its opening words;
        then (with ``prefix_pairs``) its opening words paired with later ones; then (with
        ``word_shapes``) the shapes of its words after the first. Bigrams, openings, pairs
        and shapes that training never saw are left out."""
        flat, starts = self._rows(tokens, learn_tables)
        return np.split(flat, starts[1:-1])

    def _rows(
        self, tokens: Sequence[Sequence[str]], learn_tables: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_documents` as one ragged array: (rows, starts), text k's rows being
        ``rows[starts[k]:starts[k + 1]]``."""
        if self.unknown_words == "prefix" and not (
            learn_tables and self.min_count <= 1 and self.max_vocab is None
        ):  # (when learning with every word kept, no word is unknown)
            tokens = self._prefix_backoff().tokens(tokens, self.vocab_)
        words, starts = self.vocab_.encode_many(tokens)
        blocks = [(words, starts)]  # each a (rows, starts) ragged array, one segment a text
        offset = len(self.vocab_)
        if self.bigrams:
            rows, key_starts = self._bigram_rows(words, starts, learn_tables)
            blocks.append(_drop_negative(rows, key_starts, offset))
            offset += self.buckets or len(self.bigram_table_)
        if self.prefix_ngrams:
            found = self._prefix_rows(np.split(words, starts[1:-1]), learn_tables)
            blocks.append(_ragged(found, offset))
            offset += len(self.prefix_table_)
        if self.prefix_pairs:
            found = self._pair_rows(np.split(words, starts[1:-1]), learn_tables)
            blocks.append(_ragged(found, offset))
            offset += len(self.pair_table_)
        if self.word_shapes:
            blocks.append(_ragged(self._shape_rows(tokens, learn_tables), offset))
        return _interleave(blocks)

    def _prefix_backoff(self) -> PrefixBackoff:
        """The back-off of ``unknown_words="prefix"``, made once per vocabulary."""
        cached = getattr(self, "_backoff_cache", None)
        if cached is None or cached[0] is not self.vocab_:
            cached = self._backoff_cache = (self.vocab_, PrefixBackoff(self.vocab_))
        return cached[1]

    def _extra_rows(self) -> int:
        """Rows after the words': bigrams (hashed or one per bigram kept), openings,
        pairs of an opening word and a later word, then word shapes."""
        bigrams = (self.buckets or len(self.bigram_table_)) if self.bigrams else 0
        prefixes = len(self.prefix_table_) if self.prefix_ngrams else 0
        pairs = len(self.pair_table_) if self.prefix_pairs else 0
        return bigrams + prefixes + pairs + (len(self.shape_table_) if self.word_shapes else 0)

    def _bigram_rows(
        self, words: np.ndarray, starts: np.ndarray, learn: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every text's bigram rows (-1: unseen), concatenated, and where each text starts;
        ``words`` and ``starts`` are the texts' word ids, concatenated, and their starts."""
        keys, key_starts = bigram_keys(words, starts, len(self.vocab_))
        if self.buckets:
            return hash_keys(keys, self.buckets), key_starts
        if learn:
            table, counts = np.unique(keys, return_counts=True)
            self.bigram_table_ = table[counts >= self.min_count]
        table = self.bigram_table_
        where = np.minimum(np.searchsorted(table, keys), max(len(table) - 1, 0))
        found = table[where] == keys if len(table) else np.zeros(len(keys), dtype=bool)
        return np.where(found, where, -1), key_starts

    def _prefix_rows(self, docs: list[np.ndarray], learn: bool) -> list[np.ndarray]:
        """Each text's rows for its first word, first two words, ... (``prefix_ngrams``).

        The table of openings (``prefix_table_``, one per row, word ids padded with -1)
        keeps those seen ``min_count`` times in training."""
        n = self.prefix_ngrams
        openings = [[tuple(d[:k].tolist()) for k in range(1, min(n, len(d)) + 1)] for d in docs]
        if learn:
            counts = Counter(o for text in openings for o in text)
            kept = sorted(o for o, c in counts.items() if c >= self.min_count)
            table = np.full((len(kept), n), -1, dtype=np.int64)
            for row, o in enumerate(kept):
                table[row, : len(o)] = o
            self.prefix_table_ = table
        index = {
            tuple(int(i) for i in r if i >= 0): row for row, r in enumerate(self.prefix_table_)
        }
        return [
            np.array([index[o] for o in text if o in index], dtype=np.int64) for text in openings
        ]

    def _pair_rows(self, docs: list[np.ndarray], learn: bool) -> list[np.ndarray]:
        """Each text's rows for the pairs (word i, word j), i < ``prefix_pairs``, j > i.

        The table ``pair_table_`` holds the sorted keys ``first * vocab_size + second`` of
        the pairs seen at least ``max(2, min_count)`` times in training (a pair seen once
        is almost always a one-off, and pairs are many)."""
        size, empty = len(self.vocab_), np.zeros(0, dtype=np.int64)
        keys = [
            np.concatenate(
                [d[i] * size + d[i + 1 :] for i in range(min(self.prefix_pairs, len(d)))] or [empty]
            )
            for d in docs
        ]
        if learn:
            table, counts = np.unique(np.concatenate(keys), return_counts=True)
            self.pair_table_ = table[counts >= max(2, self.min_count)]
        table = self.pair_table_
        if not len(table):
            return [empty for _ in docs]
        out = []
        for k in keys:
            where = np.minimum(np.searchsorted(table, k), len(table) - 1)
            out.append(where[table[where] == k])
        return out

    def _shape_rows(self, tokens: Sequence[Sequence[str]], learn: bool) -> list[np.ndarray]:
        """Each text's rows for the shapes of its words after the first (``word_shapes``).

        The table ``shape_table_`` lists the shapes seen at least ``max(2, min_count)``
        times in training, sorted; row i is shape i."""
        shapes = [[word_shape(w) for w in text[1:]] for text in tokens]
        if learn:
            counts = Counter(shape for text in shapes for shape in text)
            limit = max(2, self.min_count)
            self.shape_table_ = sorted(shape for shape, n in counts.items() if n >= limit)
        index = {shape: row for row, shape in enumerate(self.shape_table_)}
        return [
            np.array([index[shape] for shape in text if shape in index], dtype=np.int64)
            for text in shapes
        ]

    # ------------------------------------------------------------------ fit / predict
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

        Args:
            X, y: the texts and one label per text.
            eval_set: optional held-out (texts, labels) whose loss and accuracy are measured
                after every epoch (for the log); it does not change the training.
            log_path: append one JSON line per epoch (and every 100 steps) to this file,
                the training curves of ``ffnlp plot``.
            checkpoint, checkpoint_every, resume: crash-safe checkpoints and exact resume
                (see :func:`ffnlp.train.fit`); a resumed fit ends with the same weights,
                bit for bit, as one that was never interrupted.
        """
        checkpointing = {
            "checkpoint": checkpoint,
            "checkpoint_every": checkpoint_every,
            "resume": resume,
        }
        before = dict(self.__dict__)
        try:
            return self._fit(X, y, eval_set, log_path, checkpointing)
        except (ValueError, TypeError):
            # A refused fit leaves the estimator as it was (fitted to its old data, or not
            # at all), never half of one and half of the other.
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None,
        log_path: str | Path | None,
        checkpointing: dict[str, Any],
    ) -> TextClassifier:
        texts = self._texts(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(texts):
            raise ValueError(
                f"y must hold one label per text; got {y.shape} labels for {len(texts)} texts"
            )
        check_choice("features", self.features, ("embeddings", "lexicon"))
        check_choice("unknown_words", self.unknown_words, ("unk", "prefix"))
        self._contrast_words()
        classes, targets = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"the training data has only one class ({classes[0].item()!r}); a classifier needs at least 2 classes"
            )
        class_weights = self._class_weights(classes, targets)
        self.classes_ = classes
        self.tokenizer_ = Tokenizer(self.tokenizer, self.lowercase)
        tokens = self._tokens(texts)
        seed = self.random_state if self.random_state is not None else 0
        if self.features == "lexicon":
            self._fit_lexicon(tokens, y, seed, checkpointing, eval_set, log_path)
            return self
        check_int("prefix_ngrams", self.prefix_ngrams, minimum=0)
        check_int("prefix_pairs", self.prefix_pairs, minimum=0)
        check_bool("word_shapes", self.word_shapes)
        check_bool("wide", self.wide)
        self.vocab_ = Vocab.build(tokens, min_count=self.min_count, max_size=self.max_vocab)
        data = TextDataset.from_ragged(
            *self._rows(tokens, learn_tables=True),
            targets.astype(np.int64),
            by_length=bool(self.batch_by_length),
        )
        config = PooledClassifierConfig(
            vocab_size=len(self.vocab_),
            num_classes=len(self.classes_),
            embed_dim=self.embed_dim,
            pooling=self.pooling,
            hidden_dims=tuple(self.hidden_dims),
            activation=self.activation,
            dropout=self.dropout,
            word_dropout=self.word_dropout,
            buckets=self._extra_rows(),
            nb_features=(1 if len(self.classes_) == 2 else len(self.classes_))
            if self.nb_features
            else 0,
            pool_words_only=bool(self.pool_words_only),
            wide=bool(self.wide),
            class_weights=class_weights,
        )
        self.model_ = PooledClassifier(config, rng=seed)
        self._load_pretrained(seed)
        if self.nb_features:
            self.model_.set_nb_table(data, data.targets)
        if self.pooling == "tfidf":
            self.model_.set_idf_table(data)
        training = _train_config(self, self.verbose, held_out=eval_set is not None)
        valid = None
        if training.lr_schedule == "plateau":  # the held-out loss steers the rate
            valid = TextDataset.from_ragged(
                *self._rows(self._tokens(self._texts(eval_set[0]))),
                _held_out_targets(self, eval_set[1]),
            )
        fit(
            self.model_,
            data,
            valid,
            training,
            log_path=log_path,
            unit="texts",
            epoch_metrics=_held_out_metrics(self, eval_set),
            **checkpointing,
        )
        return self

    def _load_pretrained(self, seed: int) -> None:
        if self.pretrained is None:
            return
        from ffnlp.text.vectors import fill_missing, load_vectors

        if isinstance(self.pretrained, (str, Path)):
            vectors, found = load_vectors(self.pretrained, self.vocab_, lowercase=self.lowercase)
        else:
            vectors, found = self.pretrained
        if vectors.shape != (len(self.vocab_), self.embed_dim):
            raise ValueError(
                f"pretrained vectors have shape {vectors.shape}; expected ({len(self.vocab_)}, {self.embed_dim})"
            )
        weight = self.model_.embedding.weight
        # The words (the first rows); the rows of bigrams and other features keep their init.
        weight.data[: len(self.vocab_)] = fill_missing(vectors, found, rng=seed)
        if self.freeze_embeddings:
            weight.requires_grad_(False)

    def _fit_lexicon(
        self,
        tokens: list[list[str]],
        y: np.ndarray,
        seed: int,
        checkpointing: dict[str, Any],
        eval_set: tuple[Any, Any] | None,
        log_path: str | Path | None,
    ) -> None:
        if self.lexicon is not None:
            self.lexicon_ = dict(self.lexicon)
        else:
            if len(self.classes_) != 2:
                raise ValueError(
                    "deriving a lexicon needs exactly 2 classes; give a lexicon file for more"
                )
            self.lexicon_ = derive_lexicon(
                tokens, [str(v) for v in y], positive=str(self.classes_[1]), size=self.lexicon_size
            )
        features = lexicon_features(tokens, self.lexicon_)
        self.network_ = FeedforwardClassifier(
            hidden_dims=tuple(self.hidden_dims) or (16,),
            activation=self.activation,
            dropout=self.dropout,
            weight_decay=self.weight_decay,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            optimizer=self.optimizer,
            lr_schedule=self.lr_schedule,
            lr_decay=self.lr_decay,
            random_state=seed,
            verbose=self.verbose,
        )
        if eval_set is not None:  # the network sees the held-out texts' features
            eval_tokens = self._tokens(self._texts(eval_set[0]))
            eval_set = (
                lexicon_features(eval_tokens, self.lexicon_).astype(np.float64),
                eval_set[1],
            )
        self.network_.fit(
            features.astype(np.float64), y, eval_set=eval_set, log_path=log_path, **checkpointing
        )

    def predict_proba(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities of texts ``X``, (n_texts, n_classes) in ``classes_`` order;
        with ``contrast_words``, a text with a clause after one is scored as the mean of
        the whole text's probabilities and the clause's."""
        _check_fitted(self)
        tokens = self._tokens(self._texts(X))
        probs = self._probabilities(tokens, batch_size)
        words = self._contrast_words()
        if words:
            found = [(i, contrast_clause(t, words)) for i, t in enumerate(tokens)]
            found = [(i, clause) for i, clause in found if clause is not None]
            if found:
                rows = [i for i, _ in found]
                clauses = self._probabilities([clause for _, clause in found], batch_size)
                probs[rows] = 0.5 * (probs[rows] + clauses)
        return probs

    def _probabilities(self, tokens: Sequence[Sequence[str]], batch_size: int) -> np.ndarray:
        """The model's class probabilities for tokenized texts."""
        if self.features == "lexicon":
            return self.network_.predict_proba(
                lexicon_features(tokens, self.lexicon_).astype(np.float64)
            )
        data = TextDataset.from_ragged(*self._rows(tokens))
        self.model_.eval()
        out = np.empty((len(data), len(self.classes_)))
        with no_grad():
            for start in range(0, len(data), batch_size):
                idx = np.arange(start, min(start + batch_size, len(data)))
                logits, _ = self.model_(data.batch(idx)[0])
                out[start : start + len(idx)] = _softmax_rows(logits.data.astype(np.float64))
        return out

    def predict(self, X: Any) -> np.ndarray:
        _check_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_top(self, X: Any, k: int = 1) -> list[list[tuple[Any, float]]]:
        """The ``k`` most probable labels of each text, with their probabilities."""
        probs = self.predict_proba(X)
        k = min(k, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        labels = self.classes_.tolist()  # plain Python values
        return [[(labels[j], float(row[j])) for j in top] for row, top in zip(probs, order)]

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write the fitted classifier (settings, vocabulary or lexicon, labels, weights)."""
        _check_fitted(self)
        params = {k: v for k, v in self.get_params().items() if k not in ("pretrained", "lexicon")}
        params["hidden_dims"] = list(params["hidden_dims"])
        # As JSON holds them: a list of words, and a dict keyed by the labels as strings.
        params["contrast_words"] = list(self._contrast_words())
        if self.features == "lexicon":  # its network is trained without class weights
            params["class_weight"] = None
        elif isinstance(params["class_weight"], dict):  # every label's weight, as trained
            trained = self.model_.config.class_weights
            labels = [str(c) for c in self.classes_.tolist()]
            params["class_weight"] = dict(zip(labels, trained)) if trained else None
        meta: dict[str, Any] = {
            "params": params,
            "classes": [str(c) for c in self.classes_],
            "label_type": self.classes_.dtype.kind,
        }
        if self.features == "lexicon":
            meta["lexicon"] = self.lexicon_
            arrays = {f"network.{k}": v for k, v in self.network_.network_.state_dict().items()}
            arrays["mean"], arrays["scale"] = self.network_.mean_, self.network_.scale_
            meta["config"] = {"feature_names": list(FEATURE_NAMES)}
        else:
            meta["vocab"] = self.vocab_.to_dict()
            meta["config"] = asdict(self.model_.config)
            arrays = self.model_.state_dict()
            if self.bigrams and not self.buckets:
                arrays["bigram_table"] = self.bigram_table_
            if self.prefix_ngrams:
                arrays["prefix_table"] = self.prefix_table_
            if self.prefix_pairs:
                arrays["pair_table"] = self.pair_table_
            if self.word_shapes:
                meta["shapes"] = list(self.shape_table_)
        io.save_archive(path, KIND, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Read a classifier written by :meth:`save`; checks everything first."""
        meta, arrays = io.load_archive(path, kind=KIND)
        try:
            params = dict(meta["params"])
            est = cls(**params)
            classes = meta["classes"]
            integer_labels = meta.get("label_type") in ("i", "u")
            est.classes_ = (
                np.array([int(c) for c in classes]) if integer_labels else np.array(classes)
            )
            if isinstance(est.class_weight, dict) and integer_labels:  # JSON made them strings
                est.class_weight = {int(k): v for k, v in est.class_weight.items()}
            est.tokenizer_ = Tokenizer(est.tokenizer, est.lowercase)
            if est.features == "lexicon":
                est.lexicon_ = {str(k): int(v) for k, v in meta["lexicon"].items()}
                net = FeedforwardClassifier(
                    hidden_dims=tuple(est.hidden_dims) or (16,), activation=est.activation
                )
                net.classes_, net.n_features_in_ = est.classes_, len(FEATURE_NAMES)
                sizes = [len(FEATURE_NAMES), *net.hidden_dims, len(classes)]
                expected = MLP.parameter_shapes(sizes, est.dropout, prefix="network.")
                expected["mean"] = expected["scale"] = (len(FEATURE_NAMES),)
                io.check_shapes(path, arrays, expected)
                net.mean_, net.scale_ = arrays.pop("mean"), arrays.pop("scale")
                net.network_ = MLP(sizes, activation=est.activation, dropout=est.dropout, rng=0)
                net.network_.load_state_dict({k[len("network.") :]: v for k, v in arrays.items()})
                est.network_ = net
            else:
                est.vocab_ = Vocab.from_dict(meta["vocab"])
                if "bigram_table" in arrays:
                    est.bigram_table_ = arrays.pop("bigram_table")
                if est.prefix_ngrams:
                    est.prefix_table_ = arrays.pop("prefix_table")
                    if (
                        est.prefix_table_.ndim != 2
                        or est.prefix_table_.shape[1] != est.prefix_ngrams
                    ):
                        raise ValueError(
                            f"{str(path)!r}: the table of text openings has the wrong shape"
                        )
                if est.prefix_pairs:
                    est.pair_table_ = arrays.pop("pair_table")
                    if est.pair_table_.ndim != 1:
                        raise ValueError(
                            f"{str(path)!r}: the table of word pairs has the wrong shape"
                        )
                if est.word_shapes:
                    est.shape_table_ = [str(shape) for shape in meta["shapes"]]
                config = PooledClassifierConfig(**meta["config"])
                if config.vocab_size != len(est.vocab_) or config.num_classes != len(classes):
                    raise ValueError(
                        f"{str(path)!r}: the configuration does not match the vocabulary "
                        f"({len(est.vocab_)} words) and labels ({len(classes)})"
                    )
                if est._extra_rows() != config.buckets:
                    raise ValueError(
                        f"{str(path)!r}: the tables of bigrams, openings, pairs and shapes "
                        f"make {est._extra_rows()} rows, the configuration {config.buckets}"
                    )
                io.check_shapes(path, arrays, PooledClassifier.parameter_shapes(config))
                est.model_ = PooledClassifier(config, rng=0)
                est.model_.load_state_dict(arrays)
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{str(path)!r}: the classifier description is incomplete or wrong ({err})"
            ) from None
        return est


def _held_out_metrics(
    estimator: Any, eval_set: tuple[Any, Any] | None
) -> Callable[[Module], dict[str, float]] | None:
    """The per-epoch measurement of ``eval_set`` (inputs, labels) for :func:`ffnlp.train.fit`:
    mean loss and accuracy from ``estimator.predict_proba``; None without an eval set."""
    if eval_set is None:
        return None
    inputs, labels = eval_set
    targets = _held_out_targets(estimator, labels)

    def epoch_metrics(model: Module) -> dict[str, float]:
        probs = estimator.predict_proba(inputs)
        picked = probs[np.arange(len(probs)), targets]
        return {
            "valid_loss": float(-np.mean(np.log(np.maximum(picked, 1e-300)))),
            "valid_accuracy": float(np.mean(probs.argmax(axis=1) == targets)),
        }

    return epoch_metrics


def _held_out_targets(estimator: Any, labels: Any) -> np.ndarray:
    """Held-out labels as class ids of ``estimator.classes_`` (refused when one is unseen)."""
    labels = np.asarray(labels)
    check_unseen_labels(estimator.classes_.tolist(), labels.tolist())
    return np.searchsorted(estimator.classes_, labels).astype(np.int64)


def _drop_negative(
    rows: np.ndarray, starts: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """A ragged array (values, segment starts) without its negative values, the others
    shifted by ``offset``."""
    keep = rows >= 0
    kept = np.concatenate(([0], np.cumsum(keep)))
    return rows[keep] + offset, kept[starts]


def _interleave(blocks: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
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


def _ragged(parts: list[np.ndarray], offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrays, one per text, as one ragged array (values + ``offset``, segment starts)."""
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return flat.astype(np.int64) + offset, np.concatenate(([0], np.cumsum(lengths)))


def check_unseen_labels(known: Sequence[Any], labels: Sequence[Any]) -> None:
    """Raise a clear error when evaluation data has labels the model never saw."""
    known_set = {str(k) for k in known}
    unseen = sorted({str(label) for label in labels} - known_set)
    if unseen:
        raise ValueError(
            f"the test data has labels the model was never trained on: {unseen[:5]}; the model knows {sorted(known_set)}"
        )


__all__ = ["FeedforwardClassifier", "NotFittedError", "TextClassifier", "check_unseen_labels"]
