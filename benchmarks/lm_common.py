"""What the language-model benchmarks share (lm_ptb.py, lm_wikitext2.py): reading a corpus's
three splits, the Kneser-Ney baseline, training the feedforward LM from a recipe file, the
mixture of the two with its weight chosen on the validation split, and the rows of the
table they write.

Each model is trained in a fresh process (:func:`in_fresh_process`), so its peak memory is
its own; the per-token log-probabilities of each model are kept beside the results, in
hidden ``.npy`` files named by the benchmark's ``tag``, for the mixture to read.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from peak_flops import blas_kernels


def peak_mb() -> float:
    """This process's peak resident memory, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(function, *args) -> dict[str, Any]:
    """``function(*args)`` in a new process (spawned: nothing inherited but the arguments)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def recipe_dict(name: str) -> dict[str, Any]:
    """A language-model recipe file's model and training settings, as the benchmarks record
    them: ``{"model": {...}, "training": {...}}`` (JSON values)."""
    from ffnlp.recipes import load_lm_recipe

    groups = load_lm_recipe(name).groups()
    return {"model": groups.get("model", {}), "training": groups.get("training", {})}


def candidate_arguments(parser, recipe: str, script: str) -> None:
    """The options of a neural LM's run that lm_ptb.py and lm_wikitext2.py share: which
    recipe, its bounds, and ``--valid-only`` (a candidate scored on validation alone)."""
    parser.add_argument(
        "--recipe",
        default=recipe,
        help="the neural LM's recipe: a recipe's name or a TOML file (a candidate to compare "
        "on validation with --valid-only)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument(
        "--max-time",
        default=None,
        help="stop the neural LM's training after this long (90s, 20m, 1h30m), keeping its "
        "best epoch on valid",
    )
    parser.add_argument(
        "--valid-only",
        action="store_true",
        help="a candidate: train the neural LM and score it on the validation split only "
        f"(the test split is never scored), appending its curve to "
        f"benchmarks/results/tuning/{script}.jsonl; no table is written",
    )


def probe_candidate(
    script: str, files, recipe: dict[str, Any], recipe_name: str, seed: int, folder: Path,
    tag: str = "", limit=None,
) -> dict[str, Any]:  # fmt: skip
    """``--valid-only``: train ``recipe`` in a fresh process, score it on validation only,
    and append the result to ``benchmarks/results/tuning/SCRIPT.jsonl``; the training's
    per-step log goes to ``folder/.TAGprobe_log.jsonl`` (follow it with ``tail -f``)."""
    from classify import record

    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f".{tag}probe_log.jsonl"
    probe = in_fresh_process(probe_neural, files, recipe, seed, limit, log_path)
    probe["recipe_name"] = Path(recipe_name).name  # no folder of this machine
    entry = record(script, probe)
    print(json.dumps(entry), flush=True)
    return entry


def record_full_run(
    script: str, neural: dict[str, Any], mixed: dict[str, Any] | None, folder: Path
) -> dict[str, Any]:
    """A full run's raw result (its test read once, after training) appended to
    ``FOLDER/tuning/SCRIPT.jsonl`` beside the validation-only candidates, so that the record
    keeps every recipe that was run to the end, not only the one the table shows now: the
    neural LM's entry (its curve included) and its mixture with the n-gram model."""
    from classify import record

    return record(script, {**neural, "mixture": mixed}, folder)


def load_splits(paths: Sequence[str | Path], limit: tuple[int, int] | None = None):
    """The vocabulary of the training file (every word it holds) and the three splits
    (train, valid, test) as id arrays, one a non-blank line. ``limit``: (training lines,
    lines of valid and test) kept of each, for a smoke run; the vocabulary stays the whole
    training file's."""
    from ffnlp.text import Vocab, load_corpus

    splits = [load_corpus(path) for path in paths]
    vocab = Vocab.build(splits[0])
    if limit is not None:
        splits = [splits[0][: limit[0]], splits[1][: limit[1]], splits[2][: limit[1]]]
    return vocab, [[vocab.encode(s) for s in split] for split in splits]


def _cache(folder: Path, tag: str, name: str) -> Path:
    return Path(folder) / f".{tag}{name}.npy"


def run_kn(
    paths: Sequence[str], order: int, folder: str, tag: str = "", limit=None
) -> dict[str, Any]:
    """Count a KN``order`` model on the training split; its valid and test perplexities."""
    from ffnlp.models import KneserNeyLM

    vocab, (train, valid, test) = load_splits(paths, limit)
    start = time.perf_counter()
    lm = KneserNeyLM(order).fit(train, len(vocab))
    build = time.perf_counter() - start
    start = time.perf_counter()
    test_lp = lm.log_probs(test)
    evaluate = time.perf_counter() - start
    valid_lp = lm.log_probs(valid)
    np.save(_cache(Path(folder), tag, f"kn{order}_valid"), valid_lp)
    np.save(_cache(Path(folder), tag, f"kn{order}_test"), test_lp)
    return {
        "model": f"KN{order}",
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "valid_ppl": float(np.exp(-valid_lp.mean())),
        "test_ppl": float(np.exp(-test_lp.mean())),
        "train_seconds": build,
        "eval_seconds": evaluate,
        "tokens_per_second": sum(len(s) + 1 for s in train) / build,
        "peak_memory_mb": peak_mb(),
    }


def train_neural(vocab, train, valid, recipe, seed: int, log_path: Path | None = None):
    """Train the feedforward LM of ``recipe`` (``{"model", "training"}``), stopping on
    ``valid``; returns the model, the history, the seconds and the training windows."""
    from ffnlp.models.language_model import (
        FeedforwardLM,
        FeedforwardLMConfig,
        choose_output,
        token_counts,
    )
    from ffnlp.text import Tokenizer
    from ffnlp.train import ArrayDataset, TrainConfig, fit

    config = FeedforwardLMConfig(vocab_size=len(vocab), **recipe["model"])
    # The output layer decided as lm train decides it: from the training text's counts.
    config, _ = choose_output(config, token_counts(train, len(vocab)))
    lm = FeedforwardLM(config, vocab=vocab, tokenizer=Tokenizer(), rng=seed)
    train_data = ArrayDataset(*lm.windows(train))
    valid_data = ArrayDataset(*lm.windows(valid))
    training = TrainConfig(seed=seed, progress=False, **recipe["training"])
    start = time.perf_counter()
    history = fit(lm, train_data, valid_data, training, log_path=log_path)
    seconds = time.perf_counter() - start
    return lm, history, seconds, len(train_data)


def trained_on(history, tokens: int, recipe: dict[str, Any]) -> int:
    """Tokens trained on: a run cut by ``max_steps`` or ``max_time`` ends inside an epoch,
    whose batches before the cut are all full (the short batch comes last)."""
    batch = recipe["training"]["batch_size"]
    epochs, steps = divmod(history.epochs[-1]["step"], -(-tokens // batch))
    return epochs * tokens + steps * batch


def curve(history) -> list[dict[str, Any]]:
    return [
        {k: r.get(k) for k in ("epoch", "train_loss", "valid_loss", "lr", "seconds")}
        for r in history.epochs
    ]


def probe_neural(
    paths: Sequence[str],
    recipe: dict[str, Any],
    seed: int,
    limit=None,
    log_path: Path | None = None,
) -> dict[str, Any]:
    """A candidate recipe trained and scored on the validation split only, its curve kept:
    what choosing between recipes reads. The test split is never scored. ``log_path``
    takes the training's per-step log, as ``run_neural``'s (a long probe is followed with
    ``tail -f``)."""
    vocab, (train, valid, _) = load_splits(paths, limit)
    if log_path is not None:
        log_path.unlink(missing_ok=True)
    lm, history, seconds, tokens = train_neural(vocab, train, valid, recipe, seed, log_path)
    return {
        "model": "feedforward NNLM, validation only",
        "recipe": recipe,
        "output": lm.config.output,
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "out_of_time": history.out_of_time,
        "valid_ppl": float(np.exp(min(r["valid_loss"] for r in history.epochs))),
        "train_seconds": seconds,
        "tokens_per_second": trained_on(history, tokens, recipe) / seconds,
        "curve": curve(history),
    }


def run_neural(
    paths: Sequence[str],
    recipe: dict[str, Any],
    seed: int,
    folder: str,
    tag: str = "",
    limit=None,
) -> dict[str, Any]:
    """Train the recipe's feedforward LM; its valid and test perplexities (test read once,
    after training stopped on valid)."""
    vocab, (train, valid, test) = load_splits(paths, limit)
    log_path = Path(folder) / f".{tag}neural_log.jsonl"  # follow the run with: tail -f
    log_path.unlink(missing_ok=True)
    lm, history, seconds, tokens = train_neural(vocab, train, valid, recipe, seed, log_path)
    valid_lp, test_lp = lm.log_probs(valid), lm.log_probs(test)
    np.save(_cache(Path(folder), tag, "neural_valid"), valid_lp)
    np.save(_cache(Path(folder), tag, "neural_test"), test_lp)
    return {
        "model": "feedforward NNLM",
        "recipe": recipe,
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "epochs_run": len(history.epochs),
        "best_epoch": history.best_epoch,
        "out_of_time": history.out_of_time,
        "valid_ppl": float(np.exp(-valid_lp.mean())),
        "test_ppl": float(np.exp(-test_lp.mean())),
        "train_seconds": seconds,
        "tokens_per_second": trained_on(history, tokens, recipe) / seconds,
        "peak_memory_mb": peak_mb(),
        "blas": blas_kernels(),
        "curve": curve(history),
    }


def mixture(folder: Path, tag: str = "", kn: str = "kn5") -> dict[str, Any] | None:
    """The neural LM and the KN model interpolated per token, the weight chosen on valid;
    None until both have been run."""
    from ffnlp.models import interpolate_log_probs, interpolate_weight

    names = ("neural_valid", "neural_test", f"{kn}_valid", f"{kn}_test")
    paths = [_cache(folder, tag, name) for name in names]
    if not all(p.exists() for p in paths):
        return None
    neural_valid, neural_test, kn_valid, kn_test = (np.load(p) for p in paths)
    if len(neural_valid) != len(kn_valid) or len(neural_test) != len(kn_test):
        return None  # one of them from another run's data (a quick run's, say)
    weight = interpolate_weight(neural_valid, kn_valid)
    return {
        "model": f"NNLM + {kn.upper()}",
        "weight": weight,
        "valid_ppl": float(np.exp(-interpolate_log_probs(neural_valid, kn_valid, weight).mean())),
        "test_ppl": float(np.exp(-interpolate_log_probs(neural_test, kn_test, weight).mean())),
    }


def model_rows(results: dict[str, Any], keys: Sequence[str], anchors: dict[str, str]) -> list[str]:
    """The rows of the table of ``results[key]`` for each key run: model (the mixture with its
    weight), valid and test perplexity, the anchor, training time, tokens/s, peak memory."""
    lines = []
    for key in keys:
        r = results.get(key)
        if not r:
            continue
        time_cell = f"{r['train_seconds']:.1f} s" if "train_seconds" in r else "-"
        rate = f"{r['tokens_per_second']:,.0f}" if "tokens_per_second" in r else "-"
        memory = f"{r['peak_memory_mb']:,.0f} MB" if "peak_memory_mb" in r else "-"
        name = r["model"] + (f" (weight {r['weight']:.2f})" if "weight" in r else "")
        lines.append(
            f"| {name} | {r['valid_ppl']:.2f} | {r['test_ppl']:.2f} | {anchors.get(r['model'], '')} | {time_cell} | {rate} | {memory} |"
        )
    return lines


def recipe_line(results: dict[str, Any], name: str) -> list[str]:
    if not results.get("neural"):
        return []
    name = results["neural"].get("recipe_name", name)  # --recipe FILE: that file's name
    lines = [
        "",
        f"Neural LM recipe (the `{name}` recipe file, with the run's own bounds): `"
        + json.dumps(results["neural"]["recipe"])
        + "`",
    ]
    if "blas" in results["neural"]:  # its tokens/s depend on the kernels NumPy's BLAS ran
        lines += ["", f"NumPy's BLAS in the neural LM's run: {results['neural']['blas']}."]
    return lines
