"""The optimised paths give the same numbers as the plain ones: Adam in cache-sized blocks
on a thread pool against PyTorch, row-sparse embedding gradients against dense ones (with
exact dense Adam, tied weights included), and ffnlp's thread setting."""

from __future__ import annotations

import time

import numpy as np
import pytest

import ffnlp
from ffnlp import optim
from ffnlp.autograd import Tensor, ops
from ffnlp.autograd.sparse import RowSparseGrad
from ffnlp.backend import threads
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.nn import Parameter


@pytest.fixture
def two_threads():
    before = ffnlp.get_num_threads()
    ffnlp.set_num_threads(2)
    yield
    ffnlp.set_num_threads(before)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_blocked_threaded_adam_matches_torch_on_a_large_parameter(two_threads, cls, weight_decay):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    shape = (700, 523)  # more than PARALLEL_MIN elements, not a multiple of the block
    assert np.prod(shape) > threads.PARALLEL_MIN
    start = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    p = Parameter(start.copy())
    ours = getattr(optim, cls)([p], lr=0.01, weight_decay=weight_decay)
    q = torch.tensor(start.copy(), requires_grad=True)
    theirs = getattr(torch.optim, cls)([q], lr=0.01, weight_decay=weight_decay)
    for g in grads:
        p.grad = g.copy()
        ours.step()
        q.grad = torch.from_numpy(g.copy())
        theirs.step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.state[id(p)]["exp_avg_sq"], theirs.state[q]["exp_avg_sq"].numpy(), rtol=1e-5
    )


def test_parallel_blocks_covers_every_element_once(two_threads):
    a = np.zeros(threads.PARALLEL_MIN * 3 + 17, dtype=np.float32)

    def add_one(piece):
        piece += 1

    threads.parallel_blocks(add_one, a)
    assert np.all(a == 1)


def _add_one_in_blocks(size):
    a = np.zeros(size, dtype=np.float32)

    def add_one(piece):
        piece += 1

    threads.parallel_blocks(add_one, a)
    return float(a.sum())


def test_a_forked_child_makes_its_own_pool(two_threads):
    import multiprocessing

    size = threads.PARALLEL_MIN * 2
    assert _add_one_in_blocks(size) == size  # the parent's pool now exists
    with multiprocessing.get_context("fork").Pool(1) as pool:  # its threads do not follow
        assert pool.apply_async(_add_one_in_blocks, (size,)).get(timeout=30) == size


def test_parallel_blocks_refuses_arrays_it_could_not_write_in_place():
    a = np.zeros((4, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="contiguous"):
        threads.parallel_blocks(lambda piece: None, a[:, ::2])


def test_sparse_and_dense_gradients_give_the_same_adam_update():
    rng = np.random.default_rng(0)
    start = rng.standard_normal((50, 4)).astype(np.float32)
    rows = np.array([3, 7, 7, 20])
    values = rng.standard_normal((4, 4)).astype(np.float32)
    sparse = RowSparseGrad.from_rows(rows, values, 50)
    dense, sparse_p = Parameter(start.copy()), Parameter(start.copy())
    opt_dense, opt_sparse = optim.Adam([dense], lr=0.1), optim.Adam([sparse_p], lr=0.1)
    for _ in range(3):
        dense.grad = sparse.to_dense()
        sparse_p.grad = sparse.copy()
        opt_dense.step()
        opt_sparse.step()
    np.testing.assert_array_equal(sparse_p.data, dense.data)


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "adam"},
        {"optimizer": "sgd"},
        {"optimizer": "adam", "tie": True},
    ],
)
def test_language_model_sparse_embeddings_train_exactly_like_dense(settings):
    """Row-sparse embedding gradients with exact (dense) Adam or SGD: the same weights as
    dense gradients after several steps; with tied embeddings the weight gets a dense output
    gradient and a sparse input one, summed."""
    from ffnlp.train import TrainConfig, make_optimizer

    tie = settings.get("tie", False)
    rng = np.random.default_rng(0)
    contexts = rng.integers(0, 30, (16, 3))
    targets = rng.integers(0, 30, 16)
    weights = []
    for sparse in (True, False):
        config = FeedforwardLMConfig(
            vocab_size=30,
            context_size=3,
            embed_dim=6,
            hidden_dims=(6,) if tie else (8,),
            tie_embeddings=tie,
            sparse_embeddings=sparse,
        )
        lm = FeedforwardLM(config, rng=0)
        opt = make_optimizer(lm, TrainConfig(optimizer=settings["optimizer"], lr=0.05))
        for _ in range(4):
            opt.zero_grad()
            _, loss = lm(contexts, targets)
            loss.backward()
            assert isinstance(lm.embedding.weight.grad, RowSparseGrad) == (sparse and not tie)
            assert all(p.grad.dtype == np.float32 for p in lm.parameters())  # no upcasts
            opt.step()
        weights.append(lm.state_dict())
    for name in weights[0]:
        np.testing.assert_allclose(weights[0][name], weights[1][name], rtol=1e-6, atol=1e-7)


def test_cross_entropy_keeps_float32():
    logits = Tensor(
        np.random.default_rng(0).standard_normal((4, 7)).astype(np.float32), requires_grad=True
    )
    from ffnlp.autograd import ops

    loss = ops.cross_entropy(logits, np.array([0, 1, 6, 3]))
    loss.backward()
    assert loss.dtype == np.float32 and logits.grad.dtype == np.float32


def test_set_num_threads_checks_its_argument():
    with pytest.raises(ValueError, match="threads must be a positive integer; got 0"):
        ffnlp.set_num_threads(0)


def _adam_steps(cls, sparse, dtype, weight_decay, shape=(700, 523), steps=3, lazy=False):
    rng = np.random.default_rng(1)
    p = Parameter(rng.standard_normal(shape).astype(dtype))
    opt = getattr(optim, cls)([p], lr=0.01, weight_decay=weight_decay, lazy=lazy)
    for _ in range(steps):
        rows = rng.choice(shape[0], size=shape[0] // 3, replace=False)
        values = rng.standard_normal((len(rows), shape[1])).astype(dtype)
        grad = RowSparseGrad.from_rows(rows, values, shape[0])
        p.grad = grad if sparse else grad.to_dense()
        opt.step()
    return p.data, opt.state[id(p)]["exp_avg"], opt.state[id(p)]["exp_avg_sq"]


@pytest.mark.parametrize(("sparse", "lazy"), [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "weight_decay"), [("Adam", 0.0), ("Adam", 0.01), ("AdamW", 0.01)])
def test_compiled_adam_matches_the_numpy_rule(
    two_threads, monkeypatch, cls, sparse, lazy, dtype, weight_decay
):
    """The fused loops of ffnlp.backend.kernels (the dense one, the one that reads a row-sparse
    gradient in place, and lazy Adam's, which updates only the gradient's rows) against
    the NumPy form of the same rule."""
    from ffnlp.backend import kernels

    if not kernels.available:
        pytest.skip("Numba unavailable (not installed, or FFNLP_JIT=0): only the NumPy rule runs")
    monkeypatch.setattr(kernels, "MIN_SIZE", 1000)  # compiled for this size too
    assert kernels.use_for(np.zeros((700, 523), dtype))
    compiled = _adam_steps(cls, sparse, dtype, weight_decay, lazy=lazy)
    monkeypatch.setattr(kernels, "available", False)
    reference = _adam_steps(cls, sparse, dtype, weight_decay, lazy=lazy)
    assert compiled[0].dtype == dtype
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    for ours, numpy_rule in zip(compiled, reference):
        np.testing.assert_allclose(ours, numpy_rule, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_compiled_lazy_adam_on_the_threads_matches_the_numpy_rule(two_threads, monkeypatch, cls):
    """Lazy Adam's rows handed out to both threads (the rows are distinct, so no two
    threads share one) give the NumPy rule's numbers."""
    import threading

    from ffnlp.backend import kernels

    if not kernels.available:
        pytest.skip("Numba unavailable (not installed, or FFNLP_JIT=0): only the NumPy rule runs")
    monkeypatch.setattr(kernels, "MIN_SIZE", 1000)
    monkeypatch.setattr(optim, "PARALLEL_MIN", 1000)  # spread even these 233 rows
    monkeypatch.setattr(optim, "BLOCK", 1 << 13)  # in blocks of 15 rows
    assert kernels.use_for(np.zeros((700, 523), np.float32))
    callers = set()
    loop = kernels._compiled["adam_lazy_rows"]

    def spy(*args):
        callers.add(threading.get_ident())
        time.sleep(0.001)  # long enough that the other thread takes a block too
        return loop(*args)

    monkeypatch.setitem(kernels._compiled, "adam_lazy_rows", spy)
    compiled = _adam_steps(cls, True, np.float32, 0.01, lazy=True)
    assert len(callers) == 2
    monkeypatch.setattr(kernels, "available", False)
    reference = _adam_steps(cls, True, np.float32, 0.01, lazy=True)
    for ours, numpy_rule in zip(compiled, reference):
        np.testing.assert_allclose(ours, numpy_rule, rtol=1e-6, atol=1e-6)


def _bag(dtype, sparse, seed=3):
    rng = np.random.default_rng(seed)
    table = Parameter(rng.standard_normal((900, 7)).astype(dtype))
    ids = rng.integers(0, 900, size=(12, 10))
    weights = rng.random((12, 10)).astype(dtype)
    weights[:, 8:] = 0  # padding
    weights[3, 5] = 0  # a zero weight inside a text
    out = ops.embedding_bag(table, ids, weights, sparse=sparse)
    grad = rng.standard_normal(out.shape).astype(dtype)
    (out * Tensor(grad)).sum().backward()
    g = table.grad
    return out.data, (g.indices, g.values) if sparse else (g,)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_embedding_bag_matches_the_numpy_form(monkeypatch, dtype, sparse):
    """The pooled lookup as one compiled loop over the tokens (forward) and one over the
    tokens again into the distinct rows (backward), against the (U, B) matrix form."""
    from ffnlp.backend import kernels

    if not kernels.available:
        pytest.skip("Numba unavailable (not installed, or FFNLP_JIT=0): only the NumPy form runs")
    monkeypatch.setattr(kernels, "MIN_SIZE", 1000)
    assert kernels.use_for(np.zeros((900, 7), dtype))
    calls = []
    for name in ("bag_forward", "bag_backward"):  # count the compiled loops' calls
        loop = kernels._compiled[name]
        monkeypatch.setitem(kernels._compiled, name, lambda *a, f=loop: calls.append(1) or f(*a))
    compiled = _bag(dtype, sparse)
    assert len(calls) == 2  # the forward and the backward ran compiled
    monkeypatch.setattr(kernels, "available", False)
    reference = _bag(dtype, sparse)
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(compiled[0], reference[0], rtol=tolerance, atol=tolerance)
    for ours, numpy_form in zip(compiled[1], reference[1]):
        np.testing.assert_allclose(ours, numpy_form, rtol=tolerance, atol=tolerance)


def test_compiled_embedding_bag_passes_the_gradient_check(monkeypatch):
    from ffnlp.autograd.gradcheck import gradcheck
    from ffnlp.backend import kernels

    if not kernels.available:
        pytest.skip("Numba unavailable (not installed, or FFNLP_JIT=0): only the NumPy form runs")
    monkeypatch.setattr(kernels, "MIN_SIZE", 100)
    rng = np.random.default_rng(0)
    table = Tensor(rng.standard_normal((40, 5)), requires_grad=True)
    ids = rng.integers(0, 40, size=(6, 4))
    weights = rng.random((6, 4))
    assert kernels.use_for(table.data)
    assert gradcheck(lambda t: ops.embedding_bag(t, ids, weights), [table]).ok()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_threaded_cross_entropy_matches_torch_on_a_large_batch(two_threads, reduction):
    """Large enough for the row blocks to be spread over the threads, with a ragged last
    block; under no_grad (evaluation) the probabilities are skipped, the losses are not."""
    torch = pytest.importorskip("torch")
    from ffnlp.autograd import no_grad, ops

    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((301, 3001)) * 4).astype(np.float32)
    assert logits.size > threads.PARALLEL_MIN
    targets = rng.integers(0, 3001, 301)
    weights = rng.standard_normal(301).astype(np.float32)
    x = Tensor(logits, requires_grad=True)
    loss = ops.cross_entropy(x, targets, reduction=reduction)
    (loss * weights if reduction == "none" else loss).sum().backward()
    q = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(q, torch.from_numpy(targets), reduction=reduction)
    (ref * torch.from_numpy(weights) if reduction == "none" else ref).sum().backward()
    np.testing.assert_allclose(loss.data, ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad, q.grad.numpy(), rtol=1e-5, atol=1e-7)
    with no_grad():
        evaluated = ops.cross_entropy(Tensor(logits), targets, reduction=reduction)
    np.testing.assert_array_equal(evaluated.data, loss.data)


def test_threaded_linear_bias_matches_torch_on_a_large_output(two_threads):
    """The bias addition goes by row blocks on the threads once the output is large: the
    same numbers as PyTorch, and the same output for one thread as for two."""
    torch = pytest.importorskip("torch")
    from ffnlp.autograd import ops

    rng = np.random.default_rng(0)
    x = rng.standard_normal((301, 64)).astype(np.float32)
    w = rng.standard_normal((3001, 64)).astype(np.float32)
    b = rng.standard_normal(3001).astype(np.float32)
    upstream = rng.standard_normal((301, 3001)).astype(np.float32)

    def ours():
        tensors = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        out = ops.linear(*tensors)
        (out * upstream).sum().backward()
        return out.data, *(t.grad for t in tensors)

    two = ours()
    two_plain = x @ w.T + b  # the same product under the same BLAS threads, added plainly
    assert two[0].size > threads.PARALLEL_MIN
    ffnlp.set_num_threads(1)
    one = ours()
    one_plain = x @ w.T + b
    q = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = torch.nn.functional.linear(*q)
    (out * torch.from_numpy(upstream)).sum().backward()
    reference = [out.detach().numpy(), *(t.grad.numpy() for t in q)]
    # The blocked addition adds exactly what the plain one does. (The product itself may
    # round differently with one BLAS thread than with two: OpenBLAS splits it otherwise.)
    np.testing.assert_array_equal(two[0], two_plain)
    np.testing.assert_array_equal(one[0], one_plain)
    for a, ref in zip(two, reference):
        np.testing.assert_allclose(a, ref, rtol=1e-4, atol=1e-3)


def test_limited_threads_restores_both_pools():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [
            p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"
        ]

    before, blas_before = ffnlp.get_num_threads(), blas_threads()
    with threads.limited_threads(1):
        assert ffnlp.get_num_threads() == 1
        assert set(blas_threads()) == {1}
        assert _add_one_in_blocks(threads.PARALLEL_MIN * 2) == threads.PARALLEL_MIN * 2
    assert ffnlp.get_num_threads() == before
    assert blas_threads() == blas_before


def test_adam_falls_back_to_numpy_when_numba_fails(monkeypatch):
    """Numba present but broken (e.g. too old for this NumPy): one warning, then the NumPy
    rule, with the same numbers."""
    import sys

    from ffnlp.backend import kernels

    monkeypatch.setattr(kernels, "available", True)
    monkeypatch.setattr(kernels, "_compiled", {})
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` raises ImportError
    with pytest.warns(RuntimeWarning, match="compiled loops are unavailable"):
        fallback = _adam_steps("Adam", False, np.float32, 0.0)
    assert kernels.available is False
    reference = _adam_steps("Adam", False, np.float32, 0.0)  # no second warning
    for a, b in zip(fallback, reference):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((600, 600), np.float16),  # large, but no compiled loop for float16
        lambda: np.zeros((600, 1200), np.float32)[:, ::2],  # a strided view
        lambda: np.asfortranarray(np.zeros((600, 600), np.float32)),
    ],
)
def test_adam_updates_any_float_parameter(make):
    data = make()
    p = Parameter(data)
    p.data = data  # keep the layout as given
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(data.shape, data.dtype)
    opt.step()
    np.testing.assert_allclose(p.data.astype(np.float64), -0.1, rtol=1e-3)


def test_parallel_ranges_waits_for_every_thread_and_raises_the_first_error():
    before = ffnlp.get_num_threads()
    ffnlp.set_num_threads(4)
    try:
        done = []

        def work(lo, hi):
            if lo == 0:
                raise ValueError("range 0 failed")
            time.sleep(0.001)
            done.append(lo)

        with pytest.raises(ValueError, match="range 0 failed"):
            threads.parallel_ranges(work, 200, 1, min_size=1)
        count = len(done)
        time.sleep(0.05)
        assert len(done) == count  # nobody was still working when it returned
        assert count < 199  # the others stopped taking ranges
    finally:
        ffnlp.set_num_threads(before)
