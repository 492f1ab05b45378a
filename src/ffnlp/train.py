"""One training loop for every model.

A model is any :class:`ffnlp.nn.Module` whose ``forward(inputs, targets)`` returns
``(outputs, loss)``; a dataset is anything with ``len()`` and ``batch(indices) ->
(inputs, targets)``. :func:`fit` runs mini-batch optimisation with the chosen optimizer,
evaluates on validation data after every epoch, lowers the learning rate when validation
stops improving, stops early, and keeps the best model.

The loop calls three parts (``docs/architecture.md``): a step (:mod:`ffnlp.step`, one
process's or K ranks'), a :class:`ffnlp.checkpoint.Checkpointer` (checkpoints, resume,
SIGINT and SIGTERM) and a :class:`ffnlp.runlog.RunLog` (the JSON-lines log, the progress).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from ffnlp import checkpoint as ckpt
from ffnlp import distributed, optim
from ffnlp.autograd import no_grad
from ffnlp.checkpoint import TrainingInterrupted as TrainingInterrupted  # caught by callers
from ffnlp.checks import is_int
from ffnlp.nn import Module
from ffnlp.runlog import RunLog
from ffnlp.settings import Settings, setting
from ffnlp.step import DataParallelStep, LocalStep, TrainingDiverged
from ffnlp.text.batching import minibatches, num_batches

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "plateau", "linear")


class Dataset(Protocol):
    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray) -> tuple[Any, Any]: ...


class ArrayDataset:
    """Inputs and targets held as arrays with the same first axis (e.g. context windows)."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"ArrayDataset: {len(inputs)} inputs but {len(targets)} targets")
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.targets)

    def batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.inputs[indices], self.targets[indices]

    def fingerprint(self) -> str:
        """A hash of every example (what a resumed or parallel run checks it shares)."""
        digest = hashlib.blake2b(digest_size=16)
        for array in (self.inputs, self.targets):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()


@dataclass
class Training(Settings):
    """How a model is trained: the settings a user chooses (``--epochs``, ``--lr``, ...),
    shared by every command and estimator that trains; :class:`TrainConfig` adds the run's
    seed and display."""

    epochs: int = setting(
        10,
        "at most this many passes over the data (early stopping may end sooner)",
        kind="int",
        minimum=1,
    )
    batch_size: int = setting(256, "examples per step", kind="int", minimum=1)
    optimizer: str = setting(
        "adam",
        "the optimizer (weight decay: L2 for sgd and adam, decoupled for adamw)",
        kind="choice",
        choices=OPTIMIZERS,
    )
    lr: float = setting(1e-3, "the initial learning rate", minimum=0, min_inclusive=False)
    momentum: float = setting(0.0, "momentum (sgd)", minimum=0, maximum=1, max_inclusive=False)
    weight_decay: float = setting(0.0, "L2 weight decay (biases excluded)", minimum=0)
    clip_norm: float | None = setting(
        None,
        "clip the gradients' joint norm to this (default: no clipping)",
        minimum=0,
        min_inclusive=False,
        optional=True,
    )
    lr_schedule: str = setting(
        "plateau",
        "how the learning rate changes: constant (never), plateau (multiplied by --lr-decay "
        "whenever the validation loss does not improve; needs validation data) or linear "
        "(falling to 0 over all the steps, fastText's: lr * (1 - t / T) before step t of T)",
        kind="choice",
        choices=LR_SCHEDULES,
    )
    lr_decay: float = setting(
        0.5,
        "the plateau schedule's factor (0.5 halves the rate; 1: never changes it)",
        minimum=0,
        maximum=1,
        min_inclusive=False,
    )
    lr_patience: int = setting(
        0,
        "epochs without improvement before the plateau schedule lowers the rate",
        kind="int",
        minimum=0,
    )
    min_lr: float = setting(0.0, "the rate never goes below this", minimum=0)
    early_stopping: int = setting(
        3,
        "stop after this many epochs without improvement of the validation loss (0: never)",
        kind="int",
        minimum=0,
    )
    lazy_embeddings: bool = setting(
        False,
        "Adam/AdamW update only the embedding rows a batch used, and their moments "
        "(see ffnlp.optim.Adam; PyTorch's SparseAdam)",
        kind="bool",
    )
    max_steps: int | None = setting(
        None, "stop after this many steps in all (the epoch in progress ends there, with its "
        "validation; default: no limit)", kind="int", minimum=1, optional=True,
    )  # fmt: skip

    max_time: float | None = setting(
        None,
        "stop at the first step after this much training time (seconds, or 90s, 20m, 1h), "
        "then evaluate the epoch so far and keep the best model (default: no limit)",
        kind="duration",
        optional=True,
    )


# The text classifiers' defaults (ffnlp.estimators, ``ffnlp classify``), where they differ
# from the declared ones, which are the language model's: 32 texts a step, a constant rate,
# and lazy Adam on the embedding rows (a batch uses few of them). Early stopping is the
# language model's (3 epochs), and acts only where there are held-out texts.
CLASSIFIER_TRAINING = Training(batch_size=32, lr_schedule="constant", lazy_embeddings=True)


@dataclass
class TrainConfig(Training):
    """Settings of :func:`fit`: the :class:`Training` settings, and the run's own.

    Attributes:
        seed: the seed of the batch order.
        log_every: steps between progress updates and log lines.
        progress: show a progress bar (tqdm, when installed) on stderr.
    """

    check_on_init: ClassVar[bool] = True

    seed: int = setting(0, "the seed of the batch order", kind="int", minimum=0)
    log_every: int = setting(
        100, "steps between progress updates and log lines", kind="int", minimum=1
    )
    progress: bool = setting(True, "show a progress bar on stderr", kind="bool")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(model: Module, config: TrainConfig) -> optim.Optimizer:
    """The optimizer named in ``config``; biases get no weight decay."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if name.split(".")[-1] == "bias" else decay).append(p)
    groups = [
        g for g in ({"params": decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]
    ]
    if config.optimizer == "sgd":
        return optim.SGD(
            groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    cls = optim.Adam if config.optimizer == "adam" else optim.AdamW
    return cls(groups, lr=config.lr, weight_decay=config.weight_decay, lazy=config.lazy_embeddings)


def evaluate(
    model: Module,
    data: Dataset,
    batch_size: int = 1024,
    comm: distributed.Communicator | None = None,
) -> float:
    """Mean loss per example over ``data``, in evaluation mode (no dropout, no graph).

    With ``comm`` of K ranks, each rank evaluates its K-th of the data and the sums are
    added up: every rank returns the same number.
    """
    comm = comm or distributed.SingleProcess()
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    mine = distributed.shard(np.arange(len(data)), comm)  # this rank's contiguous part
    try:
        with no_grad():
            for batch in minibatches(len(mine), batch_size, shuffle=False):
                indices = mine[batch]
                _, loss = model(*data.batch(indices))
                total += float(loss.item()) * len(indices)
                count += len(indices)
    finally:
        model.train(was_training)
    if comm.size > 1:
        total, count = comm.allreduce_sum(np.array([total, count], dtype=np.float64))
    return float(total / max(count, 1))


@dataclass
class History:
    """What :func:`fit` did: one record per epoch, and the best epoch."""

    epochs: list[dict[str, Any]]
    best_epoch: int | None
    best_valid_loss: float | None
    stopped_early: bool
    seconds: float
    #: ``max_time`` ended the run (within its last epoch, or at its end).
    out_of_time: bool = False

    @property
    def steps(self) -> int:
        """Optimizer steps done in all (a resumed run's included)."""
        return self.epochs[-1]["step"] if self.epochs else 0


def parse_every(value: int | str) -> tuple[int, str]:
    """How often to checkpoint: ``500`` or ``"500"`` (steps), ``"2 epochs"``, ``"1epoch"``.

    Returns:
        (count, unit) with unit "steps" or "epochs".
    """
    if is_int(value):
        count, unit = int(value), "steps"
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(steps?|epochs?)?\s*", str(value))
        if match is None:
            count, unit = 0, "steps"
        else:
            count = int(match.group(1))
            unit = "epochs" if (match.group(2) or "").startswith("epoch") else "steps"
    if count < 1:
        raise ValueError(
            f"checkpoint-every must be a positive number of steps (e.g. 500) or epochs "
            f"(e.g. 1epoch); got {value!r}"
        )
    return count, unit


class _Schedule:
    """The learning rate: the linear schedule sets it before every step from the step
    count alone (so a resumed run gets the same rates); the plateau schedule lowers it
    after a validation that did not improve; the constant one leaves it."""

    def __init__(self, optimizer: optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
        self.optimizer, self.config = optimizer, config
        self.total_steps = min(config.epochs * steps_per_epoch, config.max_steps or math.inf)
        self.plateau = optim.ReduceLROnPlateau(
            optimizer,
            factor=config.lr_decay if config.lr_decay < 1 else 0.5,
            patience=config.lr_patience,
            min_lr=config.min_lr,
            threshold=0.0,
        )

    def before_step(self, step: int) -> None:
        """Before step ``step`` (0-based) of the run."""
        if self.config.lr_schedule == "linear":
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.lr * (1 - step / self.total_steps)

    def after_validation(self, valid_loss: float) -> None:
        if self.config.lr_decay < 1 and self.config.lr_schedule == "plateau":
            self.plateau.step(valid_loss)


def fit(
    model: Module,
    train_data: Dataset,
    valid_data: Dataset | None = None,
    config: TrainConfig | None = None,
    log_path: str | Path | None = None,
    on_best: Callable[[Module, dict[str, Any]], None] | None = None,
    describe: Callable[[float], dict[str, float]] | None = None,
    unit: str = "examples",
    checkpoint: str | Path | None = None,
    checkpoint_every: int | str | None = None,
    resume: bool = False,
    epoch_metrics: Callable[[Module], dict[str, float]] | None = None,
    comm: distributed.Communicator | None = None,
) -> History:
    """Train ``model`` on ``train_data``; returns a :class:`History`.

    After each epoch the validation loss decides: a better one keeps a copy of the weights
    (and calls ``on_best(model, record)``, e.g. to save the file); a worse one lowers the
    learning rate by ``lr_decay`` after ``lr_patience`` epochs and stops training after
    ``early_stopping``. At the end the best weights are put back.

    Args:
        model: ``forward(inputs, targets) -> (outputs, loss)``.
        train_data, valid_data: datasets (see :class:`ArrayDataset`).
        config: the settings (defaults if None).
        log_path: append one JSON line per epoch (and every ``log_every`` steps) here.
        on_best: called whenever the validation loss improves.
        describe: extra metrics from a loss, e.g. ``lambda loss: {"ppl": exp(loss)}``.
        unit: what an example is, for the throughput shown ("tokens" for language models).
        epoch_metrics: extra metrics measured on the model after each epoch (in evaluation
            mode), e.g. ``{"valid_accuracy": ...}``; they join the epoch's record and log line.
        checkpoint: where to save checkpoints (see :mod:`ffnlp.checkpoint`): every
            ``checkpoint_every``, and when SIGINT or SIGTERM arrives.
        checkpoint_every: ``500`` steps, or ``"1 epoch"`` (see :func:`parse_every`); None:
            only on a signal.
        resume: go on from ``checkpoint`` (with the same model, data and settings; only
            ``epochs`` may change): the result equals an uninterrupted run's, bit for bit.
        comm: the processes training together (see :mod:`ffnlp.distributed`); default
            :func:`ffnlp.distributed.world`: all of ``mpirun -n K``, else this one alone.
            With K > 1 each rank computes its share of every batch, the gradients are
            summed across ranks, and only rank 0 writes the log, checkpoints, progress and
            calls ``on_best``; the result equals a 1-rank run with the same batch size.

    Raises:
        TrainingDiverged: when the loss or the gradient norm is not finite (before the
            weights are touched, so the last checkpoint and the best model stay good).
        TrainingInterrupted: after SIGINT or SIGTERM, once the checkpoint is saved.
        ValueError: for empty data, or a checkpoint that does not fit this run.
        ffnlp.distributed.RanksDisagree: ranks started with different settings or data.
        ffnlp.distributed.RankLost: another rank stopped answering (died or hangs).
    """
    config = config or TrainConfig()
    comm = comm or distributed.world()
    if len(train_data) == 0:
        raise ValueError("fit: the training data is empty")
    every = parse_every(checkpoint_every) if checkpoint_every is not None else None
    if (every or resume) and checkpoint is None:
        raise ValueError("fit: checkpoint_every and resume need a checkpoint path")
    describe = describe or (lambda loss: {})
    if not comm.is_root:  # rank 0 alone writes and shows progress
        log_path, on_best = None, None
    rng = np.random.default_rng(config.seed)  # the batch order
    optimizer = make_optimizer(model, config)
    steps_per_epoch = num_batches(len(train_data), config.batch_size)
    schedule = _Schedule(optimizer, config, steps_per_epoch)
    log = RunLog(
        log_path,
        config.progress and comm.is_root,
        config.log_every,
        unit,
        config.epochs,
        steps_per_epoch,
    )
    saver = ckpt.Checkpointer(
        checkpoint,
        every,
        model,
        optimizer,
        schedule.plateau,
        config.to_dict(),
        train_data,
        log.tell,
        writes=comm.is_root,
    )
    position, best_state = ckpt.Position(epoch_rng_state=rng.bit_generator.state), None
    if resume:
        position, best_state = saver.resume()
        rng.bit_generator.state = position.epoch_rng_state
        if comm.is_root:
            print(
                f"resuming from step {position.step:,} (epoch {position.epoch}, "
                f"batch {position.batch:,} of {steps_per_epoch:,}) of {str(checkpoint)!r}",
                file=sys.stderr,
            )
    step = _choose_step(
        model, optimizer, config, train_data, valid_data, resume, position, comm, saver.signalled
    )
    model.train()
    out_of_time = False
    try:
        with log.open(position, checkpoint if resume else None), saver.stop_on_signals():
            started = time.perf_counter()
            # max_time counts this run's training from here (a resumed run's own time).
            step.deadline = started + config.max_time if config.max_time else None
            while position.epoch <= config.epochs and not position.stopped_early:
                epoch = position.epoch
                log.start_epoch(position)
                # A dataset too large for a permutation of its examples brings its own order.
                order = getattr(train_data, "batch_order", minibatches)
                batches = order(len(train_data), config.batch_size, rng)
                for indices in itertools.islice(batches, position.batch, None):
                    if config.max_steps is not None and position.step >= config.max_steps:
                        break
                    schedule.before_step(position.step)
                    position.count_step(step(indices), len(indices))
                    log.step(position, optimizer.param_groups[0]["lr"])
                    saver.after_step(position, best_state, step.stop_requested)
                    if step.out_of_time():
                        out_of_time = True  # the epoch so far is evaluated, then the run ends
                        break

                record: dict[str, Any] = {
                    "epoch": epoch,
                    "step": position.step,
                    "train_loss": position.train_loss,
                    **{f"train_{k}": v for k, v in describe(position.train_loss).items()},
                    "lr": optimizer.param_groups[0]["lr"],
                    **log.end_steps(position.epoch_examples),  # seconds, examples_per_second
                }
                if valid_data is not None and len(valid_data):
                    valid_loss = evaluate(model, valid_data, comm=comm)
                    record["valid_loss"] = valid_loss
                    record.update({f"valid_{k}": v for k, v in describe(valid_loss).items()})
                    improved = position.judge(valid_loss)
                    if improved:
                        best_state = model.state_dict()
                        if on_best is not None:
                            on_best(model, record)
                    record["best"] = improved
                    schedule.after_validation(valid_loss)
                if epoch_metrics is not None:
                    model.eval()
                    record.update(epoch_metrics(model))
                    model.train()
                position.records.append(record)
                log.end_epoch(record)

                position.stopped_early = (
                    bool(
                        config.early_stopping
                        and position.epochs_without_improvement >= config.early_stopping
                    )
                    or (config.max_steps is not None and position.step >= config.max_steps)
                    or out_of_time
                )
                position.next_epoch(rng.bit_generator.state)
                saver.after_epoch(epoch, position, best_state, step.stop_requested)
    except TrainingDiverged as err:  # the step says what; here is where and what to do
        raise _diverged(str(err), position.epoch, position.step + 1) from None
    if best_state is not None:
        model.load_state_dict(best_state)
    elif on_best is not None:  # no validation data: the last model is the one kept
        on_best(model, position.records[-1] if position.records else {})
    model.eval()
    return History(
        position.records,
        position.best_epoch,
        position.best_loss,
        position.stopped_early,
        time.perf_counter() - started,
        out_of_time,
    )


def _choose_step(
    model: Module,
    optimizer: optim.Optimizer,
    config: TrainConfig,
    train_data: Dataset,
    valid_data: Dataset | None,
    resume: bool,
    position: ckpt.Position,
    comm: distributed.Communicator,
    signalled: Callable[[], bool],
) -> LocalStep:
    """This process's step, or the K ranks' one once they have started alike."""
    if comm.size == 1:
        return LocalStep(model, optimizer, train_data, config.clip_norm, signalled)
    distributed.start_together(
        model,
        {
            "settings": {k: v for k, v in config.to_dict().items() if k != "progress"},
            "parameters": [(n, p.shape, str(p.dtype)) for n, p in model.named_parameters()],
            "training data": distributed.data_fingerprint(train_data),
            "validation data": distributed.data_fingerprint(valid_data),
            "resume": [bool(resume), position.step],
        },
        comm,
    )
    return DataParallelStep(model, optimizer, train_data, comm, config.clip_norm, signalled)


def _diverged(what: str, epoch: int, step: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: {what} at epoch {epoch}, step {step}; the weights were not "
        "updated with it. Lower the learning rate (--lr) or clip the gradients (--clip-norm)"
    )
