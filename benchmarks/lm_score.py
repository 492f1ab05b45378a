"""Scoring speed of an n-gram LM: ffnlp against KenLM on the same ARPA file and text.

A modified Kneser-Ney 5-gram model of the Penn Treebank's training set is written as an
ARPA file by ``ffnlp ngram train --order 5 --arpa`` (KenLM's ``lmplz`` where it is
installed is not used: one file, the same for both, is what matters). Then the PTB test
set (3,761 sentences, 82,430 predicted tokens: words and ``</s>``) is scored by each
contender, ``--rounds`` times, the two alternating (the order reversed every round):

- from the shell, the whole process: ``ffnlp ngram score kn5.arpa ptb.test.txt`` against a
  Python process that loads ``kenlm.Model(kn5.arpa)`` and prints the same three columns
  (log-probability, perplexity, line) for every line; tokens a second, start-up, reading
  the ARPA file and printing included;
- from Python, each in a fresh process: reading the ARPA file (``ArpaLM.read`` against
  ``kenlm.Model``), then scoring every line with the model loaded
  (``ArpaLM.sentence_log_probs`` against ``Model.score`` line by line); tokens a second.

Both score on one thread. Beside them, the same model in ffnlp's own file (``ngram train
--out``: NumPy arrays, no text to parse), from the shell and from Python; and for scale, ``ffnlp lm score`` of the neural LM
recipe's network (benchmarks/lm_ptb.py; untrained weights, as its speed does not depend on
them) on the same text, from the shell, on the machine's cores: another model, which KenLM
cannot run, so no ratio. Before timing, the scores are checked to agree: every token's
log10 probability (KenLM's ``full_scores``), to 1e-4.

This is a script of its own rather than part of benchmarks/predict.py, which times the
classifiers against fastText: the models, data and contender differ, and each runs
alone in a few minutes.

Writes ``benchmarks/results/lm_score.md`` and ``lm_score.json``.

    python benchmarks/lm_score.py
    python benchmarks/lm_score.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"
AGREE = 1e-4  # log10; the ARPA file's numbers are written with 6 decimals

# the kenlm side of the shell measurement: what `ffnlp ngram score` prints, line by line
KENLM_SCORE = """
import math, sys
import kenlm
model = kenlm.Model(sys.argv[1])
out = []
with open(sys.argv[2], encoding="utf-8") as handle:
    for line in handle:
        words = line.split()
        log10 = model.score(" ".join(words))
        ln = log10 * math.log(10)
        out.append(f"{ln:.4f}\\t{math.exp(-ln / (len(words) + 1)):.2f}\\t{line.strip()}")
sys.stdout.write("\\n".join(out) + "\\n")
"""


def _peak_mb() -> float:
    """This process's peak resident memory, MB: VmHWM, which starts afresh at exec (a
    spawned process's ``ru_maxrss`` keeps its parent's)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def tokens_of(lines: list[str]) -> int:
    """The tokens a sentence scorer predicts: every word of every line, and its ``</s>``."""
    return sum(len(line.split()) + 1 for line in lines)


def python_side(which: str, arpa: str, test: str) -> dict[str, Any]:
    """In a fresh process: seconds to read the model (``which`` "ffnlp" and "kenlm": the
    ARPA file; "ffnlp_file": ffnlp's own file of the same model, ``arpa`` without its
    suffix), seconds to score every line."""
    lines = _lines(Path(test))
    start = time.perf_counter()
    if which == "ffnlp_file":
        from ffnlp.models.ngram_lm import KneserNeyLM

        model = KneserNeyLM.load(Path(arpa).with_suffix(""))
        read = time.perf_counter() - start
        start = time.perf_counter()
        scores = model.sentence_log_probs(lines) / math.log(10)
    elif which == "ffnlp":
        from ffnlp.models.arpa import ArpaLM

        model = ArpaLM.read(arpa)
        read = time.perf_counter() - start
        start = time.perf_counter()
        scores = model.sentence_log_probs(lines) / math.log(10)
    else:
        import kenlm

        model = kenlm.Model(arpa)
        read = time.perf_counter() - start
        start = time.perf_counter()
        scores = [model.score(line) for line in lines]
    score = time.perf_counter() - start
    return {
        "read_seconds": read,
        "score_seconds": score,
        "total_log10": float(sum(scores)),
        "peak_mb": _peak_mb(),
    }


def agreement(arpa: str, test: str) -> dict[str, Any]:
    """The largest difference between ffnlp's and KenLM's log10 probability of any token."""
    import kenlm
    import numpy as np

    from ffnlp.models.arpa import ArpaLM

    lines = _lines(Path(test))
    ours = ArpaLM.read(arpa)
    theirs = kenlm.Model(arpa)
    mine = ours.independent_log_probs(ours.encode_lines(lines)) / math.log(10)
    reference = np.array([p for line in lines for p, _, _ in theirs.full_scores(line)])
    if mine.shape != reference.shape:
        raise RuntimeError(f"ffnlp scored {len(mine)} tokens, KenLM {len(reference)}")
    sentences = ours.sentence_log_probs(lines) / math.log(10)
    kenlm_sentences = np.array([theirs.score(line) for line in lines])
    return {
        "tokens": len(reference),
        "max_token_difference": float(np.abs(mine - reference).max()),
        "max_sentence_difference": float(np.abs(sentences - kenlm_sentences).max()),
        "ffnlp_perplexity": float(10 ** (-mine.mean())),
        "kenlm_perplexity": float(10 ** (-reference.mean())),
        "ngrams": ours.num_ngrams(),
        "kenlm_order": theirs.order,
    }


def neural_model(path: Path, data_dir: Path) -> None:
    """Write the neural LM recipe's network, with PTB's vocabulary, to ``path``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import lm_ptb

    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
    from ffnlp.text import Tokenizer, Vocab, load_corpus

    vocab = Vocab.build(load_corpus(data_dir / "ptb.train.txt"))
    config = FeedforwardLMConfig(vocab_size=len(vocab), **lm_ptb.NEURAL["model"])
    FeedforwardLM(config, vocab=vocab, tokenizer=Tokenizer(), rng=0).save(path)


def _in_fresh_process(function, *args) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, text=True, check=True, capture_output=True)
    return time.perf_counter() - started, done.stdout


def run(arpa: Path, test: Path, rounds: int, neural: Path | None = None) -> dict[str, Any]:
    lines = _lines(test)
    tokens = tokens_of(lines)
    check = agreement(str(arpa), str(test))
    print(json.dumps(check), flush=True)
    if check["max_token_difference"] > AGREE:
        raise RuntimeError(f"ffnlp and KenLM disagree: {json.dumps(check)}")
    shell = {
        "ffnlp": [sys.executable, "-m", "ffnlp", "ngram", "score", str(arpa), str(test)],
        "kenlm": [sys.executable, "-c", KENLM_SCORE, str(arpa), str(test)],
    }
    own = arpa.with_suffix("")  # ffnlp's own file of the same model, beside the ARPA file
    if own.exists():
        shell["ffnlp_file"] = [sys.executable, "-m", "ffnlp", "ngram", "score", str(own), str(test)]
    if neural is not None:
        shell["neural"] = [sys.executable, "-m", "ffnlp", "lm", "score", str(neural), str(test)]
    times: dict[str, list] = {f"{who}_shell": [] for who in shell}
    python_sides = ("ffnlp", "kenlm", "ffnlp_file") if own.exists() else ("ffnlp", "kenlm")
    times.update({who: [] for who in python_sides})
    outputs = {}
    for round_ in range(rounds):
        order = ("ffnlp", "kenlm") if round_ % 2 == 0 else ("kenlm", "ffnlp")
        for who in order:
            seconds, outputs[who] = _timed(shell[who])
            times[f"{who}_shell"].append(seconds)
        for who in order:
            times[who].append(_in_fresh_process(python_side, who, str(arpa), str(test)))
        for who in ("ffnlp_file", "neural"):  # for scale: no ratio, no alternation needed
            if who in shell:
                times[f"{who}_shell"].append(_timed(shell[who])[0])
        if own.exists():
            times["ffnlp_file"].append(
                _in_fresh_process(python_side, "ffnlp_file", str(arpa), str(test))
            )
        print(
            f"round {round_ + 1}: shell ffnlp {times['ffnlp_shell'][-1]:.2f} s, "
            f"kenlm {times['kenlm_shell'][-1]:.2f} s; read ffnlp "
            f"{times['ffnlp'][-1]['read_seconds']:.2f} s, kenlm {times['kenlm'][-1]['read_seconds']:.2f} s; "
            f"score ffnlp {times['ffnlp'][-1]['score_seconds']:.3f} s, "
            f"kenlm {times['kenlm'][-1]['score_seconds']:.3f} s",
            flush=True,
        )
    # the two commands print the same scores (to the 4 decimals printed, up to rounding)
    ours, theirs = (
        [float(line.split("\t")[0]) for line in outputs[w].splitlines()] for w in ("ffnlp", "kenlm")
    )
    printed = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    median = {key: statistics.median(times[f"{key}_shell"]) for key in shell}
    python = {
        who: {
            key: statistics.median(r[key] for r in times[who])
            for key in ("read_seconds", "score_seconds", "peak_mb")
        }
        for who in python_sides
    }
    return {
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rounds": rounds,
        "sentences": len(lines),
        "tokens": tokens,
        "arpa_mb": arpa.stat().st_size / 2**20,
        "agreement": {**check, "max_printed_difference_ln": printed},
        "times": times,
        "threads": os.cpu_count(),
        "shell_seconds": median,
        "shell_tokens_per_second": {k: tokens / v for k, v in median.items()},
        "python": python,
        "score_tokens_per_second": {k: tokens / v["score_seconds"] for k, v in python.items()},
    }


def report_lines(r: dict[str, Any], command: str, kenlm_version: str) -> list[str]:
    a, shell, py = r["agreement"], r["shell_tokens_per_second"], r["python"]
    score = r["score_tokens_per_second"]
    lines = [
        "# Scoring with an n-gram LM: ffnlp against KenLM",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"kenlm (Python package) {kenlm_version}. Run {r['started']} with `{command}`; "
        f"{r['rounds']} alternating rounds, medians; load average at the end {r['load_average']}.",
        "",
        f"The model: KN5 of PTB's training set, written by `ffnlp ngram train --order 5 --arpa` "
        f"({r['arpa_mb']:.0f} MB; n-grams of each order: "
        + ", ".join(f"{n:,}" for n in a["ngrams"])
        + f"). The text: PTB's test set, {r['sentences']:,} sentences, {r['tokens']:,} predicted "
        "tokens (words and `</s>`), each sentence scored on its own from `<s>`. Both on one thread.",
        "",
        f"The scores agree: the largest difference of any token's log10 probability is "
        f"{a['max_token_difference']:.1e} (of a sentence's, {a['max_sentence_difference']:.1e}); "
        f"perplexity {a['ffnlp_perplexity']:.2f} (ffnlp) and {a['kenlm_perplexity']:.2f} (KenLM).",
        "",
        "| | ffnlp | KenLM | ffnlp / KenLM |",
        "| --- | --- | --- | --- |",
        f"| from the shell, whole process: tokens/s | {shell['ffnlp']:,.0f} | {shell['kenlm']:,.0f} "
        f"| **{shell['ffnlp'] / shell['kenlm']:.2f}** |",
        f"| from the shell: seconds | {r['shell_seconds']['ffnlp']:.2f} | "
        f"{r['shell_seconds']['kenlm']:.2f} | |",
        f"| from Python, model loaded: scoring tokens/s | {score['ffnlp']:,.0f} | "
        f"{score['kenlm']:,.0f} | **{score['ffnlp'] / score['kenlm']:.2f}** |",
        f"| reading the ARPA file: seconds | {py['ffnlp']['read_seconds']:.2f} | "
        f"{py['kenlm']['read_seconds']:.2f} | {py['kenlm']['read_seconds'] / py['ffnlp']['read_seconds']:.2f} |",
        f"| peak memory of the Python process | {py['ffnlp']['peak_mb']:,.0f} MB | "
        f"{py['kenlm']['peak_mb']:,.0f} MB | |",
        "",
        "From the shell: `ffnlp ngram score kn5.arpa ptb.test.txt` against `python -c` loading "
        "`kenlm.Model` and printing the same columns (KenLM's own `query` binary is not installed "
        "here); start-up, reading the file and printing included. The ratio of reading times is "
        "KenLM's over ffnlp's (above 1: ffnlp faster); the others, ffnlp's speed over KenLM's.",
    ]
    if "ffnlp_file" in py:
        own = py["ffnlp_file"]
        lines += [
            "",
            "The same model in ffnlp's own file (`ffnlp ngram train --out`, NumPy arrays): "
            f"`ffnlp ngram score` on it from the shell {shell['ffnlp_file']:,.0f} tokens/s "
            f"({r['shell_seconds']['ffnlp_file']:.2f} s, {shell['ffnlp_file'] / shell['kenlm']:.2f} "
            f"of KenLM's on the ARPA file); from Python, loading it {own['read_seconds']:.2f} s, "
            f"scoring {r['tokens'] / own['score_seconds']:,.0f} tokens/s, peak memory "
            f"{own['peak_mb']:,.0f} MB.",
        ]
    if "neural" in shell:
        lines += [
            "",
            f"For scale, `ffnlp lm score` of the neural LM recipe's network (untrained weights; "
            f"the speed does not depend on them) on the same text, from the shell, "
            f"{r['threads']} threads: {shell['neural']:,.0f} tokens/s "
            f"({r['shell_seconds']['neural']:.2f} s). Another model, which KenLM cannot run: "
            "no ratio.",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="folder holding ptb/")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--arpa", default=None, help="an ARPA file to use (default: build KN5)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    args = parser.parse_args(argv)
    import importlib.util

    ptb = Path(args.data_dir) / "ptb"
    if importlib.util.find_spec("kenlm") is None or not (ptb / "ptb.test.txt").exists():
        print("skipped: needs kenlm (pip install -e '.[dev]') and PTB", file=sys.stderr)
        return 0
    from importlib.metadata import version

    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(args.arpa) if args.arpa else Path(tmp) / "kn5.arpa"
        if not args.arpa:
            command = [sys.executable, "-m", "ffnlp", "ngram", "train", str(ptb / "ptb.train.txt")]
            command += ["--order", "5", "--out", str(arpa.with_suffix("")), "--arpa", str(arpa)]
            subprocess.run(command, check=True, capture_output=True)
        neural = Path(tmp) / "recipe.npz"
        neural_model(neural, ptb)
        results = run(arpa, ptb / "ptb.test.txt", args.rounds, neural)
    command = "python benchmarks/lm_score.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = report_lines(results, command.strip(), version("kenlm"))
    print("\n".join(lines))
    if not args.no_write:
        from ffnlp.io import atomic_write_text

        RESULTS.mkdir(parents=True, exist_ok=True)
        atomic_write_text(RESULTS / "lm_score.md", "\n".join(lines) + "\n")
        atomic_write_text(RESULTS / "lm_score.json", json.dumps(results, indent=2) + "\n")
        print(f"wrote {RESULTS / 'lm_score.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
