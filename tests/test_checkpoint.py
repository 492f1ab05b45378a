"""Checkpoints and resume through the Python API: an interrupted and resumed run ends with
the same weights, bit for bit, as one that was never interrupted; signals save a
checkpoint; a NaN stops training before it touches the weights."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from ffnlp import checkpoint as ckpt
from ffnlp.autograd import Tensor, ops
from ffnlp.estimators import Bigrams, LexiconClassifier, OpeningPairs, TextClassifier
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.nn import Module, Parameter
from ffnlp.train import (
    ArrayDataset,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    fit,
    parse_every,
)

from .test_estimators import NEG, POS


def _lm_data(seed=0, n=120, vocab=12, context=3):
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, vocab, size=(n, context))
    targets = (contexts.sum(axis=1) % vocab).astype(np.int64)
    return ArrayDataset(contexts, targets)


def _lm():
    config = FeedforwardLMConfig(
        vocab_size=12, context_size=3, embed_dim=6, hidden_dims=(10,), dropout=0.3
    )
    return FeedforwardLM(config, rng=7)


LM_TRAINING = TrainConfig(
    epochs=4, batch_size=16, lr=0.02, lr_patience=0, early_stopping=0, progress=False
)


class _Interrupt(Exception):
    """Stands for a crash (a kill) in the middle of a step."""


class _FailingAt(ArrayDataset):
    """A dataset that sends a signal to this process, or crashes, at its n-th batch."""

    def __init__(self, data, at, action):
        super().__init__(data.inputs, data.targets)
        self.at, self.action, self.calls = at, action, 0

    def batch(self, indices):
        self.calls += 1
        if self.calls == self.at:
            if self.action == "crash":
                raise _Interrupt
            os.kill(os.getpid(), self.action)
        return super().batch(indices)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert np.array_equal(sa[name], sb[name]), name


def test_parse_every():
    assert parse_every(500) == (500, "steps")
    assert parse_every("500") == (500, "steps")
    assert parse_every("20steps") == (20, "steps")
    assert parse_every("1epoch") == (1, "epochs")
    assert parse_every("2 epochs") == (2, "epochs")
    for bad in ("0", "x", "-3", "1 week", 0):
        with pytest.raises(ValueError, match="checkpoint-every must be a positive number"):
            parse_every(bad)


@pytest.mark.parametrize(
    ("every", "interrupt_at", "action"),
    [
        ("5", 13, signal.SIGINT),  # mid-epoch, by Ctrl-C: the checkpoint is the signal's
        ("5", 19, "crash"),  # a crash: resume from the last step checkpoint (step 15)
        ("1epoch", 20, signal.SIGTERM),
        ("1epoch", 27, "crash"),  # crash in epoch 4: resume from the end of epoch 3
    ],
)
def test_interrupted_and_resumed_lm_equals_an_uninterrupted_run(
    tmp_path, every, interrupt_at, action
):
    # Without validation data the final weights are the last step's, not the best epoch's.
    train, valid = _lm_data(0), (_lm_data(1, n=40) if action != "crash" else None)
    reference = _lm()
    expected = fit(reference, train, valid, LM_TRAINING)

    path = tmp_path / "lm.ckpt"
    model = _lm()
    error = TrainingInterrupted if action != "crash" else _Interrupt
    with pytest.raises(error) as info:
        fit(
            model,
            _FailingAt(train, interrupt_at, action),
            valid,
            LM_TRAINING,
            checkpoint=path,
            checkpoint_every=every,
        )
    if action != "crash":
        assert info.value.exit_code == 128 + action and info.value.checkpoint == path
        assert "checkpoint saved to" in str(info.value)
    assert path.exists()

    resumed = _lm()  # a fresh process would build the same model from the same seed
    history = fit(resumed, train, valid, LM_TRAINING, checkpoint=path, resume=True)
    _assert_same_weights(resumed, reference)
    assert [r["train_loss"] for r in history.epochs] == [r["train_loss"] for r in expected.epochs]
    assert [r["lr"] for r in history.epochs] == [r["lr"] for r in expected.epochs]
    assert history.best_epoch == expected.best_epoch


def test_the_best_model_survives_a_resume(tmp_path):
    """The best weights live in the checkpoint, so the model kept at the end is the best
    epoch's even when that epoch was before the interruption."""
    train, valid = _lm_data(0), _lm_data(1, n=40)
    overfit = TrainConfig(epochs=6, batch_size=8, lr=0.3, early_stopping=0, progress=False)
    reference = _lm()
    expected = fit(reference, train, valid, overfit)
    path = tmp_path / "lm.ckpt"
    with pytest.raises(_Interrupt):
        fit(
            _lm(),
            _FailingAt(train, 4 * 15 + 3, "crash"),
            valid,
            overfit,
            checkpoint=path,
            checkpoint_every="1 epoch",
        )
    resumed = _lm()
    history = fit(resumed, train, valid, overfit, checkpoint=path, resume=True)
    assert history.best_epoch == expected.best_epoch
    _assert_same_weights(resumed, reference)


def test_resume_refuses_other_settings_or_data(tmp_path):
    train = _lm_data(0)
    path = tmp_path / "lm.ckpt"
    with pytest.raises(_Interrupt):
        fit(
            _lm(),
            _FailingAt(train, 9, "crash"),
            None,
            LM_TRAINING,
            checkpoint=path,
            checkpoint_every=4,
        )
    other = TrainConfig(**{**LM_TRAINING.to_dict(), "lr": 0.5})
    with pytest.raises(ValueError, match=r"it was made with lr=0.02, but this run has 0.5"):
        fit(_lm(), train, None, other, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="made on 120 training examples, but this run has 60"):
        fit(_lm(), _lm_data(0, n=60), None, LM_TRAINING, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="made with other training data"):
        fit(_lm(), _lm_data(1), None, LM_TRAINING, checkpoint=path, resume=True)  # same size
    other_model = FeedforwardLM(
        FeedforwardLMConfig(
            vocab_size=12, context_size=3, embed_dim=6, hidden_dims=(10,), dropout=0.5
        ),
        rng=7,
    )
    with pytest.raises(
        ValueError, match=r"made with other model settings \(dropout: 0.3 then, 0.5 now"
    ):
        fit(other_model, train, None, LM_TRAINING, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="there is no checkpoint"):
        fit(_lm(), train, None, LM_TRAINING, checkpoint=tmp_path / "none.ckpt", resume=True)
    more_epochs = TrainConfig(**{**LM_TRAINING.to_dict(), "epochs": 6})
    assert len(fit(_lm(), train, None, more_epochs, checkpoint=path, resume=True).epochs) == 6


def test_a_linear_schedule_resumes_only_with_the_same_epochs(tmp_path):
    train = _lm_data(0)
    linear = TrainConfig(**{**LM_TRAINING.to_dict(), "lr_schedule": "linear"})
    reference = fit(_lm(), train, None, linear)
    path = tmp_path / "lm.ckpt"
    with pytest.raises(_Interrupt):
        fit(_lm(), _FailingAt(train, 9, "crash"), None, linear, checkpoint=path, checkpoint_every=4)
    more_epochs = TrainConfig(**{**linear.to_dict(), "epochs": 6})
    with pytest.raises(ValueError, match=r"it was made with epochs=4, but this run has 6"):
        fit(_lm(), train, None, more_epochs, checkpoint=path, resume=True)
    resumed = fit(_lm(), train, None, linear, checkpoint=path, resume=True)
    assert [r["train_loss"] for r in resumed.epochs] == [r["train_loss"] for r in reference.epochs]


@pytest.mark.parametrize(
    "params",
    [
        {
            "features": [Bigrams(buckets=64)],
            "word_dropout": 0.2,
            "dropout": 0.2,
            "hidden_dims": (8,),
        },
        {"lexicon": True, "hidden_dims": (4,), "dropout": 0.1},
        {"features": [OpeningPairs(2)], "optimizer": "sgd", "lr": 0.5, "lr_schedule": "linear"},
        {"batch_by_length": True, "hidden_dims": (8,)},
        {"wide": True, "features": [Bigrams()], "dropout": 0.3, "word_dropout": 0.1},
    ],
    ids=["embeddings", "lexicon", "linear-schedule", "by-length", "wide"],
)
def test_interrupted_and_resumed_classifier_equals_an_uninterrupted_run(
    tmp_path, monkeypatch, params
):
    texts, labels = POS * 3 + NEG * 3, ["pos"] * (3 * len(POS)) + ["neg"] * (3 * len(NEG))
    settings = {"epochs": 5, "batch_size": 4, "lr": 0.02, **params}
    if settings.pop("lexicon", False):
        make = LexiconClassifier
    else:
        make, settings["embed_dim"] = TextClassifier, 8
    reference = make.from_settings(**settings).fit(texts, labels)

    import ffnlp.train

    path = tmp_path / "clf.ckpt"
    calls = {"n": 0}
    original = ffnlp.train.optim.Optimizer.step

    def crash_at_step_17(self):
        calls["n"] += 1
        if calls["n"] == 17:
            raise _Interrupt
        original(self)

    monkeypatch.setattr(ffnlp.train.optim.Optimizer, "step", crash_at_step_17)
    with pytest.raises(_Interrupt):
        make.from_settings(**settings).fit(texts, labels, checkpoint=path, checkpoint_every=3)
    monkeypatch.setattr(ffnlp.train.optim.Optimizer, "step", original)
    resumed = make.from_settings(**settings).fit(texts, labels, checkpoint=path, resume=True)
    if make is LexiconClassifier:
        _assert_same_weights(resumed.network_.network_, reference.network_.network_)
    else:
        _assert_same_weights(resumed.model_, reference.model_)
    assert np.array_equal(resumed.predict_proba(texts), reference.predict_proba(texts))


def test_checkpoint_holds_every_generator(tmp_path):
    model = _lm()
    names = {name for name, _ in model.named_generators()}
    assert names == {"input_dropout.rng", "hidden.2.rng"}
    path = tmp_path / "lm.ckpt"
    with pytest.raises(_Interrupt):
        fit(
            model,
            _FailingAt(_lm_data(), 3, "crash"),
            None,
            LM_TRAINING,
            checkpoint=path,
            checkpoint_every="1",
        )
    saved = ckpt.load(path)
    assert set(saved.meta["generators"]) == names | {ckpt.DEFAULT_GENERATOR}
    assert saved.position.step == 2 and saved.position.batch == 2
    assert any(k.startswith("optimizer.") and k.endswith("exp_avg") for k in saved.arrays)


# ---------------------------------------------------------------------------- divergence


class _Toy(Module):
    """loss = sum(where(x is not infinite, w * x, 0)): NaN where x is NaN; finite where x is
    infinite, but then its gradient is NaN (0 * inf, the classic trap of `where`)."""

    def __init__(self):
        super().__init__()
        self.w = Parameter(np.ones(3, dtype=np.float32))

    def forward(self, x, targets=None):
        x = np.asarray(x, dtype=np.float32)
        keep = ~np.isinf(x)
        return None, ops.where(keep, self.w * Tensor(x), Tensor(np.zeros_like(x))).sum() / 10


class _PoisonedAt(ArrayDataset):
    """Training data whose n-th batch holds a bad value."""

    def __init__(self, n, bad):
        super().__init__(np.ones((8, 3), dtype=np.float32), np.zeros(8, dtype=np.int64))
        self.n, self.bad, self.calls = n, bad, 0

    def batch(self, indices):
        self.calls += 1
        x, y = super().batch(indices)
        if self.calls == self.n:
            x = x.copy()
            x[0, 1] = self.bad
        return x, y


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(
    ("bad", "message"),
    [(np.nan, "the loss became nan"), (-np.inf, "the gradient norm became nan")],
)
def test_a_nan_stops_training_before_the_weights_change(tmp_path, bad, message):
    config = TrainConfig(epochs=3, batch_size=2, lr=0.1, early_stopping=0, progress=False)
    model, path, best = _Toy(), tmp_path / "toy.ckpt", tmp_path / "best.bin"
    valid = ArrayDataset(np.full((2, 3), -1.0, dtype=np.float32), np.zeros(2, dtype=np.int64))

    def save_best(m, record):  # what the command line does: write the best model's file
        best.write_bytes(m.w.data.tobytes())

    train = _PoisonedAt(6, bad)  # epoch 2, batch 2
    with pytest.raises(TrainingDiverged, match=message) as info:
        fit(model, train, valid, config, on_best=save_best, checkpoint=path, checkpoint_every=1)
    text = str(info.value)
    assert "at epoch 2, step 6" in text and "--lr" in text and "--clip-norm" in text
    # The bad step changed nothing: the weights are those of step 5, the checkpoint's.
    saved = ckpt.load(path)
    assert saved.position.step == 5
    assert np.array_equal(model.w.data, saved.arrays["model.w"])
    assert np.isfinite(model.w.data).all()
    assert best.read_bytes() == saved.best_state()["w"].tobytes()  # epoch 1's best model
    assert math.isfinite(saved.position.epoch_loss)


def test_a_checkpoint_from_before_a_new_model_setting_resumes_with_its_default(tmp_path):
    from ffnlp import io

    texts, labels = POS * 3 + NEG, ["pos"] * 18 + ["neg"] * 6
    params = {"embed_dim": 8, "epochs": 2, "batch_size": 4}
    path = tmp_path / "clf.ckpt"
    TextClassifier.from_settings(**params).fit(texts, labels, checkpoint=path, checkpoint_every=3)
    meta, arrays = io.load_archive(path, kind=ckpt.KIND)
    del meta["identity"]["model settings"]["class_weights"]  # as written before it existed
    del meta["identity"]["model defaults"]
    meta = {k: v for k, v in meta.items() if k not in ("format", "version", "kind", "checksum")}
    old = tmp_path / "old.ckpt"
    io.save_archive(old, ckpt.KIND, meta, arrays)
    TextClassifier.from_settings(**{**params, "epochs": 3}).fit(
        texts, labels, checkpoint=old, resume=True
    )
    with pytest.raises(ValueError, match=r"class_weights: \[\] then, \[2.0, 0.6666"):
        TextClassifier.from_settings(**{**params, "epochs": 3}, class_weight="balanced").fit(
            texts, labels, checkpoint=old, resume=True
        )


def test_a_classifier_checkpoint_from_before_the_parts_is_refused_naming_why(tmp_path):
    """tests/data/layout1/classifier.ckpt was written by the classifier of one class
    (make_checkpoint.py): resuming it is refused with the reason, and nothing is written."""
    import shutil

    path = tmp_path / "old.ckpt"
    shutil.copy(Path(__file__).parent / "data" / "layout1" / "classifier.ckpt", path)
    before = path.read_bytes()
    texts = ["a great film", "a dull film", "great fun", "dull and flat"] * 5
    labels = ["pos", "neg", "pos", "neg"] * 5
    model = TextClassifier.from_settings(embed_dim=4, epochs=3, batch_size=4)
    with pytest.raises(ValueError, match="written by an earlier ffnlp, before the classifier"):
        model.fit(texts, labels, checkpoint=path, resume=True)
    assert path.read_bytes() == before and not hasattr(model, "classes_")


def test_a_checkpoint_from_before_constant_had_its_name_resumes_a_constant_run(tmp_path):
    # Before, classify's "constant" ran as a plateau schedule with lr_decay 1 (never acting).
    train = _lm_data(0)
    constant = TrainConfig(**{**LM_TRAINING.to_dict(), "lr_schedule": "constant", "lr_decay": 1.0})
    path = tmp_path / "lm.ckpt"
    with pytest.raises(_Interrupt):
        fit(
            _lm(),
            _FailingAt(train, 9, "crash"),
            None,
            constant,
            checkpoint=path,
            checkpoint_every=4,
        )
    saved = ckpt.load(path)
    saved.meta["training"]["lr_schedule"] = "plateau"  # as the older ffnlp wrote it
    saved.check_compatible(constant.to_dict(), len(train))
    plateau = TrainConfig(**{**constant.to_dict(), "lr_schedule": "plateau"})
    saved.check_compatible(plateau.to_dict(), len(train))
    saved.meta["training"]["lr_decay"] = 0.5  # a plateau that acted is no constant schedule
    with pytest.raises(ValueError, match=r"made with lr-decay=0\.5, but this run has 1\.0"):
        saved.check_compatible(constant.to_dict(), len(train))
