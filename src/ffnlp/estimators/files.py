"""Reading any text classifier's model file: the file says which estimator wrote it.

Files of layout 1, written before the classifier was split into parts (one
``TextClassifier`` with 36 parameters, ``features="embeddings"|"lexicon"``, the wide tower
inside the network), are translated to today's parts by :func:`upgrade_layout_1`, so they
load and predict exactly as they did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.checks import is_int
from ffnlp.estimators.base import KIND, LAYOUT
from ffnlp.estimators.contrast import ContrastClauses, check_contrast_words
from ffnlp.estimators.lexicon import LexiconClassifier
from ffnlp.estimators.text import TextClassifier
from ffnlp.text.reading import Reading

ESTIMATORS = {cls.__name__: cls for cls in (TextClassifier, LexiconClassifier)}


def load_classifier(path: str | Path) -> Any:
    """The classifier a file of ``save`` holds: a :class:`TextClassifier` or
    :class:`LexiconClassifier`, wrapped in :class:`ContrastClauses` when the file has
    contrast words. Checks everything first."""
    meta, arrays = io.load_archive(path, kind=KIND)
    try:
        layout = meta.get("layout", 1)
        if not is_int(layout) or layout > LAYOUT:
            raise ValueError(
                f"{str(path)!r} is a classifier of layout {layout!r}, written by a newer ffnlp "
                f"(this one reads layouts 1 to {LAYOUT}); upgrade ffnlp to read it"
            )
        if layout == 1:
            meta, arrays = upgrade_layout_1(meta, arrays)
        cls = ESTIMATORS.get(meta.get("estimator"))
        if cls is None:
            raise ValueError(
                f"{str(path)!r} holds a {meta.get('estimator')!r}, which is not a classifier "
                f"ffnlp knows ({', '.join(ESTIMATORS)})"
            )
        model = cls.from_archive(path, meta, arrays)
        words = check_contrast_words(meta.get("contrast_words") or ())
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{str(path)!r}: the classifier description is incomplete or wrong ({err})"
        ) from None
    model.reading_ = _reading(path, meta.get("reading"))
    model.search_ = meta.get("search")  # how --auto chose the recipe (None: it did not)
    if not words:
        return model
    wrapper = ContrastClauses(type(model)(**model.get_params(deep=False)), words=words)
    wrapper.estimator_, wrapper.classes_, wrapper.reading_ = model, model.classes_, model.reading_
    wrapper.search_ = model.search_
    return wrapper


def _reading(path: str | Path, recorded: Any) -> dict[str, Any] | None:
    """How the model's training data was read, checked (None: files from before it was
    recorded)."""
    if recorded is None:
        return None
    try:
        return Reading.from_dict(recorded).to_dict()
    except ValueError as err:
        raise ValueError(
            f"{str(path)!r}: the record of how its training data was read is wrong ({err})"
        ) from None


# The parameters of layout 1 that today's TextClassifier has under the same name.
_KEPT = (
    "embed_dim", "pooling", "hidden_dims", "activation", "dropout", "word_dropout",
    "pool_words_only", "wide", "min_count", "max_vocab", "unknown_words", "tokenizer",
    "lowercase", "freeze_embeddings", "epochs", "batch_size", "batch_by_length", "lr",
    "optimizer", "weight_decay", "lr_schedule", "class_weight", "lazy", "random_state",
    "verbose",
)  # fmt: skip
_LEXICON_KEPT = (
    "lexicon_size", "tokenizer", "lowercase", "activation", "dropout", "weight_decay",
    "epochs", "batch_size", "lr", "optimizer", "random_state", "verbose",
)  # fmt: skip


def upgrade_layout_1(
    meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A layout-1 description and its arrays, as today's parts describe the same model."""
    old = meta["params"]
    new: dict[str, Any] = {
        "classes": meta["classes"],
        "label_type": meta.get("label_type"),
        "layout": LAYOUT,
        "contrast_words": list(old.get("contrast_words") or ()),
    }
    if old.get("features", "embeddings") == "lexicon":
        params = {k: old[k] for k in _LEXICON_KEPT if k in old}
        params["hidden_dims"] = list(old.get("hidden_dims") or ()) or [16]  # its old default
        new.update(
            estimator="LexiconClassifier",
            params=params,
            lexicon=meta["lexicon"],
            config=meta.get("config", {}),
        )
        return new, dict(arrays)
    arrays = dict(arrays)
    features, states = [], []
    if old.get("bigrams"):
        features.append({"kind": "bigrams", "buckets": old.get("buckets", 200_000)})
        states.append(
            ({}, {"table": arrays.pop("bigram_table")} if "bigram_table" in arrays else {})
        )
    if old.get("prefix_ngrams"):
        features.append({"kind": "openings", "n": old["prefix_ngrams"]})
        states.append(({}, {"table": arrays.pop("prefix_table")}))
    if old.get("prefix_pairs"):
        features.append({"kind": "opening-pairs", "n": old["prefix_pairs"]})
        states.append(({}, {"table": arrays.pop("pair_table")}))
    if old.get("word_shapes"):
        features.append({"kind": "word-shapes"})
        states.append(({"shapes": meta["shapes"]}, {}))
    for i, (_, tables) in enumerate(states):
        arrays.update({f"features.{i}.{k}": v for k, v in tables.items()})
    params = {k: old[k] for k in _KEPT if k in old}
    config = dict(meta["config"])
    wide = bool(config.get("wide", False))
    params["features"] = features
    # With wide, the old tower had the NB scores and the network pooled the words alone:
    # today's wide says both, so neither setting is asked of the network.
    params["nb_features"] = bool(old.get("nb_features")) and not wide
    params["pool_words_only"] = bool(old.get("pool_words_only")) and not wide
    deep = {
        "vocab_size": config["vocab_size"],
        "num_classes": config["num_classes"],
        "embed_dim": config.get("embed_dim", 100),
        "extra_rows": config.get("buckets", 0),
        "pooling": config.get("pooling", "mean"),
        "hidden_dims": config.get("hidden_dims", ()),
        "activation": config.get("activation", "relu"),
        "dropout": config.get("dropout", 0.0),
        "word_dropout": config.get("word_dropout", 0.0),
        "nb_features": 0 if wide else config.get("nb_features", 0),
        "pool_words_only": bool(config.get("pool_words_only", False)) or wide,
        "class_weights": config.get("class_weights", ()),
    }
    network = [{"kind": "DeepAveragingNetwork", "config": deep}]
    if wide:
        network.append(
            {
                "kind": "NaiveBayesLinear",
                "config": {
                    "vocab_size": deep["vocab_size"],
                    "num_classes": deep["num_classes"],
                    "embed_dim": deep["embed_dim"],
                    "extra_rows": deep["extra_rows"],
                    "nb_features": config["nb_features"],
                    "dropout": deep["dropout"],
                    "class_weights": deep["class_weights"],
                },
            }
        )
        renamed = {
            "nb_table": "member1.nb_table",
            "wide_embedding.weight": "member1.embedding.weight",
            "wide_output.weight": "member1.output.weight",
            "wide_output.bias": "member1.output.bias",
        }
        arrays = {
            renamed.get(k, k if k.startswith("features.") else f"member0.{k}"): v
            for k, v in arrays.items()
        }
    new.update(
        estimator="TextClassifier",
        params=params,
        vocab=meta["vocab"],
        network=network,
        features=[meta_state for meta_state, _ in states],
    )
    return new, arrays
