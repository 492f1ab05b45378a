"""Choosing TREC's recipe by k-fold cross-validation over its training questions only.

Each candidate (ffnlp's ``TextClassifier`` options, or fastText settings) is trained on
k-1 stratified folds of the 5,452 training questions and scored on the k-th, for every
fold of ``--splits`` different fold assignments; the score is the mean accuracy over all
those held-out folds. The test set is never read.

    python benchmarks/trec_cv.py --ffnlp '{"embed_dim": 100, "bigrams": true}'
    python benchmarks/trec_cv.py --fasttext '{"lr": 1.0, "epoch": 25, "wordNgrams": 2}'

Run with ``OPENBLAS_NUM_THREADS=1``; each line printed is one candidate as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classify import DEFAULT_DATA, _subset, load, record, run_fasttext  # noqa: E402


def folds(labels: list, k: int, splits: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(split seed, train indices, held-out indices) for every fold of every split."""
    from ffnlp.metrics import stratified_kfold

    return [(s, tr, te) for s in range(splits) for tr, te in stratified_kfold(labels, k, seed=s)]


def score_ffnlp(train: tuple, recipe: dict[str, Any], k: int, splits: int) -> dict[str, Any]:
    from ffnlp.recipes import recipe_from_options

    accuracies, seconds = [], []
    for seed, tr, te in folds(train[1], k, splits):
        start = time.perf_counter()
        model = recipe_from_options(recipe).estimator(random_state=seed).fit(*_subset(train, tr))
        seconds.append(time.perf_counter() - start)
        accuracies.append(model.score(*_subset(train, te)))
    return {"accuracy": float(np.mean(accuracies)), "folds": accuracies, "seconds": seconds}


def score_fasttext(train: tuple, settings: dict[str, Any], k: int, splits: int) -> dict[str, Any]:
    runs = [
        run_fasttext(_subset(train, tr), _subset(train, te), settings, seed)
        for seed, tr, te in folds(train[1], k, splits)
    ]
    return {
        "accuracy": float(np.mean([r["accuracy"] for r in runs])),
        "folds": [r["accuracy"] for r in runs],
        "seconds": [r["train_seconds"] for r in runs],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="folder holding trec/")
    parser.add_argument("--ffnlp", action="append", default=[], help="TextClassifier options")
    parser.add_argument("--fasttext", action="append", default=[], help="fastText settings")
    parser.add_argument("--folds", type=int, default=5, help="k of the k-fold CV")
    parser.add_argument("--splits", type=int, default=2, help="fold assignments (seeds)")
    args = parser.parse_args(argv)
    train = load("trec", Path(args.data_dir))["train"]
    for system, candidates, score in (
        ("ffnlp", args.ffnlp, score_ffnlp),
        ("fasttext", args.fasttext, score_fasttext),
    ):
        for text in candidates:
            options = json.loads(text)
            result = score(train, options, args.folds, args.splits)
            entry = record(
                "trec_cv",
                {
                    "system": system,
                    "options": options,
                    "accuracy": round(100 * result["accuracy"], 2),
                    "fold_std": round(100 * float(np.std(result["folds"])), 2),
                    "median_seconds": round(float(np.median(result["seconds"])), 2),
                    "folds": [round(100 * a, 2) for a in result["folds"]],
                },
            )
            print(json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
