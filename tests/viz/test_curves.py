"""Training curves from JSON-lines logs, and 2-D pictures of embeddings."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

from ffnlp.viz import curves
from ffnlp.viz.curves import read_log
from ffnlp.viz.embeddings import pca_2d


def _write_log(path, runs):
    with open(path, "w") as handle:
        for run in runs:
            handle.write(json.dumps({"run": "lm train"}) + "\n")
            for record in run:
                handle.write(json.dumps(record) + "\n")


def _epochs(n, accuracy=False):
    out = []
    for epoch in range(1, n + 1):
        out.append({"step": 10 * epoch - 5, "epoch": epoch, "train_loss": 5.0 / epoch, "lr": 0.1})
        record = {
            "epoch": epoch,
            "step": 10 * epoch,
            "train_loss": 4.0 / epoch,
            "seconds": 1.0,
            "valid_loss": 4.5 / epoch,
        }
        if accuracy:
            record["valid_accuracy"] = 0.5 + epoch / 20
        else:
            record["train_ppl"], record["valid_ppl"] = np.exp(4.0 / epoch), np.exp(4.5 / epoch)
        out.append(record)
    return out


def test_read_log_keeps_the_last_run_and_sorts_steps_from_epochs(tmp_path):
    _write_log(tmp_path / "m.npz.log.jsonl", [_epochs(5), _epochs(3)])
    run = read_log(tmp_path / "m.npz")  # a model path finds the log beside it
    assert run.name == "m.npz" and len(run.epochs) == 3 and len(run.steps) == 3
    assert run.steps_per_epoch() == 10


def test_read_log_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="no training log"):
        read_log(tmp_path / "absent.npz")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(ValueError, match="line 1 is not JSON"):
        read_log(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text('{"run": "x"}\n')
    with pytest.raises(ValueError, match="no training records"):
        read_log(tmp_path / "empty.jsonl")


def test_plot_runs_draws_several_runs_on_one_png(tmp_path):
    pytest.importorskip("matplotlib")
    _write_log(tmp_path / "lm.log.jsonl", [_epochs(4)])
    _write_log(tmp_path / "clf.log.jsonl", [_epochs(4, accuracy=True)])
    out = curves.plot_runs(
        [tmp_path / "lm.log.jsonl", tmp_path / "clf.log.jsonl"], tmp_path / "c.png", ["lm", "clf"]
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert curves._panels(
        [read_log(tmp_path / "lm.log.jsonl"), read_log(tmp_path / "clf.log.jsonl")]
    ) == [
        ("loss", "loss (cross-entropy, nats)"),
        ("ppl", "perplexity"),
        ("accuracy", "accuracy"),
    ]


def test_without_matplotlib_the_error_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'ffnlp\[plot\]'"):
        curves.pyplot()


def test_pca_2d_matches_the_principal_components():
    rng = np.random.default_rng(0)
    # points spread along (1, 1, 0) most, then along (1, -1, 0)
    x = rng.normal(size=(200, 1)) * 5 * np.array([[1, 1, 0]]) + rng.normal(
        size=(200, 1)
    ) * np.array([[1, -1, 0]])
    x = x + rng.normal(scale=0.01, size=x.shape) + 7
    points = pca_2d(x)
    assert points.shape == (200, 2)
    centred = x - x.mean(axis=0)
    first = centred @ (np.array([1, 1, 0]) / np.sqrt(2))
    assert abs(np.corrcoef(points[:, 0], first)[0, 1]) > 0.999
    assert points[:, 0].var() > 10 * points[:, 1].var()
    sklearn = pytest.importorskip("sklearn.decomposition")
    reference = sklearn.PCA(2).fit_transform(x)
    np.testing.assert_allclose(np.abs(points), np.abs(reference), atol=1e-8)


def test_pca_2d_rejects_a_single_vector():
    with pytest.raises(ValueError, match="V >= 2"):
        pca_2d(np.ones((1, 4)))


def test_plot_embeddings_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from ffnlp.viz.embeddings import plot_embeddings

    words = [f"w{i}" for i in range(30)]
    out = plot_embeddings(
        np.random.default_rng(0).normal(size=(30, 5)), words, tmp_path / "e.png", label=10
    )
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 10_000


def test_read_runs_gives_every_appended_run_and_one_run_across_a_resume(tmp_path):
    path = tmp_path / "m.npz.log.jsonl"
    _write_log(path, [_epochs(2), _epochs(3), _epochs(1)])
    with open(path, "a") as handle:  # the last run was interrupted, then resumed
        handle.write(json.dumps({"resumed": "m.npz.ckpt", "epoch": 2, "step": 10}) + "\n")
        for record in _epochs(2)[2:]:
            handle.write(json.dumps(record) + "\n")
    runs = curves.read_runs(path)
    assert [r.name for r in runs] == ["m.npz run 1", "m.npz run 2", "m.npz run 3"]
    assert [len(r.epochs) for r in runs] == [2, 3, 2] and runs[2].resumed_at == [10]
    assert [len(r.steps) for r in runs] == [2, 3, 2]  # the resume record is not a step
    chosen, notes = curves.select_runs([path])
    assert len(chosen) == 3 and "holds 3 runs" in notes[0] and "--run N" in notes[0]
    (picked,), notes = curves.select_runs([path], ["mine"], run=-1)
    assert picked.name == "mine" and len(picked.epochs) == 2 and notes == []
    with pytest.raises(ValueError, match=r"--run 4: .* holds 3 runs \(give 1 to 3"):
        curves.select_runs([path], run=4)


def test_content_words_skip_function_words_punctuation_and_specials():
    from ffnlp.viz.embeddings import content_words

    words = ["<unk>", "the", ",", "'s", "n't", "N", "market", "of", "Stock", "$", "u.s.", "x"]
    assert [words[i] for i in content_words(words, 10)] == ["market", "Stock", "u.s."]
    assert content_words(words, 1) == [6]


def test_labels_never_overlap_and_those_without_room_are_left_out():
    pytest.importorskip("matplotlib")
    from ffnlp.viz.embeddings import place_labels

    plt = curves.pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.02, size=(40, 2)), [[0.9, 0.9]]])  # a clump, and one
    ax.scatter(points[:, 0], points[:, 1])
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    texts = [f"word{i}" for i in range(len(points))]
    written = place_labels(ax, points, texts)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    plt.close(fig)
    assert len(boxes) == len(written) and 4 <= len(written) < 40  # the clump has little room
    assert written[0] == 0 and 40 in written  # first come, first placed; the lone one fits
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)
