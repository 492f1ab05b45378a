"""``ffnlp classify``: train, test, predict and cross-validate text classifiers."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp import distributed
from ffnlp.checks import check_int, check_threshold, plural
from ffnlp.cli.common import (
    GIVEN,
    Formatter,
    add_checkpoint_options,
    add_training_options,
    check_output,
    check_positive,
    checkpoint_settings,
    import_estimators,
    lr_schedule,
    record_given_options,
    say,
    warn_unusual_lr,
)
from ffnlp.metrics import (
    classification_report,
    containing_groups,
    multi_label_report,
    stratified_kfold,
)
from ffnlp.models.classifier import ClassifierOptions, DeepAveraging
from ffnlp.recipes import load_recipe, recipe_names
from ffnlp.settings import parse_duration
from ffnlp.text.features import read_lexicon
from ffnlp.text.labelled import FORMATS, as_label_sets, is_multi_label, read_labelled_text
from ffnlp.text.reading import (
    Reading,
    TextTable,
    check_labelling,
    describe_guess,
    guess_format,
    guess_reading,
    merge_recorded,
    read_text_table,
)
from ffnlp.text.settings import TextSettings
from ffnlp.train import CLASSIFIER_TRAINING, Training
from ffnlp.viz.curves import LOG_SUFFIX

PREDICT_FORMATS = ("text", "tsv", "csv")
OUTPUT_FORMATS = ("text", "csv", "tsv", "jsonl")


def _add_labelled_input(p: argparse.ArgumentParser, nargs: str = "+", model: bool = False) -> None:
    p.add_argument(
        "input",
        nargs=nargs,
        help="labelled text file(s); with --format files, one file per class (LABEL=PATH, or PATH whose extension is the label)",
    )
    what = (
        "as the model's training data was read, else guessed from the content"
        if model
        else "guessed from the content (the guess is printed)"
    )
    g = p.add_argument_group("input", f"How the input is read; by default, {what}.")
    g.add_argument(
        "--format",
        choices=(*FORMATS, "files"),
        default=None,
        help="fasttext: '__label__X text'; label-first: 'X text'; tsv/csv: columns; files: one file per class; None: guessed",
    )
    g.add_argument(
        "--delimiter",
        default=None,
        metavar="CHAR",
        help="csv: the field separator (guessed among , ; |); implies --format csv ('\\t': tsv)",
    )
    g.add_argument(
        "--label-column",
        default=None,
        help="tsv/csv: the label column, a 0-based index or a header name; None: the column named label, class, category, target, sentiment, ...",
    )
    g.add_argument(
        "--text-column",
        default=None,
        help="tsv/csv: the text column; None: the one named text, sentence, review, content, ... (without a header, the longest)",
    )
    g.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tsv/csv: whether the first row names the columns; None: guessed",
    )
    g.add_argument(
        "--encoding", default=None, help="encoding of the input; None: UTF-8 (MR is cp1252)"
    )


CONTRAST_HELP = (
    "comma-separated words such as 'but': at prediction, a text with a clause after the "
    "last of them gets the mean of the whole text's and the clause's probabilities"
)


def _word_list(text: str) -> list[str]:
    """``but,however`` -> ["but", "however"] (one argument, so it cannot swallow a file)."""
    return [w.strip() for w in text.split(",") if w.strip()]


def _add_classifier_options(p: argparse.ArgumentParser, log: bool) -> None:
    p.add_argument(
        "--recipe",
        default="default",
        metavar="NAME|PATH",
        help=f"start from a named recipe ({', '.join(recipe_names())}) or a recipe file "
        "(TOML); the flags given beside it override its settings (a feature flag replaces "
        "or adds its own kind of feature, 0 or --no-... removes it). Unset: the first "
        "of them, settings chosen for no one dataset (its file says how); --auto searches "
        "for the data's own",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--features",
        choices=("embeddings", "lexicon"),
        default="embeddings",
        help="embeddings: TextClassifier (pooled embeddings of the words and feature rows); lexicon: LexiconClassifier (the chapter's six hand-built lexicon features)",
    )
    g.add_argument(
        "--lexicon",
        default=None,
        help="lexicon file (word<TAB>positive|negative) for --features lexicon (default: derived from the training data)",
    )
    g.add_argument("--lexicon-size", type=int, default=200, help="words in a derived lexicon")
    DeepAveraging.add_flags(g)  # --embed-dim, --pooling, --hidden, ... as declared
    ClassifierOptions.add_flags(g, skip=("batch_by_length",))  # --wide, --freeze-embeddings
    f = p.add_argument_group("features", "Rows added after the words (ffnlp.text.row_features).")
    f.add_argument(
        "--bigrams",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="add word bigrams (the fastText trick): one row per bigram seen --min-count times, or hashed into --buckets rows",
    )
    f.add_argument(
        "--buckets",
        type=int,
        default=0,
        help="hash the bigrams into this many rows (0: one row per bigram seen --min-count times, a table sized to the data)",
    )
    f.add_argument(
        "--prefix-ngrams",
        type=int,
        default=0,
        help="add features for each text's first word, first two words, ... up to this many",
    )
    f.add_argument(
        "--prefix-pairs",
        type=int,
        default=0,
        help="add features pairing each of a text's first this many words with every later word (wh-word x head noun), pairs seen at least twice",
    )
    f.add_argument(
        "--word-shapes",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="add a feature for the shape of each word after the first (Xx for Paris, X for NASA, dddd for 1990), shapes seen at least twice",
    )
    f.add_argument(
        "--subwords",
        action="store_true",
        help="add the character n-grams of every word (fastText's subwords: 3 to 6 characters, '<' and '>' around the word), hashed into as many rows as the training words have distinct n-grams: a word training never saw still gets rows",
    )
    f.add_argument(
        "--char-ngrams",
        type=int,
        nargs=2,
        default=None,
        metavar=("MIN", "MAX"),
        help="the same with n-grams of MIN to MAX characters (0 0: none, e.g. to remove a recipe's)",
    )
    g.add_argument(
        "--contrast-words",
        type=_word_list,
        default=[],
        metavar="WORDS",
        help=CONTRAST_HELP,
    )
    g.add_argument(
        "--pretrained",
        default=None,
        help="word2vec/GloVe text file for the embeddings (words it lacks start from N(0, std of the vectors found))",
    )
    TextSettings.add_flags(p.add_argument_group("text"))
    t = add_training_options(p, defaults=CLASSIFIER_TRAINING, log=log)
    ClassifierOptions.add_flags(t, skip=("wide", "freeze_embeddings"))  # --batch-by-length
    t.add_argument(
        "--class-weight",
        choices=("none", "balanced"),
        default="none",
        help="balanced: weight each class's texts by n / (classes * n_class) in the loss, so every class counts alike (pooled embeddings only, not --features lexicon)",
    )


# The settings whose flag's destination is not their own name.
_PARAMETER_FLAGS = {"random_state": "seed"}
# The flags that make the feature objects (a recipe's features give way to any of them).
_FEATURE_FLAGS = (
    "bigrams", "buckets", "prefix_ngrams", "prefix_pairs", "word_shapes", "subwords",
    "char_ngrams",
)  # fmt: skip
# Settings of one classifier and not the other: given to the other, they are refused.
_LEXICON_ONLY = ("lexicon", "lexicon_size")
_EMBEDDINGS_ONLY = (
    "embed_dim", "pooling", "word_dropout", *_FEATURE_FLAGS, "nb_features",
    "pool_words_only", "loss", "wide", "min_count", "max_vocab", "unknown_words", "pretrained",
    "freeze_embeddings", "batch_by_length", "class_weight", "recipe",
)  # fmt: skip


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _features(args: argparse.Namespace, base: Sequence[Any] = ()) -> list[Any]:
    """The feature objects: ``base`` (a recipe's), each kind the feature flags name
    replaced, added or (with 0) removed; rows are laid out in the list's order."""
    from ffnlp.text.row_features import (
        Bigrams,
        CharNgrams,
        OpeningPairs,
        Openings,
        WordShapes,
    )

    given = getattr(args, GIVEN, frozenset())
    features = {f.kind: f for f in base}
    if "bigrams" in given and not args.bigrams:  # --no-bigrams
        if "buckets" in given:
            raise ValueError("--buckets sizes the bigram table: leave it out with --no-bigrams")
        features.pop("bigrams", None)
    elif args.bigrams or "buckets" in given:
        if not args.bigrams and "bigrams" not in features:
            raise ValueError("--buckets sizes the bigram table: give it with --bigrams")
        keep = "bigrams" in features and "buckets" not in given
        features["bigrams"] = features["bigrams"] if keep else Bigrams(buckets=args.buckets)
    for flag, cls in (("prefix_ngrams", Openings), ("prefix_pairs", OpeningPairs)):
        n = getattr(args, flag)
        if n:
            features[cls.kind] = cls(n)
        elif flag in given:  # 0: none of them
            features.pop(cls.kind, None)
    if args.word_shapes:
        features["word-shapes"] = WordShapes()
    elif "word_shapes" in given:  # --no-word-shapes
        features.pop("word-shapes", None)
    if args.char_ngrams == [0, 0]:  # none of them
        features.pop(CharNgrams.kind, None)
    elif args.char_ngrams is not None:
        low, high = args.char_ngrams
        if not 1 <= low <= high:
            raise ValueError(
                f"--char-ngrams MIN MAX needs 1 <= MIN <= MAX (0 0 for none); got {low} {high}"
            )
        features[CharNgrams.kind] = CharNgrams(low, high)
    elif args.subwords:
        features[CharNgrams.kind] = CharNgrams()
    return list(features.values())


def _with_recipe(
    args: argparse.Namespace, params: dict[str, Any], given: frozenset[str]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``params`` (flat settings) with the recipe's laid over those the user did not give,
    and the contrast words (the flag's, else the recipe's)."""
    words = tuple(args.contrast_words)
    if not args.recipe:
        return params, words
    recipe = load_recipe(args.recipe)
    for key, value in recipe.params.items():
        if key in ("verbose", "pretrained"):
            raise ValueError(
                f"recipe {args.recipe!r}: {key!r} cannot be set in a recipe (use the flag)"
            )
        if key == "features":  # below: the flags' kinds laid over these
            continue
        if _PARAMETER_FLAGS.get(key, key) not in given:
            params[key] = value
    params["features"] = _features(args, recipe.params.get("features", ()))
    return params, words if "contrast_words" in given else recipe.contrast_words


def _flat_settings(args: argparse.Namespace, groups: Sequence[type]) -> dict[str, Any]:
    """Each setting of ``groups`` from its flag, checked under the flag's name."""
    flat: dict[str, Any] = {}
    for group in groups:
        flat.update(dataclasses.asdict(group.from_args(args)))
    return flat


def add_classify_commands(commands: Any) -> None:
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
        help="held-out labelled texts, read as the training data is (with --format files, their format guessed): their loss and accuracy after every epoch go to the log, their loss judges the epochs (see --early-stopping), and with --lr-schedule plateau it also steers the learning rate",
    )
    _add_classifier_options(p, log=True)
    search = p.add_argument_group(
        "search",
        "With --auto, the recipe is chosen for the data (ffnlp.autotune): every shipped\n"
        "recipe, then the neighbours of the best (epochs, rate, dropout, width, a hidden\n"
        "layer, bigrams, the wide tower), each scored on held-out parts of the training data\n"
        "(3-fold cross-validation, or one fifth from 20,000 texts), within --time-budget;\n"
        "the recipe chosen is then trained on all of it, and kept in the model file.",
    )
    search.add_argument(
        "--auto",
        action="store_true",
        help="choose the model's settings by the search (the text flags, --tokenizer, "
        "--lowercase, --min-count, --max-vocab, still apply; the other model and training "
        "flags are the search's to choose)",
    )
    search.add_argument(
        "--time-budget",
        default="60",
        metavar="TIME",
        help="--auto: the whole run's time, the final fit included (seconds, or 90s, 5m)",
    )
    search.add_argument(
        "--write-recipe",
        default=None,
        metavar="PATH",
        help="--auto: also write the recipe chosen as a recipe file (TOML), for --recipe PATH",
    )
    add_checkpoint_options(p)
    record_given_options(p)
    p.set_defaults(handler=run_classify_train, data_parallel=True)
    p = sub.add_parser(
        "test",
        help="accuracy, per-class and macro precision/recall/F1 and the confusion matrix; "
        "of multi-label data, P@k, R@k and micro/macro F1",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="the model file")
    _add_labelled_input(p, model=True)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument(
        "-k",
        "--top",
        type=int,
        default=None,
        help="multi-label report (P@k, R@k, micro and macro F1, as fastText's test) of each "
        "text's k most probable labels; the report of a multi-label model, or of texts with "
        "several labels, with k 1 when not given",
    )
    _add_threshold(p, "multi-label report: count only the predictions of probability >= P")
    _add_contrast_override(p)
    p.set_defaults(handler=run_classify_test)
    p = sub.add_parser(
        "predict", help="the most probable labels of each text", formatter_class=Formatter
    )
    p.add_argument("model", help="the model file")
    p.add_argument(
        "file",
        nargs="?",
        default="-",
        help="texts: one a line, or a tsv/csv table ('-': standard input)",
    )
    p.add_argument("-k", "--top", type=int, default=1, help="how many labels per text")
    _add_threshold(p, "only the labels of probability >= P (at most k; a text may get none)")
    _add_prediction_input(p)
    _add_contrast_override(p)
    p.set_defaults(handler=run_classify_predict)
    _add_quantize_command(sub)
    p = sub.add_parser("cv", help="stratified k-fold cross-validation", formatter_class=Formatter)
    _add_labelled_input(p)
    p.add_argument(
        "--folds", type=int, default=10, help="number of folds (10 is the literature's convention)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _add_classifier_options(p, log=False)
    record_given_options(p)
    p.set_defaults(handler=run_classify_cv)


def _add_threshold(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument(
        "--threshold", type=float, default=None, metavar="P", help=help + "; P in (0, 1)"
    )


def _threshold(args: argparse.Namespace) -> float | None:
    if args.threshold is None:
        return None
    return check_threshold(args.threshold, "--threshold")


def _add_quantize_command(sub: Any) -> None:
    p = sub.add_parser(
        "quantize",
        help="a small copy of a model (fastText's quantize): rows cut, product-quantized",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="the model file")
    _add_labelled_input(p, nargs="*", model=True)
    p.add_argument("--out", required=True, help="where to write the small model")
    p.add_argument(
        "--cutoff",
        type=int,
        default=0,
        help="keep this many rows (words, bigrams, ...), those of largest norm; 0: all",
    )
    p.add_argument(
        "--dsub", type=int, default=2, help="dimensions per quantized part of a row (1 byte each)"
    )
    p.add_argument("--qnorm", action="store_true", help="quantize the rows' norms apart")
    p.add_argument(
        "--qout", action="store_true", help="quantize the dense layers' weights too (8-bit)"
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train the dense layers again on the labelled input, the quantized rows fixed",
    )
    p.add_argument(
        "--epochs", type=int, default=None, help="--retrain: epochs (None: the model's own)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of k-means and the retraining")
    p.set_defaults(handler=run_classify_quantize)


def run_classify_quantize(args: argparse.Namespace) -> int:
    out = check_output(args.out)
    check_positive("--epochs", args.epochs)
    check_positive("--dsub", args.dsub)
    check_int("--cutoff", args.cutoff, minimum=0)
    if args.input and not args.retrain:
        raise ValueError("labelled input is for --retrain: give --retrain, or leave the files out")
    if args.retrain and not args.input:
        raise ValueError(
            "--retrain trains on labelled texts: give the training file(s) after MODEL"
        )
    model = import_estimators().load_classifier(args.model)
    inner = getattr(model, "estimator_", model)
    if not hasattr(inner, "quantize"):
        raise ValueError(
            f"{args.model!r} holds a {type(inner).__name__}; only a TextClassifier quantizes"
        )
    if getattr(inner, "quantized_", None) is not None:
        raise ValueError(
            f"{args.model!r} is already quantized ({inner.quantized_.describe()}); "
            "quantize the original model instead"
        )
    texts = labels = None
    if args.retrain:
        recorded = getattr(model, "reading_", None)
        _, texts, labels = _read_labelled(
            args, None if recorded is None else Reading.from_dict(recorded)
        )
    small = inner.quantize(
        cutoff=args.cutoff,
        dsub=args.dsub,
        qnorm=args.qnorm,
        qout=args.qout,
        retrain=args.retrain,
        X=texts,
        y=labels,
        epochs=args.epochs,
        random_state=args.seed,
    )
    if inner is not model:  # the contrast words stay around the small classifier
        model.estimator_ = small
    else:
        model = small
    model.save(out)
    before, after = os.path.getsize(args.model), os.path.getsize(out)
    print(
        f"wrote {str(out)!r}: {after / 1e6:.2f} MB, from {before / 1e6:.2f} MB "
        f"(1/{before / after:.1f}; {small.quantized_.describe()})"
    )
    return 0


def _add_prediction_input(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "input and output",
        "By default the input is read as the model's training data was: a tsv/csv table "
        "when it was one (every column kept), else one text a line; a model file without "
        "that record (older files): a table if the input looks like one.",
    )
    g.add_argument(
        "--format",
        choices=PREDICT_FORMATS,
        default=None,
        help="text: one text a line; tsv/csv: a table whose text column is classified",
    )
    g.add_argument("--delimiter", default=None, metavar="CHAR", help="csv: the field separator")
    g.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tsv/csv: whether the first row names the columns; None: the model's, else guessed",
    )
    g.add_argument(
        "--text-column",
        default=None,
        help="tsv/csv: the text column, a 0-based index or a header name; None: the model's, else one named text, sentence, review, ...",
    )
    g.add_argument(
        "--encoding", default=None, help="encoding of the texts; None: the model's (else UTF-8)"
    )
    g.add_argument(
        "--output-format",
        choices=OUTPUT_FORMATS,
        default="text",
        help="text: 'LABEL P' per label, a tab, the text; csv/tsv: the input's columns, then predicted_label and probability (predicted_label_2, probability_2, ... with -k); jsonl: one JSON object a line, the same keys",
    )


def _add_contrast_override(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--contrast-words",
        type=_word_list,
        default=None,
        metavar="WORDS",
        help=CONTRAST_HELP + "; replaces the model's own ('' for none); they act at "
        "prediction only, so no retraining is needed",
    )


def _load_classifier(args: argparse.Namespace) -> tuple[Any, Reading | None]:
    """The model, and how its training data was read (None: not recorded)."""
    estimators = import_estimators()
    model = estimators.load_classifier(args.model)
    recorded = getattr(model, "reading_", None)
    reading = None if recorded is None else Reading.from_dict(recorded)
    if args.contrast_words is None:
        return model, reading
    inner = getattr(model, "estimator_", model)
    if not args.contrast_words:  # '' for none: the classifier alone
        return inner, reading
    wrapper = estimators.ContrastClauses(
        type(inner)(**inner.get_params(deep=False)), words=tuple(args.contrast_words)
    )
    wrapper._checked_words(inner.tokenizer_.mode)  # checked now, not at the first prediction
    wrapper.estimator_, wrapper.classes_ = inner, inner.classes_
    return wrapper, reading


_READING_FLAGS = ("format", "delimiter", "header", "label_column", "text_column", "encoding")


def _delimiter(value: str | None) -> str | None:
    """``--delimiter``, with the tab as the shell passes it most easily ('\\t', 'tab')."""
    return "\t" if value in ("\\t", "tab", "TAB") else value


def _reading(
    args: argparse.Namespace, path: str, recorded: Reading | None = None, flags: bool = True
) -> Reading:
    """How to read ``path``: the flags given (``flags``), else ``recorded`` (the model's
    training data), else guessed from its content; a guess or a recorded reading is
    said on stderr, in one line."""
    names = _READING_FLAGS if flags else ("encoding",)
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if "delimiter" in given:
        given["delimiter"] = _delimiter(given["delimiter"])
    settings = merge_recorded(recorded, given)
    reading, guessed = guess_reading(path, **settings)
    if guessed:
        say(describe_guess(path, reading, guessed))
    elif recorded is not None and settings.get("format") == recorded.format:
        say(f"read {path!r} as the model's training data was read: {reading.describe()}")
    return reading


def _read_labelled(
    args: argparse.Namespace, recorded: Reading | None = None
) -> tuple[Reading, list[str], list[str]]:
    reading = _reading(args, args.input[0], recorded)
    try:
        texts, labels = reading.read(args.input)
    except ValueError as err:
        raise ValueError(f"{err}{_format_hint(args, reading)}") from None
    return reading, texts, labels


def _format_hint(args: argparse.Namespace, reading: Reading) -> str:
    """When a format given by flag fails, what the files' content looks like instead."""
    if args.format is None or reading.format == "files":
        return ""
    try:
        looks = guess_format(read_labelled_text(args.input[0], reading.encoding))[0]
    except ValueError:
        return ""
    if looks == reading.format:
        return ""
    return f" ({args.input[0]!r} looks like {looks}: leave out --format, or give --format {looks})"


def _classifier(args: argparse.Namespace) -> Any:
    for name in ("lexicon_size",):
        check_positive(f"--{name.replace('_', '-')}", getattr(args, name))
    estimators = import_estimators()
    given = getattr(args, GIVEN, frozenset())
    training = Training.from_args(args)
    training.lr_schedule = lr_schedule(args, f"classify {args.subcommand}")
    warn_unusual_lr(training.lr, training.optimizer)
    own = dict(random_state=args.seed, verbose=not args.no_progress)
    if args.features == "lexicon":
        wrong = [d for d in _EMBEDDINGS_ONLY if d in given]
        if wrong:
            raise ValueError(
                f"{_flag(wrong[0])} is a setting of the classifier on embeddings, not of "
                "--features lexicon: leave it out"
            )
        network = DeepAveraging.from_args(args)
        text = TextSettings.from_args(args)
        model = estimators.LexiconClassifier(
            lexicon=read_lexicon(args.lexicon, args.encoding) if args.lexicon else None,
            lexicon_size=args.lexicon_size,
            tokenizer=text.tokenizer,
            lowercase=text.lowercase,
            # --hidden with no sizes: logistic regression on the six features
            hidden_dims=network.hidden_dims if "hidden_dims" in given else (16,),
            activation=network.activation,
            dropout=network.dropout,
            training=training,
            **own,
        )
        words = tuple(args.contrast_words)
    else:
        wrong = [d for d in _LEXICON_ONLY if d in given]
        if wrong:
            raise ValueError(
                f"{_flag(wrong[0])} is a setting of --features lexicon, not of the "
                "classifier on embeddings: leave it out"
            )
        params = _flat_settings(args, (DeepAveraging, TextSettings, ClassifierOptions))
        params.update(
            dataclasses.asdict(training),
            features=[] if args.recipe else _features(args),  # with a recipe: _with_recipe
            pretrained=args.pretrained,
            class_weight=None if args.class_weight == "none" else args.class_weight,
            **own,
        )
        params, words = _with_recipe(args, params, given)
        model = estimators.TextClassifier.from_settings(**params)
    if words:
        model = estimators.ContrastClauses(model, words=words)
        model._checked_words(args.tokenizer)  # refused now, not after training
    return model


# With --auto, the flags that may be given: how the data is read and the text becomes words,
# the run's own (seed, log, progress, threads, checkpoints); the rest is the search's.
_AUTO_ALLOWED = {
    "format", "delimiter", "header", "label_column", "text_column", "encoding", "valid",
    "log", "tokenizer", "lowercase", "min_count", "max_vocab", "seed", "no_progress",
    "threads", "checkpoint", "checkpoint_every", "auto", "time_budget", "write_recipe", "out",
}  # fmt: skip


def _auto_settings(args: argparse.Namespace) -> tuple[float, dict[str, Any]]:
    """--auto's time budget and the text settings it lays over every candidate; refuses
    the flags it would have to ignore."""
    given = getattr(args, GIVEN, frozenset())
    if not args.auto:
        for dest in ("time_budget", "write_recipe"):
            if dest in given:
                raise ValueError(
                    f"{_flag(dest)} belongs to --auto: give --auto too, or leave it out"
                )
        return 0.0, {}
    if args.resume:
        raise ValueError("--auto cannot resume: run the search again, or --recipe the one it wrote")
    wrong = sorted(d for d in given if d not in _AUTO_ALLOWED)
    if wrong:
        raise ValueError(
            f"--auto chooses the model and training settings: leave {_flag(wrong[0])} out, or "
            "drop --auto (--recipe trains a named or saved recipe)"
        )
    if args.write_recipe:
        check_output(args.write_recipe)
    budget = parse_duration("--time-budget", args.time_budget)
    text = TextSettings.from_args(args, skip=("unknown_words",))
    fixed = {k: v for k, v in dataclasses.asdict(text).items() if k in given}
    return budget, fixed


def run_classify_train(args: argparse.Namespace) -> int:
    out = check_output(args.out)
    checkpointing = checkpoint_settings(args, out)
    if "early_stopping" in getattr(args, GIVEN, frozenset()) and not args.valid:
        raise ValueError("--early-stopping judges the epochs on held-out data: give --valid FILE")
    budget, fixed = _auto_settings(args)
    import_estimators()  # before the recipes import them: see import_estimators
    model = None if args.auto else _classifier(args)
    reading, texts, labels = _read_labelled(args)
    check_labelling(labels, reading)
    if is_multi_label(labels) and (args.auto or args.features == "lexicon"):
        raise ValueError(
            f"{args.input[0]!r} has texts with several labels: "
            f"{'--auto' if args.auto else '--features lexicon'} learns one label per text; "
            "leave it out (the classifier on embeddings learns label sets)"
        )
    eval_set = None
    if args.valid:
        # One file, in the training data's reading (a file per class: its own, guessed)
        valid = _reading(args, args.valid, flags=False) if reading.format == "files" else reading
        eval_set = valid.read(args.valid)
    log_path = check_output(args.log or str(out.with_name(out.name + LOG_SUFFIX)))
    writer = distributed.world().is_root  # under mpirun, rank 0 alone writes files
    started = time.perf_counter()
    if args.auto:
        from ffnlp.autotune import fit_auto

        model = fit_auto(
            texts,
            labels,
            budget,
            args.seed,
            say=say if writer else None,
            settings=fixed,
            verbose=not args.no_progress,
            eval_set=eval_set,
            log_path=log_path,
            **checkpointing,
        )
    else:
        if writer and not args.resume:  # a resumed run's log goes on where it was saved
            _log_settings(log_path, model)
        model.fit(texts, labels, eval_set=eval_set, log_path=log_path, **checkpointing)
    if not writer:
        return 0
    model.save(out, reading=reading.to_dict())
    checkpointing["checkpoint"].unlink(missing_ok=True)
    if args.auto and args.write_recipe:
        from ffnlp.autotune import recipe_of

        recipe_of(model.search_).write(args.write_recipe)
        print(f"wrote the recipe chosen to {args.write_recipe!r} (--recipe {args.write_recipe})")
    print(
        f"wrote {str(out)!r}: {plural(len(texts), 'text')}, "
        f"{plural(len(model.classes_), 'class', 'classes')}, trained in "
        f"{time.perf_counter() - started:.1f}s{_best_epoch(getattr(model, 'estimator_', model), args)}"
    )
    return 0


def _log_settings(log_path: Any, model: Any) -> None:
    """The run's first log line: when it started and every setting of the classifier."""
    with open(log_path, "a", encoding="utf-8") as log:
        record = {"run": "classify train", "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        inner = getattr(model, "estimator", model)
        settings = {**inner.flat_settings(), "contrast_words": list(getattr(model, "words", ()))}
        log.write(json.dumps({**record, "params": settings}, default=str) + "\n")


def _best_epoch(model: Any, args: argparse.Namespace) -> str:
    """``; kept epoch 4 of 7 (...)`` when held-out data judged the epochs, and where
    --max-time stopped the run; else ''."""
    history = getattr(model, "history_", None)
    if history is None:
        return ""
    said = ""
    if history.out_of_time:
        last = history.epochs[-1]
        said = (
            f"; stopped by --max-time {args.max_time} after {plural(last['step'], 'step')}, "
            f"in epoch {last['epoch']} of {args.epochs}"
        )
    if history.best_epoch is None:
        return said
    record = history.epochs[history.best_epoch - 1]
    accuracy = record.get("valid_accuracy")
    shown = f", accuracy {accuracy:.4f}" if accuracy is not None else ""
    ran = len(history.epochs)
    why = f", stopped early after {ran} epochs" if history.stopped_early else f" of {ran}"
    if history.out_of_time:
        why = f" of {ran}"
    return (
        f"{said}; kept epoch {history.best_epoch}{why} "
        f"(held-out loss {history.best_valid_loss:.4f}{shown})"
    )


def run_classify_test(args: argparse.Namespace) -> int:
    threshold = _threshold(args)
    if args.top is not None:
        check_positive("--top", args.top)
    model, recorded = _load_classifier(args)
    _, texts, labels = _read_labelled(args, recorded)
    multi = getattr(getattr(model, "estimator_", model), "multi_label_", False)
    if multi or is_multi_label(labels) or args.top is not None or threshold is not None:
        sets = [tuple(str(y) for y in s) for s in as_label_sets(labels)]
        import_estimators().check_unseen_labels(
            model.classes_.tolist(), [y for s in sets for y in s]
        )
        k = args.top or 1
        tops = model.predict_top(texts, k=k, threshold=threshold)
        predicted = [[str(label) for label, _ in top] for top in tops]
        report = multi_label_report(sets, predicted, k, threshold or 0.0)
        print(json.dumps(report.to_dict()) if args.json else str(report))
        return 0
    import_estimators().check_unseen_labels(model.classes_.tolist(), labels)
    predicted = [str(p) for p in model.predict(texts)]
    report = classification_report(
        [str(y) for y in labels], predicted, labels=[str(c) for c in model.classes_]
    )
    print(json.dumps(report.to_dict()) if args.json else str(report))
    return 0


PREDICT_PART = 8192  # texts classified and written at a time


def run_classify_predict(args: argparse.Namespace) -> int:
    check_positive("--top", args.top)
    threshold = _threshold(args)
    model, recorded = _load_classifier(args)
    table = _prediction_input(args, recorded)
    texts = table.texts
    if args.output_format == "text":
        # A part at a time, each written as it is ready: ``| head`` ends the run early.
        for start in range(0, len(texts), PREDICT_PART):
            part = texts[start : start + PREDICT_PART]
            probs = model.predict_proba(part)
            sys.stdout.write(_top_lines(probs, model.classes_, args.top, threshold, part))
        return 0
    probs = model.predict_proba(texts)
    tops = import_estimators().base.top_labels(probs, model.classes_, args.top, threshold)
    k = min(args.top, len(model.classes_))
    added = [
        name + ("" if i == 1 else f"_{i}")
        for i in range(1, k + 1)
        for name in ("predicted_label", "probability")
    ]
    taken = sorted(set(added) & set(table.names))
    if taken:
        raise ValueError(
            f"the input already has a column {taken[0]!r}, which predict adds: rename it"
        )
    width = max(len(row) for row in table.rows)
    names = table.names or [f"column_{j}" for j in range(width)]
    names = names + [f"column_{j}" for j in range(len(names), width)]
    if args.output_format == "jsonl":
        for row, top in zip(table.rows, tops):
            record: dict[str, Any] = dict(zip(names, row))
            for i, (label, p) in enumerate(top):
                record.update(zip(added[2 * i : 2 * i + 2], (label, round(p, 6))))
            print(json.dumps(record, ensure_ascii=False))
        return 0
    writer = csv.writer(
        sys.stdout, delimiter="\t" if args.output_format == "tsv" else ",", lineterminator="\n"
    )
    if table.names:
        writer.writerow(table.names + added)
    for row, top in zip(table.rows, tops):
        cells = [x for label, p in top for x in (label, f"{p:.6f}")]
        writer.writerow(row + cells + [""] * (len(added) - len(cells)))  # below --threshold
    return 0


def _top_lines(
    probs: np.ndarray, classes: np.ndarray, k: int, threshold: float | None, texts: list[str]
) -> str:
    """``predict``'s text output: for each text, its top ``k`` labels and probabilities (those
    of at least ``threshold``), each pair and the text tab-separated; what
    :func:`top_labels` gives, formatted a column at a time (per-row Python was most of the
    time of a large file)."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(probs, order, axis=1)
    low = -np.inf if threshold is None else threshold
    labels = classes.tolist()
    columns = []
    for j in range(k):  # a row's labels past the threshold are its last ones: it is sorted
        kept = (top[:, j] >= low).tolist()
        none = "\t" if j == 0 else ""  # a text with no label still has its tab
        columns.append(
            [
                f"{labels[c]} {p:.4f}\t" if ok else none
                for c, p, ok in zip(order[:, j].tolist(), top[:, j].tolist(), kept)
            ]
        )
    return "".join([f"{''.join(pairs)}{text}\n" for *pairs, text in zip(*columns, texts)])


def _prediction_input(args: argparse.Namespace, recorded: Reading | None) -> TextTable:
    """The texts to classify, as a table: one column (``text``) for one text a line. The
    format: ``--format``, else the model's record, else (older files) guessed."""
    encoding = args.encoding or (recorded.encoding if recorded is not None else None)
    if args.file == "-":
        where, content = "standard input", sys.stdin.read().removeprefix("\ufeff")
    else:
        where, content = repr(args.file), read_labelled_text(args.file, encoding, "text file")
    fmt = args.format
    if fmt is None and recorded is not None:
        fmt = recorded.format if recorded.delimited else "text"
    elif fmt is None:  # a model file without a record: a table if it looks like one
        fmt = guess_format(content)[0]
        fmt = fmt if fmt in ("tsv", "csv") else "text"
    if fmt == "text":
        texts = [line for line in content.splitlines() if line.strip()]
        if not texts:
            raise ValueError("no texts to classify")
        return TextTable(["text"], [[t] for t in texts], list(range(1, len(texts) + 1)), 0)
    table = read_text_table(
        content,
        where,
        fmt,
        recorded,
        delimiter=_delimiter(args.delimiter),
        header=args.header,
        text_column=args.text_column,
    )
    column = table.names[table.text_column] if table.names else table.text_column
    say(
        f"classifying column {column!r} of {where} ({fmt}, "
        f"{'a header row' if table.names else 'no header'}; --format text for one text a line)"
    )
    return table


def run_classify_cv(args: argparse.Namespace) -> int:
    check_positive("--folds", args.folds)
    reading, texts, labels = _read_labelled(args)
    check_labelling(labels, reading)
    if is_multi_label(labels):
        raise ValueError(
            f"{args.input[0]!r} has texts with several labels: classify cv splits texts of "
            "one label each; train, then classify test on held-out texts"
        )
    template = _classifier(args)
    getattr(template, "estimator", template).verbose = False
    accuracies, f1s = [], []
    started = time.perf_counter()
    # A text inside a longer one (a labelled phrase of a sentence, a copy) stays in that
    # one's fold, and only whole texts are scored: else pieces of a test text train.
    groups = containing_groups(texts)
    whole = groups == np.arange(len(texts))
    if not whole.all() and not args.json:
        print(
            f"{plural(int((~whole).sum()), 'text')} lie inside longer ones (phrases, copies): "
            f"each is kept in its longer text's fold, and the {plural(int(whole.sum()), 'whole text')} "
            "are scored",
            file=sys.stderr,
        )
    for fold, (train_idx, test_idx) in enumerate(
        stratified_kfold(labels, args.folds, seed=args.seed, groups=groups), start=1
    ):
        test_idx = test_idx[whole[test_idx]]
        model = type(template)(**template.get_params(deep=False))
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
