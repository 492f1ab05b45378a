"""Write the README's example files from MR: ``reviews.csv``, 2,000 reviews, and
``reviews-test.csv``, 1,000 others, each with the header ``id,text,label`` (labels
``positive`` and ``negative``), drawn by one shuffle with seed 0.

    python benchmarks/readme_reviews.py /tmp/example     # then, in /tmp/example,
    ffnlp classify train reviews.csv --out reviews.npz   # and the README's other commands
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classify as bench

TRAIN, TEST = 2000, 1000
LABELS = {"pos": "positive", "neg": "negative"}


def write_reviews(data: Path, out: Path, seed: int = 0) -> tuple[Path, Path]:
    """The two files in ``out`` (created if needed); returns their paths."""
    texts, labels = bench.load("mr", data)["all"]
    order = np.random.default_rng(seed).permutation(len(texts))
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "reviews.csv", out / "reviews-test.csv"
    for path, rows in zip(paths, (order[:TRAIN], order[TRAIN : TRAIN + TEST])):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["id", "text", "label"])
            for i, row in enumerate(rows):
                writer.writerow([i, texts[row], LABELS[labels[row]]])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write the two files to")
    parser.add_argument("--data-dir", type=Path, default=bench.DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not (args.data_dir / "mr").is_dir():
        print(f"skipped: needs MR under {args.data_dir} (--data-dir)", file=sys.stderr)
        return 0
    for path in write_reviews(args.data_dir, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
