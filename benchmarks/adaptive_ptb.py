"""The adaptive softmax against the full softmax on the Penn Treebank: training speed and
perplexity after the same short budget.

Model A of ``benchmarks/vs_torch.py`` (context 4, embeddings 128, hidden 512 tanh, batch
256, Adam lr 1e-3), trained for ``--epochs`` epochs with each output layer and the same
seed, batches and recipe; perplexities are exact (full normalised distributions) on the
validation and test sets. Each model trains in a fresh process.

    python benchmarks/adaptive_ptb.py                    # 1 epoch each (about 10 min on 2 cores)
    python benchmarks/adaptive_ptb.py --epochs 2 --threads 1

Writes ``benchmarks/results/adaptive_ptb.md`` and ``adaptive_ptb.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"

OUTPUTS: dict[str, dict[str, Any]] = {
    "full softmax": {"output": "full"},
    "adaptive (2000)": {"output": "adaptive", "cutoffs": (2000,)},
    "adaptive (1000, 4000)": {"output": "adaptive", "cutoffs": (1000, 4000)},
}


def run(data_dir: str, name: str, epochs: int, threads: int, seed: int) -> dict[str, Any]:
    import ffnlp
    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
    from ffnlp.text import Vocab, load_corpus
    from ffnlp.train import ArrayDataset, TrainConfig, fit

    ffnlp.set_num_threads(threads)
    splits = [
        load_corpus(Path(data_dir) / "ptb" / f"ptb.{part}.txt")
        for part in ("train", "valid", "test")
    ]
    vocab = Vocab.build(splits[0])  # sorted by frequency, as the adaptive softmax needs
    train, valid, test = ([vocab.encode(s) for s in split] for split in splits)
    config = FeedforwardLMConfig(
        vocab_size=len(vocab), context_size=4, embed_dim=128, hidden_dims=(512,), **OUTPUTS[name]
    )
    lm = FeedforwardLM(config, vocab=vocab, rng=seed)
    training = TrainConfig(
        epochs=epochs,
        batch_size=256,
        lr=1e-3,
        lr_decay=1.0,
        early_stopping=0,
        seed=seed,
        progress=False,
    )
    history = fit(lm, ArrayDataset(*lm.windows(train)), None, training)
    seconds = sum(r["seconds"] for r in history.epochs)
    tokens = sum(r["examples_per_second"] * r["seconds"] for r in history.epochs)
    return {
        "output": name,
        "epochs": epochs,
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds,
        "valid_ppl": float(np.exp(-lm.log_probs(valid).mean())),
        "test_ppl": float(np.exp(-lm.log_probs(test).mean())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1, help="training epochs for each model")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outputs", nargs="+", choices=list(OUTPUTS), default=list(OUTPUTS))
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="folder holding ptb/")
    args = parser.parse_args(argv)
    if not (Path(args.data_dir) / "ptb" / "ptb.train.txt").exists():
        print(f"skipped: no Penn Treebank under {args.data_dir} (give --data-dir)", file=sys.stderr)
        return 0
    results = []
    for name in args.outputs:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            results.append(
                pool.apply(run, (args.data_dir, name, args.epochs, args.threads, args.seed))
            )
        print(json.dumps(results[-1]), flush=True)
    full = next((r for r in results if r["output"] == "full softmax"), None)
    lines = [
        "# Adaptive softmax against the full softmax (Penn Treebank)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}. Run "
        f"{time.strftime('%Y-%m-%d %H:%M')} with `python benchmarks/adaptive_ptb.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`: model A, {args.epochs} "
        f"epoch(s), {args.threads} threads; exact perplexities.",
        "",
        "| output layer | tokens/s | speed-up | valid ppl | test ppl | test ppl cost |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        speed = f"{r['tokens_per_second'] / full['tokens_per_second']:.2f}x" if full else "-"
        cost = f"{100 * (r['test_ppl'] / full['test_ppl'] - 1):+.1f}%" if full else "-"
        lines.append(
            f"| {r['output']} | {r['tokens_per_second']:,.0f} | {speed} | {r['valid_ppl']:.1f} | "
            f"{r['test_ppl']:.1f} | {cost} |"
        )
    from ffnlp.io import atomic_write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "adaptive_ptb.md", "\n".join(lines) + "\n")
    atomic_write_text(RESULTS / "adaptive_ptb.json", json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS / 'adaptive_ptb.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
