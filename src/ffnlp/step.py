"""One optimizer step: on this process alone, or on K ranks that share every batch.

:func:`ffnlp.train.fit` chooses one of the two before its loop and then calls it once per
batch, ``loss = step(indices)``: forward, backward, the gradients summed across ranks (in
the data-parallel step), a guard against NaN, clipping, and the update. Both steps leave
the same weights for the same batch (up to float32 round-off in the order of the sums,
see :mod:`ffnlp.distributed`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ffnlp import distributed, optim
from ffnlp.nn import Module


class TrainingDiverged(ValueError):
    """The loss or the gradient became NaN or infinite; nothing was updated with it."""


def _never() -> bool:
    return False


class LocalStep:
    """One step of this process on a whole batch.

    Args:
        model: ``forward(inputs, targets) -> (outputs, loss)``.
        optimizer: updates the model's parameters.
        data: the training data, ``batch(indices) -> (inputs, targets)``.
        clip_norm: clip the gradients' joint norm to this (None: no clipping).
        signalled: whether this process was asked to stop (SIGINT, SIGTERM); see
            :meth:`stop_requested`.

    ``deadline``, a :func:`time.perf_counter` time (None: none), is when
    :meth:`out_of_time` becomes true (the training loop's ``max_time``).

    ``step(indices)`` returns the batch's mean loss; it raises :class:`TrainingDiverged`
    when the loss or the gradient norm is not finite, before the weights are touched.

    Example:
        >>> import numpy as np
        >>> from ffnlp import optim
        >>> from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
        >>> from ffnlp.train import ArrayDataset
        >>> lm = FeedforwardLM(FeedforwardLMConfig(vocab_size=5, context_size=2, embed_dim=3), rng=0)
        >>> data = ArrayDataset(np.array([[1, 2], [2, 3]]), np.array([3, 4]))
        >>> step = LocalStep(lm, optim.SGD(lm.parameters(), lr=0.5), data)
        >>> losses = [step(np.array([0, 1])) for _ in range(20)]
        >>> bool(losses[-1] < losses[0])
        True
    """

    def __init__(
        self,
        model: Module,
        optimizer: optim.Optimizer,
        data: Any,
        clip_norm: float | None = None,
        signalled: Callable[[], bool] = _never,
    ) -> None:
        self.model, self.optimizer, self.data = model, optimizer, data
        self.clip_norm, self.signalled = clip_norm, signalled
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.deadline: float | None = None

    def __call__(self, indices: np.ndarray) -> float:
        self.optimizer.zero_grad()
        _, loss = self.model(*self.data.batch(indices))
        value = float(loss.item())
        _check_loss(value)  # before backward: a NaN loss has nothing to teach
        loss.backward()
        self._update()
        return value

    def stop_requested(self) -> bool:
        """Whether to stop after this step: this process was signalled."""
        return self.signalled()

    def out_of_time(self) -> bool:
        """Whether the deadline has passed, after this step."""
        return self._past_deadline()

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def _update(self) -> None:
        norm = (
            optim.clip_grad_norm_(self.params, self.clip_norm)
            if self.clip_norm is not None
            else optim.grad_norm(self.params)
        )
        if not math.isfinite(norm):
            raise TrainingDiverged(f"the gradient norm became {norm}")
        self.optimizer.step()


class DataParallelStep(LocalStep):
    """One step of K ranks together: each computes its share of the global batch (see
    :func:`ffnlp.distributed.shard`), the gradients are summed across ranks, and every
    rank takes the same update.

    Args:
        model, optimizer, data: as for :class:`LocalStep`.
        comm: the ranks; they must have started alike (see
            :func:`ffnlp.distributed.start_together`).
        clip_norm, signalled: as for :class:`LocalStep`.

    ``step(indices)`` returns the global batch's mean loss, the same on every rank, so
    the ranks diverge, stop or go on together.
    """

    def __init__(
        self,
        model: Module,
        optimizer: optim.Optimizer,
        data: Any,
        comm: distributed.Communicator,
        clip_norm: float | None = None,
        signalled: Callable[[], bool] = _never,
    ) -> None:
        super().__init__(model, optimizer, data, clip_norm, signalled)
        self.comm = comm
        self.embeddings = distributed.embedding_weights(model)
        self._anyone_signalled: bool | None = None  # as summed with the last step's gradients
        self._anyone_out_of_time = False

    def __call__(self, indices: np.ndarray) -> float:
        self.optimizer.zero_grad()
        local = distributed.shard(indices, self.comm)
        weight = len(local) / len(indices)
        local_loss = 0.0
        if len(local):  # a global batch smaller than K leaves some ranks without examples
            _, loss = self.model(*self.data.batch(local))
            local_loss = float(loss.item())
            loss.backward()
        # The stop signal and the deadline travel with the gradients: no extra message per
        # step, and the ranks, whose clocks differ, stop after the same step.
        loss_sum, signalled, late = distributed.sum_gradients(
            self.params,
            self.comm,
            weight,
            extras=(
                weight * local_loss,
                float(bool(self.signalled())),
                float(self._past_deadline()),
            ),
            sparse=self.embeddings,
            mode=self.comm.embedding_gradients,
        )
        self._anyone_signalled = bool(signalled)
        self._anyone_out_of_time = bool(late)
        value = float(loss_sum)
        _check_loss(value)
        self._update()
        return value

    def stop_requested(self) -> bool:
        """Whether to stop: any rank was signalled. The signal reaches each rank at a
        different moment, so they agree on it (or they would wait for each other for
        ever): after a step, with its gradients; otherwise in a message of its own, which
        every rank must then ask for at the same point."""
        anyone, self._anyone_signalled = self._anyone_signalled, None
        if anyone is None:
            anyone = bool(self.comm.allreduce_sum(np.array([float(bool(self.signalled()))]))[0])
        return anyone

    def out_of_time(self) -> bool:
        """Whether any rank's deadline had passed at the last step (all agree on it)."""
        return self._anyone_out_of_time


def _check_loss(value: float) -> None:
    if not math.isfinite(value):
        raise TrainingDiverged(f"the loss became {value}")
