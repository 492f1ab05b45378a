"""Small text classifiers (fastText's ``quantize``, Joulin et al. 2016, "FastText.zip").

:func:`quantize_classifier` makes a :class:`~ffnlp.estimators.TextClassifier` small:

1. ``cutoff``: keep the rows (words, bigrams, other features) of largest norm; a dropped
   row leaves every text it was in, as fastText drops a pruned word or n-gram;
2. product-quantize every table of rows (each embedding table, the wide tower's too, by
   :func:`ffnlp.quantize.quantize_rows`; the naive Bayes and idf tables by 8-bit levels);
3. ``retrain``: train the layers after the rows again, the decoded rows fixed, so that
   they learn to read the rows as quantized;
4. ``qout``: the dense layers' weights as 8-bit levels too.

The small classifier predicts with its rows decoded once, when it is built or loaded
(a full table in memory: predictions as fast as the original's); its file keeps the
codes, compressed.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ffnlp.checks import check_bool, check_int
from ffnlp.estimators.base import (
    check_fitted,
    held_out_targets,
    labels_of,
    texts_of,
    tokens_of,
    train_config,
)
from ffnlp.models.classifier import DeepAveragingNetwork, NaiveBayesLinear, TextDataset
from ffnlp.nn import Module
from ffnlp.quantize import QuantizedRows, quantize_rows
from ffnlp.train import fit

PREFIX = "quantized."


class PrunedRows:
    """A :class:`~ffnlp.text.row_features.TextRows` whose texts lose the rows a cutoff
    dropped (their ids stay, so the tables keep their shapes)."""

    def __init__(self, encoder: Any, kept: np.ndarray) -> None:
        self.encoder = encoder
        self.kept = kept

    def __getattr__(self, name: str) -> Any:  # vocab, features, extra_rows, ...
        encoder = self.__dict__.get("encoder")  # absent while copy or pickle rebuild it
        if encoder is None:
            raise AttributeError(name)
        return getattr(encoder, name)

    def rows(self, tokens: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        rows, starts = self.encoder.rows(tokens, **kwargs)
        keep = self.kept[rows]
        counts = np.concatenate(([0], np.cumsum(keep)))
        return rows[keep], counts[starts]


@dataclass
class Quantization:
    """How a classifier was made small, and the codes its file keeps.

    Attributes:
        settings: cutoff, dsub, qnorm, qout, retrain, as given.
        kept: (rows,) bool, the rows the cutoff kept (None: all).
        tables: parameter name -> its codes (the kept rows of a table of rows, or a dense
            layer's weights as one column).
        shapes: parameter name -> the shape it decodes to.
    """

    settings: dict[str, Any]
    kept: np.ndarray | None = None
    tables: dict[str, QuantizedRows] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        s = self.settings
        flags = [f"dsub {s['dsub']}"] + [k for k in ("qnorm", "qout", "retrain") if s[k]]
        if s["cutoff"]:
            flags.insert(0, f"cutoff {s['cutoff']}")
        return ", ".join(flags)

    def decoded(self, name: str) -> np.ndarray:
        """Parameter ``name`` as the network uses it (dropped rows zero)."""
        shape = self.shapes[name]
        values = self.tables[name].decode()
        if _is_dense(name):  # a dense layer's weights, one column of levels
            return values.reshape(shape)
        values = values.reshape(-1, *shape[1:])
        if self.kept is None or len(values) == shape[0]:
            return values
        out = np.zeros(shape, dtype=np.float32)
        out[self.kept[: shape[0]]] = values
        return out

    def archive(
        self, meta: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """A classifier's (meta, arrays) with the codes in place of the parameters."""
        arrays = {k: v for k, v in arrays.items() if k not in self.tables}
        for name, table in self.tables.items():
            arrays.update(table.arrays(f"{PREFIX}{name}."))
        if self.kept is not None:
            arrays[f"{PREFIX}kept"] = np.packbits(self.kept)
        described = {
            **self.settings,
            "rows": None if self.kept is None else len(self.kept),
            "shapes": {k: list(v) for k, v in self.shapes.items()},
        }
        return {**meta, "quantized": described}, arrays

    @classmethod
    def from_archive(
        cls, path: Any, described: Any, arrays: dict[str, np.ndarray]
    ) -> tuple[Quantization, dict[str, np.ndarray]]:
        """The record a file's ``quantized`` entry describes, and its arrays with every
        quantized parameter decoded (for the usual checks of shapes)."""
        try:
            settings = {k: described[k] for k in ("cutoff", "dsub", "qnorm", "qout", "retrain")}
            shapes = {k: tuple(int(n) for n in v) for k, v in described["shapes"].items()}
            rows = described["rows"]
            arrays = dict(arrays)
            kept = None
            if rows is not None:
                packed = arrays.pop(f"{PREFIX}kept")
                kept = np.unpackbits(packed, count=int(rows)).astype(bool)
            record = cls(settings, kept)
            for name, shape in shapes.items():
                prefix = f"{PREFIX}{name}."
                dim = 1 if len(shape) == 1 or _is_dense(name) else shape[1]
                record.tables[name] = QuantizedRows.from_arrays(arrays, prefix, dim)
                record.shapes[name] = shape
                for key in [k for k in arrays if k.startswith(prefix)]:
                    del arrays[key]
                arrays[name] = record.decoded(name)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ValueError(f"{str(path)!r}: its quantized tables are damaged ({err})") from None
        return record, arrays


def _is_dense(name: str) -> bool:
    return ".mlp." in f".{name}" or ".output." in f".{name}"


def _members(model: Module) -> list[tuple[str, Module]]:
    members = getattr(model, "members", None)
    if members is None:
        return [("", model)]
    return [(f"member{i}.", m) for i, m in enumerate(members)]


def _row_tables(model: Module) -> list[tuple[str, Module, str]]:
    """(parameter name, member, attribute) of every table with one row per row id."""
    found = []
    for prefix, member in _members(model):
        names = ["embedding.weight"]
        if getattr(member.config, "nb_features", 0):
            names.append("nb_table")
        if getattr(member.config, "pooling", None) == "tfidf":
            names.append("idf")
        found += [(prefix + n, member, n) for n in names]
    return found


def _row_weights(member: Module) -> np.ndarray | None:
    """How much each row's vector counts in the member's pooling (None: alike)."""
    nb_weighted = isinstance(member, NaiveBayesLinear) or (
        isinstance(member, DeepAveragingNetwork) and member.config.pooling == "nb"
    )
    return np.abs(member.nb_table.data).max(axis=1) if nb_weighted else None


def importance(model: Module, rows: int) -> np.ndarray:
    """Each row id's weight in the model, (rows,): the norm of its embedding (times its
    naive Bayes weight where the pooling weighs rows by it), over the mean row's, summed
    over the embedding tables it has a row in."""
    score = np.zeros(rows)
    for _, member in _members(model):
        table = member.embedding.weight.data.astype(np.float64)
        norms = np.sqrt((table * table).sum(axis=1))
        weights = _row_weights(member)
        if weights is not None:
            norms = norms * weights[: len(norms)]
        mean = norms.mean()
        score[: len(norms)] += norms / mean if mean > 0 else norms
    return score


def quantize_classifier(
    clf: Any,
    cutoff: int = 0,
    dsub: int = 2,
    qnorm: bool = False,
    qout: bool = False,
    retrain: bool = False,
    X: Any = None,
    y: Any = None,
    epochs: int | None = None,
    random_state: int = 0,
) -> Any:
    """A small copy of a fitted :class:`~ffnlp.estimators.TextClassifier` (see the module's
    docstring); ``clf`` itself is unchanged.

    Args:
        clf: the fitted classifier.
        cutoff: keep this many rows, those of largest :func:`importance` (0: all).
        dsub: dimensions per quantized part of a row (one byte per part).
        qnorm: quantize the rows' norms apart.
        qout: quantize the dense layers' weights (8-bit levels).
        retrain: train the dense layers again on texts ``X``, labels ``y``, the rows fixed,
            for ``epochs`` (None: the classifier's own) at its learning rate.
        random_state: seeds k-means (and the retraining).

    Raises:
        ValueError: for a classifier already quantized, settings out of range, or
            ``retrain`` without data.
    """
    check_fitted(clf)
    if getattr(clf, "quantized_", None) is not None:
        raise ValueError(
            f"this classifier is already quantized ({clf.quantized_.describe()}); "
            "quantize the original model instead"
        )
    cutoff = check_int("cutoff", cutoff, minimum=0)
    dsub = check_int("dsub", dsub, minimum=1)
    qnorm, qout, retrain = (
        check_bool(n, v) for n, v in (("qnorm", qnorm), ("qout", qout), ("retrain", retrain))
    )
    if retrain and (X is None or y is None):
        raise ValueError(
            "retrain trains the layers after the rows again: give the training texts and labels"
        )
    if epochs is not None:
        epochs = check_int("epochs", epochs, minimum=1)
    small = copy.deepcopy(clf)
    model = small.model_
    rows = len(small.vocab_) + small._fitted.encoder.extra_rows
    settings = {"cutoff": cutoff, "dsub": dsub, "qnorm": qnorm, "qout": qout, "retrain": retrain}
    record = Quantization(settings)
    if cutoff and cutoff < rows:
        order = np.argsort(-importance(model, rows), kind="stable")
        record.kept = np.zeros(rows, dtype=bool)
        record.kept[order[:cutoff]] = True
        small._fitted.encoder = PrunedRows(small._fitted.encoder, record.kept)
    rng = np.random.default_rng(random_state)
    for name, member, attribute in _row_tables(model):
        param = (
            member.embedding.weight
            if attribute == "embedding.weight"
            else getattr(member, attribute)
        )
        values = param.data
        shape = values.shape
        kept = values if record.kept is None else values[record.kept[: len(values)]]
        if attribute == "embedding.weight":
            codes = quantize_rows(kept, dsub, qnorm, rng)
        else:  # a few numbers per row: 8-bit levels, column by column
            codes = quantize_rows(kept.reshape(len(kept), -1), 1, False, rng)
        record.tables[name], record.shapes[name] = codes, tuple(shape)
        param.data = record.decoded(name).astype(values.dtype)
        param.requires_grad_(False)  # fixed from now on (a retraining must not move them)
    if retrain:
        texts = texts_of(X)
        labels = labels_of(y, len(texts))
        targets = held_out_targets(small.classes_, labels).astype(np.int64)
        data = TextDataset.from_ragged(
            *small._fitted.encoder.rows(tokens_of(small.tokenizer_, texts)), targets
        )
        training = small.group("training")
        if epochs is not None:
            training = dataclasses.replace(training, epochs=epochs)
        fit(
            model,
            data,
            None,
            train_config(training, random_state, False, held_out=False),
            unit="texts",
        )
    if qout:
        dense = {n: p for n, p in model.named_parameters() if _is_dense(n) and p.data.ndim == 2}
        for name, param in dense.items():
            record.tables[name] = quantize_rows(param.data.reshape(-1, 1), 1, False, rng)
            record.shapes[name] = tuple(param.data.shape)
            param.data = record.decoded(name).astype(param.data.dtype)
    small.quantized_ = record
    return small
