"""What a training run reports as it goes: its log file and its progress on the screen.

The log (``MODEL.log.jsonl`` on the command line) is JSON lines: a record every
``log_every`` steps (``step``, ``epoch``, ``train_loss``, ``lr``), one per epoch (the
epoch's record, as :class:`ffnlp.train.History` has it), and ``{"resumed": ...}`` where a
run went on from a checkpoint. On stderr: a progress bar (tqdm, on a terminal) or a plain
line every ``log_every`` steps, with loss, throughput and ETA, and a line per epoch.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ffnlp.checkpoint import Position


class RunLog:
    """The log file and the progress display of one run of :func:`ffnlp.train.fit`.

    Args:
        path: the JSON-lines log to append to (None: no log).
        show: show progress and a line per epoch on stderr.
        log_every: steps between log records and progress lines.
        unit: what an example is, for the throughput shown ("tokens" for language models).
        epochs: the number of epochs, for the display.
        steps_per_epoch: the batches of an epoch, for the progress bar and ETA.
    """

    def __init__(
        self,
        path: str | Path | None,
        show: bool,
        log_every: int,
        unit: str,
        epochs: int,
        steps_per_epoch: int,
    ) -> None:
        self.path = Path(path) if path else None
        self.show, self.log_every, self.unit = show, log_every, unit
        self.epochs, self.steps_per_epoch = epochs, steps_per_epoch
        self.file: Any = None
        self.progress: _Progress | None = None
        self.epoch_start = 0.0
        self.examples_before = 0  # of the epoch, done before a resume: not this run's work

    @contextlib.contextmanager
    def open(self, position: Position, resumed_from: str | Path | None) -> Iterator[None]:
        """Keep the log open for the run; a run resumed from a checkpoint first cuts what
        the log gained after the checkpoint was saved, then says it resumed."""
        if self.path is not None:
            if resumed_from is not None and position.log_bytes is not None and self.path.exists():
                with open(self.path, "r+b") as handle:
                    handle.truncate(min(position.log_bytes, self.path.stat().st_size))
            self.file = open(self.path, "a", encoding="utf-8")
        try:
            if resumed_from is not None:
                self.write(
                    {"resumed": str(resumed_from), "epoch": position.epoch, "step": position.step}
                )
            yield
        finally:
            if self.file is not None:
                self.file.close()

    def tell(self) -> int | None:
        """The log's length in bytes (None: no log), what a checkpoint remembers."""
        return self.file.tell() if self.file is not None else None

    def write(self, record: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def start_epoch(self, position: Position) -> None:
        """Before the epoch's steps, or those left of it in a resumed run: the throughput
        and ETA shown count this run's steps alone."""
        self.epoch_start = time.perf_counter()
        self.examples_before = position.epoch_examples
        self.progress = _Progress(
            self.steps_per_epoch,
            f"epoch {position.epoch}/{self.epochs}",
            self.show,
            self.log_every,
            self.unit,
            done=position.batch,
        )

    def step(self, position: Position, lr: float) -> None:
        """After each step: the progress display, and a log record every ``log_every``."""
        train_loss = position.epoch_loss / position.epoch_examples
        self.progress.update(
            position.batch, train_loss, position.epoch_examples - self.examples_before
        )
        if position.step % self.log_every == 0:
            self.write(
                {"step": position.step, "epoch": position.epoch, "train_loss": train_loss, "lr": lr}
            )

    def end_steps(self, examples: int) -> dict[str, float]:
        """The epoch's steps are over (``examples`` in all): its time and throughput, for its
        record, both of this run (a resumed epoch's steps before the resume are not in them)."""
        self.progress.close()
        seconds = time.perf_counter() - self.epoch_start
        return {
            "seconds": seconds,
            "examples_per_second": (examples - self.examples_before) / max(seconds, 1e-9),
        }

    def end_epoch(self, record: dict[str, Any]) -> None:
        """The epoch's record, in the log and as a line on stderr."""
        self.write(record)
        if self.show:
            print(_epoch_line(record, self.unit), file=sys.stderr)


def _epoch_line(record: dict[str, Any], unit: str) -> str:
    parts = [f"epoch {record['epoch']}"]
    for key, value in record.items():
        if key in ("epoch", "step", "best", "seconds", "examples_per_second"):
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    parts.append(f"{record['examples_per_second']:,.0f} {unit}/s")
    parts.append(f"{record['seconds']:.0f}s")
    if record.get("best"):
        parts.append("(best)")
    return "  ".join(parts)


class _Progress:
    """A progress bar with loss, throughput and ETA (tqdm, on a terminal), or else a plain
    line with the same facts every ``log_every`` steps."""

    def __init__(
        self, total: int, description: str, enabled: bool, log_every: int, unit: str, done: int = 0
    ) -> None:
        self.bar = None
        self.done = done  # steps of the epoch done before this run (a resumed one)
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
                    initial=done,
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
            done_here = max(step - self.done, 1)
            eta = (self.total - step) * (time.perf_counter() - self.start) / done_here
            print(
                f"{self.description} step {step}/{self.total} loss {loss:.4f} {rate:,.0f} {self.unit}/s eta {eta:.0f}s",
                file=sys.stderr,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
