"""What the estimators share: scikit-learn's base classes (or a stand-in without it),
the training settings they pass to :func:`ffnlp.train.fit`, and small helpers."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ffnlp.autograd import Tensor, ops
from ffnlp.checks import check_int, check_threshold
from ffnlp.nn import Module
from ffnlp.settings import Settings, given_settings
from ffnlp.text.labelled import as_label_sets, is_multi_label
from ffnlp.train import TrainConfig, Training

# The kind of model file every text classifier is written as (ffnlp.io), and the layout of
# its description: files without one are layout 1, from before the classifier was split
# into parts, and are read through ffnlp.estimators.files.upgrade_layout_1; layout 2 held
# the same parameters as layout 3, `lazy` then named what is now `lazy_embeddings`.
KIND = "text_classifier"
LAYOUT = 3

# Set to "0" by the command line (ffnlp classify), which never hands its estimators to
# scikit-learn: importing it is most of a second of start-up and some 90 MB. Elsewhere,
# with scikit-learn installed, the estimators are real scikit-learn estimators.
SKLEARN_ENV = "FFNLP_SKLEARN_BASES"

try:  # scikit-learn is optional: with it, the estimators are real sklearn estimators.
    if os.environ.get(SKLEARN_ENV, "1") == "0":
        raise ImportError("scikit-learn's bases are not wanted in this process")
    from sklearn.base import BaseEstimator as EstimatorBase
    from sklearn.base import ClassifierMixin as ClassifierBase
    from sklearn.exceptions import NotFittedError
except ImportError:  # without scikit-learn, or with FFNLP_SKLEARN_BASES=0

    class NotFittedError(ValueError, AttributeError):
        """Raised when a model is used before ``fit``."""

    class EstimatorBase:
        """get_params / set_params by the constructor's signature, as scikit-learn does."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params: Any) -> EstimatorBase:
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

    class ClassifierBase:
        _estimator_type = "classifier"

        def score(self, X: Any, y: Any) -> float:
            return float(np.mean(self.predict(X) == np.asarray(y)))


class TextPredictions:
    """What every text classifier offers once it has ``predict_proba``, ``classes_`` and
    ``to_archive``: labels, the top k labels, and its model file."""

    def predict(self, X: Any) -> np.ndarray:
        check_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_top(
        self, X: Any, k: int = 1, threshold: float | None = None
    ) -> list[list[tuple[Any, float]]]:
        """The ``k`` most probable labels of each text, with their probabilities, most
        probable first; with ``threshold`` (in (0, 1)), only those of probability >=
        ``threshold`` (fastText's ``predict -k K --threshold P``: a text may get none)."""
        return top_labels(self.predict_proba(X), self.classes_, k, threshold)

    def predict_labels(
        self, X: Any, k: int | None = None, threshold: float = 0.5
    ) -> list[tuple[Any, ...]]:
        """The label set of each text: its labels of probability >= ``threshold``, the most
        probable first, at most ``k`` of them (None: no limit). For a multi-label model
        (``multi_label_``: trained on texts with several labels), whose "ova" probabilities
        are each class's own, 0.5 picks every label more likely present than not."""
        k = len(self.classes_) if k is None else k
        tops = top_labels(self.predict_proba(X), self.classes_, k, threshold)
        return [tuple(label for label, _ in top) for top in tops]

    def save(self, path: str | Path, reading: Mapping[str, Any] | None = None) -> None:
        """Write the fitted classifier: :meth:`to_archive` as a model file (``ffnlp.io``).

        ``reading``: how the training data was read (``Reading.to_dict()`` of
        :mod:`ffnlp.text.reading`), kept in the file beside the model, so that its test
        and prediction files are read alike with no flags; by default the one the model
        was loaded with (``reading_``), if any. Loading sets ``reading_`` (None for a file
        without one). A classifier chosen by :func:`ffnlp.autotune.autotune` keeps its
        search (``search_``: every trial and the recipe chosen) in the file too."""
        from ffnlp import io
        from ffnlp.text.reading import Reading

        meta, arrays = self.to_archive()
        reading = getattr(self, "reading_", None) if reading is None else reading
        if reading is not None:
            meta = {**meta, "reading": Reading.from_dict(reading).to_dict()}
        if getattr(self, "search_", None) is not None:
            meta = {**meta, "search": self.search_}
        # A quantized model's file is compressed: it is made to be small.
        io.save_archive(path, KIND, meta, arrays, compress="quantized" in meta)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """Read any text classifier's model file: the file says which estimator it holds
        (``TextClassifier.load`` and ``ContrastClauses.load`` return whichever it is, a
        file with contrast words as ``ContrastClauses``); ``LexiconClassifier.load``
        refuses any other kind."""
        from ffnlp.estimators.files import load_classifier

        model = load_classifier(path)
        if cls.__name__ not in ("TextClassifier", "ContrastClauses") and not isinstance(model, cls):
            raise ValueError(f"{str(path)!r} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def check_fitted(estimator: Any, attribute: str = "classes_") -> None:
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit() first")


class GroupedSettings:
    """An estimator whose settings sit in groups (:class:`ffnlp.settings.Settings`): the
    ``network``, ``text`` and ``training`` parameters, each a group, a dict of its settings,
    or None for the estimator's own defaults of that group.

    Every setting has one name across the groups, so :meth:`from_settings` takes them flat
    (as recipes, model files and the command line hold them), and scikit-learn's nested
    names reach inside (``set_params(training__lr=0.01)``, once a group is given).
    """

    #: parameter name -> the group class it holds.
    GROUPS: ClassVar[dict[str, type[Settings]]] = {}
    #: the estimator's own defaults of a group, where they are not the group's.
    DEFAULTS: ClassVar[dict[str, Settings]] = {}
    #: names earlier files used for today's settings.
    RENAMED: ClassVar[dict[str, str]] = {"lazy": "lazy_embeddings"}

    @classmethod
    def group_default(cls, group: str) -> Settings:
        default = cls.DEFAULTS.get(group)
        return copy.deepcopy(default) if default is not None else cls.GROUPS[group]()

    @classmethod
    def owner_of(cls) -> dict[str, str]:
        """setting name -> the group parameter holding it."""
        return {name: g for g, group in cls.GROUPS.items() for name in group.declared()}

    @classmethod
    def from_settings(cls, **settings: Any) -> Any:
        """The estimator with these settings, given flat: each goes to its group
        (``embed_dim`` to ``network``, ``lr`` to ``training``, ...), the estimator's own
        parameters stay as they are, and a group left out keeps its defaults.
        """
        owner = cls.owner_of()
        own = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        params: dict[str, Any] = {}
        grouped: dict[str, dict[str, Any]] = {g: {} for g in cls.GROUPS}
        for name, value in settings.items():
            name = cls.RENAMED.get(name, name)
            if name in owner:
                grouped[owner[name]][name] = value
            elif name in own:
                params[name] = value
            else:
                raise ValueError(
                    f"{cls.__name__} has no setting {name!r}; its settings are "
                    f"{sorted([*owner, *own])}"
                )
        for group, values in grouped.items():
            if not values:
                continue
            if group in params:
                raise ValueError(f"{sorted(values)[0]!r} is given both alone and in {group!r}")
            params[group] = dataclasses.replace(cls.group_default(group), **values)
        return cls(**params)

    def set_params(self, **params: Any) -> Any:
        """scikit-learn's ``set_params``, which also takes a group's setting by its own name
        (``set_params(lr=0.01)`` is ``set_params(training={..., "lr": 0.01})``), so a grid
        search can name settings as recipes do. The group given is never changed in place."""
        owner = self.owner_of()
        own = {k: v for k, v in params.items() if k not in owner}
        for name, value in params.items():
            if name in owner:
                group = owner[name]
                setattr(self, group, dataclasses.replace(self._given_group(group), **{name: value}))
        return super().set_params(**own) if own else self

    def _given_group(self, name: str) -> Any:
        """The ``name`` group as given (defaults for None, a dict laid over them), unchecked."""
        return given_settings(
            self.GROUPS[name], getattr(self, name), name, self.group_default(name)
        )

    def group(self, name: str) -> Any:
        """The ``name`` group as this estimator trains with it, every setting checked."""
        return self._given_group(name).check()

    def flat_settings(self) -> dict[str, Any]:
        """Every setting by its own name, the groups' included (what a file holds)."""
        flat = {k: v for k, v in self.get_params(deep=False).items() if k not in self.GROUPS}
        for name in self.GROUPS:
            flat.update(dataclasses.asdict(self.group(name)))
        return flat


def train_config(
    training: Training, random_state: int | None, verbose: bool, held_out: bool
) -> TrainConfig:
    """The training loop's settings from an estimator's training group, seed and verbosity;
    ``held_out``: whether it is given an ``eval_set``."""
    if training.lr_schedule == "plateau" and not held_out:
        raise ValueError(
            "lr_schedule='plateau' lowers the learning rate when the held-out loss stops "
            "improving: it needs an eval_set (--valid on the command line)"
        )
    settings = dataclasses.asdict(training)
    if not held_out:  # nothing to judge the epochs by: recorded as 0, as checkpoints had it
        settings["early_stopping"] = 0
    if training.lr_schedule != "plateau":
        # 1 under the other schedules, where it does nothing: their checkpoints from before
        # "constant" had its own name (a "plateau" that never acted) still resume.
        settings["lr_decay"] = 1.0
    return TrainConfig(
        **settings, seed=random_state if random_state is not None else 0, progress=verbose
    )


def held_out_targets(classes: np.ndarray, labels: Any) -> np.ndarray:
    """Held-out labels as class ids of ``classes`` (refused when one is unseen)."""
    labels = np.asarray(labels)
    check_unseen_labels(classes.tolist(), labels.tolist())
    return np.searchsorted(classes, labels).astype(np.int64)


class WithLoss(Module):
    """A network on feature rows, given the call shape the training loop expects:
    ``forward(x, targets) -> (logits, cross-entropy)``."""

    def __init__(self, network: Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: np.ndarray, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        logits = self.network(Tensor(x))
        return logits, None if targets is None else ops.cross_entropy(logits, targets)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def texts_of(X: Any) -> list[str]:
    """``X`` as a list of texts, or a TypeError / ValueError saying what it is instead."""
    if isinstance(X, str) or not isinstance(X, (Sequence, np.ndarray)):
        raise TypeError(f"X must be a list of texts; got {type(X).__name__}")
    texts = [str(x) for x in (X.ravel() if isinstance(X, np.ndarray) else X)]
    if not texts:
        raise ValueError("X holds no texts")
    return texts


def tokens_of(tokenizer: Any, texts: Sequence[str]) -> list[list[str]]:
    """``texts`` tokenized, refused when one has no token (every text needs a word)."""
    tokens = tokenizer.many(texts)
    empty = [i for i, t in enumerate(tokens) if not t]
    if empty:
        raise ValueError(
            f"text {empty[0]} is empty (no tokens); every text needs at least one word"
        )
    return tokens


def labels_of(y: Any, n: int, multi_label: bool = False) -> np.ndarray:
    """``y`` as an array of one label per text; label sets (tuples of labels) are refused
    unless ``multi_label`` (the estimator learns from them: see :func:`label_sets_of`)."""
    if not multi_label and not isinstance(y, np.ndarray) and is_multi_label(list(y)):
        raise ValueError(
            "y holds label sets (several labels for a text): this classifier learns one "
            "label per text; TextClassifier learns from label sets"
        )
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"y must hold one label per text; got {y.shape} labels for {n} texts")
    return y


def label_sets_of(y: Any, n: int) -> list[tuple[Any, ...]] | None:
    """The label set of each text when ``y`` holds label sets (a tuple, list or set of
    labels for some text; a label alone is a set of one), else None."""
    if isinstance(y, (str, np.ndarray)) or not isinstance(y, Sequence):
        return None
    if not is_multi_label(y):
        return None
    sets = as_label_sets(y)
    if len(sets) != n:
        raise ValueError(f"y must hold one label set per text; got {len(sets)} for {n} texts")
    empty = [i for i, labels in enumerate(sets) if not labels]
    if empty:
        raise ValueError(f"text {empty[0]} has an empty label set; every text needs a label")
    return sets


def label_matrix(classes: np.ndarray, sets: Sequence[Sequence[Any]]) -> np.ndarray:
    """A 0/1 matrix (N, C): row i marks the classes of label set i (refused when a label is
    not among ``classes``)."""
    check_unseen_labels(classes.tolist(), [y for labels in sets for y in labels])
    index = {str(c): j for j, c in enumerate(classes.tolist())}
    out = np.zeros((len(sets), len(classes)), dtype=np.float32)
    for i, labels in enumerate(sets):
        out[i, [index[str(y)] for y in labels]] = 1.0
    return out


def classes_of(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes and each label's class id; refuses a single class."""
    classes, targets = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"the training data has only one class ({classes[0].item()!r}); a classifier needs at least 2 classes"
        )
    return classes, targets


def held_out_metrics(
    predict_proba: Callable[[Any], np.ndarray],
    classes: np.ndarray,
    eval_set: tuple[Any, Any] | None,
) -> Callable[[Module], dict[str, float]] | None:
    """The per-epoch measurement of ``eval_set`` (inputs, labels) for :func:`ffnlp.train.fit`:
    mean loss and accuracy from ``predict_proba``; None without an eval set."""
    if eval_set is None:
        return None
    inputs, labels = eval_set
    targets = held_out_targets(classes, labels)

    def epoch_metrics(model: Module) -> dict[str, float]:
        probs = predict_proba(inputs)
        picked = probs[np.arange(len(probs)), targets]
        return {
            "valid_loss": float(-np.mean(np.log(np.maximum(picked, 1e-300)))),
            "valid_accuracy": float(np.mean(probs.argmax(axis=1) == targets)),
        }

    return epoch_metrics


def multi_label_metrics(
    predict_proba: Callable[[Any], np.ndarray],
    classes: np.ndarray,
    eval_set: tuple[Any, Any] | None,
    loss: str,
) -> Callable[[Module], dict[str, float]] | None:
    """:func:`held_out_metrics` for label sets: the mean loss of a text (the ova loss, or
    the softmax cross-entropy of its labels, each a share) and the precision at 1 (the
    share of texts whose most probable label is one of theirs)."""
    if eval_set is None:
        return None
    inputs, labels = eval_set
    targets = label_matrix(classes, as_label_sets(labels))

    def epoch_metrics(model: Module) -> dict[str, float]:
        probs = np.clip(predict_proba(inputs), 1e-300, 1 - 1e-16)
        if loss == "ova":
            losses = -(targets * np.log(probs) + (1 - targets) * np.log1p(-probs)).sum(axis=1)
        else:
            shares = targets / targets.sum(axis=1, keepdims=True)
            losses = -(shares * np.log(probs)).sum(axis=1)
        top = probs.argmax(axis=1)
        return {
            "valid_loss": float(losses.mean()),
            "valid_precision_at_1": float(targets[np.arange(len(top)), top].mean()),
        }

    return epoch_metrics


def top_labels(
    probs: np.ndarray, classes: np.ndarray, k: int, threshold: float | None = None
) -> list[list[tuple[Any, float]]]:
    """The ``k`` most probable labels of each row of ``probs``, with their probabilities;
    with ``threshold``, only those of probability >= ``threshold``."""
    check_int("k", k, minimum=1)
    if threshold is not None:
        check_threshold(threshold)
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    labels = classes.tolist()  # plain Python values
    low = -np.inf if threshold is None else threshold
    return [
        [(labels[j], float(row[j])) for j in top if row[j] >= low] for row, top in zip(probs, order)
    ]


def check_unseen_labels(known: Sequence[Any], labels: Sequence[Any]) -> None:
    """Raise a clear error when evaluation data has labels the model never saw."""
    known_set = {str(k) for k in known}
    unseen = sorted({str(label) for label in labels} - known_set)
    if unseen:
        raise ValueError(
            f"the test data has labels the model was never trained on: {unseen[:5]}; the model knows {sorted(known_set)}"
        )


def read_classes(meta: dict[str, Any]) -> np.ndarray:
    """The classes a model file holds, as the labels' own type (JSON keeps strings)."""
    classes, kind = meta["classes"], meta.get("label_type")
    if kind in ("i", "u"):
        return np.array([int(c) for c in classes])
    if kind == "f":
        return np.array([float(c) for c in classes])
    if kind == "b":
        return np.array([c == "True" for c in classes])
    return np.array(classes)
