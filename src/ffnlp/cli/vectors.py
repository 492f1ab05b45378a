"""``ffnlp vectors``, ``neighbours``, ``analogies`` and ``sentence-vectors``: the word
vectors of a trained LM or classifier (:mod:`ffnlp.vectors`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ffnlp.cli.common import (
    Formatter,
    check_output,
    check_positive,
    import_estimators,
    read_text_lines,
)

MODEL_HELP = "a neural LM (ffnlp lm train) or a classifier (ffnlp classify train)"


def add_vector_commands(commands: Any) -> None:
    p = commands.add_parser(
        "vectors",
        help="write a model's word embeddings in word2vec's text format",
        formatter_class=Formatter,
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument(
        "--out",
        default="-",
        help="the .vec file (header 'V D', then a word and its numbers a line; gensim's "
        "KeyedVectors.load_word2vec_format and --pretrained read it); '-': standard output",
    )
    p.set_defaults(handler=run_vectors)

    p = commands.add_parser(
        "neighbours",
        help="the nearest words to each word, by cosine similarity of their vectors",
        formatter_class=Formatter,
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("words", nargs="+", metavar="WORD", help="the words to look up")
    p.add_argument("-k", type=int, default=10, help="neighbours per word")
    p.set_defaults(handler=run_neighbours)

    p = commands.add_parser(
        "analogies",
        help="A is to B as C is to ?: the words nearest to B - A + C (3CosAdd)",
        formatter_class=Formatter,
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("c", metavar="C")
    p.add_argument("-k", type=int, default=10, help="answers to print")
    p.set_defaults(handler=run_analogies)

    p = commands.add_parser(
        "sentence-vectors",
        help="the vector of each text: a classifier's pooled input, an LM's mean word embedding",
        formatter_class=Formatter,
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("file", nargs="?", default="-", help="texts, one a line ('-': standard input)")
    p.add_argument("--encoding", default=None, help="encoding of the texts")
    p.set_defaults(handler=run_sentence_vectors)


def _load(path: str) -> Any:
    import_estimators()  # without scikit-learn's bases: see import_estimators
    from ffnlp.vectors import WordVectors

    return WordVectors.load(path)


def run_vectors(args: argparse.Namespace) -> int:
    out = None if args.out == "-" else check_output(args.out)
    vectors = _load(args.model)
    if out is None:
        sys.stdout.write(vectors.word2vec_text()[0])
        return 0
    written = vectors.save_word2vec(out)
    skipped = len(vectors.words) - written
    note = f" ({skipped} words with spaces left out)" if skipped else ""
    print(f"wrote {str(out)!r}: {written} words, {vectors.vectors.shape[1]} dimensions{note}")
    return 0


def run_neighbours(args: argparse.Namespace) -> int:
    check_positive("-k", args.k)
    vectors = _load(args.model)
    vectors._query(args.words)  # every unknown word named before anything is printed
    for word in args.words:
        for neighbour, similarity in vectors.neighbours(word, args.k):
            print(f"{word}\t{neighbour}\t{similarity:.4f}")
    return 0


def run_analogies(args: argparse.Namespace) -> int:
    check_positive("-k", args.k)
    vectors = _load(args.model)
    for word, similarity in vectors.analogy(args.a, args.b, args.c, args.k):
        print(f"{word}\t{similarity:.4f}")
    return 0


def run_sentence_vectors(args: argparse.Namespace) -> int:
    texts = read_text_lines(args.file, args.encoding)
    if not texts:
        raise ValueError("no texts to make vectors of")
    for row in _load(args.model).sentence_vectors(texts):
        print(" ".join(f"{x:.6g}" for x in row.tolist()))
    return 0
