"""What the commands share: the help formatter, the options of several commands, the
checks of paths and numbers, and the exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import sys
from pathlib import Path
from typing import Any

from ffnlp.checks import check_int
from ffnlp.text import Tokenizer, load_corpus, read_lines, read_text
from ffnlp.text.running import RunningTextSettings
from ffnlp.text.settings import TextSettings
from ffnlp.train import TrainConfig, Training, parse_every

EXIT_USAGE = 2  # bad arguments or input: the user can fix it
EXIT_FAILURE = 1  # anything else that went wrong


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help with each option's default shown once, where there is one worth showing: not
    on a required option, not for a flag that is off (False) or a setting that is unset
    (None, empty), and not where the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == [] or default == ""
        if (
            action.required
            or unset
            or default is argparse.SUPPRESS
            or "default" in text.lower()
            or "unset:" in text
        ):
            return text
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose subcommands take options and positionals in any order
    (``classify predict MODEL -k 5 FILE``), and answer a wrong option themselves: with the
    subcommand's own usage, its name, and the closest option it does have.

    argparse's ``parse_intermixed_args`` refuses a parser with subcommands, so the
    subcommands (the parsers without subcommands of their own) parse intermixed, and the
    parsers above them as usual; the subparsers made from this one are of this class too.
    """

    _intermixed_pass = False  # True inside parse_known_intermixed_args's own two passes

    def parse_known_args(self, args=None, namespace=None):
        if self._subparsers is not None or self._intermixed_pass:
            return super().parse_known_args(args, namespace)
        self._intermixed_pass = True
        try:
            parsed, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed_pass = False
        if extras:  # reported here, with this subcommand's usage, not by the top parser
            self.error(unrecognized(self, extras))
        return parsed, extras

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(unrecognized(self, extras))
        return parsed


def unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """The message for arguments ``parser`` does not know, with the closest option it has."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    for extra in extras:
        if not extra.startswith("-"):
            continue
        close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.6)
        if close:
            return f"{message} (did you mean {close[0]}?)"
        return (
            f"{message} ({parser.prog} has no {extra.split('=', 1)[0]}; see {parser.prog} --help)"
        )
    return message


# The namespace attribute holding the destinations of the options given on the command line.
GIVEN = "given_options"


def record_given_options(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` note, in ``args.given_options``, each option the user gave, so that
    a recipe's settings give way to the flags given beside it (and to those alone: a flag
    given with its default value still overrides)."""
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            action.__class__ = _recording(type(action))


def _recording(cls: type) -> type:
    class Recorded(cls):
        def __call__(self, parser, namespace, values, option_string=None):
            super().__call__(parser, namespace, values, option_string)
            setattr(namespace, GIVEN, getattr(namespace, GIVEN, frozenset()) | {self.dest})

    Recorded.__name__ = f"Recorded{cls.__name__}"
    return Recorded


# What a language model's training command guesses from its file when the flag is not given.
_GUESSED_HELP = {
    "tokenizer": "how texts become tokens: whitespace (pre-tokenized text such as PTB), regex "
    "(raw text: words and punctuation apart), char (characters); unset: guessed from the "
    "file (whitespace when its punctuation already stands apart, else regex)",
    "min_count": "keep words seen at least this often; rarer ones become <unk>; unset: 1 "
    "for text that already holds <unk>, else 2 below a million training tokens and 3 above "
    "(1 with --max-vocab)",
}


def add_text_options(parser: argparse.ArgumentParser, guess: bool = False) -> None:
    """The text flags of the commands that read running text (the language models'): the
    :class:`~ffnlp.text.settings.TextSettings` but the classifier's ``unknown_words``.
    With ``guess`` (the commands that train), ``--tokenizer`` and ``--min-count`` are unset
    by default and ``--sentences`` is there too: what is not given is guessed from the file
    (:mod:`ffnlp.text.running`)."""
    group = parser.add_argument_group("text")
    if guess:
        unset = dataclasses.replace(TextSettings(), tokenizer=None, min_count=None)
        TextSettings.add_flags(group, defaults=unset, skip=("unknown_words",), help=_GUESSED_HELP)
        RunningTextSettings.add_flags(group)
    else:
        TextSettings.add_flags(group, skip=("unknown_words",))
    group.add_argument(
        "--encoding",
        default=None,
        help="encoding of the text files (default: UTF-8, and anything else is an error)",
    )


def add_checkpoint_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "checkpoints",
        "A checkpoint holds everything needed to go on exactly where a run stopped:\n"
        "the resumed run ends with the same weights, bit for bit, as an uninterrupted one.\n"
        "Ctrl-C or SIGTERM always saves one (exit 130 / 143); it is removed once the model\n"
        "is written.",
    )
    g.add_argument(
        "--checkpoint-every",
        default=None,
        metavar="EVERY",
        help="also save a checkpoint every N steps (e.g. 500) or N epochs (e.g. 1epoch)",
    )
    g.add_argument(
        "--checkpoint",
        default=None,
        metavar="PATH",
        help="the checkpoint file (default: MODEL.ckpt)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="go on from the checkpoint of an interrupted run (same command and data; --epochs may change)",
    )


def checkpoint_settings(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The checkpoint options for fit(), checked before any work is done."""
    path = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".ckpt")
    check_output(str(path))
    if path.resolve() == out.resolve():
        raise ValueError(
            f"--checkpoint must be another file than --out; got {str(path)!r} for both"
        )
    if args.checkpoint_every is not None:
        parse_every(args.checkpoint_every)
    if not args.resume and path.exists():  # the user's unfinished run: never dropped silently
        raise ValueError(
            f"{str(path)!r} holds the checkpoint of an unfinished run of this model: go on "
            "from it with --resume, or remove it to start afresh"
        )
    if args.resume and not path.exists():
        raise ValueError(
            f"cannot resume: there is no checkpoint {str(path)!r} (a run writes one every "
            "--checkpoint-every, and when it is interrupted)"
        )
    return {"checkpoint": path, "checkpoint_every": args.checkpoint_every, "resume": args.resume}


def add_threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for matrix products (through threadpoolctl, the 'threads' extra) and "
        "ffnlp's element-wise work (default: all cores)",
    )


def lr_schedule(args: argparse.Namespace, command: str) -> str:
    """The --lr-schedule asked for (or the command's default), refused as plateau when there
    is no validation data to watch."""
    has_valid = bool(getattr(args, "valid", None) or getattr(args, "valid_fraction", None))
    schedule = args.lr_schedule or ("plateau" if has_valid else "constant")
    if schedule == "plateau" and not has_valid:
        fix = "give --valid FILE" if hasattr(args, "valid") else f"{command} has no --valid"
        raise ValueError(
            "--lr-schedule plateau lowers the learning rate when the validation loss stops "
            f"improving, so it needs validation data: {fix}, or use constant or linear"
        )
    return schedule


def add_training_options(
    p: argparse.ArgumentParser, defaults: Training | None = None, log: bool = True
) -> argparse._ArgumentGroup:
    """The training flags every command that trains shares: the :class:`~ffnlp.train.Training`
    settings (with ``defaults``, a command's own; unset, the declared ones and an unset
    ``--lr-schedule``: plateau with --valid and constant without), and the run's own: seed,
    log (``log``), progress and threads. Returns the group, for a command's own flags."""
    g = p.add_argument_group("training")
    Training.add_flags(g, defaults=defaults or dataclasses.replace(Training(), lr_schedule=None))
    g.add_argument(
        "--seed", type=int, default=0, help="one seed for initialisation, dropout and batch order"
    )
    if log:
        g.add_argument(
            "--log",
            default=None,
            help="JSON-lines log of the run (default: MODEL.log.jsonl next to --out)",
        )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads_option(g)
    return g


def train_config(args: argparse.Namespace, command: str) -> TrainConfig:
    """The training loop's settings from the flags of :func:`add_training_options`, each
    checked under its flag's name."""
    training = Training.from_args(args, skip=("lr_schedule",), lr_schedule="constant")
    warn_unusual_lr(training.lr, training.optimizer)
    return TrainConfig(
        **{**dataclasses.asdict(training), "lr_schedule": lr_schedule(args, command)},
        seed=check_int("--seed", args.seed, minimum=0),
        progress=not args.no_progress,
    )


# Learning rates that work, widely drawn: Adam's default is 1e-3, fastText's SGD goes to 1.
USUAL_LR = {"sgd": (1e-4, 10.0), "adam": (1e-5, 0.1), "adamw": (1e-5, 0.1)}


def warn_unusual_lr(lr: float, optimizer: str) -> None:
    """A warning on stderr for a learning rate far outside the range that works with
    ``optimizer`` (``--lr 1e6`` for 1e-6, say); values that cannot work at all (0, < 0)
    are refused elsewhere."""
    low, high = USUAL_LR.get(optimizer, (0.0, math.inf))
    if not (isinstance(lr, float) and math.isfinite(lr) and lr > 0) or low <= lr <= high:
        return
    effect = "the loss is likely to diverge" if lr > high else "training will barely move"
    say(
        f"warning: --lr {lr:g} is far {'above' if lr > high else 'below'} the usual range "
        f"for {optimizer} ({low:g} to {high:g}): {effect}"
    )


def use_encoded_settings(args: argparse.Namespace, meta: dict[str, Any]) -> None:
    """An encoded corpus brings its tokenizer and vocabulary; flags that say otherwise
    are an error rather than silently ignored."""
    defaults = {"tokenizer": "whitespace", "lowercase": False, "min_count": 1, "max_vocab": None}
    for name, default in defaults.items():
        given = getattr(args, name)
        if given is not None and given != default and given != meta[name]:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{args.train!r} was encoded with {flag} {meta[name]}; this run asks for "
                f"{given}. Leave {flag} out, or encode the corpus again with it"
            )
        setattr(args, name, meta[name])


def check_output(path: str) -> Path:
    """Fail before any work if ``path`` cannot be written."""
    out = Path(path)
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise ValueError(f"cannot write {path!r}: the directory {str(directory)!r} does not exist")
    if out.is_dir():
        raise ValueError(f"cannot write {path!r}: it is a directory")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"cannot write {path!r}: permission denied in {str(directory)!r}")
    return out


def check_positive(name: str, value: Any) -> None:
    """A count from the command line: not given (None), or a positive integer."""
    if value is not None:
        check_int(name, value, minimum=1)


def read_corpus(path: str, args: argparse.Namespace, what: str) -> list[list[str]]:
    return load_corpus(path, Tokenizer(args.tokenizer, args.lowercase), args.encoding, what)


def read_text_lines(
    path: str, encoding: str | None, tokenizer: Tokenizer | None = None
) -> list[str]:
    """The non-blank lines of ``path`` ('-': standard input), or the sentences of its text
    as ``tokenizer`` cuts them (a model's, so that a file is read as its training file was)."""
    if path == "-":
        text = sys.stdin.read()
    elif tokenizer is None:
        return read_lines(path, encoding, what="text file")
    else:
        text = read_text(path, encoding, what="text file")
    if tokenizer is None:
        return [line for line in text.splitlines() if line.strip()]
    return tokenizer.sentence_texts(text)


def import_estimators() -> Any:
    """ffnlp.estimators, imported on use. The command line never hands its estimators to
    scikit-learn, so it builds them on ffnlp's own stand-in bases even where scikit-learn
    is installed (ffnlp.estimators.base.SKLEARN_ENV): importing scikit-learn would cost
    most of a second of start-up and some 90 MB. Call it before anything that imports the
    estimators (the recipes, the vectors, the export)."""
    if "ffnlp.estimators" not in sys.modules:
        before = os.environ.get("FFNLP_SKLEARN_BASES")
        os.environ["FFNLP_SKLEARN_BASES"] = "0"
        try:
            import ffnlp.estimators  # noqa: F401
        finally:  # read once, at import: the process's children are not concerned
            if before is None:
                os.environ.pop("FFNLP_SKLEARN_BASES")
            else:
                os.environ["FFNLP_SKLEARN_BASES"] = before
    return sys.modules["ffnlp.estimators"]


def say(message: str) -> None:
    print(message, file=sys.stderr)
