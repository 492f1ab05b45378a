"""The classify commands, in-process on small files the tests write."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.estimators import TextClassifier
from ffnlp.metrics import containing_groups, stratified_kfold

from .test_estimators import NEG, POS


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def data(tmp_path):
    train = tmp_path / "train.ft"
    train.write_text(
        "".join(f"__label__pos {t}\n" for t in POS * 3)
        + "".join(f"__label__neg {t}\n" for t in NEG * 3)
    )
    test = tmp_path / "test.ft"
    test.write_text(
        "__label__pos great warm fun\n__label__neg dull awful flat\n__label__pos a fine cast\n"
    )
    return tmp_path, train, test


# The chapter's plain model (mean-pooled words, a softmax), not the default recipe's.
PLAIN = ["--no-bigrams", "--no-wide", "--dropout", "0", "--hidden"]
FAST = [*PLAIN, "--embed-dim", "16", "--epochs", "30", "--lr", "0.02", "--no-progress"]


def _read(path):
    """(texts, labels) of a fastText-format file, read here without ffnlp."""
    rows = [line.split(" ", 1) for line in path.read_text().splitlines()]
    return [text for _, text in rows], [label.removeprefix("__label__") for label, _ in rows]


def _expected_metrics(model, path):
    """Accuracy and confusion matrix of ``model`` on ``path``, from the library's predictions."""
    texts, labels = _read(path)
    predicted = [str(p) for p in model.predict(texts)]
    classes = [str(c) for c in model.classes_]
    confusion = [
        [sum(t == a and p == b for t, p in zip(labels, predicted)) for b in classes]
        for a in classes
    ]
    return float(np.mean(np.array(predicted) == np.array(labels))), confusion


def test_train_test_predict(data, capsys, monkeypatch):
    tmp, train, test = data
    code, out, err = _run(
        [
            "classify",
            "train",
            train,
            "--out",
            tmp / "m.npz",
            *FAST,
            "--bigrams",
            "--buckets",
            "256",
        ],
        capsys,
    )
    assert code == 0, err
    assert "2 classes" in out
    code, out, _ = _run(["classify", "test", tmp / "m.npz", test], capsys)
    assert code == 0 and "accuracy" in out and "confusion matrix" in out and "macro avg" in out
    code, out, _ = _run(["classify", "test", tmp / "m.npz", test, "--json"], capsys)
    metrics = json.loads(out)
    assert metrics["accuracy"] == 1.0 and metrics["confusion_matrix"] == [[1, 0], [0, 2]]
    # On a file with a text labelled against its words, what test prints is what the
    # library's predictions give for the same model and file.
    model = TextClassifier.load(tmp / "m.npz")
    hard = tmp / "hard.ft"
    hard.write_text(test.read_text() + "__label__neg great warm fun\n")
    accuracy, confusion = _expected_metrics(model, hard)
    assert (accuracy, confusion) == (0.75, [[1, 1], [0, 2]])
    code, out, _ = _run(["classify", "test", tmp / "m.npz", hard, "--json"], capsys)
    metrics = json.loads(out)
    assert metrics["accuracy"] == accuracy and metrics["confusion_matrix"] == confusion
    assert metrics["accuracy"] == model.score(*_read(hard))
    code, out, _ = _run(["classify", "test", tmp / "m.npz", hard], capsys)
    assert code == 0 and ["accuracy", f"{accuracy:.4f}", "4"] in [
        x.split() for x in out.splitlines()
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("great fun\ndull plot\n"))
    code, out, _ = _run(["classify", "predict", tmp / "m.npz", "-k", "2"], capsys)
    rows = [line.split("\t") for line in out.splitlines()]
    assert (
        code == 0
        and [r[0].split()[0] for r in rows] == ["pos", "neg"]
        and rows[0][2] == "great fun"
    )
    for row, probabilities in zip(rows, model.predict_proba(["great fun", "dull plot"])):
        printed = dict(pair.split() for pair in row[:2])
        assert printed == {str(c): f"{p:.4f}" for c, p in zip(model.classes_, probabilities)}


def test_cross_validation(data, capsys):
    _, train, _ = data
    code, out, err = _run(["classify", "cv", train, "--folds", "3", "--json", *FAST], capsys)
    assert code == 0, err
    result = json.loads(out)
    # The same folds and the same model, fitted and scored through the library.
    tmp = train.parent
    assert main(["classify", "train", str(train), "--out", str(tmp / "m.npz"), *FAST]) == 0
    params = TextClassifier.load(tmp / "m.npz").flat_settings()
    texts, labels = _read(train)
    expected = []
    # The file holds each text three times: the copies share a fold, and one is scored.
    groups = containing_groups(texts)
    assert len(set(groups.tolist())) == len(texts) // 3
    for train_idx, test_idx in stratified_kfold(labels, 3, seed=0, groups=groups):
        test_idx = test_idx[groups[test_idx] == test_idx]
        model = TextClassifier.from_settings(**params).fit(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx]
        )
        expected.append(model.score([texts[i] for i in test_idx], [labels[i] for i in test_idx]))
    assert result["folds"] == 3 and result["fold_accuracies"] == expected
    assert result["accuracy"] == pytest.approx(np.mean(expected), rel=1e-12)
    assert result["accuracy"] > 0.8


def test_lexicon_features_from_a_file(data, capsys):
    tmp, train, test = data
    lexicon = tmp / "lexicon.tsv"
    lexicon.write_text(
        "great\tpositive\nwarm\tpositive\nfine\tpositive\nfun\tpositive\ndull\tnegative\nawful\tnegative\nflat\tnegative\n"
    )
    code, _, err = _run(
        [
            "classify",
            "train",
            train,
            "--out",
            tmp / "lex.npz",
            "--features",
            "lexicon",
            "--lexicon",
            lexicon,
            "--hidden",
            "8",
            *FAST[len(PLAIN) + 2 :],
        ],
        capsys,
    )
    assert code == 0, err
    code, out, _ = _run(["classify", "test", tmp / "lex.npz", test, "--json"], capsys)
    assert json.loads(out)["accuracy"] == 1.0
    # A setting of the classifier on embeddings is refused, not ignored.
    argv = ["classify", "train", train, "--out", tmp / "x.npz", "--features", "lexicon"]
    code, _, err = _run([*argv, "--bigrams"], capsys)
    assert code == 2 and "--bigrams is a setting of the classifier on embeddings" in err
    code, _, err = _run(
        ["classify", "train", train, "--out", tmp / "x.npz", "--lexicon-size", "9"], capsys
    )
    assert code == 2 and "--lexicon-size is a setting of --features lexicon" in err
    assert not (tmp / "x.npz").exists()


def test_one_file_per_class_with_an_encoding(tmp_path, capsys):
    pos, neg = tmp_path / "rt.pos", tmp_path / "rt.neg"
    pos.write_bytes("\n".join(POS * 2 + ["un caf\xe9 great"]).encode("cp1252"))
    neg.write_bytes("\n".join(NEG * 2).encode("cp1252"))
    code, _, err = _run(
        ["classify", "train", pos, neg, "--format", "files", "--out", tmp_path / "m.npz", *FAST],
        capsys,
    )
    assert code == 2 and "is not valid UTF-8" in err and "--encoding" in err
    code, _, err = _run(
        [
            "classify",
            "train",
            pos,
            neg,
            "--format",
            "files",
            "--encoding",
            "cp1252",
            "--out",
            tmp_path / "m.npz",
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("__label__pos fine\nno label here\n", [], "line 2 has no label"),
        ("__label__pos fine\n__label__pos good\n", [], "only one class ('pos')"),
        ("__label__pos fine\n__label__neg\n", [], "line 2 has a label but no text"),
        (
            "__label__pos fine\n__label__neg bad\n",
            ["--lexicon", "lexicon.tsv", "--features", "lexicon"],
            "line 1: expected 'word<TAB>polarity'",
        ),
        (
            "__label__pos fine\n__label__neg bad\n",
            ["--epochs", "0"],
            "--epochs must be a positive integer; got 0",
        ),
        (
            "__label__pos fine\n__label__neg bad\n",
            ["--word-dropout", "1"],
            "--word-dropout must be a number in [0, 1); got 1.0",
        ),
    ],
)
def test_bad_training_input(tmp_path, capsys, monkeypatch, content, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lexicon.tsv").write_text("great positive\n")
    (tmp_path / "train.ft").write_text(content)
    (tmp_path / "m.npz").write_bytes(b"keep me")
    code, _, err = _run(
        ["classify", "train", "train.ft", "--out", "m.npz", "--no-progress", *extra], capsys
    )
    assert code == 2 and message in err and "Traceback" not in err, err
    assert (tmp_path / "m.npz").read_bytes() == b"keep me"


def test_a_test_label_never_seen_in_training(data, capsys):
    tmp, train, _ = data
    _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST], capsys)
    odd = tmp / "odd.ft"
    odd.write_text("__label__neutral so so\n__label__pos great\n")
    code, _, err = _run(["classify", "test", tmp / "m.npz", odd], capsys)
    assert code == 2 and "labels the model was never trained on: ['neutral']" in err


@pytest.mark.parametrize(
    "extra",
    [
        ["--nb-features", "--bigrams", "--buckets", "0"],
        ["--pooling", "mean+max", "--word-dropout", "0.2", "--hidden", "8"],
        [
            "--nb-features",
            "--bigrams",
            "--pool-words-only",
            "--batch-by-length",
        ],
        ["--nb-features", "--bigrams", "--buckets", "0", "--wide", "--unknown-words", "prefix"],
        ["--pooling", "tfidf", "--bigrams"],
    ],
)
def test_train_options(data, capsys, extra):
    tmp, train, test = data
    code, _, err = _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST, *extra], capsys)
    assert code == 0, err
    code, out, _ = _run(["classify", "test", tmp / "m.npz", test, "--json"], capsys)
    metrics = json.loads(out)
    model = TextClassifier.load(tmp / "m.npz")
    assert [metrics["accuracy"], metrics["confusion_matrix"]] == list(
        _expected_metrics(model, test)
    )
    assert code == 0 and metrics["accuracy"] >= 2 / 3


def test_train_wide_with_the_prefix_backoff_contrast_words_and_class_weights(tmp_path, capsys):
    from ffnlp.estimators import TextClassifier

    train = tmp_path / "train.ft"  # 18 positive texts against 6 negative ones
    train.write_text(
        "".join(f"__label__pos {t}\n" for t in POS * 3)
        + "".join(f"__label__neg {t}\n" for t in NEG)
    )
    flags = ["--bigrams", "--wide", "--unknown-words", "prefix"]
    flags += ["--contrast-words", "but, yet", "--class-weight", "balanced"]
    out = tmp_path / "m.npz"
    code, _, err = _run(["classify", "train", train, "--out", out, *FAST, *flags], capsys)
    assert code == 0, err
    wrapper = TextClassifier.load(out)
    assert wrapper.words == ("but", "yet")
    model = wrapper.estimator_
    assert model.wide and model.text.unknown_words == "prefix" and model.class_weight == "balanced"
    kinds = [type(m).__name__ for m in model.model_.members]
    assert kinds == ["DeepAveragingNetwork", "NaiveBayesLinear"]
    assert model.classes_.tolist() == ["neg", "pos"]
    for member in model.model_.members:  # 24 / (2 * 6), 24 / (2 * 18)
        assert member.config.class_weights == (2.0, 2 / 3)
    code, _, err = _run(
        ["classify", "train", train, "--out", tmp_path / "w.npz", "--pooling", "nb", *FAST],
        capsys,
    )
    assert code == 2 and "needs nb_features" in err


def test_contrast_words_can_be_set_at_test_and_prediction_time(data, capsys, monkeypatch):
    from ffnlp.estimators import TextClassifier

    tmp, train, _ = data
    for name, words in (("m.npz", []), ("b.npz", ["--contrast-words", "but"])):
        code, _, err = _run(
            ["classify", "train", train, "--out", tmp / name, *FAST, *words], capsys
        )
        assert code == 0, err
    from ffnlp.estimators import ContrastClauses

    model = TextClassifier.load(tmp / "m.npz")
    text = "a great warm film but a dull awful plot"
    plain = model.predict_proba([text])[0]
    wrapped = ContrastClauses(TextClassifier(), words=("but",))
    wrapped.estimator_, wrapped.classes_ = model, model.classes_
    contrast = wrapped.predict_proba([text])[0]
    assert abs(plain - contrast).max() > 1e-3  # the clause changes the answer
    for name, words, expected in (
        ("m.npz", [], plain),
        ("m.npz", ["--contrast-words", "but"], contrast),
        ("b.npz", [], contrast),  # the same weights: training does not use the words
        ("b.npz", ["--contrast-words", ""], plain),
    ):
        monkeypatch.setattr("sys.stdin", io.StringIO(text + "\n"))
        code, out, err = _run(["classify", "predict", tmp / name, "-k", "2", *words], capsys)
        assert code == 0, err
        got = dict(pair.split() for pair in out.split("\t")[:2])
        labels = model.classes_.tolist()
        assert [float(got[label]) for label in labels] == pytest.approx(expected, abs=1e-4)
    turned = tmp / "turned.ft"  # "dull" after "but" turns the answer
    turned.write_text("__label__neg fine acting but dull\n")
    for words, accuracy in (([], 0.0), (["--contrast-words", "but"], 1.0)):
        code, out, err = _run(["classify", "test", tmp / "m.npz", turned, "--json", *words], capsys)
        assert code == 0 and json.loads(out)["accuracy"] == accuracy, err


def test_train_with_prefix_pairs_word_shapes_and_a_linear_schedule(data, capsys):
    from ffnlp.estimators import TextClassifier

    tmp, train, _ = data
    flags = ["--prefix-ngrams", "2", "--prefix-pairs", "2", "--word-shapes"]
    flags += ["--lr-schedule", "linear"]
    code, _, err = _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST, *flags], capsys)
    assert code == 0, err
    from ffnlp.estimators import OpeningPairs, Openings, WordShapes

    model = TextClassifier.load(tmp / "m.npz")
    assert model.features == [Openings(2), OpeningPairs(2), WordShapes()]
    assert model.training.lr_schedule == "linear"
    assert len(model.features_[1].table_) > 0 and model.features_[2].table_
    argv = ["classify", "train", str(train), "--out", str(tmp / "x.npz"), "--lr-schedule", "cos"]
    assert main(argv) == 2 and "invalid choice: 'cos'" in capsys.readouterr().err


def _epoch_rates(log_path):
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    epochs = [r for r in records if "seconds" in r]  # one per epoch
    return [r["lr"] for r in epochs], [r.get("best") for r in epochs]


@pytest.mark.parametrize("features", ["embeddings", "lexicon"])
def test_train_lr_schedules_constant_plateau_linear(data, capsys, features):
    """Each --lr-schedule as logged per epoch, the same three as lm train's: constant never
    moves (the default), plateau halves after each epoch that does not beat the best
    held-out loss, linear falls towards 0."""
    tmp, train, _ = data
    valid = tmp / "valid.ft"  # one text labelled against its words: the loss soon rises
    valid.write_text(
        "__label__pos great warm fun\n__label__neg dull awful flat\n__label__neg a fine cast\n"
    )
    rates = {}
    for schedule in ("constant", "plateau", "linear", None):
        out = tmp / f"{schedule}.npz"
        # --early-stopping 0: all 8 epochs run (the best one is still the one kept)
        flags = ["--epochs", "8", "--lr", "0.1", "--no-progress", "--early-stopping", "0"]
        flags += ["--features", features, "--hidden", "8"]
        flags += ["--embed-dim", "16"] if features == "embeddings" else []
        flags += ["--lr-schedule", schedule] if schedule else []
        code, _, err = _run(
            ["classify", "train", train, "--valid", valid, "--out", out, *flags], capsys
        )
        assert code == 0, err
        rates[schedule] = _epoch_rates(tmp / f"{schedule}.npz.log.jsonl")
    assert rates["constant"][0] == [0.1] * 8
    assert rates[None] == rates["constant"]  # the default, as before
    lrs, best = rates["plateau"]
    assert lrs[0] == 0.1 and False in best[:-1]
    for e in range(7):
        assert lrs[e + 1] == (lrs[e] if best[e] else lrs[e] * 0.5)
    lrs, _ = rates["linear"]
    assert all(a > b for a, b in itertools.pairwise(lrs)) and 0 < lrs[-1] < 0.1 / 8


def test_plateau_needs_validation_texts(data, capsys):
    tmp, train, _ = data
    argv = ["classify", "train", train, "--out", tmp / "m.npz", *FAST, "--lr-schedule", "plateau"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and not (tmp / "m.npz").exists()
    assert "so it needs validation data: give --valid FILE, or use constant or linear" in err
    code, _, err = _run(
        ["classify", "cv", train, "--folds", "2", "--lr-schedule", "plateau"], capsys
    )
    assert code == 2 and "needs validation data: classify cv has no --valid" in err


@pytest.mark.parametrize(
    ("flags", "warning"),
    [
        (["--lr", "1e6"], "warning: --lr 1e+06 is far above the usual range for adam "
         "(1e-05 to 0.1): the loss is likely to diverge"),
        (["--lr", "1e-9", "--optimizer", "sgd"], "warning: --lr 1e-09 is far below the "
         "usual range for sgd (0.0001 to 10): training will barely move"),
        (["--lr", "0.5", "--optimizer", "sgd"], None),
        ([], None),
    ],
)  # fmt: skip
def test_a_learning_rate_far_outside_the_usual_range_is_accepted_with_a_warning(
    tmp_path, capsys, flags, warning
):
    train = tmp_path / "t.ft"
    train.write_text("__label__pos a good film\n__label__neg a bad film\n" * 3)
    argv = ["classify", "train", str(train), "--out", str(tmp_path / "m.npz"), "--epochs", "1"]
    assert main([*argv, "--embed-dim", "4", "--no-progress", *flags]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == ([warning] if warning else [])


def test_max_time_bounds_classify_train_and_says_where_it_stopped(data, capsys):
    _, train, valid = data
    out = train.parent / "timed.npz"
    argv = ["classify", "train", str(train), "--valid", str(valid), "--out", str(out)]
    code, printed, err = _run([*argv, *FAST, "--max-time", "0.000001"], capsys)
    assert code == 0, err
    assert "stopped by --max-time 0.000001 after 1 step, in epoch 1 of" in printed
    assert "kept epoch 1 of 1" in printed


def test_predict_and_test_do_not_load_scikit_learn(data, tmp_path):
    # Importing scikit-learn is most of a second; a command that only uses a model skips it.
    import subprocess
    import sys

    _, train, test = data
    model = tmp_path / "m.npz"
    assert main(["classify", "train", str(train), "--out", str(model), *FAST]) == 0
    code = (
        "import sys; from ffnlp.cli import main; "
        f"main(['classify', 'predict', {str(model)!r}, {str(test)!r}, '--format', 'text']); "
        "print('sklearn' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr.strip().endswith("False"), done.stderr
    assert len(done.stdout.splitlines()) == 3


def test_cross_validation_says_when_texts_lie_inside_others(data, capsys):
    _, train, _ = data  # each text three times
    code, _, err = _run(["classify", "cv", train, "--folds", "2", *FAST], capsys)
    whole = len(set(POS + NEG))
    assert code == 0 and (
        f"{2 * whole} texts lie inside longer ones (phrases, copies): each is kept in its "
        f"longer text's fold, and the {whole} whole texts are scored"
    ) in err.replace("\n", " ")


@pytest.mark.parametrize("k, threshold", [(1, None), (2, None), (3, 0.3), (5, 0.9)])
def test_predict_text_lines_are_the_top_labels_of_each_text(k, threshold):
    from ffnlp.cli.classify import _top_lines
    from ffnlp.estimators.base import top_labels

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50).astype(np.float32)
    probs[0] = [0.25, 0.25, 0.25, 0.25]  # ties keep the classes' order
    classes = np.array(["a", "b", "c", "d"])
    texts = [f"text {i}" for i in range(50)]
    expected = "".join(
        "\t".join(f"{label} {p:.4f}" for label, p in top) + f"\t{text}\n"
        for text, top in zip(texts, top_labels(probs, classes, k, threshold))
    )
    assert _top_lines(probs, classes, k, threshold, texts) == expected
    if threshold == 0.9:
        assert expected.startswith("\ttext 0\n")  # a text with no label keeps its tab
