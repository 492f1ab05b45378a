"""Ways to write one exact Adam update of the (10000, 512) output matrix of model A.

Interleaves, 15 times, each way of the update (all in place on float32 arrays, with
reused buffers) and PyTorch's ``Adam.step`` on the same tensor, and prints the median of
each: the micro-benchmark behind the first optimisations of docs/performance.md.

    python benchmarks/adam_update.py --threads 2
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

B1, B2, EPS, LR = 0.9, 0.999, 1e-8, 1e-3


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
        f"one pass fewer, split over {args.threads} threads": split(fewer),
        f"cache-sized blocks over {args.threads} threads (ffnlp)": lambda t: parallel_blocks(
            lambda *a: fewer(*a, t), w, g, m, v, s
        ),
        "PyTorch Adam.step": lambda t: reference.step(),
    }
    if kernels.use_for(w):  # the `fast` extra: the update as one compiled loop
        adam = kernels.compiled("adam_block")

        def compiled(t):
            c, f = math.sqrt(1 - B2**t), np.float32
            scalars = (f(1), f(0), f(1 - B1), f(B2), f(1 - B2))  # no decay, no L2
            scalars += (f(LR * c / (1 - B1**t)), f(EPS * c))
            parallel_blocks(lambda *a: adam(*a, *scalars), w, g, m, v)

        compiled(1)  # compile (or load from the cache) before timing
        ways[f"compiled, blocks over {args.threads} threads (ffnlp, fast)"] = compiled
    times: dict[str, list[float]] = {name: [] for name in ways}
    for t in range(1, args.repeats + 1):
        for name, run in ways.items():
            start = time.perf_counter()
            run(t)
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        print(f"{name:50s} {1e3 * statistics.median(ts):7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
