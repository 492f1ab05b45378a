"""Ways to write one exact Adam update of the (10000, 512) output matrix of model A.

Interleaves, 15 times, each way of the update (all in place on float32 arrays, with
reused buffers) and PyTorch's ``Adam.step`` on the same tensor, and prints the median of
each: the micro-benchmark behind the first optimisations of docs/performance.md.

    python benchmarks/adam_update.py --threads 2
    python benchmarks/adam_update.py --threads 1

Each run writes its thread count's medians into ``benchmarks/results/adam_update.json``
and ``adam_update.md`` (the other thread counts' results are kept); ``--no-write`` only
prints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

B1, B2, EPS, LR = 0.9, 0.999, 1e-8, 1e-3
RESULTS = Path(__file__).resolve().parent / "results"
NUMPY_FORM = "cache-sized blocks (ffnlp without Numba)"
COMPILED_FORM = "compiled, blocks (ffnlp with Numba, the fast extra)"


def textbook(w, g, m, v, s, t):
    """One line per pass over memory, nine passes."""
    m *= B1
    np.multiply(g, 1 - B1, out=s)
    m += s
    v *= B2
    np.multiply(g, g, out=s)
    s *= 1 - B2
    v += s
    np.sqrt(v, out=s)
    s /= math.sqrt(1 - B2**t)
    s += EPS
    np.divide(m, s, out=s)
    s *= LR / (1 - B1**t)
    w -= s


def fewer(w, g, m, v, s, t):
    """The bias correction of v folded into eps and the step size: one pass fewer."""
    c = math.sqrt(1 - B2**t)
    np.subtract(g, m, out=s)
    s *= 1 - B1
    m += s
    v *= B2
    np.multiply(g, g, out=s)
    s *= 1 - B2
    v += s
    np.sqrt(v, out=s)
    s += EPS * c
    np.divide(m, s, out=s)
    s *= LR * c / (1 - B1**t)
    w -= s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--no-write", action="store_true", help="print the medians; leave benchmarks/results alone"
    )
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    import ffnlp
    from ffnlp.backend import kernels
    from ffnlp.backend.threads import parallel_blocks

    threadpool_limits(args.threads)
    ffnlp.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = (10000, 512)
    w, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    m, v, s = (np.zeros(shape, np.float32) for _ in range(3))
    pool = ThreadPoolExecutor(args.threads)
    halves = [
        (i * shape[0] // args.threads, (i + 1) * shape[0] // args.threads)
        for i in range(args.threads)
    ]

    def split(update):
        def run(t):
            parts = [
                pool.submit(update, w[a:b], g[a:b], m[a:b], v[a:b], s[a:b], t) for a, b in halves
            ]
            for part in parts:
                part.result()

        return run

    q = torch.from_numpy(w.copy()).requires_grad_()
    q.grad = torch.from_numpy(g.copy())
    reference = torch.optim.Adam([q], lr=LR)
    ways = {
        "in place, one pass a line": lambda t: textbook(w, g, m, v, s, t),
        "one pass fewer": lambda t: fewer(w, g, m, v, s, t),
        "one pass fewer, split over the threads": split(fewer),
        NUMPY_FORM: lambda t: parallel_blocks(lambda *a: fewer(*a, t), w, g, m, v, s),
        "PyTorch Adam.step": lambda t: reference.step(),
    }
    if kernels.use_for(w):  # the `fast` extra: the update as one compiled loop
        adam = kernels.compiled("adam_block")

        def compiled(t):
            c, f = math.sqrt(1 - B2**t), np.float32
            # No decoupled decay (1), no L2 (0), then Adam's constants as ffnlp.optim folds them.
            scalars = (f(1), f(0), f(1 - B1), f(B2), f(1 - B2), f(LR * c / (1 - B1**t)))
            scalars += (f(EPS * c),)
            parallel_blocks(lambda *a: adam(*a, *scalars), w, g, m, v)

        compiled(1)  # compile (or load from the cache) before timing
        ways[COMPILED_FORM] = compiled
    times: dict[str, list[float]] = {name: [] for name in ways}
    for t in range(1, args.repeats + 1):
        for name, run in ways.items():
            start = time.perf_counter()
            run(t)
            times[name].append(time.perf_counter() - start)
    medians = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
    for name, ms in medians.items():
        print(f"{name:52s} {ms:7.2f} ms")
    if not args.no_write:
        write_results(args.threads, args.repeats, medians)
    return 0


def write_results(threads: int, repeats: int, medians: dict[str, float]) -> None:
    from ffnlp.io import atomic_write_text

    path = RESULTS / "adam_update.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[str(threads)] = {
        "run": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}",
        "repeats": repeats,
        "median_ms": {name: round(ms, 2) for name, ms in medians.items()},
    }
    if NUMPY_FORM in medians and COMPILED_FORM in medians:
        results[str(threads)]["numpy_over_compiled"] = round(
            medians[NUMPY_FORM] / medians[COMPILED_FORM], 2
        )
    lines = [
        "# One exact Adam update of a (10000, 512) float32 matrix",
        "",
        "Written by `python benchmarks/adam_update.py --threads N`: the median over the "
        "repeats, in milliseconds, of each way of writing the update, interleaved.",
        "",
    ]
    for key in sorted(results, key=int):
        r = results[key]
        lines += [
            f"## {key} thread(s): run {r['run']} ({r['machine']}; load average "
            f"{r['load_average']}; {r['repeats']} repeats)",
            "",
            "| way | ms |",
            "| --- | --- |",
            *(f"| {name} | {ms:.2f} |" for name, ms in r["median_ms"].items()),
            "",
        ]
        if "numpy_over_compiled" in r:
            lines += [f"NumPy form / compiled: **{r['numpy_over_compiled']:.2f}x**.", ""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "adam_update.md", "\n".join(lines))
    atomic_write_text(path, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
