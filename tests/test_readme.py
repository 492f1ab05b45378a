"""The README stays true: its Python examples run as written and print what it shows, and
CI runs its test command word for word."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    return out.getvalue()


def test_quickstart_runs_and_prints_the_loss_falling_as_shown():
    python_blocks = _blocks("python")
    quickstart = python_blocks[0]
    printed = _run(quickstart)
    shown = re.search(r"It prints:\n\n```\n(.*?)```", README, flags=re.S).group(1)
    assert printed == shown
    losses = [float(x) for x in re.findall(r"loss (\d+\.\d+)", printed)]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] / 10


def test_every_other_python_example_runs():
    for code in _blocks("python")[1:]:
        printed = _run(code)
        for comment in re.findall(r"# (-?\d.*)$", code, flags=re.M):
            assert comment.split() == printed.split()


def test_ci_runs_the_readme_test_command():
    command = _blocks("bash")[-1].strip()
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
