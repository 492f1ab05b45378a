"""Score TextClassifier recipes on the SST-2 dev set (872 sentences), trained on GLUE's
67,349 training phrases: how the SST-2 recipe of ``classify.py`` was chosen (the candidates
and their scores are in ``benchmarks/results/classify-tuning.md``). Never looks at test.

    OPENBLAS_NUM_THREADS=1 python benchmarks/sst2_dev.py '{"embed_dim": 100, "hidden_dims": [300]}'
    python benchmarks/sst2_dev.py '{"epochs": 2}' --seeds 0 1 2 3 4

Prints one JSON line: the recipe, the mean dev accuracy (%), each seed's, and the median
fit time in seconds.
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
from classify import DEFAULT_DATA, load  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="TextClassifier keyword arguments, as a JSON object")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="random_state values"
    )
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="holds sst2/ and sst2_glue/")
    args = parser.parse_args(argv)
    from ffnlp.recipes import recipe_from_options

    recipe = json.loads(args.recipe)
    sets = load("sst2", Path(args.data_dir))
    scores, seconds = [], []
    for seed in args.seeds:
        start = time.perf_counter()
        model = recipe_from_options(recipe).estimator(random_state=seed).fit(*sets["train"])
        seconds.append(time.perf_counter() - start)
        scores.append(100 * model.score(*sets["dev"]))
    print(
        json.dumps(
            {
                "recipe": recipe,
                "dev": round(float(np.mean(scores)), 2),
                "runs": [round(s, 2) for s in scores],
                "seconds": round(float(np.median(seconds)), 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
