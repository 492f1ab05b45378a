"""benchmarks/lm_score.py: the agreement check compares every token's log10 probability
with KenLM's, the kenlm side prints what ``ngram score`` prints, and the report's ratios
are ffnlp's speed over KenLM's. A small model, no timing."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from ffnlp.models import KneserNeyLM
from ffnlp.text import Tokenizer, Vocab

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import lm_score  # noqa: E402

TRAIN = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog", "the end"]
TEST = ["the cat sat on the log", "a dog saw the mat", "zebra sat"]


@pytest.fixture
def files(tmp_path):
    tokenizer = Tokenizer("whitespace")
    vocab = Vocab.build([tokenizer(s) for s in TRAIN])
    kn = KneserNeyLM(3, vocab=vocab, tokenizer=tokenizer)
    kn.fit([vocab.encode(tokenizer(s)) for s in TRAIN], len(vocab))
    kn.to_arpa(tmp_path / "kn.arpa")
    (tmp_path / "test.txt").write_text("\n".join(TEST) + "\n")
    return tmp_path / "kn.arpa", tmp_path / "test.txt"


def test_tokens_are_the_words_and_one_end_of_sentence_a_line():
    assert lm_score.tokens_of(TEST) == 6 + 5 + 2 + 3


def test_ffnlp_and_kenlm_agree_on_every_token(files):
    pytest.importorskip("kenlm")
    arpa, test = files
    check = lm_score.agreement(str(arpa), str(test))
    assert check["tokens"] == lm_score.tokens_of(TEST)
    assert check["max_token_difference"] < 1e-5 and check["max_sentence_difference"] < 1e-4
    assert check["ffnlp_perplexity"] == pytest.approx(check["kenlm_perplexity"], rel=1e-5)
    assert check["ffnlp_perplexity"] > 1 and check["kenlm_order"] == 3


def test_the_kenlm_script_prints_what_ngram_score_prints(files):
    pytest.importorskip("kenlm")
    arpa, test = files
    theirs = subprocess.run(
        [sys.executable, "-c", lm_score.KENLM_SCORE, str(arpa), str(test)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ours = subprocess.run(
        [sys.executable, "-m", "ffnlp", "ngram", "score", str(arpa), str(test)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("\t") for line in theirs.splitlines()]
    assert [r[2] for r in rows] == TEST
    for a, b in zip(ours.splitlines(), theirs.splitlines(), strict=True):
        x, y = a.split("\t"), b.split("\t")
        assert float(x[0]) == pytest.approx(float(y[0]), abs=2e-4) and x[2] == y[2]
    # the perplexity column: exp(-ln p / tokens)
    ln = float(rows[0][0])
    assert float(rows[0][1]) == pytest.approx(math.exp(-ln / 7), abs=0.01)


def test_the_report_gives_ffnlp_over_kenlm():
    r = {
        "started": "2026-12-01 14:00",
        "load_average": [1.0, 1.0, 1.0],
        "rounds": 5,
        "sentences": 3761,
        "tokens": 86191,
        "arpa_mb": 120.0,
        "agreement": {
            "max_token_difference": 5e-7,
            "max_sentence_difference": 3e-6,
            "ffnlp_perplexity": 141.19,
            "kenlm_perplexity": 141.19,
            "ngrams": [10000, 400000],
        },
        "shell_seconds": {"ffnlp": 4.0, "kenlm": 2.0},
        "shell_tokens_per_second": {"ffnlp": 86191 / 4.0, "kenlm": 86191 / 2.0},
        "python": {
            "ffnlp": {"read_seconds": 3.0, "score_seconds": 0.5, "peak_mb": 900.0},
            "kenlm": {"read_seconds": 1.5, "score_seconds": 0.1, "peak_mb": 300.0},
        },
        "score_tokens_per_second": {"ffnlp": 86191 / 0.5, "kenlm": 86191 / 0.1},
    }
    text = "\n".join(lm_score.report_lines(r, "python benchmarks/lm_score.py", "0.2.0"))
    assert "| from the shell, whole process: tokens/s | 21,548 | 43,096 | **0.50** |" in text
    assert "| from Python, model loaded: scoring tokens/s | 172,382 | 861,910 | **0.20** |" in text
    assert "| reading the ARPA file: seconds | 3.00 | 1.50 | 0.50 |" in text
    assert "n-grams of each order: 10,000, 400,000" in text
    assert "log10 probability is 5.0e-07" in text


def test_the_docs_figures_come_from_the_results_file():
    import json

    r = json.loads((ROOT / "benchmarks" / "results" / "lm_score.json").read_text())
    text = " ".join((ROOT / "docs" / "performance.md").read_text(encoding="utf-8").split())
    shell, python = r["shell_tokens_per_second"], r["python"]
    assert (
        f"runs at {shell['ffnlp']:,.0f} tokens/s against KenLM's {shell['kenlm']:,.0f} "
        f"(**{shell['ffnlp'] / shell['kenlm']:.2f}** of its throughput)" in text
    )
    assert (
        f"{python['ffnlp']['read_seconds']:.2f} s against KenLM's {python['kenlm']['read_seconds']:.2f} s"
        in text
    )
    assert (
        f"runs at {shell['ffnlp_file']:,.0f} tokens/s, {shell['ffnlp_file'] / shell['kenlm']:.2f} of KenLM's"
        in text
    )
    assert r["agreement"]["max_token_difference"] < 1e-4
