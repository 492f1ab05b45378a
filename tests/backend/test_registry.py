"""Every registered fast path against its plain op: the same inputs through both, forward
and backward, in float32 and float64; on the op table's small cases (with the blocks and
thresholds made small, so the fast code runs on them) and on inputs large enough for the
real thresholds. Plus the switch between the two, and a gradient check of each fast path."""

from __future__ import annotations

import numpy as np
import pytest

import ffnlp
import ffnlp.backend
from ffnlp.autograd import Tensor, gradcheck, no_grad, ops
from ffnlp.autograd.sparse import as_dense
from ffnlp.backend import FAST_PATHS, blocked, compiled, kernels

from ..autograd.op_table import OPS_BY_NAME, Case, values


def _large_linear(rng):
    for batch in [(301,), (7, 43)]:
        x, w, b = values((*batch, 64), rng), values((3001, 64), rng), values((3001,), rng)
        yield Case([x, w, b])
    yield Case([values((301, 64), rng), values((3001, 64), rng)])  # no bias


def _large_cross_entropy(rng):
    for batch in [(301,), (7, 43)]:
        for reduction in ("mean", "sum", "none"):
            targets = rng.integers(0, 3001, batch)
            logits = values((*batch, 3001), rng) * 4
            yield Case([logits], {"targets": targets, "reduction": reduction})


def _large_embedding_bag(rng):
    for sparse in (False, True):
        ids = rng.integers(0, 3000, size=(12, 10))
        weights = rng.random((12, 10))
        weights[:, 8:] = 0  # padding
        weights[3, 5] = 0  # a zero weight inside a text
        table = values((3000, 100), rng)  # 300,000 weights: at least kernels.MIN_SIZE
        yield Case([table], {"ids": ids, "weights": weights, "sparse": sparse})


# Each registered fast path: its op's entry in the op table, and large inputs.
FAST_OPS = {
    "ffnlp.autograd.ops.Linear": ("linear", _large_linear),
    "ffnlp.autograd.ops.CrossEntropy": ("cross_entropy", _large_cross_entropy),
    "ffnlp.autograd.ops.EmbeddingBag": ("embedding_bag", _large_embedding_bag),
}


def test_every_registered_fast_path_is_compared_here():
    assert set(FAST_OPS) == set(FAST_PATHS)
    for key in FAST_PATHS:
        op = getattr(ops, key.rsplit(".", 1)[1])
        fast = ffnlp.backend.implementation(op)
        assert fast is not op and issubclass(fast, op) and fast.__name__ == op.__name__
        assert fast.__module__.startswith("ffnlp.backend.")


def _cases(large: bool):
    out = []
    for key, (name, large_cases) in FAST_OPS.items():
        cases = large_cases if large else OPS_BY_NAME[name].cases
        for i, case in enumerate(cases(np.random.default_rng(0))):
            out.append(pytest.param(key, case, id=f"{name}-{i}"))
    return out


@pytest.fixture
def two_threads():
    before = ffnlp.get_num_threads()
    ffnlp.set_num_threads(2)
    yield
    ffnlp.set_num_threads(before)


@pytest.fixture
def small_thresholds(monkeypatch, two_threads):
    """Blocks of a few rows spread over both threads even for the op table's tiny inputs,
    and the compiled loops for any table, split over the threads too."""
    monkeypatch.setattr(blocked, "ROW_BLOCK", 8)
    monkeypatch.setattr(blocked, "PARALLEL_MIN", 1)
    monkeypatch.setattr(kernels, "MIN_SIZE", 1)
    monkeypatch.setattr(compiled, "PARALLEL_WORK", 1)
    monkeypatch.setattr(compiled, "BLOCK_WORK", 8)


def _run(key, case, dtype, backend):
    """Forward and backward (with a fixed upstream gradient) on ``backend``: the output,
    the gradient of each input, and the class that ran."""
    name = FAST_OPS[key][0]
    inputs = [Tensor(x.astype(dtype), requires_grad=True) for x in case.inputs]
    kwargs = dict(case.kwargs)
    if "weights" in kwargs:
        kwargs["weights"] = kwargs["weights"].astype(dtype)
    with ffnlp.backend.using(backend):
        out = OPS_BY_NAME[name].ours(*inputs, **kwargs)
        ran = out._ctx
        upstream = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
        out.backward(upstream)
    return out.data, [as_dense(t.grad) for t in inputs], ran


def _compare(key, case, dtype, check_ran):
    ours, our_grads, ran = _run(key, case, dtype, "fast")
    plain, plain_grads, plain_ran = _run(key, case, dtype, "reference")
    op = getattr(ops, key.rsplit(".", 1)[1])
    assert type(plain_ran) is op
    assert type(ran) is ffnlp.backend.implementation(op)
    check_ran(key, ran)
    # Sums taken in another order round differently: the tolerance is relative to the
    # largest value (a bias gradient near 0 is a sum of 301 terms of size 1).
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert ours.dtype == plain.dtype == dtype and ours.shape == plain.shape
    np.testing.assert_allclose(ours, plain, rtol=rtol, atol=rtol * np.abs(plain).max())
    for mine, reference in zip(our_grads, plain_grads):
        assert mine.dtype == reference.dtype == dtype
        np.testing.assert_allclose(mine, reference, rtol=rtol, atol=rtol * np.abs(reference).max())


@pytest.fixture
def check_ran(monkeypatch):
    """A check that the fast code itself ran, not a fallback to the plain op: the blocked
    ops handed row blocks to the thread pool, the compiled op ran its loop."""
    calls = []
    real = blocked.parallel_ranges

    def spy(work, size, *args, **kwargs):
        calls.append(size)
        return real(work, size, *args, **kwargs)

    monkeypatch.setattr(blocked, "parallel_ranges", spy)

    def check(key, ran):
        if isinstance(ran, compiled.EmbeddingBag):
            if kernels.available:
                assert ran.ran_compiled
        elif isinstance(ran, blocked.Linear):
            has_bias = len(ran.needs_grad) == 3
            assert bool(calls) == has_bias  # only the bias addition goes by blocks
        else:
            assert len(calls) == 2  # the forward's blocks and the backward's
        calls.clear()

    return check


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("key", "case"), _cases(large=False))
def test_fast_path_matches_its_op_on_the_op_table(small_thresholds, check_ran, key, case, dtype):
    _compare(key, case, dtype, check_ran)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("key", "case"), _cases(large=True))
def test_fast_path_matches_its_op_on_large_inputs(two_threads, check_ran, key, case, dtype):
    if key.endswith("EmbeddingBag") and not kernels.available:
        pytest.skip("Numba unavailable (not installed, or FFNLP_JIT=0): only the plain op runs")
    _compare(key, case, dtype, check_ran)


@pytest.mark.parametrize(("key", "case"), _cases(large=False))
def test_fast_path_passes_the_gradient_check(small_thresholds, key, case):
    spec = OPS_BY_NAME[FAST_OPS[key][0]]
    inputs = [Tensor(x.copy(), requires_grad=True) for x in case.inputs]
    result = gradcheck(lambda *ts: spec.ours(*ts, **case.kwargs), inputs)
    assert result.ok(1e-6), str(result)


@pytest.mark.parametrize(("key", "case"), _cases(large=False))
def test_plain_op_matches_numpy_and_passes_the_gradient_check(key, case):
    spec = OPS_BY_NAME[FAST_OPS[key][0]]
    with ffnlp.backend.using("reference"):
        out = spec.ours(*[Tensor(x) for x in case.inputs], **case.kwargs)
        np.testing.assert_allclose(
            out.data, spec.reference(*case.inputs, **case.kwargs), rtol=1e-12, atol=1e-12
        )
        inputs = [Tensor(x.copy(), requires_grad=True) for x in case.inputs]
        result = gradcheck(lambda *ts: spec.ours(*ts, **case.kwargs), inputs)
    assert result.ok(1e-6), str(result)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fast_cross_entropy_under_no_grad_gives_the_plain_losses(two_threads, reduction):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((301, 3001)) * 4).astype(np.float32)
    targets = rng.integers(0, 3001, 301)
    with no_grad():
        fast = ops.cross_entropy(Tensor(logits), targets, reduction=reduction)
        with ffnlp.backend.using("reference"):
            plain = ops.cross_entropy(Tensor(logits), targets, reduction=reduction)
    np.testing.assert_allclose(fast.data, plain.data, rtol=1e-5, atol=1e-6)


def test_the_reference_backend_runs_the_plain_ops_and_no_compiled_update():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    w = Tensor(np.ones((4, 3)), requires_grad=True)
    assert type(ops.linear(x, w)._ctx) is blocked.Linear
    with ffnlp.backend.using("reference"):
        assert ffnlp.backend.current() == "reference"
        assert type(ops.linear(x, w)._ctx) is ops.Linear
        assert not kernels.use_for(np.zeros(kernels.MIN_SIZE, np.float32))
        assert ops.linear(x, w).op == "Linear"  # graph pictures name it the same
    assert ffnlp.backend.current() == "fast"


def test_use_refuses_an_unknown_backend():
    with pytest.raises(
        ValueError, match=r"backend must be one of \('fast', 'reference'\); got 'gpu'"
    ):
        ffnlp.backend.use("gpu")
    assert ffnlp.backend.current() == "fast"


def test_a_bad_ffnlp_backend_variable_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(ffnlp.backend, "_current", "slow")  # as FFNLP_BACKEND=slow sets it
    monkeypatch.setattr(ffnlp.backend, "_active", {})
    with pytest.raises(ValueError, match=r"FFNLP_BACKEND must be one of .*got 'slow'"):
        ops.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))))


def test_ffnlp_backend_reference_in_the_environment_runs_the_plain_ops():
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from ffnlp.autograd import Tensor, ops\n"
        "print(type(ops.cross_entropy(Tensor(np.ones((2, 3)), requires_grad=True), np.array([0, 1]))._ctx).__module__)"
    )
    for value, module in [("reference", "ffnlp.autograd.ops"), ("fast", "ffnlp.backend.blocked")]:
        run = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "FFNLP_BACKEND": value},
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.strip() == module


def test_a_small_prediction_does_not_load_the_compiled_loops(monkeypatch):
    # One line from the shell would wait a few tenths of a second for Numba: a prediction
    # of few tokens runs the plain op while the loops are not loaded, with the same sums.
    from ffnlp.autograd import Tensor, no_grad, ops
    from ffnlp.backend import compiled, kernels

    monkeypatch.setattr(kernels, "MIN_SIZE", 1)
    monkeypatch.setattr(kernels, "_compiled", {})
    loads = []
    monkeypatch.setattr(kernels, "_load", lambda: loads.append(1) or False)
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(50, 4)).astype(np.float32)
    ids = rng.integers(0, 50, size=(3, 5))
    weights = np.full((3, 5), 0.2, dtype=np.float32)
    plain = ops.EmbeddingBag.apply(Tensor(weight), ids, weights).data
    with no_grad():
        op = compiled.EmbeddingBag()
        out = op.forward(weight, ids, weights)
    assert not op.ran_compiled and not loads
    np.testing.assert_array_equal(out, plain)
    big = rng.integers(0, 50, size=(2, compiled.SMALL_INFERENCE))
    with no_grad():
        compiled.EmbeddingBag().forward(weight, big, np.ones(big.shape, np.float32))
    assert loads  # a large batch asks for them
