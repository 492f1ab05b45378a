"""The command line, run in-process through main(argv) and once as a real process."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

import ffnlp
from ffnlp.cli import main


def test_info_prints_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"ffnlp   {ffnlp.__version__}" in out
    assert "numpy" in out
    from ffnlp.backend import kernels

    assert ("(the optimizer update of large parameters, compiled)" in out) == kernels.available


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: ffnlp" in capsys.readouterr().out


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ffnlp {ffnlp.__version__}"


def test_unknown_command_exits_2_without_a_traceback(capsys):
    assert main(["fly"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'fly'" in err and "Traceback" not in err


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "ffnlp", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"ffnlp {ffnlp.__version__}"


CORPUS = "the cat sat on the mat\nthe dog sat on the log\na cat ate the fish\n" * 3
LABELLED = "__label__pos a great film\n__label__neg a dull film\n" * 4


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A small LM, a classifier and texts for them, made once."""
    root = tmp_path_factory.mktemp("models")
    (root / "corpus.txt").write_text(CORPUS)
    (root / "labelled.ft").write_text(LABELLED)
    # more output than a pipe holds (64 KiB), so the reader goes away before the end
    (root / "texts.txt").write_text((" ".join(["a great film"] * 8) + "\n") * 20_000)
    lm = ["lm", "train", str(root / "corpus.txt"), "--out", str(root / "lm.npz")]
    assert main([*lm, "--context-size", "2", "--embed-dim", "4", "--hidden", "8"]) == 0
    clf = ["classify", "train", str(root / "labelled.ft"), "--out", str(root / "clf.npz")]
    assert main([*clf, "--embed-dim", "4", "--epochs", "1", "--no-progress"]) == 0
    return root


def test_options_and_positionals_in_any_order(models, capsys):
    """An option between two positionals (argparse would take FILE for an extra argument)."""
    capsys.readouterr()
    texts = models / "two.txt"
    texts.write_text("a great film\na dull film\n")
    assert main(["classify", "predict", str(models / "clf.npz"), "-k", "2", str(texts)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.count("\t") == 2 for line in lines)  # 2 labels, text
    assert main(["lm", "predict", str(models / "lm.npz"), "-k", "3", "--", "the", "cat"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    prompt, words = line.split("\t")
    assert prompt == "the cat" and len(words.split("  ")) == 3


def test_an_unknown_option_gets_the_subcommands_usage_and_the_closest_option(models, capsys):
    capsys.readouterr()
    argv = ["classify", "test", str(models / "clf.npz"), str(models / "labelled.ft")]
    assert main([*argv, "--jsn"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ffnlp classify test [-h]")
    assert err.splitlines()[-1] == (
        "ffnlp classify test: error: unrecognized arguments: --jsn (did you mean --json?)"
    )
    assert main([*argv, "--no-progress"]) == 2  # a training flag: nothing close
    err = capsys.readouterr().err
    assert "usage: ffnlp classify test" in err and "usage: ffnlp [-h]" not in err
    assert err.splitlines()[-1] == (
        "ffnlp classify test: error: unrecognized arguments: --no-progress "
        "(ffnlp classify test has no --no-progress; see ffnlp classify test --help)"
    )


def test_a_closed_pipe_ends_quietly(models):
    """``ffnlp classify predict ... | head -1``: exit 141 (SIGPIPE's, as ``yes | head``
    under pipefail), and nothing on stderr."""
    files = ("clf.npz", "texts.txt")
    predict = subprocess.Popen(
        [sys.executable, "-m", "ffnlp", "classify", "predict", *(str(models / f) for f in files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = predict.stdout.readline()
    predict.stdout.close()  # what head does after its line
    err = predict.stderr.read().decode()
    assert predict.wait(timeout=60) == 141, err
    assert first.decode().endswith("\t" + " ".join(["a great film"] * 8) + "\n")
    assert err == ""


def _parsers(parser, prog="ffnlp"):
    """Every parser of the command line, the top one first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_help_shows_each_default_once_and_none_on_required_options():
    from ffnlp.cli import build_parser

    seen = 0
    for parser in _parsers(build_parser()):
        text = parser.format_help()
        assert "(default: None)" not in text, parser.prog
        assert "(default: False)" not in text, parser.prog
        for action in parser._actions:
            shown = parser._get_formatter()._expand_help(action) if action.help else ""
            assert shown.lower().count("default") <= 1, (parser.prog, action.dest)
            if action.required and action.option_strings:
                assert "default" not in shown, (parser.prog, action.dest)
            seen += 1
    assert seen > 200
    help_text = build_parser()._subparsers._group_actions[0].choices["lm"]
    train = help_text._subparsers._group_actions[0].choices["train"].format_help()
    train = " ".join(train.split())
    assert "--out OUT where to write the model text:" in train  # required: no default
    assert "the model sees (N) (default: 4)" in train  # --context-size: a real default, shown


def test_info_lists_the_optional_parts_and_what_each_adds(capsys, monkeypatch):
    import importlib.metadata
    import shutil

    real_version = importlib.metadata.version

    def version(name):
        if name == "tqdm":
            raise importlib.metadata.PackageNotFoundError(name)
        return {"matplotlib": "3.9.0", "threadpoolctl": "3.5.0", "mpi4py": "4.0.0"}.get(
            name
        ) or real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/dot" if name == "dot" else None)
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    parts = [" ".join(line.split()) for line in lines[lines.index("optional parts:") + 1 :]]
    assert parts == [
        "tqdm not installed progress bars while training, on a terminal: ffnlp[progress]",
        "matplotlib 3.9.0 ffnlp plot and plot-embeddings, the demo's pictures, graph "
        "pictures without Graphviz",
        "threadpoolctl 3.5.0 --threads for the BLAS matrix products, and the BLAS line above",
        "Graphviz dot /usr/bin/dot ffnlp graph drawn by Graphviz (else matplotlib draws it)",
        "mpi4py 4.0.0 data-parallel training under mpirun -n K",
    ]
