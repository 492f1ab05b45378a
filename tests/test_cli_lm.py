"""The language-model commands, run in-process on a tiny corpus the tests write."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import re

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.models import KneserNeyLM, interpolate_weight
from ffnlp.models.language_model import FeedforwardLM
from ffnlp.text import Vocab

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the dog ate a bone",
    "a bird sat on the fence",
    "the bird ate a worm",
]


@pytest.fixture
def corpus(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(CORPUS[:3]) + "\n", encoding="utf-8")
    return tmp_path, train, valid


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _token_by_token(lm, lines, stream=False):
    """Each predicted token's log p(w | context), asked of ``next_distribution`` one token
    at a time: the reference the commands' batched numbers must equal. ``stream``: the lines
    are one stream of words, each line ended by </s>, with <s> before the start (the
    neural LM's "stream" layout); otherwise each line is scored on its own from the start
    context."""
    log_probs = []
    context = [Vocab.bos_id] * len(lm.start_context())
    for sentence in lm.encode_lines(lines):
        if not stream:
            context = list(lm.start_context())
        for word in [*sentence.tolist(), Vocab.eos_id]:
            log_probs.append(math.log(lm.next_distribution(context)[word]))
            context.append(word)
    return np.array(log_probs)


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


LM_TRAIN = [
    "--context-size",
    "2",
    "--embed-dim",
    "8",
    "--hidden",
    "16",
    "--epochs",
    "3",
    "--batch-size",
    "8",
    "--no-progress",
]


def test_lm_train_eval_score_predict_generate(corpus, capsys, monkeypatch):
    tmp, train, valid = corpus
    model = tmp / "lm.npz"
    code, out, err = _run(
        ["lm", "train", train, "--valid", valid, "--out", model, *LM_TRAIN], capsys
    )
    assert code == 0, err
    assert model.exists() and not (tmp / ".lm.npz.training").exists()
    log = [json.loads(line) for line in (tmp / "lm.npz.log.jsonl").read_text().splitlines()]
    epochs = [r for r in log if "valid_loss" in r]
    assert log[0]["run"] == "lm train" and [r["epoch"] for r in epochs] == [1, 2, 3]
    lm = FeedforwardLM.load(model)
    sentences = lm.encode_lines(_lines(valid))
    best = min(epochs, key=lambda r: r["valid_loss"])
    # The model kept is the best epoch's, and the summary gives its validation perplexity.
    assert (
        f"best validation perplexity {lm.perplexity(sentences):.2f} (epoch {best['epoch']})" in out
    )
    assert lm.perplexity(sentences) == pytest.approx(math.exp(best["valid_loss"]), rel=1e-6)

    # eval prints what the library computes for the same model and file, and that is the
    # perplexity of the tokens' probabilities asked for one at a time.
    perplexity = lm.perplexity(sentences)
    assert perplexity == pytest.approx(
        math.exp(-_token_by_token(lm, _lines(valid), stream=True).mean()), rel=1e-5
    )
    code, out, _ = _run(["lm", "eval", model, valid, "--json"], capsys)
    assert code == 0 and json.loads(out) == {
        "tokens": 6 + 6 + 5 + 3,
        "oov": 0,
        "perplexity": perplexity,
    }
    code, out, _ = _run(["lm", "eval", model, valid], capsys)
    assert code == 0 and out == (
        f"perplexity {perplexity:.2f} over 20 tokens; 0 tokens out of the vocabulary "
        "(scored as <unk>)\n"
    )

    code, out, _ = _run(["lm", "score", model, valid], capsys)
    rows = [row.split("\t") for row in out.splitlines()]
    assert code == 0 and [row[2] for row in rows] == _lines(valid)
    tokens = [len(s) + 1 for s in lm.encode_lines(_lines(valid))]
    each = np.add.reduceat(_token_by_token(lm, _lines(valid)), np.cumsum([0, *tokens[:-1]]))
    for row, log_prob, n, expected in zip(rows, lm.sentence_log_probs(_lines(valid)), tokens, each):
        assert row[:2] == [f"{log_prob:.4f}", f"{math.exp(-log_prob / n):.2f}"]
        assert log_prob == pytest.approx(expected, abs=1e-4)

    code, out, _ = _run(["lm", "predict", model, "the", "cat", "-k", "3"], capsys)
    top = lm.predict_next("the cat", k=3)
    assert code == 0 and out == "the cat\t" + "  ".join(f"{w} {p:.4f}" for w, p in top) + "\n"
    distribution = lm.next_distribution(
        lm.start_context() + lm.vocab.encode(["the", "cat"]).tolist()
    )
    assert [p for _, p in top] == sorted(distribution, reverse=True)[:3]
    monkeypatch.setattr("sys.stdin", io.StringIO("the dog\na\n"))
    code, out, _ = _run(["lm", "predict", model, "-k", "2"], capsys)
    assert code == 0 and [row.split("\t")[0] for row in out.splitlines()] == ["the dog", "a"]

    code, first, _ = _run(
        ["lm", "generate", model, "-n", "3", "--seed", "4", "--top-k", "5"], capsys
    )
    code2, second, _ = _run(
        ["lm", "generate", model, "-n", "3", "--seed", "4", "--top-k", "5"], capsys
    )
    assert code == code2 == 0 and first == second and len(first.splitlines()) == 3


def test_ngram_and_the_mixture(corpus, capsys):
    tmp, train, valid = corpus
    code, out, err = _run(
        [
            "ngram",
            "train",
            train,
            "--order",
            "3",
            "--out",
            tmp / "kn.npz",
            "--arpa",
            tmp / "kn.arpa",
        ],
        capsys,
    )
    assert code == 0, err
    assert "3-grams" in out and (tmp / "kn.arpa").read_text().startswith("\n\\data\\")
    kn = KneserNeyLM.load(tmp / "kn.npz")
    kn_perplexity = kn.perplexity(kn.encode_lines(_lines(valid)))
    assert kn_perplexity == pytest.approx(
        math.exp(-_token_by_token(kn, _lines(valid)).mean()), rel=1e-12
    )
    code, out, _ = _run(["ngram", "eval", tmp / "kn.npz", valid, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"tokens": 20, "oov": 0, "perplexity": kn_perplexity}
    code, out, _ = _run(["ngram", "generate", tmp / "kn.npz", "-n", "2"], capsys)
    assert code == 0 and len(out.splitlines()) == 2

    _run(["lm", "train", train, "--valid", valid, "--out", tmp / "lm.npz", *LM_TRAIN], capsys)
    code, out, err = _run(
        [
            "lm",
            "eval",
            tmp / "lm.npz",
            valid,
            "--ngram",
            tmp / "kn.npz",
            "--tune-on",
            valid,
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    result = json.loads(out)
    lm = FeedforwardLM.load(tmp / "lm.npz")
    sentences = lm.encode_lines(_lines(valid))
    neural, ngram = lm.log_probs(sentences), kn.log_probs(sentences)
    weight = interpolate_weight(neural, ngram)
    mixed = np.log(weight * np.exp(neural) + (1 - weight) * np.exp(ngram))
    assert result == {
        "tokens": 20,
        "oov": 0,
        "perplexity": lm.perplexity(sentences),
        "ngram_perplexity": kn_perplexity,
        "weight": weight,
        "interpolated_perplexity": pytest.approx(math.exp(-mixed.mean()), rel=1e-12),
    }
    assert 0 < weight < 1  # the two models differ, so the mixture takes some of each
    # tuned on the text it is measured on, the mixture is no worse than either model
    assert (
        result["interpolated_perplexity"]
        <= min(result["perplexity"], result["ngram_perplexity"]) + 1e-9
    )
    code, out, _ = _run(
        ["lm", "eval", tmp / "lm.npz", valid, "--ngram", tmp / "kn.npz", "--weight", "0.25"],
        capsys,
    )
    quarter = math.exp(-np.log(0.25 * np.exp(neural) + 0.75 * np.exp(ngram)).mean())
    assert code == 0 and out.splitlines()[1:] == [
        f"n-gram perplexity {kn_perplexity:.2f}",
        f"interpolated perplexity {quarter:.2f} (weight of the neural LM 0.250)",
    ]
    code, _, err = _run(["lm", "eval", tmp / "lm.npz", valid, "--ngram", tmp / "kn.npz"], capsys)
    assert code == 2 and "--weight" in err


def _assert_clean_failure(code, err, message):
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (lambda tmp: tmp / "missing.txt", [], "does not exist"),
        (lambda tmp: tmp, [], "is a directory, not a file"),
        (lambda tmp: _write(tmp / "empty.txt", b""), [], "is empty"),
        (
            lambda tmp: _write(tmp / "latin.txt", "un caf\xe9 noir\n".encode("cp1252")),
            [],
            "is not valid UTF-8",
        ),
        (
            lambda tmp: _write(tmp / "short.txt", b"a b\n"),
            ["--context-size", "5"],
            "too few for a context of 5",
        ),
        (
            lambda tmp: _write(tmp / "rare.txt", b"a b c\n"),
            ["--min-count", "2"],
            "the vocabulary is empty",
        ),
        (
            lambda tmp: _write(tmp / "ok.txt", b"a b c d\n"),
            ["--epochs", "0"],
            "epochs must be a positive integer; got 0",
        ),
        (
            lambda tmp: _write(tmp / "ok.txt", b"a b c d\n"),
            ["--dropout", "1.5"],
            "dropout must be a number in [0, 1); got 1.5",
        ),
        (
            lambda tmp: _write(tmp / "ok.txt", b"a b c d\n"),
            ["--lr", "-1"],
            "lr must be a finite number > 0; got -1.0",
        ),
        (
            lambda tmp: _write(tmp / "ok.txt", b"a b c d\n"),
            ["--hidden", "0"],
            "--hidden[0] must be a positive integer; got 0",
        ),
    ],
)
def test_lm_train_bad_input(tmp_path, capsys, make_input, extra, message):
    out = tmp_path / "model.npz"
    out.write_bytes(b"precious")
    code, _, err = _run(
        ["lm", "train", make_input(tmp_path), "--out", out, "--no-progress", *extra], capsys
    )
    _assert_clean_failure(code, err, message)
    assert out.read_bytes() == b"precious"  # nothing the user had is overwritten


def _write(path, data):
    path.write_bytes(data)
    return path


def test_output_in_a_missing_directory_fails_before_any_work(corpus, capsys):
    tmp, train, _ = corpus
    code, _, err = _run(["ngram", "train", train, "--out", tmp / "no" / "kn.npz"], capsys)
    _assert_clean_failure(code, err, "the directory")


def test_model_files_that_are_not_models(corpus, capsys):
    tmp, train, valid = corpus
    fake = _write(tmp / "fake.npz", b"not a model at all")
    code, _, err = _run(["lm", "eval", fake, valid], capsys)
    _assert_clean_failure(code, err, "looks like a text file, not an ffnlp model file")
    _run(["ngram", "train", train, "--order", "2", "--out", tmp / "kn.npz"], capsys)
    code, _, err = _run(["lm", "generate", tmp / "kn.npz"], capsys)
    _assert_clean_failure(code, err, "holds a 'kneser_ney_lm' model, not a 'feedforward_lm' model")


def test_failed_training_keeps_the_old_model_and_reports_the_partial_one(
    corpus, capsys, monkeypatch
):
    tmp, train, valid = corpus
    out = tmp / "lm.npz"
    out.write_bytes(b"precious")
    import ffnlp.train

    calls = {"n": 0}
    original = ffnlp.train.evaluate

    def evaluate_then_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("No space left on device")
        return original(*args, **kwargs)

    monkeypatch.setattr(ffnlp.train, "evaluate", evaluate_then_fail)
    code, _, err = _run(["lm", "train", train, "--valid", valid, "--out", out, *LM_TRAIN], capsys)
    assert code == 2 and "No space left on device" in err and "best model so far" in err
    assert out.read_bytes() == b"precious"
    assert (tmp / ".lm.npz.training").exists()
    assert os.stat(tmp / ".lm.npz.training").st_size > 0


def test_training_shows_progress_with_loss_throughput_and_eta(corpus, capsys, monkeypatch):
    tmp, train, valid = corpus
    args = [
        "lm",
        "train",
        train,
        "--valid",
        valid,
        "--out",
        tmp / "lm.npz",
        *LM_TRAIN[:-1],
        "--epochs",
        "1",
    ]
    # Not on a terminal (a log file, CI): plain lines with loss, throughput and ETA.
    code, _, err = _run([*args, "--batch-size", "1"], capsys)
    assert code == 0
    assert "step 100/" in err and "tokens/s eta" in err and "valid_ppl" in err
    # On a terminal: a tqdm bar with the same facts.
    pytest.importorskip("tqdm", reason="tqdm is not installed; pip install ffnlp[progress]")
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 0
    assert "epoch 1/1" in err and "step/s" in err and "tokens/s" in err and "loss" in err


def test_pretrained_frozen_embeddings_from_a_glove_file(corpus, capsys):
    tmp, train, valid = corpus
    glove = tmp / "glove.txt"
    glove.write_text(
        "the 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8\ncat 1 1 1 1 1 1 1 1\nunrelated 9 9 9 9 9 9 9 9\n"
    )
    args = [
        "lm",
        "train",
        train,
        "--valid",
        valid,
        "--out",
        tmp / "lm.npz",
        *LM_TRAIN,
        "--pretrained",
        glove,
        "--freeze-embeddings",
    ]
    code, _, err = _run(args, capsys)
    assert code == 0, err
    assert "pretrained vectors: 2 of" in err
    from ffnlp.models.language_model import FeedforwardLM

    lm = FeedforwardLM.load(tmp / "lm.npz")
    np.testing.assert_allclose(lm.embedding.weight.data[lm.vocab.stoi["cat"]], np.ones(8))
    code, _, err = _run([*args[:-3], "--pretrained", glove, "--embed-dim", "4"], capsys)
    assert code == 2 and "the pretrained vectors have 8 dimensions but --embed-dim is 4" in err


@pytest.fixture
def restore_threads():
    import ffnlp

    before = ffnlp.get_num_threads()
    yield
    ffnlp.set_num_threads(before)  # --threads would otherwise hold for the rest of the tests


def test_lm_train_with_the_adaptive_softmax_and_threads(corpus, capsys, restore_threads):
    tmp, train, valid = corpus
    model = tmp / "adaptive.npz"
    argv = ["lm", "train", train, "--valid", valid, "--out", model, *LM_TRAIN]
    code, out, err = _run(
        [*argv, "--output", "adaptive", "--cutoffs", "6", "--threads", "1"], capsys
    )
    assert code == 0, err
    lm = FeedforwardLM.load(model)
    assert lm.config.output == "adaptive"
    perplexity = lm.perplexity(lm.encode_lines(_lines(valid)))
    assert perplexity == pytest.approx(
        math.exp(-_token_by_token(lm, _lines(valid), stream=True).mean()), rel=1e-5
    )
    code, out, _ = _run(["lm", "eval", model, valid, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"tokens": 20, "oov": 0, "perplexity": perplexity}
    code, _, err = _run([*argv, "--threads", "0"], capsys)
    assert code != 0 and "threads must be a positive integer; got 0" in err


def test_lm_train_says_the_output_layer_it_chose_and_the_file_holds_it(corpus, capsys):
    """The default, --output auto, is the full softmax on a small vocabulary; asked for the
    tied adaptive softmax without cutoffs, the cutoffs come from the training counts."""
    tmp, train, valid = corpus
    model = tmp / "tied.npz"
    argv = ["lm", "train", train, "--valid", valid, "--out", model, *LM_TRAIN]
    code, _, err = _run(argv, capsys)
    assert code == 0 and "output: full softmax (chosen for 17 words)\n" in err
    assert FeedforwardLM.load(model).config.output == "full"
    tied = ["--output", "adaptive", "--tie-embeddings", "--hidden", "8"]
    code, _, err = _run([*argv, *tied], capsys)
    # 17 ids: <unk>, <s> (never predicted), </s> (18 of the 117 tokens to predict), then
    # the words by frequency (24, 12, 9, 9, 9, 6, 6, 6, then six of 3): ids 0-10 cover
    # 99/117 = 85% (0-9: 79%), ids 0-15 114/117 = 97% (0-14: 94.9%).
    assert code == 0, err
    assert (
        "output: adaptive softmax tied to adaptive input, cutoffs 11 16 (chosen for 17 words)\n"
        in err
    )
    lm = FeedforwardLM.load(model)
    assert (lm.config.output, lm.config.cutoffs, lm.config.tie_embeddings) == (
        "adaptive",
        (11, 16),
        True,
    )
    assert "embedding.tail0.weight" in dict(lm.named_parameters())
    perplexity = lm.perplexity(lm.encode_lines(_lines(valid)))
    assert perplexity == pytest.approx(
        math.exp(-_token_by_token(lm, _lines(valid), stream=True).mean()), rel=1e-5
    )


def test_lm_train_with_a_linear_schedule(corpus, capsys):
    """--lr-schedule linear: the rate falls to 0 over all the steps (logged per epoch)."""
    tmp, train, valid = corpus
    model = tmp / "linear.npz"
    argv = ["lm", "train", train, "--valid", valid, "--out", model, *LM_TRAIN, "--lr", "0.01"]
    code, _, err = _run([*argv, "--lr-schedule", "linear"], capsys)
    assert code == 0, err
    log = [json.loads(line) for line in (tmp / "linear.npz.log.jsonl").read_text().splitlines()]
    rates = [r["lr"] for r in log if "valid_loss" in r]
    assert len(rates) == 3 and rates[0] < 0.01 and rates[0] > rates[1] > rates[2] >= 0
    assert main([str(a) for a in argv] + ["--lr-schedule", "cosine"]) == 2
    assert "invalid choice: 'cosine'" in capsys.readouterr().err


def _epoch_rates(log_path):
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    epochs = [r for r in records if "seconds" in r]  # one per epoch
    return [r["lr"] for r in epochs], [r.get("best") for r in epochs]


def test_lm_train_lr_schedules_constant_plateau_linear(corpus, capsys):
    """Each --lr-schedule as logged per epoch: constant never moves, plateau halves after
    each epoch that does not beat the best validation loss, linear falls towards 0."""
    tmp, train, _ = corpus
    valid = tmp / "other.txt"  # unlike the training text, so validation soon gets worse
    valid.write_text("the worm ate a cat\nthe dog sat on a bird\n", encoding="utf-8")
    rates = {}
    for schedule in ("constant", "plateau", "linear", None):
        out = tmp / f"{schedule}.npz"
        flags = ["--epochs", "6", "--lr", "0.05", "--early-stopping", "0"]
        flags += ["--lr-schedule", schedule] if schedule else []
        argv = ["lm", "train", train, "--valid", valid, "--out", out, *LM_TRAIN, *flags]
        code, _, err = _run(argv, capsys)
        assert code == 0, err
        rates[schedule] = _epoch_rates(tmp / f"{schedule}.npz.log.jsonl")
    lrs, _ = rates["constant"]
    assert lrs == [0.05] * 6
    lrs, best = rates["plateau"]
    assert lrs[0] == 0.05 and False in best[:-1]  # validation got worse at least once
    for e in range(5):
        assert lrs[e + 1] == (lrs[e] if best[e] else lrs[e] * 0.5)
    assert rates[None] == rates["plateau"]  # with --valid, unset means plateau, as before
    lrs, _ = rates["linear"]
    assert all(a > b for a, b in itertools.pairwise(lrs)) and 0 < lrs[-1] < 0.05 / 6


def test_lm_train_plateau_needs_valid_and_unset_means_constant_without(corpus, capsys):
    tmp, train, _ = corpus
    argv = ["lm", "train", train, "--out", tmp / "m.npz", *LM_TRAIN, "--lr", "0.05"]
    code, _, err = _run([*argv, "--lr-schedule", "plateau"], capsys)
    assert code == 2 and not (tmp / "m.npz").exists()
    assert err.strip().endswith(
        "--lr-schedule plateau lowers the learning rate when the validation loss stops "
        "improving, so it needs validation data: give --valid FILE, or use constant or linear"
    )
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert _epoch_rates(tmp / "m.npz.log.jsonl")[0] == [0.05] * 3


def test_eval_counts_the_words_out_of_the_vocabulary(corpus, capsys):
    tmp, train, _ = corpus
    test = tmp / "test.txt"
    test.write_text("the cat sat on the zebra\nthe dog ate a quokka and a yak\n")
    _run(["lm", "train", train, "--out", tmp / "lm.npz", *LM_TRAIN], capsys)
    _run(["ngram", "train", train, "--order", "2", "--out", tmp / "kn.npz"], capsys)
    for command, model in (("lm", "lm.npz"), ("ngram", "kn.npz")):
        code, out, err = _run([command, "eval", tmp / model, test, "--json"], capsys)
        assert code == 0, err
        assert json.loads(out)["oov"] == 4  # zebra, quokka, and, yak
        assert json.loads(out)["tokens"] == 6 + 8 + 2
        code, out, _ = _run([command, "eval", tmp / model, test], capsys)
        assert out.endswith(" over 16 tokens; 4 tokens out of the vocabulary (scored as <unk>)\n")


@pytest.mark.parametrize("flag", [["--tune-on", "VALID"], ["--weight", "0.5"]])
def test_mixture_settings_without_an_ngram_model_are_an_error(corpus, capsys, flag):
    tmp, train, valid = corpus
    _run(["lm", "train", train, "--out", tmp / "lm.npz", *LM_TRAIN], capsys)
    flag = [str(valid) if f == "VALID" else f for f in flag]
    code, out, err = _run(["lm", "eval", tmp / "lm.npz", valid, *flag], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"ffnlp lm eval: error: {flag[0]} sets the mixture with an n-gram model: give the "
        "n-gram model with --ngram MODEL (ffnlp ngram train), or leave it out\n"
    )


def test_the_summary_says_where_max_steps_stopped_training(corpus, capsys):
    tmp, train, _ = corpus
    # 3 epochs of 15 steps: 18 lines of 99 words and 18 </s>, in batches of 8
    argv = ["lm", "train", train, "--out", tmp / "lm.npz", *LM_TRAIN]
    code, out, _ = _run([*argv, "--max-steps", "5"], capsys)
    assert code == 0 and out.startswith(
        f"wrote {str(tmp / 'lm.npz')!r} after 5 steps (stopped by --max-steps 5, within "
        "epoch 1 of 3) in "
    )
    code, out, _ = _run([*argv, "--max-steps", "30"], capsys)
    assert "after 30 steps (stopped by --max-steps 30, at the end of epoch 2 of 3)" in out
    code, out, _ = _run([*argv[:-3], "--epochs", "1", "--no-progress"], capsys)
    assert code == 0 and " after 1 epoch in " in out


def test_messages_use_plurals_and_units(corpus, capsys):
    tmp, train, _ = corpus
    argv = ["lm", "train", train, "--out", tmp / "lm.npz", *LM_TRAIN[:-3], "--epochs", "1"]
    code, out, err = _run(argv, capsys)  # with progress: the epoch line on stderr
    epoch_line = next(line for line in err.splitlines() if line.startswith("epoch 1 "))
    assert re.search(r"  [\d,]+ tokens/s  \d+s$", epoch_line), epoch_line
    assert "18 sentences, 117 training tokens, vocabulary" in err
    labelled = tmp / "one.ft"
    labelled.write_text("__label__a good\n__label__b bad\n")
    code, out, err = _run(
        ["classify", "train", labelled, "--out", tmp / "c.npz", "--epochs", "1"], capsys
    )
    epoch_line = next(line for line in err.splitlines() if line.startswith("epoch 1 "))
    assert re.search(r"  [\d,]+ texts/s  \d+s$", epoch_line), epoch_line
    assert out.startswith(f"wrote {str(tmp / 'c.npz')!r}: 2 texts, 2 classes, trained in")
    one = tmp / "one.tsv"
    one.write_text("a\tgood\nb\n")
    code, _, err = _run(["classify", "test", tmp / "c.npz", one, "--format", "tsv"], capsys)
    assert code == 2 and "line 2 has 1 column; the label is column 0" in err


@pytest.mark.parametrize("layout", ["stream", "sentence"])
def test_lm_train_with_fofe_and_every_use_command(corpus, capsys, layout):
    tmp, train, valid = corpus
    model = tmp / "fofe.npz"
    argv = ["lm", "train", train, "--valid", valid, "--out", model, *LM_TRAIN]
    code, _, err = _run(
        [*argv, "--fofe", "0.7", "0.3", "--fofe-window", "6", "--layout", layout], capsys
    )
    assert code == 0, err
    lm = FeedforwardLM.load(model)
    assert (lm.config.fofe, lm.config.fofe_window, lm.config.window_size) == ((0.7, 0.3), 6, 6)
    assert FeedforwardLM.parameter_shapes(lm.config)["hidden.0.weight"] == (16, (2 + 2) * 8)
    # eval and score: what the model gives asked one token at a time, 6 previous ids each
    code, out, _ = _run(["lm", "eval", model, valid, "--json"], capsys)
    expected = _token_by_token(lm, _lines(valid), stream=layout == "stream")
    assert code == 0 and json.loads(out)["perplexity"] == pytest.approx(
        math.exp(-expected.mean()), rel=1e-5
    )
    code, out, _ = _run(["lm", "score", model, valid], capsys)
    each = np.add.reduceat(_token_by_token(lm, _lines(valid)), [0, 7, 14])
    scores = [float(row.split("\t")[0]) for row in out.splitlines()]
    assert code == 0 and scores == pytest.approx(each, abs=1e-4)
    code, out, _ = _run(["lm", "predict", model, "the", "cat", "-k", "2"], capsys)
    top = lm.predict_next("the cat", k=2)
    assert code == 0 and out == "the cat\t" + "  ".join(f"{w} {p:.4f}" for w, p in top) + "\n"
    code, out, _ = _run(["lm", "generate", model, "-n", "2", "--seed", "1"], capsys)
    assert code == 0 and out.splitlines() == lm.generate(num_sentences=2, seed=1)


def test_lm_train_fofe_bad_factor(corpus, capsys):
    tmp, train, _ = corpus
    code, _, err = _run(
        ["lm", "train", train, "--out", tmp / "m.npz", *LM_TRAIN, "--fofe", "1.5"], capsys
    )
    assert code == 2 and err.strip().endswith("--fofe[0] must be a number in (0, 1); got 1.5")
    assert "Traceback" not in err


BOOK = """It was the best of times, it was the worst of times. It was the age of
wisdom, it was the age of foolishness. The king sat on the throne, and the
queen sat beside him.

The queen said: "It was the season of light." The king said nothing, and
the night was cold. It was the age of wisdom.
"""


def test_raw_hard_wrapped_prose_trains_with_no_text_flag(tmp_path, capsys):
    """A user's own prose: the tokenizer, the sentences and the cutoff are guessed and said
    in one line, kept in the model, and used again to read the text eval is given."""
    book = tmp_path / "book.txt"
    book.write_text((BOOK + "\n") * 4 + "A lonely zebra.\n")
    model = tmp_path / "m.npz"
    code, out, err = _run(["lm", "train", book, "--out", model, *LM_TRAIN], capsys)
    assert code == 0, err
    assert (
        f"{str(book)!r} read as hard-wrapped prose: --tokenizer regex (punctuation apart from "
        "words), --sentences prose (rebuilt from paragraphs), --min-count 2 (words seen once "
        "become <unk>; 296 training tokens); guessed (--tokenizer, --sentences, --min-count "
        "say otherwise)"
    ) in err.splitlines()
    assert "25 sentences, 321 training tokens" in err  # 6 a copy of BOOK, and the zebra's
    lm = FeedforwardLM.load(model)
    assert (lm.tokenizer.mode, lm.tokenizer.sentences) == ("regex", "prose")
    assert "zebra" not in lm.vocab and "queen" in lm.vocab and "," in lm.vocab
    test = tmp_path / "test.txt"
    test.write_text(BOOK)
    code, out, _ = _run(["lm", "eval", model, test, "--json"], capsys)
    # 6 sentences of 73 tokens, each with its </s>: as training read them, not 5 lines
    assert code == 0 and json.loads(out)["tokens"] == 73 + 6 and json.loads(out)["oov"] == 0
    code, out, _ = _run(["lm", "score", model, test], capsys)
    assert out.splitlines()[3].endswith('\tThe queen said: "It was the season of light."')
    code, _, err = _run(
        [
            "lm",
            "train",
            book,
            "--out",
            model,
            *LM_TRAIN,
            "--tokenizer",
            "regex",
            "--min-count",
            "1",
        ],
        capsys,
    )
    assert "guessed (--sentences say otherwise)" in err and "--min-count 1" not in err


def test_valid_fraction_holds_out_blocks_and_the_perplexity_counts_oov(tmp_path, capsys):
    book = tmp_path / "book.txt"
    book.write_text((BOOK + "\n") * 6 + "A lonely zebra.\n")
    model = tmp_path / "m.npz"
    argv = ["lm", "train", book, "--out", model, *LM_TRAIN, "--valid-fraction", "0.2"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert (
        "--valid-fraction 0.2: held out 7 sentences of 37 (89 tokens) as validation, in 7 "
        "contiguous blocks of 1 sentence placed by --seed 0; training uses the rest"
    ) in err.splitlines()
    assert "30 sentences, 383 training tokens" in err  # 37 - 7 sentences, 353 tokens and </s>
    assert "validation: 7 sentences, 89 tokens, 0 of them out of the vocabulary" in err
    assert out.rstrip().endswith(
        "; 0 of the 89 validation tokens out of the vocabulary (scored as <unk>)"
    )
    again = _run([*argv[:4], tmp_path / "again.npz", *argv[5:], "--seed", "1"], capsys)[2]
    assert again.count("held out") == 1 and "--seed 1" in again  # another seed, other blocks


def test_a_language_model_recipe_gives_way_to_the_flags_given(corpus, capsys):
    tmp, train, valid = corpus
    model = tmp / "lm.npz"
    argv = ["lm", "train", train, "--valid", valid, "--out", model, "--recipe", "ptb"]
    small = ["--embed-dim", "8", "--hidden", "16", "8", "--epochs", "1", "--no-progress"]
    code, _, err = _run([*argv, *small], capsys)
    assert code == 0, err
    assert err.startswith("recipe 'ptb': a Bengio-style feedforward LM")
    config = FeedforwardLM.load(model).config
    assert (config.context_size, config.activation, config.dropout) == (5, "relu", 0.4)
    assert config.tie_embeddings and (config.embed_dim, config.hidden_dims) == (8, (16, 8))
    log = json.loads((tmp / "lm.npz.log.jsonl").read_text().splitlines()[0])
    assert (log["training"]["epochs"], log["training"]["lr_decay"]) == (1, 0.5)
    assert log["training"]["early_stopping"] == 2 and log["training"]["optimizer"] == "adam"


def test_training_says_how_many_validation_tokens_are_out_of_the_vocabulary(corpus, capsys):
    tmp, train, _ = corpus
    valid = tmp / "odd.txt"
    valid.write_text("the cat sat on the zebra\nthe yak ate a fish\n")
    argv = ["lm", "train", train, "--valid", valid, "--out", tmp / "lm.npz", *LM_TRAIN]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert (
        "validation: 2 sentences, 11 tokens, 2 of them out of the vocabulary (scored as <unk>)"
        in err
    )
    assert out.rstrip().endswith(
        "; 2 of the 11 validation tokens out of the vocabulary (scored as <unk>)"
    )
