"""Multi-label classification, ffnlp against fastText, on TREC's two labels a question.

Li & Roth's raw TREC files label each question ``COARSE:fine`` (``NUM:dist How far is it
from Denver to Aspen ?``). Here every question carries both as a label set, in fastText's
format: ``__label__NUM __label__NUM:dist how far ...``, so each text has two labels among
6 coarse and 50 fine ones (a small hierarchical multi-label task from real data).

ffnlp trains its default recipe as shipped (the one-vs-all loss is chosen by the data:
texts with several labels), and once more with 25 epochs instead of 3 (the epochs of
fastText's tutorial settings; nothing else changed); fastText trains with ``-loss ova``, once with its defaults and
once with the settings of its multi-label tutorial (``-lr 0.5 -epoch 25 -wordNgrams 2
-dim 50``). Each is scored on the test questions: P@1, R@1, P@2, R@2 (for fastText, as its
own ``fasttext test`` prints them), and micro / macro F1 of the labels of probability >= 0.5
(for fastText, of its ``predict-prob`` output, by :func:`ffnlp.metrics.multi_label_report`).
Nothing is tuned here.

    flock /tmp/ffnlp-bench.lock python benchmarks/multilabel.py [--seeds 3] [--data DIR]

Writes benchmarks/results/multilabel.json and multilabel.md.
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

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = Path("/work/shared/data")
FASTTEXT = {
    "defaults": [],
    "tutorial": ["-lr", "0.5", "-epoch", "25", "-wordNgrams", "2", "-dim", "50"],
}


def fasttext_lines(raw: Path) -> list[str]:
    """The raw TREC file as fastText lines with both labels (lower-cased, as the
    ``TREC.*.all`` files are; the training file's one stray byte read as latin-1)."""
    lines = []
    for line in raw.read_text(encoding="latin-1").splitlines():
        label, text = line.split(maxsplit=1)
        coarse = label.split(":")[0]
        lines.append(f"__label__{coarse} __label__{label} {text.lower()}")
    return lines


def ffnlp_run(train: Path, test: Path, seed: int, **settings: Any) -> dict[str, Any]:
    from ffnlp.metrics import multi_label_report
    from ffnlp.recipes import load_recipe
    from ffnlp.text.labelled import read_labelled

    texts, labels = read_labelled(str(train))
    test_texts, truth = read_labelled(str(test))
    started = time.perf_counter()
    model = load_recipe("default").estimator(random_state=seed, **settings).fit(texts, labels)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"train_seconds": seconds}
    for k in (1, 2):
        tops = model.predict_top(test_texts, k=k)
        report = multi_label_report(truth, [[y for y, _ in top] for top in tops], k)
        out[f"P@{k}"], out[f"R@{k}"] = report.precision, report.recall
    report = multi_label_report(truth, model.predict_labels(test_texts, threshold=0.5))
    out["micro_f1"], out["macro_f1"] = report.micro_f1, report.macro_f1
    return out


def fasttext_run(train: Path, test: Path, flags: list[str], seed: int) -> dict[str, Any]:
    from ffnlp.metrics import multi_label_report
    from ffnlp.text.labelled import read_labelled

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        started = time.perf_counter()
        subprocess.run(
            [
                "fasttext",
                "supervised",
                "-input",
                str(train),
                "-output",
                str(model),
                "-loss",
                "ova",
                "-thread",
                "1",
                "-seed",
                str(seed),
                "-verbose",
                "0",
                *flags,
            ],
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - started
        out: dict[str, Any] = {"train_seconds": seconds}
        binary = str(model) + ".bin"
        for k in (1, 2):
            said = subprocess.run(
                ["fasttext", "test", binary, str(test), str(k)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            printed = dict(line.split("\t") for line in said.splitlines())
            out[f"P@{k}"], out[f"R@{k}"] = float(printed[f"P@{k}"]), float(printed[f"R@{k}"])
        probs = subprocess.run(
            ["fasttext", "predict-prob", binary, str(test), "-1", "0.5"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    predicted = [
        [w.removeprefix("__label__") for w in line.split()[0::2]] for line in probs.splitlines()
    ]
    _, truth = read_labelled(str(test))
    report = multi_label_report(truth, predicted)
    out["micro_f1"], out["macro_f1"] = report.micro_f1, report.macro_f1
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = runs[0].keys()
    return {
        k: {
            "mean": float(np.mean([r[k] for r in runs])),
            "std": float(np.std([r[k] for r in runs])),
        }
        for k in keys
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "data": "TREC raw (Li & Roth), coarse and fine label of each question",
        "seeds": args.seeds,
        "python": platform.python_version(),
        "systems": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for split in ("train", "test"):
            files[split] = Path(tmp) / f"trec-ml.{split}"
            raw = args.data / "trec" / "raw" / f"TREC.{split}"
            files[split].write_text("\n".join(fasttext_lines(raw)) + "\n", encoding="utf-8")
        seeds = range(args.seeds)
        runs = {
            "ffnlp default recipe": [ffnlp_run(files["train"], files["test"], s) for s in seeds],
            "ffnlp default recipe, 25 epochs (the tutorial's)": [
                ffnlp_run(files["train"], files["test"], s, epochs=25) for s in seeds
            ],
        }
        if shutil.which("fasttext"):
            for name, flags in FASTTEXT.items():
                runs[f"fastText -loss ova, {name}"] = [
                    fasttext_run(files["train"], files["test"], flags, s) for s in seeds
                ]
        else:
            print("fastText is not installed: ffnlp alone", file=sys.stderr)
    for name, system_runs in runs.items():
        results["systems"][name] = {"runs": system_runs, "summary": summary(system_runs)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "multilabel.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Multi-label: TREC questions with their coarse and fine labels",
        "",
        f"`python benchmarks/multilabel.py --seeds {args.seeds}` (mean ± std over seeds; "
        "5,452 training questions, 500 test questions, 2 labels each; F1 of the labels "
        "of probability >= 0.5).",
        "",
        "| system | P@1 | R@1 | P@2 | R@2 | micro F1 | macro F1 | train s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, system in results["systems"].items():
        s = system["summary"]
        cells = [
            f"{100 * s[k]['mean']:.2f} ± {100 * s[k]['std']:.2f}"
            for k in ("P@1", "R@1", "P@2", "R@2", "micro_f1", "macro_f1")
        ]
        lines.append(f"| {name} | {' | '.join(cells)} | {s['train_seconds']['mean']:.1f} |")
    (RESULTS / "multilabel.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
