"""The training loop's settings: the learning-rate schedule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ffnlp import nn
from ffnlp.estimators import _WithLoss
from ffnlp.train import ArrayDataset, TrainConfig, fit


def test_linear_schedule_lowers_the_rate_step_by_step_to_zero(tmp_path):
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.normal(size=(10, 3)).astype(np.float32), rng.integers(0, 2, 10))
    model = _WithLoss(nn.MLP([3, 4, 2], rng=0))
    config = TrainConfig(
        epochs=2,
        batch_size=4,  # 3 steps an epoch, 6 in all
        lr=0.06,
        lr_decay=1.0,
        lr_schedule="linear",
        log_every=1,
        progress=False,
    )
    fit(model, data, None, config, log_path=tmp_path / "log.jsonl")
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    rates = [r["lr"] for r in records if "seconds" not in r]  # the rate each step used
    np.testing.assert_allclose(rates, [0.06 * (1 - k / 6) for k in range(6)])
    with pytest.raises(ValueError, match="lr-schedule must be one of"):
        TrainConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match="lr-schedule 'linear' replaces the halving"):
        TrainConfig(lr_schedule="linear", lr_decay=0.5)
    assert "lr_schedule" not in TrainConfig().to_dict()  # older checkpoints still resume
