"""ffnlp against PyTorch on the CPU: the same models, trained side by side.

Each configuration is trained for a fixed number of steps by ffnlp and by PyTorch with the
same float32 weights (drawn once here, with ffnlp's initialisation scheme, and loaded into
both), the same batches in the same order, the same optimizer and the same number of
threads. Every measurement runs in a fresh process (multiprocessing "spawn"), the two
frameworks alternating round after round, so each process's peak resident memory
(VmHWM) is its own and slow spells of a shared machine fall on both. The table
gives medians over the rounds.

    python benchmarks/vs_torch.py                       # A, B, C, C-lazy and D, 7 rounds
    python benchmarks/vs_torch.py --configs A --rounds 3
    python benchmarks/vs_torch.py --threads 2 --data-dir /path/to/data

Configurations (see docs/performance.md):

    A       PTB word LM: context 4, embeddings 128, hidden 512 tanh, full softmax over 10k
            words, batch 256, Adam lr 1e-3 (exact, dense moments on every parameter).
    B       names character LM: context 3, embeddings 10, hidden 200 tanh, batch 32, SGD.
    C       SST-2 mean-pooled classifier: 300-d embeddings of the whole training
            vocabulary, hidden 300 ReLU, batch 50, Adam lr 1e-3 (exact).
    C-lazy  C with lazy Adam on the embeddings (PyTorch: SparseAdam), Adam elsewhere.
    D       perplexity of the PTB test set with model A (evaluation only).

Writes ``benchmarks/results/vs_torch.md`` and ``vs_torch.json``. Needs torch and
threadpoolctl (``pip install -e '.[dev]'``); data that is missing is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"

CONFIGS: dict[str, dict[str, Any]] = {
    "A": {
        "task": "lm",
        "data": "ptb",
        "context_size": 4,
        "embed_dim": 128,
        "hidden_dim": 512,
        "batch_size": 256,
        "optimizer": "adam",
        "lr": 1e-3,
        "warmup": 5,
        "steps": 10,
    },
    "B": {
        "task": "lm",
        "data": "names",
        "context_size": 3,
        "embed_dim": 10,
        "hidden_dim": 200,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 0.1,
        "warmup": 200,
        "steps": 300,
    },
    "C": {
        "task": "classify",
        "data": "sst2",
        "embed_dim": 300,
        "hidden_dim": 300,
        "batch_size": 50,
        "optimizer": "adam",
        "lr": 1e-3,
        "lazy": False,
        "warmup": 20,
        "steps": 40,
    },
    "C-lazy": {
        "task": "classify",
        "data": "sst2",
        "embed_dim": 300,
        "hidden_dim": 300,
        "batch_size": 50,
        "optimizer": "adam",
        "lr": 1e-3,
        "lazy": True,
        "warmup": 20,
        "steps": 40,
    },
    "D": {
        "task": "eval",
        "data": "ptb",
        "context_size": 4,
        "embed_dim": 128,
        "hidden_dim": 512,
        "batch_size": 1024,
        "warmup": 1,
        "steps": 1,
    },
}
DATA_FILES = {
    "ptb": ("ptb/ptb.train.txt", "ptb/ptb.test.txt"),
    "names": ("names/names.txt",),
    "sst2": ("sst2/stsa.binary.train",),
}


# ---------------------------------------------------------------------------- measuring


def _rss_mb() -> float:
    """The resident memory now (Linux /proc), in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    """This process's peak resident memory, in MB: VmHWM, which (unlike ``ru_maxrss``)
    starts afresh when a process execs, so the parent's memory is not counted."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _limit_threads(threads: int, framework: str) -> Any:
    from threadpoolctl import threadpool_limits

    import ffnlp

    if hasattr(ffnlp, "set_num_threads"):  # BLAS (through threadpoolctl) and ffnlp's own pool
        ffnlp.set_num_threads(threads)
    if framework == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    return threadpool_limits(threads)


def _xavier(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (rows + cols))
    return rng.uniform(-limit, limit, (rows, cols)).astype(np.float32)


def _initial_weights(sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """ffnlp's scheme: embeddings N(0, 1/D), Xavier-uniform weights, zero biases."""
    rng = np.random.default_rng(seed)
    V, D, I, H, C = (sizes[k] for k in ("rows", "embed_dim", "input_dim", "hidden_dim", "outputs"))
    return {
        "embedding": (rng.standard_normal((V, D)) / np.sqrt(D)).astype(np.float32),
        "hidden.weight": _xavier(rng, H, I),
        "hidden.bias": np.zeros(H, np.float32),
        "output.weight": _xavier(rng, C, H),
        "output.bias": np.zeros(C, np.float32),
    }


# ---------------------------------------------------------------------------- data


def _lm_data(cfg: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    from ffnlp.text import Tokenizer, Vocab, context_windows, load_corpus

    if cfg["data"] == "ptb":
        train = load_corpus(data_dir / "ptb" / "ptb.train.txt")
        test = load_corpus(data_dir / "ptb" / "ptb.test.txt")
        layout = "stream"
    else:
        train = load_corpus(data_dir / "names" / "names.txt", Tokenizer("char"))
        test = train[:1000]
        layout = "sentence"
    vocab = Vocab.build(train)
    N = cfg["context_size"]
    windows = {
        name: context_windows([vocab.encode(s) for s in part], N, layout)
        for name, part in (("train", train), ("test", test))
    }
    return {"vocab_size": len(vocab), "windows": windows}


def _sst2_data(data_dir: Path) -> dict[str, Any]:
    from ffnlp.text import Tokenizer, Vocab
    from ffnlp.text.labelled import read_labelled

    texts, labels = read_labelled(str(data_dir / "sst2" / "stsa.binary.train"), "label-first")
    tokenizer = Tokenizer()
    tokens = [tokenizer(t) for t in texts]
    vocab = Vocab.build(tokens)  # the full training vocabulary
    docs = [vocab.encode(t) for t in tokens]
    classes = sorted(set(labels))
    targets = np.array([classes.index(y) for y in labels], dtype=np.int64)
    return {"vocab_size": len(vocab), "docs": docs, "targets": targets}


def _batches(n: int, batch_size: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` batches of shuffled example indices, the same for both frameworks."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(count * batch_size // n + 1)])
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(count)]


# ---------------------------------------------------------------------------- ffnlp


def _ffnlp_lm(cfg: dict[str, Any], sizes: dict[str, int], weights: dict[str, np.ndarray]):
    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig

    config = FeedforwardLMConfig(
        vocab_size=sizes["rows"],
        context_size=cfg["context_size"],
        embed_dim=cfg["embed_dim"],
        hidden_dims=(cfg["hidden_dim"],),
        activation="tanh",
        **cfg.get("model_options", {}),
    )
    model = FeedforwardLM(config, rng=0)
    model.load_state_dict(
        {
            "embedding.weight": weights["embedding"],
            "hidden.0.weight": weights["hidden.weight"],
            "hidden.0.bias": weights["hidden.bias"],
            "output.weight": weights["output.weight"],
            "output.bias": weights["output.bias"],
        }
    )
    return model


def _ffnlp_classifier(cfg: dict[str, Any], sizes: dict[str, int], weights):
    try:
        from ffnlp.models.classifier import DeepAveragingConfig, DeepAveragingNetwork
    except ImportError:  # a checkout from before the classifier was split into parts
        from ffnlp.models.classifier import PooledClassifier as DeepAveragingNetwork
        from ffnlp.models.classifier import PooledClassifierConfig as DeepAveragingConfig

    config = DeepAveragingConfig(
        vocab_size=sizes["rows"],
        num_classes=sizes["outputs"],
        embed_dim=cfg["embed_dim"],
        hidden_dims=(cfg["hidden_dim"],),
        activation="relu",
    )
    model = DeepAveragingNetwork(config, rng=0)
    model.load_state_dict(
        {
            "embedding.weight": weights["embedding"],
            "mlp.0.weight": weights["hidden.weight"],
            "mlp.0.bias": weights["hidden.bias"],
            "mlp.2.weight": weights["output.weight"],
            "mlp.2.bias": weights["output.bias"],
        }
    )
    return model


def _ffnlp_trainer(model, cfg: dict[str, Any], next_batch):
    """One step of exactly what :func:`ffnlp.train.fit` does per step."""
    import math

    from ffnlp import optim
    from ffnlp.train import TrainConfig, make_optimizer

    optimizer = make_optimizer(
        model,
        TrainConfig(
            optimizer=cfg["optimizer"], lr=cfg["lr"], lazy_embeddings=cfg.get("lazy", False)
        ),
    )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    model.train()

    def step(i: int) -> None:
        inputs, targets = next_batch(i)
        for p in params:
            p.grad = None
        _, loss = model(inputs, targets)
        value = float(loss.item())
        loss.backward()
        norm = optim.grad_norm(params)  # fit's guard against NaN
        assert math.isfinite(value) and math.isfinite(norm)
        optimizer.step()

    return step


# ---------------------------------------------------------------------------- PyTorch


def _torch_model(cfg: dict[str, Any], sizes: dict[str, int], weights, torch):
    nn = torch.nn

    class PooledOrLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sparse = bool(cfg.get("lazy"))
            if cfg["task"] == "classify":
                self.embedding = nn.EmbeddingBag(
                    sizes["rows"], cfg["embed_dim"], mode="mean", sparse=sparse
                )
            else:
                self.embedding = nn.Embedding(sizes["rows"], cfg["embed_dim"])
            self.hidden = nn.Linear(sizes["input_dim"], cfg["hidden_dim"])
            self.output = nn.Linear(cfg["hidden_dim"], sizes["outputs"])

        def forward(self, inputs):
            if cfg["task"] == "classify":
                flat, offsets = inputs
                x = self.embedding(flat, offsets)
                return self.output(torch.relu(self.hidden(x)))
            x = self.embedding(inputs).reshape(len(inputs), -1)
            return self.output(torch.tanh(self.hidden(x)))

    model = PooledOrLM()
    with torch.no_grad():
        model.embedding.weight.copy_(torch.from_numpy(weights["embedding"]))
        for name in ("hidden", "output"):
            getattr(model, name).weight.copy_(torch.from_numpy(weights[f"{name}.weight"]))
            getattr(model, name).bias.copy_(torch.from_numpy(weights[f"{name}.bias"]))
    return model


def _torch_trainer(model, cfg: dict[str, Any], next_batch, torch):
    F = torch.nn.functional
    if cfg["optimizer"] == "sgd":
        optimizers = [torch.optim.SGD(model.parameters(), lr=cfg["lr"])]
    elif cfg.get("lazy"):
        rest = [p for name, p in model.named_parameters() if not name.startswith("embedding")]
        optimizers = [
            torch.optim.SparseAdam([model.embedding.weight], lr=cfg["lr"]),
            torch.optim.Adam(rest, lr=cfg["lr"]),
        ]
    else:
        optimizers = [torch.optim.Adam(model.parameters(), lr=cfg["lr"])]
    model.train()

    def step(i: int) -> None:
        inputs, targets = next_batch(i)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(inputs), targets)
        loss.item()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()

    return step


# ---------------------------------------------------------------------------- one measurement


def _matmul_limit(cfg: dict[str, Any], sizes: dict[str, int], repeats: int = 7) -> dict[str, float]:
    """NumPy's own time for the six matrix products of one training step of an LM."""
    rng = np.random.default_rng(0)
    B, I, H, V = cfg["batch_size"], sizes["input_dim"], cfg["hidden_dim"], sizes["outputs"]

    def m(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    x, w1, h, w2, g2, g1 = m(B, I), m(H, I), m(B, H), m(V, H), m(B, V), m(B, H)
    products = [
        (x, w1.T),  # forward, hidden
        (h, w2.T),  # forward, output
        (g2, w2),  # backward, output: dL/dh
        (g2.T, h),  # backward, output: dL/dW
        (g1, w1),  # backward, hidden: dL/dx
        (g1.T, x),  # backward, hidden: dL/dW
    ]
    total = 0.0
    for a, b in products:
        a = np.ascontiguousarray(a) if a.base is None else a
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b)
            times.append(time.perf_counter() - start)
        total += statistics.median(times)
    flops = 2.0 * sum(a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)
    return {"matmul_seconds": total, "step_flops": flops, "numpy_gflops": flops / total / 1e9}


def _setup(framework: str, name: str, data_dir: Path, seed: int, total: int, options: dict):
    """Build configuration ``name`` in ``framework``; returns (run one step, units per step,
    extra facts). A step of D is one pass over the test set."""
    cfg = {**CONFIGS[name], **options}
    if framework == "torch":
        import torch
    if cfg["task"] == "classify":
        data = _sst2_data(data_dir)
        sizes = {"rows": data["vocab_size"], "input_dim": cfg["embed_dim"], "outputs": 2}
    else:
        data = _lm_data(cfg, data_dir)
        sizes = {
            "rows": data["vocab_size"],
            "input_dim": cfg["context_size"] * cfg["embed_dim"],
            "outputs": data["vocab_size"],
        }
    sizes.update(embed_dim=cfg["embed_dim"], hidden_dim=cfg["hidden_dim"])
    weights = _initial_weights(sizes, seed)
    extra: dict[str, Any] = {"baseline_mb": _rss_mb()}
    if framework == "ffnlp":
        import threadpoolctl

        extra["blas"] = ", ".join(
            f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
            for p in threadpoolctl.threadpool_info()
        )
    if framework == "ffnlp" and name == "A":
        extra["matmul"] = lambda: _matmul_limit(cfg, sizes)

    if cfg["task"] == "eval":
        contexts, targets = data["windows"]["test"]
        if framework == "ffnlp":
            model = _ffnlp_lm(cfg, sizes, weights)

            def mean_loss() -> float:
                return float(-model.window_log_probs(contexts, targets, cfg["batch_size"]).mean())
        else:
            model = _torch_model(cfg, sizes, weights, torch).eval()

            def mean_loss() -> float:
                total = 0.0
                with torch.inference_mode():
                    for a in range(0, len(targets), cfg["batch_size"]):
                        x = torch.from_numpy(contexts[a : a + cfg["batch_size"]])
                        y = torch.from_numpy(targets[a : a + cfg["batch_size"]])
                        total += float(
                            torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
                        )
                return total / len(targets)

        def evaluate(step: int) -> None:
            extra["test_ppl"] = float(np.exp(mean_loss()))

        return evaluate, len(targets), extra

    if cfg["task"] == "classify":
        from ffnlp.models.classifier import TextDataset

        dataset = TextDataset(data["docs"], data["targets"])
        batches = _batches(len(dataset), cfg["batch_size"], total, seed)
    else:
        contexts, targets = data["windows"]["train"]
        batches = _batches(len(targets), cfg["batch_size"], total, seed)
    if framework == "ffnlp":
        if cfg["task"] == "classify":
            model = _ffnlp_classifier(cfg, sizes, weights)
            next_batch = lambda i: dataset.batch(batches[i])  # noqa: E731
        else:
            model = _ffnlp_lm(cfg, sizes, weights)
            next_batch = lambda i: (contexts[batches[i]], targets[batches[i]])  # noqa: E731
        return _ffnlp_trainer(model, cfg, next_batch), cfg["batch_size"], extra
    model = _torch_model(cfg, sizes, weights, torch)
    if cfg["task"] == "classify":
        docs, labels = data["docs"], torch.from_numpy(data["targets"])

        def next_batch(i):
            chosen = [docs[j] for j in batches[i]]
            lengths = np.fromiter(map(len, chosen), np.int64, len(chosen))
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            flat = torch.from_numpy(np.concatenate(chosen))
            return (flat, torch.from_numpy(offsets)), labels[batches[i]]
    else:
        tc, tt = torch.from_numpy(contexts), torch.from_numpy(targets)
        next_batch = lambda i: (tc[batches[i]], tt[batches[i]])  # noqa: E731
    return _torch_trainer(model, cfg, next_batch, torch), cfg["batch_size"], extra


def worker(
    connection,
    framework: str,
    name: str,
    data_dir: str,
    threads: int,
    seed: int,
    total: int,
    options: dict,
) -> None:
    """A spawned process holding one framework's model: runs steps when asked, reports
    their times, and its peak memory at the end."""
    _limit_threads(threads, framework)
    step, units, extra = _setup(framework, name, Path(data_dir), seed, total, options)
    done = 0
    connection.send(units)
    while True:
        count = connection.recv()
        if count is None:
            break
        times = []
        for _ in range(count):
            start = time.perf_counter()
            step(done)
            times.append(time.perf_counter() - start)
            done += 1
        connection.send(times)
    matmul = extra.pop("matmul", None)
    if matmul is not None:
        extra.update(matmul())
    connection.send({**extra, "peak_mb": _peak_mb()})


def compare(name: str, data_dir: str, threads: int, seed: int, rounds: int, options: dict) -> dict:
    """Both frameworks in their own process, taking turns: warm-up, then ``rounds`` turns
    of ``steps`` steps each, the first to go alternating."""
    cfg = {**CONFIGS[name], **options}
    total = cfg["warmup"] + rounds * cfg["steps"]
    context = multiprocessing.get_context("spawn")
    workers = {}
    for fw in ("ffnlp", "torch"):
        mine, theirs = context.Pipe()
        process = context.Process(
            target=worker, args=(theirs, fw, name, data_dir, threads, seed, total, options)
        )
        # Each worker runs tune_process() at the top of this module, as it is spawned. The
        # PyTorch worker uses ffnlp too (threads, data, initial weights), but runs with the
        # C library's own malloc policy, as PyTorch does without ffnlp; unless
        # --torch-keeps-freed-memory gives it ffnlp's (ffnlp/backend/process.py). Both get
        # OPENBLAS_THREAD_TIMEOUT; PyTorch does not use OpenBLAS.
        before = os.environ.get("FFNLP_KEEP_FREED_MEMORY")
        if fw == "torch" and not options.get("torch_keeps_freed_memory"):
            os.environ["FFNLP_KEEP_FREED_MEMORY"] = "0"
        try:
            process.start()  # the spawned process copies the environment now
        finally:
            if before is None:
                os.environ.pop("FFNLP_KEEP_FREED_MEMORY", None)
            else:
                os.environ["FFNLP_KEEP_FREED_MEMORY"] = before
        workers[fw] = (mine, process)
    units = {fw: conn.recv() for fw, (conn, _) in workers.items()}
    times: dict[str, list[float]] = {"ffnlp": [], "torch": []}
    for conn, _ in workers.values():
        conn.send(cfg["warmup"])
        conn.recv()
    for round_ in range(rounds):
        for fw in ("ffnlp", "torch") if round_ % 2 == 0 else ("torch", "ffnlp"):
            conn = workers[fw][0]
            conn.send(cfg["steps"])
            chunk = conn.recv()
            times[fw].append(statistics.median(chunk))
        print(
            f"{name} round {round_ + 1}: "
            + ", ".join(f"{fw} {units[fw] / times[fw][-1]:,.0f}/s" for fw in times),
            flush=True,
        )
    out: dict[str, Any] = {}
    for fw, (conn, process) in workers.items():
        conn.send(None)
        facts = conn.recv()
        process.join()
        seconds = statistics.median(times[fw])
        out[fw] = {
            "units_per_second": units[fw] / seconds,
            "seconds": seconds,
            "rounds": [units[fw] / t for t in times[fw]],
            **facts,
        }
    out["ratio"] = out["ffnlp"]["units_per_second"] / out["torch"]["units_per_second"]
    out["round_ratios"] = [t / f for f, t in zip(times["ffnlp"], times["torch"])]
    if "step_flops" in out["ffnlp"]:
        flops = out["ffnlp"]["step_flops"]
        out["flops"] = {
            "step_gflop": flops / 1e9,
            "ffnlp_gflops": flops / out["ffnlp"]["seconds"] / 1e9,
            "torch_gflops": flops / out["torch"]["seconds"] / 1e9,
            "numpy_matmul_gflops": out["ffnlp"]["numpy_gflops"],
        }
        out["flops"]["fraction_of_limit"] = (
            out["flops"]["ffnlp_gflops"] / out["ffnlp"]["numpy_gflops"]
        )
    return out


# ---------------------------------------------------------------------------- report

UNITS = {"lm": "tokens/s", "classify": "examples/s", "eval": "tokens/s"}


def write_report(results: dict[str, Any], command: str) -> None:
    from importlib.metadata import version

    torch_version = version("torch")
    blas = results.get("blas", "?")
    lines = [
        "# ffnlp against PyTorch (CPU, float32)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, PyTorch {torch_version}, BLAS: {blas}. "
        f"Run {time.strftime('%Y-%m-%d %H:%M')} with `{command}`; "
        f"{results['threads']} threads, {results['rounds']} alternating rounds, medians. "
        f"Load average at the start: {results['load_average']}.",
        "",
        "| config | unit | ffnlp | PyTorch | ffnlp / PyTorch | peak MB ffnlp | peak MB PyTorch | (after data: ffnlp / PyTorch) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["configs"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | | | | |")
            continue
        f, t = r["ffnlp"], r["torch"]
        lines.append(
            f"| {name} | {UNITS[CONFIGS[name]['task']]} | {f['units_per_second']:,.0f} | "
            f"{t['units_per_second']:,.0f} | **{r['ratio']:.2f}** | {f['peak_mb']:,.0f} | "
            f"{t['peak_mb']:,.0f} | {f['baseline_mb']:,.0f} / {t['baseline_mb']:,.0f} |"
        )
    a = results["configs"].get("A", {}).get("flops")
    if a:
        lines += [
            "",
            f"Config A: one training step is {a['step_gflop']:.2f} GFLOP (six matrix products); "
            f"ffnlp achieves {a['ffnlp_gflops']:.0f} GFLOP/s, PyTorch {a['torch_gflops']:.0f}, "
            f"and NumPy's matmul on the same shapes in the same run {a['numpy_matmul_gflops']:.0f}: "
            f"ffnlp runs at **{a['fraction_of_limit']:.2f}** of the matrix-multiply limit.",
        ]
    d = results["configs"].get("D", {})
    if "ffnlp" in d:
        lines += [
            "",
            f"Config D perplexity (untrained model A, a check that both compute the same): "
            f"ffnlp {d['ffnlp'].get('test_ppl', float('nan')):.2f}, PyTorch {d['torch'].get('test_ppl', float('nan')):.2f}.",
        ]
    lines += [
        "",
        "Peak memory is each worker process's peak resident memory (VmHWM), imports and "
        "data included; the last column is its resident memory after imports and data, "
        "before the model is built.",
    ]
    from ffnlp.io import atomic_write_text

    atomic_write_text(RESULTS / "vs_torch.md", "\n".join(lines) + "\n")
    atomic_write_text(RESULTS / "vs_torch.json", json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per config")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per run")
    parser.add_argument("--steps", type=int, default=None, help="override the steps per turn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data-dir", default=str(DEFAULT_DATA), help="folder holding ptb/, names/, sst2/"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    parser.add_argument(
        "--torch-keeps-freed-memory",
        action="store_true",
        help="give the PyTorch worker ffnlp's malloc policy too (ffnlp/backend/process.py)",
    )
    args = parser.parse_args(argv)
    import importlib.util

    for needed in ("torch", "threadpoolctl"):  # not imported here: workers fork from us
        if importlib.util.find_spec(needed) is None:
            print(f"skipped: {needed} is not installed (pip install -e '.[dev]')", file=sys.stderr)
            return 0
    data = Path(args.data_dir)
    options: dict[str, Any] = {"steps": args.steps} if args.steps else {}
    if args.torch_keeps_freed_memory:
        options["torch_keeps_freed_memory"] = True
    results: dict[str, Any] = {
        "threads": args.threads,
        "rounds": args.rounds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "configs": {},
    }
    for name in args.configs:
        missing = [f for f in DATA_FILES[CONFIGS[name]["data"]] if not (data / f).exists()]
        if missing:
            reason = f"no {missing[0]} under {data} (give --data-dir or set FFNLP_DATA)"
            print(f"{name}: skipped: {reason}", file=sys.stderr)
            results["configs"][name] = {"skipped": reason}
            continue
        results["configs"][name] = compare(
            name, str(data), args.threads, args.seed, args.rounds, options
        )
        r = results["configs"][name]
        results.setdefault("blas", r["ffnlp"].get("blas"))
        print(f"{name}: ffnlp/PyTorch = {r['ratio']:.2f}", flush=True)
        if "flops" in r:
            print(f"{name}: {json.dumps(r['flops'])}", flush=True)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_report(results, "python benchmarks/vs_torch.py " + " ".join(argv or sys.argv[1:]))
        print(f"wrote {RESULTS / 'vs_torch.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
