"""Language-model benchmark on WikiText-2: Kneser-Ney 5-gram, the feedforward neural LM of
the ``wikitext2`` recipe file, and their mixture (the weight chosen on the validation split).

Writes ``benchmarks/results/lm_wikitext2.md`` and ``lm_wikitext2.json``; each model is
trained in a fresh process, so its peak memory is its own. The neural LM stops on the
validation split (early stopping, or ``--max-time``); the test split is read once, after.

    python benchmarks/lm_wikitext2.py                  # everything (the recipe: up to ~1.5 h on 2 cores)
    python benchmarks/lm_wikitext2.py --max-time 1h    # the neural LM trains at most an hour
    python benchmarks/lm_wikitext2.py --parts kn       # KN5 alone (seconds); keeps the other results
    python benchmarks/lm_wikitext2.py --quick          # a smoke run of every part (~2 min), into a
                                                       # temporary folder unless --results-dir

The data (``wiki.{train,valid,test}.tokens`` under ``DATA/wikitext2``) is read as ffnlp reads
it: each non-blank line (a paragraph or a heading) one sentence with ``</s>`` after it, blank
lines dropped, the vocabulary every word of the training file (its ``<unk>`` included: 33,276
words and ffnlp's 3 special tokens). Perplexities count every word and each ``</s>``, so
they are not the published figures' count (which adds an ``<eos>`` for each blank line).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lm_common import (  # noqa: E402
    candidate_arguments,
    in_fresh_process,
    mixture,
    model_rows,
    probe_candidate,
    recipe_dict,
    recipe_line,
    record_full_run,
    run_kn,
    run_neural,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
TAG = "wikitext2_"  # the hidden per-token files beside the results: .wikitext2_*.npy
RECIPE = "wikitext2"  # src/ffnlp/recipes/wikitext2.toml
# --quick: the first lines of train, and of valid and test, one short epoch, a small model
QUICK_LINES = (2000, 200)
QUICK_SECONDS = 60.0
QUICK_MODEL = {"embed_dim": 64, "hidden_dims": [256, 64]}
# Issue 21's targets (test perplexity), the column beside the measured ones.
TARGETS = {"feedforward NNLM": "≤ 160", "NNLM + KN5": "≤ 140"}


def paths(data_dir: str | Path) -> list[str]:
    return [
        str(Path(data_dir) / "wikitext2" / f"wiki.{s}.tokens") for s in ("train", "valid", "test")
    ]


def neural_recipe(
    epochs: int | None = None,
    max_time: float | None = None,
    quick: bool = False,
    name: str = RECIPE,
) -> dict[str, Any]:
    """The recipe file's settings (``name``: a recipe's name or a TOML file), with the
    run's bounds laid over them."""
    recipe = recipe_dict(name)
    if quick:
        recipe["model"].update(QUICK_MODEL)
        recipe["training"].update(epochs=1, max_time=QUICK_SECONDS)
    if epochs is not None:
        recipe["training"]["epochs"] = epochs
    if max_time is not None:
        recipe["training"]["max_time"] = max_time
    return recipe


def write_report(results: dict[str, Any], folder: Path) -> None:
    """Write ``lm_wikitext2.md`` and ``lm_wikitext2.json`` into ``folder``."""
    runs = sorted({results[k]["run"] for k in ("kn5", "neural") if "run" in results.get(k, {})})
    quick = results.get("quick", False)
    lines = [
        "# Language-model benchmark: WikiText-2",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}. "
        "`python benchmarks/lm_wikitext2.py --parts ...` reruns some parts and keeps the others' results.",
        "",
    ]
    if quick:
        lines += [
            f"**A smoke run (--quick): the first {QUICK_LINES[0]:,} lines of train and "
            f"{QUICK_LINES[1]:,} of valid and test, a small model, one epoch of at most "
            f"{QUICK_SECONDS:.0f} s. Not a measurement.**",
            "",
        ]
    lines += [
        (f"Run {', '.join(runs)}. " if runs else "")
        + "Each non-blank line is a sentence (`</s>` after it), blank lines dropped; the "
        "vocabulary is every word of the training file. The neural LM stopped on the "
        "validation split and the mixture weight was chosen on it; the test split was read "
        "once, after.",
        "",
        "| model | valid ppl | test ppl | target (issue 21) | training time | tokens/s | peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += model_rows(results, ("kn5", "neural", "mixture"), TARGETS)
    neural = results.get("neural")
    if neural:
        stop = "stopped by --max-time" if neural.get("out_of_time") else "ran to its end"
        lines += [
            "",
            f"The neural LM trained {neural['epochs_run']} epoch"
            + ("s" if neural["epochs_run"] != 1 else "")
            + f" (best: {neural['best_epoch']}; {stop}).",
        ]
    lines += recipe_line(results, RECIPE)
    from ffnlp.io import atomic_write_text

    atomic_write_text(folder / "lm_wikitext2.md", "\n".join(lines) + "\n")
    atomic_write_text(folder / "lm_wikitext2.json", json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from ffnlp.settings import parse_duration

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA),
        help="folder holding wikitext2/ (or set FFNLP_DATA)",
    )
    parser.add_argument("--parts", nargs="+", choices=("kn", "neural"), default=["kn", "neural"])
    candidate_arguments(parser, RECIPE, "lm_wikitext2")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of every part on a slice of the data"
    )
    parser.add_argument(
        "--results-dir",
        default=None,
        help="where to write the results, and a --valid-only probe's per-step log "
        "(default: benchmarks/results; with --quick, a temporary folder)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    max_time = parse_duration("--max-time", args.max_time) if args.max_time else None
    files = paths(args.data_dir)
    if not all(Path(f).exists() for f in files):
        print(
            f"skipped: no WikiText-2 under {args.data_dir} (give --data-dir or set FFNLP_DATA)",
            file=sys.stderr,
        )
        return 0
    if args.valid_only:
        recipe = neural_recipe(args.epochs, max_time, args.quick, args.recipe)
        folder = Path(args.results_dir) if args.results_dir else RESULTS
        limit = QUICK_LINES if args.quick else None
        probe_candidate("lm_wikitext2", files, recipe, args.recipe, args.seed, folder, TAG, limit)
        return 0
    if args.results_dir:
        folder = Path(args.results_dir)
    elif args.quick:
        folder = Path(tempfile.mkdtemp(prefix="lm_wikitext2-quick-"))
    else:
        folder = RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    previous = folder / "lm_wikitext2.json"
    results: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    if results.get("quick", False) != args.quick:
        results = {}  # a smoke run's results and a measurement's never share a table
    results["quick"] = args.quick
    limit = QUICK_LINES if args.quick else None
    if "kn" in args.parts:
        results["kn5"] = in_fresh_process(run_kn, files, 5, str(folder), TAG, limit)
        print(json.dumps(results["kn5"]), flush=True)
    if "neural" in args.parts:
        recipe = neural_recipe(args.epochs, max_time, args.quick, args.recipe)
        results["neural"] = in_fresh_process(
            run_neural, files, recipe, args.seed, str(folder), TAG, limit
        )
        results["neural"]["recipe_name"] = Path(args.recipe).name  # no folder of this machine
        print(json.dumps({k: v for k, v in results["neural"].items() if k != "curve"}), flush=True)
    mixed = mixture(folder, TAG)
    if mixed:
        results["mixture"] = mixed
        print(json.dumps(mixed), flush=True)
    if "neural" in args.parts and not args.quick:
        record_full_run("lm_wikitext2", results["neural"], mixed, folder)
    write_report(results, folder)
    print(f"wrote {folder / 'lm_wikitext2.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
