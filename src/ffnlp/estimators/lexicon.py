"""The chapter's sentiment classifier on hand-built features: six counts of a text
(lexicon words, "no", pronouns, "!", its length) into a small feedforward network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ffnlp import io
from ffnlp.estimators.base import (
    LAYOUT,
    ClassifierBase,
    EstimatorBase,
    GroupedSettings,
    TextPredictions,
    check_fitted,
    classes_of,
    labels_of,
    read_classes,
    texts_of,
    tokens_of,
)
from ffnlp.estimators.feedforward import FeedforwardClassifier
from ffnlp.nn import MLP
from ffnlp.text.features import FEATURE_NAMES, derive_lexicon, lexicon_features
from ffnlp.text.tokenize import Tokenizer
from ffnlp.train import Training

# This estimator's own defaults of the training settings (the others are the group's).
LEXICON_TRAINING = Training(batch_size=32, lr_schedule="constant", early_stopping=0)


class LexiconClassifier(GroupedSettings, TextPredictions, ClassifierBase, EstimatorBase):
    """A feedforward network on the chapter's six hand-built features of a text
    (:func:`ffnlp.text.features.lexicon_features`), standardised.

    Args:
        lexicon: a dict word -> +1/-1; None derives one from the training data (two
            classes only), the ``lexicon_size`` words with the largest naive Bayes weights.
        lexicon_size: words in a derived lexicon.
        tokenizer, lowercase: how texts become words ("whitespace", "regex", "char").
        hidden_dims: hidden layer sizes (empty: logistic regression on the six features).
        activation, dropout: the network (see :class:`FeedforwardClassifier`).
        training: :class:`~ffnlp.train.Training` settings, a dict of those that differ from
            this estimator's defaults (``LEXICON_TRAINING``: 10 epochs of 32 texts, a
            constant rate), or None for those.
        random_state: one seed for everything random.
        verbose: show training progress.

    >>> texts = ["a great film !", "great fun", "a dull film", "no , dull"] * 5
    >>> clf = LexiconClassifier({"great": 1, "fun": 1, "dull": -1}, training={"epochs": 50, "lr": 0.05})
    >>> clf.fit(texts, ["pos", "pos", "neg", "neg"] * 5).predict(["great great fun", "dull"]).tolist()
    ['pos', 'neg']
    """

    GROUPS: ClassVar[dict[str, type]] = {"training": Training}
    DEFAULTS: ClassVar[dict[str, Any]] = {"training": LEXICON_TRAINING}

    def __init__(
        self,
        lexicon: dict[str, int] | None = None,
        lexicon_size: int = 200,
        tokenizer: str = "whitespace",
        lowercase: bool = False,
        hidden_dims: Sequence[int] = (16,),
        activation: str = "relu",
        dropout: float = 0.0,
        training: Training | dict[str, Any] | None = None,
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.lexicon = lexicon
        self.lexicon_size = lexicon_size
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.dropout = dropout
        self.training = training
        self.random_state = random_state
        self.verbose = verbose

    def _features(self, tokenizer: Tokenizer, texts: Sequence[str], lexicon: dict) -> np.ndarray:
        return lexicon_features(tokens_of(tokenizer, texts), lexicon).astype(np.float64)

    def fit(
        self,
        X: Any,
        y: Any,
        eval_set: tuple[Any, Any] | None = None,
        log_path: str | Path | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int | str | None = None,
        resume: bool = False,
    ) -> LexiconClassifier:
        """Train on texts ``X`` and their labels ``y``; returns self. The other arguments
        are those of :meth:`TextClassifier.fit`. Nothing is set until training is done."""
        texts = texts_of(X)
        y = labels_of(y, len(texts))
        classes, _ = classes_of(y)
        tokenizer = Tokenizer(self.tokenizer, self.lowercase)
        if self.lexicon is not None:
            lexicon = dict(self.lexicon)
        else:
            if len(classes) != 2:
                raise ValueError(
                    "deriving a lexicon needs exactly 2 classes; give a lexicon file for more"
                )
            tokens = tokenizer.many(texts)
            lexicon = derive_lexicon(
                tokens, [str(v) for v in y], positive=str(classes[1]), size=self.lexicon_size
            )
        features = self._features(tokenizer, texts, lexicon)
        network = FeedforwardClassifier(
            hidden_dims=tuple(self.hidden_dims),
            activation=self.activation,
            dropout=self.dropout,
            training=self.group("training"),
            random_state=self.random_state if self.random_state is not None else 0,
            verbose=self.verbose,
        )
        if eval_set is not None:  # the network sees the held-out texts' features
            eval_set = (self._features(tokenizer, texts_of(eval_set[0]), lexicon), eval_set[1])
        network.fit(
            features,
            y,
            eval_set=eval_set,
            log_path=log_path,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
        )
        self.history_ = network.history_
        self.classes_, self.tokenizer_, self.lexicon_, self.network_ = (
            network.classes_,
            tokenizer,
            lexicon,
            network,
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of texts ``X``, (n_texts, n_classes) in ``classes_`` order."""
        check_fitted(self)
        return self.network_.predict_proba(
            self._features(self.tokenizer_, texts_of(X), self.lexicon_)
        )

    def proba_of_tokens(self, tokens: Sequence[Sequence[str]], batch_size: int = 0) -> np.ndarray:
        """:meth:`predict_proba` of texts already tokenized (by ``tokenizer_``)."""
        check_fitted(self)
        return self.network_.predict_proba(
            lexicon_features(tokens, self.lexicon_).astype(np.float64)
        )

    def to_archive(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        check_fitted(self)
        params = self.flat_settings()  # a lexicon given is kept, so a refit uses it too
        params["hidden_dims"] = list(params["hidden_dims"])
        meta = {
            "estimator": type(self).__name__,
            "layout": LAYOUT,
            "params": params,
            "classes": [str(c) for c in self.classes_],
            "label_type": self.classes_.dtype.kind,
            "lexicon": self.lexicon_,
            "config": {"feature_names": list(FEATURE_NAMES)},
        }
        arrays = {f"network.{k}": v for k, v in self.network_.network_.state_dict().items()}
        arrays["mean"], arrays["scale"] = self.network_.mean_, self.network_.scale_
        return meta, arrays

    @classmethod
    def from_archive(
        cls, path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> LexiconClassifier:
        est = cls.from_settings(
            **{**meta["params"], "hidden_dims": tuple(meta["params"]["hidden_dims"])}
        )
        est.classes_ = read_classes(meta)
        est.tokenizer_ = Tokenizer(est.tokenizer, est.lowercase)
        est.lexicon_ = {str(k): int(v) for k, v in meta["lexicon"].items()}
        net = FeedforwardClassifier(hidden_dims=tuple(est.hidden_dims), activation=est.activation)
        net.classes_, net.n_features_in_ = est.classes_, len(FEATURE_NAMES)
        sizes = [len(FEATURE_NAMES), *net.hidden_dims, len(est.classes_)]
        expected = MLP.parameter_shapes(sizes, est.dropout, prefix="network.")
        expected["mean"] = expected["scale"] = (len(FEATURE_NAMES),)
        io.check_shapes(path, arrays, expected)
        arrays = dict(arrays)
        net.mean_, net.scale_ = arrays.pop("mean"), arrays.pop("scale")
        net.network_ = MLP(sizes, activation=est.activation, dropout=est.dropout, rng=0)
        net.network_.load_state_dict({k[len("network.") :]: v for k, v in arrays.items()})
        est.network_ = net
        return est
