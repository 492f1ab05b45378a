"""Checkpoints: everything a training run needs to go on exactly where it stopped.

A checkpoint is a model file of kind ``"checkpoint"`` (the same archive as models, see
``docs/file-format.md``) holding:

- arrays: the parameters (``model.NAME``), the best weights so far (``best.NAME``) and the
  optimizer's buffers (``optimizer.I.KEY``: Adam's moments, SGD's momentum);
- JSON: the training settings, the size of the training data, the optimizer's settings and
  step counts, the learning-rate schedule, the position (epoch, batches done in it, global
  step, the epoch's running loss), the best loss and epoch, the early-stopping counter, the
  epoch records, how long the JSON-lines log was, and the state of every random generator:
  the batch order's (as it was before the epoch's permutation was drawn, so the same
  permutation is drawn again), each module's (dropout, word dropout) and the default one.

Restoring all of it makes the rest of an interrupted run draw the same numbers and apply
the same updates as an uninterrupted run: the final weights are equal bit for bit.
:class:`Checkpointer` is what :func:`ffnlp.train.fit` asks to save, resume and stop on
SIGINT or SIGTERM; the rest of this module says what a checkpoint holds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import distributed, io, optim
from ffnlp.nn import Module
from ffnlp.nn import init as nn_init

KIND = "checkpoint"
DEFAULT_GENERATOR = "ffnlp.default_generator"


@dataclass
class Position:
    """Where a run is, and what it has learned about its validation loss so far.

    Attributes:
        epoch: the epoch in progress (1-based); after the last one, ``epochs + 1``.
        batch: batches of that epoch already done.
        step: optimizer steps done in all.
        epoch_loss, epoch_examples: the epoch's summed loss (times batch size) and examples.
        epoch_rng_state: the batch-order generator's state before this epoch's permutation.
        best_loss, best_epoch: the best validation loss so far and its epoch (None: none).
        epochs_without_improvement: the early-stopping counter.
        stopped_early: early stopping ended the run.
        records: one dict per finished epoch (what :class:`ffnlp.train.History` reports).
        log_bytes: the length of the JSON-lines log when the checkpoint was saved.
    """

    epoch: int = 1
    batch: int = 0
    step: int = 0
    epoch_loss: float = 0.0
    epoch_examples: int = 0
    epoch_rng_state: dict[str, Any] = field(default_factory=dict)
    best_loss: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    log_bytes: int | None = None

    def count_step(self, loss: float, examples: int) -> None:
        """One more step done, on a batch of ``examples`` with mean loss ``loss``."""
        self.step += 1
        self.batch += 1
        self.epoch_loss += loss * examples
        self.epoch_examples += examples

    @property
    def train_loss(self) -> float:
        """The mean training loss per example of the epoch so far."""
        return self.epoch_loss / max(self.epoch_examples, 1)

    def judge(self, valid_loss: float) -> bool:
        """Whether ``valid_loss``, this epoch's, is the best so far (then it is kept, and
        the early-stopping counter starts again; else the counter goes up)."""
        improved = valid_loss < (math.inf if self.best_loss is None else self.best_loss)
        if improved:
            self.best_loss, self.best_epoch = valid_loss, self.epoch
            self.epochs_without_improvement = 0
        else:
            self.epochs_without_improvement += 1
        return improved

    def next_epoch(self, epoch_rng_state: dict[str, Any]) -> None:
        """Start the next epoch, whose batch order the generator in this state draws."""
        self.epoch += 1
        self.batch = 0
        self.epoch_loss, self.epoch_examples = 0.0, 0
        self.epoch_rng_state = epoch_rng_state


def generator_states(model: Module) -> dict[str, dict[str, Any]]:
    """The state of every random generator training draws from (JSON-able dicts)."""
    states = {name: g.bit_generator.state for name, g in model.named_generators()}
    states[DEFAULT_GENERATOR] = nn_init.default_generator().bit_generator.state
    return states


def set_generator_states(model: Module, states: dict[str, dict[str, Any]], where: str) -> None:
    """Put back what :func:`generator_states` returned, for a model built the same way."""
    own = dict(model.named_generators())
    expected = sorted([*own, DEFAULT_GENERATOR])
    if sorted(states) != expected:
        raise ValueError(
            f"{where}: the checkpoint's random generators {sorted(states)} do not match this "
            f"model's {expected}; resume with the same model settings"
        )
    for name, generator in own.items():
        generator.bit_generator.state = states[name]
    nn_init.default_generator().bit_generator.state = states[DEFAULT_GENERATOR]


def save(
    path: str | os.PathLike,
    model: Module,
    optimizer: optim.Optimizer,
    scheduler: optim.ReduceLROnPlateau,
    position: Position,
    best_state: dict[str, np.ndarray] | None,
    training: dict[str, Any],
    train_size: int,
    identity: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (the previous one stays whole until the new one is).

    ``identity``: what else a resumed run must share with this one (see :func:`identity`)."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    if best_state is not None:
        arrays.update({f"best.{k}": v for k, v in best_state.items()})
    saved = optimizer.state_dict()
    optimizer_state: dict[str, dict[str, Any]] = {}
    for i, entry in saved["state"].items():
        optimizer_state[str(i)] = {}
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                arrays[f"optimizer.{i}.{key}"] = value
            else:
                optimizer_state[str(i)][key] = value
    meta = {
        "training": training,
        "train_size": train_size,
        "identity": identity or {},
        "optimizer": {"param_groups": saved["param_groups"], "state": optimizer_state},
        "scheduler": scheduler.state_dict(),
        "position": asdict(position),
        "generators": generator_states(model),
    }
    io.save_archive(path, KIND, meta, arrays)


def identity(model: Module, data_fingerprint: str) -> dict[str, Any]:
    """What a run is beyond its training settings: the model's settings (its ``config``,
    when it has one) and a fingerprint of its training data."""
    config = getattr(model, "config", None)
    settings = asdict(config) if config is not None and is_dataclass(config) else None
    defaults = (
        {f.name: f.default for f in fields(config) if f.default is not MISSING}
        if settings is not None
        else {}
    )
    return {
        "model": type(model).__name__,
        "model settings": json.loads(json.dumps(settings, default=str)),
        # Not compared: what a setting added after a checkpoint was written stood at then.
        "model defaults": json.loads(json.dumps(defaults, default=str)),
        "training data": data_fingerprint,
    }


def _difference(saved: Any, now: Any) -> str:
    if isinstance(saved, dict) and isinstance(now, dict):
        keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        return ", ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in keys)
    return "its fingerprint differs"


@dataclass
class Checkpoint:
    """A checkpoint read back by :func:`load`; :meth:`restore` puts it into a run."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def position(self) -> Position:
        return Position(**self.meta["position"])

    def best_state(self) -> dict[str, np.ndarray] | None:
        best = {k[len("best.") :]: v for k, v in self.arrays.items() if k.startswith("best.")}
        return best or None

    def check_compatible(
        self, training: dict[str, Any], train_size: int, identity: dict[str, Any] | None = None
    ) -> None:
        """Refuse to resume with other settings or data: the result would not be the run
        that was interrupted. Only the number of epochs, the time limit and the display may
        change."""
        where = f"cannot resume from {str(self.path)!r}"
        changeable = {"epochs", "progress", "log_every", "max_time"}
        saved = {"lr_schedule": "plateau", **self.meta["training"]}  # older: no schedule
        if training.get("lr_schedule") == "constant" and saved["lr_schedule"] == "plateau":
            if saved.get("lr_decay") == 1:  # older: "constant" was a plateau that never acts
                saved.update(lr_schedule="constant", lr_decay=training.get("lr_decay"))
        if saved["lr_schedule"] == "linear":  # every step's rate depends on the total
            changeable.discard("epochs")
        for key in sorted(set(saved) | set(training)):
            if key in changeable:
                continue
            if saved.get(key) != training.get(key):
                raise ValueError(
                    f"{where}: it was made with {key.replace('_', '-')}={saved.get(key)!r}, but "
                    f"this run has {training.get(key)!r}; resume with the same settings "
                    "(only --epochs may change)"
                )
        if self.meta["train_size"] != train_size:
            raise ValueError(
                f"{where}: it was made on {self.meta['train_size']} training examples, but this "
                f"run has {train_size}; resume with the same training data and settings"
            )
        saved_identity = self.meta.get("identity") or {}  # older checkpoints have none
        now = dict(identity or {})
        defaults = now.pop("model defaults", {})
        for key, value in now.items():
            if key not in saved_identity:
                continue
            then = saved_identity[key]
            if key == "model settings" and isinstance(then, dict) and isinstance(value, dict):
                # A setting the model gained after the checkpoint was written had its
                # default in that run.
                then = {**{k: v for k, v in defaults.items() if k in value}, **then}
            if then != value:
                older = "model" not in saved_identity and "model" in now
                raise ValueError(
                    f"{where}: it was made with other {key} ({_difference(then, value)}); "
                    + (
                        "it was written by an earlier ffnlp, before the classifier was split "
                        "into parts, and cannot be resumed: start the run afresh"
                        if older
                        else "resume with the same model settings and training data"
                    )
                )

    def restore(
        self, model: Module, optimizer: optim.Optimizer, scheduler: optim.ReduceLROnPlateau
    ) -> None:
        """Load the parameters, optimizer, schedule and generators into a fresh run."""
        where = f"cannot resume from {str(self.path)!r}"
        params = {k[len("model.") :]: v for k, v in self.arrays.items() if k.startswith("model.")}
        try:
            model.load_state_dict(params)
            state: dict[int, dict[str, Any]] = {}
            for i, entry in self.meta["optimizer"]["state"].items():
                state[int(i)] = dict(entry)
            for key, value in self.arrays.items():
                if key.startswith("optimizer."):
                    _, i, name = key.split(".", 2)
                    state.setdefault(int(i), {})[name] = value
            optimizer.load_state_dict(
                {"state": state, "param_groups": self.meta["optimizer"]["param_groups"]}
            )
        except (ValueError, TypeError, KeyError, IndexError) as err:
            raise ValueError(f"{where}: it does not fit this model ({err})") from None
        for group in optimizer.param_groups:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])  # JSON has no tuples
        scheduler.load_state_dict(self.meta["scheduler"])
        set_generator_states(model, self.meta["generators"], where)


def load(path: str | os.PathLike) -> Checkpoint:
    """Read and verify a checkpoint file.

    Raises:
        ValueError: if it does not exist, is damaged, or is not a checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(
            f"cannot resume: there is no checkpoint {str(path)!r} (a run writes one every "
            "--checkpoint-every, and when it is interrupted)"
        )
    meta, arrays = io.load_archive(path, kind=KIND)
    required = ("training", "train_size", "optimizer", "scheduler", "position", "generators")
    missing = [key for key in required if key not in meta]
    if missing:
        raise ValueError(f"{str(path)!r}: the checkpoint is incomplete (no {missing})")
    try:
        Position(**meta["position"])
    except TypeError as err:
        raise ValueError(f"{str(path)!r}: the checkpoint's position is malformed ({err})") from None
    return Checkpoint(path, meta, arrays)


# ---------------------------------------------------------------------------- during a run


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped :func:`ffnlp.train.fit` after a step; the
    checkpoint, if one was asked for, holds everything needed to resume.

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


class Checkpointer:
    """A run's checkpoints: when one is saved, how a run resumes from one, and what SIGINT
    and SIGTERM do (save one after the step in progress, then stop with
    :class:`TrainingInterrupted`).

    Args:
        path: the checkpoint file; None: none is written (a signal still stops the run).
        every: ``(count, "steps" | "epochs")`` (see :func:`ffnlp.train.parse_every`), or
            None: only on a signal.
        model, optimizer, scheduler: what a checkpoint saves and a resumed run gets back.
        training: the training settings; a resumed run must have the same.
        train_data: the training data; a resumed run must have the same size and
            fingerprint (see :func:`identity`).
        log_bytes: the run log's length now (None: no log), saved so that a resumed run
            forgets what the log gained after the checkpoint.
        writes: whether this process writes checkpoints (under ``mpirun``, rank 0 alone).
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        every: tuple[int, str] | None,
        model: Module,
        optimizer: optim.Optimizer,
        scheduler: optim.ReduceLROnPlateau,
        training: dict[str, Any],
        train_data: Any,
        log_bytes: Callable[[], int | None],
        writes: bool = True,
    ) -> None:
        self.path, self.every, self.writes = path, every, writes
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.training, self.train_size, self.log_bytes = training, len(train_data), log_bytes
        self.identity = (
            identity(model, distributed.data_fingerprint(train_data)) if path is not None else None
        )
        self.received: list[int] = []  # the signals caught (see stop_on_signals)

    def resume(self) -> tuple[Position, dict[str, np.ndarray] | None]:
        """Put the checkpoint's weights, optimizer, schedule and generators into this run;
        returns its position and best weights.

        Raises:
            ValueError: no checkpoint, or one made with other settings, model or data.
        """
        saved = load(self.path)
        saved.check_compatible(self.training, self.train_size, self.identity)
        saved.restore(self.model, self.optimizer, self.scheduler)
        return saved.position, saved.best_state()

    def signalled(self) -> bool:
        """Whether this process was asked to stop."""
        return bool(self.received)

    @contextlib.contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """Turn SIGINT and SIGTERM into a flag checked after each step (a second signal
        stops at once). Outside the main thread, signals are left alone."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(number: int, frame: Any) -> None:
            if self.received:
                raise KeyboardInterrupt
            self.received.append(number)

        previous = {n: signal.signal(n, handle) for n in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def after_step(
        self,
        position: Position,
        best_state: dict[str, np.ndarray] | None,
        stop_requested: Callable[[], bool],
    ) -> None:
        """Save when ``every`` steps say so; then, if ``stop_requested()`` (a signal came;
        asked after the save, so a signal during it counts), save and raise
        :class:`TrainingInterrupted`."""
        if self.every and self.every[1] == "steps" and position.step % self.every[0] == 0:
            self._save(position, best_state)
        if stop_requested():
            self._stop(position, best_state)

    def after_epoch(
        self,
        epoch: int,
        position: Position,
        best_state: dict[str, np.ndarray] | None,
        stop_requested: Callable[[], bool],
    ) -> None:
        """As :meth:`after_step`, once ``epoch`` is over (and ``position`` at the next)."""
        if self.every and self.every[1] == "epochs" and epoch % self.every[0] == 0:
            self._save(position, best_state)
        if stop_requested():
            self._stop(position, best_state)

    def _save(self, position: Position, best_state: dict[str, np.ndarray] | None) -> None:
        if not self.writes:
            return
        position.log_bytes = self.log_bytes()
        save(
            self.path,
            self.model,
            self.optimizer,
            self.scheduler,
            position,
            best_state,
            self.training,
            self.train_size,
            self.identity,
        )

    def _stop(self, position: Position, best_state: dict[str, np.ndarray] | None) -> None:
        if self.path is not None:
            self._save(position, best_state)
        raise TrainingInterrupted(
            self.received[0] if self.received else signal.SIGTERM,
            position.epoch,
            position.step,
            Path(self.path) if self.path is not None else None,
        )
