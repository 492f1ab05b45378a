"""The ``ffnlp`` command line.

Every subcommand is a function ``run_NAME(args) -> int``; :func:`main` parses the
arguments, runs one, and turns the errors a user can cause (bad values, missing files) into
one line on stderr and a non-zero exit code instead of a traceback.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence

import numpy as np

import ffnlp

EXIT_USAGE = 2  # bad arguments or input: the user can fix it
EXIT_FAILURE = 1  # anything else that went wrong


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ffnlp",
        description="Feedforward neural networks for NLP, built on NumPy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ffnlp {ffnlp.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser(
        "info",
        help="show the versions and the BLAS library ffnlp runs on",
        description="Show ffnlp's version, Python's and NumPy's, and the BLAS library that "
        "does the matrix products (with its thread count when threadpoolctl is installed).",
    )
    info.set_defaults(handler=run_info)
    return parser


def run_info(args: argparse.Namespace) -> int:
    print(f"ffnlp   {ffnlp.__version__}")
    print(f"python  {platform.python_version()} ({platform.machine()})")
    print(f"numpy   {np.__version__}")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        print("blas    (install ffnlp[threads] to see the BLAS library and its threads)")
        return 0
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            print(
                f"blas    {pool.get('internal_api')} {pool.get('version')}, {pool.get('num_threads')} threads"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except (ValueError, TypeError, OSError) as err:
        print(f"ffnlp {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"ffnlp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
