"""Evaluation of classifiers: accuracy, precision, recall, F1, the confusion matrix, and
stratified k-fold cross-validation splits (kept apart where texts lie inside others)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffnlp.backend.sorting import unique
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
    labels: Sequence[Any], k: int = 10, seed: int = 0, groups: Sequence[int] | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train_indices, test_indices) for each of ``k`` folds; every class is spread evenly
    over the folds (each fold gets its share, to within one example), in a seeded order.

    ``groups`` (one id per example, e.g. from :func:`containing_groups`): the examples of
    one group always fall in the same fold, the groups dealt out by the label of their
    first example."""
    labels = list(labels)
    k = check_int("folds", k, minimum=2)
    if groups is None:
        first = np.arange(len(labels))
        group_of = first
    else:
        group_of = np.asarray(groups, dtype=np.int64)
        if group_of.shape != (len(labels),):
            raise ValueError(f"groups must give one group per example ({len(labels)})")
        _, first, group_of = unique(group_of, return_index=True, return_inverse=True)
    units = [labels[i] for i in first]  # one label per group
    if len(units) < k:
        raise ValueError(
            f"cannot make {k} folds from {len(units)} "
            + ("examples" if groups is None else "groups of examples")
        )
    counts: dict[Any, int] = {}
    for label in units:
        counts[label] = counts.get(label, 0) + 1
    rng = np.random.default_rng(seed)
    fold_of_unit = np.empty(len(units), dtype=np.int64)
    offset = 0
    for label in sorted(counts, key=str):
        members = np.flatnonzero(np.array([y == label for y in units]))
        members = rng.permutation(members)
        fold_of_unit[members] = (np.arange(len(members)) + offset) % k  # deal the class round
        offset += len(members)
    fold_of = fold_of_unit[group_of]
    for fold in range(k):
        yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


def containing_groups(texts: Sequence[str], max_candidates: int = 1000) -> np.ndarray:
    """For each text, the index of the longest text it lies inside as a run of words
    (ignoring case; itself when none does): a phrase annotated apart from its sentence, a
    duplicate, a sentence quoted in a review, all join the longer text's group.

    Held-out scoring needs this. Where the training data holds labelled pieces of its own
    texts (SST's phrases), a random split puts pieces of the held-out texts in training,
    and the held-out accuracy no longer measures new text: on SST-2's 67,349 phrases a
    random fifth scores 92% and its 6,885 whole texts about 82%. Splitting by these groups
    keeps every piece with its whole text.

    Texts are taken longest first; a text is looked for only in the longer texts that
    contain its rarest word (the first ``max_candidates`` of them, which bounds the cost on
    large data: a text may then be missed inside a longer one, never put in a wrong group).
    """
    tokens = [str(text).lower().split() for text in texts]
    counts: dict[str, int] = {}
    for words in tokens:
        for word in set(words):
            counts[word] = counts.get(word, 0) + 1
    group = np.arange(len(tokens), dtype=np.int64)
    holders: dict[str, list[int]] = {}  # word -> the whole texts containing it
    spelled: dict[int, str] = {}  # a whole text, space-padded so a match is whole words
    for i in sorted(range(len(tokens)), key=lambda i: -len(tokens[i])):
        words = tokens[i]
        if not words:
            continue
        needle = " " + " ".join(words) + " "
        rarest = min(set(words), key=counts.__getitem__)
        inside = next(
            (j for j in holders.get(rarest, ())[:max_candidates] if needle in spelled[j]), None
        )
        if inside is not None:
            group[i] = inside
            continue
        spelled[i] = needle
        for word in set(words):
            holders.setdefault(word, []).append(i)
    return group


# ---------------------------------------------------------------------------- label sets


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    total = precision + recall
    return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)


@dataclass
class MultiLabelReport:
    """How well predicted label sets match the true ones.

    ``precision`` and ``recall`` are fastText's P@k and R@k (``fasttext test MODEL FILE
    K``): the correct predictions over all predictions, and over all true labels, summed
    over the texts (micro averages); ``micro_f1`` is their harmonic mean; ``macro_f1`` the
    mean of each label's F1, over the labels the texts have or were predicted; per label,
    ``label_precision``, ``label_recall``, ``label_f1`` and ``support`` (texts with it).
    """

    texts: int
    k: int
    threshold: float
    precision: float
    recall: float
    labels: list[Any]
    label_precision: np.ndarray
    label_recall: np.ndarray
    label_f1: np.ndarray
    support: np.ndarray

    @property
    def micro_f1(self) -> float:
        return float(_f1(np.array(self.precision), np.array(self.recall)))

    @property
    def macro_f1(self) -> float:
        return float(self.label_f1.mean()) if len(self.labels) else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "k": self.k,
            "threshold": self.threshold,
            f"precision_at_{self.k}": self.precision,
            f"recall_at_{self.k}": self.recall,
            "micro_f1": self.micro_f1,
            "macro_f1": self.macro_f1,
            "labels": {
                str(label): {
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(f),
                    "support": int(s),
                }
                for label, p, r, f, s in zip(
                    self.labels,
                    self.label_precision,
                    self.label_recall,
                    self.label_f1,
                    self.support,
                )
            },
        }

    def __str__(self) -> str:
        width = max(9, *(len(str(label)) for label in self.labels)) if self.labels else 9
        shown = f"k {self.k}" + (f", threshold {self.threshold:g}" if self.threshold else "")
        lines = [
            f"{'texts':<{width}}  {self.texts}",
            f"{f'P@{self.k}':<{width}}  {self.precision:.4f}",
            f"{f'R@{self.k}':<{width}}  {self.recall:.4f}",
            f"{'micro F1':<{width}}  {self.micro_f1:.4f}",
            f"{'macro F1':<{width}}  {self.macro_f1:.4f}",
            "",
            f"per label ({shown}):",
            f"{'label':<{width}}  precision  recall     f1  support",
        ]
        for label, p, r, f, s in zip(
            self.labels, self.label_precision, self.label_recall, self.label_f1, self.support
        ):
            lines.append(f"{label!s:<{width}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {s:7d}")
        return "\n".join(lines)


def multi_label_report(
    y_true: Sequence[Sequence[Any]],
    y_pred: Sequence[Sequence[Any]],
    k: int = 1,
    threshold: float = 0.0,
) -> MultiLabelReport:
    """P@k, R@k and F1 of predicted label sets ``y_pred`` (each text's predictions: its at
    most ``k`` labels of probability >= ``threshold``, as ``fasttext predict -k K`` gives
    them) against the true label sets ``y_true``. ``k`` and ``threshold`` are recorded, not
    applied: the predictions are already cut.

    A prediction counts as correct when the text has that label, so P@k = correct / all
    predictions and R@k = correct / all true labels, as fastText's ``test`` computes
    them (0 where there is nothing to divide by, where fastText says nan).
    """
    truth = [set(labels) for labels in y_true]
    guesses = [list(dict.fromkeys(labels)) for labels in y_pred]
    if len(truth) != len(guesses):
        raise ValueError(f"y_true has {len(truth)} label sets but y_pred has {len(guesses)}")
    if not truth:
        raise ValueError("cannot evaluate on zero examples")
    correct = sum(len(truth_i & set(guess)) for truth_i, guess in zip(truth, guesses))
    predicted = sum(len(guess) for guess in guesses)
    gold = sum(len(truth_i) for truth_i in truth)
    labels = sorted({y for s in [*truth, *map(set, guesses)] for y in s}, key=str)
    index = {label: j for j, label in enumerate(labels)}
    tp, pred, support = (np.zeros(len(labels)) for _ in range(3))
    for truth_i, guess in zip(truth, guesses):
        for y in guess:
            pred[index[y]] += 1
            tp[index[y]] += y in truth_i
        for y in truth_i:
            support[index[y]] += 1
    precision = np.where(pred > 0, tp / np.maximum(pred, 1), 0.0)
    recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
    return MultiLabelReport(
        texts=len(truth),
        k=k,
        threshold=threshold,
        precision=correct / predicted if predicted else 0.0,
        recall=correct / gold if gold else 0.0,
        labels=labels,
        label_precision=precision,
        label_recall=recall,
        label_f1=_f1(precision, recall),
        support=support.astype(np.int64),
    )
