"""One training loop for every model.

A model is any :class:`ffnlp.nn.Module` whose ``forward(inputs, targets)`` returns
``(outputs, loss)``; a dataset is anything with ``len()`` and ``batch(indices) ->
(inputs, targets)``. :func:`fit` runs mini-batch optimisation with the chosen optimizer,
evaluates on validation data after every epoch, lowers the learning rate when validation
stops improving, stops early, and keeps the best model.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ffnlp import optim
from ffnlp.autograd import no_grad
from ffnlp.nn import Module
from ffnlp.text.batching import minibatches, num_batches

OPTIMIZERS = ("sgd", "adam", "adamw")


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
        lr_decay: multiply the learning rate by this when validation loss does not improve
            (0.5 halves it; 1 turns the schedule off).
        lr_patience: epochs without improvement before the rate is lowered.
        min_lr: the rate never goes below this.
        early_stopping: stop after this many epochs without improvement (0: never).
        lazy_embeddings: Adam/AdamW update only the embedding rows a batch used (for sparse
            embeddings; see :class:`ffnlp.optim.Adam`).
        seed: the seed of the batch order.
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
    lr_patience: int = 0
    min_lr: float = 0.0
    early_stopping: int = 3
    lazy_embeddings: bool = False
    seed: int = 0
    log_every: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{name.replace('_', '-')} must be a positive integer; got {value!r}"
                )
        for name in ("lr_patience", "early_stopping", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"{name.replace('_', '-')} must be a non-negative integer; got {value!r}"
                )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0; got {self.lr!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr-decay must be in (0, 1]; got {self.lr_decay!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip-norm must be > 0; got {self.clip_norm!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight-decay must be >= 0; got {self.weight_decay!r}")

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


def evaluate(model: Module, data: Dataset, batch_size: int = 1024) -> float:
    """Mean loss per example over ``data``, in evaluation mode (no dropout, no graph)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for indices in minibatches(len(data), batch_size, shuffle=False):
                _, loss = model(*data.batch(indices))
                total += float(loss.item()) * len(indices)
                count += len(indices)
    finally:
        model.train(was_training)
    return total / max(count, 1)


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


def fit(
    model: Module,
    train_data: Dataset,
    valid_data: Dataset | None = None,
    config: TrainConfig | None = None,
    log_path: str | Path | None = None,
    on_best: Callable[[Module, dict[str, Any]], None] | None = None,
    describe: Callable[[float], dict[str, float]] | None = None,
    unit: str = "examples",
    epoch_metrics: Callable[[Module], dict[str, float]] | None = None,
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
    """
    config = config or TrainConfig()
    if len(train_data) == 0:
        raise ValueError("fit: the training data is empty")
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
    log = open(log_path, "a", encoding="utf-8") if log_path else None

    def write_log(record: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()

    records: list[dict[str, Any]] = []
    best_loss, best_epoch, best_state = math.inf, None, None
    epochs_without_improvement = 0
    stopped_early = False
    started = time.perf_counter()
    steps_per_epoch = num_batches(len(train_data), config.batch_size)
    step = 0
    model.train()
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            progress = _Progress(
                steps_per_epoch,
                f"epoch {epoch}/{config.epochs}",
                config.progress,
                config.log_every,
                unit,
            )
            total_loss, seen = 0.0, 0
            for indices in minibatches(len(train_data), config.batch_size, rng):
                inputs, targets = train_data.batch(indices)
                for p in params:
                    p.grad = None
                _, loss = model(inputs, targets)
                loss.backward()
                if config.clip_norm is not None:
                    optim.clip_grad_norm_(params, config.clip_norm)
                optimizer.step()
                value = float(loss.item())
                if not math.isfinite(value):
                    raise ValueError(
                        f"training diverged: the loss became {value} at epoch {epoch}, step {step + 1}; "
                        "lower the learning rate or set a gradient clip (--clip-norm)"
                    )
                step += 1
                total_loss += value * len(indices)
                seen += len(indices)
                progress.update(step - (epoch - 1) * steps_per_epoch, total_loss / seen, seen)
                if step % config.log_every == 0:
                    write_log(
                        {
                            "step": step,
                            "epoch": epoch,
                            "train_loss": total_loss / seen,
                            "lr": optimizer.param_groups[0]["lr"],
                        }
                    )
            progress.close()
            seconds = time.perf_counter() - epoch_start
            record: dict[str, Any] = {
                "epoch": epoch,
                "step": step,
                "train_loss": total_loss / seen,
                **{f"train_{k}": v for k, v in describe(total_loss / seen).items()},
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": seconds,
                "examples_per_second": seen / seconds,
            }
            if valid_data is not None and len(valid_data):
                valid_loss = evaluate(model, valid_data)
                record["valid_loss"] = valid_loss
                record.update({f"valid_{k}": v for k, v in describe(valid_loss).items()})
                improved = valid_loss < best_loss
                if improved:
                    best_loss, best_epoch = valid_loss, epoch
                    best_state = model.state_dict()
                    epochs_without_improvement = 0
                    if on_best is not None:
                        on_best(model, record)
                else:
                    epochs_without_improvement += 1
                record["best"] = improved
                if config.lr_decay < 1:
                    scheduler.step(valid_loss)
            if epoch_metrics is not None:
                model.eval()
                record.update(epoch_metrics(model))
                model.train()
            records.append(record)
            write_log(record)
            _print_epoch(record, config.progress)
            if config.early_stopping and epochs_without_improvement >= config.early_stopping:
                stopped_early = True
                break
    finally:
        if log is not None:
            log.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    elif on_best is not None:  # no validation data: the last model is the one kept
        on_best(model, records[-1] if records else {})
    model.eval()
    return History(
        records,
        best_epoch,
        None if best_epoch is None else best_loss,
        stopped_early,
        time.perf_counter() - started,
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
