"""Every op: forward against NumPy, backward against central differences (float64), and
both against PyTorch (float32) when it is installed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ffnlp.autograd import Tensor, gradcheck, ops
from ffnlp.autograd.sparse import RowSparseGrad, as_dense

from .op_table import OPS, OpSpec, values

TOLERANCE = 1e-6  # worst relative error of backprop against central differences


def _cases(spec: OpSpec):
    return list(spec.cases(np.random.default_rng(0)))


ALL_CASES = [
    pytest.param(spec, case, id=f"{spec.name}-{i}")
    for spec in OPS
    for i, case in enumerate(_cases(spec))
]


@pytest.mark.parametrize(("spec", "case"), ALL_CASES)
def test_forward_matches_numpy(spec, case):
    out = spec.ours(*[Tensor(x) for x in case.inputs], **case.kwargs)
    expected = spec.reference(*case.inputs, **case.kwargs)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("spec", "case"), ALL_CASES)
def test_backward_matches_central_differences(spec, case):
    inputs = [Tensor(x.copy(), requires_grad=True) for x in case.inputs]
    result = gradcheck(lambda *ts: spec.ours(*ts, **case.kwargs), inputs)
    assert result.ok(TOLERANCE), str(result)
    if any(x.size for x in case.inputs):
        assert result.checked == sum(x.size for x in case.inputs)


@pytest.mark.parametrize(("spec", "case"), ALL_CASES)
def test_float32_matches_torch(spec, case):
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed; pip install torch==2.13.0"
    )
    arrays = [x.astype(np.float32) for x in case.inputs]
    ours_in = [Tensor(x, requires_grad=True) for x in arrays]
    theirs_in = [torch.tensor(x, requires_grad=True) for x in arrays]
    ours = spec.ours(*ours_in, **case.kwargs)
    theirs = spec.torch(torch, *theirs_in, **case.kwargs)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    upstream = np.random.default_rng(1).standard_normal(ours.shape).astype(np.float32)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    for mine, ref in zip(ours_in, theirs_in):
        expected = np.zeros_like(mine.data) if ref.grad is None else ref.grad.numpy()
        got = np.zeros_like(mine.data) if mine.grad is None else mine.grad
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- hypothesis


@settings(max_examples=40, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_ops_under_any_broadcast(name, shapes, seed):
    spec = {s.name: s for s in OPS}[name]
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = values(sa, rng, "positive" if name == "pow" else "any")
    b = values(sb, rng, "nonzero" if name == "div" else "any")
    out = spec.ours(Tensor(a), Tensor(b))
    np.testing.assert_allclose(out.data, spec.reference(a, b), rtol=1e-12)
    inputs = [Tensor(a.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)]
    result = gradcheck(spec.ours, inputs)
    assert result.ok(TOLERANCE), str(result)


@settings(max_examples=40, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), data=st.data())
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reductions_over_any_axes(name, shape, data):
    spec = {s.name: s for s in OPS}[name]
    ndim = len(shape)
    axis = data.draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1) if ndim else st.none(),
            st.lists(st.integers(0, max(ndim - 1, 0)), min_size=1, max_size=ndim, unique=True).map(
                tuple
            )
            if ndim
            else st.none(),
        )
    )
    keepdims = data.draw(st.booleans())
    x = values(
        shape,
        np.random.default_rng(data.draw(st.integers(0, 999))),
        "distinct" if name == "max" else "any",
    )
    out = spec.ours(Tensor(x), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(
        out.data, spec.reference(x, axis=axis, keepdims=keepdims), rtol=1e-12
    )
    result = gradcheck(
        lambda t: spec.ours(t, axis=axis, keepdims=keepdims), [Tensor(x.copy(), requires_grad=True)]
    )
    assert result.ok(TOLERANCE), str(result)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_any_axis(name, shape, data):
    spec = {s.name: s for s in OPS}[name]
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(shape, np.random.default_rng(data.draw(st.integers(0, 999))))
    np.testing.assert_allclose(
        spec.ours(Tensor(x), axis=axis).data, spec.reference(x, axis=axis), rtol=1e-12, atol=1e-15
    )
    result = gradcheck(lambda t: spec.ours(t, axis=axis), [Tensor(x.copy(), requires_grad=True)])
    assert result.ok(TOLERANCE), str(result)


# ---------------------------------------------------------------------------- special cases


def test_max_splits_gradient_between_ties():
    x = Tensor(np.array([1.0, 3.0, 3.0, 2.0]), requires_grad=True)
    ops.max(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])


def test_gather_rows_gradient_sums_repeated_rows():
    weight = Tensor(np.zeros((4, 2)), requires_grad=True)
    out = ops.gather_rows(weight, np.array([[3, 1], [3, 3]]))
    out.backward(np.arange(8.0).reshape(2, 2, 2))
    # rows picked: 3 (grad [0,1]), 1 ([2,3]), 3 ([4,5]), 3 ([6,7])
    np.testing.assert_array_equal(weight.grad, [[0, 0], [2, 3], [0, 0], [10, 13]])


def test_row_sums_match_add_at_on_random_ids():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 50, size=1000)
    rows = rng.standard_normal((1000, 7))
    expected = np.zeros((50, 7))
    np.add.at(expected, ids, rows)
    sparse = RowSparseGrad.from_rows(ids, rows, 50)
    assert np.array_equal(sparse.indices, np.unique(ids))
    np.testing.assert_allclose(sparse.to_dense(), expected, rtol=1e-12)


def test_sparse_embedding_gradient_equals_the_dense_one_and_adds_like_an_array():
    rng = np.random.default_rng(0)
    ids = np.array([[4, 1, 4], [0, 9, 1]])
    upstream = rng.standard_normal((2, 3, 5))
    dense_w = Tensor(rng.standard_normal((10, 5)), requires_grad=True)
    sparse_w = Tensor(dense_w.data.copy(), requires_grad=True)
    ops.gather_rows(dense_w, ids).backward(upstream)
    ops.gather_rows(sparse_w, ids, sparse=True).backward(upstream)
    assert isinstance(sparse_w.grad, RowSparseGrad) and sparse_w.grad.indices.tolist() == [
        0,
        1,
        4,
        9,
    ]
    np.testing.assert_allclose(sparse_w.grad.to_dense(), dense_w.grad, rtol=1e-12)
    # Used twice (sparse + sparse) and mixed with a dense use (sparse + dense).
    w = Tensor(dense_w.data.copy(), requires_grad=True)
    loss = (
        ops.gather_rows(w, ids, sparse=True).sum()
        + ops.gather_rows(w, ids[:1], sparse=True).sum()
        + (w * w).sum()
    )
    loss.backward()
    expected = 2 * w.data
    np.add.at(expected, ids.ravel(), 1.0)
    np.add.at(expected, ids[:1].ravel(), 1.0)
    np.testing.assert_allclose(as_dense(w.grad), expected, rtol=1e-12)
    result = gradcheck(
        lambda t: ops.gather_rows(t, ids, sparse=True),
        [Tensor(dense_w.data.copy(), requires_grad=True)],
    )
    assert result.ok(TOLERANCE), str(result)


def test_cross_entropy_backward_is_softmax_minus_one_hot():
    z = np.array([[0.6, 1.1, -1.5, 1.2, 3.2, -1.1]])
    logits = Tensor(z, requires_grad=True)
    ops.cross_entropy(logits, np.array([4]), reduction="sum").backward()
    one_hot = np.eye(6)[[4]]
    np.testing.assert_allclose(logits.grad, np.exp(z) / np.exp(z).sum() - one_hot, rtol=1e-12)


def test_unbroadcast_reduces_to_the_input_shape():
    g = np.ones((2, 3, 4))
    assert ops.unbroadcast(g, (3, 1)).shape == (3, 1)
    np.testing.assert_array_equal(ops.unbroadcast(g, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(ops.unbroadcast(g, ()), 24.0)


@settings(max_examples=30, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seed=st.integers(0, 2**16))
@pytest.mark.parametrize("name", ["neg", "exp", "log", "sigmoid", "tanh", "relu"])
def test_elementwise_ops_on_any_shape(name, shape, seed):
    spec = {s.name: s for s in OPS}[name]
    domain = {"log": "positive", "relu": "nonzero"}.get(name, "any")
    x = values(shape, np.random.default_rng(seed), domain)
    np.testing.assert_allclose(spec.ours(Tensor(x)).data, spec.reference(x), rtol=1e-12)
    result = gradcheck(spec.ours, [Tensor(x.copy(), requires_grad=True)])
    assert result.ok(TOLERANCE), str(result)


def test_cast_between_float_precisions_passes_the_gradient_back():
    x = Tensor(np.array([1.5, -2.0], dtype=np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, -4.0])


def test_embedding_bag_equals_lookup_then_masked_mean():
    from ffnlp.nn.functional import mean_pool

    rng = np.random.default_rng(0)
    ids = np.array([[3, 1, 3, 0], [2, 2, 0, 0], [4, 0, 0, 0]])
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    upstream = rng.standard_normal((3, 5))
    a = Tensor(rng.standard_normal((6, 5)), requires_grad=True)
    b = Tensor(a.data.copy(), requires_grad=True)
    fused = ops.embedding_bag(a, ids, mask / mask.sum(axis=1, keepdims=True), sparse=True)
    plain = mean_pool(ops.gather_rows(b, ids), mask)
    np.testing.assert_allclose(fused.data, plain.data, rtol=1e-12)
    fused.backward(upstream)
    plain.backward(upstream)
    assert isinstance(a.grad, RowSparseGrad)
    np.testing.assert_allclose(a.grad.to_dense(), b.grad, rtol=1e-12, atol=1e-15)
