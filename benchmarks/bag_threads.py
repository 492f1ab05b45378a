"""The compiled pooled lookup (``ffnlp.backend.compiled.EmbeddingBag``) on one thread and
with its forward split over the threads by texts, on a training batch (512 texts of 40
rows) and a prediction's part (8,192 texts of 45 rows) of a 200,000 x 100 table, ids drawn
by Zipf's law; the two settings alternate, and each prints the best of two medians of 30
forward and backward passes (the backward is the same code in both: a check of the noise).

    flock /tmp/ffnlp-bench.lock python benchmarks/bag_threads.py
"""

from __future__ import annotations

import statistics
import sys
import time

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

from ffnlp.autograd import Tensor, ops  # noqa: E402
from ffnlp.backend import compiled, kernels  # noqa: E402

V, D = 200_000, 100
CASES = [(512, 40, "a training batch"), (8192, 45, "a prediction's part")]


def passes(table: Tensor, ids, weights, upstream: Tensor, repeats: int = 30):
    forward, backward = [], []
    for _ in range(repeats):
        table.grad = None
        start = time.perf_counter()
        out = ops.embedding_bag(table, ids, weights, sparse=True)
        middle = time.perf_counter()
        (out * upstream).sum().backward()
        forward.append(middle - start)
        backward.append(time.perf_counter() - middle)
    return statistics.median(forward), statistics.median(backward)


def main() -> int:
    rng = np.random.default_rng(0)
    table = Tensor(rng.standard_normal((V, D)).astype(np.float32), requires_grad=True)
    if not kernels.use_for(table.data):
        print("skipped: needs Numba (the compiled loops)", file=sys.stderr)
        return 0
    split_from = compiled.PARALLEL_WORK
    for batch, rows, name in CASES:
        ids = rng.zipf(1.3, size=(batch, rows)) % V
        weights = np.full((batch, rows), 1.0 / rows, np.float32)
        upstream = Tensor(rng.standard_normal((batch, D)).astype(np.float32))
        times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for split in (False, True, False, True):
            compiled.PARALLEL_WORK = 1 if split else 1 << 62
            times[split].append(passes(table, ids, weights, upstream))
        for split, runs in times.items():
            how = "split over the threads" if split else "one thread"
            print(
                f"{name} ({batch} x {rows}), {how}: forward "
                f"{1e3 * min(f for f, _ in runs):.2f} ms, backward "
                f"{1e3 * min(b for _, b in runs):.2f} ms"
            )
    compiled.PARALLEL_WORK = split_from
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
