"""ffnlp graph, plot, plot-embeddings, demo and the classifier's training log, in-process."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from ffnlp import demo
from ffnlp.cli import main

try:
    import matplotlib  # noqa: F401

    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False
needs_plot = pytest.mark.skipif(
    not HAVE_MATPLOTLIB, reason="matplotlib is not installed (ffnlp[plot])"
)
HAVE_DOT = shutil.which("dot") is not None


def test_graph_prints_the_chapter_example_as_dot(capsys):
    assert main(["graph", "--out", "-"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph computation {") and "∂L/∂b = -4" in dot


def test_graph_writes_a_picture_or_says_why_it_wrote_dot(tmp_path, capsys, monkeypatch):
    assert main(["graph", "two-layer", "--out", str(tmp_path / "g.svg")]) == 0
    captured = capsys.readouterr()
    if HAVE_DOT:
        assert (tmp_path / "g.svg").stat().st_size > 1000
    monkeypatch.setattr(shutil, "which", lambda name: None)
    from ffnlp.viz import graph

    if HAVE_MATPLOTLIB:  # without Graphviz: the picture asked for, drawn by matplotlib
        assert main(["graph", "--out", str(tmp_path / "m.png")]) == 0
        captured = capsys.readouterr()
        assert captured.out == f"wrote {str(tmp_path / 'm.png')!r} (drawn by matplotlib)\n"
        assert captured.err == "" and not (tmp_path / "m.dot").exists()
        assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(graph, "have_matplotlib", lambda: False)  # nothing to draw with
    assert main(["graph", "--out", str(tmp_path / "h.png")]) == 0
    captured = capsys.readouterr()
    assert "apt-get install graphviz" in captured.err and "ffnlp[plot]" in captured.err
    assert (tmp_path / "h.dot").read_text().startswith("digraph")


def test_graph_of_a_model_that_is_not_neural_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "t.txt").write_text("a b c\n" * 5)
    assert (
        main(
            [
                "ngram",
                "train",
                str(tmp_path / "t.txt"),
                "--order",
                "2",
                "--out",
                str(tmp_path / "kn.npz"),
            ]
        )
        == 0
    )
    assert main(["graph", str(tmp_path / "kn.npz"), "--out", "-"]) == 2
    assert "pictures need a neural LM" in capsys.readouterr().err


def _sample_files(tmp_path):
    train = tmp_path / "train.txt"
    lines = demo.SAMPLE_CORPUS.read_text().splitlines()
    train.write_text("\n".join(lines[:200]) + "\n")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(lines[200:]) + "\n")
    return train, valid


def test_classify_train_logs_its_epochs_next_to_the_model(tmp_path, capsys):
    train, valid = _sample_files(tmp_path)
    model = tmp_path / "clf.npz"
    args = ["classify", "train", str(train), "--valid", str(valid), "--out", str(model)]
    assert main([*args, "--epochs", "3", "--embed-dim", "8", "--no-progress"]) == 0
    records = [
        json.loads(line) for line in (tmp_path / "clf.npz.log.jsonl").read_text().splitlines()
    ]
    assert records[0]["run"] == "classify train"
    epochs = [r for r in records if "seconds" in r]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert all(0 <= r["valid_accuracy"] <= 1 and "valid_loss" in r for r in epochs)


@needs_plot
def test_plot_and_plot_embeddings_draw_pngs(tmp_path, capsys):
    train, valid = _sample_files(tmp_path)
    lm = tmp_path / "lm.npz"
    common = ["--epochs", "2", "--embed-dim", "8", "--no-progress"]
    assert (
        main(
            [
                "lm",
                "train",
                str(train),
                "--valid",
                str(valid),
                "--out",
                str(lm),
                "--hidden",
                "16",
                "--context-size",
                "2",
                *common,
            ]
        )
        == 0
    )
    assert main(["classify", "train", str(train), "--out", str(tmp_path / "c.npz"), *common]) == 0
    assert (
        main(
            [
                "plot",
                str(lm),
                str(tmp_path / "c.npz"),
                "--out",
                str(tmp_path / "curves.png"),
                "--name",
                "lm",
                "clf",
            ]
        )
        == 0
    )
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        main(["plot-embeddings", str(lm), "--out", str(tmp_path / "e.png"), "--label", "20"]) == 0
    )
    assert (tmp_path / "e.png").stat().st_size > 10_000
    assert re.search(r"the \d+ most frequent content words labelled", capsys.readouterr().out)
    assert main(["graph", str(lm), "--out", str(tmp_path / "step.dot")]) == 0
    step = (tmp_path / "step.dot").read_text()
    assert "embedding" in step and "hidden.0" in step and "‖∂L/∂θ‖" in step


def test_plot_of_a_model_without_a_log_is_a_clear_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing.npz"), "--out", str(tmp_path / "c.png")]) == 2
    assert "no training log" in capsys.readouterr().err


@needs_plot
def test_demo_runs_offline_on_the_sample_corpus(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "2"]) == 0
    printed = capsys.readouterr()
    assert "sample corpus" in printed.out and "written for this project" in printed.out
    # Each printed figure is what the library computes from the saved models and the
    # sample corpus's test part, to the printed digit.
    from ffnlp.estimators import TextClassifier
    from ffnlp.models import KneserNeyLM
    from ffnlp.models.language_model import FeedforwardLM

    corpus = demo.sample_corpus(0)
    test_x, test_y = corpus.sentiment["test"]
    _, train_y = corpus.sentiment["train"]
    lm = FeedforwardLM.load(out / "lm.npz")
    lines = {s: [t for t in corpus.lm_text[s] if t.split()] for s in ("train", "test")}
    ngram = KneserNeyLM(3).fit(lm.encode_lines(lines["train"]), len(lm.vocab))
    majority = max(set(train_y), key=train_y.count)
    figures = {
        "majority class (baseline)": f"{sum(y == majority for y in test_y) / len(test_y):.1%}",
        "feedforward network on pooled embeddings": (
            f"{TextClassifier.load(out / 'classifier.npz').score(test_x, test_y):.1%}"
        ),
        "Kneser-Ney trigram (n-gram baseline)": (
            f"{ngram.perplexity(lm.encode_lines(lines['test'])):.1f}"
        ),
        "feedforward neural LM (Bengio et al. 2003)": (
            f"{lm.perplexity(lm.encode_lines(lines['test'])):.1f}"
        ),
    }
    rows = {line[2:46].rstrip(): line[46:].strip() for line in printed.out.splitlines()}
    assert {label: rows.get(label) for label in figures} == figures
    for name in ("curves.png", "embeddings.png", "lm.npz", "classifier.npz"):
        assert (out / name).stat().st_size > 0, name
    for name in ("graph-chapter.svg", "graph-lm-step.svg"):  # by Graphviz, else matplotlib
        assert (out / name).read_text(encoding="utf-8").lstrip().startswith("<?xml"), name
    # a rerun replaces the demo's own files
    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 0


def test_demo_never_writes_into_a_folder_of_the_users(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("precious")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "did not write" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


@needs_plot
def test_demo_uses_standard_datasets_from_data_dir(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "mr").mkdir(parents=True)
    (data / "ptb").mkdir()
    pos = "\n".join(f"a fine warm film number {i}" for i in range(40))
    neg = "\n".join(f"a dull cold film number {i}" for i in range(40))
    (data / "mr" / "rt-polarity.pos").write_bytes(pos.encode("cp1252"))
    (data / "mr" / "rt-polarity.neg").write_bytes(neg.encode("cp1252"))
    for split in ("train", "valid", "test"):
        (data / "ptb" / f"ptb.{split}.txt").write_text(
            " the market fell as the company said \n" * 30
        )
    assert (
        main(["demo", "--data-dir", str(data), "--out", str(tmp_path / "o"), "--epochs", "1"]) == 0
    )
    assert "MR for sentiment" in capsys.readouterr().out
    assert main(["demo", "--data-dir", str(tmp_path / "absent"), "--out", str(tmp_path / "p")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@needs_plot
def test_plot_of_a_log_with_several_runs_draws_each_and_says_how_to_pick(tmp_path, capsys):
    train, _ = _sample_files(tmp_path)
    model = tmp_path / "c.npz"
    argv = ["classify", "train", str(train), "--out", str(model), "--embed-dim", "4"]
    for epochs in ("1", "2", "3"):  # the same model trained three times: one log, 3 runs
        assert main([*argv, "--epochs", epochs, "--no-progress"]) == 0
    capsys.readouterr()
    picture = tmp_path / "curves.png"
    assert main(["plot", str(model), "--out", str(picture)]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == f"wrote {str(picture)!r}: 3 runs"
    assert printed.err.strip() == (
        f"note: {str(tmp_path / 'c.npz.log.jsonl')!r} holds 3 runs (the model was trained "
        "again); all are drawn, pick one with --run N (-1: the last)"
    )
    assert main(["plot", str(model), "--out", str(picture), "--run", "2"]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == f"wrote {str(picture)!r}: 1 run" and printed.err == ""
    assert main(["plot", str(model), "--out", str(picture), "--run", "5"]) == 2
    assert "--run 5: " in capsys.readouterr().err


@needs_plot
def test_plot_embeddings_labels_content_words_or_the_words_asked_for(tmp_path, capsys):
    train, _ = _sample_files(tmp_path)
    lm = tmp_path / "lm.npz"
    argv = ["lm", "train", str(train), "--out", str(lm), "--hidden", "16", "--epochs", "1"]
    assert main([*argv, "--embed-dim", "8", "--context-size", "2", "--no-progress"]) == 0
    capsys.readouterr()
    from ffnlp.viz.embeddings import STOPWORDS, draw_embeddings
    from ffnlp.viz.saved import embedding_table, load_model

    vectors, words = embedding_table(load_model(lm))
    assert words[:3] == [".", "the", "and"]  # what the old picture labelled first
    _, labelled = draw_embeddings(vectors, words, tmp_path / "e.png", label=30)
    assert 10 <= len(labelled) <= 30
    assert not any(w in STOPWORDS or not any(c.isalpha() for c in w) for w in labelled)
    out = tmp_path / "chosen.png"
    assert main(["plot-embeddings", str(lm), "--out", str(out), "--words", "film,story"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"wrote {str(out)!r}: {len(words):,} words, the 2 chosen words labelled"
    )
    assert main(["plot-embeddings", str(lm), "--out", str(out), "--words", "film,qzx"]) == 2
    assert capsys.readouterr().err.strip() == (
        "ffnlp plot-embeddings: error: not in the model's vocabulary: 'qzx'"
    )
