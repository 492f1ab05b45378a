"""Training curves from the JSON-lines logs that training writes next to each model.

A log holds, per run, a header line (``{"run": ...}``), a line every ``log_every`` steps
(``step``, ``epoch``, ``train_loss``), a line per epoch (``train_loss``, ``valid_loss``,
``train_ppl``, ``valid_accuracy``, ``seconds``...) and, where the run went on from a
checkpoint, ``{"resumed": ...}``: the same run, continued. Training the same model again
appends another run to the same log. :func:`read_runs` sorts them out and
:func:`plot_runs` draws loss, perplexity and accuracy, one line per run, with matplotlib.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffnlp.checks import plural

PLOT_EXTRA = "matplotlib is not installed; install the plot extra: pip install 'ffnlp[plot]'"
LOG_SUFFIX = ".log.jsonl"


@dataclass
class RunLog:
    """The records of one training run: its name, per-step and per-epoch lines."""

    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    resumed_at: list[int] = field(default_factory=list)  # the steps it went on from

    def steps_per_epoch(self) -> float | None:
        first = next((r for r in self.epochs if r.get("step")), None)
        return first["step"] / first["epoch"] if first else None


def log_path_for(path: str | Path) -> Path:
    """The log of ``path``: the path itself if it is a log, else the log beside a model."""
    path = Path(path)
    if path.name.endswith(".jsonl"):
        return path
    return path.with_name(path.name + LOG_SUFFIX)


def read_runs(path: str | Path, name: str | None = None) -> list[RunLog]:
    """Every run in a JSON-lines training log, in order; a run resumed from a checkpoint is
    one run, across the resume. With several runs, their names end in "run 1", "run 2"...

    Raises:
        ValueError: if the file is missing, not JSON lines, or holds no training records.
    """
    path = log_path_for(path)
    if not path.is_file():
        raise ValueError(
            f"no training log at {str(path)!r}; train with ffnlp lm/classify train first"
        )
    runs = [RunLog(name or path.name.removesuffix(LOG_SUFFIX).removesuffix(".jsonl"))]
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{str(path)!r} line {number} is not JSON") from None
            if not isinstance(record, dict):
                raise ValueError(f"{str(path)!r} line {number} is not a JSON object")
            run = runs[-1]
            if "run" in record:  # a new run starts
                runs.append(RunLog(run.name))
            elif "resumed" in record:  # the same run goes on
                run.resumed_at.append(int(record.get("step", 0)))
            elif "seconds" in record:
                run.epochs.append(record)
            elif "step" in record and "train_loss" in record:
                run.steps.append(record)
    runs = [run for run in runs if run.epochs or run.steps]
    if not runs:
        raise ValueError(f"{str(path)!r} holds no training records")
    if len(runs) > 1:
        for i, run in enumerate(runs, start=1):
            run.name = f"{run.name} run {i}"
    return runs


def read_log(path: str | Path, name: str | None = None) -> RunLog:
    """The last run in a JSON-lines training log (see :func:`read_runs`), named ``name``
    (default: the file's name)."""
    run = read_runs(path, name)[-1]
    run.name = name or log_path_for(path).name.removesuffix(LOG_SUFFIX).removesuffix(".jsonl")
    return run


def select_runs(
    paths: list[str | Path], names: list[str] | None = None, run: int | None = None
) -> tuple[list[RunLog], list[str]]:
    """The runs to draw from each log: all of them, or the ``run``-th (1-based; -1: the
    last); and a note for each log holding several runs when all are drawn.

    Raises:
        ValueError: on unreadable logs, names that do not match, or no such run.
    """
    if not paths:
        raise ValueError("give at least one training log or model")
    if names is not None and len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} runs; give one name per run")
    chosen, notes = [], []
    for i, path in enumerate(paths):
        runs = read_runs(path, None if names is None else names[i])
        if run is None:
            chosen.extend(runs)
            if len(runs) > 1:
                notes.append(
                    f"{str(log_path_for(path))!r} holds {len(runs)} runs (the model was "
                    "trained again); all are drawn, pick one with --run N (-1: the last)"
                )
            continue
        if run == 0 or not -len(runs) <= run <= len(runs):
            which = f"1 to {len(runs)}" if len(runs) > 1 else "1"
            raise ValueError(
                f"--run {run}: {str(log_path_for(path))!r} holds {plural(len(runs), 'run')} "
                f"(give {which}, or -1 for the last)"
            )
        picked = runs[run - 1 if run > 0 else run]
        picked.name = picked.name.rsplit(" run ", 1)[0] if names is None else names[i]
        chosen.append(picked)
    return chosen, notes


def _panels(runs: list[RunLog]) -> list[tuple[str, str]]:
    """(metric suffix, title) of the panels these runs have data for."""
    keys = {k for run in runs for r in run.epochs for k in r}
    panels = [("loss", "loss (cross-entropy, nats)")]
    if any(k.endswith("_ppl") for k in keys):
        panels.append(("ppl", "perplexity"))
    if any(k.endswith("_accuracy") for k in keys):
        panels.append(("accuracy", "accuracy"))
    return panels


def plot_runs(
    paths: list[str | Path],
    out: str | Path,
    names: list[str] | None = None,
    run: int | None = None,
) -> Path:
    """Draw the training curves of one or more logs on one chart and save it (PNG, SVG...).

    Args:
        paths: training logs, or model files whose log sits beside them.
        out: the picture to write.
        names: legend names, one per log (default: the file names).
        run: draw only this run of each log (1-based, -1: the last); None: every run.

    Raises:
        ValueError: on unreadable logs; ImportError (with the fix) without matplotlib.
    """
    runs, _ = select_runs(paths, names, run)
    return draw_runs(runs, out)


def draw_runs(runs: list[RunLog], out: str | Path) -> Path:
    """Draw the curves of ``runs`` (from :func:`select_runs`) and save them at ``out``."""
    plt = pyplot()
    panels = _panels(runs)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        color = colors[i % len(colors)]
        per_epoch = run.steps_per_epoch()
        for ax, (metric, title) in zip(axes[0], panels):
            if metric == "loss" and per_epoch:
                for step in run.resumed_at:  # where the run went on from a checkpoint
                    ax.axvline(step / per_epoch, color=color, linestyle=":", linewidth=1)
            if metric == "loss" and run.steps and per_epoch:
                ax.plot(
                    [r["step"] / per_epoch for r in run.steps],
                    [r["train_loss"] for r in run.steps],
                    color=color,
                    alpha=0.35,
                    linewidth=1,
                )
            for split, style in (("train", "-"), ("valid", "--")):
                points = [
                    (r["epoch"], r[f"{split}_{metric}"])
                    for r in run.epochs
                    if f"{split}_{metric}" in r
                ]
                if points:
                    x, y = zip(*points)
                    ax.plot(
                        x,
                        y,
                        style,
                        marker="o",
                        markersize=3,
                        color=color,
                        label=f"{run.name} {split}",
                    )
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    for ax, (metric, _) in zip(axes[0], panels):
        if metric == "ppl":
            ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (files, no window), imported on first use."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(PLOT_EXTRA) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
