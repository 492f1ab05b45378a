"""The figures the README quotes about ``ffnlp demo``, measured.

Writes ``benchmarks/results/demo.json`` and ``demo.md``:

1. ``ffnlp demo`` on the sample corpus, run as a user runs it (a fresh process, the
   command line), its printed table kept word for word with its wall time (the median
   of ``--repeats`` runs). The demo is seeded, so the table repeats on the same machine;
   the sampled sentences may differ elsewhere, where floating point does.
2. 5-fold cross-validation on the sample corpus's train and valid parts (the demo's
   seeded split; its test part is never read), the same folds for every system: scikit-
   learn's ``StratifiedKFold(5, shuffle=True, random_state=seed)``. The systems:
   - the demo's classifier, exactly as the demo configures it (``demo.make_classifier``);
   - the same network without its naive Bayes features (``nb_features=False``);
   - naive Bayes on a bag of words: scikit-learn's ``MultinomialNB()`` (add-one
     smoothing) on word counts;
   - logistic regression: ``LogisticRegression(max_iter=2000)`` (L2, C = 1) on the same
     counts.
   The words are the demo's: split on whitespace, case kept. Accuracy is the mean over
   the folds (as ``cross_val_score`` gives it), each fold's listed too.
3. With the standard datasets (``--data-dir``, holding ``mr/`` and ``ptb/``): the same
   cross-validation on MR's train and valid parts with the demo's MR classifier, and
   ``ffnlp demo --data-dir DIR`` (MR and the first 4,000 PTB sentences). Without them,
   this part is skipped and the results file says so.

    flock /tmp/ffnlp-bench.lock python benchmarks/demo.py            # about two minutes
    python benchmarks/demo.py --data-dir /path/to/data --no-write   # print, write nothing

Run under the shared lock (as above), so no other benchmark runs beside it; the times
are medians because the machine is shared all the same.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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
FOLDS = 5

# The rows of the demo's printed table (ffnlp.demo.report), and what each one holds.
ROWS = {
    "majority_accuracy": r"majority class \(baseline\)\s+([\d.]+)%",
    "accuracy": r"feedforward network on pooled embeddings\s+([\d.]+)%",
    "ngram_perplexity": r"Kneser-Ney trigram \(n-gram baseline\)\s+([\d.]+)",
    "neural_perplexity": r"feedforward neural LM \(Bengio et al\. 2003\)\s+([\d.]+)",
    "seconds": r"done in (\d+)s",
}


def _run_once(command: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    # In an empty folder with the default --out, so it prints what a user's run prints.
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return done, wall


def run_demo(data_dir: Path | None, seed: int, repeats: int) -> dict[str, Any]:
    """``ffnlp demo`` in fresh processes, on this checkout's sources, ``repeats`` times:
    what it printed, the numbers in it, and the median time (the machine is shared, so
    one run's time can be another's doubled)."""
    command = [sys.executable, "-m", "ffnlp", "demo", "--seed", str(seed)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    runs = [_run_once(command) for _ in range(repeats)]
    done = runs[0][0]
    printed = done.stdout.strip("\n")
    for other, _ in runs[1:]:  # seeded: every run prints the same, but for its time
        if re.sub(r"done in \d+s", "", other.stdout.strip("\n")) != re.sub(
            r"done in \d+s", "", printed
        ):
            raise RuntimeError(f"two runs of {' '.join(command)} printed different results")
    result: dict[str, Any] = {
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        # Without Graphviz the demo writes its graphs as .dot text and prints a note.
        "graphviz": shutil.which("dot") is not None,
        "command": "ffnlp demo"
        + ("" if seed == 0 else f" --seed {seed}")
        + ("" if data_dir is None else f" --data-dir {data_dir}"),
        "printed": printed,
        "wall_seconds": round(float(np.median([wall for _, wall in runs])), 1),
        "wall_seconds_each": [round(wall, 1) for _, wall in runs],
    }
    for key, pattern in ROWS.items():
        found = re.search(pattern, printed)
        if found is None:
            raise RuntimeError(f"the demo's output has no line matching {pattern!r}:\n{printed}")
        result[key] = float(found.group(1))
    data = re.search(r"^data: (.*)$", printed, flags=re.M)
    result["data"] = data.group(1) if data else None
    # The progress lines (stderr) say what the language models trained on.
    trained = re.search(r"language models on ([\d,]+) tokens, vocabulary ([\d,]+)", done.stderr)
    if trained:
        result["lm_train_tokens"] = int(trained.group(1).replace(",", ""))
        result["lm_vocab_size"] = int(trained.group(2).replace(",", ""))
    return result


def _bag_of_words():
    from sklearn.feature_extraction.text import CountVectorizer

    # The demo's words: whitespace-separated, case kept.
    return CountVectorizer(token_pattern=r"\S+", lowercase=False)


def _systems(sample: bool, seed: int) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    from ffnlp import demo

    return {
        "demo classifier": lambda: demo.make_classifier(sample, seed),
        "demo classifier without naive Bayes features": lambda: demo.make_classifier(
            sample, seed
        ).set_params(nb_features=False),
        "naive Bayes (bag of words)": lambda: make_pipeline(_bag_of_words(), MultinomialNB()),
        "logistic regression (bag of words)": lambda: make_pipeline(
            _bag_of_words(), LogisticRegression(max_iter=2000)
        ),
    }


def cross_validate(corpus, sample: bool, seed: int) -> dict[str, Any]:
    """5-fold CV over the corpus's train and valid parts, the same folds for every system."""
    from sklearn.model_selection import StratifiedKFold

    texts = corpus.sentiment["train"][0] + corpus.sentiment["valid"][0]
    labels = np.asarray(corpus.sentiment["train"][1] + corpus.sentiment["valid"][1])
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(texts, labels))
    out: dict[str, Any] = {
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "texts": len(texts),
        "folds": FOLDS,
        "seed": seed,
        "systems": {},
    }
    for name, make in _systems(sample, seed).items():
        scores, seconds = [], []
        for train, held in folds:
            start = time.perf_counter()
            model = make().fit([texts[i] for i in train], labels[train])
            seconds.append(time.perf_counter() - start)
            predicted = np.asarray(model.predict([texts[i] for i in held]))
            scores.append(100 * float(np.mean(predicted == labels[held])))
        out["systems"][name] = {
            "accuracy": round(float(np.mean(scores)), 2),
            "fold_accuracies": [round(s, 2) for s in scores],
            "fit_seconds": round(float(np.median(seconds)), 2),
        }
        print(json.dumps({name: out["systems"][name]}), flush=True)
    return out


def write_report(results: dict[str, Any]) -> None:
    from ffnlp.io import atomic_write_text

    sample = results["sample_demo"]
    lines = [
        "# The demo's figures",
        "",
        f"Machine: {results['machine']}. Run {results['run']} with "
        "`flock /tmp/ffnlp-bench.lock python benchmarks/demo.py`."
        + (
            ""
            if sample["graphviz"]
            else " Graphviz was not installed, so the demo wrote its graphs as `.dot` text "
            "(with it, `.svg`) and said so."
        ),
        "",
        f"## `{sample['command']}` (sample corpus)",
        "",
        f"Run {sample['run']} (load average {sample['load_average']}). Wall time "
        f"{sample['wall_seconds']:.1f} s, the median of {sample['wall_seconds_each']} (the "
        "command, start to end, imports included); the language "
        f"models trained on {sample.get('lm_train_tokens', 0):,} tokens, vocabulary "
        f"{sample.get('lm_vocab_size', 0):,}. It printed:",
        "",
        "```",
        sample["printed"],
        "```",
        "",
    ]
    for key, title in (("sample_cv", "sample corpus"), ("mr_cv", "MR")):
        cv = results.get(key)
        if not cv:
            continue
        lines += [
            f"## {cv['folds']}-fold cross-validation, {title} ({cv['texts']:,} texts of the "
            "train and valid parts)",
            "",
            f"Folds: scikit-learn `StratifiedKFold({cv['folds']}, shuffle=True, "
            f"random_state={cv['seed']})`, the same for every system; accuracy: mean over "
            f"the folds. Run {cv['run']}.",
            "",
            "| system | accuracy (%) | folds (%) | fit time (median) |",
            "| --- | --- | --- | --- |",
        ]
        for name, s in cv["systems"].items():
            folds = ", ".join(f"{a:.2f}" for a in s["fold_accuracies"])
            lines.append(f"| {name} | {s['accuracy']:.2f} | {folds} | {s['fit_seconds']:.2f} s |")
        lines.append("")
    standard = results["standard_demo"]
    lines += ["## `ffnlp demo --data-dir` (MR and the first 4,000 PTB sentences)", ""]
    if "skipped" in standard:
        lines += [f"Skipped: {standard['skipped']}", ""]
    else:
        lines += [
            f"Run {standard['run']} (load average {standard['load_average']}). Wall time "
            f"{standard['wall_seconds']:.1f} s, the median of {standard['wall_seconds_each']}. "
            "It printed (the first run):",
            "",
            "```",
            standard["printed"],
            "```",
            "",
        ]
    atomic_write_text(RESULTS / "demo.md", "\n".join(lines))
    atomic_write_text(RESULTS / "demo.json", json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA),
        help="folder holding mr/ and ptb/ (or set FFNLP_DATA); without them part 3 is skipped",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the demo's seed (ffnlp demo --seed) and the folds'"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each demo command; the median time"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the results; leave benchmarks/results alone"
    )
    args = parser.parse_args(argv)
    from ffnlp import demo

    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}",
        "run": time.strftime("%Y-%m-%d %H:%M"),
    }
    results["sample_demo"] = run_demo(None, args.seed, args.repeats)
    print(results["sample_demo"]["printed"], flush=True)
    results["sample_cv"] = cross_validate(demo.sample_corpus(args.seed), True, args.seed)
    data = Path(args.data_dir)
    missing = [
        str(data / part)
        for part in ("mr/rt-polarity.pos", "mr/rt-polarity.neg", "ptb/ptb.train.txt")
        if not (data / part).is_file()
    ]
    previous_file = RESULTS / "demo.json"
    previous = json.loads(previous_file.read_text()) if previous_file.exists() else {}
    if missing and "run" in previous.get("standard_demo", {}):
        print(
            f"no {', '.join(missing)}: the MR + PTB part is kept from the run of "
            f"{previous['standard_demo']['run']} (give --data-dir or set FFNLP_DATA)",
            file=sys.stderr,
        )
        results["mr_cv"], results["standard_demo"] = previous["mr_cv"], previous["standard_demo"]
    elif missing:
        reason = f"no {', '.join(missing)} (give --data-dir or set FFNLP_DATA)"
        print(f"skipped the MR + PTB part: {reason}", file=sys.stderr)
        results["standard_demo"] = {"skipped": reason}
    else:
        results["mr_cv"] = cross_validate(demo.standard_corpus(data, args.seed), False, args.seed)
        results["standard_demo"] = run_demo(data, args.seed, args.repeats)
        print(results["standard_demo"]["printed"], flush=True)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
