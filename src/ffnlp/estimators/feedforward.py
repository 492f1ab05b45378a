"""A feedforward network on numeric feature matrices, as a scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ffnlp.autograd import Tensor, no_grad
from ffnlp.estimators.base import (
    ClassifierBase,
    EstimatorBase,
    GroupedSettings,
    WithLoss,
    check_fitted,
    held_out_metrics,
    held_out_targets,
    softmax_rows,
    train_config,
)
from ffnlp.nn import MLP
from ffnlp.train import ArrayDataset, Training, fit

# This estimator's own defaults of the training settings (the others are the group's).
FEEDFORWARD_TRAINING = Training(epochs=200, batch_size=32, lr_schedule="constant", early_stopping=0)


class FeedforwardClassifier(GroupedSettings, ClassifierBase, EstimatorBase):
    """A feedforward network on numeric features: standardise, hidden layers, softmax.

    Args:
        hidden_dims: hidden layer sizes (empty: multinomial logistic regression).
        activation: "relu", "tanh" or "sigmoid".
        dropout: dropout after each hidden layer.
        training: :class:`~ffnlp.train.Training` settings (``epochs``, ``lr``,
            ``weight_decay``: L2 on the weights, not the biases; ...), a dict of those that
            differ from this estimator's defaults (``FEEDFORWARD_TRAINING``: 200 epochs of
            32 rows, a constant rate), or None for those.
        standardize: scale each feature to zero mean and unit variance first.
        random_state: seed of the initial weights, dropout and batch order.
        verbose: show training progress.

    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
    >>> y = np.array([0, 1, 1, 0] * 10)
    >>> FeedforwardClassifier(hidden_dims=(8,), training={"epochs": 300, "lr": 0.02}).fit(X, y).score(X, y)
    1.0
    """

    GROUPS: ClassVar[dict[str, type]] = {"training": Training}
    DEFAULTS: ClassVar[dict[str, Any]] = {"training": FEEDFORWARD_TRAINING}

    def __init__(
        self,
        hidden_dims: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
        training: Training | dict[str, Any] | None = None,
        standardize: bool = True,
        random_state: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.dropout = dropout
        self.training = training
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
        settings = self.group("training")
        training = train_config(
            settings, self.random_state, self.verbose, held_out=eval_set is not None
        )
        valid = None
        if eval_set is not None and (training.lr_schedule == "plateau" or training.early_stopping):
            # the held-out loss steers the rate or ends training
            rows = self._validate(eval_set[0], reset=False)
            valid = ArrayDataset(
                ((rows - self.mean_) / self.scale_).astype(np.float32),
                held_out_targets(self.classes_, eval_set[1]),
            )
        self.history_ = fit(
            WithLoss(self.network_),
            ArrayDataset(inputs, targets.astype(np.int64)),
            valid,
            training,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            log_path=log_path,
            epoch_metrics=held_out_metrics(self.predict_proba, self.classes_, eval_set),
        )
        self.n_iter_ = training.epochs
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_fitted(self)
        X = self._validate(X, reset=False)
        x = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        self.network_.eval()
        with no_grad():
            logits = self.network_(Tensor(x)).data  # float64 in, so rows do not depend on the batch
        return softmax_rows(logits.astype(np.float64))

    def predict(self, X: Any) -> np.ndarray:
        check_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
