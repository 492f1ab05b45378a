"""The ``ffnlp`` command line.

Text classification:

    ffnlp classify train TRAIN --out MODEL             pooled embeddings or lexicon features
    ffnlp classify test MODEL TEST                     accuracy, P/R/F1, confusion matrix
    ffnlp classify predict MODEL [FILE]                top-k labels with probabilities
    ffnlp classify cv DATA --folds 10                  stratified cross-validation

Language models:

    ffnlp lm train TRAIN --valid VALID --out MODEL     a feedforward neural LM
    ffnlp ngram train TRAIN --order 5 --out MODEL      a Kneser-Ney n-gram LM
    ffnlp {lm,ngram} eval MODEL TEST                   perplexity (lm: --ngram mixes both)
    ffnlp {lm,ngram} score MODEL [FILE]                log-probability of each sentence
    ffnlp {lm,ngram} predict MODEL [PROMPT ...]        the most likely next words
    ffnlp {lm,ngram} generate MODEL                    sampled sentences
    ffnlp ngram eval|score|predict|generate FILE.arpa  the same on an ARPA file (KenLM, SRILM)

Files for other tools:

    ffnlp export MODEL --format onnx --out M.onnx      a classifier or neural LM for ONNX runtimes

Word vectors (of a neural LM or a classifier):

    ffnlp vectors MODEL --out FILE.vec                 the embeddings in word2vec's text format
    ffnlp neighbours MODEL WORD ... [-k 10]            nearest words by cosine similarity
    ffnlp analogies MODEL A B C                        A is to B as C is to ? (3CosAdd)
    ffnlp sentence-vectors MODEL [FILE]                the pooled vector of each text

Pictures, the demo and the standard datasets:

    ffnlp demo                                         the whole chapter in a minute, offline
    ffnlp graph [chapter|two-layer|MODEL]              a computation graph (SVG/PNG/DOT)
    ffnlp plot RUN ...                                 training curves of one or more runs
    ffnlp plot-embeddings MODEL                        word embeddings in 2-D (PCA)
    ffnlp data list | fetch NAME ...                   PTB, MR, SST-2, TREC, SHA-256 verified

Training (lm train, classify train) is crash-safe: --checkpoint-every N (steps) or Nepoch
saves MODEL.ckpt, Ctrl-C or SIGTERM saves it too and exits 130 or 143, and the same
command with --resume goes on exactly where it stopped. Errors a user can fix (bad values,
missing, damaged or foreign files) are one line on stderr and exit code 2; the full table
is docs/errors.md.

Every subcommand is a function ``run_*(args) -> int``; :func:`main` parses the arguments,
runs one, and turns the errors a user can cause (bad values, missing or damaged files) into
one line on stderr and a non-zero exit code instead of a traceback. The commands live by
topic: :mod:`ffnlp.cli.lm`, :mod:`~ffnlp.cli.classify`, :mod:`~ffnlp.cli.vectors`,
:mod:`~ffnlp.cli.pictures`, :mod:`~ffnlp.cli.data`, and what they share in :mod:`~ffnlp.cli.common`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import ffnlp
from ffnlp import backend, distributed
from ffnlp.backend import kernels, process
from ffnlp.backend.threads import set_num_threads
from ffnlp.cli.classify import add_classify_commands
from ffnlp.cli.common import EXIT_FAILURE, EXIT_USAGE, CommandParser, Formatter
from ffnlp.cli.data import add_data_commands
from ffnlp.cli.export import add_export_commands
from ffnlp.cli.lm import add_lm_commands
from ffnlp.cli.pictures import add_picture_commands
from ffnlp.cli.vectors import add_vector_commands
from ffnlp.train import TrainingDiverged, TrainingInterrupted


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="ffnlp",
        # the docstring's overview: its paragraphs after the title, before the one for developers
        description="\n\n".join(__doc__.split("\n\n")[1:-1]),
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"ffnlp {ffnlp.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser(
        "info",
        help="show the versions and the BLAS library ffnlp runs on",
        formatter_class=Formatter,
    )
    info.set_defaults(handler=run_info)

    add_lm_commands(commands)
    add_classify_commands(commands)
    add_vector_commands(commands)
    add_picture_commands(commands)
    add_data_commands(commands)
    add_export_commands(commands)
    return parser


def run_info(args: argparse.Namespace) -> int:
    print(f"ffnlp   {ffnlp.__version__}")
    print(f"python  {platform.python_version()} ({platform.machine()})")
    print(f"numpy   {np.__version__}")
    if kernels.available:
        from importlib.metadata import version

        print(f"numba   {version('numba')} (the optimizer update of large parameters, compiled)")
    else:
        print("numba   not used (pip install ffnlp[fast], or FFNLP_JIT is 0): NumPy updates")
    print(f"ops     {backend.current()} (FFNLP_BACKEND=reference runs the plain ops)")
    tuned = process.applied
    if tuned is None:
        print("process as it was: ffnlp.backend.tune_process() not called")
    else:
        late = (
            " (NumPy was loaded first: for child processes)" if tuned.openblas_loaded_before else ""
        )
        print(
            f"process OPENBLAS_THREAD_TIMEOUT={tuned.openblas_thread_timeout}{late}, "
            f"freed arrays up to {tuned.freed_memory_kept >> 20} MB kept"
        )
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        print("blas    (install ffnlp[threads] to see the BLAS library and its threads)")
    else:
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                print(
                    f"blas    {pool.get('internal_api')} {pool.get('version')}, {pool.get('num_threads')} threads"
                )
    print("optional parts:")
    for name, found, adds in optional_parts():
        print(f"  {name:14s}{found or 'not installed':16s}{adds}")
    return 0


# (what, the distribution or program, what it adds, how to get it)
OPTIONAL_PARTS = (
    ("tqdm", "tqdm", "progress bars while training, on a terminal", "ffnlp[progress]"),
    (
        "matplotlib",
        "matplotlib",
        "ffnlp plot and plot-embeddings, the demo's pictures, graph pictures without Graphviz",
        "ffnlp[plot]",
    ),
    (
        "threadpoolctl",
        "threadpoolctl",
        "--threads for the BLAS matrix products, and the BLAS line above",
        "ffnlp[threads]",
    ),
    (
        "Graphviz dot",
        "dot",
        "ffnlp graph drawn by Graphviz (else matplotlib draws it)",
        "apt-get install graphviz",
    ),
    ("mpi4py", "mpi4py", "data-parallel training under mpirun -n K", "ffnlp[mpi]"),
)


def optional_parts() -> list[tuple[str, str | None, str]]:
    """Each optional part: its name, its version (a program: its path; None: absent) and
    what it adds, with how to get it when it is absent."""
    import shutil
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name, what, adds, get in OPTIONAL_PARTS:
        if name == "Graphviz dot":
            found = shutil.which(what)
        else:
            try:
                found = version(what)
            except PackageNotFoundError:
                found = None
        parts.append((name, found, adds if found else f"{adds}: {get}"))
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    if process.applied is None:
        # Started some other way than ffnlp/__main__.py (a console script installed before
        # it was the entry point, say): the malloc setting still counts here, OpenBLAS's
        # thread timeout only in the processes this one starts.
        process.tune_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (already printed)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    name = " ".join(filter(None, [args.command, getattr(args, "subcommand", None)]))
    try:
        if getattr(args, "threads", None) is not None:
            set_num_threads(args.threads)
        ranks = (
            distributed.world()
            if getattr(args, "data_parallel", False)
            else distributed.SingleProcess()
        )
    except (ImportError, ValueError) as err:
        print(f"ffnlp {name}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if ranks.size > 1:
        return _main_ranks(handler, args, argv, name, ranks)
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not after main has returned
        return code
    except BrokenPipeError:
        return _reader_gone()
    except (ValueError, TypeError, OSError, ImportError) as err:
        print(f"ffnlp {name}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingInterrupted as stop:
        again = [*argv, "--resume"] if "--resume" not in argv else argv
        print(f"ffnlp {name}: {stop}", file=sys.stderr)
        if stop.checkpoint is not None:
            print(f"resume with: ffnlp {shlex.join(again)}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print(f"ffnlp {name}: interrupted", file=sys.stderr)
        return 130


EXIT_PIPE = 128 + 13  # what a shell reports for a Unix tool that SIGPIPE ended (yes | head)


def _reader_gone() -> int:
    """The reader of our output went away (``ffnlp ... | head -1``): stop quietly, as Unix
    tools do. What is still buffered for stdout goes to /dev/null, so that Python's own
    flush at exit does not complain about the closed pipe once more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout is not a file (captured, in tests)
        pass
    return EXIT_PIPE


def _main_ranks(
    handler: Any, args: argparse.Namespace, argv: list[str], name: str, ranks: Any
) -> int:
    """One rank of ``mpirun -n K ffnlp ... train``: rank 0 speaks and writes, the others
    are silent but for their own errors. An error on one rank ends every rank (MPI
    Abort): the others would otherwise wait for it until the timeout."""
    where = "" if ranks.is_root else f" (rank {ranks.rank} of {ranks.size})"
    quiet = open(os.devnull, "w") if not ranks.is_root else None
    try:
        with contextlib.ExitStack() as stack:
            if quiet is not None:
                stack.enter_context(contextlib.redirect_stdout(quiet))
                stack.enter_context(contextlib.redirect_stderr(quiet))
                stack.callback(quiet.close)
            return handler(args)
    except (distributed.RanksDisagree, TrainingDiverged) as err:  # every rank at once
        if ranks.is_root:  # so rank 0 says it once, and no abort is needed
            print(f"ffnlp {name}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingInterrupted as stop:  # the ranks agree on the step where they stop
        if ranks.is_root:
            again = [*argv, "--resume"] if "--resume" not in argv else argv
            print(f"ffnlp {name}: {stop}", file=sys.stderr)
            if stop.checkpoint is not None:
                print(
                    f"resume with: mpirun -n {ranks.size} ffnlp {shlex.join(again)}",
                    file=sys.stderr,
                )
        return stop.exit_code
    except (ValueError, TypeError, OSError, ImportError, distributed.RankLost) as err:
        print(f"ffnlp {name}: error{where}: {err}", file=sys.__stderr__, flush=True)
        code = EXIT_FAILURE if isinstance(err, distributed.RankLost) else EXIT_USAGE
    except KeyboardInterrupt:
        print(f"ffnlp {name}: interrupted{where}", file=sys.__stderr__, flush=True)
        code = 130
    ranks.abort(code)
    return code
