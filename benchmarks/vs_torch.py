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
    if framework != "ffnlp":
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

    step.optimizers = [optimizer]  # for a caller that changes the rate (time_to_quality.py)
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


def _torch_trainer(model, cfg: dict[str, Any], next_batch, torch, variant: str):
    """One PyTorch step: ``variant`` "torch" is PyTorch's defaults; "torch_fused" the fused
    optimizers (SparseAdam, which has no fused form, stays on the lazy embedding rows);
    "torch_compile" those plus ``torch.compile`` of the model with its loss."""
    F = torch.nn.functional
    fused = True if variant in ("torch_fused", "torch_compile") else None
    if cfg["optimizer"] == "sgd":
        optimizers = [torch.optim.SGD(model.parameters(), lr=cfg["lr"], fused=fused)]
    elif cfg.get("lazy"):
        rest = [p for name, p in model.named_parameters() if not name.startswith("embedding")]
        optimizers = [
            torch.optim.SparseAdam([model.embedding.weight], lr=cfg["lr"]),
            torch.optim.Adam(rest, lr=cfg["lr"], fused=fused),
        ]
    else:
        optimizers = [torch.optim.Adam(model.parameters(), lr=cfg["lr"], fused=fused)]
    model.train()

    def loss_of(inputs, targets):
        return F.cross_entropy(model(inputs), targets)

    if variant == "torch_compile":
        loss_of = _compiled(loss_of, cfg, torch)

    def step(i: int) -> None:
        inputs, targets = next_batch(i)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss = loss_of(inputs, targets)
        loss.item()
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()

    step.optimizers = optimizers  # for a caller that changes the rate (time_to_quality.py)
    return step


def _compiled(function, cfg: dict[str, Any], torch):
    """``torch.compile`` as a user tuning for speed would call it. The LM's batches all
    have one shape (D's last is shorter), so its graphs are specialised to their shapes
    (``dynamic=False``; D compiles once more for its last batch); the classifier's bags
    differ in length every batch, so its shapes are left to PyTorch's automatic dynamic
    shapes (a second compile, dynamic, on the second batch)."""
    return torch.compile(function, dynamic=False if cfg["task"] != "classify" else None)


def _graphs_compiled(torch) -> int:
    """How many graphs torch.compile has compiled in this process so far."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # a PyTorch without torch.compile
        return 0
    return int(counters["stats"]["unique_graphs"])


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
    if framework != "ffnlp":
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
        import peak_flops

        extra["blas"] = peak_flops.blas_kernels()
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

            def summed_loss(x, y):
                return torch.nn.functional.cross_entropy(model(x), y, reduction="sum")

            if framework == "torch_compile":  # no optimizer here: compile alone
                summed_loss = _compiled(summed_loss, cfg, torch)

            # inference_mode for eager PyTorch, as before; no_grad under torch.compile, which
            # has recompiled on inference tensors and crashed on views of them in forward
            # (pytorch/pytorch issues 148983, 180823); this model reshapes its embeddings
            no_grad = torch.no_grad if framework == "torch_compile" else torch.inference_mode

            def mean_loss() -> float:
                total = 0.0
                with no_grad():
                    for a in range(0, len(targets), cfg["batch_size"]):
                        x = torch.from_numpy(contexts[a : a + cfg["batch_size"]])
                        y = torch.from_numpy(targets[a : a + cfg["batch_size"]])
                        total += float(summed_loss(x, y))
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
    return _torch_trainer(model, cfg, next_batch, torch, framework), cfg["batch_size"], extra


TORCH_VARIANTS = ("torch", "torch_fused", "torch_compile")


def variants(name: str) -> tuple[str, ...]:
    """The PyTorch variants run for configuration ``name``: D has no optimizer, so its
    only tuned variant is torch.compile alone."""
    if CONFIGS[name]["task"] == "eval":
        return ("torch", "torch_compile")
    return TORCH_VARIANTS


def ask_worker(
    workers: dict[str, tuple[Any, Any]],
    failed: dict[str, str],
    fw: str,
    message: Any,
    name: str,
    prefix: str | None = None,
) -> Any:
    """Send ``message`` (none for ``...``) to ``fw``'s worker in ``workers`` (framework ->
    (connection, process)) and return its answer. ffnlp failing raises; a PyTorch variant
    that fails is reported, its error kept in ``failed``, its process joined and dropped
    from ``workers``, and None returned. ``name``: the configuration (its variants' labels);
    ``prefix``: what the messages start with (``"NAME: "`` unless given)."""
    prefix = f"{name}: " if prefix is None else prefix
    conn, process = workers[fw]
    if message is not ...:
        conn.send(message)
    try:
        status, payload = conn.recv()
    except EOFError:  # the process died (a compiler crash can take it down)
        status, payload = "error", f"the worker exited (code {process.exitcode})"
    if status == "ok":
        return payload
    if fw == "ffnlp":
        raise RuntimeError(f"{prefix}ffnlp failed: {payload}")
    print(f"{prefix}PyTorch {label(fw, name)} failed: {payload}", file=sys.stderr)
    failed[fw] = payload
    process.join()
    del workers[fw]
    return None


def label(variant: str, name: str) -> str:
    if variant == "torch_compile":
        return "compile" if CONFIGS[name]["task"] == "eval" else "fused + compile"
    return {"ffnlp": "ffnlp", "torch": "default", "torch_fused": "fused"}[variant]


def _why(error: BaseException) -> str:
    """An exception as one short line for the results (compile errors run to pages)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


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
    their times, and its peak memory at the end. Every reply is ("ok", payload) or
    ("error", why): a variant that cannot run (torch.compile without a working compiler)
    says why and stops, and the others go on."""
    _limit_threads(threads, framework)
    try:
        step, units, extra = _setup(framework, name, Path(data_dir), seed, total, options)
    except Exception as error:  # reported in the results, not raised: the rest go on
        connection.send(("error", _why(error)))
        return
    torch = sys.modules.get("torch") if framework != "ffnlp" else None
    matmul = extra.pop("matmul", None)
    limits: list[float] = []  # NumPy's time for the step's products, after each turn
    fractions: list[float] = []  # that over the turn's median step: the fraction of the limit
    done, chunks = 0, 0
    connection.send(("ok", units))
    while True:
        count = connection.recv()
        if count is None:
            break
        times = []
        try:
            for _ in range(count):
                start = time.perf_counter()
                step(done)
                times.append(time.perf_counter() - start)
                done += 1
        except Exception as error:
            connection.send(("error", _why(error)))
            return
        if chunks == 0:  # the warm-up, which absorbs torch.compile's compiling
            extra["warmup_seconds"] = times
            if torch is not None:
                extra["graphs_after_warmup"] = _graphs_compiled(torch)
        elif matmul is not None:
            # in this turn, so the limit meets the same spell of a shared machine as the
            # steps it is compared with (measured once at the end, one busy spell made the
            # limit a third of itself)
            limit = matmul()
            extra["step_flops"] = limit["step_flops"]
            limits.append(limit["matmul_seconds"])
            fractions.append(limit["matmul_seconds"] / statistics.median(times))
        chunks += 1
        connection.send(("ok", times))
    if torch is not None:
        extra["graphs_at_end"] = _graphs_compiled(torch)
    if limits:
        extra["matmul_seconds"] = statistics.median(limits)
        extra["numpy_gflops"] = extra["step_flops"] / extra["matmul_seconds"] / 1e9
        extra["matmul_rounds"] = limits
        extra["limit_fractions"] = fractions
    connection.send(("ok", {**extra, "peak_mb": _peak_mb()}))


def start_worker(context, target, args: tuple, framework: str, options: dict):
    """Start ``target(*args)`` in a new process of ``context`` for ``framework``.

    Each worker runs tune_process() at the top of this module, as it is spawned. The
    PyTorch workers use ffnlp too (threads, data, initial weights), but run with the
    C library's own malloc policy, as PyTorch does without ffnlp; unless
    ``options["torch_keeps_freed_memory"]`` (--torch-keeps-freed-memory) gives them
    ffnlp's (ffnlp/backend/process.py). All get OPENBLAS_THREAD_TIMEOUT; PyTorch does
    not use OpenBLAS."""
    process = context.Process(target=target, args=args)
    before = os.environ.get("FFNLP_KEEP_FREED_MEMORY")
    if framework != "ffnlp" and not options.get("torch_keeps_freed_memory"):
        os.environ["FFNLP_KEEP_FREED_MEMORY"] = "0"
    try:
        process.start()  # the spawned process copies the environment now
    finally:
        if before is None:
            os.environ.pop("FFNLP_KEEP_FREED_MEMORY", None)
        else:
            os.environ["FFNLP_KEEP_FREED_MEMORY"] = before
    return process


def compare(
    name: str,
    data_dir: str,
    threads: int,
    seed: int,
    rounds: int,
    options: dict,
    peak: dict | None = None,
) -> dict:
    """ffnlp and each PyTorch variant in its own process, taking turns: warm-up, then
    ``rounds`` turns of ``steps`` steps each, in one order on even rounds and the reverse
    on odd ones. The headline ratio is ffnlp's against the fastest PyTorch variant."""
    cfg = {**CONFIGS[name], **options}
    total = cfg["warmup"] + rounds * cfg["steps"]
    context = multiprocessing.get_context("spawn")
    order = ("ffnlp", *variants(name))
    workers = {}
    for fw in order:
        mine, theirs = context.Pipe()
        args = (theirs, fw, name, data_dir, threads, seed, total, options)
        workers[fw] = (mine, start_worker(context, worker, args, fw, options))
    failed: dict[str, str] = {}

    def ask(fw: str, message: Any) -> Any:
        return ask_worker(workers, failed, fw, message, name)

    units = {fw: ask(fw, ...) for fw in order}
    times: dict[str, list[float]] = {fw: [] for fw in order}
    for fw in order:
        if fw in workers:
            ask(fw, cfg["warmup"])
    for round_ in range(rounds):
        for fw in order if round_ % 2 == 0 else order[::-1]:
            if fw in workers:
                chunk = ask(fw, cfg["steps"])
                if chunk is not None:
                    times[fw].append(statistics.median(chunk))
        print(
            f"{name} round {round_ + 1}: "
            + ", ".join(
                f"{label(fw, name)} {units[fw] / times[fw][-1]:,.0f}/s"
                for fw in order
                if fw in workers
            ),
            flush=True,
        )
    out: dict[str, Any] = {}
    for fw in order:
        if fw not in workers:
            out[fw] = {"failed": failed[fw]}
            continue
        process = workers[fw][1]
        facts = ask(fw, None)
        process.join()
        seconds = statistics.median(times[fw])
        out[fw] = {
            "units_per_second": units[fw] / seconds,
            "seconds": seconds,
            "rounds": [units[fw] / t for t in times[fw]],
            **facts,
        }
    ran = [fw for fw in order[1:] if "failed" not in out[fw]]
    fastest = max(ran, key=lambda fw: out[fw]["units_per_second"])
    speed = out["ffnlp"]["units_per_second"]
    out["fastest_torch"] = fastest
    out["ratio"] = speed / out[fastest]["units_per_second"]  # the headline
    out["ratios"] = {fw: speed / out[fw]["units_per_second"] for fw in ran}
    out["round_ratios"] = [t / f for f, t in zip(times["ffnlp"], times[fastest])]
    if "step_flops" in out["ffnlp"]:
        flops = out["ffnlp"]["step_flops"]
        out["flops"] = {
            "step_gflop": flops / 1e9,
            "ffnlp_gflops": flops / out["ffnlp"]["seconds"] / 1e9,
            **{f"{fw}_gflops": flops / out[fw]["seconds"] / 1e9 for fw in ran},
            "numpy_matmul_gflops": out["ffnlp"]["numpy_gflops"],
        }
        # the median of each turn's fraction, step and limit timed in the same turn
        out["flops"]["fraction_of_limit"] = statistics.median(out["ffnlp"]["limit_fractions"])
        if peak:
            for key, value in peak.items():
                out["flops"][f"{key}_gflops"] = value
                out["flops"][f"ffnlp_fraction_of_{key}"] = out["flops"]["ffnlp_gflops"] / value
                out["flops"][f"numpy_fraction_of_{key}"] = out["ffnlp"]["numpy_gflops"] / value
    return out


# ---------------------------------------------------------------------------- report

UNITS = {"lm": "tokens/s", "classify": "examples/s", "eval": "tokens/s"}


def _cell(r: dict[str, Any], fw: str, what: str, fmt: str) -> str:
    if fw not in r:
        return "-"
    if "failed" in r[fw]:
        return "failed"
    return format(r[fw][what], fmt)


def _report_lines(results: dict[str, Any], command: str, torch_version: str) -> list[str]:
    blas = results.get("blas", "?")
    lines = [
        "# ffnlp against PyTorch (CPU, float32)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, PyTorch {torch_version}, BLAS: {blas}. "
        f"Run {results.get('started', '?')} with `{command}`; "
        f"{results['threads']} threads, {results['rounds']} alternating rounds, medians. "
        f"Load average at the start: {results['load_average']}.",
        "",
        "PyTorch runs three ways, each in its own process: its defaults; *fused*, the fused "
        "optimizer (`Adam(..., fused=True)`, `SGD(..., fused=True)`; C-lazy keeps `SparseAdam` "
        "on the embedding rows, which has no fused form, and fused Adam elsewhere); and "
        "*fused + compile*, those plus `torch.compile` of the model with its loss (D, "
        "evaluation only: compile alone). The headline is ffnlp against the fastest of them.",
        "",
        "| config | unit | ffnlp | PyTorch default | PyTorch fused | PyTorch fused + compile "
        "| **ffnlp / fastest PyTorch** | ffnlp / default | ffnlp / fused | ffnlp / fused + compile |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["configs"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} |" + " |" * 8)
            continue
        speeds = [_cell(r, fw, "units_per_second", ",.0f") for fw in ("ffnlp", *TORCH_VARIANTS)]
        ratios = [
            f"{r['ratios'][fw]:.2f}" if fw in r["ratios"] else _cell(r, fw, "", "")
            for fw in TORCH_VARIANTS
        ]
        lines.append(
            f"| {name} | {UNITS[CONFIGS[name]['task']]} | "
            + " | ".join(speeds)
            + f" | **{r['ratio']:.2f}** ({label(r['fastest_torch'], name)}) | "
            + " | ".join(ratios)
            + " |"
        )
    lines += [
        "",
        "D's last PyTorch column is compile alone (no optimizer). "
        "Peak resident memory (VmHWM) of each worker process, MB, imports and data included; "
        "in brackets its resident memory after imports and data, before the model is built:",
        "",
        "| config | ffnlp | PyTorch default | PyTorch fused | PyTorch fused + compile |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results["configs"].items():
        if "skipped" in r:
            continue
        cells = [
            f"{r[fw]['peak_mb']:,.0f} ({r[fw]['baseline_mb']:,.0f})"
            if fw in r and "failed" not in r[fw]
            else _cell(r, fw, "", "")
            for fw in ("ffnlp", *TORCH_VARIANTS)
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    notes = []
    for name, r in results["configs"].items():
        c = r.get("torch_compile", {})
        if "failed" in c:
            notes.append(f"- {name}: torch.compile failed: {c['failed']}")
        elif "warmup_seconds" in c:
            warm = c["warmup_seconds"]
            timed = c["seconds"]  # its median step in the timed rounds
            steps = f"{len(warm)} warm-up steps" if len(warm) > 1 else "one warm-up pass"
            notes.append(
                f"- {name}: {steps}; the first took {warm[0]:.1f} s (compiling; "
                f"a timed one {timed * 1e3:,.1f} ms), the last {warm[-1] * 1e3:,.1f} ms; "
                f"graphs compiled: "
                f"{c.get('graphs_after_warmup', '?')} in the warm-up, "
                f"{c.get('graphs_at_end', 0) - c.get('graphs_after_warmup', 0)} in the timed rounds."
            )
    if notes:
        lines += [
            "",
            "torch.compile (default mode, inductor; `dynamic=False` for the LMs, automatic "
            "dynamic shapes for the classifier's bags). Every process runs the same warm-up "
            "steps before the timed rounds (A 5, B 200, C and C-lazy 20, D one pass); for the "
            "compiled process they absorb the compiling:",
            "",
            *notes,
        ]
    for name, r in results["configs"].items():
        for fw in ("torch", "torch_fused"):
            if "failed" in r.get(fw, {}):
                lines.append(f"- {name}: PyTorch {label(fw, name)} failed: {r[fw]['failed']}")
    a = results["configs"].get("A", {}).get("flops")
    peak = results.get("machine_peak")
    if a:
        torch_rates = ", ".join(
            f"{label(fw, 'A')} {a[fw + '_gflops']:.0f}"
            for fw in TORCH_VARIANTS
            if fw + "_gflops" in a
        )
        lines += [
            "",
            f"Config A: one training step is {a['step_gflop']:.2f} GFLOP (six matrix products); "
            f"ffnlp achieves {a['ffnlp_gflops']:.0f} GFLOP/s, PyTorch {torch_rates}, "
            f"and NumPy's matmul on the same shapes {a['numpy_matmul_gflops']:.0f} (timed in each "
            f"of ffnlp's turns right after its steps; medians): ffnlp runs at "
            f"**{a['fraction_of_limit']:.2f}** of NumPy's matrix-multiply limit (the median of "
            f"each turn's fraction).",
        ]
        if peak and "ffnlp_fraction_of_computed_peak" in a:
            lines += [
                "",
                f"Against the machine's peak float32 rate, {a['computed_peak_gflops']:.0f} GFLOP/s "
                f"({peak['computed']['how']}; CPU: {peak['computed']['cpu']}, "
                f"hypervisor: {peak['computed']['hypervisor'] or 'none'}): ffnlp's whole step "
                f"runs at **{a['ffnlp_fraction_of_computed_peak']:.2f}** of it, NumPy's matmul "
                f"on A's shapes at {a['numpy_fraction_of_computed_peak']:.2f}.",
            ]
            measured = peak.get("measured")
            if measured and "ffnlp_fraction_of_measured_peak" in a:
                computed = peak["computed"]
                per_cycle = computed["cores"] * computed["fma_units"] * computed["lanes"] * 2
                ghz = a["measured_peak_gflops"] / per_cycle
                faster = ghz > 1.05 * computed["ghz"]
                lines[-1] += (
                    f" Measured at the start of the run by a loop of independent "
                    f"{measured['lanes'] * 32}-bit FMAs on {measured['threads']} threads "
                    f"(benchmarks/peak_flops.py, {measured['how']}, best of three): "
                    f"**{a['measured_peak_gflops']:.0f} GFLOP/s**, which is {ghz:.2f} GHz at "
                    f"{per_cycle} FLOP a cycle"
                    + (f", above the nominal {computed['ghz']:.2f} GHz" if faster else "")
                    + ". Of that peak, ffnlp's "
                    f"step runs at **{a['ffnlp_fraction_of_measured_peak']:.2f}** and NumPy's "
                    f"matmul at {a['numpy_fraction_of_measured_peak']:.2f}."
                )
    d = results["configs"].get("D", {})
    if "ffnlp" in d:
        ppl = ", ".join(
            f"{label(fw, 'D')} {d[fw].get('test_ppl', float('nan')):.2f}"
            for fw in ("ffnlp", *variants("D"))
            if "failed" not in d.get(fw, {"failed": 1})
        )
        lines += [
            "",
            f"Config D perplexity (untrained model A, a check that all compute the same): {ppl}.",
        ]
    return lines


def write_report(results: dict[str, Any], command: str) -> None:
    from importlib.metadata import version

    from ffnlp.io import atomic_write_text

    lines = _report_lines(results, command, version("torch"))
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
        help="give the PyTorch workers ffnlp's malloc policy too (ffnlp/backend/process.py)",
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
        "started": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "configs": {},
    }
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import peak_flops

    computed = peak_flops.machine_peak(args.threads)
    measured = peak_flops.measured_fma(args.threads)  # here, before any worker starts
    results["machine_peak"] = {"computed": computed, "measured": measured}
    peak = {"computed_peak": computed["peak_gflops"]}
    if measured:
        peak["measured_peak"] = measured["gflops"]
    print(f"peak float32: {json.dumps(results['machine_peak'])}", flush=True)
    for name in args.configs:
        missing = [f for f in DATA_FILES[CONFIGS[name]["data"]] if not (data / f).exists()]
        if missing:
            reason = f"no {missing[0]} under {data} (give --data-dir or set FFNLP_DATA)"
            print(f"{name}: skipped: {reason}", file=sys.stderr)
            results["configs"][name] = {"skipped": reason}
            continue
        results["configs"][name] = compare(
            name, str(data), args.threads, args.seed, args.rounds, options, peak
        )
        r = results["configs"][name]
        results.setdefault("blas", r["ffnlp"].get("blas"))
        print(
            f"{name}: ffnlp / fastest PyTorch ({label(r['fastest_torch'], name)}) = "
            f"{r['ratio']:.2f}; "
            + ", ".join(f"/ {label(fw, name)} {x:.2f}" for fw, x in r["ratios"].items()),
            flush=True,
        )
        if "flops" in r:
            print(f"{name}: {json.dumps(r['flops'])}", flush=True)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_report(results, "python benchmarks/vs_torch.py " + " ".join(argv or sys.argv[1:]))
        print(f"wrote {RESULTS / 'vs_torch.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
