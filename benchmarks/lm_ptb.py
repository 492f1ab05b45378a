"""Language-model benchmark: Kneser-Ney baselines, the feedforward neural LM and their
mixture on the Penn Treebank, and a character-level model on names.

Writes ``benchmarks/results/lm_ptb.md`` and ``lm_ptb.json``. Each model is trained in a
fresh process, so its peak memory is its own.

    python benchmarks/lm_ptb.py                       # everything (about an hour on 2 cores)
    python benchmarks/lm_ptb.py --parts kn names      # just the fast parts
    python benchmarks/lm_ptb.py --data-dir /path/to/data
    python benchmarks/lm_ptb.py --parts neural --max-time 2h   # the neural LM within 2 hours
    python benchmarks/lm_ptb.py --valid-only --recipe FILE     # a candidate, on validation only

Anchors (Mikolov et al. 2011, PTB test): KN5 141.2, feedforward NNLM 140.2, NNLM + KN5
116.7; on names, Karpathy's makemore MLP (Bengio-style: context 3, embedding 10, 200 tanh
hidden units), 2.17 nats per character on its dev split.

On names two models are trained: ffnlp's recipe and the anchor's configuration. For both,
the dev split chose the epoch kept and when the learning rate fell, so the dev loss is
optimistic; the test loss, on names neither saw, is the headline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lm_common import (  # noqa: E402
    candidate_arguments,
    curve,
    in_fresh_process,
    mixture,
    model_rows,
    peak_mb,
    probe_candidate,
    recipe_dict,
    recipe_line,
    record_full_run,
    run_kn,
    run_neural,
    train_neural,
    trained_on,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"

# The neural LM recipe: the recipe file src/ffnlp/recipes/ptb.toml (its origin says how it
# was chosen), also `ffnlp lm train --recipe ptb`.
NEURAL = recipe_dict("ptb")
# The character-level models on names (80/10/10 split, seed 0). NAMES is ffnlp's recipe,
# the recipe file src/ffnlp/recipes/names.toml (also `ffnlp lm train --recipe names`; its
# origin lists every setting tried on dev), NAMES_ANCHOR the anchor's: makemore's MLP
# (context 3, embedding 10, 200 tanh units, no dropout; SGD, batch 32, rate 0.1 then 0.01,
# 200,000 steps). This loop lowers the rate when dev stops improving rather than at step
# 100,000, and min_lr keeps it at 0.01.
NAMES = recipe_dict("names")
NAMES_ANCHOR = {
    "model": {
        "context_size": 3,
        "embed_dim": 10,
        "hidden_dims": [200],
        "activation": "tanh",
        "dropout": 0.0,
        "layout": "sentence",
    },
    "training": {
        "epochs": 40,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 0.1,
        "lr_decay": 0.1,
        "lr_patience": 0,
        "min_lr": 0.01,
        "early_stopping": 3,
        "max_steps": 200_000,
    },
}
NAMES_RECIPES = {
    "names": ("char MLP, ffnlp recipe", NAMES),
    "names_anchor": ("char MLP, anchor's configuration", NAMES_ANCHOR),
}


def _ptb_paths(data_dir: str | Path) -> list[str]:
    return [str(Path(data_dir) / "ptb" / f"ptb.{name}.txt") for name in ("train", "valid", "test")]


def run_names(data_dir: str, seed: int, key: str = "names") -> dict[str, Any]:
    """Train one names model (``key`` in NAMES_RECIPES), stopping on dev; dev and test loss."""
    from ffnlp.text import Tokenizer, Vocab, load_corpus, split

    model, recipe = NAMES_RECIPES[key]
    load = os.getloadavg()[0]  # other work on the machine slows the timing, not the losses
    names = load_corpus(Path(data_dir) / "names" / "names.txt", Tokenizer("char"))
    train, dev, test = split(names, (0.8, 0.1, 0.1), seed=0)
    vocab = Vocab.build(train)
    encode = lambda part: [vocab.encode(s) for s in part]  # noqa: E731
    lm, history, seconds, tokens = train_neural(vocab, encode(train), encode(dev), recipe, seed)
    lm.tokenizer = Tokenizer("char")
    return {
        "model": model,
        "recipe": recipe,
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "stopping_split": "dev",
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "steps": history.epochs[-1]["step"],
        "dev_loss": float(-lm.log_probs(encode(dev)).mean()),
        "test_loss": float(-lm.log_probs(encode(test)).mean()),
        "train_seconds": seconds,
        "load_average": [load, os.getloadavg()[0]],
        "tokens_per_second": trained_on(history, tokens, recipe) / seconds,
        "peak_memory_mb": peak_mb(),
        "samples": lm.generate(num_sentences=8, seed=seed, max_tokens=20),
        "curve": curve(history),
    }


_in_fresh_process = in_fresh_process  # a name of this module, which the tests replace


def _names_section(results: dict[str, Any]) -> list[str]:
    """The names table: test loss first (the headline), dev loss named as the stopping split."""
    rows = [results[key] for key in NAMES_RECIPES if results.get(key)]
    if not rows:
        return []
    runs = sorted({r["run"] for r in rows if "run" in r})
    lines = [
        "",
        "## Names, character level (80/10/10 split, seed 0; nats per character)",
        "",
        (f"Run {', '.join(runs)}. " if runs else "")
        + "The dev split chose the epoch kept and when the learning rate fell, so its loss is "
        "optimistic; the test split, seen by neither, gives the headline. The anchor, 2.17, is "
        "the dev loss of Karpathy's makemore MLP (context 3, embedding 10, 200 tanh units) on "
        "its own 80/10/10 split of the same file; the second row trains that configuration "
        "here, with this project's initialisation.",
        "",
        "| model | test loss | dev loss (stopping split) | anchor (dev) | epochs (best) | training time | chars/s | peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        anchor = "2.17" if r["recipe"]["model"] == NAMES_ANCHOR["model"] else ""
        epochs = f"{r['epochs_run']}" + (f" ({r['best_epoch']})" if r.get("best_epoch") else "")
        lines.append(
            f"| {r['model']} | {r['test_loss']:.3f} | {r['dev_loss']:.3f} | {anchor} | {epochs} | {r['train_seconds']:.0f} s | {r['tokens_per_second']:,.0f} | {r['peak_memory_mb']:,.0f} MB |"
        )
    loads = [r["load_average"] for r in rows if "load_average" in r]
    if loads:
        lines += [
            "",
            "Load average (1 minute) at the start and end of each run: "
            + "; ".join(f"{a:.1f} to {b:.1f}" for a, b in loads)
            + f", on {os.cpu_count()} cores: above that count, other work was running and the "
            "times are slower than an idle machine's (the losses do not change).",
        ]
    lines.append("")
    for r in rows:
        lines.append(f"Samples ({r['model']}): " + ", ".join(r["samples"]))
        lines.append("")
    for r in rows:
        lines.append(f"Recipe ({r['model']}): `" + json.dumps(r["recipe"]) + "`")
        lines.append("")
    return lines[:-1]


def write_report(results: dict[str, Any], folder: Path | None = None) -> None:
    """Write ``lm_ptb.md`` and ``lm_ptb.json`` into ``folder`` (default: RESULTS) from every
    part's results."""
    folder = RESULTS if folder is None else folder
    ptb_runs = sorted(
        {results[k]["run"] for k in ("kn3", "kn5", "neural") if "run" in results.get(k, {})}
    )
    lines = [
        "# Language-model benchmark",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}. "
        "`python benchmarks/lm_ptb.py --parts ...` reruns some parts and keeps the others' results.",
    ]
    if any(results.get(k) for k in ("kn3", "kn5", "neural", "mixture")):
        lines += [
            "",
            "## Penn Treebank (test perplexity; anchors from Mikolov et al. 2011)",
            "",
        ]
        if ptb_runs:
            lines += [f"Run {', '.join(ptb_runs)}.", ""]
        lines += [
            "| model | valid ppl | test ppl | anchor | training time | tokens/s | peak memory |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
    anchors = {"KN5": "141.2", "feedforward NNLM": "140.2", "NNLM + KN5": "116.7"}
    lines += model_rows(results, ("kn3", "kn5", "neural", "mixture"), anchors)
    lines += _names_section(results)
    lines += recipe_line(results, "ptb")
    from ffnlp.io import atomic_write_text

    atomic_write_text(folder / "lm_ptb.md", "\n".join(lines) + "\n")
    atomic_write_text(folder / "lm_ptb.json", json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from ffnlp.settings import parse_duration

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        default=str(DEFAULT_DATA),
        help="folder holding ptb/ and names/ (or set FFNLP_DATA)",
    )
    parser.add_argument(
        "--parts", nargs="+", choices=("kn", "neural", "names"), default=["kn", "neural", "names"]
    )
    candidate_arguments(parser, "ptb", "lm_ptb")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = Path(args.data_dir)
    if {"kn", "neural"} & set(args.parts) and not (data / "ptb" / "ptb.train.txt").exists():
        print(
            f"skipped: no Penn Treebank under {data} (give --data-dir or set FFNLP_DATA)",
            file=sys.stderr,
        )
        return 0
    recipe = recipe_dict(args.recipe)
    if args.epochs is not None:
        recipe["training"]["epochs"] = args.epochs
    if args.max_time:
        recipe["training"]["max_time"] = parse_duration("--max-time", args.max_time)
    if args.valid_only:
        probe_candidate("lm_ptb", _ptb_paths(data), recipe, args.recipe, args.seed, RESULTS, "ptb_")
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / "lm_ptb.json"
    results: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    if "kn" in args.parts:
        for order in (3, 5):
            results[f"kn{order}"] = _in_fresh_process(run_kn, _ptb_paths(data), order, str(RESULTS))
            print(json.dumps(results[f"kn{order}"]), flush=True)
    if "neural" in args.parts:
        results["neural"] = _in_fresh_process(
            run_neural, _ptb_paths(data), recipe, args.seed, str(RESULTS)
        )
        results["neural"]["recipe_name"] = Path(args.recipe).name
        print(json.dumps({k: v for k, v in results["neural"].items() if k != "curve"}), flush=True)
    if "names" in args.parts and (data / "names" / "names.txt").exists():
        for key in NAMES_RECIPES:
            results[key] = _in_fresh_process(run_names, str(data), args.seed, key)
            print(json.dumps({k: v for k, v in results[key].items() if k != "curve"}), flush=True)
    mixed = mixture(RESULTS)
    if mixed:
        results["mixture"] = mixed
        print(json.dumps(mixed), flush=True)
    if "neural" in args.parts:
        record_full_run("lm_ptb", results["neural"], mixed, RESULTS)
    write_report(results)
    print(f"wrote {RESULTS / 'lm_ptb.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
