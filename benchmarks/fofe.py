"""Two ways to compute the FOFE codes of a PTB-sized batch, forward and backward.

``ffnlp.nn.functional.fofe`` is one weighted embedding bag per forgetting factor (a
composition of the gradient-checked :func:`ffnlp.autograd.ops.embedding_bag`, with its
fast backend or the plain NumPy form); the alternative is a dedicated op that gathers the
(B, K, D) rows and multiplies them by the (B, J, K) weights, whose backward scatters
(B, K, D) rows back. Batch 256, K = 20 previous words (0.7^20 < 1e-3), D = 256, a 10,000-
word table, ids drawn by Zipf's law as in text; prints the median of 30 steps of each.

    flock /tmp/ffnlp-bench.lock python benchmarks/fofe.py
"""

from __future__ import annotations

import statistics
import time

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

from ffnlp import backend  # noqa: E402
from ffnlp.autograd import Tensor  # noqa: E402
from ffnlp.autograd.sparse import RowSparseGrad  # noqa: E402
from ffnlp.autograd.tensor import Function  # noqa: E402
from ffnlp.nn import functional as F  # noqa: E402

V, D, B, K, PAD = 10_000, 256, 256, 20, 1


class GatherFofe(Function):
    """The dedicated op: out[b] = weights[b] @ E[ids[b]], (B, J, K) @ (B, K, D)."""

    def forward(self, weight, ids, weights):
        self.saved = (weight.shape[0], ids, weights)
        return np.matmul(weights, np.take(weight, ids, axis=0))  # (B, J, D)

    def backward(self, grad):
        vocab_size, ids, weights = self.saved
        rows = np.matmul(weights.transpose(0, 2, 1), grad)  # (B, K, D)
        return RowSparseGrad.from_rows(ids, rows.reshape(-1, rows.shape[-1]), vocab_size)


def gather_fofe(E: Tensor, ids: np.ndarray, alphas: tuple[float, ...]) -> Tensor:
    powers = np.array(alphas)[:, None] ** np.arange(K - 1, -1, -1)[None, :]  # (J, K)
    weights = (powers[None] * (ids != PAD)[:, None, :]).astype(np.float32)  # (B, J, K)
    return GatherFofe.apply(E, ids=ids, weights=weights).reshape(B, len(alphas) * D)


def median_ms(fn, E: Tensor, upstream: Tensor, repeats: int = 30) -> float:
    times = []
    for i in range(repeats + 3):
        E.grad = None
        start = time.perf_counter()
        (fn() * upstream).sum().backward()
        if i >= 3:  # the first calls load and warm what they use
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(0)
    E = Tensor(rng.normal(size=(V, D)).astype(np.float32), requires_grad=True)
    ids = np.minimum(rng.zipf(1.1, size=(B, K)), V - 1).astype(np.int64)
    ids[:8, :10] = PAD  # a few histories near the corpus start
    print(f"batch {B}, K {K}, D {D}, V {V:,}; {len(np.unique(ids))} distinct ids; ms per step")
    for alphas in ((0.7,), (0.7, 0.5)):
        upstream = Tensor(rng.normal(size=(B, len(alphas) * D)).astype(np.float32))
        ways = {
            "embedding bags (fast backend)": lambda a=alphas: F.fofe(E, ids, a, PAD, True),
            "gather + matmul op": lambda a=alphas: gather_fofe(E, ids, a),
        }
        row = {name: median_ms(fn, E, upstream) for name, fn in ways.items()}
        with backend.using("reference"):
            row["embedding bags (NumPy form)"] = median_ms(
                lambda a=alphas: F.fofe(E, ids, a, PAD, True), E, upstream
            )
        print(f"J={len(alphas)}: " + "; ".join(f"{k} {v:.2f}" for k, v in row.items()))


if __name__ == "__main__":
    main()
