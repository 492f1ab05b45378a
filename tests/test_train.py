"""The training loop's learning-rate schedules (checkpoints and resume: test_checkpoint)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.train import ArrayDataset, TrainConfig, fit


def _data(n=40, vocab=8, context=2):
    rng = np.random.default_rng(0)
    contexts = rng.integers(0, vocab, size=(n, context))
    return ArrayDataset(contexts, (contexts.sum(axis=1) % vocab).astype(np.int64))


def _model():
    return FeedforwardLM(FeedforwardLMConfig(vocab_size=8, context_size=2, embed_dim=4), rng=1)


def _step_lrs(log_path):
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    return [r["lr"] for r in lines if "train_loss" in r and "seconds" not in r]


def test_linear_schedule_falls_to_zero_over_all_steps(tmp_path):
    # 40 examples in batches of 16: 3 steps an epoch, 6 in all; the log shows the rate
    # each step used: lr * (1 - t / 6) for t = 0..5.
    config = TrainConfig(
        epochs=2,
        batch_size=16,
        optimizer="sgd",
        lr=0.6,
        lr_schedule="linear",
        early_stopping=0,
        log_every=1,
        progress=False,
    )
    fit(_model(), _data(), None, config, log_path=tmp_path / "log.jsonl")
    np.testing.assert_allclose(_step_lrs(tmp_path / "log.jsonl"), [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_linear_schedule_ends_at_max_steps(tmp_path):
    config = TrainConfig(
        epochs=5,
        batch_size=16,
        lr=0.4,
        lr_schedule="linear",
        max_steps=4,
        early_stopping=0,
        log_every=1,
        progress=False,
    )
    fit(_model(), _data(), None, config, log_path=tmp_path / "log.jsonl")
    np.testing.assert_allclose(_step_lrs(tmp_path / "log.jsonl"), [0.4, 0.3, 0.2, 0.1])


def test_plateau_schedule_keeps_the_rate_without_validation(tmp_path):
    config = TrainConfig(epochs=2, batch_size=16, lr=0.3, log_every=1, progress=False)
    fit(_model(), _data(), None, config, log_path=tmp_path / "log.jsonl")
    assert _step_lrs(tmp_path / "log.jsonl") == [0.3] * 6


def test_unknown_schedule_is_refused():
    with pytest.raises(
        ValueError,
        match=r"lr_schedule must be one of \('constant', 'plateau', 'linear'\); got 'cosine'",
    ):
        TrainConfig(lr_schedule="cosine")
