"""``ffnlp data``: list, fetch and encode the standard datasets."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from ffnlp import fetch
from ffnlp.checks import plural
from ffnlp.cli.common import (
    Formatter,
    add_text_options,
    say,
)
from ffnlp.text import Tokenizer, encoded


def add_data_commands(commands: Any) -> None:
    data = commands.add_parser(
        "data",
        help="download the standard datasets (PTB, MR, SST-2, TREC)",
        formatter_class=Formatter,
    )
    sub = data.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    cache_help = (
        f"the folder of the datasets, one sub-folder each (default: ${fetch.CACHE_ENV}, "
        "else ~/.cache/ffnlp)"
    )
    p = sub.add_parser(
        "list", help="the known datasets and which are present", formatter_class=Formatter
    )
    p.add_argument("--cache-dir", "--data-dir", dest="cache_dir", default=None, help=cache_help)
    p.set_defaults(handler=run_data_list)
    p = sub.add_parser(
        "fetch",
        help="download datasets from their canonical locations, verifying SHA-256",
        formatter_class=Formatter,
    )
    p.add_argument(
        "names", nargs="+", metavar="NAME", help=f"one or more of: {', '.join(fetch.DATASETS)}"
    )
    p.add_argument("--cache-dir", "--data-dir", dest="cache_dir", default=None, help=cache_help)
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
    add_text_options(p)
    p.set_defaults(handler=run_data_encode)


def run_data_list(args: argparse.Namespace) -> int:
    source = (
        "--cache-dir"
        if args.cache_dir
        else f"${fetch.CACHE_ENV}"
        if os.environ.get(fetch.CACHE_ENV)
        else f"the default; --cache-dir DIR or ${fetch.CACHE_ENV}=DIR point elsewhere"
    )
    print(f"looked in {fetch.cache_dir(args.cache_dir)} ({source})")
    statuses = fetch.status(args.cache_dir)
    for spec, present in statuses:
        total = len(spec.files())
        state = (
            "present"
            if present == total
            else "missing"
            if present == 0
            else f"partial ({present}/{total} files)"
        )
        print(f"{spec.name:6s} {state:9s} {spec.description}")
    missing = [spec.name for spec, present in statuses if present < len(spec.files())]
    if missing:
        print(
            f"get the missing ones with: ffnlp data fetch {' '.join(missing)}"
            + ("" if args.cache_dir else " (or give the folder that has them with --cache-dir)")
        )
    return 0


def run_data_fetch(args: argparse.Namespace) -> int:
    for name in args.names:
        fetch.dataset(name)  # every name is checked before anything is downloaded
    for name in args.names:
        folder = fetch.fetch(name, args.cache_dir, args.mirror, say=say)
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
        f"wrote {str(corpus.path)!r}: {plural(corpus.meta['sentences'], 'sentence')}, {plural(len(corpus.ids), 'id')} "
        f"({corpus.ids.dtype}), vocabulary {len(corpus.vocab):,}, in {time.perf_counter() - started:.1f}s"
    )
    return 0
