"""Multi-label classification (issue 18.4): fastText lines with several labels, the
one-vs-all loss, predictions with a threshold, and P@k / R@k as fastText's ``test``
reports them."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ffnlp import io
from ffnlp.autograd import Tensor, gradcheck
from ffnlp.cli import main
from ffnlp.estimators import TextClassifier
from ffnlp.metrics import multi_label_report
from ffnlp.models.classifier import (
    DeepAveragingConfig,
    DeepAveragingNetwork,
    classifier_loss,
    nb_table,
)
from ffnlp.nn import functional as F
from ffnlp.text.labelled import read_fasttext, read_labelled

TOPICS = {
    "money": "bank market stock price trade profit".split(),
    "politics": "vote election law senate party minister".split(),
    "sport": "goal match striker team coach league".split(),
}
FILLER = "the a of and today new said".split()


def _lines(n: int, seed: int) -> list[str]:
    """fastText lines on 1 to 3 topics, each topic lending three of its words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        labels = rng.sample(sorted(TOPICS), rng.choice([1, 1, 2, 2, 3]))
        words = [w for label in labels for w in rng.sample(TOPICS[label], 3)]
        words += rng.sample(FILLER, 3)
        rng.shuffle(words)
        lines.append(" ".join(f"__label__{y}" for y in labels) + " " + " ".join(words))
    return lines


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multilabel")
    (root / "train.ft").write_text("\n".join(_lines(300, 0)) + "\n")
    (root / "test.ft").write_text("\n".join(_lines(100, 1)) + "\n")
    return root


# ---------------------------------------------------------------------------- reading


def test_lines_with_several_labels_read_as_label_sets(tmp_path):
    path = tmp_path / "m.ft"
    path.write_text("__label__a __label__b one text\n__label__b two\n__label__c __label__c x\n")
    texts, labels = read_fasttext(path)
    assert texts == ["one text", "two", "x"]
    assert labels == [("a", "b"), ("b",), ("c",)]  # every line a set; a label twice once
    single = tmp_path / "s.ft"
    single.write_text("__label__a fine\n__label__b dull\n")
    assert read_fasttext(single)[1] == ["a", "b"]  # one label a line: as before
    # files read together: one of label sets makes them all sets
    assert read_labelled([str(single), str(path)])[1] == [
        ("a",), ("b",), ("a", "b"), ("b",), ("c",)
    ]  # fmt: skip


# ---------------------------------------------------------------------------- losses


def test_one_vs_all_loss_sums_binary_losses_of_a_text_and_is_gradient_checked():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 3))
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float64)
    p = 1 / (1 + np.exp(-z))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum() / 4
    assert F.one_vs_all_loss(Tensor(z), y).item() == pytest.approx(expected, rel=1e-12)
    logits = Tensor(z.copy(), requires_grad=True)
    result = gradcheck(lambda t: F.one_vs_all_loss(t, y), [logits])
    assert result.ok(1e-6), str(result)
    # one label a text: its one-hot row
    ids = np.array([2, 0, 1, 1])
    one_hot = classifier_loss(Tensor(z), ids, "ova").item()
    assert one_hot == pytest.approx(F.one_vs_all_loss(Tensor(z), np.eye(3)[ids]).item())
    with pytest.raises(ValueError, match=r"one_vs_all_loss: expected logits \(B, C\)"):
        F.one_vs_all_loss(Tensor(z), y[:, :2])


def test_soft_cross_entropy_shares_a_text_among_its_labels():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, 4))
    y = np.array([[1, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=np.float64)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -((y / y.sum(axis=1, keepdims=True)) * logp).sum() / 3
    assert F.soft_cross_entropy(Tensor(z), y).item() == pytest.approx(expected, rel=1e-12)
    # a set of one label: the plain cross-entropy
    ids = np.array([3, 0, 2])
    assert F.soft_cross_entropy(Tensor(z), np.eye(4)[ids]).item() == pytest.approx(
        F.cross_entropy(Tensor(z), ids).item(), rel=1e-12
    )
    logits = Tensor(z.copy(), requires_grad=True)
    result = gradcheck(lambda t: F.soft_cross_entropy(t, y), [logits])
    assert result.ok(1e-6), str(result)
    with pytest.raises(ValueError, match="every row of targets needs a label"):
        F.soft_cross_entropy(Tensor(z), np.zeros((3, 4)))


def test_losses_agree_with_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 3)) * 3
    y = (rng.random((5, 3)) < 0.5).astype(np.float64)
    y[0] = 1.0
    tz = torch.tensor(z, requires_grad=True)
    theirs = torch.nn.BCEWithLogitsLoss(reduction="sum")(tz, torch.tensor(y)) / 5
    theirs.backward()
    logits = Tensor(z.copy(), requires_grad=True)
    ours = F.one_vs_all_loss(logits, y)
    ours.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    np.testing.assert_allclose(logits.grad, tz.grad.numpy(), rtol=1e-10)
    y[y.sum(axis=1) == 0, 0] = 1.0
    q = y / y.sum(axis=1, keepdims=True)
    soft = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(q))
    assert F.soft_cross_entropy(Tensor(z), y).item() == pytest.approx(soft.item(), rel=1e-12)


def test_whole_network_loss_under_ova_is_gradient_checked():
    config = DeepAveragingConfig(
        vocab_size=6, num_classes=3, embed_dim=4, hidden_dims=(5,), loss="ova"
    )
    model = DeepAveragingNetwork(config, rng=0)
    model.to(np.float64)
    model.eval()
    ids = np.array([[1, 2, 3], [4, 5, 0]])
    mask = np.array([[True, True, True], [True, True, False]])
    targets = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    result = gradcheck(lambda *_: model((ids, mask), targets)[1], model.parameters())
    assert result.ok(1e-6), str(result)


def test_nb_table_of_label_sets_of_one_label_equals_that_of_class_ids():
    docs = [np.array([0, 1, 1]), np.array([2, 3]), np.array([1, 3]), np.array([0, 4])]
    ids = np.array([0, 2, 1, 2])
    one_hot = np.eye(3)[ids]
    np.testing.assert_array_equal(nb_table(docs, ids, 5, 3, 3), nb_table(docs, one_hot, 5, 3, 3))
    # a text of two classes counts in both
    sets = one_hot.copy()
    sets[0, 1] = 1.0
    table = nb_table(docs, sets, 5, 3, 3)
    assert not np.array_equal(table[:, 1], nb_table(docs, one_hot, 5, 3, 3)[:, 1])


# ---------------------------------------------------------------------------- the estimator


def _fit(data: Path, **settings) -> tuple[TextClassifier, list[str], list[tuple[str, ...]]]:
    texts, labels = read_labelled(str(data / "train.ft"))
    defaults = dict(embed_dim=16, epochs=20, lr=0.05)
    clf = TextClassifier.from_settings(**{**defaults, **settings}).fit(texts, labels)
    return clf, texts, labels


@pytest.mark.parametrize("wide", [False, True])
def test_label_sets_learned_with_independent_sigmoids(data, wide):
    clf, _, _ = _fit(data, wide=wide, features=[])
    assert clf.multi_label_ and clf.classes_.tolist() == ["money", "politics", "sport"]
    texts, truth = read_labelled(str(data / "test.ft"))
    probs = clf.predict_proba(texts)
    assert probs.shape == (100, 3)
    assert np.abs(probs.sum(axis=1) - 1).max() > 0.5  # each class its own, not a softmax
    predicted = clf.predict_labels(texts)
    report = multi_label_report(truth, predicted)
    assert report.precision > 0.95 and report.recall > 0.95, report
    assert clf.predict_labels(["bank stock vote election"]) == [("money", "politics")]
    assert clf.predict_labels(["bank stock vote election"], k=1) == [("money",)]
    top = clf.predict_top(["bank stock"], k=3, threshold=0.5)[0]
    assert [label for label, _ in top] == ["money"] and top[0][1] > 0.5
    assert clf.predict(["goal match"]).tolist() == ["sport"]  # the most probable label


def test_softmax_on_label_sets_spreads_the_probability(data):
    clf, _, _ = _fit(data, loss="softmax")
    probs = clf.predict_proba(["bank stock vote election"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    assert probs[0, 0] > 0.3 and probs[0, 1] > 0.3  # shared between the text's two labels


def test_ova_on_one_label_a_text(data):
    texts = ["bank stock", "vote law", "goal team"] * 10
    labels = ["money", "politics", "sport"] * 10
    clf = TextClassifier.from_settings(embed_dim=8, epochs=30, lr=0.05, loss="ova")
    clf.fit(texts, labels)
    assert not clf.multi_label_
    assert clf.predict(["vote law"]).tolist() == ["politics"]
    assert clf.model_.config.loss == "ova"


def test_multi_label_model_file_round_trip_and_older_files(data, tmp_path):
    clf, texts, _ = _fit(data, epochs=3)
    path = tmp_path / "m.npz"
    clf.save(path)
    loaded = TextClassifier.load(path)
    assert loaded.multi_label_ and loaded.model_.config.loss == "ova"
    np.testing.assert_array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))
    # A file from before multi-label: no "multi_label", no loss in the network, none in params
    single = TextClassifier.from_settings(embed_dim=8, epochs=2).fit(
        ["a good film", "a bad film"] * 5, ["pos", "neg"] * 5
    )
    single.save(path)
    meta, arrays = io.load_archive(path)
    assert "multi_label" not in meta
    for member in meta["network"]:
        del member["config"]["loss"]
    del meta["params"]["loss"]
    old = tmp_path / "old.npz"
    io.save_archive(old, "text_classifier", meta, arrays)
    loaded = TextClassifier.load(old)
    assert not loaded.multi_label_ and loaded.model_.config.loss == "softmax"
    np.testing.assert_array_equal(
        loaded.predict_proba(["a good film"]), single.predict_proba(["a good film"])
    )


def test_held_out_label_sets_judge_the_epochs(data):
    texts, labels = read_labelled(str(data / "train.ft"))
    held_texts, held_labels = read_labelled(str(data / "test.ft"))
    clf = TextClassifier.from_settings(embed_dim=8, epochs=4, lr=0.05, early_stopping=2)
    clf.fit(texts, labels, eval_set=(held_texts, held_labels))
    records = clf.history_.epochs
    assert all("valid_precision_at_1" in r and r["valid_loss"] > 0 for r in records)
    assert records[-1]["valid_loss"] < records[0]["valid_loss"]


def test_label_sets_refused_where_they_cannot_be_learned():
    from ffnlp.estimators import LexiconClassifier

    texts, sets = ["a b", "c d", "a d"], [("x", "y"), "x", ("y",)]
    with pytest.raises(ValueError, match="class_weight weighs the one class of each text"):
        TextClassifier.from_settings(epochs=1, class_weight="balanced").fit(texts, sets)
    with pytest.raises(ValueError, match="y holds label sets"):
        LexiconClassifier().fit(texts, sets)
    with pytest.raises(ValueError, match="text 1 has an empty label set"):
        TextClassifier.from_settings(epochs=1).fit(texts, [("x",), (), ("y",)])
    with pytest.raises(ValueError, match=r"threshold must be a number in \(0, 1\); got 0"):
        TextClassifier.from_settings(epochs=1).fit(texts, sets).predict_top(texts, 2, 0)


# ---------------------------------------------------------------------------- P@k and R@k


def test_precision_and_recall_at_k_by_hand():
    truth = [("a", "b"), ("b",), ("c",)]
    predicted = [["a", "c"], ["b"], []]  # 2 of 3 predictions right, 2 of 4 labels found
    report = multi_label_report(truth, predicted, k=2)
    assert report.precision == pytest.approx(2 / 3) and report.recall == pytest.approx(2 / 4)
    assert report.micro_f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # per label: a 1/1 and 1/1; b 1/1 and 1/2; c 0/1 and 0/1
    np.testing.assert_allclose(report.label_f1, [1.0, 2 / 3, 0.0])
    assert report.macro_f1 == pytest.approx(5 / 9)
    assert report.to_dict()["precision_at_2"] == pytest.approx(2 / 3)


def _fasttext_predictions(output: str) -> list[list[str]]:
    words = [line.split()[0::2] for line in output.splitlines()]
    return [[w.removeprefix("__label__") for w in line] for line in words]


@pytest.mark.parametrize(("k", "threshold"), [(1, None), (2, None), (3, None), (3, 0.4)])
def test_precision_at_k_as_fasttext_test_reports_it(data, tmp_path, k, threshold):
    """ffnlp's P@k and R@k of fastText's own predictions (``predict-prob``) equal what
    ``fasttext test`` prints for them, to its 3 significant digits."""
    fasttext = shutil.which("fasttext")
    if fasttext is None:
        pytest.skip("fastText is not installed (no 'fasttext' on PATH)")
    model = tmp_path / "ft"
    subprocess.run(
        [
            fasttext,
            "supervised",
            "-input",
            str(data / "train.ft"),
            "-output",
            str(model),
            "-loss",
            "ova",
            "-epoch",
            "5",
            "-lr",
            "0.3",
            "-thread",
            "1",
            "-verbose",
            "0",
        ],
        check=True,
        capture_output=True,
    )
    extra = [] if threshold is None else [str(threshold)]
    args = [str(model) + ".bin", str(data / "test.ft"), str(k), *extra]
    said = subprocess.run([fasttext, "test", *args], check=True, capture_output=True, text=True)
    printed = dict(line.split("\t") for line in said.stdout.splitlines())
    out = subprocess.run([fasttext, "predict-prob", *args], check=True, capture_output=True)
    predicted = _fasttext_predictions(out.stdout.decode())
    _, truth = read_labelled(str(data / "test.ft"))
    report = multi_label_report(truth, predicted, k, threshold or 0.0)
    assert printed["N"] == "100"
    assert f"{report.precision:.3g}" == printed[f"P@{k}"]
    assert f"{report.recall:.3g}" == printed[f"R@{k}"]
    assert 0 < report.recall < 1 or k == 3  # a case where the numbers say something


# ---------------------------------------------------------------------------- the command line


def test_train_test_predict_on_the_command_line(data, tmp_path, capsys):
    model = str(tmp_path / "m.npz")
    train = ["classify", "train", str(data / "train.ft"), "--out", model, "--no-progress"]
    assert main([*train, "--epochs", "10", "--lr", "0.01"]) == 0
    capsys.readouterr()
    assert main(["classify", "test", model, str(data / "test.ft"), "-k", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["k"] == 2 and report["texts"] == 100
    assert report["precision_at_2"] > 0.8 and report["recall_at_2"] > 0.8
    assert set(report["labels"]) == {"money", "politics", "sport"}
    assert main(["classify", "test", model, str(data / "test.ft")]) == 0
    shown = capsys.readouterr().out
    assert "P@1" in shown and "R@1" in shown and "macro F1" in shown
    texts = tmp_path / "texts.txt"
    texts.write_text("bank stock vote election\nthe a of\n")
    assert main(["classify", "predict", model, str(texts), "-k", "3", "--threshold", "0.5"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert sorted(cell.split()[0] for cell in first.split("\t")[:-1]) == ["money", "politics"]
    assert all(float(cell.split()[1]) >= 0.5 for cell in first.split("\t")[:-1])
    assert second.split("\t")[-1] == "the a of"
    argv = ["classify", "predict", model, str(texts), "-k", "3", "--threshold", "0.5"]
    assert main([*argv, "--output-format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 3 and all(len(row.split(",")) == 7 for row in rows)  # padded
    assert main(["classify", "cv", str(data / "train.ft")]) == 2
    assert "classify cv splits texts of one label each" in capsys.readouterr().err
    assert main([*train, "--auto"]) == 2
    assert "--auto learns one label per text" in capsys.readouterr().err


@pytest.mark.parametrize("wide", [False, True])
def test_multi_label_model_exported_to_onnx(data, wide):
    pytest.importorskip("onnx", reason="ONNX export needs the onnx package (ffnlp[onnx])")
    ort = pytest.importorskip("onnxruntime", reason="the export is checked by onnxruntime")
    from ffnlp.export import classifier_inputs, classifier_to_onnx

    clf, texts, _ = _fit(data, epochs=3, wide=wide, hidden_dims=(8,))
    queries = [*texts[:20], "bank stock vote", "zebra"]
    ids, mask = classifier_inputs(clf, queries)
    model = classifier_to_onnx(clf).SerializeToString()
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    _, probs = session.run(None, {"ids": ids, "mask": mask})
    np.testing.assert_allclose(probs, clf.predict_proba(queries), atol=1e-5)
    assert np.abs(probs.sum(axis=1) - 1).max() > 0.1  # sigmoids, not a softmax
