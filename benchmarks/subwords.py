"""Character n-grams for unseen words (fastText's subwords), measured on SST-2 and TREC.

For each dataset, two recipes (``default`` and the dataset's own, ``sst2`` / ``trec``)
are trained without and with ``CharNgrams()`` (n from 3 to 6, '<' and '>' around each word,
hashed into as many buckets as the training words have distinct n-grams), for each seed,
and scored on the test set: accuracy on every test text, and on the texts with at least one
word outside the training vocabulary. Also: the share of test tokens outside the
vocabulary (the model's own, after its tokenizer).

Data: SST-2 trained on stsa.binary.train (the 6,920 sentences, not the phrases) and tested
on stsa.binary.test; TREC on TREC.train.all / TREC.test.all. Nothing is tuned here: the
recipes are used as shipped, so this measures the option, not a selection.

    flock /tmp/ffnlp-bench.lock python benchmarks/subwords.py [--seeds 3] [--data DIR]

Writes benchmarks/results/subwords.json and subwords.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = Path("/work/shared/data")
DATASETS = {
    "sst2": ("sst2/stsa.binary.train", "sst2/stsa.binary.test", "utf-8"),
    # TREC's training file has one stray 0xF0 byte (see its SOURCES.md): latin-1 reads it.
    "trec": ("trec/TREC.train.all", "trec/TREC.test.all", "latin-1"),
}


def load(name: str, data: Path) -> tuple[tuple[list, list], tuple[list, list]]:
    from ffnlp.text.labelled import read_labelled

    train, test, encoding = DATASETS[name]
    return (
        read_labelled(str(data / train), "label-first", encoding=encoding),
        read_labelled(str(data / test), "label-first", encoding=encoding),
    )


def estimator(recipe_name: str, subwords: bool, seed: int) -> Any:
    from ffnlp.recipes import load_recipe
    from ffnlp.text.row_features import CharNgrams

    recipe = load_recipe(recipe_name)
    features = list(recipe.params.get("features", ()))
    if subwords:
        features.append(CharNgrams())
    return recipe.estimator(features=features, random_state=seed)


def inner(model: Any) -> Any:
    return getattr(model, "estimator_", model)  # ContrastClauses wraps the classifier


def out_of_vocabulary(model: Any, texts: list[str]) -> tuple[float, np.ndarray]:
    """(share of test tokens outside the model's vocabulary, mask of texts with one)."""
    clf = inner(model)
    tokens = [clf.tokenizer_(t) for t in texts]
    unseen = [sum(w not in clf.vocab_ for w in text) for text in tokens]
    total = sum(len(text) for text in tokens)
    return sum(unseen) / max(total, 1), np.array(unseen) > 0


def run(name: str, recipe_name: str, subwords: bool, seed: int, data: tuple) -> dict[str, Any]:
    (train_x, train_y), (test_x, test_y) = data
    start = time.perf_counter()
    model = estimator(recipe_name, subwords, seed).fit(train_x, train_y)
    seconds = time.perf_counter() - start
    predicted = np.array([str(p) for p in model.predict(test_x)])
    right = predicted == np.array([str(y) for y in test_y])
    oov_share, has_oov = out_of_vocabulary(model, test_x)
    grams = [f for f in inner(model).features_ if f.kind == "char-ngrams"]
    return {
        "dataset": name,
        "recipe": recipe_name,
        "subwords": subwords,
        "seed": seed,
        "accuracy": float(right.mean()),
        "accuracy_texts_with_unseen_words": float(right[has_oov].mean()),
        "texts_with_unseen_words": int(has_oov.sum()),
        "test_texts": len(test_x),
        "oov_token_share": oov_share,
        "vocab_size": len(inner(model).vocab_),
        "char_ngram_buckets": grams[0].size if grams else 0,
        "train_seconds": seconds,
    }


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    keys = sorted({(r["dataset"], r["recipe"], r["subwords"]) for r in runs}, key=str)
    for dataset, recipe, subwords in keys:
        mine = [
            r
            for r in runs
            if (r["dataset"], r["recipe"], r["subwords"]) == (dataset, recipe, subwords)
        ]
        acc = [100 * r["accuracy"] for r in mine]
        unseen = [100 * r["accuracy_texts_with_unseen_words"] for r in mine]
        rows.append(
            {
                "dataset": dataset,
                "recipe": recipe,
                "subwords": subwords,
                "accuracy": float(np.mean(acc)),
                "accuracy_std": float(np.std(acc)),
                "accuracy_texts_with_unseen_words": float(np.mean(unseen)),
                "texts_with_unseen_words": mine[0]["texts_with_unseen_words"],
                "test_texts": mine[0]["test_texts"],
                "oov_token_share": mine[0]["oov_token_share"],
                "char_ngram_buckets": mine[0]["char_ngram_buckets"],
                "train_seconds": float(np.median([r["train_seconds"] for r in mine])),
                "seeds": len(mine),
            }
        )
    return rows


def write_report(result: dict[str, Any]) -> None:
    lines = [
        "# Subwords (character n-grams) for unseen words",
        "",
        f"Machine: {result['machine']}. Run with `{result['command']}` on {result['time']}.",
        "",
        "SST-2 trained on stsa.binary.train (sentences), tested on stsa.binary.test; TREC on "
        "TREC.train.all / TREC.test.all. Each recipe as shipped, without and with "
        "`CharNgrams()` (3 to 6 characters, `<` and `>` around each word, hashed into as "
        "many buckets as the training words have distinct n-grams). Accuracy: mean ± spread "
        f"over {result['seeds']} seeds; nothing was tuned for this table.",
        "",
        "| dataset | recipe | subwords | accuracy | on texts with unseen words | texts with unseen words | test tokens out of vocabulary | n-gram buckets | training time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["summary"]:
        lines.append(
            f"| {r['dataset']} | {r['recipe']} | {'yes' if r['subwords'] else 'no'} | "
            f"{r['accuracy']:.2f} ± {r['accuracy_std']:.2f} | "
            f"{r['accuracy_texts_with_unseen_words']:.2f} | "
            f"{r['texts_with_unseen_words']} of {r['test_texts']} | "
            f"{100 * r['oov_token_share']:.1f}% | {r['char_ngram_buckets'] or ''} | "
            f"{r['train_seconds']:.1f} s |"
        )
    lines += ["", "Every run's raw numbers are in `subwords.json`."]
    (RESULTS / "subwords.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the datasets' folder")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)
    runs = []
    for name in args.datasets:
        data = load(name, args.data)
        for recipe in ("default", name):
            for subwords in (False, True):
                for seed in range(args.seeds):
                    runs.append(run(name, recipe, subwords, seed, data))
                    print(json.dumps(runs[-1]), flush=True)
    result = {
        "machine": f"{platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}",
        "command": " ".join(
            ["python benchmarks/subwords.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "time": time.strftime("%Y-%m-%d %H:%M"),
        "seeds": args.seeds,
        "summary": summarise(runs),
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "subwords.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    write_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
