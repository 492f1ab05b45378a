"""Crash safety of the training commands, with real processes: a run killed by SIGKILL and
resumed with --resume ends with the same weights, bit for bit, as a run never interrupted;
Ctrl-C and SIGTERM save a checkpoint, say how to resume and exit 130 / 143."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.estimators import TextClassifier
from ffnlp.models.language_model import FeedforwardLM

WORDS = "the a cat dog bird sat ate on under fish mat log worm bone fence big small red".split()


def _corpus(tmp_path):
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, size=8)) for _ in range(250)]
    train = tmp_path / "train.txt"
    train.write_text("\n".join(lines) + "\n")
    valid = tmp_path / "valid.txt"
    valid.write_text("\n".join(lines[:20]) + "\n")
    return train, valid


def _labelled(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(300):
        label = "pos" if i % 2 else "neg"
        words = [*rng.choice(WORDS, size=6).tolist(), "good" if i % 2 else "bad"]
        rows.append(f"__label__{label} {' '.join(words)}")
    path = tmp_path / "train.ft"
    path.write_text("\n".join(rows) + "\n")
    return path


def _lm_argv(tmp_path, out):
    train, valid = _corpus(tmp_path)
    return [
        *("lm", "train", str(train), "--valid", str(valid), "--out", str(out)),
        *("--context-size", "2", "--embed-dim", "8", "--hidden", "16", "--dropout", "0.2"),
        *("--epochs", "4", "--batch-size", "4", "--lr", "0.01", "--early-stopping", "0"),
        "--no-progress",
    ]


def _classify_argv(tmp_path, out):
    return [
        *("classify", "train", str(_labelled(tmp_path)), "--out", str(out)),
        *("--embed-dim", "8", "--hidden", "8", "--dropout", "0.2", "--word-dropout", "0.1"),
        *("--bigrams", "--buckets", "64", "--epochs", "6", "--batch-size", "2", "--lr", "0.01"),
        "--no-progress",
    ]


def _start(argv, stderr=subprocess.PIPE):
    return subprocess.Popen(
        [sys.executable, "-m", "ffnlp", *argv], stdout=subprocess.PIPE, stderr=stderr, text=True
    )


def _wait_for(process, ready, what, timeout=60.0):
    """Poll until ``ready()`` (the run is in the middle of training), or fail."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the run ended (code {process.returncode}) before {what}:\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _same_lm(a, b):
    a, b = FeedforwardLM.load(a).state_dict(), FeedforwardLM.load(b).state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _same_classifier(a, b):
    a, b = TextClassifier.load(a).model_.state_dict(), TextClassifier.load(b).model_.state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _epochs(log):
    """The epoch records of a log, without the timings (which differ from run to run)."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    keep = ("epoch", "step", "train_loss", "valid_loss", "lr", "best")
    return [{k: r[k] for k in keep} for r in records if "valid_loss" in r]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted runs, once for the module: command -> model file."""
    root = tmp_path_factory.mktemp("reference")
    models = {"lm": root / "reference.npz", "classify": root / "reference-clf.npz"}
    assert main(_lm_argv(root, models["lm"])) == 0
    assert main(_classify_argv(root, models["classify"])) == 0
    return models


@pytest.mark.slow
def test_lm_killed_by_sigkill_then_resumed_equals_an_uninterrupted_run(tmp_path, capsys, reference):

    out = tmp_path / "lm.npz"
    argv = [*_lm_argv(tmp_path, out), "--checkpoint-every", "40"]
    checkpoint = tmp_path / "lm.npz.ckpt"
    process = _start(argv)
    _wait_for(process, checkpoint.exists, "the first checkpoint")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and not out.exists()

    code = main([*argv, "--resume"])
    assert code == 0, capsys.readouterr().err
    _same_lm(out, reference["lm"])
    log = reference["lm"].with_name("reference.npz.log.jsonl")
    assert _epochs(tmp_path / "lm.npz.log.jsonl") == _epochs(log)
    assert not checkpoint.exists()  # a finished run leaves no checkpoint behind


@pytest.mark.slow
def test_classifier_killed_by_sigkill_then_resumed_equals_an_uninterrupted_run(
    tmp_path, capsys, reference
):
    out = tmp_path / "clf.npz"
    argv = [*_classify_argv(tmp_path, out), "--checkpoint-every", "25"]
    checkpoint = tmp_path / "clf.npz.ckpt"
    process = _start(argv)
    _wait_for(process, checkpoint.exists, "the first checkpoint")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and not out.exists()
    assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
    _same_classifier(out, reference["classify"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "signal_number", "code"),
    [("lm", signal.SIGINT, 130), ("classify", signal.SIGTERM, 143)],
)
def test_a_signal_saves_a_checkpoint_and_says_how_to_resume(
    tmp_path, capsys, reference, command, signal_number, code
):
    make_argv, same = (
        (_lm_argv, _same_lm) if command == "lm" else (_classify_argv, _same_classifier)
    )
    out = tmp_path / "model.npz"
    # No --checkpoint-every: the signal alone saves one. With progress lines, to see when
    # training is under way.
    argv = [a for a in make_argv(tmp_path, out) if a != "--no-progress"]
    checkpoint = tmp_path / "model.npz.ckpt"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = _start(argv, stderr)
        _wait_for(process, lambda: "step 100/" in log.read_text(), "the first steps")
        process.send_signal(signal_number)
        process.wait(timeout=60)
    err = log.read_text()
    assert process.returncode == code, err
    name = signal.Signals(signal_number).name
    assert f"interrupted by {name} at epoch" in err and "Traceback" not in err
    assert f"checkpoint saved to {str(checkpoint)!r}" in err
    resume_line = next(line for line in err.splitlines() if line.startswith("resume with: "))
    assert resume_line.endswith(" --resume") and f"ffnlp {command} train" in resume_line
    assert checkpoint.exists() and not out.exists()
    assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
    same(out, reference[command])


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "lm.npz"
    out.write_bytes(b"precious")
    code = main([*_lm_argv(tmp_path, out), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot resume: there is no checkpoint" in err
    assert "Traceback" not in err and out.read_bytes() == b"precious"


def _crash_at_step(monkeypatch, argv, crash_at):
    """Run ``argv`` in-process with a checkpoint after every step, the machine going down
    during step ``crash_at``: the run fails and its checkpoint (of the step before) stays."""
    import ffnlp.train

    step = ffnlp.train.optim.Optimizer.step
    calls = []

    def crash(self):
        calls.append(1)
        if len(calls) == crash_at:
            raise OSError("the machine went down")
        step(self)

    with monkeypatch.context() as patch:
        patch.setattr(ffnlp.train.optim.Optimizer, "step", crash)
        assert main([*argv, "--checkpoint-every", "1"]) == 2


@pytest.mark.parametrize("command", ["lm", "classify"])
def test_a_resumed_run_says_where_it_resumes_counts_its_own_throughput_and_plots_whole(
    command, tmp_path, capsys, monkeypatch
):
    make_argv = _lm_argv if command == "lm" else _classify_argv
    out = tmp_path / "model.npz"
    argv = make_argv(tmp_path, out)
    checkpoint = tmp_path / "model.npz.ckpt"
    _crash_at_step(monkeypatch, argv, crash_at=6)
    saved = checkpoint.read_bytes()
    capsys.readouterr()

    # The same command again, without --resume: refused, and the checkpoint kept.
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"ffnlp {command} train: error: {str(checkpoint)!r} holds the checkpoint of an "
        "unfinished run of this model: go on from it with --resume, or remove it to start "
        "afresh"
    ) in err
    assert checkpoint.read_bytes() == saved and not out.exists()

    assert main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resuming from step 5 (epoch 1, batch 5 of " in err
    assert f"of {str(checkpoint)!r}" in err
    records = [json.loads(line) for line in (tmp_path / "model.npz.log.jsonl").open()]
    assert sum("run" in r for r in records) == 1  # one run, across the resume
    first = next(r for r in records if "seconds" in r)
    examples = {"lm": 250 * 9, "classify": 300}[command]  # 250 lines of 8 words and </s>
    done_before = 5 * (4 if command == "lm" else 2)  # 5 batches of 4 (lm) or 2 texts
    # this run's examples over this run's time, not the epoch's over this run's time
    assert first["examples_per_second"] * first["seconds"] == pytest.approx(
        examples - done_before, rel=1e-6
    )
    assert main(["plot", str(out), "--out", str(tmp_path / "curves.png")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {str(tmp_path / 'curves.png')!r}: 1 run"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
