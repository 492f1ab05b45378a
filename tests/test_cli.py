"""The command line, run in-process through main(argv) and once as a real process."""

from __future__ import annotations

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
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"ffnlp {ffnlp.__version__}"


def test_unknown_command_exits_2_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'fly'" in err and "Traceback" not in err


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "ffnlp", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"ffnlp {ffnlp.__version__}"
