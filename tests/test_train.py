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


def test_max_time_ends_the_run_after_the_step_that_passes_it(monkeypatch):
    # A clock that moves 1 s at each step: with 2.5 s, the third step is the first after
    # the deadline; the epoch so far is then evaluated and the best model kept.
    import ffnlp.step

    clock = iter(range(10_000))
    real_step = ffnlp.step.LocalStep.__call__

    def one_second_a_step(self, indices):
        self.now = next(clock)
        return real_step(self, indices)

    monkeypatch.setattr(ffnlp.step.LocalStep, "__call__", one_second_a_step)
    monkeypatch.setattr(
        ffnlp.step.LocalStep,
        "_past_deadline",
        lambda self: self.deadline is not None and self.now + 1 > 2.5,
    )
    config = TrainConfig(epochs=5, batch_size=8, lr=0.1, max_time=2.5, progress=False)
    model = _model()
    history = fit(model, _data(), _data(n=16), config)
    assert history.out_of_time and history.stopped_early
    assert (history.steps, len(history.epochs)) == (3, 1)  # 5 steps an epoch: stopped within
    assert "valid_loss" in history.epochs[0] and history.best_epoch == 1


def test_max_time_is_a_length_of_time():
    assert TrainConfig(max_time="1h30m").max_time == 5400.0
    assert TrainConfig(max_time=90).max_time == 90.0
    for bad in (0, "-1m", "soon", "1x", True):
        with pytest.raises(ValueError, match="max_time must be a length of time > 0"):
            TrainConfig(max_time=bad)


def test_a_tiny_max_time_stops_lm_train_after_one_step_and_says_so(tmp_path, capsys):
    from ffnlp.cli import main

    text = "\n".join(["the cat sat on the mat", "a dog ate the bone"] * 30) + "\n"
    (tmp_path / "train.txt").write_text(text)
    (tmp_path / "valid.txt").write_text(text[:200])
    argv = ["lm", "train", str(tmp_path / "train.txt"), "--valid", str(tmp_path / "valid.txt")]
    argv += ["--out", str(tmp_path / "m.npz"), "--context-size", "2", "--embed-dim", "4"]
    argv += ["--hidden", "8", "--batch-size", "16", "--no-progress", "--max-time", "0.000001"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "after 1 step (stopped by --max-time 0.000001, within epoch 1 of 10)" in out
    assert main([*argv[:-1], "5 minutes"]) == 2
    assert "--max-time must be a length of time > 0" in capsys.readouterr().err
