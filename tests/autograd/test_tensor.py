"""The Tensor and the graph: backward, accumulation, grad modes, dtypes, depth, errors."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from ffnlp.autograd import Tensor, gradcheck, no_grad, ops, topological_order


def test_textbook_computation_graph():
    # J&M Fig. 7.x: L(a, b, c) = c(a + 2b) at a = 3, b = 1, c = -2.
    a = Tensor(3.0, requires_grad=True)
    b = Tensor(1.0, requires_grad=True)
    c = Tensor(-2.0, requires_grad=True)
    d = 2 * b
    e = a + d
    L = c * e
    assert (d.item(), e.item(), L.item()) == (2.0, 5.0, -10.0)
    L.backward()
    assert (a.grad, b.grad, c.grad) == (-2.0, -4.0, 5.0)


def test_topological_order_puts_parents_first():
    a = Tensor(1.0, requires_grad=True)
    b = a * 2
    c = b + a
    order = topological_order(c)
    assert order.index(a) < order.index(b) < order.index(c)


def test_topological_order_with_constants_follows_them_first_argument_first():
    # The chapter's L = c(a + 2b): backward needs no constant, a picture shows the 2.
    a, b, c = (
        Tensor(v, requires_grad=True, name=n) for v, n in ((3.0, "a"), (1.0, "b"), (-2.0, "c"))
    )
    two = Tensor(2.0, name="2")
    d = two * b
    e = a + d
    L = c * e
    assert topological_order(L) == [b, d, a, e, c, L]  # last argument first: backward's order
    assert topological_order(L, constants=True) == [c, a, two, b, d, e, L]


def test_gradient_accumulates_when_a_tensor_is_used_twice():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data + 1)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = Tensor(np.array(2.0), requires_grad=True)
    (x * 3).backward()
    (x * 3).backward()
    assert x.grad == 6.0
    x.zero_grad()
    assert x.grad is None


def test_each_leaf_gets_its_own_writable_gradient_array():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()  # add hands the same array to both inputs
    assert a.grad is not b.grad
    a.grad *= 10  # an optimizer may scale in place
    np.testing.assert_array_equal(b.grad, np.ones(3))
    c = Tensor(np.ones((2, 3)), requires_grad=True)
    c.sum().backward()  # sum's gradient is a read-only broadcast view
    assert c.grad.flags.writeable and c.grad.base is None


def test_no_grad_records_nothing_and_restores_the_mode():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    assert (x * 2).requires_grad

    @no_grad()
    def f(t):
        return t + 1

    assert not f(x).requires_grad


def test_detach_cuts_the_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 3).detach()
    assert y.is_leaf and not y.requires_grad
    z = (y * x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, [3.0, 6.0])  # y counted as a constant


def test_retain_grads_keeps_intermediate_gradients():
    a, b, c = (
        Tensor(3.0, requires_grad=True),
        Tensor(1.0, requires_grad=True),
        Tensor(-2.0, requires_grad=True),
    )
    e = a + 2 * b
    L = c * e
    L.backward(retain_grads=True)
    assert e.grad == -2.0 and L.grad == 1.0
    f = (a * a).retain_grad()
    g = f * 3
    g.backward()
    assert f.grad == 3.0 and g.grad is None


def test_a_chain_of_ten_thousand_ops_backpropagates():
    x = Tensor(np.array([0.5, -0.25]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001**10_000), rtol=1e-9)
    del y
    gc.collect()  # tearing down the deep graph must not overflow the stack either


def test_a_chain_of_a_hundred_thousand_ops_backpropagates():
    x = Tensor(0.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert y.item() == 100_000 and x.grad == 1.0


def test_float32_is_the_default_and_is_kept():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert x.dtype == np.float32
    y = (x * 2.5 + np.float64(1.0)) / 3 - np.ones(2)  # no silent float64 upcast
    y = ops.exp(y).sum() ** 2
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_float64_arrays_stay_float64():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert x.dtype == np.float64 and (x * 2).dtype == np.float64


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(
        TypeError,
        match=r"requires_grad: only floating tensors can require gradients; got dtype int64",
    ):
        Tensor(np.array([1, 2]), requires_grad=True)


def test_backward_errors():
    with pytest.raises(RuntimeError, match="does not require gradients"):
        Tensor([1.0]).backward()
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(
        ValueError, match=r"a gradient must be given for a non-scalar output of shape \(2,\)"
    ):
        (x * 2).backward()
    with pytest.raises(
        ValueError, match=r"gradient shape \(3,\) does not match tensor shape \(2,\)"
    ):
        (x * 2).backward(np.ones(3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: ops.matmul(Tensor(np.ones((3, 4))), Tensor(np.ones((5, 2)))),
            ValueError,
            r"matmul: cannot multiply shapes \(3, 4\) and \(5, 2\)",
        ),
        (
            lambda: ops.matmul(Tensor(2.0), Tensor(np.ones(2))),
            ValueError,
            r"matmul: both operands need at least one dimension",
        ),
        (
            lambda: ops.add(Tensor(np.ones((2, 3))), Tensor(np.ones((4,)))),
            ValueError,
            r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast",
        ),
        (
            lambda: ops.mul(Tensor(np.ones((2,))), Tensor(np.ones((3,)))),
            ValueError,
            r"mul: shapes \(2,\) and \(3,\)",
        ),
        (
            lambda: ops.reshape(Tensor(np.ones(6)), (4, 2)),
            ValueError,
            r"reshape: cannot reshape a tensor of shape \(6,\) \(6 elements\) into shape \(4, 2\)",
        ),
        (
            lambda: ops.sum(Tensor(np.ones((2, 2))), axis=2),
            ValueError,
            r"sum: axis 2 is out of range for a tensor with 2 dimensions",
        ),
        (
            lambda: ops.concatenate([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 4)))], axis=0),
            ValueError,
            r"concatenate: shapes \[\(2, 3\), \(2, 4\)\] do not match",
        ),
        (
            lambda: ops.stack([Tensor(np.ones(2)), Tensor(np.ones(3))]),
            ValueError,
            r"stack: all tensors must have the same shape",
        ),
        (
            lambda: ops.gather_rows(Tensor(np.ones((5, 2))), np.array([1, 5])),
            ValueError,
            r"embedding: id 5 is out of range for 5 rows \(ids must be in \[0, 5\)\)",
        ),
        (
            lambda: ops.gather_rows(Tensor(np.ones((5, 2))), np.array([-1])),
            ValueError,
            r"embedding: id -1 is out of range",
        ),
        (
            lambda: ops.gather_rows(Tensor(np.ones((5, 2))), np.array([1.0])),
            TypeError,
            r"embedding: ids must be integers; got dtype float64",
        ),
        (
            lambda: ops.cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 3])),
            ValueError,
            r"cross_entropy: target 3 is out of range for 3 classes",
        ),
        (
            lambda: ops.cross_entropy(Tensor(np.ones((2, 3))), np.array([0])),
            ValueError,
            r"cross_entropy: targets of shape \(1,\) do not match logits of shape \(2, 3\)",
        ),
        (
            lambda: ops.cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 1]), reduction="avg"),
            ValueError,
            r"reduction must be one of",
        ),
        (
            lambda: ops.where(np.array([1, 0]), Tensor(np.ones(2)), 0.0),
            TypeError,
            r"where: the condition must be a boolean array",
        ),
        (
            lambda: ops.binary_cross_entropy_with_logits(Tensor(np.ones(3)), np.ones(2)),
            ValueError,
            r"targets of shape \(2,\) do not match logits of shape \(3,\)",
        ),
        (lambda: Tensor(np.ones(3))[5], ValueError, r"index: .* out of bounds"),
        (
            lambda: ops.max(Tensor(np.ones((0,)))),
            ValueError,
            r"max: cannot take the maximum of an empty tensor",
        ),
    ],
)
def test_bad_input_names_the_op_and_the_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_finite_and_exact_at_extreme_logits(dtype):
    x = Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is right
        y = ops.sigmoid(x)
        y.sum().backward()
    np.testing.assert_allclose(y.data, [0.0, 1.9287498e-22, 0.5, 1.0, 1.0], rtol=1e-6, atol=0)
    assert np.isfinite(x.grad).all()
    np.testing.assert_allclose(x.grad, y.data * (1 - y.data), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_finite_at_extreme_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 1e4 - 1]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        logits = Tensor(z, requires_grad=True)
        p = ops.softmax(logits)
        lp = ops.log_softmax(logits)
        (p.sum() + lp.sum()).backward()
        loss = ops.cross_entropy(
            Tensor(z, requires_grad=True), np.array([1, 0, 2]), reduction="none"
        )
        logits2 = Tensor(z, requires_grad=True)
        ops.cross_entropy(logits2, np.array([1, 0, 2])).backward()
    assert (
        np.isfinite(p.data).all() and np.isfinite(lp.data).all() and np.isfinite(logits.grad).all()
    )
    np.testing.assert_allclose(p.data[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p.data[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(lp.data[0], [0.0, -2e4, -1e4], rtol=1e-6)
    # Example 0: the target has logit 2e4 below the best, so the loss is 2e4, finite.
    np.testing.assert_allclose(loss.data, [2e4, np.log(3), 1 + np.log(2 + np.exp(-1))], rtol=1e-6)
    np.testing.assert_allclose(logits2.grad[0], np.array([1.0, -1.0, 0.0]) / 3, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_is_finite_at_extreme_logits(dtype):
    z = Tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        loss = ops.binary_cross_entropy_with_logits(
            z, np.array([1.0, 0.0, 0.0, 1.0]), reduction="none"
        )
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 1e4])
    np.testing.assert_allclose(z.grad, [0.0, 0.0, 1.0, -1.0])


# ---------------------------------------------------------------------------- gradcheck


def test_gradcheck_reports_a_wrong_backward():
    class WrongSquare(ops.Function):
        def forward(self, a):
            self.saved = a
            return a * a

        def backward(self, grad):
            return grad * self.saved  # should be 2 * a

    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    result = gradcheck(lambda t: WrongSquare.apply(t).sum(), [x])
    assert not result.ok()
    assert result.max_rel_error == pytest.approx(0.5)
    assert result.input_index == 0 and result.checked == 3
    assert "worst relative error 0.5" in str(result)


def test_gradcheck_fails_on_a_nan_in_backprop_and_says_where():
    # where() picks x at both positions, but log(0) is -inf and its backward gives
    # 0 * (1 / 0) = nan at position 1: a NaN compares false with every error, so the
    # checker must not let it pass as "no worse than the worst so far".
    x = Tensor(np.array([1.0, 0.0]), requires_grad=True, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = gradcheck(lambda t: ops.where(np.array([True, True]), t, ops.log(t)), [x])
    assert not result.ok()
    assert result.max_rel_error == np.inf
    assert result.input_index == 0 and result.position == (1,)
    assert "non-finite gradient at input 0, position (1,)" in str(result)
    assert "backprop nan" in str(result)


def test_gradcheck_fails_on_a_nan_in_the_numeric_gradient():
    class NanBeyondOne(ops.Function):  # the backward is finite, the function is not
        def forward(self, a):
            self.saved = a
            return np.where(a > 1.0, np.nan, a)

        def backward(self, grad):
            return grad

    x = Tensor(np.array([0.5, 1.0]), requires_grad=True, dtype=np.float64)
    result = gradcheck(lambda t: NanBeyondOne.apply(t).sum(), [x])
    assert not result.ok() and result.position == (1,)
    assert "numeric nan" in str(result)


def test_gradcheck_fails_on_a_nan_outside_the_sampled_elements():
    class NanAtTheEnd(ops.Function):
        def forward(self, a):
            return a.copy()

        def backward(self, grad):
            out = grad.copy()
            out[-1] = np.nan
            return out

    x = Tensor(np.zeros(50), requires_grad=True, dtype=np.float64)
    result = gradcheck(lambda t: NanAtTheEnd.apply(t).sum(), [x], max_elements=3)
    assert not result.ok() and result.position == (49,)


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="use float64"):
        gradcheck(lambda t: t.sum(), [Tensor([1.0], requires_grad=True)])


def test_gradcheck_samples_elements_when_asked():
    x = Tensor(np.random.default_rng(0).standard_normal((20, 20)), requires_grad=True)
    result = gradcheck(lambda t: ops.tanh(t), [x], max_elements=10)
    assert result.ok() and result.checked == 10
