"""``ffnlp graph``, ``plot``, ``plot-embeddings`` and ``demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ffnlp.checks import plural
from ffnlp.cli.common import (
    Formatter,
    check_output,
    check_positive,
    say,
)


def add_picture_commands(commands: Any) -> None:
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
        help="the picture: .svg, .png or .pdf (drawn by Graphviz's dot where it is installed, "
        "else by matplotlib), or .dot; '-' prints the DOT text",
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
    p.add_argument("--name", nargs="*", default=None, help="legend names, one per log")
    p.add_argument(
        "--run",
        type=int,
        default=None,
        metavar="N",
        help="draw only the N-th run of each log (1 the first, -1 the last); a log holds one "
        "run per training of its model (default: every run)",
    )
    p.set_defaults(handler=run_plot)

    p = commands.add_parser(
        "plot-embeddings",
        help="a model's word embeddings in 2-D (PCA), the most frequent words labelled",
        formatter_class=Formatter,
    )
    p.add_argument("model", help="a neural LM or classifier file")
    p.add_argument("--out", default="embeddings.png", help="the picture (.png, .svg or .pdf)")
    p.add_argument(
        "--label",
        type=int,
        default=60,
        help="how many of the most frequent content words to label (function words such as "
        "'the' are left out)",
    )
    p.add_argument(
        "--words",
        type=lambda text: [w.strip() for w in text.split(",") if w.strip()],
        default=None,
        metavar="WORDS",
        help="comma-separated words to label instead, e.g. 'good,bad,film,movie'",
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


def run_graph(args: argparse.Namespace) -> int:
    from ffnlp.viz import graph

    if args.what == "chapter":
        picture = graph.graph_picture(graph.chapter_example(), title="L(a, b, c) = c(a + 2b)")
    elif args.what == "two-layer":
        loss, network = graph.two_layer_example(seed=args.seed)
        picture = graph.graph_picture(
            loss, module=network, title="a 2-layer network on one example"
        )
    else:
        from ffnlp.viz.saved import load_model, sample_step

        check_positive("--batch-size", args.batch_size)
        loss, network = sample_step(load_model(args.what), args.batch_size, args.seed)
        picture = graph.graph_picture(
            loss,
            module=network,
            title=f"one training step of {Path(args.what).name}",
            summarise=not args.full,
        )
    if args.out == "-":
        sys.stdout.write(picture.dot())
        return 0
    written = graph.write_graph(picture, check_output(args.out))
    if written.suffix != Path(args.out).suffix:
        say(f"note: {graph.GRAPHVIZ_MISSING}")
    how = ""
    if written.suffix in (".svg", ".png", ".pdf"):
        how = " (drawn by Graphviz)" if graph.have_graphviz() else " (drawn by matplotlib)"
    print(f"wrote {str(written)!r}{how}")
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from ffnlp.viz.curves import draw_runs, select_runs

    out = check_output(args.out)
    runs, notes = select_runs(args.runs, args.name, args.run)
    for note in notes:
        say(f"note: {note}")
    draw_runs(runs, out)
    print(f"wrote {str(out)!r}: {plural(len(runs), 'run')}")
    return 0


def run_plot_embeddings(args: argparse.Namespace) -> int:
    from ffnlp.viz.embeddings import draw_embeddings
    from ffnlp.viz.saved import embedding_table, load_model

    check_positive("--label", args.label)
    if args.words is not None and not args.words:
        raise ValueError("--words needs at least one word, e.g. --words good,bad")
    out = check_output(args.out)
    vectors, words = embedding_table(load_model(args.model))
    _, labelled = draw_embeddings(
        vectors,
        words,
        out,
        label=args.label,
        title=f"word embeddings of {Path(args.model).name} (PCA)",
        chosen=args.words,
    )
    asked = len(args.words) if args.words is not None else None
    which = "chosen" if asked is not None else "most frequent content"
    note = ""
    if asked is not None and len(labelled) < asked:
        note = f"; {plural(asked - len(labelled), 'word')} left unlabelled, for want of room"
    print(
        f"wrote {str(out)!r}: {plural(len(words), 'word')}, the "
        f"{len(labelled)} {which} words labelled{note}"
    )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from ffnlp import demo

    check_positive("--epochs", args.epochs)
    result = demo.run(args.out, args.data_dir, seed=args.seed, epochs=args.epochs, say=say)
    print(demo.report(result, args.out))
    return 0
