"""The table of bad inputs in docs/errors.md, row by row: each case gives its message and
exit code, one clear error and no traceback, and leaves every file the user had as it was.
The table and these cases are checked against each other."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ffnlp import io
from ffnlp.cli import main
from ffnlp.estimators import FeedforwardClassifier
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.vectors import WordVectors

ROOT = Path(__file__).resolve().parents[1]
CORPUS = "the cat sat on the mat\nthe dog sat on the log\na cat ate the fish\n" * 3
LABELLED = "__label__pos a great film\n__label__neg a dull film\n" * 4
LM_FAST = ["--context-size", "2", "--embed-dim", "4", "--hidden", "8", "--epochs", "1"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A small LM and classifier model file, made once."""
    root = tmp_path_factory.mktemp("models")
    (root / "corpus.txt").write_text(CORPUS)
    (root / "labelled.ft").write_text(LABELLED)
    assert (
        main(["lm", "train", str(root / "corpus.txt"), "--out", str(root / "lm.npz"), *LM_FAST])
        == 0
    )
    assert (
        main(
            [
                *("classify", "train", str(root / "labelled.ft"), "--out", str(root / "clf.npz")),
                *("--embed-dim", "4", "--epochs", "1", "--no-progress"),
            ]
        )
        == 0
    )
    return root


@dataclass
class Case:
    """One row: ``setup(tmp, models)`` writes what the case needs and returns the command's
    arguments; ``guard`` names the files that must not change ("out" is created first)."""

    name: str
    setup: object
    message: str
    code: int = 2
    guard: str = "out"


def _write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def _lm_train(tmp, source, *extra):
    return ["lm", "train", source, "--out", str(tmp / "out.npz"), "--no-progress", *extra]


def _clf_train(tmp, source, *extra):
    return ["classify", "train", source, "--out", str(tmp / "out.npz"), "--no-progress", *extra]


def _model_copy(tmp, models, name="lm.npz"):
    data = (models / name).read_bytes()
    return tmp / name, data


def _truncated(tmp, models):
    path, data = _model_copy(tmp, models)
    _write(path, data[: len(data) // 2])
    return ["lm", "eval", str(path), str(models / "corpus.txt")]


def _bad_checksum(tmp, models):
    path, data = _model_copy(tmp, models)
    altered = bytearray(data)
    altered[len(data) // 2] ^= 0x01  # one byte, inside the weights
    _write(path, bytes(altered))
    return ["lm", "eval", str(path), str(models / "corpus.txt")]


def _resaved(tmp, models, change):
    """The LM file with its description changed and a valid checksum (as a forger would)."""
    meta, arrays = io.load_archive(models / "lm.npz")
    for key in ("format", "version", "kind"):
        meta.pop(key)
    change(meta, arrays)
    path = tmp / "forged.npz"
    io.save_archive(path, "feedforward_lm", meta, arrays)
    return ["lm", "eval", str(path), str(models / "corpus.txt")]


REVIEWS = "id,text,label\n" + "".join(
    f"{i},{text},{label}\n"
    for i, (text, label) in enumerate([("a great film", "pos"), ("a dull film", "neg")] * 6)
)


def _csv_model(tmp, models):
    """A classifier trained on a CSV with a header: its file records that reading."""
    train = _write(tmp / "reviews.csv", REVIEWS)
    argv = ["classify", "train", train, "--out", str(tmp / "csv.npz"), "--no-progress"]
    assert main([*argv, "--embed-dim", "4", "--epochs", "1"]) == 0
    return tmp / "csv.npz"


def _forged_reading(tmp, models):
    path = _csv_model(tmp, models)
    meta, arrays = io.load_archive(path)
    meta["reading"]["header"] = "maybe"
    io.save_archive(path, meta["kind"], meta, arrays)
    return ["classify", "test", str(path), str(tmp / "reviews.csv")]


def _encoded(tmp, models):
    """The tiny corpus as ``ffnlp data encode`` writes it (token ids, memory-mapped)."""
    folder = tmp / "encoded"
    assert main(["data", "encode", str(models / "corpus.txt"), "--out", str(folder)]) == 0
    return str(folder)


def _unknown_version(tmp, models):
    meta = {"format": "ffnlp", "version": 99, "kind": "feedforward_lm"}
    path = tmp / "future.npz"
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return ["lm", "eval", str(path), str(models / "corpus.txt")]


def _config_change(key, value):
    return lambda tmp, models: _resaved(
        tmp, models, lambda meta, arrays: meta["config"].__setitem__(key, value)
    )


def _unwritable(tmp, models, monkeypatch):
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root ignores permissions: deny as the file system would
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: False if Path(p) == locked else real(p, mode)
        )
    return ["lm", "train", str(models / "corpus.txt"), "--out", str(locked / "m.npz")]


def _disk_full(tmp, models, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    return _clf_train(tmp, str(models / "labelled.ft"), "--embed-dim", "4", "--epochs", "1")


def _resume_with_other_settings(tmp, models, monkeypatch):
    """A run that crashed after its first checkpoint, resumed with another learning rate."""
    import ffnlp.train

    argv = _lm_train(tmp, str(models / "corpus.txt"), *LM_FAST, "--batch-size", "4")
    step = ffnlp.train.optim.Optimizer.step
    calls = []

    def crash_at_the_second_step(self):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("the machine went down")
        step(self)

    with monkeypatch.context() as patch:
        patch.setattr(ffnlp.train.optim.Optimizer, "step", crash_at_the_second_step)
        assert main([*argv, "--checkpoint-every", "1"]) == 2
    assert (tmp / "out.npz.ckpt").exists()  # the checkpoint of step 1
    return [*argv, "--lr", "0.5", "--resume"]


def _lexicon_vectors(tmp, models):
    source = str(models / "labelled.ft")
    argv = ["classify", "train", source, "--out", str(tmp / "lex.npz"), "--features", "lexicon"]
    assert main([*argv, "--epochs", "1", "--no-progress"]) == 0
    return ["vectors", str(tmp / "lex.npz"), "--out", str(tmp / "out.npz")]


def _ngram_vectors(tmp, models):
    argv = ["ngram", "train", str(models / "corpus.txt"), "--order", "2"]
    assert main([*argv, "--out", str(tmp / "ng.npz")]) == 0
    return ["vectors", str(tmp / "ng.npz"), "--out", str(tmp / "out.npz")]


def _offline(tmp, models, monkeypatch):
    """No network: the name of the dataset's server cannot be looked up."""
    import urllib.error
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return ["data", "fetch", "mr", "--cache-dir", str(tmp / "cache")]


def _quantized_twice(tmp, models):
    small = str(tmp / "small.npz")
    assert main(["classify", "quantize", str(models / "clf.npz"), "--out", small]) == 0
    return ["classify", "quantize", small, "--out", str(tmp / "out.npz")]


CASES = [
    Case(
        "unknown-option",
        lambda t, m: ["classify", "test", str(m / "clf.npz"), str(m / "labelled.ft"), "--jsn"],
        "ffnlp classify test: error: unrecognized arguments: --jsn (did you mean --json?)",
        guard="model",
    ),
    Case("missing-file", lambda t, m: _lm_train(t, str(t / "nope.txt")), "does not exist"),
    Case("directory", lambda t, m: _lm_train(t, str(t)), "is a directory, not a file"),
    Case("empty-file", lambda t, m: _lm_train(t, _write(t / "e.txt", b"\n \n")), "is empty"),
    Case(
        "binary-file",
        lambda t, m: _lm_train(t, _write(t / "b.txt", b"PK\x03\x04\x00\x00data")),
        "looks like a binary file (it contains NUL bytes), not text",
    ),
    Case(
        "wrong-encoding",
        lambda t, m: _lm_train(t, _write(t / "l.txt", "un caf\xe9\n".encode("cp1252"))),
        "is not valid UTF-8: byte 0xe9 at offset 6; give its encoding with --encoding",
    ),
    Case(
        "unknown-encoding",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--encoding", "klingon"),
        "unknown encoding 'klingon'",
    ),
    Case(
        "line-without-label",
        lambda t, m: _clf_train(t, _write(t / "x.ft", "__label__a good\njust text\n")),
        "line 2 has no label: expected '__label__NAME text...'",
    ),
    Case(
        "header-without-known-names",
        lambda t, m: _clf_train(t, _write(t / "x.csv", "id,words,verdict\n1,a fine film,up\n")),
        "its columns are ['id', 'words', 'verdict']: choose with --label-column NAME and --text-column NAME",
    ),
    Case(
        "labels-look-like-ids",
        lambda t, m: _clf_train(t, _write(t / "x.csv", REVIEWS), "--label-column", "id"),
        "the labels look like ids: column 'id' holds 12 different integers, one per text; choose the label column with --label-column",
    ),
    Case(
        "a-label-per-text",
        lambda t, m: _clf_train(
            t, _write(t / "x.txt", "".join(f"review{i} of a film\n" for i in range(12)))
        ),
        "12 different labels for 12 texts: most texts have a label of their own, so the first word of each line (--format label-first) is likely not the label; give the file's --format",
    ),
    Case(
        "format-given-does-not-fit",
        lambda t, m: _clf_train(t, _write(t / "x.csv", REVIEWS), "--format", "fasttext"),
        "looks like csv: leave out --format, or give --format csv)",
    ),
    Case(
        "column-of-a-file-without-columns",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--label-column", "1"),
        "--label-column is a setting of csv/tsv columns, and",
    ),
    Case(
        "delimiter-of-two-characters",
        lambda t, m: _clf_train(t, _write(t / "x.csv", REVIEWS), "--delimiter", ";;"),
        "--delimiter must be one character; got ';;'",
    ),
    Case(
        "predict-table-without-a-text-column",
        lambda t, m: [
            *("classify", "predict", str(_csv_model(t, m))),
            _write(t / "ids.csv", "id,words\n1,a fine film\n"),
        ],
        "no column is named like a text (text, sentence, review, content, body, ...); its columns are ['id', 'words']: choose with --text-column NAME, or --format text for one text a line",
    ),
    Case(
        "predict-column-already-there",
        lambda t, m: [
            *("classify", "predict", str(_csv_model(t, m))),
            _write(t / "again.csv", "text,predicted_label\na fine film,pos\n"),
            *("--output-format", "csv"),
        ],
        "the input already has a column 'predicted_label', which predict adds: rename it",
    ),
    Case(
        "forged-reading",
        _forged_reading,
        "the record of how its training data was read is wrong (a reading's header must be True or False; got 'maybe')",
    ),
    Case(
        "early-stopping-without-valid",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--early-stopping", "2"),
        "--early-stopping judges the epochs on held-out data: give --valid FILE",
    ),
    Case(
        "single-class",
        lambda t, m: _clf_train(t, _write(t / "x.ft", "__label__a good\n__label__a fine\n")),
        "the training data has only one class ('a'); a classifier needs at least 2 classes",
    ),
    Case(
        "setting-of-the-other-classifier",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--features", "lexicon", "--bigrams"),
        "--bigrams is a setting of the classifier on embeddings, not of --features lexicon: leave it out",
    ),
    Case(
        "buckets-without-bigrams",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--no-bigrams", "--buckets", "1000"),
        "--buckets sizes the bigram table: leave it out with --no-bigrams",
    ),
    Case(
        "unknown-recipe",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--recipe", "imdb"),
        "no recipe named 'imdb'; the named recipes are default, mr, sst2, trec",
    ),
    Case(
        "recipe-with-an-unknown-setting",
        lambda t, m: _clf_train(
            t, str(m / "labelled.ft"), "--recipe", _write(t / "r.toml", "[classifier]\nepoch = 3\n")
        ),
        "'epoch' is not a TextClassifier setting (did you mean 'epochs'?)",
    ),
    Case(
        "language-model-recipe-for-the-classifier",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--recipe", "ptb"),
        "recipe 'ptb' is a language-model recipe (for ffnlp lm train --recipe ptb), not a "
        "classifier one; the classifier recipes are default, mr, sst2, trec",
    ),
    Case(
        "classifier-recipe-for-the-language-model",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--recipe", "mr"),
        "recipe 'mr' is a classifier recipe (for ffnlp classify train --recipe mr), not a "
        "language-model one; the language-model recipes are names, ptb, wikitext2",
    ),
    Case(
        "language-model-recipe-with-an-unknown-setting",
        lambda t, m: _lm_train(
            t,
            str(m / "corpus.txt"),
            "--recipe",
            _write(t / "r.toml", "[language_model]\nembed_size = 8\n"),
        ),
        "'embed_size' is not a language-model setting (did you mean 'embed_dim'?)",
    ),
    Case(
        "valid-and-valid-fraction",
        lambda t, m: _lm_train(
            t, str(m / "corpus.txt"), "--valid", str(m / "corpus.txt"), "--valid-fraction", "0.1"
        ),
        "--valid gives the validation text and --valid-fraction holds part of the training "
        "text out instead: give one of them",
    ),
    Case(
        "valid-fraction-out-of-range",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--valid-fraction", "0.7"),
        "--valid-fraction must be a number in (0, 0.5] (e.g. 0.1 holds out a tenth); got 0.7",
    ),
    Case(
        "valid-fraction-holds-out-none",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--valid-fraction", "0.01"),
        "--valid-fraction 0.01 of 9 sentences holds out none: give more text, a larger "
        "fraction, or a --valid FILE",
    ),
    Case(
        "valid-fraction-of-an-encoded-corpus",
        lambda t, m: _lm_train(t, _encoded(t, m), "--valid-fraction", "0.1"),
        "--valid-fraction holds out part of a text file, and",
    ),
    Case(
        "prose-sentences-of-an-encoded-corpus",
        lambda t, m: _lm_train(t, _encoded(t, m), "--sentences", "prose"),
        "was encoded one sentence a line; leave --sentences out, or train on the text file itself",
    ),
    Case(
        "empty-vocabulary",
        lambda t, m: _lm_train(t, _write(t / "r.txt", "a b c\n"), "--min-count", "2"),
        "the vocabulary is empty: no token occurs at least min_count=2 times",
    ),
    Case(
        "context-longer-than-corpus",
        lambda t, m: _lm_train(t, _write(t / "s.txt", "a b\n"), "--context-size", "5"),
        "too few for a context of 5; give more text or a smaller --context-size",
    ),
    Case("truncated-model", _truncated, "is not a readable ffnlp model file", guard="model"),
    Case(
        "bad-checksum",
        _bad_checksum,
        "is damaged or was altered: its checksum does not match",
        guard="model",
    ),
    Case(
        "unknown-format-version",
        _unknown_version,
        "has format version 99, which this ffnlp does not know",
        guard="model",
    ),
    Case(
        "not-a-model",
        lambda t, m: ["lm", "eval", _write(t / "m.npz", "hello"), str(m / "corpus.txt")],
        "looks like a text file, not an ffnlp model file",
        guard="model",
    ),
    Case(
        "wrong-kind-of-model",
        lambda t, m: ["classify", "predict", str(m / "lm.npz"), str(m / "corpus.txt")],
        "holds a 'feedforward_lm' model, not a 'text_classifier' model",
        guard="model",
    ),
    Case(
        "config-wrong-type",
        _config_change("context_size", "two"),
        "context_size must be a positive integer; got 'two'",
        guard="model",
    ),
    Case(
        "config-unknown-setting",
        _config_change("colour", "blue"),
        "language model configuration has unknown settings ['colour']",
        guard="model",
    ),
    Case(
        "config-does-not-match-arrays",
        _config_change("embed_dim", 9),
        "does not match its configuration: array 'embedding.weight' has shape",
        guard="model",
    ),
    Case(
        "zero-epochs",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--epochs", "0"),
        "epochs must be a positive integer; got 0",
    ),
    Case(
        "zero-epochs-classifier",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--epochs", "0"),
        "--epochs must be a positive integer; got 0",
    ),
    Case(
        "max-time-not-a-length-of-time",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--max-time", "soon"),
        "--max-time must be a length of time > 0, in seconds or as 90s, 20m, 1h, 1h30m; got 'soon'",
    ),
    Case(
        "negative-batch-size",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--batch-size", "-1"),
        "--batch-size must be a positive integer; got -1",
    ),
    Case(
        "zero-embed-dim",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--embed-dim", "0"),
        "--embed-dim must be a positive integer; got 0",
    ),
    Case(
        "zero-hidden-size",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--hidden", "0"),
        "--hidden[0] must be a positive integer; got 0",
    ),
    Case(
        "zero-context-size",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--context-size", "0"),
        "--context-size must be a positive integer; got 0",
    ),
    Case(
        "zero-learning-rate",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--lr", "0"),
        "lr must be a finite number > 0; got 0.0",
    ),
    Case(
        "negative-learning-rate-classifier",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--lr", "-1"),
        "lr must be a finite number > 0; got -1.0",
    ),
    Case(
        "plateau-without-valid",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--lr-schedule", "plateau"),
        "--lr-schedule plateau lowers the learning rate when the validation loss stops "
        "improving, so it needs validation data: give --valid FILE, or use constant or linear",
    ),
    Case(
        "plateau-without-valid-classifier",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--lr-schedule", "plateau"),
        "--lr-schedule plateau lowers the learning rate when the validation loss stops "
        "improving, so it needs validation data: give --valid FILE, or use constant or linear",
    ),
    Case(
        "dropout-out-of-range",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--dropout", "1.5"),
        "dropout must be a number in [0, 1); got 1.5",
    ),
    Case(
        "zero-min-count",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--min-count", "0"),
        "min_count must be a positive integer; got 0",
    ),
    Case(
        "zero-checkpoint-every",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--checkpoint-every", "0"),
        "checkpoint-every must be a positive number of steps (e.g. 500) or epochs",
    ),
    Case(
        "output-directory-missing",
        lambda t, m: ["lm", "train", str(m / "corpus.txt"), "--out", str(t / "no" / "m.npz")],
        "the directory",
        guard="none",
    ),
    Case("output-not-writable", _unwritable, "permission denied in", guard="none"),
    Case(
        "disk-full",
        _disk_full,
        "No space left on device (the existing file is unchanged)",
    ),
    Case(
        "checkpoint-is-the-output",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--checkpoint", str(t / "out.npz")),
        "--checkpoint must be another file than --out",
    ),
    Case(
        "resume-with-other-settings",
        _resume_with_other_settings,
        "it was made with lr=0.001, but this run has 0.5; resume with the same settings",
    ),
    Case(
        "resume-without-checkpoint",
        lambda t, m: _lm_train(t, str(m / "corpus.txt"), "--resume"),
        "cannot resume: there is no checkpoint",
    ),
    Case(
        "checkpoint-without-resume",
        lambda t, m: (
            _lm_train(t, str(m / "corpus.txt"), *LM_FAST)
            if _write(t / "out.npz.ckpt", b"an unfinished run")
            else None
        ),
        "holds the checkpoint of an unfinished run of this model: go on from it with "
        "--resume, or remove it to start afresh",
    ),
    Case(
        "training-diverges",
        lambda t, m: _lm_train(
            t,
            str(m / "corpus.txt"),
            *LM_FAST,
            *("--batch-size", "4", "--activation", "relu"),
            *("--optimizer", "sgd", "--lr", "1e30"),
        ),
        "training diverged: the loss became nan at epoch 1, step",
    ),
    Case(
        "bad-embeddings-file",
        lambda t, m: _lm_train(
            t,
            str(m / "corpus.txt"),
            *LM_FAST,
            "--pretrained",
            _write(t / "v.txt", "the 1 2 3 4\ncat 1 2\n"),
        ),
        "line 2: 2 numbers where the file has 4 per word",
    ),
    Case(
        "bad-lexicon-file",
        lambda t, m: _clf_train(
            t,
            str(m / "labelled.ft"),
            "--features",
            "lexicon",
            "--lexicon",
            _write(t / "lex.tsv", "good\tpositive\nbad\tawful\n"),
        ),
        "line 2: polarity must be positive or negative; got 'awful'",
    ),
    Case(
        "download-fails-offline",
        _offline,
        "rt-polaritydata.tar.gz failed: [Errno -2] Name or service not known",
        guard="none",
    ),
    Case(
        "tune-on-without-ngram",
        lambda t, m: [
            *("lm", "eval", str(m / "lm.npz"), str(m / "corpus.txt")),
            *("--tune-on", str(m / "corpus.txt")),
        ],
        "--tune-on sets the mixture with an n-gram model: give the n-gram model with "
        "--ngram MODEL (ffnlp ngram train), or leave it out",
        guard="model",
    ),
    Case(
        "no-such-run-in-the-log",
        lambda t, m: ["plot", str(m / "lm.npz"), "--run", "3", "--out", str(t / "c.png")],
        "lm.npz.log.jsonl' holds 1 run (give 1, or -1 for the last)",
        guard="none",
    ),
    Case(
        "word-not-in-the-vocabulary",
        lambda t, m: [
            *("plot-embeddings", str(m / "lm.npz"), "--words", "cat,zebra"),
            *("--out", str(t / "e.png")),
        ],
        "not in the model's vocabulary: 'zebra'",
        guard="none",
    ),
    Case(
        "unseen-test-labels",
        lambda t, m: [
            *("classify", "test", str(m / "clf.npz")),
            _write(t / "t.ft", "__label__meh a film\n"),
        ],
        "the test data has labels the model was never trained on: ['meh']",
        guard="model",
    ),
    Case(
        "threshold-outside-0-1",
        lambda t, m: [
            *("classify", "predict", str(m / "clf.npz")),
            _write(t / "t.txt", "a film\n"),
            *("-k", "3", "--threshold", "1.5"),
        ],
        "--threshold must be a number in (0, 1); got 1.5",
        guard="model",
    ),
    Case(
        "neighbours-of-an-unknown-word",
        lambda t, m: ["neighbours", str(m / "clf.npz"), "flim"],
        "'flim' is not in the model's vocabulary of 4 words (closest known: 'film')",
        guard="none",  # the files in models/ are guarded all the same
    ),
    Case(
        "analogy-with-unknown-words",
        lambda t, m: ["analogies", str(m / "lm.npz"), "cat", "dgo", "fishes"],
        "2 words are not in the model's vocabulary of 10 words: 'dgo' (closest known: "
        "'dog'), 'fishes' (closest known: 'fish')",
        guard="none",
    ),
    Case(
        "vectors-of-a-lexicon-classifier",
        _lexicon_vectors,
        "a LexiconClassifier has no word embeddings (it reads lexicon features); give a "
        "classifier on embeddings or a neural LM",
    ),
    Case(
        "vectors-of-an-n-gram-model",
        _ngram_vectors,
        "holds a 'kneser_ney_lm' model, which has no word vectors; give a neural LM (ffnlp lm "
        "train) or a classifier (ffnlp classify train)",
    ),
    Case(
        "quantize-a-quantized-model",
        _quantized_twice,
        "is already quantized (dsub 2); quantize the original model instead",
    ),
    Case(
        "quantize-retrain-without-data",
        lambda t, m: [
            *("classify", "quantize", str(m / "clf.npz"), "--out", str(t / "out.npz")),
            "--retrain",
        ],
        "--retrain trains on labelled texts: give the training file(s) after MODEL",
    ),
    Case(
        "quantize-zero-dsub",
        lambda t, m: [
            *("classify", "quantize", str(m / "clf.npz"), "--out", str(t / "out.npz")),
            *("--dsub", "0"),
        ],
        "--dsub must be a positive integer; got 0",
    ),
    Case(
        "bad-char-ngram-sizes",
        lambda t, m: _clf_train(t, str(m / "labelled.ft"), "--char-ngrams", "5", "3"),
        "--char-ngrams MIN MAX needs 1 <= MIN <= MAX (0 0 for none); got 5 3",
    ),
]


# Files of other tools, and models ONNX export cannot express.
ARPA_HEAD = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <unk>\n-99 <s>\n-1 </s>\n"


def _ngram_eval(tmp, models, arpa_text):
    return ["ngram", "eval", _write(tmp / "m.arpa", arpa_text), str(models / "corpus.txt")]


def _fake_torch_file(tmp):
    """A zip laid out as torch.save writes one (its pickle inside), made without torch."""
    import zipfile

    path = tmp / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("model/version", b"3\n")
    return str(path)


def _export_of(kind):
    def setup(tmp, models):
        corpus = str(models / "corpus.txt")
        if kind == "ngram":
            assert (
                main(["ngram", "train", corpus, "--out", str(tmp / "ng.npz"), "--order", "2"]) == 0
            )
            return ["export", str(tmp / "ng.npz"), "--out", str(tmp / "m.onnx")]
        data = _write(tmp / "lex.ft", LABELLED * 3)
        argv = ["classify", "train", data, "--out", str(tmp / "lex.npz"), "--features", "lexicon"]
        assert main([*argv, "--epochs", "1", "--no-progress"]) == 0
        return ["export", str(tmp / "lex.npz"), "--format", "onnx", "--out", str(tmp / "m.onnx")]

    return setup


OTHER_TOOLS = [
    Case(
        "arpa-broken-header",
        lambda t, m: _ngram_eval(t, m, "\\data\\\nngram 1=three\n\\1-grams:\n"),
        "the \\data\\ header has 'ngram 1=three' where 'ngram N=COUNT' was expected",
        guard="model",
    ),
    Case(
        "arpa-inconsistent-counts",
        lambda t, m: _ngram_eval(t, m, ARPA_HEAD.replace("1=3", "1=4") + "\\end\\\n"),
        "the header says 4 1-grams, but the \\1-grams: section has 3",
        guard="model",
    ),
    Case(
        "arpa-cut-short",
        lambda t, m: _ngram_eval(t, m, ARPA_HEAD),
        "has no \\end\\ line: the file is cut short",
        guard="model",
    ),
    Case(
        "arpa-given-to-the-neural-lm",
        lambda t, m: [
            *("lm", "eval", _write(t / "m.arpa", ARPA_HEAD + "\\end\\\n")),
            str(m / "corpus.txt"),
        ],
        "looks like an ARPA n-gram model, not an ffnlp model file; ffnlp ngram eval, score, "
        "predict and generate read ARPA files",
        guard="model",
    ),
    Case(
        "fasttext-model",
        lambda t, m: [
            *("classify", "predict", _write(t / "m.bin", b"\xba\x16\x4f\x2f\x0c\x00\x00\x00")),
            str(m / "corpus.txt"),
        ],
        "looks like a fastText model, not an ffnlp model file",
        guard="model",
    ),
    Case(
        "pytorch-model",
        lambda t, m: ["lm", "eval", _fake_torch_file(t), str(m / "corpus.txt")],
        "looks like a PyTorch file (torch.save), not an ffnlp model file",
        guard="model",
    ),
    Case(
        "csv-file-as-a-model",
        lambda t, m: [
            *("classify", "test", _write(t / "data.csv", "text,label\ngood,pos\nbad,neg\n")),
            str(m / "labelled.ft"),
        ],
        "looks like a CSV file, not an ffnlp model file",
        guard="model",
    ),
    Case(
        "export-a-lexicon-classifier",
        _export_of("lexicon"),
        "ONNX export cannot express the lexicon classifier: its six features are counted "
        "from the text in Python",
        guard="none",
    ),
    Case(
        "export-an-ngram-model",
        _export_of("ngram"),
        "is a Kneser-Ney n-gram model: ONNX cannot express an n-gram model's look-up tables",
        guard="none",
    ),
]
CASES += OTHER_TOOLS


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow of the diverging run
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path, models, capsys, monkeypatch):
    import inspect

    takes_patch = len(inspect.signature(case.setup).parameters) == 3
    argv = (
        case.setup(tmp_path, models, monkeypatch) if takes_patch else case.setup(tmp_path, models)
    )
    guarded = {}
    if case.guard == "out":
        out = tmp_path / "out.npz"
        out.write_bytes(b"precious")
        guarded[out] = b"precious"
    elif case.guard == "model":
        model = Path(argv[2])
        guarded[model] = model.read_bytes()
    guarded.update({p: p.read_bytes() for p in models.iterdir() if p.is_file()})
    capsys.readouterr()  # what the setup printed is not the case's output
    code = main(argv)
    err = capsys.readouterr().err
    assert code == case.code, err
    assert case.message in err, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("ffnlp ")]
    assert len(errors) == 1 and ": error: " in errors[0]
    for path, data in guarded.items():
        assert path.read_bytes() == data, f"{path} changed"
    if case.name == "download-fails-offline":  # not even an empty folder stays
        assert not (tmp_path / "cache").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


@pytest.mark.parametrize("name", ["missing-file", "truncated-model"])
def test_bad_input_in_a_real_process(name, tmp_path, models):
    case = next(c for c in CASES if c.name == name)
    done = subprocess.run(
        [sys.executable, "-m", "ffnlp", *case.setup(tmp_path, models)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == case.code
    assert case.message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _lm():
    config = FeedforwardLMConfig(vocab_size=12, context_size=3, embed_dim=4, hidden_dims=(8,))
    return FeedforwardLM(config, rng=0)


def _fitted_classifier():
    X = np.array([[0.0, 1.0], [1.0, 0.0]] * 4)
    return FeedforwardClassifier.from_settings(hidden_dims=(4,), epochs=1).fit(X, [0, 1] * 4)


API_CASES = {
    "token-id-too-large": (
        lambda: _lm()(np.array([[1, 2, 99]])),
        "embedding: id 99 is out of range for 12 rows (ids must be in [0, 12))",
    ),
    "negative-token-id": (
        lambda: _lm()(np.array([[1, -1, 2]])),
        "embedding: id -1 is out of range for 12 rows",
    ),
    "target-id-out-of-range": (
        lambda: _lm()(np.array([[1, 2, 3]]), np.array([12])),
        "cross_entropy: target 12 is out of range for 12 classes",
    ),
    "context-width-wrong": (
        lambda: _lm()(np.array([[1, 2]])),
        "contexts must have shape (B, 3); got (1, 2)",
    ),
    "unknown-word-vector": (
        lambda: WordVectors(["king", "queen"], np.eye(2)).vector("kings"),
        "'kings' is not in the model's vocabulary of 2 words (closest known: 'king')",
    ),
    "feature-width-wrong": (
        lambda: _fitted_classifier().predict(np.ones((2, 3))),
        "X has 3 features, but FeedforwardClassifier is expecting 2 features as input",
    ),
}


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_bad_input_at_the_api(name):
    call, message = API_CASES[name]
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_the_table_in_the_docs_lists_every_case_and_only_those():
    table = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = re.findall(r"`(test_bad_input(?:_at_the_api)?)\[([\w-]+)\]`", table)
    cli = {name for test, name in documented if test == "test_bad_input"}
    api = {name for test, name in documented if test == "test_bad_input_at_the_api"}
    assert cli == {c.name for c in CASES}
    assert api == set(API_CASES)
    for case in CASES:  # each row shows the message the test asserts
        row = next(line for line in table.splitlines() if f"[{case.name}]`" in line)
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert case.message in cells[2], case.name
        assert cells[3] == str(case.code), case.name
