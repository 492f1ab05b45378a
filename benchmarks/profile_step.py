"""Where the time of one training step of model A goes, op by op.

Wraps every op's ``forward`` and ``backward`` (and the optimizer's ``step``) with a timer,
trains model A of ``benchmarks/vs_torch.py`` for a few steps on PTB and prints the mean
milliseconds per step of each; "graph and Python" is the rest of the step. To profile
another checkout (e.g. main, for a before/after), put its ``src`` first on the path:

    python benchmarks/profile_step.py --threads 1
    PYTHONPATH=/path/to/main/src python benchmarks/profile_step.py --threads 1
    python benchmarks/profile_step.py --output adaptive --cutoffs 2000
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import sys
import time
from pathlib import Path

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))


def _timed(function, key: str, totals: dict[str, float]):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = function(*args, **kwargs)
        totals[key] += time.perf_counter() - start
        return out

    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--output", default="full", help="full or adaptive")
    parser.add_argument("--cutoffs", type=int, nargs="+", default=[2000])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    args = parser.parse_args(argv)
    path = Path(args.data_dir) / "ptb" / "ptb.train.txt"
    if not path.exists():
        print(f"skipped: no {path}", file=sys.stderr)
        return 0
    import ffnlp
    from ffnlp import optim
    from ffnlp.autograd import ops
    from ffnlp.autograd.tensor import Function
    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
    from ffnlp.text import Vocab, context_windows, load_corpus
    from ffnlp.train import TrainConfig, make_optimizer

    if hasattr(ffnlp, "set_num_threads"):
        ffnlp.set_num_threads(args.threads)
    else:  # an older checkout: BLAS only
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    totals: dict[str, float] = collections.defaultdict(float)
    for name, cls in vars(ops).items():
        if isinstance(cls, type) and issubclass(cls, Function) and cls is not Function:
            for method in ("forward", "backward"):
                if method in cls.__dict__:
                    setattr(cls, method, _timed(cls.__dict__[method], f"{name}.{method}", totals))
    optim.Optimizer.step = _timed(optim.Optimizer.step, "optimizer step", totals)
    optim.grad_norm = _timed(optim.grad_norm, "gradient norm (NaN guard)", totals)

    sentences = load_corpus(path)
    vocab = Vocab.build(sentences)
    contexts, targets = context_windows([vocab.encode(s) for s in sentences], 4, "stream")
    settings = {} if args.output == "full" else {"output": "adaptive", "cutoffs": args.cutoffs}
    lm = FeedforwardLM(
        FeedforwardLMConfig(len(vocab), 4, 128, (512,), **settings),
        rng=0,
    )
    optimizer = make_optimizer(lm, TrainConfig(optimizer="adam", lr=1e-3))
    params = [p for group in optimizer.param_groups for p in group["params"]]
    rng = np.random.default_rng(0)
    warmup = 5
    for step in range(warmup + args.steps):
        if step == warmup:
            totals.clear()
            start = time.perf_counter()
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        batch = rng.integers(0, len(targets), 256)
        for p in params:
            p.grad = None
        _, loss = lm(contexts[batch], targets[batch])
        loss.item()
        loss.backward()
        optim.grad_norm(params)
        optimizer.step()
    per_step = (time.perf_counter() - start) / args.steps
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
    print(
        f"step {1e3 * per_step:.1f} ms ({256 / per_step:,.0f} tokens/s), {args.threads} threads, {faults:,.0f} page faults per step"
    )
    for key, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        if seconds / args.steps >= 5e-5:
            print(f"  {key:30s} {1e3 * seconds / args.steps:8.2f} ms")
    rest = per_step - sum(totals.values()) / args.steps
    print(f"  {'graph and Python':30s} {1e3 * rest:8.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
