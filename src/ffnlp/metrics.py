"""Evaluation of classifiers: accuracy, precision, recall, F1, the confusion matrix, and
stratified k-fold cross-validation splits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffnlp.checks import check_int


def _encode(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if not y_true:
        raise ValueError("cannot evaluate on zero examples")
    labels = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred), key=str)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({str(y) for y in [*y_true, *y_pred] if y not in index})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among the classes {labels}")
    return np.array([index[y] for y in y_true]), np.array([index[y] for y in y_pred]), labels


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Fraction of examples whose predicted label is the true one."""
    t, p, _ = _encode(y_true, y_pred, None)
    return float(np.mean(t == p))


def confusion_matrix(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> np.ndarray:
    """Counts C[i, j] of examples of true class i predicted as class j."""
    t, p, labels = _encode(y_true, y_pred, labels)
    return np.bincount(t * len(labels) + p, minlength=len(labels) ** 2).reshape(
        len(labels), len(labels)
    )


@dataclass
class ClassificationReport:
    """Per-class precision, recall, F1 and support, their macro averages, accuracy and the
    confusion matrix (rows: true class, columns: predicted)."""

    labels: list[Any]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    confusion: np.ndarray

    @property
    def macro_precision(self) -> float:
        return float(self.precision.mean())

    @property
    def macro_recall(self) -> float:
        return float(self.recall.mean())

    @property
    def macro_f1(self) -> float:
        return float(self.f1.mean())

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "classes": {
                str(label): {
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(f),
                    "support": int(s),
                }
                for label, p, r, f, s in zip(
                    self.labels, self.precision, self.recall, self.f1, self.support
                )
            },
            "confusion_matrix": self.confusion.tolist(),
            "labels": [str(label) for label in self.labels],
        }

    def __str__(self) -> str:
        width = max(9, *(len(str(label)) for label in self.labels))
        lines = [f"{'class':<{width}}  precision  recall     f1  support"]
        for label, p, r, f, s in zip(
            self.labels, self.precision, self.recall, self.f1, self.support
        ):
            lines.append(f"{label!s:<{width}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {s:7d}")
        total = int(self.support.sum())
        lines.append(
            f"{'macro avg':<{width}}  {self.macro_precision:9.4f}  {self.macro_recall:6.4f}  {self.macro_f1:6.4f}  {total:7d}"
        )
        lines.append(f"{'accuracy':<{width}}  {'':9}  {'':6}  {self.accuracy:6.4f}  {total:7d}")
        lines.append("")
        lines.append("confusion matrix (rows: true, columns: predicted)")
        cell = max(5, len(str(self.confusion.max())) + 1)
        lines.append(
            " " * width + "".join(f"{str(label)[: cell - 1]:>{cell}}" for label in self.labels)
        )
        for label, row in zip(self.labels, self.confusion):
            lines.append(f"{label!s:<{width}}" + "".join(f"{v:>{cell}d}" for v in row))
        return "\n".join(lines)


def classification_report(
    y_true: Sequence[Any], y_pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> ClassificationReport:
    """Precision, recall and F1 per class (0 where undefined), with macro averages."""
    t, p, labels = _encode(y_true, y_pred, labels)
    k = len(labels)
    confusion = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(confusion).astype(float)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(
            precision + recall > 0,
            2 * precision * recall / np.where(precision + recall > 0, precision + recall, 1),
            0.0,
        )
    return ClassificationReport(
        labels, precision, recall, f1, support, float(tp.sum() / len(t)), confusion
    )


def stratified_kfold(
    labels: Sequence[Any], k: int = 10, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train_indices, test_indices) for each of ``k`` folds; every class is spread evenly
    over the folds (each fold gets its share, to within one example), in a seeded order."""
    labels = list(labels)
    k = check_int("folds", k, minimum=2)
    counts: dict[Any, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    if len(labels) < k:
        raise ValueError(f"cannot make {k} folds from {len(labels)} examples")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for label in sorted(counts, key=str):
        members = np.flatnonzero(np.array([y == label for y in labels]))
        members = rng.permutation(members)
        fold_of[members] = (np.arange(len(members)) + offset) % k  # deal the class round the folds
        offset += len(members)
    for fold in range(k):
        yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
