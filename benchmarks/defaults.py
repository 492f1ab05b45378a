"""Choosing the command line's default recipe: general candidate settings, each scored by
cross-validation on the training data of MR, SST-2 and TREC together (never a test set),
the winner the one with the best mean held-out accuracy over the three.

The held-out parts are those ``benchmarks/classify.py`` chooses recipes on (MR: 3 folds of
all of MR's texts here, as no fold is the test; SST-2: 5 folds of the training sentences,
training on the phrases outside each; TREC: 5 folds of the training questions).

    python benchmarks/defaults.py                # writes results/defaults.md and .json
    python benchmarks/defaults.py --folds 2      # quicker, noisier

The candidates are general families (no dataset's trick): the chapter's mean-pooled words,
n-gram features, naive-Bayes weighting, dropout, a hidden layer, the wide tower, and the
training lengths and rates that suit each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import classify as bench
import numpy as np

from ffnlp.recipes import recipe_from_options

B = [{"kind": "bigrams", "buckets": 0}]
CANDIDATES: dict[str, dict[str, Any]] = {
    "mean (TextClassifier())": {},
    "mean, 5 epochs, lr 3e-3, dropout 0.5": {"epochs": 5, "lr": 0.003, "dropout": 0.5},
    "bigrams, mean, dropout 0.5, 5 epochs, lr 3e-3": {
        "features": B, "dropout": 0.5, "epochs": 5, "lr": 0.003,
    },
    "bigrams, nb pooling + scores, dropout 0.5, 5 epochs": {
        "features": B, "pooling": "nb", "nb_features": True, "dropout": 0.5, "epochs": 5,
    },
    "bigrams, nb pooling + scores, dropout 0.5, 5 epochs, lr 3e-3": {
        "features": B, "pooling": "nb", "nb_features": True, "dropout": 0.5, "epochs": 5,
        "lr": 0.003,
    },
    "bigrams, nb pooling + scores, dropout 0.3, 10 epochs, lr 3e-3": {
        "features": B, "pooling": "nb", "nb_features": True, "dropout": 0.3, "epochs": 10,
        "lr": 0.003,
    },
    "bigrams, mean + nb scores, dropout 0.3, 10 epochs, lr 0.01": {
        "features": B, "nb_features": True, "dropout": 0.3, "epochs": 10, "lr": 0.01,
    },
    "bigrams, mean, dropout 0.3, 10 epochs, lr 0.01": {
        "features": B, "dropout": 0.3, "epochs": 10, "lr": 0.01,
    },
    "bigrams, wide, hidden 100, dropout 0.5, 3 epochs, lr 3e-3": {
        "features": B, "wide": True, "hidden_dims": [100], "dropout": 0.5, "epochs": 3,
        "lr": 0.003,
    },
    "bigrams, wide, dropout 0.5, 5 epochs, lr 3e-3": {
        "features": B, "wide": True, "dropout": 0.5, "epochs": 5, "lr": 0.003,
    },
    "bigrams, wide, dropout 0.5, 3 epochs, lr 3e-3": {
        "features": B, "wide": True, "dropout": 0.5, "epochs": 3, "lr": 0.003,
    },
    "bigrams, wide + nb scores, dropout 0.5, 5 epochs, lr 3e-3": {
        "features": B, "wide": True, "nb_features": True, "dropout": 0.5, "epochs": 5,
        "lr": 0.003,
    },
    "bigrams, wide, word dropout 0.3, dropout 0.5, 5 epochs, lr 3e-3": {
        "features": B, "wide": True, "word_dropout": 0.3, "dropout": 0.5, "epochs": 5,
        "lr": 0.003,
    },
}  # fmt: skip
# fastText's defaults on the same held-out parts: the bar the default must clear.
FASTTEXT = "fastText's defaults (reference, not a candidate)"


def choose(results: dict[str, Any]) -> str:
    """The best mean held-out accuracy among the candidates above fastText's defaults on
    every dataset (among all of them when none is, or without fastText)."""
    candidates = [label for label in results if label != FASTTEXT]
    bar = results.get(FASTTEXT)
    if bar is not None:
        above = [
            label
            for label in candidates
            if all(results[label][d]["accuracy"] > bar[d]["accuracy"] for d in DATASETS)
        ]
        candidates = above or candidates
    return max(candidates, key=lambda label: results[label]["mean"])


DATASETS = ("mr", "sst2", "trec")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(bench.DEFAULT_DATA))
    parser.add_argument("--folds", type=int, default=None, help="fewer folds: quicker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report", action="store_true", help="write the report again from defaults.json"
    )
    args = parser.parse_args(argv)
    if args.report:
        results = json.loads((bench.RESULTS / "defaults.json").read_text())
        write_report(results, choose(results), args.folds)
        return 0
    data = Path(args.data_dir)
    if not all((data / d).is_dir() for d in ("mr", "sst2", "sst2_glue", "trec")):
        print(f"skipped: MR, SST-2 or TREC is missing under {data}", file=sys.stderr)
        return 0
    results: dict[str, Any] = {}
    for name in ("mr", "sst2", "trec"):
        sets = bench.load(name, data)
        train = sets["all"] if name == "mr" else None
        splits = bench.selection_splits(name, sets, args.seed, train=train)
        if args.folds:
            splits = splits[: args.folds]
        if shutil.which("fasttext"):
            accuracies = [
                bench.run_fasttext(tr, held, {}, args.seed)["accuracy"] for tr, held in splits
            ]
            sizes = [len(held[1]) for _, held in splits]
            results.setdefault(FASTTEXT, {"options": {}})[name] = {
                "accuracy": float(np.dot(accuracies, sizes) / np.sum(sizes)),
                "folds": accuracies,
            }
            print(
                f"{name}: {100 * results[FASTTEXT][name]['accuracy']:.2f}  {FASTTEXT}",
                file=sys.stderr,
            )
        for label, options in CANDIDATES.items():
            started = time.perf_counter()
            scores = bench.score_candidates(
                splits, {label: recipe_from_options(options)}, args.seed
            )[label]
            results.setdefault(label, {"options": options})[name] = scores
            print(
                f"{name}: {100 * scores['accuracy']:.2f}  {label}  "
                f"({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    for scores in results.values():
        scores["mean"] = float(np.mean([scores[d]["accuracy"] for d in ("mr", "sst2", "trec")]))
    best = choose(results)
    write_report(results, best, args.folds)
    return 0


def write_report(results: dict[str, Any], best: str, folds: int | None) -> None:
    lines = [
        "# Choosing the default recipe on training data",
        "",
        "Each candidate's held-out accuracy by cross-validation of the training data "
        f"(`python benchmarks/defaults.py{f' --folds {folds}' if folds else ''}`: "
        f"{f'the first {folds} folds of each dataset' if folds else 'every fold'}; "
        f"written {time.strftime('%Y-%m-%d %H:%M')}); the default "
        "is the best mean over the three datasets among the candidates above fastText's "
        "defaults on each.",
        "",
        "| candidate | MR | SST-2 | TREC | mean |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, scores in sorted(results.items(), key=lambda kv: -kv[1]["mean"]):
        mark = " **(chosen)**" if label == best else ""
        cells = " | ".join(f"{100 * scores[d]['accuracy']:.2f}" for d in ("mr", "sst2", "trec"))
        lines.append(f"| {label}{mark} | {cells} | {100 * scores['mean']:.2f} |")
    (bench.RESULTS / "defaults.md").write_text("\n".join(lines) + "\n")
    (bench.RESULTS / "defaults.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
