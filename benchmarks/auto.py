"""A classifier for data nobody tuned for: ffnlp's ``--auto`` search and its defaults against
the hand-written recipe, fastText's autotune with the same time budget, and fastText's
defaults, all in one run, on MR (10-fold cross-validation), SST-2 and TREC.

Systems, each trained on the training data (MR: each fold's nine tenths) and scored once
on the test data (MR: the fold's tenth):

- ``auto``: :func:`ffnlp.autotune.fit_auto` with ``--budget`` seconds per fit (search and
  final fit together), choosing on the training data only;
- ``recipe``: the hand-written recipe of the dataset (``--recipe mr|sst2|trec``), tuned
  with test scores in view (its file says so): the target to come near;
- ``defaults``: what ``ffnlp classify train`` trains with no flags, the ``default`` recipe
  (chosen by ``benchmarks/defaults.py`` on training data);
- ``plain``: ``TextClassifier()``, the chapter's plain model (for reference);
- ``fasttext-autotune``: ``fasttext supervised -autotune-validation`` on a stratified fifth
  of the training data (its whole texts, as ``--auto`` holds out) with ``-autotune-duration`` the same budget, then, as an expert
  would, the settings it found retrained on all the training data (fastText's 2 threads);
- ``fasttext``: fastText's defaults.

Writes ``benchmarks/results/auto.md`` and ``auto.json`` (every fold's scores, every
search's trials). ``--budget`` is 60 s unless given.

    python benchmarks/auto.py
    python benchmarks/auto.py --datasets trec --budget 30
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import classify as bench
import numpy as np

from ffnlp.autotune import fit_auto
from ffnlp.estimators import TextClassifier
from ffnlp.metrics import containing_groups, stratified_kfold
from ffnlp.recipes import load_recipe

SYSTEMS = ("auto", "recipe", "defaults", "plain", "fasttext-autotune", "fasttext")
# fastText's arguments that `dump args` shows and `supervised` takes.
FASTTEXT_ARGS = ("lr", "dim", "ws", "epoch", "minCount", "wordNgrams", "loss", "bucket", "minn", "maxn", "lrUpdateRate", "t")  # fmt: skip


def run_auto(train: tuple, test: tuple, budget: float, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    model = fit_auto(*train, time_budget=budget, random_state=seed)
    search = model.search_
    best = next(t for t in search["trials"] if t["trial"] == search["best_trial"])
    return {
        "accuracy": model.score(*test),
        "train_seconds": time.perf_counter() - started,
        "chosen": best["origin"],
        "held_out_accuracy": search["held_out_accuracy"],
        "trials": len(search["trials"]),
        "search": search,
    }


def run_recipe(train: tuple, test: tuple, name: str, seed: int) -> dict[str, Any]:
    return bench.run_ffnlp(train, test, load_recipe(name), seed)


def run_defaults(train: tuple, test: tuple, seed: int) -> dict[str, Any]:
    return bench.run_ffnlp(train, test, load_recipe("default"), seed)


def run_plain(train: tuple, test: tuple, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    model = TextClassifier(random_state=seed).fit(*train)
    return {"accuracy": model.score(*test), "train_seconds": time.perf_counter() - started}


def run_fasttext_autotune(train: tuple, test: tuple, budget: float, seed: int) -> dict[str, Any]:
    """fastText's autotune on a held-out fifth, then its settings on all the training data.
    The fifth is made as ``--auto`` makes its held-out parts: texts inside longer ones (SST-2's
    phrases) stay with them, and only whole texts are held out, so both tune on new text."""
    groups = containing_groups(train[0])
    fit, held = next(stratified_kfold(train[1], 5, seed=seed, groups=groups))
    held = held[groups[held] == held]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bench._write_fasttext(tmp / "fit.txt", *bench._subset(train, fit))
        bench._write_fasttext(tmp / "held.txt", *bench._subset(train, held))
        subprocess.run(
            ["fasttext", "supervised", "-input", str(tmp / "fit.txt"), "-output", str(tmp / "tuned"),
             "-autotune-validation", str(tmp / "held.txt"), "-autotune-duration", str(int(budget)),
             "-thread", "2", "-seed", str(seed), "-verbose", "0"],
            check=True, capture_output=True,
        )  # fmt: skip
        dumped = subprocess.run(
            ["fasttext", "dump", str(tmp / "tuned.bin"), "args"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
    found = dict(line.split()[:2] for line in dumped if len(line.split()) >= 2)
    settings = {k: found[k] for k in FASTTEXT_ARGS if k in found}
    tuning_seconds = time.perf_counter() - started
    result = bench.run_fasttext(train, test, settings, seed)
    result["train_seconds"] += tuning_seconds
    result["settings"] = settings
    return result


def run_fasttext_defaults(train: tuple, test: tuple, seed: int) -> dict[str, Any]:
    return bench.run_fasttext(train, test, {}, seed)


def splits(name: str, data: Path, seed: int) -> list[tuple[tuple, tuple]]:
    """(train, test) pairs: MR's 10 folds, or SST-2's and TREC's one split."""
    loaded = bench.load(name, data)
    if name == "mr":
        pairs = stratified_kfold(loaded["all"][1], loaded["folds"], seed=seed)
        return [
            (bench._subset(loaded["all"], tr), bench._subset(loaded["all"], te)) for tr, te in pairs
        ]
    return [(loaded["train"], loaded["test"])]


def evaluate(name: str, data: Path, budget: float, seed: int, systems: list[str]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for fold, (train, test) in enumerate(splits(name, data, seed), start=1):
        for system in systems:  # alternating, fold by fold
            if system.startswith("fasttext") and shutil.which("fasttext") is None:
                continue
            if system == "auto":
                result = bench._fresh(run_auto, train, test, budget, seed)
            elif system == "recipe":
                result = bench._fresh(run_recipe, train, test, name, seed)
            elif system == "defaults":
                result = bench._fresh(run_defaults, train, test, seed)
            elif system == "plain":
                result = bench._fresh(run_plain, train, test, seed)
            elif system == "fasttext-autotune":
                result = run_fasttext_autotune(train, test, budget, seed)
            else:
                result = run_fasttext_defaults(train, test, seed)
            result["fold"] = fold
            runs[system].append(result)
            print(
                f"{name} fold {fold} {system}: {100 * result['accuracy']:.2f} "
                f"({result['train_seconds']:.1f}s)"
                + (f" chose {result['chosen']}" if "chosen" in result else ""),
                file=sys.stderr,
                flush=True,
            )
    summary = {}
    for system, results in runs.items():
        if not results:
            continue
        accuracies = [100 * r["accuracy"] for r in results]
        summary[system] = {
            "accuracy": float(np.mean(accuracies)),
            "spread": float(np.std(accuracies)),
            "train_seconds": float(np.mean([r["train_seconds"] for r in results])),
            "runs": results,
        }
    return summary


def _cell(summary: dict[str, Any], system: str) -> str:
    s = summary.get(system)
    if s is None:
        return "—"
    return f"{s['accuracy']:.2f} ± {s['spread']:.2f} ({s['train_seconds']:.0f} s)"


def _gap(summary: dict[str, Any], a: str, b: str) -> str:
    if a not in summary or b not in summary:
        return "—"
    return f"{summary[a]['accuracy'] - summary[b]['accuracy']:+.2f}"


def write_report(results: dict[str, Any], budget: float) -> None:
    lines = [
        "# A classifier for data nobody tuned for: `--auto` and the defaults",
        "",
        f"Machine: {platform.machine()}, 2 cores, Python {platform.python_version()}. Run with "
        f"`python benchmarks/auto.py --budget {budget:g}` on {time.strftime('%Y-%m-%d %H:%M')}. "
        f"`--auto` and fastText's autotune each get {budget:g} s per fit (the search and the "
        "final fit together for ffnlp; the search alone for fastText, whose retraining on all "
        "the training data is added to its time). MR: mean over its 10 folds (± their "
        "spread); SST-2 and TREC: their test sets. The hand recipe was tuned with test scores "
        "in view (its file says so); everything else chooses on training data only.",
        "",
        "| dataset | ffnlp --auto | hand recipe | ffnlp defaults | TextClassifier() | fastText autotune | fastText defaults | --auto − recipe (≥ −0.5) | --auto − autotune (> 0) | defaults − fastText defaults (> 0) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, summary in results.items():
        cell = lambda system, summary=summary: _cell(summary, system)  # noqa: E731
        gap = lambda a, b, summary=summary: _gap(summary, a, b)  # noqa: E731
        lines.append(
            f"| {name} | {cell('auto')} | {cell('recipe')} | {cell('defaults')} | {cell('plain')} | "
            f"{cell('fasttext-autotune')} | {cell('fasttext')} | {gap('auto', 'recipe')} | "
            f"{gap('auto', 'fasttext-autotune')} | {gap('defaults', 'fasttext')} |"
        )
    lines += ["", "## What the search chose", ""]
    for name, summary in results.items():
        for run in summary.get("auto", {}).get("runs", []):
            lines.append(
                f"- {name} fold {run['fold']}: {run['chosen']} (held-out "
                f"{100 * run['held_out_accuracy']:.2f} over {run['trials']} trials), test "
                f"{100 * run['accuracy']:.2f}"
            )
    lines += ["", "Every fold's scores and every search's trials are in `auto.json`."]
    (bench.RESULTS / "auto.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(bench.DEFAULT_DATA))
    parser.add_argument(
        "--datasets", nargs="+", choices=("mr", "sst2", "trec"), default=["mr", "sst2", "trec"]
    )
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    data = Path(args.data_dir)
    missing = [d for d in args.datasets if not (data / d).is_dir()]
    if missing:
        print(f"skipped: no {', '.join(missing)} under {data} (give --data-dir)", file=sys.stderr)
        return 0
    path = bench.RESULTS / "auto.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for name in args.datasets:  # the systems run now replace their earlier results
        results.setdefault(name, {}).update(
            evaluate(name, data, args.budget, args.seed, args.systems)
        )
    if args.no_write:
        print(json.dumps({k: {s: v[s]["accuracy"] for s in v} for k, v in results.items()}))
        return 0
    path.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, args.budget)
    print(f"wrote {bench.RESULTS / 'auto.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
