"""``ffnlp demo``: the chapter in one command, offline, in well under two minutes.

It trains a sentiment classifier and a feedforward neural language model, compares them
with baselines (the majority class; a Kneser-Ney trigram model), samples a few sentences,
and draws the pictures: the chapter's computation graph, one training step of the language
model summarised by layer, the training curves and the learned word embeddings.

Without a dataset it uses the sample corpus shipped with ffnlp (``ffnlp/data``: short
reviews written for this project); with ``data_dir`` holding the standard datasets (the
layout of ``ffnlp data fetch``) it uses MR (or SST-2) and a slice of the Penn Treebank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ffnlp.backend.threads import limited_threads
from ffnlp.estimators import Bigrams, TextClassifier
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.models.ngram_lm import KneserNeyLM
from ffnlp.text import Tokenizer, Vocab
from ffnlp.text.datasets import read_lines
from ffnlp.text.labelled import read_class_files, read_fasttext, read_label_first
from ffnlp.train import ArrayDataset, TrainConfig, fit
from ffnlp.viz import curves, embeddings, graph
from ffnlp.viz.saved import sample_step

SAMPLE_CORPUS = Path(__file__).parent / "data" / "sample_reviews.txt"
MARKER = ".ffnlp-demo"  # marks a folder the demo made, so a rerun may replace its files
PTB_LINES = {"train": 4000, "valid": 500, "test": 500}  # a slice: the demo stays fast
PTB_VOCAB = 3000


@dataclass
class Corpus:
    """What the demo trains on: labelled texts in three splits and LM text in three."""

    description: str
    sentiment: dict[str, tuple[list[str], list[str]]]
    lm_text: dict[str, list[str]]
    max_vocab: int | None = None
    min_count: int = 1


@dataclass
class DemoResult:
    corpus: str
    accuracy: float
    majority_accuracy: float
    neural_perplexity: float
    ngram_perplexity: float
    sentences: list[str]
    pictures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _split(texts: list[str], labels: list[str], seed: int, valid: float = 0.1, test: float = 0.25):
    order = np.random.default_rng(seed).permutation(len(texts))
    n_test, n_valid = round(len(texts) * test), round(len(texts) * valid)
    parts = {
        "test": order[:n_test],
        "valid": order[n_test : n_test + n_valid],
        "train": order[n_test + n_valid :],
    }
    return {k: ([texts[i] for i in idx], [labels[i] for i in idx]) for k, idx in parts.items()}


def sample_corpus(seed: int = 0) -> Corpus:
    texts, labels = read_fasttext(SAMPLE_CORPUS)
    sentiment = _split(texts, labels, seed)
    return Corpus(
        f"the sample corpus: {len(texts):,} short reviews written for this project "
        "(not a standard dataset; its numbers only show that everything works)",
        sentiment,
        {k: texts for k, (texts, _) in sentiment.items()},
        min_count=2,  # words seen once become <unk>: an embedding needs more than one example
    )


def standard_corpus(data_dir: str | Path, seed: int = 0) -> Corpus:
    """MR (or else SST-2) for sentiment and a slice of PTB for the language model, from a
    folder laid out like ``ffnlp data fetch``'s cache."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"--data-dir {str(root)!r} is not a folder")
    mr, sst2, ptb = root / "mr", root / "sst2", root / "ptb"
    if (mr / "rt-polarity.pos").is_file() and (mr / "rt-polarity.neg").is_file():
        texts, labels = read_class_files(
            [str(mr / "rt-polarity.pos"), str(mr / "rt-polarity.neg")], "cp1252"
        )
        sentiment, name = _split(texts, labels, seed), "MR"
    elif (sst2 / "stsa.binary.train").is_file():
        sentiment = {
            split: read_label_first(sst2 / f"stsa.binary.{file}")
            for split, file in (("train", "train"), ("valid", "dev"), ("test", "test"))
        }
        name = "SST-2"
    else:
        raise ValueError(
            f"no sentiment data in {str(root)!r}: expected mr/rt-polarity.pos and .neg, or "
            "sst2/stsa.binary.train (fetch them with: ffnlp data fetch mr)"
        )
    if not all((ptb / f"ptb.{s}.txt").is_file() for s in PTB_LINES):
        raise ValueError(
            f"no Penn Treebank in {str(root)!r}: expected ptb/ptb.train.txt, ptb.valid.txt "
            "and ptb.test.txt (fetch them with: ffnlp data fetch ptb)"
        )
    lm_text = {s: read_lines(ptb / f"ptb.{s}.txt")[:n] for s, n in PTB_LINES.items()}
    return Corpus(
        f"{name} for sentiment and the first {PTB_LINES['train']:,} sentences of the Penn "
        f"Treebank for the language model, from {str(root)!r}",
        sentiment,
        lm_text,
        max_vocab=PTB_VOCAB,
    )


def make_classifier(sample: bool, seed: int = 0, epochs: int | None = None) -> TextClassifier:
    """The demo's sentiment classifier: for the sample corpus (``sample``) or for MR/SST-2.

    Its settings were chosen by 5-fold cross-validation on the train and valid parts
    (never the test part). ``benchmarks/demo.py`` repeats that cross-validation, beside
    the same network without its naive Bayes features and naive Bayes and logistic
    regression on a bag of words, and writes the accuracies to
    ``benchmarks/results/demo.md``.
    """
    return TextClassifier.from_settings(
        embed_dim=16 if sample else 64,
        dropout=0.5,
        # one row per bigram seen: far smaller than a hashed table, as accurate
        features=[] if sample else [Bigrams(buckets=0)],
        nb_features=True,  # each text's naive Bayes log-count-ratio score as an input
        min_count=2 if sample else 1,
        epochs=epochs or (10 if sample else 5),
        batch_size=16 if sample else 32,
        lr=0.005 if sample else 0.002,
        # The epochs were chosen by that cross-validation: all of them are trained, and the
        # valid part is only measured, for the curves.
        early_stopping=0,
        random_state=seed,
    )


def prepare_output(out: str | Path) -> Path:
    """Make the output folder, refusing to write into a non-empty folder the demo did not
    make (the user's files are never replaced)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ValueError(
            f"--out {str(out)!r} already holds files that ffnlp demo did not write; "
            "choose another --out (or an empty folder)"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by ffnlp demo; a rerun replaces the files here\n")
    for old in ("classifier.npz.log.jsonl", "lm.npz.log.jsonl"):  # logs append; start afresh
        (out / old).unlink(missing_ok=True)
    return out


def run(
    out: str | Path = "ffnlp-demo",
    data_dir: str | Path | None = None,
    seed: int = 0,
    epochs: int | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo, writing models, logs and pictures to ``out``; returns what it measured.

    Args:
        out: the output folder (created; a non-empty folder not made by the demo is refused).
        data_dir: a folder with the standard datasets; None uses the sample corpus.
        seed: one seed for everything random.
        epochs: override the number of training epochs (tests use 1).
        say: where progress lines go.
    """
    # The demo's matrices are small (64 rows a batch): a second thread only waits on the
    # first, and when the other core is busy it slows the whole demo down several-fold.
    with limited_threads(1):
        return _run(out, data_dir, seed, epochs, say)


def _run(
    out: str | Path,
    data_dir: str | Path | None,
    seed: int,
    epochs: int | None,
    say: Callable[[str], None],
) -> DemoResult:
    started = time.perf_counter()
    out = prepare_output(out)
    corpus = sample_corpus(seed) if data_dir is None else standard_corpus(data_dir, seed)
    say(f"data: {corpus.description}")
    notes: list[str] = []

    # ---- sentiment classifier
    say("training the sentiment classifier (pooled word embeddings, softmax) ...")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (
        corpus.sentiment[s] for s in ("train", "valid", "test")
    )
    classifier = make_classifier(data_dir is None, seed, epochs)
    classifier.fit(
        train_x, train_y, eval_set=(valid_x, valid_y), log_path=out / "classifier.npz.log.jsonl"
    )
    classifier.save(out / "classifier.npz")
    accuracy = classifier.score(test_x, test_y)
    values, counts = np.unique(train_y, return_counts=True)
    majority = float(np.mean(np.asarray(test_y) == values[counts.argmax()]))

    # ---- language models
    tokenizer = Tokenizer("whitespace")
    tokens = {s: [tokenizer(line) for line in lines] for s, lines in corpus.lm_text.items()}
    tokens = {s: [t for t in sentences if t] for s, sentences in tokens.items()}
    vocab = Vocab.build(tokens["train"], min_count=corpus.min_count, max_size=corpus.max_vocab)
    encoded = {s: [vocab.encode(t) for t in sentences] for s, sentences in tokens.items()}
    say(
        f"training the language models on {sum(map(len, encoded['train'])):,} tokens, vocabulary {len(vocab):,} ..."
    )
    ngram = KneserNeyLM(3, vocab=vocab, tokenizer=tokenizer).fit(encoded["train"], len(vocab))
    config = FeedforwardLMConfig(
        vocab_size=len(vocab),
        context_size=3,
        embed_dim=32,
        hidden_dims=(64,),
        activation="tanh",
        dropout=0.4 if data_dir is None else 0.2,
    )
    lm = FeedforwardLM(config, vocab=vocab, tokenizer=tokenizer, rng=seed)
    fit(
        lm,
        ArrayDataset(*lm.windows(encoded["train"])),
        ArrayDataset(*lm.windows(encoded["valid"])),
        TrainConfig(
            epochs=epochs or (15 if data_dir is None else 3),
            batch_size=64 if data_dir is None else 128,
            lr=0.005 if data_dir is None else 0.003,
            early_stopping=3,
            seed=seed,
            progress=False,
            log_every=20 if data_dir is None else 100,
        ),
        log_path=out / "lm.npz.log.jsonl",
        describe=lambda loss: {"ppl": math.exp(min(loss, 700))},
        unit="tokens",
    )
    lm.save(out / "lm.npz")
    result = DemoResult(
        corpus=corpus.description,
        accuracy=accuracy,
        majority_accuracy=majority,
        neural_perplexity=lm.perplexity(encoded["test"]),
        ngram_perplexity=ngram.perplexity(encoded["test"]),
        sentences=lm.generate(3, max_tokens=25, temperature=0.8, seed=seed),
        notes=notes,
    )

    # ---- pictures
    # SVG, by Graphviz or else matplotlib; DOT text only when neither is installed
    drawable = graph.have_graphviz() or graph.have_matplotlib()
    picture = "svg" if drawable else "dot"
    if not drawable:
        notes.append(graph.GRAPHVIZ_MISSING)
    result.pictures.append(
        graph.write_graph(
            graph.graph_picture(graph.chapter_example(), title="L(a, b, c) = c(a + 2b)"),
            out / f"graph-chapter.{picture}",
        )
    )
    loss, network = sample_step(lm, batch_size=8, seed=seed)
    result.pictures.append(
        graph.write_graph(
            graph.graph_picture(
                loss, module=network, title="one training step of the language model"
            ),
            out / f"graph-lm-step.{picture}",
        )
    )
    try:
        result.pictures.append(
            curves.plot_runs(
                [out / "lm.npz", out / "classifier.npz"],
                out / "curves.png",
                names=["language model", "classifier"],
            )
        )
        vectors = lm.embedding.weight.data[3:]
        result.pictures.append(
            embeddings.plot_embeddings(
                vectors,
                vocab.itos[3:],
                out / "embeddings.png",
                label=50,
                title="the language model's word embeddings (PCA)",
            )
        )
    except ImportError as err:
        notes.append(f"no training curves or embeddings picture: {err}")
    result.seconds = time.perf_counter() - started
    return result


def report(result: DemoResult, out: str | Path) -> str:
    """The demo's results as a short table for the terminal."""

    def row(label: str, value: str) -> str:
        return f"  {label:<44s}{value:>8s}"

    rows = [
        "",
        f"data: {result.corpus}",
        "",
        "sentiment classification                      test accuracy",
        row("majority class (baseline)", f"{result.majority_accuracy:.1%}"),
        row("feedforward network on pooled embeddings", f"{result.accuracy:.1%}"),
        "",
        "language modelling                            test perplexity",
        row("Kneser-Ney trigram (n-gram baseline)", f"{result.ngram_perplexity:.1f}"),
        row("feedforward neural LM (Bengio et al. 2003)", f"{result.neural_perplexity:.1f}"),
        "",
        "sentences sampled from the neural LM (temperature 0.8):",
        *(f"  {s}" for s in result.sentences),
        "",
        f"models, training logs and pictures in {str(out)!r}:",
        *(f"  {p.name}" for p in result.pictures),
        *(f"note: {n}" for n in result.notes),
        f"done in {result.seconds:.0f}s",
    ]
    return "\n".join(rows)
