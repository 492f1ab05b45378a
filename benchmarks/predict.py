"""Prediction speed: ffnlp against fastText on the same lines, the contenders alternating.

Both classifiers are trained on MR (ffnlp: the default recipe; fastText: ``-epoch 25
-wordNgrams 2``, 2 threads), then each predicts MR's 10,662 sentences repeated ten times
(106,620 lines) and a single line, from the shell, ``--rounds`` times in turn:

- ``classify predict MODEL FILE`` against ``fasttext predict MODEL.bin FILE``: lines a
  second, start-up included;
- ``TextClassifier.predict`` from Python, the model loaded (no start-up): lines a second;
- one line from the shell (``echo TEXT | ffnlp classify predict MODEL - --format text``
  against ``echo TEXT | fasttext predict MODEL.bin -``): seconds, the whole process.

Writes ``benchmarks/results/predict.md`` and ``predict.json`` (every round's time; the
tables give medians).

    python benchmarks/predict.py
    python benchmarks/predict.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import classify as bench  # noqa: E402

LINE = "a gorgeous , witty , seductive movie ."


def _timed(command: list[str], stdin: str | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, input=stdin, text=True, check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(bench.DEFAULT_DATA))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    data = Path(args.data_dir)
    if not (data / "mr").is_dir() or shutil.which("fasttext") is None:
        print("skipped: needs MR under --data-dir and fastText installed", file=sys.stderr)
        return 0
    texts, labels = bench.load("mr", data)["all"]
    ffnlp = [sys.executable, "-m", "ffnlp"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bench._write_fasttext(tmp / "train.ft", texts, labels)
        lines = tmp / "lines.txt"
        lines.write_text("".join(" ".join(t.split()) + "\n" for t in texts * 10))
        count = len(texts) * 10
        subprocess.run(
            [*ffnlp, "classify", "train", str(tmp / "train.ft"), "--out", str(tmp / "m.npz"),
             "--no-progress"], check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["fasttext", "supervised", "-input", str(tmp / "train.ft"), "-output",
             str(tmp / "ft"), "-epoch", "25", "-wordNgrams", "2", "-thread", "2",
             "-verbose", "0"], check=True, capture_output=True,
        )  # fmt: skip
        from ffnlp.estimators import load_classifier

        model = load_classifier(tmp / "m.npz")
        big = lines.read_text().splitlines()
        rounds: dict[str, list[float]] = {k: [] for k in (
            "ffnlp_file", "fasttext_file", "ffnlp_python", "ffnlp_line", "fasttext_line",
        )}  # fmt: skip
        for r in range(args.rounds):
            order = ("ffnlp", "fasttext") if r % 2 == 0 else ("fasttext", "ffnlp")
            for who in order:
                if who == "ffnlp":
                    rounds["ffnlp_file"].append(_timed(
                        [*ffnlp, "classify", "predict", str(tmp / "m.npz"), str(lines),
                         "--format", "text"]))  # fmt: skip
                    rounds["ffnlp_line"].append(_timed(
                        [*ffnlp, "classify", "predict", str(tmp / "m.npz"), "-", "--format",
                         "text"], LINE + "\n"))  # fmt: skip
                    started = time.perf_counter()
                    model.predict(big)
                    rounds["ffnlp_python"].append(time.perf_counter() - started)
                else:
                    rounds["fasttext_file"].append(
                        _timed(["fasttext", "predict", str(tmp / "ft.bin"), str(lines)])
                    )
                    rounds["fasttext_line"].append(
                        _timed(["fasttext", "predict", str(tmp / "ft.bin"), "-"], LINE + "\n")
                    )
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in rounds.items()))
    median = {k: statistics.median(v) for k, v in rounds.items()}
    results = {
        "lines": count,
        "rounds": rounds,
        "median_seconds": median,
        "lines_per_second": {
            k: count / median[k] for k in ("ffnlp_file", "fasttext_file", "ffnlp_python")
        },
        "run": time.strftime("%Y-%m-%d %H:%M"),
    }
    out = ROOT / "benchmarks" / "results"
    (out / "predict.json").write_text(json.dumps(results, indent=1) + "\n")
    lps = results["lines_per_second"]
    (out / "predict.md").write_text(
        "# Prediction speed\n\n"
        f"Machine: {platform.machine()}, 2 cores, Python {platform.python_version()}. "
        f"`python benchmarks/predict.py --rounds {args.rounds}` on {results['run']}; medians "
        "over the rounds, the contenders alternating. MR's sentences ten times over "
        f"({count:,} lines); ffnlp: the default recipe; fastText: `-epoch 25 -wordNgrams 2`.\n\n"
        "| measure | ffnlp | fastText | ffnlp / fastText |\n| --- | --- | --- | --- |\n"
        f"| a file, from the shell (lines/s) | {lps['ffnlp_file']:,.0f} | "
        f"{lps['fasttext_file']:,.0f} | {lps['ffnlp_file'] / lps['fasttext_file']:.2f} |\n"
        f"| from Python, model loaded (lines/s) | {lps['ffnlp_python']:,.0f} | | |\n"
        f"| one line from the shell (s) | {median['ffnlp_line']:.2f} | "
        f"{median['fasttext_line']:.2f} | {median['ffnlp_line'] / median['fasttext_line']:.2f} |\n"
    )
    print(json.dumps(median))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
