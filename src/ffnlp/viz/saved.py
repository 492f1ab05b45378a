"""Pictures of saved models: load either kind of model file, find its word embeddings,
and run one training step on a small batch so its graph can be drawn."""

from __future__ import annotations

from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.autograd import Tensor
from ffnlp.estimators import KIND as CLASSIFIER_KIND
from ffnlp.estimators import TextClassifier, load_classifier
from ffnlp.estimators.text import deep_network
from ffnlp.models.classifier import TextDataset
from ffnlp.models.language_model import KIND as LM_KIND
from ffnlp.models.language_model import FeedforwardLM
from ffnlp.viz.graph import training_step

KINDS = (LM_KIND, CLASSIFIER_KIND)


def load_model(path: str) -> FeedforwardLM | TextClassifier:
    """A neural language model or a text classifier, whichever ``path`` holds.

    Raises:
        ValueError: for anything else (n-gram models have no embeddings or graph).
    """
    kind = io.load_archive(path)[0].get("kind")
    if kind == LM_KIND:
        return FeedforwardLM.load(path)
    if kind == CLASSIFIER_KIND:
        return load_classifier(path)
    raise ValueError(
        f"{path!r} holds a {kind!r} model; pictures need a neural LM (ffnlp lm train) "
        "or a classifier (ffnlp classify train)"
    )


def _text_classifier(model: Any) -> TextClassifier:
    """The classifier on embeddings inside ``model`` (itself, or the one a wrapper holds)."""
    inner = getattr(model, "estimator_", model)  # ContrastClauses wraps a classifier
    if not isinstance(inner, TextClassifier):
        raise ValueError("this classifier uses lexicon features; it has no word embeddings")
    return inner


def embedding_table(model: Any) -> tuple[np.ndarray, list[str]]:
    """(vectors (V, D), words) of the model's vocabulary, most frequent word first, without
    the special tokens (``<unk>``, ``<s>``, ``</s>``)."""
    if isinstance(model, FeedforwardLM):
        weight, vocab = model.embedding.weight.data, model.vocab
    else:
        classifier = _text_classifier(model)
        weight = deep_network(classifier.model_).embedding.weight.data
        vocab = classifier.vocab_
    first = 3  # the specials come first in every vocabulary
    return np.asarray(weight[first : len(vocab)]), vocab.itos[first:]


def sample_step(
    model: FeedforwardLM | TextClassifier, batch_size: int = 8, seed: int = 0
) -> tuple[Tensor, Any]:
    """One training step (forward and backward, no update) on a batch of random token ids
    from the model's vocabulary; returns (loss, the network that was run)."""
    rng = np.random.default_rng(seed)
    if isinstance(model, FeedforwardLM):
        V, N = model.config.vocab_size, model.config.window_size
        contexts = rng.integers(3, V, size=(batch_size, N))
        return training_step(model, contexts, rng.integers(3, V, size=batch_size)), model
    try:
        classifier = _text_classifier(model)
    except ValueError:
        raise ValueError(
            "this classifier uses lexicon features; draw a neural model instead"
        ) from None
    network = classifier.model_
    docs = [
        rng.integers(3, len(classifier.vocab_), size=rng.integers(3, 12)) for _ in range(batch_size)
    ]
    targets = rng.integers(0, len(classifier.classes_), size=batch_size)
    inputs, _ = TextDataset(docs).batch(np.arange(batch_size))
    return training_step(network, inputs, targets), network
