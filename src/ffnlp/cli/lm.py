"""``ffnlp lm`` and ``ffnlp ngram``: train, evaluate, score, predict and generate."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import distributed
from ffnlp.checks import check_probability, plural
from ffnlp.cli.common import (
    GIVEN,
    Formatter,
    add_checkpoint_options,
    add_text_options,
    add_training_options,
    check_output,
    check_positive,
    checkpoint_settings,
    read_text_lines,
    record_given_options,
    say,
    use_encoded_settings,
)
from ffnlp.cli.common import (
    train_config as cli_train_config,
)
from ffnlp.models.arpa import load_ngram
from ffnlp.models.language_model import (
    FeedforwardLM,
    FeedforwardLMConfig,
    choose_output,
    token_counts,
)
from ffnlp.models.lm_text import TextLM
from ffnlp.models.ngram_lm import KneserNeyLM, interpolate_log_probs, interpolate_weight
from ffnlp.recipes import load_lm_recipe, recipe_names
from ffnlp.text import Tokenizer, Vocab, encoded, held_out_blocks, load_corpus, read_text
from ffnlp.text.ngrams import StreamWindows
from ffnlp.text.running import RunningText, choose_min_count, guess_running_text
from ffnlp.text.vectors import fill_missing, load_vectors
from ffnlp.train import (
    ArrayDataset,
    fit,
)
from ffnlp.viz.curves import LOG_SUFFIX

MODEL_HELP = {
    "neural LM": "the model file (ffnlp lm train)",
    "n-gram LM": "the model file (ffnlp ngram train), or an ARPA file of any order",
}


def add_use_commands(commands: Any, load: Any, kind: str) -> None:
    """eval, score, predict and generate, the same for both kinds of language model."""
    p = commands.add_parser(
        "eval", help=f"perplexity of a {kind} on a text file", formatter_class=Formatter
    )
    p.add_argument("model", help=MODEL_HELP[kind])
    p.add_argument("test", help="text file, one sentence per line")
    p.add_argument("--encoding", default=None, help="encoding of the text file")
    if kind == "neural LM":
        p.add_argument(
            "--ngram",
            default=None,
            help="an n-gram model (ffnlp ngram train, or an ARPA file of the same vocabulary) "
            "to interpolate with",
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
    p.add_argument("model", help=MODEL_HELP[kind])
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
    p.add_argument("model", help=MODEL_HELP[kind])
    p.add_argument(
        "prompt",
        nargs="*",
        help="the start of a sentence (default: read prompts from standard input, one a line)",
    )
    p.add_argument("-k", "--top", type=int, default=10, help="how many words to show")
    p.set_defaults(handler=run_predict, load=load)

    p = commands.add_parser("generate", help="sample sentences", formatter_class=Formatter)
    p.add_argument("model", help=MODEL_HELP[kind])
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


# The language model's settings that are no flags: the vocabulary's size is found from the
# data, and the row-sparse embedding gradient is exact, only faster, so always on.
_NOT_FLAGS = ("vocab_size", "sparse_embeddings")


def add_lm_commands(commands: Any) -> None:
    """``ffnlp lm`` (train, and the use commands) and ``ffnlp ngram`` (the same)."""
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
        help="training text (one sentence per line, or raw prose: see --sentences), or a folder "
        "from ffnlp data encode (read memory-mapped)",
    )
    p.add_argument(
        "--valid",
        default=None,
        help="validation text (for the learning-rate schedule, early stopping and the best model)",
    )
    p.add_argument(
        "--valid-fraction",
        type=float,
        default=None,
        metavar="F",
        help="no --valid file: hold out this share of the training text as validation, in "
        "10 contiguous blocks of sentences placed by --seed (e.g. 0.1)",
    )
    p.add_argument(
        "--recipe",
        default=None,
        metavar="NAME|PATH",
        help=f"start from a named language-model recipe ({', '.join(recipe_names('language_model'))}) "
        "or a recipe file (TOML, a [language_model] table); the flags given beside it "
        "override its settings",
    )
    p.add_argument("--out", required=True, help="where to write the model")
    add_text_options(p, guess=True)
    g = p.add_argument_group("model")
    FeedforwardLMConfig.add_flags(g, skip=_NOT_FLAGS)  # --context-size, --embed-dim, ...
    g.add_argument(
        "--pretrained",
        default=None,
        help="word2vec or GloVe text file to initialise the embeddings (words it lacks start "
        "from N(0, std of the vectors found))",
    )
    add_training_options(p)
    add_checkpoint_options(p)
    record_given_options(p)  # a recipe's settings give way to the flags given
    p.set_defaults(handler=run_lm_train, data_parallel=True)
    add_use_commands(lm_commands, FeedforwardLM.load, "neural LM")

    # ------------------------------------------------------------------ ngram
    ngram = commands.add_parser(
        "ngram",
        help="Kneser-Ney n-gram language models (the baseline); eval, score, predict and "
        "generate also read ARPA files (KenLM's, SRILM's, ffnlp's own)",
        formatter_class=Formatter,
    )
    ngram_commands = ngram.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = ngram_commands.add_parser(
        "train", help="count an interpolated modified Kneser-Ney model", formatter_class=Formatter
    )
    p.add_argument("train", help="training text, one sentence per line")
    p.add_argument("--out", required=True, help="where to write the model")
    p.add_argument("--order", type=int, default=5, help="n-gram order (5: the 5-gram model)")
    p.add_argument("--arpa", default=None, help="also write the model in ARPA format to this file")
    add_text_options(p, guess=True)
    p.set_defaults(handler=run_ngram_train)
    add_use_commands(ngram_commands, load_ngram, "n-gram LM")


def _apply_recipe(args: argparse.Namespace) -> None:
    """Lay ``--recipe``'s settings over the flags the user did not give."""
    if not args.recipe:
        return
    recipe = load_lm_recipe(args.recipe)
    given = getattr(args, GIVEN, frozenset())
    for key, value in recipe.params.items():
        if key not in given:
            setattr(args, key, list(value) if isinstance(value, tuple) else value)
    say(f"recipe {recipe.name!r}: {recipe.description} (flags given beside it win)")


def read_training_text(args: argparse.Namespace) -> tuple[list[list[str]], RunningText]:
    """The training file's sentences, read as the flags say and, where they do not, as its
    content suggests (:func:`ffnlp.text.running.guess_running_text`)."""
    text = read_text(args.train, args.encoding, "training file")
    running = guess_running_text(text, args.tokenizer, args.sentences, args.lowercase)
    tokenizer = running.tokenizer
    train = [tokens for tokens in tokenizer.many(tokenizer.sentence_texts(text)) if tokens]
    if not train:
        raise ValueError(f"training file {args.train!r} has no tokens")
    return train, running


def build_vocab(
    args: argparse.Namespace, train: list[list[str]], running: RunningText
) -> tuple[Vocab, str]:
    """The vocabulary of the training sentences, with --min-count chosen from the data
    when neither it nor --max-vocab is given, and the line that says what was read and
    chosen (empty when nothing was guessed), to be said once nothing can fail any more."""
    counts = Counter(itertools.chain.from_iterable(train))
    min_count, chosen = args.min_count, None
    if min_count is None:
        if args.max_vocab is None:
            min_count = chosen = choose_min_count(counts)
        else:
            min_count = 1
    vocab = Vocab.from_counts(counts, min_count=min_count, max_size=args.max_vocab)
    line = running.describe(chosen, sum(counts.values()))
    return vocab, f"{args.train!r} {line}" if line else ""


def _held_out(args: argparse.Namespace, train: list[list[str]]) -> tuple[list, list, str]:
    """--valid-fraction: the training sentences kept and those held out, and the line that
    says which."""
    kept, valid, spans = held_out_blocks(train, args.valid_fraction, seed=args.seed)
    sizes = sorted(stop - start for start, stop in spans)
    line = (
        f"--valid-fraction {args.valid_fraction:g}: held out {plural(len(valid), 'sentence')} "
        f"of {len(train):,} ({plural(sum(map(len, valid)), 'token')}) as validation, in "
        f"{plural(len(spans), 'contiguous block')} of "
        + (
            f"{sizes[0]}-{sizes[-1]} sentences"
            if sizes[-1] != sizes[0]
            else plural(sizes[0], "sentence")
        )
        + f" placed by --seed {args.seed}; training uses the rest"
    )
    return kept, valid, line


def _oov(sentences: list[list[str]], vocab: Vocab) -> tuple[int, int]:
    """(tokens outside the vocabulary, tokens) of ``sentences``: those scored as <unk>."""
    tokens = sum(map(len, sentences))
    return sum(1 for s in sentences for t in s if t not in vocab), tokens


def run_lm_train(args: argparse.Namespace) -> int:
    _apply_recipe(args)
    out = check_output(args.out)
    checkpointing = checkpoint_settings(args, out)
    if args.valid and args.valid_fraction is not None:
        raise ValueError(
            "--valid gives the validation text and --valid-fraction holds part of the "
            "training text out instead: give one of them"
        )
    train_config = cli_train_config(args, "lm train")
    corpus, held_out, notes = None, None, []  # notes: what was guessed, said once nothing can fail
    if encoded.is_encoded(args.train):  # ids memory-mapped: the corpus is never loaded
        if args.valid_fraction is not None:
            raise ValueError(
                f"--valid-fraction holds out part of a text file, and {args.train!r} is an "
                "encoded corpus: give the validation text with --valid FILE"
            )
        if args.sentences not in (None, "lines"):
            raise ValueError(
                f"{args.train!r} was encoded one sentence a line; leave --sentences out, or "
                "train on the text file itself"
            )
        corpus = encoded.open_encoded(args.train)
        use_encoded_settings(args, corpus.meta)
        vocab = corpus.vocab
        sentences, tokens = corpus.meta["sentences"], corpus.meta["tokens"]
        tokenizer = Tokenizer(args.tokenizer, args.lowercase)
    else:
        train, running = read_training_text(args)
        tokenizer = running.tokenizer
        held_out = _held_out(args, train) if args.valid_fraction is not None else None
        if held_out is not None:
            train, notes = held_out[0], [held_out[2]]
        vocab, line = build_vocab(args, train, running)
        notes.insert(0, line)
        args.tokenizer, args.lowercase = tokenizer.mode, tokenizer.lowercase  # for --pretrained
        sentences, tokens = len(train), sum(len(s) for s in train)
    config = FeedforwardLMConfig.from_args(args, skip=_NOT_FLAGS, vocab_size=len(vocab))
    encode = lambda sentences: [vocab.encode(s) for s in sentences]  # noqa: E731
    train_ids = encode(train) if corpus is None else None
    counts = None  # what the adaptive softmax's cutoffs follow, when they are to be chosen
    if not config.resolved:
        counts = token_counts(train_ids if corpus is None else corpus.ids, len(vocab))
    config, output_choice = choose_output(config, counts)
    if tokens + sentences <= config.context_size:
        raise ValueError(
            f"the training file has {plural(tokens, 'token')} in {plural(sentences, 'line')}, too few for a context of "
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
        pretrained = fill_missing(vectors, found, rng=args.seed)
        say(f"pretrained vectors: {int(found.sum())} of {len(vocab)} vocabulary tokens found")
    model = FeedforwardLM(
        config, vocab=vocab, tokenizer=tokenizer, pretrained=pretrained, rng=args.seed
    )
    if corpus is not None:
        train_windows = StreamWindows(corpus.ids, config.window_size, config.layout)
    else:
        train_windows = ArrayDataset(*model.windows(train_ids))
    valid_windows, valid = None, None
    if args.valid:
        valid = load_corpus(args.valid, tokenizer, args.encoding, "validation file")
    elif held_out is not None:
        valid = held_out[1]
    if valid is not None:
        valid_windows = ArrayDataset(*model.windows(encode(valid)))
    for note in filter(None, [*notes, output_choice]):
        say(note)
    say(
        f"{plural(sentences, 'sentence')}, {plural(len(train_windows), 'training token')}, vocabulary {len(vocab):,}, {plural(model.num_parameters(), 'parameter')}"
    )
    oov = None
    if valid is not None:
        oov = _oov(valid, vocab)
        say(
            f"validation: {plural(len(valid), 'sentence')}, {plural(oov[1], 'token')}, "
            f"{oov[0]:,} of them out of the vocabulary (scored as <unk>)"
        )

    # The model is written to a temporary file next to --out whenever validation improves,
    # and moved to --out only when training ends well: a failed run never replaces a file.
    partial = out.with_name(f".{out.name}.training")
    log_path = Path(args.log) if args.log else out.with_name(out.name + LOG_SUFFIX)
    check_output(str(log_path))
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
            say(f"training stopped; the best model so far is in {str(partial)!r}")
        raise
    if not writer:
        return 0
    if not partial.exists():  # resumed, and the best epoch's file is gone: the model has it
        save(model, history.epochs[history.best_epoch - 1] if history.best_epoch else {})
    os.replace(partial, out)
    checkpointing["checkpoint"].unlink(missing_ok=True)  # the run is complete
    summary = f"wrote {str(out)!r} after {_how_far(history, args, len(train_windows))} in {time.perf_counter() - started:.0f}s"
    if history.best_valid_loss is not None:
        summary += f"; best validation perplexity {math.exp(history.best_valid_loss):.2f} (epoch {history.best_epoch})"
        if oov is not None:
            summary += f"; {oov[0]:,} of the {oov[1]:,} validation tokens out of the vocabulary (scored as <unk>)"
    print(summary)
    return 0


def _how_far(history: Any, args: argparse.Namespace, examples: int) -> str:
    """How far training went: "3 epochs", or where --max-steps or --max-time stopped it."""
    last = history.epochs[-1] if history.epochs else {"epoch": 0, "step": 0}
    per_epoch = -(-examples // args.batch_size)
    where = "at the end of" if last["step"] % per_epoch == 0 else "within"
    if history.out_of_time:
        why = f"--max-time {args.max_time}"
    elif args.max_steps is not None and last["step"] >= args.max_steps:
        why = f"--max-steps {args.max_steps}"
    else:
        return plural(len(history.epochs), "epoch")
    return (
        f"{plural(last['step'], 'step')} (stopped by {why}, "
        f"{where} epoch {last['epoch']} of {args.epochs})"
    )


def run_ngram_train(args: argparse.Namespace) -> int:
    out = check_output(args.out)
    if args.arpa:
        check_output(args.arpa)
    check_positive("--order", args.order)
    train, running = read_training_text(args)
    vocab, line = build_vocab(args, train, running)
    started = time.perf_counter()
    lm = KneserNeyLM(args.order, vocab=vocab, tokenizer=running.tokenizer)
    lm.fit([vocab.encode(s) for s in train], len(vocab))
    lm.save(out)
    if args.arpa:
        lm.to_arpa(args.arpa)
    if line:
        say(line)
    n = ", ".join(
        f"{len(lm.counts[k]) if k > 1 else len(vocab)} {k}-grams" for k in range(1, args.order + 1)
    )
    print(
        f"wrote {str(out)!r}: order {args.order}, vocabulary {len(vocab)}, {n}, in {time.perf_counter() - started:.1f}s"
    )
    return 0


def run_eval(args: argparse.Namespace) -> int:
    for flag in ("tune_on", "weight"):  # settings of the mixture, which needs --ngram
        if getattr(args, flag, None) is not None and not args.ngram:
            raise ValueError(
                f"{'--' + flag.replace('_', '-')} sets the mixture with an n-gram model: give "
                "the n-gram model with --ngram MODEL (ffnlp ngram train), or leave it out"
            )
    model: TextLM = args.load(args.model)
    lines = read_text_lines(args.test, args.encoding, model.tokenizer)  # as in training
    sentences = model.encode_lines(lines)
    log_probs = model.log_probs(sentences)
    results: dict[str, Any] = {
        "tokens": len(log_probs),
        # words of the test text the vocabulary lacks, scored as <unk> (KenLM's OOVs)
        "oov": sum(token not in model.vocab for line in lines for token in model.tokenizer(line)),
        "perplexity": float(np.exp(-log_probs.mean())),
    }
    if getattr(args, "ngram", None):
        ngram = load_ngram(args.ngram)  # ffnlp's model file, or an ARPA file
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
            tune = model.encode_lines(read_text_lines(args.tune_on, args.encoding, model.tokenizer))
            weight = interpolate_weight(model.log_probs(tune), ngram.log_probs(tune))
        else:
            check_probability("--weight", weight, allow_one=True)
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
        print(
            f"perplexity {results['perplexity']:.2f} over {plural(results['tokens'], 'token')}; "
            f"{plural(results['oov'], 'token')} out of the vocabulary (scored as <unk>)"
        )
        if "weight" in results:
            print(f"n-gram perplexity {results['ngram_perplexity']:.2f}")
            print(
                f"interpolated perplexity {results['interpolated_perplexity']:.2f} (weight of the neural LM {results['weight']:.3f})"
            )
    return 0


def run_score(args: argparse.Namespace) -> int:
    model: TextLM = args.load(args.model)
    lines = read_text_lines(args.file, args.encoding, model.tokenizer)  # as in training
    for line, log_prob in zip(lines, model.sentence_log_probs(lines)):
        tokens = len(model.tokenizer(line)) + 1
        print(f"{log_prob:.4f}\t{math.exp(-log_prob / tokens):.2f}\t{line.strip()}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    check_positive("--top", args.top)
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
