"""One training loop for every model.

A model is any :class:`ffnlp.nn.Module` whose ``forward(inputs, targets)`` returns
``(outputs, loss)``; a dataset is anything with ``len()`` and ``batch(indices) ->
(inputs, targets)``. :func:`fit` runs mini-batch optimisation with the chosen optimizer,
evaluates on validation data after every epoch, lowers the learning rate when validation
stops improving, stops early, and keeps the best model.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ffnlp import checkpoint as ckpt
from ffnlp import distributed, optim
from ffnlp.autograd import no_grad
from ffnlp.checks import check_choice, check_int, check_real, is_int
from ffnlp.nn import Module
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
class TrainConfig:
    """Settings of :func:`fit`.

    Attributes:
        epochs: passes over the training data (the most; early stopping may end sooner).
        batch_size: examples per step.
        optimizer: "sgd", "adam" or "adamw".
        lr: the initial learning rate.
        momentum: for SGD.
        weight_decay: L2 (SGD, Adam) or decoupled (AdamW) weight decay.
        clip_norm: clip the gradients' joint norm to this (None: no clipping).
        lr_decay: under the "plateau" schedule, multiply the learning rate by this when the
            validation loss does not improve (0.5 halves it; 1 never changes it).
        lr_schedule: "constant" (the rate never changes), "plateau" (it changes only by
            ``lr_decay``, above, so only with validation data) or "linear": before step t of
            T in all (``epochs`` times the batches per epoch, or ``max_steps`` if fewer) the
            rate is ``lr * (1 - t / T)``, falling to 0 at the end, fastText's schedule
            (Joulin et al. 2017); ``lr_decay`` and ``min_lr`` do not apply then.
        lr_patience: epochs without improvement before the rate is lowered.
        min_lr: the rate never goes below this.
        early_stopping: stop after this many epochs without improvement (0: never).
        lazy_embeddings: Adam/AdamW update only the embedding rows a batch used (for sparse
            embeddings; see :class:`ffnlp.optim.Adam`).
        seed: the seed of the batch order.
        max_steps: stop after this many steps in all (the epoch in progress ends there,
            with its validation); None: no limit.
        log_every: steps between progress updates and log lines.
        progress: show a progress bar (tqdm, when installed) on stderr.
    """

    epochs: int = 10
    batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip_norm: float | None = None
    lr_decay: float = 0.5
    lr_schedule: str = "plateau"
    lr_patience: int = 0
    min_lr: float = 0.0
    early_stopping: int = 3
    lazy_embeddings: bool = False
    seed: int = 0
    max_steps: int | None = None
    log_every: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "log_every"):
            setattr(self, name, check_int(name.replace("_", "-"), getattr(self, name), minimum=1))
        for name in ("lr_patience", "early_stopping", "seed"):
            setattr(self, name, check_int(name.replace("_", "-"), getattr(self, name), minimum=0))
        if self.max_steps is not None:
            self.max_steps = check_int("max-steps", self.max_steps, minimum=1)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_real("lr", self.lr, minimum=0, min_inclusive=False)
        check_choice("lr-schedule", self.lr_schedule, LR_SCHEDULES)
        check_real("lr-decay", self.lr_decay, 0, 1, min_inclusive=False)
        if self.clip_norm is not None:
            check_real("clip-norm", self.clip_norm, minimum=0, min_inclusive=False)
        check_real("weight-decay", self.weight_decay, minimum=0)

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


class _Progress:
    """A progress bar with loss, throughput and ETA (tqdm, on a terminal), or else a plain
    line with the same facts every ``log_every`` steps."""

    def __init__(
        self, total: int, description: str, enabled: bool, log_every: int, unit: str
    ) -> None:
        self.bar = None
        self.unit = unit
        self.enabled = enabled
        self.log_every = log_every
        self.start = self.shown = time.perf_counter()
        self.description = description
        self.total = total
        if enabled and sys.stderr.isatty():  # a bar only on a terminal; logs get plain lines
            try:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=total,
                    desc=description,
                    unit="step",
                    leave=False,
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
            except ImportError:
                self.bar = None

    def update(self, step: int, loss: float, examples: int) -> None:
        rate = examples / max(time.perf_counter() - self.start, 1e-9)
        if self.bar is not None:
            self.bar.update(1)
            now = time.perf_counter()
            if (
                step == 1 or step == self.total or now - self.shown > 0.5
            ):  # redraw at most twice a second
                self.shown = now
                self.bar.set_postfix_str(
                    f"loss {loss:.4f}, {rate:,.0f} {self.unit}/s", refresh=True
                )
        elif self.enabled and step % self.log_every == 0:
            eta = (self.total - step) * (time.perf_counter() - self.start) / step
            print(
                f"{self.description} step {step}/{self.total} loss {loss:.4f} {rate:,.0f} {self.unit}/s eta {eta:.0f}s",
                file=sys.stderr,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped :func:`fit` after a step; the checkpoint, if
    one was asked for, holds everything needed to resume.

    Attributes:
        signal_number: the signal received.
        epoch, step: where the run stopped (the epoch in progress, the steps done).
        checkpoint: the checkpoint written, or None.
        exit_code: 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM), the shell's
            convention.
    """

    def __init__(self, signal_number: int, epoch: int, step: int, checkpoint: Path | None):
        self.signal_number, self.epoch, self.step, self.checkpoint = (
            signal_number,
            epoch,
            step,
            checkpoint,
        )
        self.exit_code = 128 + signal_number
        where = f"interrupted by {signal.Signals(signal_number).name} at epoch {epoch}, step {step}"
        super().__init__(
            f"{where}; checkpoint saved to {str(checkpoint)!r}" if checkpoint else where
        )


class TrainingDiverged(ValueError):
    """The loss or the gradient became NaN or infinite; nothing was updated with it."""


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


@contextlib.contextmanager
def _stop_on_signals() -> Any:
    """Turn SIGINT and SIGTERM into a flag the loop checks after each step (a second
    signal stops at once). Outside the main thread, signals are left alone."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(number: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(number)

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


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
    parallel = comm.size > 1
    if len(train_data) == 0:
        raise ValueError("fit: the training data is empty")
    every = parse_every(checkpoint_every) if checkpoint_every is not None else None
    if (every or resume) and checkpoint is None:
        raise ValueError("fit: checkpoint_every and resume need a checkpoint path")
    describe = describe or (lambda loss: {})
    rng = np.random.default_rng(config.seed)
    optimizer = make_optimizer(model, config)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    scheduler = optim.ReduceLROnPlateau(
        optimizer,
        factor=config.lr_decay if config.lr_decay < 1 else 0.5,
        patience=config.lr_patience,
        min_lr=config.min_lr,
        threshold=0.0,
    )
    position = ckpt.Position(epoch_rng_state=rng.bit_generator.state)
    best_state: dict[str, np.ndarray] | None = None
    run_identity = (
        ckpt.identity(model, distributed.data_fingerprint(train_data))
        if checkpoint is not None
        else None
    )
    if resume:
        saved = ckpt.load(checkpoint)
        saved.check_compatible(config.to_dict(), len(train_data), run_identity)
        saved.restore(model, optimizer, scheduler)
        position, best_state = saved.position, saved.best_state()
        rng.bit_generator.state = position.epoch_rng_state
    if parallel:
        distributed.check_same_start(
            {
                "settings": {k: v for k, v in config.to_dict().items() if k != "progress"},
                "parameters": [(n, p.shape, str(p.dtype)) for n, p in model.named_parameters()],
                "training data": distributed.data_fingerprint(train_data),
                "validation data": distributed.data_fingerprint(valid_data),
                "resume": [bool(resume), position.step],
            },
            comm,
        )
        distributed.broadcast_parameters(model, comm)
        distributed.separate_generators(model, comm)
        embeddings = distributed.embedding_weights(model)
    if not comm.is_root:  # rank 0 alone writes and shows progress
        log_path, on_best, checkpoint_every, every = None, None, None, None
        config = TrainConfig(**{**config.to_dict(), "progress": False})
    if log_path:
        log_path = Path(log_path)
        if resume and position.log_bytes is not None and log_path.exists():
            with open(log_path, "r+b") as handle:  # forget what came after the checkpoint
                handle.truncate(min(position.log_bytes, log_path.stat().st_size))
    log = open(log_path, "a", encoding="utf-8") if log_path else None

    def write_log(record: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()

    def save_checkpoint() -> None:
        if not comm.is_root:
            return
        position.log_bytes = log.tell() if log is not None else None
        ckpt.save(
            checkpoint,
            model,
            optimizer,
            scheduler,
            position,
            best_state,
            config.to_dict(),
            len(train_data),
            run_identity,
        )

    if resume:
        write_log({"resumed": str(checkpoint), "epoch": position.epoch, "step": position.step})
    started = time.perf_counter()
    steps_per_epoch = num_batches(len(train_data), config.batch_size)
    total_steps = min(config.epochs * steps_per_epoch, config.max_steps or math.inf)
    model.train()
    try:
        with _stop_on_signals() as received:

            def stop_if_signalled(agreed: bool | None = None) -> None:
                # With K ranks the signal reaches each at a different moment: they stop
                # after the same step, when any of them got it (``agreed``, summed with
                # the gradients), or else they would wait for each other for ever.
                if parallel and agreed is None:
                    agreed = bool(comm.allreduce_sum(np.array([float(bool(received))]))[0])
                if agreed if parallel else received:
                    if checkpoint is not None:
                        save_checkpoint()
                    raise TrainingInterrupted(
                        received[0] if received else signal.SIGTERM,
                        position.epoch,
                        position.step,
                        Path(checkpoint) if checkpoint is not None else None,
                    )

            while position.epoch <= config.epochs and not position.stopped_early:
                epoch = position.epoch
                epoch_start = time.perf_counter()
                progress = _Progress(
                    steps_per_epoch,
                    f"epoch {epoch}/{config.epochs}",
                    config.progress,
                    config.log_every,
                    unit,
                )
                # A dataset too large for a permutation of its examples brings its own order.
                order = getattr(train_data, "batch_order", minibatches)
                batches = order(len(train_data), config.batch_size, rng)
                for indices in itertools.islice(batches, position.batch, None):
                    if config.max_steps is not None and position.step >= config.max_steps:
                        break
                    for p in params:
                        p.grad = None
                    if parallel:
                        value, agreed = _parallel_backward(
                            model, train_data, indices, params, comm, embeddings, received
                        )
                    else:
                        _, loss = model(*train_data.batch(indices))
                        value = float(loss.item())
                    if not math.isfinite(value):
                        raise _diverged(f"the loss became {value}", epoch, position.step + 1)
                    if not parallel:
                        loss.backward()
                    norm = (
                        optim.clip_grad_norm_(params, config.clip_norm)
                        if config.clip_norm is not None
                        else optim.grad_norm(params)
                    )
                    if not math.isfinite(norm):
                        raise _diverged(
                            f"the gradient norm became {norm}", epoch, position.step + 1
                        )
                    if config.lr_schedule == "linear":  # from the step count: resumes exactly
                        for group in optimizer.param_groups:
                            group["lr"] = config.lr * (1 - position.step / total_steps)
                    optimizer.step()
                    position.step += 1
                    position.batch += 1
                    position.epoch_loss += value * len(indices)
                    position.epoch_examples += len(indices)
                    train_loss = position.epoch_loss / position.epoch_examples
                    progress.update(position.batch, train_loss, position.epoch_examples)
                    if position.step % config.log_every == 0:
                        write_log(
                            {
                                "step": position.step,
                                "epoch": epoch,
                                "train_loss": train_loss,
                                "lr": optimizer.param_groups[0]["lr"],
                            }
                        )
                    if every and every[1] == "steps" and position.step % every[0] == 0:
                        save_checkpoint()
                    stop_if_signalled(agreed if parallel else None)
                progress.close()
                seconds = time.perf_counter() - epoch_start
                train_loss = position.epoch_loss / max(position.epoch_examples, 1)
                record: dict[str, Any] = {
                    "epoch": epoch,
                    "step": position.step,
                    "train_loss": train_loss,
                    **{f"train_{k}": v for k, v in describe(train_loss).items()},
                    "lr": optimizer.param_groups[0]["lr"],
                    "seconds": seconds,
                    "examples_per_second": position.epoch_examples / seconds,
                }
                if valid_data is not None and len(valid_data):
                    valid_loss = evaluate(model, valid_data, comm=comm)
                    record["valid_loss"] = valid_loss
                    record.update({f"valid_{k}": v for k, v in describe(valid_loss).items()})
                    improved = valid_loss < (
                        math.inf if position.best_loss is None else position.best_loss
                    )
                    if improved:
                        position.best_loss, position.best_epoch = valid_loss, epoch
                        best_state = model.state_dict()
                        position.epochs_without_improvement = 0
                        if on_best is not None:
                            on_best(model, record)
                    else:
                        position.epochs_without_improvement += 1
                    record["best"] = improved
                    if config.lr_decay < 1 and config.lr_schedule == "plateau":
                        scheduler.step(valid_loss)  # (the linear schedule sets every step's rate)
                if epoch_metrics is not None:
                    model.eval()
                    record.update(epoch_metrics(model))
                    model.train()
                position.records.append(record)
                write_log(record)
                _print_epoch(record, config.progress)
                position.stopped_early = bool(
                    config.early_stopping
                    and position.epochs_without_improvement >= config.early_stopping
                ) or (config.max_steps is not None and position.step >= config.max_steps)
                position.epoch += 1
                position.batch = 0
                position.epoch_loss, position.epoch_examples = 0.0, 0
                position.epoch_rng_state = rng.bit_generator.state
                if every and every[1] == "epochs" and epoch % every[0] == 0:
                    save_checkpoint()
                stop_if_signalled()
    finally:
        if log is not None:
            log.close()
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
    )


def _parallel_backward(
    model: Module,
    data: Dataset,
    indices: np.ndarray,
    params: list[Any],
    comm: distributed.Communicator,
    embeddings: set[int],
    received: list[int],
) -> tuple[float, bool]:
    """This rank's share of a global batch, forward and backward, then the gradients
    summed across ranks (see :func:`ffnlp.distributed.sum_gradients`).

    Returns the global batch's mean loss and whether any rank was signalled to stop; every
    rank gets the same two, so they all diverge, stop or go on together.
    """
    local = distributed.shard(indices, comm)
    weight = len(local) / len(indices)
    local_loss = 0.0
    if len(local):  # a global batch smaller than K leaves some ranks without examples
        _, loss = model(*data.batch(local))
        local_loss = float(loss.item())
        loss.backward()
    loss_sum, signalled = distributed.sum_gradients(
        params,
        comm,
        weight,
        extras=(weight * local_loss, float(bool(received))),
        sparse=embeddings,
        mode=comm.embedding_gradients,
    )
    return float(loss_sum), bool(signalled)


def _diverged(what: str, epoch: int, step: int) -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: {what} at epoch {epoch}, step {step}; the weights were not "
        "updated with it. Lower the learning rate (--lr) or clip the gradients (--clip-norm)"
    )


def _print_epoch(record: dict[str, Any], enabled: bool) -> None:
    if not enabled:
        return
    parts = [f"epoch {record['epoch']}"]
    for key, value in record.items():
        if key in ("epoch", "step", "best", "seconds", "examples_per_second"):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    parts.append(f"{record['examples_per_second']:,.0f}/s")
    parts.append(f"{record['seconds']:.0f}s")
    if record.get("best"):
        parts.append("(best)")
    print("  ".join(parts), file=sys.stderr)
