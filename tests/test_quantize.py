"""Small models: product quantization (ffnlp.quantize) and quantized classifiers."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.estimators import Bigrams, TextClassifier, load_classifier
from ffnlp.quantize import QuantizedRows, kmeans, quantize_rows

# ---------------------------------------------------------------------------- k-means and PQ


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + 0.01 * rng.normal(size=(50, 2)) for c in centers])
    found = kmeans(x, 3, np.random.default_rng(1))
    nearest_center = np.abs(found[:, None, :] - centers[None]).max(axis=2).min(axis=1)
    assert nearest_center.max() < 0.01  # each centroid on a cluster's center
    assert len({tuple(np.round(c)) for c in found}) == 3  # one on each


def test_kmeans_is_seeded():
    x = np.random.default_rng(0).normal(size=(500, 2))
    a = kmeans(x, 16, np.random.default_rng(3))
    b = kmeans(x, 16, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, kmeans(x, 16, np.random.default_rng(4)))


def test_few_rows_are_coded_exactly():
    # 200 rows: a codebook of 200 centroids per part holds every row's part as it is.
    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    q = quantize_rows(x, dsub=2)
    assert q.codes.shape == (200, 3) and q.codes.dtype == np.uint8  # 2 + 2 + 1 dims
    assert q.codebooks.shape == (3, 200, 2)
    np.testing.assert_allclose(q.decode(), x, atol=2e-3)  # float16 centroids


def test_error_grows_with_the_part_size_and_qnorm_keeps_norms():
    x = np.random.default_rng(1).normal(size=(3000, 8)).astype(np.float32)
    errors = [np.mean((quantize_rows(x, d).decode() - x) ** 2) for d in (1, 2, 4)]
    assert errors[0] < 1e-3 < errors[1] < errors[2] < 0.5
    q = quantize_rows(x, 4, qnorm=True)
    norms = np.linalg.norm(x, axis=1)
    assert q.norm_codes.shape == (3000,)
    levels = q.norm_codebook.astype(np.float32)[q.norm_codes]
    assert np.abs(levels - norms).mean() < 0.01  # 256 levels over a spread of about 3


def test_codes_round_trip_through_arrays_and_refuse_misfits():
    x = np.random.default_rng(2).normal(size=(300, 6)).astype(np.float32)
    q = quantize_rows(x, 3, qnorm=True)
    arrays = q.arrays("t.")
    again = QuantizedRows.from_arrays(arrays, "t.", 6)
    np.testing.assert_array_equal(again.decode(), q.decode())
    with pytest.raises(ValueError, match="do not fit together"):
        QuantizedRows.from_arrays(arrays, "t.", 7)
    arrays["t.codes"] = arrays["t.codes"].astype(np.int16)
    with pytest.raises(ValueError, match="do not fit together"):
        QuantizedRows.from_arrays(arrays, "t.", 6)
    with pytest.raises(ValueError, match="N >= 1"):
        quantize_rows(np.zeros((0, 4)))


# ---------------------------------------------------------------------------- classifiers

POS = "good great fun fine superb lovely".split()
NEG = "bad dull awful poor boring flat".split()


def _texts(n, seed):
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(300)]
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = [*rng.choice(filler, 6), *rng.choice(POS if label else NEG, 2)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append("pos" if label else "neg")
    return texts, labels


@pytest.fixture(scope="module")
def fitted():
    X, y = _texts(600, 0)
    clf = TextClassifier(
        features=[Bigrams()],
        wide=True,
        network={"embed_dim": 16, "hidden_dims": (20,)},
        training={"epochs": 5, "lr": 0.01},
    ).fit(X, y)
    return clf, X, y, _texts(200, 1)


def test_quantized_classifier_predicts_close_to_the_original(fitted, tmp_path):
    clf, _, _, (Xt, _) = fitted
    small = clf.quantize(dsub=2, qnorm=True)
    p0, p1 = clf.predict_proba(Xt), small.predict_proba(Xt)
    assert np.abs(p0 - p1).max() < 0.05
    assert (clf.predict(Xt) == small.predict(Xt)).mean() >= 0.99
    assert not hasattr(clf, "quantized_")  # the original is untouched
    # every embedding table, the wide tower's too, is coded
    assert {"member0.embedding.weight", "member1.embedding.weight"} <= set(small.quantized_.tables)
    clf.save(tmp_path / "full.npz")
    small.save(tmp_path / "small.npz")
    full, tiny = ((tmp_path / n).stat().st_size for n in ("full.npz", "small.npz"))
    assert tiny < full / 6


def test_quantized_file_round_trips(fitted, tmp_path):
    clf, X, y, (Xt, _) = fitted
    small = clf.quantize(cutoff=800, dsub=4, qnorm=True, qout=True, retrain=True, X=X, y=y)
    small.save(tmp_path / "small.npz")
    loaded = load_classifier(tmp_path / "small.npz")
    np.testing.assert_array_equal(loaded.predict_proba(Xt), small.predict_proba(Xt))
    assert loaded.quantized_.describe() == "cutoff 800, dsub 4, qnorm, qout, retrain"
    assert loaded.quantized_.kept.sum() == 800
    copied = copy.deepcopy(loaded)  # as scikit-learn's clone and a pickle would copy it
    np.testing.assert_array_equal(copied.predict_proba(Xt), small.predict_proba(Xt))
    loaded.save(tmp_path / "again.npz")  # saved again: the same codes, the same file size
    assert (tmp_path / "again.npz").stat().st_size == (tmp_path / "small.npz").stat().st_size


def test_cutoff_drops_the_rows_of_least_norm_from_the_texts(fitted):
    clf, _, _, (Xt, yt) = fitted
    small = clf.quantize(cutoff=50)
    kept = small.quantized_.kept
    assert kept.sum() == 50
    sentiment = clf.vocab_.encode(POS + NEG)
    assert kept[sentiment].all()  # the words that decide are the largest rows
    rows, _ = small._fitted.encoder.rows([["w1", "good", "w2"]])
    assert kept[rows].all() and rows.tolist().count(clf.vocab_.encode(["good"])[0]) == 1
    assert (small.predict(Xt) == np.array(yt)).mean() > 0.95
    assert not small.model_.members[1].embedding.weight.data[~kept].any()


def test_retrain_moves_the_dense_layers_only_and_qout_levels_them(fitted):
    clf, X, y, _ = fitted
    plain = clf.quantize(dsub=2)
    retrained = clf.quantize(dsub=2, retrain=True, X=X, y=y, epochs=1, qout=True)
    deep, again = plain.model_.members[0], retrained.model_.members[0]
    np.testing.assert_array_equal(deep.embedding.weight.data, again.embedding.weight.data)
    weight = dict(again.mlp.named_parameters())["0.weight"].data
    assert not np.array_equal(dict(deep.mlp.named_parameters())["0.weight"].data, weight)
    assert len(np.unique(weight)) <= 256 < weight.size


def test_quantize_refuses_bad_settings(fitted):
    clf = fitted[0]
    small = clf.quantize(dsub=8)
    with pytest.raises(ValueError, match=r"already quantized \(dsub 8\); quantize the original"):
        small.quantize()
    with pytest.raises(ValueError, match="give the training texts and labels"):
        clf.quantize(retrain=True)
    with pytest.raises(ValueError, match="dsub must be a positive integer; got 0"):
        clf.quantize(dsub=0)
    with pytest.raises(ValueError, match="cutoff must be a non-negative integer; got -1"):
        clf.quantize(cutoff=-1)


def test_the_command_line_quantizes_and_the_small_file_predicts(tmp_path, capsys):
    X, y = _texts(300, 2)
    train = tmp_path / "train.ft"
    train.write_text("".join(f"__label__{b} {a}\n" for a, b in zip(X, y)))
    model, small = tmp_path / "m.npz", tmp_path / "small.npz"
    argv = ["classify", "train", str(train), "--out", str(model), "--no-progress"]
    assert main([*argv, "--embed-dim", "8", "--epochs", "2", "--contrast-words", "but"]) == 0
    args = ["classify", "quantize", str(model), str(train), "--out", str(small)]
    assert main([*args, "--qnorm", "--retrain", "--epochs", "1", "--cutoff", "500"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "(1/" in out and "cutoff 500, dsub 2, qnorm, retrain)" in out
    assert small.stat().st_size < model.stat().st_size / 4
    accuracies = []
    for path in (model, small):
        assert main(["classify", "test", str(path), str(train), "--json"]) == 0
        accuracies.append(json.loads(capsys.readouterr().out.strip())["accuracy"])
    assert accuracies[0] > 0.8 and abs(accuracies[1] - accuracies[0]) < 0.03
    loaded = load_classifier(small)
    assert loaded.words == ("but",)  # the contrast words stay around the small classifier
    assert loaded.estimator_.quantized_.kept.sum() == 500
