"""Text-classification benchmark: ffnlp's feedforward classifier against fastText and a
scikit-learn logistic regression, on MR (10-fold cross-validation), SST-2 and TREC.

Writes ``benchmarks/results/classify.md`` and ``classify.json``. Every model is trained in
a fresh process, so the peak memory reported is its own; fastText runs with 2 threads.

    python benchmarks/classify.py                      # all datasets
    python benchmarks/classify.py --datasets trec sst2
    python benchmarks/classify.py --data-dir /path/to/data

Needs fastText (Debian: ``apt-get install fasttext``) and scikit-learn
(``pip install scikit-learn``); a missing peer is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"

# ffnlp's recipe per dataset, each chosen on held-out training data only, never on a test
# set: MR's on an inner tenth of each of its 10 training folds, SST-2's by 5-fold
# cross-validation over its 6,920 training sentences (phrases of held-out sentences left out
# of training; benchmarks/sst2_cv.py), among recipes that train in under 3x fastText's
# time, TREC's by 5-fold cross-validation over its training questions (3 fold assignments,
# 15 held-out folds: benchmarks/trec_cv.py). The candidates tried and their scores are in
# benchmarks/results/classify-tuning.md.
RECIPES: dict[str, dict[str, Any]] = {
    "mr": {
        "embed_dim": 100,
        "pooling": "nb",
        "dropout": 0.5,
        "bigrams": True,
        "buckets": 0,
        "nb_features": True,
        "epochs": 5,
        "contrast_words": ["but"],
    },
    "sst2": {  # a deep averaging network (Iyyer et al.) of the words beside a linear model
        # of the NB-weighted words and bigrams (the wide tower), trained on the phrases
        "embed_dim": 100,
        "hidden_dims": [300],
        "dropout": 0.5,
        "word_dropout": 0.3,
        "bigrams": True,
        "buckets": 0,
        "nb_features": True,
        "wide": True,
        "batch_size": 512,
        "batch_by_length": True,
        "epochs": 2,
        "lr": 0.004,
        "unknown_words": "prefix",
        "contrast_words": ["but"],  # "X but Y" is scored as the mean of X-but-Y's and Y's
        "class_weight": "balanced",  # the phrases are 56 % positive, the sentences 52 %
    },
    "trec": {  # a linear model over words, bigrams, the question's opening words, the
        # pairs of its first 4 words with every later word (wh-word x head noun) and the
        # shapes of its words (names, acronyms, numbers)
        "embed_dim": 100,
        "dropout": 0.3,
        "bigrams": True,
        "buckets": 0,
        "prefix_ngrams": 3,
        "prefix_pairs": 4,
        "word_shapes": True,
        "epochs": 10,
        "lr": 0.01,
    },
}
# fastText settings searched on the same dev data.
FASTTEXT_GRID = [
    {"lr": lr, "epoch": epoch, "wordNgrams": ngrams, "dim": 100}
    for lr in (0.1, 0.5, 1.0)
    for epoch in (5, 25)
    for ngrams in (1, 2)
]
ANCHORS = {"mr": "NBSVM-bi 79.4", "sst2": "DAN-RAND 83.2", "trec": "CNN-rand 91.2"}
TARGETS = {"mr": 79.5, "sst2": 83.5, "trec": 91.0}


def load(name: str, data: Path) -> dict[str, Any]:
    """{"folds": k} for cross-validation, else train / dev / test (texts, labels)."""
    from ffnlp.text.labelled import read_labelled

    if name == "mr":
        texts, labels = read_labelled(
            [str(data / "mr" / "rt-polarity.pos"), str(data / "mr" / "rt-polarity.neg")],
            "files",
            encoding="cp1252",
        )
        return {"all": (texts, labels), "folds": 10}
    if name == "sst2":
        train = read_labelled(
            str(data / "sst2_glue" / "train.tsv"),
            "tsv",
            label_column="label",
            text_column="sentence",
            header=True,
        )
        dev = read_labelled(str(data / "sst2" / "stsa.binary.dev"), "label-first")
        test = read_labelled(str(data / "sst2" / "stsa.binary.test"), "label-first")
        return {"train": train, "dev": dev, "test": test}
    # TREC's training file has one stray 0xF0 byte (see its SOURCES.md): latin-1 reads it.
    train = read_labelled(str(data / "trec" / "TREC.train.all"), "label-first", encoding="latin-1")
    test = read_labelled(str(data / "trec" / "TREC.test.all"), "label-first", encoding="latin-1")
    return {"train": train, "dev": None, "test": test}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# ---------------------------------------------------------------------------- the three systems


def run_ffnlp(train: tuple, test: tuple, recipe: dict[str, Any], seed: int) -> dict[str, Any]:
    from ffnlp.estimators import TextClassifier

    start = time.perf_counter()
    model = TextClassifier(random_state=seed, **recipe).fit(*train)
    seconds = time.perf_counter() - start
    return {"accuracy": model.score(*test), "train_seconds": seconds, "peak_memory_mb": _peak_mb()}


def _write_fasttext(path: Path, texts: list[str], labels: list[str]) -> None:
    path.write_text(
        "".join(f"__label__{y} {' '.join(t.split())}\n" for t, y in zip(texts, labels)),
        encoding="utf-8",
    )


def run_fasttext(train: tuple, test: tuple, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write_fasttext(tmp / "train.txt", *train)
        _write_fasttext(tmp / "test.txt", *test)
        args = [
            "fasttext",
            "supervised",
            "-input",
            str(tmp / "train.txt"),
            "-output",
            str(tmp / "model"),
            "-thread",
            "2",
            "-seed",
            str(seed),
            "-verbose",
            "0",
        ]
        for key, value in settings.items():
            args += [f"-{key}", str(value)]
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        predicted = subprocess.run(
            ["fasttext", "predict", str(tmp / "model.bin"), str(tmp / "test.txt")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
    labels = [p[len("__label__") :] for p in predicted]
    return {
        "accuracy": float(np.mean([p == y for p, y in zip(labels, test[1])])),
        "train_seconds": seconds,
        "peak_memory_mb": _children_peak_mb(),
    }


def run_logreg(train: tuple, test: tuple, seed: int) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    start = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+"),
        LogisticRegression(C=10, max_iter=2000, random_state=seed),
    )
    model.fit(*train)
    seconds = time.perf_counter() - start
    return {
        "accuracy": float(model.score(*test)),
        "train_seconds": seconds,
        "peak_memory_mb": _peak_mb(),
    }


def _fresh(function, *args) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _subset(pair: tuple, indices: np.ndarray) -> tuple[list, list]:
    return [pair[0][i] for i in indices], [pair[1][i] for i in indices]


def _dev_split(train: tuple, seed: int) -> tuple[tuple, tuple]:
    """A tenth of the training data, stratified, held out for choosing settings."""
    from ffnlp.metrics import stratified_kfold

    inner, held = next(stratified_kfold(train[1], k=10, seed=seed))
    return _subset(train, inner), _subset(train, held)


def choose_fasttext(train: tuple, dev: tuple, seed: int) -> dict[str, Any]:
    scores = [
        (_fresh(run_fasttext, train, dev, s, seed)["accuracy"], i)
        for i, s in enumerate(FASTTEXT_GRID)
    ]
    return FASTTEXT_GRID[max(scores)[1]]


def _summary(runs: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Mean and spread of the accuracy over runs; median time; the largest peak memory."""
    return {
        "accuracy": float(np.mean([r["accuracy"] for r in runs])),
        "accuracy_std": float(np.std([r["accuracy"] for r in runs])),
        "runs": [r["accuracy"] for r in runs],
        "train_seconds": float(np.median([r["train_seconds"] for r in runs])),
        "peak_memory_mb": float(max(r["peak_memory_mb"] for r in runs)),
        "protocol": f"test set, mean of {repeats} seeds",
    }


def evaluate(
    name: str, data: Path, seed: int, systems: list[str], repeats: int = 3
) -> dict[str, Any]:
    sets = load(name, data)
    results: dict[str, Any] = {"dataset": name}
    have_fasttext = shutil.which("fasttext") is not None
    if "folds" in sets:
        from ffnlp.metrics import stratified_kfold

        everything = sets["all"]
        folds = list(stratified_kfold(everything[1], k=sets["folds"], seed=seed))
        tuning_train, tuning_dev = _dev_split(_subset(everything, folds[0][0]), seed)
        fasttext_settings = (
            choose_fasttext(tuning_train, tuning_dev, seed)
            if have_fasttext and "fasttext" in systems
            else None
        )
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
        for train_idx, test_idx in folds:
            train, test = _subset(everything, train_idx), _subset(everything, test_idx)
            if "ffnlp" in systems:
                runs["ffnlp"].append(_fresh(run_ffnlp, train, test, RECIPES[name], seed))
            if fasttext_settings:
                runs["fasttext"].append(_fresh(run_fasttext, train, test, fasttext_settings, seed))
            if "logreg" in systems:
                runs["logreg"].append(_fresh(run_logreg, train, test, seed))
        for system, fold_runs in runs.items():
            if fold_runs:
                results[system] = {
                    "accuracy": float(np.mean([r["accuracy"] for r in fold_runs])),
                    "accuracy_std": float(np.std([r["accuracy"] for r in fold_runs])),
                    "train_seconds": float(np.mean([r["train_seconds"] for r in fold_runs])),
                    "peak_memory_mb": float(max(r["peak_memory_mb"] for r in fold_runs)),
                    "protocol": f"{sets['folds']}-fold CV (mean per fold)",
                }
        if fasttext_settings:
            results["fasttext"]["settings"] = fasttext_settings
    else:
        # One test set, so the seed is the noise: each system runs with `repeats` seeds
        # (fastText with 2 threads is not deterministic even with one seed).
        train, test = sets["train"], sets["test"]
        dev = sets["dev"] or _dev_split(train, seed)[1]
        seeds = range(seed, seed + repeats)
        if "ffnlp" in systems:
            results["ffnlp"] = _summary(
                [_fresh(run_ffnlp, train, test, RECIPES[name], s) for s in seeds], repeats
            )
        if have_fasttext and "fasttext" in systems:
            tuning_train = train if sets["dev"] else _dev_split(train, seed)[0]
            settings = choose_fasttext(tuning_train, dev, seed)
            runs = [_fresh(run_fasttext, train, test, settings, s) for s in seeds]
            results["fasttext"] = {**_summary(runs, repeats), "settings": settings}
        if "logreg" in systems:
            results["logreg"] = _summary(
                [_fresh(run_logreg, train, test, s) for s in seeds], repeats
            )
    if "ffnlp" in results:
        results["ffnlp"]["recipe"] = RECIPES[name]
    return results


def write_report(results: dict[str, Any]) -> None:
    from ffnlp.io import atomic_write_text

    lines = [
        "# Text-classification benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}. "
        "Run with `python benchmarks/classify.py` (each dataset's run time in the table). "
        "No pretrained vectors.",
        "",
        "| dataset | system | accuracy | target | anchor | training time | peak memory | run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("mr", "sst2", "trec"):
        r = results.get(name)
        if not r:
            continue
        for system in ("ffnlp", "fasttext", "logreg"):
            s = r.get(system)
            if not s:
                continue
            acc = f"{100 * s['accuracy']:.2f}" + (
                f" ± {100 * s['accuracy_std']:.2f}" if "accuracy_std" in s else ""
            )
            target = f"≥ {TARGETS[name]}" if system == "ffnlp" else ""
            anchor = ANCHORS[name] if system == "ffnlp" else ""
            lines.append(
                f"| {name} | {system} | {acc} | {target} | {anchor} | {s['train_seconds']:.1f} s "
                f"| {s['peak_memory_mb']:,.0f} MB | {r.get('run', '')} |"
            )
    lines += [
        "",
        "Accuracy: MR, mean ± spread over the 10 folds; SST-2 and TREC, mean ± spread over "
        "the seeds (`--repeats`). Training time: mean per fold, or median over the seeds.",
        "",
        "| dataset | accuracy target met | accuracy − fastText (≥ 0) | time / fastText's (≤ 3) | all three met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("mr", "sst2", "trec"):
        r = results.get(name, {})
        if "ffnlp" not in r or "fasttext" not in r:
            continue
        ours, theirs = r["ffnlp"], r["fasttext"]
        met = 100 * ours["accuracy"] >= TARGETS[name]
        gap = 100 * (ours["accuracy"] - theirs["accuracy"])
        ratio = ours["train_seconds"] / theirs["train_seconds"]
        every = met and gap >= 0 and ratio <= 3
        yes = {True: "yes", False: "**no**"}
        lines.append(f"| {name} | {yes[met]} | {gap:+.2f} | {ratio:.1f} | {yes[every]} |")
    lines += [
        "",
        "Settings: "
        + json.dumps(
            {
                n: {
                    s: results[n][s].get("recipe") or results[n][s].get("settings")
                    for s in ("ffnlp", "fasttext")
                    if s in results[n]
                }
                for n in results
            }
        ),
    ]
    atomic_write_text(RESULTS / "classify.md", "\n".join(lines) + "\n")
    atomic_write_text(RESULTS / "classify.json", json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA),
        help="folder holding mr/, sst2/, sst2_glue/ and trec/ (or set FFNLP_DATA)",
    )
    parser.add_argument(
        "--datasets", nargs="+", choices=("mr", "sst2", "trec"), default=["mr", "sst2", "trec"]
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=("ffnlp", "fasttext", "logreg"),
        default=["ffnlp", "fasttext", "logreg"],
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="seeds per system on the datasets with a test set"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the results; leave benchmarks/results alone"
    )
    args = parser.parse_args(argv)
    data = Path(args.data_dir)
    missing = [d for d in args.datasets if not (data / d).is_dir()]
    if missing:
        print(
            f"skipped: no {', '.join(missing)} under {data} (give --data-dir or set FFNLP_DATA)",
            file=sys.stderr,
        )
        return 0
    if shutil.which("fasttext") is None:
        print(
            "fastText is not installed (apt-get install fasttext): its column is skipped",
            file=sys.stderr,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / "classify.json"
    results: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    for name in args.datasets:
        results[name] = evaluate(name, data, args.seed, args.systems, args.repeats)
        results[name]["run"] = time.strftime("%Y-%m-%d %H:%M")
        print(json.dumps(results[name]), flush=True)
    if args.no_write:
        return 0
    write_report(results)
    print(f"wrote {RESULTS / 'classify.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
