"""The two steps of the training loop: one process's and K ranks' (here K = 1, the
identity communicator; `mpirun -n 2` runs are in test_distributed)."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import distributed, optim
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.step import DataParallelStep, LocalStep, TrainingDiverged
from ffnlp.train import ArrayDataset, TrainConfig, make_optimizer


def _lm():
    config = FeedforwardLMConfig(vocab_size=9, context_size=2, embed_dim=4, hidden_dims=(6,))
    return FeedforwardLM(config, rng=3)


def _data(n=24):
    rng = np.random.default_rng(0)
    contexts = rng.integers(0, 9, size=(n, 2))
    return ArrayDataset(contexts, (contexts.sum(axis=1) % 9).astype(np.int64))


class _Counting(distributed.SingleProcess):
    """One process that counts its Allreduce messages."""

    def __init__(self):
        super().__init__()
        self.messages = 0

    def allreduce_sum(self, array):
        self.messages += 1
        return array


def test_the_local_step_is_forward_backward_and_the_update():
    data, batch = _data(), np.arange(8)
    model, by_hand = _lm(), _lm()
    step = LocalStep(model, make_optimizer(model, TrainConfig(lr=0.01)), data, clip_norm=0.1)
    optimizer = make_optimizer(by_hand, TrainConfig(lr=0.01))
    for _ in range(3):
        loss = step(batch)
        optimizer.zero_grad()
        _, expected = by_hand(*data.batch(batch))
        expected.backward()
        optim.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 0.1)
        optimizer.step()
        assert loss == float(expected.item())
    for name, value in model.state_dict().items():
        assert np.array_equal(value, by_hand.state_dict()[name]), name


def test_one_rank_of_the_data_parallel_step_equals_the_local_step():
    data = _data()
    local, parallel = _lm(), _lm()
    local_step = LocalStep(local, make_optimizer(local, TrainConfig(lr=0.05)), data)
    comm = _Counting()
    parallel_step = DataParallelStep(
        parallel, make_optimizer(parallel, TrainConfig(lr=0.05)), data, comm
    )
    for batch in (np.arange(0, 8), np.arange(8, 24), np.array([5])):
        assert parallel_step(batch) == local_step(batch)
    for name, value in local.state_dict().items():
        assert np.array_equal(value, parallel.state_dict()[name]), name


def test_the_ranks_agree_to_stop_with_the_gradients_or_else_in_a_message_of_their_own():
    signals = []
    comm = _Counting()
    model = _lm()
    step = DataParallelStep(
        model, make_optimizer(model, TrainConfig()), _data(), comm, signalled=lambda: bool(signals)
    )
    step(np.arange(8))
    after_the_step = comm.messages
    signals.append(2)
    assert step.stop_requested() is False  # as it was when the gradients were summed
    assert comm.messages == after_the_step
    assert step.stop_requested() is True  # no step since: asked now, in one more message
    assert comm.messages == after_the_step + 1


def test_a_nan_loss_stops_the_step_before_the_update():
    model = _lm()
    data = ArrayDataset(np.array([[1, 2]]), np.array([3]))
    model.embedding.weight.data[1, 0] = np.nan
    before = model.state_dict()
    step = LocalStep(model, make_optimizer(model, TrainConfig()), data)
    with pytest.raises(TrainingDiverged, match=r"^the loss became nan$"):
        step(np.array([0]))
    for name, value in model.state_dict().items():
        assert np.array_equal(value, before[name], equal_nan=True), name
