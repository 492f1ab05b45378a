"""Time to quality: the wall training time ffnlp and the fastest PyTorch take to bring the
PTB neural LM recipe to a validation perplexity (issue 20.3).

The model and its training are benchmarks/lm_ptb.py's neural LM recipe, the ``ptb`` recipe
file (context 5 and its FOFE codes, embeddings 256, hidden layers 1024 and 256 ReLU,
dropout 0.4, tied embeddings, batch 256, Adam lr 1e-3), built in ffnlp and in PyTorch
(benchmarks/vs_torch.py's steps, thread limits and PyTorch variants: defaults, fused Adam,
fused Adam + torch.compile). Both frameworks get:

- the same initial weights: ffnlp's initialisation, copied into the PyTorch model;
- the same batches in the same order (vs_torch.py's shuffled batches);
- the same learning rate at every step: halved after epoch ``--decay-after`` in both,
  rather than by each run's own noisy plateau test; by default after the epoch where the
  recipe's plateau schedule first halved it in its recorded run
  (benchmarks/results/lm_ptb.json, read while that run's model is the recipe's);
- the same evaluations: validation perplexity (every window of ptb.valid.txt, evaluation
  mode) every ``1/--evals-per-epoch`` epoch, at the same steps.

Dropout masks cannot be equal across frameworks (each draws its own random numbers), so
the two runs see the same data but not the same noise, and their curves differ a little.

First a short race (``--race-steps`` steps a turn, alternating, after a warm-up that
absorbs torch.compile's compiling) picks the fastest PyTorch variant on this model; then
ffnlp and that variant train in two processes taking turns, one evaluation interval each
(the order reversed every round, as vs_torch.py's rounds), until each has reached the last
threshold or ``--max-epochs``. Training time is the wall time of the training steps alone,
from the first step (torch.compile's compiling included: a user pays it once); the
evaluation time is excluded from it and reported beside it. Model building and data
loading are excluded from both.

    python benchmarks/time_to_quality.py                 # the full run, both cores
    python benchmarks/time_to_quality.py --quick --out /tmp/ttq   # a smoke test, ~3 min

Writes ``benchmarks/results/time_to_quality.md`` and ``time_to_quality.json`` (``--quick``
writes only where ``--out`` says). Needs torch and threadpoolctl (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lm_common  # noqa: E402
import lm_ptb  # noqa: E402
import peak_flops  # noqa: E402
import vs_torch  # noqa: E402

RESULTS = vs_torch.RESULTS
THRESHOLDS = (200.0, 160.0, 140.0)
QUICK_THRESHOLDS = (1500.0, 1000.0, 800.0)
# --quick: the first sentences of the training and validation sets (the vocabulary is
# still the whole training set's, so a step costs what it costs in the full run)
QUICK_TRAIN_TOKENS, QUICK_VALID_TOKENS = 80_000, 8_000
EVAL_BATCH = 1024
TARGET = 1.3  # issue 20.3: ffnlp at least 1.3x faster to each threshold


# ---------------------------------------------------------------------------- the models


def _recipe_cfg() -> dict[str, Any]:
    """The settings vs_torch.py's steps read, from the recipe."""
    training = lm_ptb.NEURAL["training"]
    return {"task": "lm", "optimizer": training["optimizer"], "lr": training["lr"]}


def _data(data_dir: Path, quick: bool) -> dict[str, Any]:
    vocab, (train, valid, _) = lm_common.load_splits(lm_ptb._ptb_paths(data_dir))
    if quick:
        train, valid = (
            _first_tokens(train, QUICK_TRAIN_TOKENS),
            _first_tokens(valid, QUICK_VALID_TOKENS),
        )
    return {"vocab": vocab, "train": train, "valid": valid}


def _first_tokens(sentences: list, tokens: int) -> list:
    lengths = np.cumsum([len(s) + 1 for s in sentences])
    return sentences[: int(np.searchsorted(lengths, tokens)) + 1]


def ffnlp_model(vocab_size: int, seed: int):
    """The recipe's model in ffnlp, initialised by ffnlp from ``seed``."""
    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig

    config = FeedforwardLMConfig(vocab_size=vocab_size, **lm_ptb.NEURAL["model"])
    return FeedforwardLM(config, rng=seed)


def torch_model(ffnlp_lm, torch):
    """The same network in PyTorch, holding a copy of ``ffnlp_lm``'s weights: dropout on the
    concatenated embeddings and after each hidden layer's ReLU, and logits h E^T + b with the
    embedding matrix E as the output matrix (FeedforwardLM's forward). With FOFE, each code
    of the last K words is a weighted ``embedding_bag`` (the weights a^(K-1-k), 0 for the
    padding before the text's start), beside the N exact embeddings, as an expert would
    write it in PyTorch."""
    from ffnlp.text.vocab import Vocab

    nn = torch.nn
    config = ffnlp_lm.config
    if config.activation != "relu" or not config.tie_embeddings or config.direct:
        raise ValueError("torch_model builds the recipe's network: ReLU, tied, no direct")
    state = {name: p.data for name, p in ffnlp_lm.named_parameters()}
    # the hidden Linear layers in order: hidden.<i>.weight for the MLP's layer index i
    layers = sorted({int(name.split(".")[1]) for name in state if name.startswith("hidden.")})
    expected = {"embedding.weight", "output_bias"} | {
        f"hidden.{i}.{kind}" for i in layers for kind in ("weight", "bias")
    }
    if set(state) != expected:
        raise ValueError(f"unexpected ffnlp parameters: {sorted(set(state) ^ expected)}")
    N, D, W, K = config.context_size, config.embed_dim, config.window_size, config.fofe_history
    # the FOFE weights of a history's K words, oldest first: (J, K), one row per factor
    powers = torch.tensor([[a ** (K - 1 - k) for k in range(K)] for a in config.fofe])

    class RecipeLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(config.vocab_size, D)
            self.dropout = nn.Dropout(config.dropout)
            self.hidden = nn.ModuleList(
                nn.Linear(*state[f"hidden.{i}.weight"].shape[::-1]) for i in layers
            )
            self.output_bias = nn.Parameter(torch.zeros(config.vocab_size))

        def forward(self, contexts):
            h = self.embedding(contexts[:, W - N :]).reshape(len(contexts), N * D)
            if len(powers):
                history = contexts[:, W - K :]
                counted = (history != Vocab.bos_id).to(powers.dtype)
                codes = [
                    nn.functional.embedding_bag(
                        history, self.embedding.weight, per_sample_weights=counted * row, mode="sum"
                    )
                    for row in powers
                ]
                h = torch.cat([h, *codes], dim=1)
            h = self.dropout(h)
            for layer in self.hidden:
                h = self.dropout(torch.relu(layer(h)))
            return nn.functional.linear(h, self.embedding.weight, self.output_bias)

    model = RecipeLM()
    with torch.no_grad():
        model.embedding.weight.copy_(torch.from_numpy(state["embedding.weight"]))
        model.output_bias.copy_(torch.from_numpy(state["output_bias"]))
        for layer, i in zip(model.hidden, layers):
            layer.weight.copy_(torch.from_numpy(state[f"hidden.{i}.weight"]))
            layer.bias.copy_(torch.from_numpy(state[f"hidden.{i}.bias"]))
    return model


def _torch_valid_loss(model, contexts: np.ndarray, targets: np.ndarray, torch) -> float:
    """Mean cross-entropy over the windows, eager and in evaluation mode (the compiled
    training function is left alone: it would compile an evaluation graph too)."""
    model.eval()
    total = 0.0
    try:
        with torch.no_grad():
            for a in range(0, len(targets), EVAL_BATCH):
                x = torch.from_numpy(contexts[a : a + EVAL_BATCH])
                y = torch.from_numpy(targets[a : a + EVAL_BATCH])
                logits = model(x)
                total += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    finally:
        model.train()
    return total / len(targets)


# ---------------------------------------------------------------------------- one process


def _setup(framework: str, data_dir: Path, seed: int, quick: bool, total_steps: int):
    """(step(i), set_lr(rate), valid_loss(), facts) for ``framework``."""
    data = _data(data_dir, quick)
    lm = ffnlp_model(len(data["vocab"]), seed)
    contexts, targets = lm.windows(data["train"])
    valid_contexts, valid_targets = lm.windows(data["valid"])
    cfg = _recipe_cfg()
    batch_size = lm_ptb.NEURAL["training"]["batch_size"]
    batches = vs_torch._batches(len(targets), batch_size, total_steps, seed)
    facts: dict[str, Any] = {
        "train_windows": len(targets),
        "valid_windows": len(valid_targets),
        "vocab_size": len(data["vocab"]),
    }
    if framework == "ffnlp":
        step = vs_torch._ffnlp_trainer(
            lm, cfg, lambda i: (contexts[batches[i]], targets[batches[i]])
        )

        def valid_loss() -> float:
            return float(-lm.window_log_probs(valid_contexts, valid_targets, EVAL_BATCH).mean())
    else:
        import torch

        torch.manual_seed(seed)
        model = torch_model(lm, torch)
        del lm
        tc, tt = torch.from_numpy(contexts), torch.from_numpy(targets)
        step = vs_torch._torch_trainer(
            model, cfg, lambda i: (tc[batches[i]], tt[batches[i]]), torch, framework
        )

        def valid_loss() -> float:
            return _torch_valid_loss(model, valid_contexts, valid_targets, torch)

    def set_lr(rate: float) -> None:
        for optimizer in step.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = rate

    return step, set_lr, valid_loss, facts


def worker(
    connection,
    framework: str,
    data_dir: str,
    threads: int,
    seed: int,
    quick: bool,
    total_steps: int,
) -> None:
    """A spawned process holding one framework's model. Messages: ("train", count) runs
    the next ``count`` steps and answers their times; ("eval",) answers (validation loss,
    seconds); ("lr", rate) sets the rate; None answers the process's facts and ends.
    Every answer is ("ok", payload) or ("error", why)."""
    vs_torch._limit_threads(threads, framework)
    try:
        step, set_lr, valid_loss, facts = _setup(
            framework, Path(data_dir), seed, quick, total_steps
        )
    except Exception as error:  # a variant that cannot run says why; the others go on
        connection.send(("error", vs_torch._why(error)))
        return
    done = 0
    connection.send(("ok", facts))
    while True:
        message = connection.recv()
        if message is None:
            break
        try:
            if message[0] == "train":
                times = []
                for _ in range(message[1]):
                    start = time.perf_counter()
                    step(done)
                    times.append(time.perf_counter() - start)
                    done += 1
                answer: Any = times
            elif message[0] == "eval":
                start = time.perf_counter()
                loss = valid_loss()
                answer = (loss, time.perf_counter() - start)
            else:
                set_lr(message[1])
                answer = None
        except Exception as error:
            connection.send(("error", vs_torch._why(error)))
            return
        connection.send(("ok", answer))
    connection.send(("ok", {"peak_mb": vs_torch._peak_mb()}))


class Workers:
    """The framework processes, by name; :meth:`ask` sends one message and waits."""

    def __init__(self, frameworks, args: argparse.Namespace, total_steps: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes: dict[str, tuple[Any, Any]] = {}
        self.failed: dict[str, str] = {}
        self.facts: dict[str, Any] = {}
        for fw in frameworks:
            mine, theirs = context.Pipe()
            worker_args = (
                theirs,
                fw,
                args.data_dir,
                args.threads,
                args.seed,
                args.quick,
                total_steps,
            )
            self.processes[fw] = (mine, vs_torch.start_worker(context, worker, worker_args, fw, {}))
        for fw in frameworks:
            self.facts[fw] = self.ask(fw, ...)

    def ask(self, fw: str, message: Any) -> Any:
        """``fw``'s answer, or None once it has failed (ffnlp failing raises)."""
        if fw not in self.processes:
            return None
        # the recipe's model is configuration A's kind (a word LM), for the variants' labels
        return vs_torch.ask_worker(self.processes, self.failed, fw, message, "A", prefix="")

    def close(self, fw: str) -> dict[str, Any]:
        facts = self.ask(fw, None) or {}
        self.processes.pop(fw)[1].join()
        return facts


# ---------------------------------------------------------------------------- the race


def race(args: argparse.Namespace) -> dict[str, Any]:
    """Steps per second of ffnlp and each PyTorch variant on the recipe's model: a warm-up
    (torch.compile's compiling), then ``--race-rounds`` alternating turns of
    ``--race-steps`` steps; medians of each turn's median step."""
    frameworks = ("ffnlp", *vs_torch.TORCH_VARIANTS)
    total = args.race_warmup + args.race_rounds * args.race_steps
    workers = Workers(frameworks, args, total)
    warmup = {fw: workers.ask(fw, ("train", args.race_warmup)) for fw in frameworks}
    turns: dict[str, list[float]] = {fw: [] for fw in frameworks}
    for round_ in range(args.race_rounds):
        for fw in frameworks if round_ % 2 == 0 else frameworks[::-1]:
            times = workers.ask(fw, ("train", args.race_steps))
            if times is not None:
                turns[fw].append(statistics.median(times))
    out: dict[str, Any] = {}
    for fw in frameworks:
        if fw in workers.failed:
            out[fw] = {"failed": workers.failed[fw]}
            continue
        workers.close(fw)
        out[fw] = {
            "step_seconds": statistics.median(turns[fw]),
            "turns": turns[fw],
            "first_step_seconds": warmup[fw][0],
        }
    ran = [fw for fw in vs_torch.TORCH_VARIANTS if "failed" not in out[fw]]
    if not ran:
        raise RuntimeError("no PyTorch variant ran: " + json.dumps(workers.failed))
    fastest = min(ran, key=lambda fw: out[fw]["step_seconds"])
    out["fastest_torch"] = fastest
    out["ratios"] = {fw: out[fw]["step_seconds"] / out["ffnlp"]["step_seconds"] for fw in ran}
    return out


# ---------------------------------------------------------------------------- to quality


def reached(curve: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    """The first evaluation of ``curve`` at or below ``threshold`` (None: never)."""
    return next((point for point in curve if point["valid_ppl"] <= threshold), None)


def threshold_rows(quality: dict[str, Any], frameworks, thresholds) -> dict[str, Any]:
    """For each threshold, where each framework's curve first reached it, and the ratio of
    the second framework's training time to ffnlp's (ffnlp's speed-up) when both did."""
    rows = {}
    ffnlp, other = frameworks
    for threshold in thresholds:
        row: dict[str, Any] = {}
        for fw in frameworks:
            point = reached(quality[fw].get("curve", []), threshold)
            keys = ("step", "epoch", "train_seconds", "valid_ppl")
            row[fw] = point and {k: point[k] for k in keys}
        if row[ffnlp] and row[other]:
            row["ratio"] = row[other]["train_seconds"] / row[ffnlp]["train_seconds"]
        rows[f"{threshold:g}"] = row
    return rows


def to_quality(args: argparse.Namespace, torch_variant: str, thresholds) -> dict[str, Any]:
    """ffnlp and ``torch_variant`` trained side by side, one evaluation interval a turn."""
    frameworks = ("ffnlp", torch_variant)
    from ffnlp.text import context_windows

    data = _data(Path(args.data_dir), args.quick)  # its size: the steps in an epoch
    model = lm_ptb.NEURAL["model"]
    windows = len(context_windows(data["train"], model["context_size"], model["layout"])[1])
    del data
    batch_size = lm_ptb.NEURAL["training"]["batch_size"]
    steps_per_epoch = windows // batch_size
    interval = max(1, steps_per_epoch // args.evals_per_epoch)
    max_steps = int(args.max_epochs * steps_per_epoch)
    decay_step = int(args.decay_after * steps_per_epoch)
    workers = Workers(frameworks, args, max_steps + interval)
    base_lr = lm_ptb.NEURAL["training"]["lr"]
    state = {
        fw: {"steps": 0, "train_seconds": 0.0, "eval_seconds": 0.0, "curve": [], "step_times": []}
        for fw in frameworks
    }
    running = list(frameworks)
    round_ = 0
    while running:
        for fw in list(running) if round_ % 2 == 0 else list(running)[::-1]:
            s = state[fw]
            count = interval
            if s["steps"] < decay_step < s["steps"] + count:
                count = decay_step - s["steps"]  # stop at the decay, so it falls at one step
            times = workers.ask(fw, ("train", count))
            if times is not None:
                s["steps"] += count
                s["train_seconds"] += sum(times)
                s["step_times"].extend(times[:1])  # the first of each turn (compiling)
                if s["steps"] == decay_step:
                    workers.ask(fw, ("lr", base_lr * lm_ptb.NEURAL["training"]["lr_decay"]))
            answer = workers.ask(fw, ("eval",)) if fw in workers.processes else None
            if answer is None:  # it failed
                running.remove(fw)
                continue
            loss, seconds = answer
            s["eval_seconds"] += seconds
            s["curve"].append(
                {
                    "step": s["steps"],
                    "epoch": s["steps"] / steps_per_epoch,
                    "train_seconds": s["train_seconds"],
                    "valid_ppl": math.exp(loss),
                    "eval_seconds": seconds,
                }
            )
            print(
                f"{vs_torch.label(fw, 'A')}: epoch {s['steps'] / steps_per_epoch:.2f}, "
                f"valid ppl {math.exp(loss):.2f}, {s['train_seconds']:.1f} s training",
                flush=True,
            )
            if math.exp(loss) <= min(thresholds) or s["steps"] >= max_steps:
                running.remove(fw)
        round_ += 1
    out: dict[str, Any] = {
        "steps_per_epoch": steps_per_epoch,
        "eval_interval_steps": interval,
        "decay_step": decay_step,
        "max_steps": max_steps,
    }
    for fw in frameworks:
        if fw in workers.failed:
            out[fw] = {"failed": workers.failed[fw]}
            continue
        facts = workers.close(fw)
        s = state[fw]
        out[fw] = {
            **workers.facts[fw],
            **facts,
            **{k: s[k] for k in ("steps", "train_seconds", "eval_seconds", "curve")},
        }
        out[fw]["first_step_seconds"] = s["step_times"][0] if s["step_times"] else None
    out["thresholds"] = threshold_rows(out, frameworks, thresholds)
    return out


# ---------------------------------------------------------------------------- report


def _cell(point: dict[str, Any] | None) -> str:
    if not point:
        return "not reached"
    return f"{point['train_seconds']:,.0f} s (epoch {point['epoch']:.2f}, ppl {point['valid_ppl']:.1f})"


def report_lines(results: dict[str, Any], command: str) -> list[str]:
    r, q = results["race"], results["quality"]
    fastest = r["fastest_torch"]
    name = vs_torch.label(fastest, "A")
    training = lm_ptb.NEURAL["training"]
    lines = [
        "# Time to quality: the PTB neural LM, ffnlp against the fastest PyTorch",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, PyTorch {results['torch_version']}, BLAS: {results.get('blas', '?')}. "
        f"Run {results['started']} with "
        f"`{command}`; {results['threads']} threads each. Load average at the start: "
        f"{results['load_average']}."
        + (
            " **--quick: a smoke test on a slice of PTB, not a result.**"
            if results["quick"]
            else ""
        ),
        "",
        "The recipe of benchmarks/lm_ptb.py (`" + json.dumps(lm_ptb.NEURAL["model"]) + "`, batch "
        f"{training['batch_size']}, Adam lr {training['lr']:g}), in ffnlp and in PyTorch, with the same "
        "initial weights (ffnlp's, copied into PyTorch), the same batches in the same order and the "
        f"same rate at every step (halved after epoch {results['decay_after']:g}, where the recipe's "
        "plateau schedule halved it). Dropout masks cannot be equal across the two frameworks: each "
        "draws its own, so the curves differ by that noise.",
        "",
        "## Which PyTorch",
        "",
        f"A race on this model, {results['race_rounds']} alternating turns of {results['race_steps']} "
        f"steps after {results['race_warmup']} warm-up steps (medians of each turn's median step):",
        "",
        "| | step | tokens/s | ffnlp's speed-up |",
        "| --- | --- | --- | --- |",
    ]
    batch = training["batch_size"]
    for fw in ("ffnlp", *vs_torch.TORCH_VARIANTS):
        if "failed" in r[fw]:
            lines.append(f"| PyTorch {vs_torch.label(fw, 'A')} | failed: {r[fw]['failed']} | | |")
            continue
        label = "ffnlp" if fw == "ffnlp" else f"PyTorch {vs_torch.label(fw, 'A')}"
        ratio = f"{r['ratios'][fw]:.2f}" if fw in r["ratios"] else ""
        lines.append(
            f"| {label} | {r[fw]['step_seconds'] * 1e3:.1f} ms | {batch / r[fw]['step_seconds']:,.0f} | {ratio} |"
        )
    lines += [
        "",
        f"The fastest PyTorch here: **{name}**, the one trained to quality below.",
        "",
        "## Wall training time to a validation perplexity",
        "",
        f"Validation perplexity every {q['eval_interval_steps']} steps (1/{results['evals_per_epoch']} "
        f"epoch of {q['steps_per_epoch']} steps), at the same steps in both; the two processes took "
        "turns, one interval each, the order reversed every round. Training time: the training "
        "steps' wall time from the first step, evaluations excluded (their time is given beside), "
        "torch.compile's compiling included; the time is the first evaluation at or below the "
        "threshold, so it is resolved to one interval.",
        "",
        f"| validation ppl | ffnlp | PyTorch {name} | **PyTorch / ffnlp** | target ≥ {TARGET} |",
        "| --- | --- | --- | --- | --- |",
    ]
    for threshold, row in q["thresholds"].items():
        # three decimals: a ratio of 1.296 is not written as a met 1.30
        ratio = f"**{row['ratio']:.3f}x**" if "ratio" in row else "-"
        met = ("met" if row["ratio"] >= TARGET else "not met") if "ratio" in row else "-"
        lines.append(
            f"| {threshold} | {_cell(row['ffnlp'])} | {_cell(row.get(fastest))} | {ratio} | {met} |"
        )
    lines += ["", "| | ffnlp | PyTorch " + name + " |", "| --- | --- | --- |"]
    f, t = q["ffnlp"], q.get(fastest, {})

    def both(fmt) -> str:
        return " | ".join(fmt(x) if x and "failed" not in x else "failed" for x in (f, t))

    lines += [
        "| steps trained | " + both(lambda x: f"{x['steps']:,}") + " |",
        "| training time | " + both(lambda x: f"{x['train_seconds']:,.1f} s") + " |",
        "| evaluation time (excluded) | "
        + both(lambda x: f"{x['eval_seconds']:,.1f} s in {len(x['curve'])} evaluations")
        + " |",
        "| first step (compiling, for torch.compile) | "
        + both(lambda x: f"{x['first_step_seconds']:.2f} s")
        + " |",
        "| best validation ppl | "
        + both(lambda x: f"{min(p['valid_ppl'] for p in x['curve']):.2f}")
        + " |",
        "| peak memory (VmHWM) | " + both(lambda x: f"{x['peak_mb']:,.0f} MB") + " |",
    ]
    lines += ["", "Curves (epoch: validation ppl, training seconds):", ""]
    for fw, x in (("ffnlp", f), (fastest, t)):
        if x and "curve" in x:
            points = ", ".join(
                f"{p['epoch']:.2f}: {p['valid_ppl']:.1f} ({p['train_seconds']:.0f} s)"
                for p in x["curve"]
            )
            lines.append(f"- {vs_torch.label(fw, 'A')}: {points}")
    return lines


# Where the rate is halved when no recorded run of the recipe says: the epoch after which
# the recipe before FOFE first halved it.
DECAY_AFTER_FALLBACK = 10.0


def first_halving(path: Path = lm_ptb.RESULTS / "lm_ptb.json") -> float:
    """The last epoch at the recipe's first rate in its recorded run (its plateau schedule
    halved the rate after it), while that run's model is the recipe's;
    :data:`DECAY_AFTER_FALLBACK` otherwise, or if the rate never fell."""
    try:
        neural = json.loads(path.read_text())["neural"]
    except (OSError, KeyError, ValueError):
        return DECAY_AFTER_FALLBACK
    if neural.get("recipe", {}).get("model") != lm_ptb.NEURAL["model"]:
        return DECAY_AFTER_FALLBACK
    lr = lm_ptb.NEURAL["training"]["lr"]
    fallen = [c["epoch"] for c in neural.get("curve", []) if c["lr"] < lr]
    return float(fallen[0] - 1) if fallen else DECAY_AFTER_FALLBACK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: a slice of PTB, loose thresholds"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", default=str(vs_torch.DEFAULT_DATA), help="folder holding ptb/"
    )
    parser.add_argument(
        "--thresholds", type=float, nargs="+", default=None, help="validation perplexities"
    )
    parser.add_argument("--evals-per-epoch", type=int, default=4)
    parser.add_argument(
        "--max-epochs", type=float, default=None, help="stop a run here (default 15; --quick 3)"
    )
    parser.add_argument(
        "--decay-after",
        type=float,
        default=None,
        help="halve the rate after this epoch (default: where the recipe's recorded run "
        "first halved it, benchmarks/results/lm_ptb.json; --quick 2)",
    )
    parser.add_argument(
        "--race-steps", type=int, default=None, help="steps a race turn (default 100; --quick 10)"
    )
    parser.add_argument(
        "--race-rounds", type=int, default=None, help="race turns (default 3; --quick 2)"
    )
    parser.add_argument(
        "--race-warmup",
        type=int,
        default=None,
        help="warm-up steps before the race (default 20; --quick 3)",
    )
    parser.add_argument(
        "--torch-variant",
        choices=vs_torch.TORCH_VARIANTS,
        default=None,
        help="skip the race's choice",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for the results (default benchmarks/results; --quick: none)",
    )
    args = parser.parse_args(argv)
    defaults = {
        "max_epochs": (15, 3),
        "decay_after": (first_halving(), 2),
        "race_steps": (100, 10),
        "race_rounds": (3, 2),
        "race_warmup": (20, 3),
    }
    for key, (full, quick) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    thresholds = tuple(args.thresholds or (QUICK_THRESHOLDS if args.quick else THRESHOLDS))
    import importlib.util

    for needed in ("torch", "threadpoolctl"):
        if importlib.util.find_spec(needed) is None:
            print(f"skipped: {needed} is not installed (pip install -e '.[dev]')", file=sys.stderr)
            return 0
    if not (Path(args.data_dir) / "ptb" / "ptb.train.txt").exists():
        print(f"skipped: no ptb/ptb.train.txt under {args.data_dir}", file=sys.stderr)
        return 0
    from importlib.metadata import version

    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch_version": version("torch"),
        "blas": peak_flops.blas_kernels(),  # the workers inherit this process's environment
        **{k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
        "thresholds": list(thresholds),
    }
    results["race"] = race(args)
    if args.torch_variant:
        results["race"]["fastest_torch"] = args.torch_variant  # the caller's choice
    fastest = results["race"]["fastest_torch"]
    print(f"race: {json.dumps({k: v for k, v in results['race'].items()})}", flush=True)
    results["quality"] = to_quality(args, fastest, thresholds)
    command = "python benchmarks/time_to_quality.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = report_lines(results, command.strip())
    print("\n".join(lines))
    out = Path(args.out) if args.out else (None if args.quick else RESULTS)
    if out is not None:
        from ffnlp.io import atomic_write_text

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "time_to_quality.md", "\n".join(lines) + "\n")
        atomic_write_text(out / "time_to_quality.json", json.dumps(results, indent=2) + "\n")
        print(f"wrote {out / 'time_to_quality.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
