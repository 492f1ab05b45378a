"""The ``ffnlp`` command (and ``python -m ffnlp``): tune the process, then run the CLI.

:func:`ffnlp.backend.tune_process` runs here, before anything imports NumPy, because
OpenBLAS reads its thread timeout once, when NumPy loads it; :mod:`ffnlp.cli` is imported
only afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Tune the process (see :mod:`ffnlp.backend.process`), then run the command line with
    ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from ffnlp.backend.process import tune_process

    tune_process()
    from ffnlp.cli import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
