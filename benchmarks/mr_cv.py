"""Choosing MR's recipe without its test folds: the inner tenth of each training part.

The benchmark scores MR by 10-fold cross-validation, so every sentence is some fold's
test data. To choose a recipe, each of those 10 training parts (the same stratified
folds, the same seed) is split once more: a stratified tenth is held out and the
candidate is trained on the rest. The score is the mean accuracy over the 10 inner
tenths; no outer test fold is read.

    OPENBLAS_NUM_THREADS=1 python benchmarks/mr_cv.py '{}' '{"contrast_words": ["but"]}'

This is a tool for exploring candidates, not a protocol: a recipe picked by its mean
over the 10 inner tenths is not blind to the outer test folds (the inner tenths of the
other folds' training parts hold, together, on average 57 % of each outer test fold's
sentences). ``benchmarks/classify.py`` chooses MR's recipe by nested cross-validation
instead, each outer fold on its own training part.

Each candidate is a JSON object of ``TextClassifier`` options (``features`` as tables,
``contrast_words`` a list) laid over the ``mr`` recipe (``'{}'``: the recipe itself). Prints one JSON line per candidate: the
options, the mean inner accuracy (%), each fold's, and the median fit time in seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify import DEFAULT_DATA, RECIPES, _dev_split, _subset, load, record  # noqa: E402

from ffnlp.recipes import recipe_from_options  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", nargs="+", help="TextClassifier options as JSON")
    parser.add_argument("--seed", type=int, default=0, help="the benchmark's fold seed")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="holds mr/")
    args = parser.parse_args(argv)
    from ffnlp.metrics import stratified_kfold

    sets = load("mr", Path(args.data_dir))
    everything = sets["all"]
    outer = list(stratified_kfold(everything[1], k=sets["folds"], seed=args.seed))
    for text in args.candidates:
        options = json.loads(text)
        recipe = recipe_from_options(options, RECIPES["mr"])
        scores, seconds = [], []
        for f, (train_idx, _) in enumerate(outer):  # the outer test folds stay unread
            inner, held = _dev_split(_subset(everything, train_idx), args.seed)
            start = time.perf_counter()
            model = recipe.estimator(random_state=args.seed + f).fit(*inner)
            seconds.append(time.perf_counter() - start)
            scores.append(100 * model.score(*held))
        entry = record(
            "mr_cv",
            {
                "options": options,
                "inner": round(float(np.mean(scores)), 2),
                "folds": [round(s, 2) for s in scores],
                "seconds": round(float(np.median(seconds)), 2),
            },
        )
        print(json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
