"""Training curves from the JSON-lines logs that training writes next to each model.

A log holds, per run, a header line (``{"run": ...}``), a line every ``log_every`` steps
(``step``, ``epoch``, ``train_loss``) and a line per epoch (``train_loss``, ``valid_loss``,
``train_ppl``, ``valid_accuracy``, ``seconds``...). :func:`read_log` sorts them out and
:func:`plot_runs` draws loss, perplexity and accuracy, one line per run, with matplotlib.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLOT_EXTRA = "matplotlib is not installed; install the plot extra: pip install 'ffnlp[plot]'"
LOG_SUFFIX = ".log.jsonl"


@dataclass
class RunLog:
    """The records of one training run: its name, per-step and per-epoch lines."""

    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)

    def steps_per_epoch(self) -> float | None:
        first = next((r for r in self.epochs if r.get("step")), None)
        return first["step"] / first["epoch"] if first else None


def log_path_for(path: str | Path) -> Path:
    """The log of ``path``: the path itself if it is a log, else the log beside a model."""
    path = Path(path)
    if path.name.endswith(".jsonl"):
        return path
    return path.with_name(path.name + LOG_SUFFIX)


def read_log(path: str | Path, name: str | None = None) -> RunLog:
    """The last run in a JSON-lines training log (a log may hold several appended runs).

    Raises:
        ValueError: if the file is missing, not JSON lines, or holds no training records.
    """
    path = log_path_for(path)
    if not path.is_file():
        raise ValueError(
            f"no training log at {str(path)!r}; train with ffnlp lm/classify train first"
        )
    run = RunLog(name or path.name.removesuffix(LOG_SUFFIX).removesuffix(".jsonl"))
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
            if "run" in record:  # a new run starts: keep only the last one
                run.steps, run.epochs = [], []
            elif "seconds" in record:
                run.epochs.append(record)
            elif "step" in record:
                run.steps.append(record)
    if not run.epochs and not run.steps:
        raise ValueError(f"{str(path)!r} holds no training records")
    return run


def _panels(runs: list[RunLog]) -> list[tuple[str, str]]:
    """(metric suffix, title) of the panels these runs have data for."""
    keys = {k for run in runs for r in run.epochs for k in r}
    panels = [("loss", "loss (cross-entropy, nats)")]
    if any(k.endswith("_ppl") for k in keys):
        panels.append(("ppl", "perplexity"))
    if any(k.endswith("_accuracy") for k in keys):
        panels.append(("accuracy", "accuracy"))
    return panels


def plot_runs(paths: list[str | Path], out: str | Path, names: list[str] | None = None) -> Path:
    """Draw the training curves of one or more runs on one chart and save it (PNG, SVG...).

    Args:
        paths: training logs, or model files whose log sits beside them.
        out: the picture to write.
        names: legend names (default: the file names).

    Raises:
        ValueError: on unreadable logs; ImportError (with the fix) without matplotlib.
    """
    if not paths:
        raise ValueError("give at least one training log or model")
    if names is not None and len(names) != len(paths):
        raise ValueError(f"{len(names)} names for {len(paths)} runs; give one name per run")
    runs = [read_log(p, None if names is None else names[i]) for i, p in enumerate(paths)]
    plt = pyplot()
    panels = _panels(runs)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        color = colors[i % len(colors)]
        per_epoch = run.steps_per_epoch()
        for ax, (metric, title) in zip(axes[0], panels):
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
