"""``ffnlp classify``: train, test, predict and cross-validate text classifiers."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp import distributed
from ffnlp.cli.common import (
    GIVEN,
    Formatter,
    add_checkpoint_options,
    add_training_options,
    check_output,
    check_positive,
    checkpoint_settings,
    lr_schedule,
    read_text_lines,
    record_given_options,
)
from ffnlp.metrics import classification_report, stratified_kfold
from ffnlp.models.classifier import DeepAveraging
from ffnlp.recipes import load_recipe, recipe_names
from ffnlp.text.features import read_lexicon
from ffnlp.text.labelled import FORMATS, read_labelled
from ffnlp.text.settings import TextSettings
from ffnlp.train import CLASSIFIER_TRAINING, Training
from ffnlp.viz.curves import LOG_SUFFIX


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
        default=None,
        metavar="NAME|PATH",
        help=f"start from a named recipe ({', '.join(recipe_names())}) or a recipe file "
        "(TOML); the flags given beside it override its settings (a feature flag replaces "
        "or adds its own kind of feature, 0 removes it)",
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
    g.add_argument(
        "--wide",
        action="store_true",
        help="train a linear model of the naive-Bayes-weighted rows (words, bigrams, ...) beside the network, which then pools the words alone, in the same pass, and average their probabilities",
    )
    f = p.add_argument_group("features", "Rows added after the words (ffnlp.text.row_features).")
    f.add_argument(
        "--bigrams",
        action="store_true",
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
        action="store_true",
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
    g.add_argument("--freeze-embeddings", action="store_true", help="keep the embeddings fixed")
    TextSettings.add_flags(p.add_argument_group("text"))
    t = add_training_options(p, defaults=CLASSIFIER_TRAINING, log=log)
    t.add_argument(
        "--batch-by-length",
        action="store_true",
        help="batches of texts of similar length (less padding, faster steps)",
    )
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
    "pool_words_only", "wide", "min_count", "max_vocab", "unknown_words", "pretrained",
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
    if args.bigrams or "buckets" in given:
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
        help="held-out labelled texts, in the training data's format (fastText's with --format files): their loss and accuracy after every epoch go to the log; with --lr-schedule plateau they also steer the learning rate, and the best epoch's weights are kept",
    )
    _add_classifier_options(p, log=True)
    add_checkpoint_options(p)
    record_given_options(p)
    p.set_defaults(handler=run_classify_train, data_parallel=True)
    p = sub.add_parser(
        "test",
        help="accuracy, per-class and macro precision/recall/F1 and the confusion matrix",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="the model file")
    _add_labelled_input(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_contrast_override(p)
    p.set_defaults(handler=run_classify_test)
    p = sub.add_parser(
        "predict", help="the most probable labels of each text", formatter_class=Formatter
    )
    p.add_argument("model", help="the model file")
    p.add_argument("file", nargs="?", default="-", help="texts, one a line ('-': standard input)")
    p.add_argument("-k", "--top", type=int, default=1, help="how many labels per text")
    p.add_argument("--encoding", default=None, help="encoding of the texts")
    _add_contrast_override(p)
    p.set_defaults(handler=run_classify_predict)
    p = sub.add_parser("cv", help="stratified k-fold cross-validation", formatter_class=Formatter)
    _add_labelled_input(p)
    p.add_argument(
        "--folds", type=int, default=10, help="number of folds (10 is the literature's convention)"
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _add_classifier_options(p, log=False)
    record_given_options(p)
    p.set_defaults(handler=run_classify_cv)


def _add_contrast_override(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--contrast-words",
        type=_word_list,
        default=None,
        metavar="WORDS",
        help=CONTRAST_HELP + "; replaces the model's own ('' for none); they act at "
        "prediction only, so no retraining is needed",
    )


def _load_classifier(args: argparse.Namespace) -> Any:
    estimators = _estimators()
    model = estimators.load_classifier(args.model)
    if args.contrast_words is None:
        return model
    inner = getattr(model, "estimator_", model)
    if not args.contrast_words:  # '' for none: the classifier alone
        return inner
    wrapper = estimators.ContrastClauses(
        type(inner)(**inner.get_params(deep=False)), words=tuple(args.contrast_words)
    )
    wrapper._checked_words(inner.tokenizer_.mode)  # checked now, not at the first prediction
    wrapper.estimator_, wrapper.classes_ = inner, inner.classes_
    return wrapper


def _read_labelled(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    return read_labelled(
        args.input, args.format, args.encoding, args.label_column, args.text_column, args.header
    )


def _estimators() -> Any:
    # Imported on use: with scikit-learn installed it costs most of a second at start-up.
    from ffnlp import estimators

    return estimators


def _classifier(args: argparse.Namespace) -> Any:
    for name in ("lexicon_size",):
        check_positive(f"--{name.replace('_', '-')}", getattr(args, name))
    estimators = _estimators()
    given = getattr(args, GIVEN, frozenset())
    training = Training.from_args(args)
    training.lr_schedule = lr_schedule(args, f"classify {args.subcommand}")
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
        params = _flat_settings(args, (DeepAveraging, TextSettings))
        params.update(
            dataclasses.asdict(training),
            features=[] if args.recipe else _features(args),  # with a recipe: _with_recipe
            wide=args.wide,
            pretrained=args.pretrained,
            freeze_embeddings=args.freeze_embeddings,
            batch_by_length=args.batch_by_length,
            class_weight=None if args.class_weight == "none" else args.class_weight,
            **own,
        )
        params, words = _with_recipe(args, params, given)
        model = estimators.TextClassifier.from_settings(**params)
    if words:
        model = estimators.ContrastClauses(model, words=words)
        model._checked_words(args.tokenizer)  # refused now, not after training
    return model


def run_classify_train(args: argparse.Namespace) -> int:
    out = check_output(args.out)
    checkpointing = checkpoint_settings(args, out)
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
    log_path = check_output(args.log or str(out.with_name(out.name + LOG_SUFFIX)))
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
    model = _load_classifier(args)
    texts, labels = _read_labelled(args)
    _estimators().check_unseen_labels(model.classes_.tolist(), labels)
    predicted = [str(p) for p in model.predict(texts)]
    report = classification_report(
        [str(y) for y in labels], predicted, labels=[str(c) for c in model.classes_]
    )
    print(json.dumps(report.to_dict()) if args.json else str(report))
    return 0


def run_classify_predict(args: argparse.Namespace) -> int:
    check_positive("--top", args.top)
    model = _load_classifier(args)
    texts = read_text_lines(args.file, args.encoding)
    if not texts:
        raise ValueError("no texts to classify")
    for text, top in zip(texts, model.predict_top(texts, k=args.top)):
        print("\t".join(f"{label} {p:.4f}" for label, p in top) + f"\t{text}")
    return 0


def run_classify_cv(args: argparse.Namespace) -> int:
    check_positive("--folds", args.folds)
    texts, labels = _read_labelled(args)
    template = _classifier(args)
    getattr(template, "estimator", template).verbose = False
    accuracies, f1s = [], []
    started = time.perf_counter()
    for fold, (train_idx, test_idx) in enumerate(
        stratified_kfold(labels, args.folds, seed=args.seed), start=1
    ):
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
