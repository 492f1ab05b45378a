"""The ``ffnlp`` command line.

Every subcommand is a function ``run_*(args) -> int``; :func:`main` parses the arguments,
runs one, and turns the errors a user can cause (bad values, missing or damaged files) into
one line on stderr and a non-zero exit code instead of a traceback.

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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import ffnlp
from ffnlp import distributed, fetch
from ffnlp.metrics import classification_report, stratified_kfold
from ffnlp.models.classifier import CLASSIFIER_POOLING
from ffnlp.models.language_model import OUTPUTS, FeedforwardLM, FeedforwardLMConfig
from ffnlp.models.lm_text import TextLM
from ffnlp.models.ngram_lm import KneserNeyLM, interpolate_log_probs, interpolate_weight
from ffnlp.text import TOKENIZER_MODES, Tokenizer, Vocab, encoded, load_corpus, read_lines
from ffnlp.text.features import read_lexicon
from ffnlp.text.labelled import FORMATS, read_labelled
from ffnlp.text.ngrams import LAYOUTS, StreamWindows
from ffnlp.text.vectors import load_vectors
from ffnlp.threads import set_num_threads
from ffnlp.train import (
    OPTIMIZERS,
    ArrayDataset,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    fit,
    parse_every,
)
from ffnlp.viz.curves import LOG_SUFFIX

EXIT_USAGE = 2  # bad arguments or input: the user can fix it
EXIT_FAILURE = 1  # anything else that went wrong


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


# ---------------------------------------------------------------------------- shared options


def _add_text_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("text")
    group.add_argument(
        "--tokenizer",
        choices=TOKENIZER_MODES,
        default="whitespace",
        help="how lines become tokens: whitespace (pre-tokenized text such as PTB), regex (raw text), char (characters)",
    )
    group.add_argument("--lowercase", action="store_true", help="lower-case the text first")
    group.add_argument(
        "--encoding",
        default=None,
        help="encoding of the text files (default: UTF-8, and anything else is an error)",
    )
    group.add_argument(
        "--min-count",
        type=int,
        default=1,
        help="keep words seen at least this often; rarer ones become <unk>",
    )
    group.add_argument(
        "--max-vocab",
        type=int,
        default=None,
        help="keep at most this many tokens, specials included",
    )


def _add_use_commands(commands: Any, load: Any, kind: str) -> None:
    """eval, score, predict and generate, the same for both kinds of language model."""
    p = commands.add_parser(
        "eval", help=f"perplexity of a {kind} on a text file", formatter_class=Formatter
    )
    p.add_argument("model", help="the model file")
    p.add_argument("test", help="text file, one sentence per line")
    p.add_argument("--encoding", default=None, help="encoding of the text file")
    if kind == "neural LM":
        p.add_argument(
            "--ngram", default=None, help="an n-gram model (ffnlp ngram train) to interpolate with"
        )
        p.add_argument(
            "--weight",
            type=float,
            default=None,
            help="weight of the neural LM in the mixture (default: tuned on --tune-on)",
        )
        p.add_argument(
            "--tune-on", default=None, help="validation text on which to tune the mixture weight"
        )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=run_eval, load=load)

    p = commands.add_parser(
        "score", help="log-probability of each sentence", formatter_class=Formatter
    )
    p.add_argument("model", help="the model file")
    p.add_argument(
        "file",
        nargs="?",
        default="-",
        help="text file, one sentence per line ('-': standard input)",
    )
    p.add_argument("--encoding", default=None, help="encoding of the text file")
    p.set_defaults(handler=run_score, load=load)

    p = commands.add_parser(
        "predict", help="the most probable next words after a prompt", formatter_class=Formatter
    )
    p.add_argument("model", help="the model file")
    p.add_argument(
        "prompt",
        nargs="*",
        help="the start of a sentence (default: read prompts from standard input, one a line)",
    )
    p.add_argument("-k", "--top", type=int, default=10, help="how many words to show")
    p.set_defaults(handler=run_predict, load=load)

    p = commands.add_parser("generate", help="sample sentences", formatter_class=Formatter)
    p.add_argument("model", help="the model file")
    p.add_argument("-n", "--num", type=int, default=5, help="how many sentences")
    p.add_argument(
        "--max-tokens", type=int, default=50, help="stop a sentence after this many tokens"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="below 1: safer choices; above 1: more varied",
    )
    p.add_argument(
        "--top-k", type=int, default=0, help="sample only from the k most probable tokens (0: all)"
    )
    p.add_argument("--prompt", default="", help="start every sentence with this text")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed; the same seed gives the same sentences"
    )
    p.set_defaults(handler=run_generate, load=load)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ffnlp", description=__doc__.split("\n\n")[1], formatter_class=Formatter
    )
    parser.add_argument("--version", action="version", version=f"ffnlp {ffnlp.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser(
        "info",
        help="show the versions and the BLAS library ffnlp runs on",
        formatter_class=Formatter,
    )
    info.set_defaults(handler=run_info)

    # ------------------------------------------------------------------ lm
    lm = commands.add_parser(
        "lm",
        help="feedforward neural language models (Bengio et al. 2003)",
        formatter_class=Formatter,
    )
    lm_commands = lm.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = lm_commands.add_parser(
        "train", help="train a neural LM on a text file", formatter_class=Formatter
    )
    p.add_argument(
        "train",
        help="training text, one sentence per line, or a folder from ffnlp data encode (read memory-mapped)",
    )
    p.add_argument(
        "--valid",
        default=None,
        help="validation text (for the learning-rate schedule, early stopping and the best model)",
    )
    p.add_argument("--out", required=True, help="where to write the model")
    _add_text_options(p)
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="stream",
        help="stream: one running text with </s> after each line (PTB); sentence: lines are independent",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--context-size", type=int, default=4, help="number of previous tokens the model sees (N)"
    )
    g.add_argument("--embed-dim", type=int, default=128, help="size of the word embeddings (D)")
    g.add_argument(
        "--hidden", type=int, nargs="*", default=[512], help="sizes of the hidden layers"
    )
    g.add_argument(
        "--activation",
        choices=("tanh", "relu", "sigmoid"),
        default="tanh",
        help="hidden-layer activation",
    )
    g.add_argument(
        "--dropout", type=float, default=0.0, help="dropout on the embeddings and hidden layers"
    )
    g.add_argument(
        "--direct",
        action="store_true",
        help="direct connections from the embeddings to the output (Bengio et al.)",
    )
    g.add_argument(
        "--tie-embeddings",
        action="store_true",
        help="use the embedding matrix as the output matrix (the last hidden size must equal --embed-dim)",
    )
    g.add_argument(
        "--pretrained",
        default=None,
        help="word2vec or GloVe text file to initialise the embeddings",
    )
    g.add_argument("--freeze-embeddings", action="store_true", help="keep the embeddings fixed")
    g.add_argument(
        "--output",
        choices=OUTPUTS,
        default="full",
        help="output layer: the full softmax, or the adaptive softmax (Grave et al. 2017), "
        "faster to train over a large vocabulary and exact in evaluation",
    )
    g.add_argument(
        "--cutoffs",
        type=int,
        nargs="+",
        default=[2000],
        help="adaptive softmax: the frequency ranks where the head and each cluster end",
    )
    _add_training_options(p)
    _add_checkpoint_options(p)
    p.set_defaults(handler=run_lm_train, data_parallel=True)
    _add_use_commands(lm_commands, FeedforwardLM.load, "neural LM")

    # ------------------------------------------------------------------ ngram
    ngram = commands.add_parser(
        "ngram", help="Kneser-Ney n-gram language models (the baseline)", formatter_class=Formatter
    )
    ngram_commands = ngram.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = ngram_commands.add_parser(
        "train", help="count an interpolated modified Kneser-Ney model", formatter_class=Formatter
    )
    p.add_argument("train", help="training text, one sentence per line")
    p.add_argument("--out", required=True, help="where to write the model")
    p.add_argument("--order", type=int, default=5, help="n-gram order (5: the 5-gram model)")
    p.add_argument("--arpa", default=None, help="also write the model in ARPA format to this file")
    _add_text_options(p)
    p.set_defaults(handler=run_ngram_train)
    _add_use_commands(ngram_commands, KneserNeyLM.load, "n-gram LM")
    _add_classify_commands(commands)
    _add_picture_commands(commands)
    _add_data_commands(commands)
    return parser


def _add_labelled_input(p: argparse.ArgumentParser, nargs: str = "+") -> None:
    p.add_argument(
        "input",
        nargs=nargs,
        help="labelled text file(s); with --format files, one file per class (LABEL=PATH, or PATH whose extension is the label)",
    )
    g = p.add_argument_group("input")
    g.add_argument(
        "--format",
        choices=(*FORMATS, "files"),
        default="fasttext",
        help="fasttext: '__label__X text'; label-first: 'X text'; tsv/csv: columns; files: one file per class",
    )
    g.add_argument(
        "--label-column",
        default="0",
        help="tsv/csv: the label column (0-based index, or a name with --header)",
    )
    g.add_argument("--text-column", default="1", help="tsv/csv: the text column")
    g.add_argument("--header", action="store_true", help="tsv/csv: the first row names the columns")
    g.add_argument(
        "--encoding", default=None, help="encoding of the input (default UTF-8; MR is cp1252)"
    )


def _add_classifier_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--features",
        choices=("embeddings", "lexicon"),
        default="embeddings",
        help="pooled word embeddings, or the chapter's six hand-built lexicon features",
    )
    g.add_argument(
        "--lexicon",
        default=None,
        help="lexicon file (word<TAB>positive|negative) for --features lexicon (default: derived from the training data)",
    )
    g.add_argument("--lexicon-size", type=int, default=200, help="words in a derived lexicon")
    g.add_argument("--embed-dim", type=int, default=100, help="embedding size")
    g.add_argument(
        "--pooling",
        choices=CLASSIFIER_POOLING,
        default="mean",
        help="how word vectors combine (nb: summed, weighted by naive Bayes ratios; needs --nb-features)",
    )
    g.add_argument(
        "--hidden", type=int, nargs="*", default=[], help="hidden layer sizes after pooling"
    )
    g.add_argument(
        "--activation",
        choices=("relu", "tanh", "sigmoid"),
        default="relu",
        help="hidden activation",
    )
    g.add_argument(
        "--dropout", type=float, default=0.0, help="dropout on the pooled vector and hidden layers"
    )
    g.add_argument(
        "--word-dropout",
        type=float,
        default=0.0,
        help="drop each word with this probability during training (Iyyer et al. 2015)",
    )
    g.add_argument(
        "--bigrams", action="store_true", help="add hashed word bigrams (the fastText trick)"
    )
    g.add_argument(
        "--buckets",
        type=int,
        default=200_000,
        help="hash buckets for bigrams (0: one row per bigram seen --min-count times)",
    )
    g.add_argument(
        "--prefix-ngrams",
        type=int,
        default=0,
        help="add features for each text's first word, first two words, ... up to this many",
    )
    g.add_argument(
        "--nb-features",
        action="store_true",
        help="add each text's naive Bayes log-count-ratio score (Wang & Manning 2012) to the network's input",
    )
    g.add_argument(
        "--pool-words-only",
        action="store_true",
        help="pool the words' embeddings alone: bigrams and openings reach the network through the naive Bayes score only (needs --nb-features)",
    )
    g.add_argument(
        "--tokenizer", choices=TOKENIZER_MODES, default="whitespace", help="how texts become words"
    )
    g.add_argument("--lowercase", action="store_true", help="lower-case texts first")
    g.add_argument("--min-count", type=int, default=1, help="rarer words become <unk>")
    g.add_argument("--max-vocab", type=int, default=None, help="at most this many words")
    g.add_argument("--pretrained", default=None, help="word2vec/GloVe text file for the embeddings")
    g.add_argument(
        "--freeze-embeddings", action="store_true", help="keep pretrained embeddings fixed"
    )
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=10, help="passes over the data")
    t.add_argument("--batch-size", type=int, default=32, help="texts per step")
    t.add_argument(
        "--batch-by-length",
        action="store_true",
        help="batches of texts of similar length (less padding, faster steps)",
    )
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="the optimizer")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    t.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay")
    t.add_argument("--seed", type=int, default=0, help="one seed for everything random")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_classify_commands(commands: Any) -> None:
    classify = commands.add_parser(
        "classify",
        help="feedforward text classifiers (sentiment, topics, question types)",
        formatter_class=Formatter,
    )
    sub = classify.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("train", help="train a classifier", formatter_class=Formatter)
    _add_labelled_input(p)
    p.add_argument("--out", required=True, help="where to write the model")
    p.add_argument(
        "--valid",
        default=None,
        help="held-out labelled texts, in the training data's format (fastText's with --format files): their loss and accuracy after every epoch go to the log",
    )
    p.add_argument(
        "--log",
        default=None,
        help="JSON-lines training log (default: MODEL.log.jsonl next to --out)",
    )
    _add_classifier_options(p)
    _add_threads_option(p)
    _add_checkpoint_options(p)
    p.set_defaults(handler=run_classify_train, data_parallel=True)
    p = sub.add_parser(
        "test",
        help="accuracy, per-class and macro precision/recall/F1 and the confusion matrix",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="the model file")
    _add_labelled_input(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=run_classify_test)
    p = sub.add_parser(
        "predict", help="the most probable labels of each text", formatter_class=Formatter
    )
    p.add_argument("model", help="the model file")
    p.add_argument("file", nargs="?", default="-", help="texts, one a line ('-': standard input)")
    p.add_argument("-k", "--top", type=int, default=1, help="how many labels per text")
    p.add_argument("--encoding", default=None, help="encoding of the texts")
    p.set_defaults(handler=run_classify_predict)
    p = sub.add_parser("cv", help="stratified k-fold cross-validation", formatter_class=Formatter)
    _add_labelled_input(p)
    p.add_argument(
        "--folds", type=int, default=10, help="number of folds (10 is the literature's convention)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _add_classifier_options(p)
    _add_threads_option(p)
    p.set_defaults(handler=run_classify_cv)


def _add_checkpoint_options(p: argparse.ArgumentParser) -> None:
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


def _checkpointing(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The checkpoint options for fit(), checked before any work is done."""
    path = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".ckpt")
    _check_output(str(path))
    if path.resolve() == out.resolve():
        raise ValueError(
            f"--checkpoint must be another file than --out; got {str(path)!r} for both"
        )
    if args.checkpoint_every is not None:
        parse_every(args.checkpoint_every)
    if args.resume and not path.exists():
        raise ValueError(
            f"cannot resume: there is no checkpoint {str(path)!r} (a run writes one every "
            "--checkpoint-every, and when it is interrupted)"
        )
    return {"checkpoint": path, "checkpoint_every": args.checkpoint_every, "resume": args.resume}


def _add_threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for matrix products (through threadpoolctl, the 'threads' extra) and "
        "ffnlp's element-wise work (default: all cores)",
    )


def _add_training_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=10, help="at most this many passes over the data")
    g.add_argument("--batch-size", type=int, default=256, help="examples per step")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="the optimizer")
    g.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    g.add_argument("--momentum", type=float, default=0.0, help="momentum (sgd)")
    g.add_argument(
        "--weight-decay", type=float, default=0.0, help="L2 weight decay (biases excluded)"
    )
    g.add_argument("--clip-norm", type=float, default=None, help="clip the gradient norm to this")
    g.add_argument(
        "--lr-decay",
        type=float,
        default=0.5,
        help="multiply the learning rate by this when validation stops improving (1: never)",
    )
    g.add_argument(
        "--lr-patience",
        type=int,
        default=0,
        help="epochs without improvement before lowering the rate",
    )
    g.add_argument(
        "--early-stopping",
        type=int,
        default=3,
        help="stop after this many epochs without improvement (0: never)",
    )
    g.add_argument(
        "--seed", type=int, default=0, help="seed for initialisation, dropout and batch order"
    )
    g.add_argument(
        "--log", default=None, help="JSON-lines log of the run (default: MODEL.log.jsonl)"
    )
    g.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop after this many steps in all (default: no limit)",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_threads_option(g)


def _use_encoded_settings(args: argparse.Namespace, meta: dict[str, Any]) -> None:
    """An encoded corpus brings its tokenizer and vocabulary; flags that say otherwise
    are an error rather than silently ignored."""
    defaults = {"tokenizer": "whitespace", "lowercase": False, "min_count": 1, "max_vocab": None}
    for name, default in defaults.items():
        given = getattr(args, name)
        if given != default and given != meta[name]:
            flag = "--" + name.replace("_", "-")
            raise ValueError(
                f"{args.train!r} was encoded with {flag} {meta[name]}; this run asks for "
                f"{given}. Leave {flag} out, or encode the corpus again with it"
            )
        setattr(args, name, meta[name])


# ---------------------------------------------------------------------------- helpers


def _check_output(path: str) -> Path:
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


def _positive(name: str, value: Any) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{name} must be > 0; got {value}")


def _read_corpus(path: str, args: argparse.Namespace, what: str) -> list[list[str]]:
    return load_corpus(path, Tokenizer(args.tokenizer, args.lowercase), args.encoding, what)


def _lines(path: str, encoding: str | None) -> list[str]:
    if path == "-":
        return [line for line in sys.stdin.read().splitlines() if line.strip()]
    return read_lines(path, encoding, what="text file")


def _say(message: str) -> None:
    print(message, file=sys.stderr)


# ---------------------------------------------------------------------------- commands


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


def run_lm_train(args: argparse.Namespace) -> int:
    out = _check_output(args.out)
    checkpointing = _checkpointing(args, out)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        clip_norm=args.clip_norm,
        lr_decay=args.lr_decay,
        lr_patience=args.lr_patience,
        early_stopping=args.early_stopping,
        seed=args.seed,
        max_steps=args.max_steps,
        progress=not args.no_progress,
    )
    corpus = None
    if encoded.is_encoded(args.train):  # ids memory-mapped: the corpus is never loaded
        corpus = encoded.open_encoded(args.train)
        _use_encoded_settings(args, corpus.meta)
        vocab = corpus.vocab
        sentences, tokens = corpus.meta["sentences"], corpus.meta["tokens"]
    else:
        train = _read_corpus(args.train, args, "training file")
        vocab = Vocab.build(train, min_count=args.min_count, max_size=args.max_vocab)
        sentences, tokens = len(train), sum(len(s) for s in train)
    tokenizer = Tokenizer(args.tokenizer, args.lowercase)
    config = FeedforwardLMConfig(
        vocab_size=len(vocab),
        context_size=args.context_size,
        embed_dim=args.embed_dim,
        hidden_dims=tuple(args.hidden),
        activation=args.activation,
        dropout=args.dropout,
        direct=args.direct,
        tie_embeddings=args.tie_embeddings,
        freeze_embeddings=args.freeze_embeddings,
        output=args.output,
        cutoffs=tuple(args.cutoffs),
        layout=args.layout,
    )
    if tokens + sentences <= config.context_size:
        raise ValueError(
            f"the training file has {tokens} tokens in {sentences} lines, too few for a context of "
            f"{config.context_size}; give more text or a smaller --context-size"
        )
    pretrained = None
    if args.pretrained:
        vectors, found = load_vectors(
            args.pretrained, vocab, encoding=args.encoding, lowercase=args.lowercase
        )
        if vectors.shape[1] != config.embed_dim:
            raise ValueError(
                f"the pretrained vectors have {vectors.shape[1]} dimensions but --embed-dim is {config.embed_dim}"
            )
        rng = np.random.default_rng(args.seed)
        scale = float(vectors[found].std())
        pretrained = np.where(found[:, None], vectors, rng.normal(0, scale, vectors.shape)).astype(
            np.float32
        )
        _say(f"pretrained vectors: {int(found.sum())} of {len(vocab)} vocabulary tokens found")
    model = FeedforwardLM(
        config, vocab=vocab, tokenizer=tokenizer, pretrained=pretrained, rng=args.seed
    )
    encode = lambda sentences: [vocab.encode(s) for s in sentences]  # noqa: E731
    if corpus is not None:
        train_windows = StreamWindows(corpus.ids, config.context_size, config.layout)
    else:
        train_windows = ArrayDataset(*model.windows(encode(train)))
    valid_windows = None
    if args.valid:
        valid_windows = ArrayDataset(
            *model.windows(encode(_read_corpus(args.valid, args, "validation file")))
        )
    _say(
        f"{sentences} sentences, {len(train_windows)} training tokens, vocabulary {len(vocab)}, {model.num_parameters():,} parameters"
    )

    # The model is written to a temporary file next to --out whenever validation improves,
    # and moved to --out only when training ends well: a failed run never replaces a file.
    partial = out.with_name(f".{out.name}.training")
    log_path = Path(args.log) if args.log else out.with_name(out.name + LOG_SUFFIX)
    _check_output(str(log_path))
    writer = distributed.world().is_root  # under mpirun, rank 0 alone writes files
    if writer and not args.resume:  # a resumed run's log goes on where its checkpoint was saved
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(
                json.dumps(
                    {
                        "run": "lm train",
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                        "model": config.to_dict(),
                        "training": train_config.to_dict(),
                    }
                )
                + "\n"
            )

    def save(m: Any, record: dict[str, Any]) -> None:
        m.save(partial, extra={"training": train_config.to_dict(), "record": record})

    started = time.perf_counter()
    try:
        history = fit(
            model,
            train_windows,
            valid_windows,
            train_config,
            log_path=log_path,
            on_best=save,
            describe=lambda loss: {"ppl": math.exp(min(loss, 700))},
            unit="tokens",
            **checkpointing,
        )
    except BaseException:
        if partial.exists():
            _say(f"training stopped; the best model so far is in {str(partial)!r}")
        raise
    if not writer:
        return 0
    if not partial.exists():  # resumed, and the best epoch's file is gone: the model has it
        save(model, history.epochs[history.best_epoch - 1] if history.best_epoch else {})
    os.replace(partial, out)
    checkpointing["checkpoint"].unlink(missing_ok=True)  # the run is complete
    summary = f"wrote {str(out)!r} after {len(history.epochs)} epochs in {time.perf_counter() - started:.0f}s"
    if history.best_valid_loss is not None:
        summary += f"; best validation perplexity {math.exp(history.best_valid_loss):.2f} (epoch {history.best_epoch})"
    print(summary)
    return 0


def run_ngram_train(args: argparse.Namespace) -> int:
    out = _check_output(args.out)
    if args.arpa:
        _check_output(args.arpa)
    _positive("--order", args.order)
    train = _read_corpus(args.train, args, "training file")
    vocab = Vocab.build(train, min_count=args.min_count, max_size=args.max_vocab)
    started = time.perf_counter()
    lm = KneserNeyLM(args.order, vocab=vocab, tokenizer=Tokenizer(args.tokenizer, args.lowercase))
    lm.fit([vocab.encode(s) for s in train], len(vocab))
    lm.save(out)
    if args.arpa:
        lm.to_arpa(args.arpa)
    n = ", ".join(
        f"{len(lm.counts[k]) if k > 1 else len(vocab)} {k}-grams" for k in range(1, args.order + 1)
    )
    print(
        f"wrote {str(out)!r}: order {args.order}, vocabulary {len(vocab)}, {n}, in {time.perf_counter() - started:.1f}s"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    model: TextLM = args.load(args.model)
    sentences = model.encode_lines(_lines(args.test, args.encoding))
    log_probs = model.log_probs(sentences)
    results: dict[str, Any] = {
        "tokens": len(log_probs),
        "perplexity": float(np.exp(-log_probs.mean())),
    }
    if getattr(args, "ngram", None):
        ngram = KneserNeyLM.load(args.ngram)
        if ngram.vocab != model.vocab:
            raise ValueError(
                f"{args.ngram!r} was built with a different vocabulary than {args.model!r}; build both from the same training file and settings"
            )
        ngram_log_probs = ngram.log_probs(sentences)
        weight = args.weight
        if weight is None:
            if not args.tune_on:
                raise ValueError(
                    "give the mixture weight with --weight, or validation text to tune it on with --tune-on"
                )
            tune = model.encode_lines(_lines(args.tune_on, args.encoding))
            weight = interpolate_weight(model.log_probs(tune), ngram.log_probs(tune))
        elif not 0 <= weight <= 1:
            raise ValueError(f"--weight must be in [0, 1]; got {weight}")
        mixed = interpolate_log_probs(log_probs, ngram_log_probs, weight)
        results.update(
            {
                "ngram_perplexity": float(np.exp(-ngram_log_probs.mean())),
                "weight": weight,
                "interpolated_perplexity": float(np.exp(-mixed.mean())),
            }
        )
    if args.json:
        print(json.dumps(results))
    else:
        print(f"perplexity {results['perplexity']:.2f} over {results['tokens']} tokens")
        if "weight" in results:
            print(f"n-gram perplexity {results['ngram_perplexity']:.2f}")
            print(
                f"interpolated perplexity {results['interpolated_perplexity']:.2f} (weight of the neural LM {results['weight']:.3f})"
            )
    return 0


def run_score(args: argparse.Namespace) -> int:
    model: TextLM = args.load(args.model)
    lines = _lines(args.file, args.encoding)
    for line, log_prob in zip(lines, model.sentence_log_probs(lines)):
        tokens = len(model.tokenizer(line)) + 1
        print(f"{log_prob:.4f}\t{math.exp(-log_prob / tokens):.2f}\t{line.strip()}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    _positive("--top", args.top)
    model: TextLM = args.load(args.model)
    prompts = (
        [" ".join(args.prompt)] if args.prompt else [line for line in sys.stdin.read().splitlines()]
    )
    for prompt in prompts:
        predictions = model.predict_next(prompt, k=args.top)
        print(f"{prompt}\t" + "  ".join(f"{word} {p:.4f}" for word, p in predictions))
    return 0


def run_generate(args: argparse.Namespace) -> int:
    model: TextLM = args.load(args.model)
    for sentence in model.generate(
        args.num, args.max_tokens, args.temperature, args.top_k, args.prompt, args.seed
    ):
        print(sentence)
    return 0


def _read_labelled(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    return read_labelled(
        args.input, args.format, args.encoding, args.label_column, args.text_column, args.header
    )


def _estimators() -> Any:
    # Imported on use: with scikit-learn installed it costs most of a second at start-up.
    from ffnlp import estimators

    return estimators


def _classifier(args: argparse.Namespace) -> Any:
    for name in ("epochs", "batch_size", "embed_dim", "lexicon_size"):
        _positive(f"--{name.replace('_', '-')}", getattr(args, name))
    lexicon = read_lexicon(args.lexicon, args.encoding) if args.lexicon else None
    return _estimators().TextClassifier(
        features=args.features,
        embed_dim=args.embed_dim,
        pooling=args.pooling,
        hidden_dims=tuple(args.hidden),
        activation=args.activation,
        dropout=args.dropout,
        word_dropout=args.word_dropout,
        bigrams=args.bigrams,
        prefix_ngrams=args.prefix_ngrams,
        buckets=args.buckets,
        nb_features=args.nb_features,
        pool_words_only=args.pool_words_only,
        min_count=args.min_count,
        max_vocab=args.max_vocab,
        tokenizer=args.tokenizer,
        lowercase=args.lowercase,
        lexicon=lexicon,
        lexicon_size=args.lexicon_size,
        pretrained=args.pretrained,
        freeze_embeddings=args.freeze_embeddings,
        epochs=args.epochs,
        batch_size=args.batch_size,
        batch_by_length=args.batch_by_length,
        lr=args.lr,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        random_state=args.seed,
        verbose=not args.no_progress,
    )


def run_classify_train(args: argparse.Namespace) -> int:
    out = _check_output(args.out)
    checkpointing = _checkpointing(args, out)
    model = _classifier(args)
    texts, labels = _read_labelled(args)
    eval_set = None
    if args.valid:
        eval_set = read_labelled(
            args.valid,
            "fasttext" if args.format == "files" else args.format,
            args.encoding,
            args.label_column,
            args.text_column,
            args.header,
        )
    log_path = _check_output(args.log or str(out.with_name(out.name + LOG_SUFFIX)))
    writer = distributed.world().is_root  # under mpirun, rank 0 alone writes files
    if writer:
        with open(log_path, "a", encoding="utf-8") as log:
            record = {"run": "classify train", "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
            log.write(json.dumps({**record, "params": model.get_params()}, default=str) + "\n")
    started = time.perf_counter()
    model.fit(texts, labels, eval_set=eval_set, log_path=log_path, **checkpointing)
    if not writer:
        return 0
    model.save(out)
    checkpointing["checkpoint"].unlink(missing_ok=True)
    print(
        f"wrote {str(out)!r}: {len(texts)} texts, {len(model.classes_)} classes, trained in {time.perf_counter() - started:.1f}s"
    )
    return 0


def run_classify_test(args: argparse.Namespace) -> int:
    model = _estimators().TextClassifier.load(args.model)
    texts, labels = _read_labelled(args)
    _estimators().check_unseen_labels(model.classes_.tolist(), labels)
    predicted = [str(p) for p in model.predict(texts)]
    report = classification_report(
        [str(y) for y in labels], predicted, labels=[str(c) for c in model.classes_]
    )
    print(json.dumps(report.to_dict()) if args.json else str(report))
    return 0


def run_classify_predict(args: argparse.Namespace) -> int:
    _positive("--top", args.top)
    model = _estimators().TextClassifier.load(args.model)
    texts = _lines(args.file, args.encoding)
    if not texts:
        raise ValueError("no texts to classify")
    for text, top in zip(texts, model.predict_top(texts, k=args.top)):
        print("\t".join(f"{label} {p:.4f}" for label, p in top) + f"\t{text}")
    return 0


def run_classify_cv(args: argparse.Namespace) -> int:
    _positive("--folds", args.folds)
    texts, labels = _read_labelled(args)
    template = _classifier(args)
    template.verbose = False
    accuracies, f1s = [], []
    started = time.perf_counter()
    for fold, (train_idx, test_idx) in enumerate(
        stratified_kfold(labels, args.folds, seed=args.seed), start=1
    ):
        model = type(template)(**template.get_params())
        model.fit([texts[i] for i in train_idx], [labels[i] for i in train_idx])
        predicted = [str(p) for p in model.predict([texts[i] for i in test_idx])]
        report = classification_report(
            [labels[i] for i in test_idx], predicted, labels=sorted(set(labels))
        )
        accuracies.append(report.accuracy)
        f1s.append(report.macro_f1)
        if not args.json:
            print(
                f"fold {fold:2d}  accuracy {report.accuracy:.4f}  macro F1 {report.macro_f1:.4f}",
                file=sys.stderr,
            )
    result = {
        "folds": args.folds,
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "macro_f1": float(np.mean(f1s)),
        "fold_accuracies": accuracies,
        "seconds": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.folds}-fold accuracy {result['accuracy']:.4f} ± {result['accuracy_std']:.4f}, macro F1 {result['macro_f1']:.4f}"
        )
    return 0


# ---------------------------------------------------------------------------- pictures, demo, data


def _add_picture_commands(commands: Any) -> None:
    p = commands.add_parser(
        "graph",
        help="draw a computation graph with forward values and gradients",
        formatter_class=Formatter,
    )
    p.add_argument(
        "what",
        nargs="?",
        default="chapter",
        help="chapter: the chapter's L(a, b, c) = c(a + 2b); two-layer: a 2-layer network on one example; "
        "or a model file (ffnlp lm/classify train): one training step on a random batch, summarised by layer",
    )
    p.add_argument(
        "--out",
        default="graph.svg",
        help="the picture: .svg, .png, .pdf (these need Graphviz's dot) or .dot; '-' prints the DOT text",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="draw every tensor of a model's step (default: one box per layer)",
    )
    p.add_argument("--batch-size", type=int, default=8, help="examples in a model's training step")
    p.add_argument("--seed", type=int, default=0, help="seed of the random batch")
    p.set_defaults(handler=run_graph)

    p = commands.add_parser(
        "plot", help="training curves of one or more runs (PNG)", formatter_class=Formatter
    )
    p.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="training logs (*.log.jsonl), or model files with their log beside them",
    )
    p.add_argument("--out", default="curves.png", help="the picture (.png, .svg or .pdf)")
    p.add_argument("--name", nargs="*", default=None, help="legend names, one per run")
    p.set_defaults(handler=run_plot)

    p = commands.add_parser(
        "plot-embeddings",
        help="a model's word embeddings in 2-D (PCA), the most frequent words labelled",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="a neural LM or classifier file")
    p.add_argument("--out", default="embeddings.png", help="the picture (.png, .svg or .pdf)")
    p.add_argument(
        "--label", type=int, default=60, help="how many of the most frequent words to label"
    )
    p.set_defaults(handler=run_plot_embeddings)

    p = commands.add_parser(
        "demo",
        help="train a sentiment classifier and a language model, compare with baselines, draw the pictures",
        formatter_class=Formatter,
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="a folder with the standard datasets (mr or sst2, and ptb; the layout of ffnlp data fetch); "
        "default: the sample corpus shipped with ffnlp",
    )
    p.add_argument("--out", default="ffnlp-demo", help="the folder for models, logs and pictures")
    p.add_argument("--seed", type=int, default=0, help="one seed for everything random")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs of both models (default: per corpus)",
    )
    p.set_defaults(handler=run_demo)


def _add_data_commands(commands: Any) -> None:
    data = commands.add_parser(
        "data",
        help="download the standard datasets (PTB, MR, SST-2, TREC)",
        formatter_class=Formatter,
    )
    sub = data.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    cache_help = f"where datasets go (default: ${fetch.CACHE_ENV}, else ~/.cache/ffnlp)"
    p = sub.add_parser(
        "list", help="the known datasets and which are present", formatter_class=Formatter
    )
    p.add_argument("--cache-dir", default=None, help=cache_help)
    p.set_defaults(handler=run_data_list)
    p = sub.add_parser(
        "fetch",
        help="download datasets from their canonical locations, verifying SHA-256",
        formatter_class=Formatter,
    )
    p.add_argument(
        "names", nargs="+", metavar="NAME", help=f"one or more of: {', '.join(fetch.DATASETS)}"
    )
    p.add_argument("--cache-dir", default=None, help=cache_help)
    p.add_argument(
        "--mirror",
        default=None,
        help=f"download MIRROR/NAME/FILE instead of the canonical URLs (also ${fetch.MIRROR_ENV})",
    )
    p.set_defaults(handler=run_data_fetch)
    p = sub.add_parser(
        "encode",
        help="write a corpus's token ids as a memory-mapped array, for corpora larger than memory",
        formatter_class=Formatter,
    )
    p.add_argument("corpus", help="text file, one sentence per line (read twice, a line at a time)")
    p.add_argument(
        "--out",
        required=True,
        help="the folder to write (ids.npy and vocab.json); give it to lm train",
    )
    _add_text_options(p)
    p.set_defaults(handler=run_data_encode)


def run_graph(args: argparse.Namespace) -> int:
    from ffnlp.viz import graph

    if args.what == "chapter":
        dot = graph.to_dot(graph.chapter_example(), title="L(a, b, c) = c(a + 2b)")
    elif args.what == "two-layer":
        loss, network = graph.two_layer_example(seed=args.seed)
        dot = graph.to_dot(loss, module=network, title="a 2-layer network on one example")
    else:
        from ffnlp.viz.saved import load_model, sample_step

        _positive("--batch-size", args.batch_size)
        loss, network = sample_step(load_model(args.what), args.batch_size, args.seed)
        dot = graph.to_dot(
            loss,
            module=network,
            title=f"one training step of {Path(args.what).name}",
            summarise=not args.full,
        )
    if args.out == "-":
        sys.stdout.write(dot)
        return 0
    written = graph.write_graph(dot, _check_output(args.out))
    if written.suffix != Path(args.out).suffix:
        _say(f"note: {graph.GRAPHVIZ_MISSING}")
    print(f"wrote {str(written)!r}")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from ffnlp.viz.curves import plot_runs

    out = plot_runs(args.runs, _check_output(args.out), args.name)
    print(f"wrote {str(out)!r}")
    return 0


def run_plot_embeddings(args: argparse.Namespace) -> int:
    from ffnlp.viz.embeddings import plot_embeddings
    from ffnlp.viz.saved import embedding_table, load_model

    _positive("--label", args.label)
    out = _check_output(args.out)
    vectors, words = embedding_table(load_model(args.model))
    plot_embeddings(
        vectors,
        words,
        out,
        label=args.label,
        title=f"word embeddings of {Path(args.model).name} (PCA)",
    )
    print(
        f"wrote {str(out)!r}: {len(words)} words, the {min(args.label, len(words))} most frequent labelled"
    )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ffnlp import demo

    _positive("--epochs", args.epochs)
    result = demo.run(args.out, args.data_dir, seed=args.seed, epochs=args.epochs, say=_say)
    print(demo.report(result, args.out))
    return 0


def run_data_list(args: argparse.Namespace) -> int:
    print(f"cache: {fetch.cache_dir(args.cache_dir)}")
    for spec, present in fetch.status(args.cache_dir):
        total = len(spec.files())
        state = (
            "present"
            if present == total
            else "missing"
            if present == 0
            else f"partial ({present}/{total} files)"
        )
        print(f"{spec.name:6s} {state:9s} {spec.description}")
    return 0


def run_data_fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        fetch.dataset(name)  # every name is checked before anything is downloaded
    for name in args.names:
        folder = fetch.fetch(name, args.cache_dir, args.mirror, say=_say)
        print(f"{name}: {folder}")
    return 0


def run_data_encode(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    corpus = encoded.encode_corpus(
        args.corpus,
        args.out,
        Tokenizer(args.tokenizer, args.lowercase),
        args.encoding,
        min_count=args.min_count,
        max_vocab=args.max_vocab,
    )
    print(
        f"wrote {str(corpus.path)!r}: {corpus.meta['sentences']:,} sentences, {len(corpus.ids):,} ids "
        f"({corpus.ids.dtype}), vocabulary {len(corpus.vocab):,}, in {time.perf_counter() - started:.1f}s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
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
        return handler(args)
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


if __name__ == "__main__":
    raise SystemExit(main())
