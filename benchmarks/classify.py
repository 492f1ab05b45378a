"""Text-classification benchmark: ffnlp's feedforward classifier against fastText and a
scikit-learn logistic regression, on MR (10-fold cross-validation), SST-2 and TREC.

ffnlp's recipe is chosen among the recipes it ships (``src/ffnlp/recipes/*.toml``) on
training data only: for MR by nested cross-validation (each outer fold's recipe by
cross-validation of that fold's training part), for SST-2 and TREC by cross-validation of
the training set. Each test set (or outer fold) is read once, at the end, by the recipe
chosen. Every candidate's held-out scores are kept in the results JSON.

Writes ``benchmarks/results/classify.md`` and ``classify.json``. Every model is trained in
a fresh process, so the peak memory reported is its own; fastText runs with 2 threads.
The final fits of the systems take turns (fold by fold, seed by seed, in alternating
order) and each one's fit time is the median over them; the target is ffnlp's fit no
slower than fastText's (``TIME_TARGET``).

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

from ffnlp.recipes import Recipe, load_recipe, recipe_names  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"

# ffnlp's recipes are data (src/ffnlp/recipes/*.toml). Each dataset's own recipe was tuned
# with its test scores in view (their "origin" says how), so a test score obtained by naming
# the dataset's recipe in advance is test-selected. The benchmark instead chooses among
# every recipe ffnlp ships, on training data only (selection_splits, choose), and reads each test
# set once, at the end, with the recipe chosen.
CANDIDATES = tuple(recipe_names())
RECIPES: dict[str, Recipe] = {name: load_recipe(name) for name in CANDIDATES}
INNER_FOLDS = 3  # MR: folds of each outer training part, for choosing that fold's recipe
SELECTION_FOLDS = 5  # SST-2 (over its training sentences) and TREC (its training questions)
# fastText settings searched on the same dev data.
FASTTEXT_GRID = [
    {"lr": lr, "epoch": epoch, "wordNgrams": ngrams, "dim": 100}
    for lr in (0.1, 0.5, 1.0)
    for epoch in (5, 25)
    for ngrams in (1, 2)
]
ANCHORS = {"mr": "NBSVM-bi 79.4", "sst2": "DAN-RAND 83.2", "trec": "CNN-rand 91.2"}
TARGETS = {"mr": 79.5, "sst2": 83.5, "trec": 91.0}
# ffnlp's fit time over fastText's (2 threads, the strongest it runs on this machine), at most.
TIME_TARGET = 1.0


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
        # The same training sentences, whole: the held-out data when choosing a recipe.
        sentences = read_labelled(str(data / "sst2" / "stsa.binary.train"), "label-first")
        return {"train": train, "dev": dev, "test": test, "train_sentences": sentences}
    # TREC's training file has one stray 0xF0 byte (see its SOURCES.md): latin-1 reads it.
    train = read_labelled(str(data / "trec" / "TREC.train.all"), "label-first", encoding="latin-1")
    test = read_labelled(str(data / "trec" / "TREC.test.all"), "label-first", encoding="latin-1")
    return {"train": train, "dev": None, "test": test}


def record(script: str, entry: dict[str, Any], folder: Path | None = None) -> dict[str, Any]:
    """Append ``entry`` (one candidate's raw result) to ``FOLDER/tuning/SCRIPT.jsonl``
    (``folder``: the results folder, :data:`RESULTS` by default), with the time and the
    commit, so the tuning record keeps every candidate's raw JSON."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = ""
    entry = {
        "script": script,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "commit": commit,
        **entry,
    }
    tuning = (RESULTS if folder is None else Path(folder)) / "tuning"
    tuning.mkdir(parents=True, exist_ok=True)
    with open(tuning / f"{script}.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return entry


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# ---------------------------------------------------------------------------- the three systems


def run_ffnlp(train: tuple, test: tuple, recipe: Recipe, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    model = recipe.estimator(random_state=seed).fit(*train)
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


# ---------------------------------------------------------------------------- choosing a recipe

# SST-2's sentence-level files keep the PTB escapes that GLUE's phrases spell out.
ESCAPES = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}


def _glue_tokens(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _sentence_tokens(text: str) -> tuple[str, ...]:
    return tuple(ESCAPES.get(w, w).replace("\\/", "/") for w in text.split())


def phrase_sources(phrases: list[str], sentences: list[str]) -> list[np.ndarray]:
    """For each phrase, the indices of the sentences it occurs in (as a run of words)."""
    where: dict[tuple[str, ...], int] = {}
    for i, text in enumerate(phrases):
        where.setdefault(_glue_tokens(text), i)
    longest = max(len(key) for key in where)
    found: list[set[int]] = [set() for _ in phrases]
    for s, text in enumerate(sentences):
        words = _sentence_tokens(text)
        for start in range(len(words)):
            for stop in range(start + 1, min(len(words), start + longest) + 1):
                i = where.get(words[start:stop])
                if i is not None:
                    found[i].add(s)
    # Duplicated phrases share their first copy's sources.
    return [np.fromiter(found[where[_glue_tokens(t)]], dtype=np.int64, count=-1) for t in phrases]


def fold_training_set(
    phrases: tuple[list, list], sources: list[np.ndarray], held_out: np.ndarray, n: int
) -> tuple[list, list]:
    """The phrases that occur in some sentence outside ``held_out``. The 281 phrases found
    in no sentence are left out too: most are a sentence spelt differently ("colored" /
    "coloured", "wan na" / "wanna"), which could give a held-out sentence's answer away."""
    out = np.zeros(n, dtype=bool)
    out[held_out] = True
    keep = [len(src) > 0 and not out[src].all() for src in sources]
    return (
        [t for t, k in zip(phrases[0], keep) if k],
        [y for y, k in zip(phrases[1], keep) if k],
    )


def sentence_folds(sentences: tuple[list, list], k: int, seed: int) -> list[np.ndarray]:
    """The held-out sentence indices of each of k stratified folds. A sentence that occurs
    twice (9 of SST-2's do) goes to one fold: the folds are over distinct sentences."""
    from ffnlp.metrics import stratified_kfold

    first: dict[str, int] = {}
    copies = np.array([first.setdefault(t, i) for i, t in enumerate(sentences[0])])
    distinct = np.unique(copies)
    return [
        np.flatnonzero(np.isin(copies, distinct[held]))
        for _, held in stratified_kfold([sentences[1][i] for i in distinct], k, seed=seed)
    ]


def selection_splits(
    name: str, sets: dict[str, Any], seed: int, train: tuple | None = None
) -> list[tuple[tuple, tuple]]:
    """(training part, held-out part) of each fold a recipe is chosen on; no test text.

    MR: ``INNER_FOLDS`` stratified folds of ``train``, one outer fold's training part
    (nested cross-validation). TREC: ``SELECTION_FOLDS`` folds of its training questions.
    SST-2: ``SELECTION_FOLDS`` folds of its training sentences; each fold trains on the
    training phrases less those that occur only inside its held-out sentences (a held-out
    sentence's own phrases would give its answer away), as ``benchmarks/sst2_cv.py`` does.
    """
    from ffnlp.metrics import stratified_kfold

    if name == "sst2":
        phrases, sentences = sets["train"], sets["train_sentences"]
        sources = phrase_sources(phrases[0], sentences[0])
        n = len(sentences[0])
        return [
            (fold_training_set(phrases, sources, held, n), _subset(sentences, held))
            for held in sentence_folds(sentences, SELECTION_FOLDS, seed)
        ]
    data, k = (train, INNER_FOLDS) if name == "mr" else (sets["train"], SELECTION_FOLDS)
    return [
        (_subset(data, tr), _subset(data, te)) for tr, te in stratified_kfold(data[1], k, seed=seed)
    ]


def score_candidates(
    splits: list[tuple[tuple, tuple]], candidates: dict[str, Recipe], seed: int
) -> dict[str, dict[str, Any]]:
    """Each candidate recipe's held-out accuracy over ``splits`` (pooled over every held-out
    text), with each fold's accuracy and fit time: the raw record of the choice."""
    scores = {}
    for name, recipe in candidates.items():
        folds, sizes, seconds = [], [], []
        for f, (train, held) in enumerate(splits):
            start = time.perf_counter()
            model = recipe.estimator(random_state=seed + f).fit(*train)
            seconds.append(time.perf_counter() - start)
            folds.append(float(model.score(*held)))
            sizes.append(len(held[1]))
        scores[name] = {
            "accuracy": float(np.dot(folds, sizes) / np.sum(sizes)),
            "folds": folds,
            "held_out": sizes,
            "seconds": seconds,
        }
    return scores


def choose(scores: dict[str, dict[str, Any]]) -> str:
    """The candidate with the best held-out accuracy (the first listed among equals)."""
    return max(scores, key=lambda name: scores[name]["accuracy"])


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
        "train_seconds_runs": [r["train_seconds"] for r in runs],
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
        chosen_per_fold = []
        for f, (train_idx, test_idx) in enumerate(folds):
            train, test = _subset(everything, train_idx), _subset(everything, test_idx)
            fits = {}
            if "ffnlp" in systems:  # nested: this fold's recipe chosen on its training part
                splits = selection_splits(name, sets, seed, train)
                scores = _fresh(score_candidates, splits, RECIPES, seed)
                chosen = choose(scores)
                chosen_per_fold.append({"fold": f, "chosen": chosen, "scores": scores})
                print(f"{name} fold {f}: chose {chosen!r}", _brief(scores), flush=True)
                fits["ffnlp"] = (run_ffnlp, train, test, RECIPES[chosen], seed)
            if fasttext_settings:
                fits["fasttext"] = (run_fasttext, train, test, fasttext_settings, seed)
            if "logreg" in systems:
                fits["logreg"] = (run_logreg, train, test, seed)
            for system, result in _in_turn(fits, f).items():
                runs[system].append(result)
        for system, fold_runs in runs.items():
            if fold_runs:
                results[system] = {
                    "accuracy": float(np.mean([r["accuracy"] for r in fold_runs])),
                    "accuracy_std": float(np.std([r["accuracy"] for r in fold_runs])),
                    "train_seconds": float(np.median([r["train_seconds"] for r in fold_runs])),
                    "train_seconds_runs": [r["train_seconds"] for r in fold_runs],
                    "peak_memory_mb": float(max(r["peak_memory_mb"] for r in fold_runs)),
                    "protocol": f"{sets['folds']}-fold CV (accuracy: mean per fold; "
                    "fit time: median per fold)",
                }
        if fasttext_settings:
            results["fasttext"]["settings"] = fasttext_settings
        if chosen_per_fold:
            results["ffnlp"]["selection"] = {
                "protocol": f"nested: each outer fold's recipe chosen by {INNER_FOLDS}-fold "
                "cross-validation of that fold's training part",
                "candidates": {n: r.to_dict() for n, r in RECIPES.items()},
                "chosen": [c["chosen"] for c in chosen_per_fold],
                "folds": chosen_per_fold,
            }
    else:
        # One test set, so the seed is the noise: each system runs with `repeats` seeds
        # (fastText with 2 threads is not deterministic even with one seed).
        train, test = sets["train"], sets["test"]
        dev = sets["dev"] or _dev_split(train, seed)[1]
        seeds = range(seed, seed + repeats)
        chosen, settings = None, None
        if "ffnlp" in systems:
            scores = _fresh(score_candidates, selection_splits(name, sets, seed), RECIPES, seed)
            chosen = choose(scores)
            print(f"{name}: chose {chosen!r}", _brief(scores), flush=True)
        if have_fasttext and "fasttext" in systems:
            tuning_train = train if sets["dev"] else _dev_split(train, seed)[0]
            settings = choose_fasttext(tuning_train, dev, seed)
        # The final fits take turns, seed by seed, so the fit times they are compared by
        # were measured under the same conditions (another process's load, the CPU's clock).
        runs = {s: [] for s in systems}
        for r, s in enumerate(seeds):
            fits = {}
            if chosen is not None:
                fits["ffnlp"] = (run_ffnlp, train, test, RECIPES[chosen], s)
            if settings is not None:
                fits["fasttext"] = (run_fasttext, train, test, settings, s)
            if "logreg" in systems:
                fits["logreg"] = (run_logreg, train, test, s)
            for system, result in _in_turn(fits, r).items():
                runs[system].append(result)
        if chosen is not None:
            results["ffnlp"] = _summary(runs["ffnlp"], repeats)
            where = "training sentences" if name == "sst2" else "training questions"
            results["ffnlp"]["selection"] = {
                "protocol": f"{SELECTION_FOLDS}-fold cross-validation over the {where}",
                "candidates": {n: r.to_dict() for n, r in RECIPES.items()},
                "chosen": chosen,
                "scores": scores,
            }
        if settings is not None:
            results["fasttext"] = {**_summary(runs["fasttext"], repeats), "settings": settings}
        if "logreg" in systems:
            results["logreg"] = _summary(runs["logreg"], repeats)
    return results


def _in_turn(fits: dict[str, tuple], round_: int) -> dict[str, dict[str, Any]]:
    """Run each system's fit (``function, *args``) in a fresh process, one after another:
    in the order given on even rounds, in the reverse order on odd ones, so that neither
    system always runs first (after a pause) or last."""
    order = list(fits) if round_ % 2 == 0 else list(reversed(fits))
    done = {system: _fresh(*fits[system]) for system in order}
    return {system: done[system] for system in fits}


def _brief(scores: dict[str, dict[str, Any]]) -> str:
    return json.dumps({n: round(100 * s["accuracy"], 2) for n, s in scores.items()})


def _chosen(selection: dict[str, Any]) -> str:
    """The recipe chosen, or for MR how often each was chosen over the 10 outer folds."""
    chosen = selection["chosen"]
    if isinstance(chosen, str):
        return chosen
    counts = {c: chosen.count(c) for c in dict.fromkeys(chosen)}
    return ", ".join(f"{c} ({n} folds)" if len(counts) > 1 else c for c, n in counts.items())


def _held_out_table(name: str, selection: dict[str, Any]) -> list[str]:
    """Each candidate's held-out accuracy: for MR the mean over the outer folds' inner CVs."""
    if "scores" in selection:
        per = {c: [v["accuracy"]] for c, v in selection["scores"].items()}
    else:
        per = {}
        for fold in selection["folds"]:
            for c, v in fold["scores"].items():
                per.setdefault(c, []).append(v["accuracy"])
    fits = "fit" if "scores" in selection else "fit, per inner fold"
    cells = []
    for c, accs in per.items():
        seconds = (
            selection["scores"][c]["seconds"]
            if "scores" in selection
            else [t for fold in selection["folds"] for t in fold["scores"][c]["seconds"]]
        )
        cells.append(f"{c} {100 * np.mean(accs):.2f} ({np.median(seconds):.1f} s {fits})")
    return [f"- {name}: {selection['protocol']}. Held-out accuracy: " + "; ".join(cells) + "."]


def write_report(results: dict[str, Any]) -> None:
    from ffnlp.io import atomic_write_text

    lines = [
        "# Text-classification benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}. "
        "Run with `python benchmarks/classify.py` (each dataset's run time in the table). "
        "No pretrained vectors.",
        "",
        "Protocol: ffnlp's recipe is chosen among every recipe it ships "
        f"({', '.join(CANDIDATES)}; `src/ffnlp/recipes/`) on training data only, and each "
        "test set is read once, at the end, with the recipe chosen: for MR by nested "
        f"cross-validation (each of the 10 outer folds chooses by {INNER_FOLDS}-fold CV of its "
        f"own training part), for SST-2 by {SELECTION_FOLDS}-fold CV over the training "
        f"sentences, for TREC by {SELECTION_FOLDS}-fold CV over the training questions. "
        "fastText's settings are chosen on held-out training data (SST-2: its dev set). The "
        "rows marked *test-selected* are the earlier figures of each dataset's own recipe, "
        "which was tuned with that dataset's test scores in view.",
        "",
        "| dataset | system | recipe | accuracy | target | anchor | fit time (median) | peak memory | run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("mr", "sst2", "trec"):
        r = results.get(name)
        if not r:
            continue
        for system in ("ffnlp", "test_selected", "fasttext", "logreg"):
            s = r.get(system)
            if not s:
                continue
            acc = f"{100 * s['accuracy']:.2f}" + (
                f" ± {100 * s['accuracy_std']:.2f}" if "accuracy_std" in s else ""
            )
            if system == "ffnlp":
                recipe = _chosen(s["selection"]) if "selection" in s else name
                label = "ffnlp"
            elif system == "test_selected":
                recipe, label = name, "ffnlp, *test-selected*"
            else:
                recipe, label = "", system
            target = f"≥ {TARGETS[name]}" if system == "ffnlp" else ""
            anchor = ANCHORS[name] if system == "ffnlp" else ""
            seconds = f"{s['train_seconds']:.2f} s" if "train_seconds" in s else ""
            memory = f"{s['peak_memory_mb']:,.0f} MB" if "peak_memory_mb" in s else ""
            lines.append(
                f"| {name} | {label} | {recipe} | {acc} | {target} | {anchor} | {seconds} "
                f"| {memory} | {s.get('run', r.get('run', ''))} |"
            )
    lines += [
        "",
        "Accuracy: MR, mean ± spread over the 10 folds; SST-2 and TREC, mean ± spread over "
        "the seeds (`--repeats`). Fit time: the median over the 10 folds (MR) or the seeds, "
        "each fit in a fresh process, the systems taking turns fold by fold (seed by seed), "
        "in alternating order. ffnlp's is its `fit` call (loading the compiled loops "
        "included); fastText's the whole `fasttext supervised -thread 2` command (starting, "
        "reading the file, training, saving the model).",
        "",
        f"| dataset | accuracy target met | accuracy − fastText (≥ 0) | fit time / fastText's at 2 threads (≤ {TIME_TARGET}) | all three met |",
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
        every = met and gap >= 0 and ratio <= TIME_TARGET
        yes = {True: "yes", False: "**no**"}
        lines.append(f"| {name} | {yes[met]} | {gap:+.2f} | {ratio:.2f} | {yes[every]} |")
    lines += ["", "## How each recipe was chosen", ""]
    for name in ("mr", "sst2", "trec"):
        selection = results.get(name, {}).get("ffnlp", {}).get("selection")
        if selection:
            lines += _held_out_table(name, selection)
    lines += [
        "",
        "Every candidate's raw scores (each fold's accuracy and fit time) are in "
        "`classify.json`, under each dataset's `ffnlp.selection`.",
        "",
        "Settings: "
        + json.dumps(
            {
                n: {
                    "recipes": {n: r.to_dict() for n, r in RECIPES.items()},
                    "fasttext": results[n].get("fasttext", {}).get("settings"),
                }
                for n in results
                if n in ("mr", "sst2", "trec")
            }
        ),
    ]
    atomic_write_text(RESULTS / "classify.md", "\n".join(lines) + "\n")
    atomic_write_text(RESULTS / "classify.json", json.dumps(results, indent=2) + "\n")


def _test_selected(earlier: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier figure of a dataset's own recipe, kept beside the protocol's: from a
    results file written before the protocol (no ``selection``), or carried forward."""
    if "test_selected" in earlier:
        return earlier["test_selected"]
    ours = earlier.get("ffnlp")
    if not ours or "selection" in ours:
        return None
    return {
        "accuracy": ours["accuracy"],
        "runs": ours.get("runs"),
        "recipe": ours.get("recipe"),
        "run": earlier.get("run"),
        "note": "the dataset's own recipe, tuned with its test scores in view",
    }


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
        earlier = _test_selected(results.get(name, {}))
        results[name] = evaluate(name, data, args.seed, args.systems, args.repeats)
        results[name]["run"] = time.strftime("%Y-%m-%d %H:%M")
        if earlier:
            results[name]["test_selected"] = earlier
        print(json.dumps(results[name]), flush=True)
    if args.no_write:
        return 0
    write_report(results)
    print(f"wrote {RESULTS / 'classify.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
