"""The worked examples of the chapter (Jurafsky & Martin, SLP3 ch. 7), as exact numbers."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import nn, optim
from ffnlp.autograd import Tensor, ops

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.float32)


def test_one_unit():
    # z = w . x + b = 0.2*0.5 + 0.3*0.6 + 0.9*0.1 + 0.5 = 0.87; y = sigmoid(0.87) = 0.70.
    unit = nn.Linear(3, 1, rng=0)
    unit.load_state_dict({"weight": np.array([[0.2, 0.3, 0.9]]), "bias": np.array([0.5])})
    z = unit(Tensor([[0.5, 0.6, 0.1]]))
    y = ops.sigmoid(z)
    assert z.item() == pytest.approx(0.87, abs=1e-6)
    assert round(y.item(), 2) == 0.70
    assert y.item() == pytest.approx(1 / (1 + np.exp(-0.87)), rel=1e-6)


def test_softmax_of_the_chapter_vector():
    p = ops.softmax(Tensor([0.6, 1.1, -1.5, 1.2, 3.2, -1.1]))
    expected = [0.055, 0.090, 0.0067, 0.10, 0.74, 0.010]
    assert [float(f"{v:.2g}") for v in p.data] == expected
    assert p.data.sum() == pytest.approx(1.0, abs=1e-6)


def test_computation_graph_forward_and_backward():
    a, b, c = (Tensor(v, requires_grad=True) for v in (3.0, 1.0, -2.0))
    L = c * (a + 2 * b)
    L.backward()
    assert L.item() == -10.0
    assert (a.grad, b.grad, c.grad) == (-2.0, -4.0, 5.0)


def test_xor_solved_by_the_chapters_hand_set_weights():
    # h = ReLU(W x + b) with W = [[1, 1], [1, 1]], b = [0, -1]; y = U h with U = [1, -2].
    hidden = nn.Linear(2, 2, rng=0)
    output = nn.Linear(2, 1, bias=False, rng=0)
    hidden.load_state_dict({"weight": np.ones((2, 2)), "bias": np.array([0.0, -1.0])})
    output.load_state_dict({"weight": np.array([[1.0, -2.0]])})
    h = ops.relu(hidden(Tensor(XOR_X)))
    np.testing.assert_array_equal(h.data, [[0, 0], [1, 0], [1, 0], [2, 1]])
    np.testing.assert_array_equal(output(h).data[:, 0], XOR_Y)


def _train_xor(model: nn.Module, steps: int, lr: float) -> tuple[float, float]:
    opt = optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        logits = model(Tensor(XOR_X)).reshape(4)
        loss = ops.binary_cross_entropy_with_logits(logits, XOR_Y)
        loss.backward()
        opt.step()
    accuracy = float(((logits.data > 0) == (XOR_Y > 0.5)).mean())
    return accuracy, loss.item()


def test_a_single_unit_cannot_fit_xor():
    # XOR is not linearly separable: whatever the start, one unit gets at most 3 of 4 right.
    for seed in range(5):
        accuracy, loss = _train_xor(nn.Linear(2, 1, rng=seed), steps=2000, lr=0.5)
        assert accuracy <= 0.75
        assert loss > 0.6


def test_a_two_two_one_network_learns_xor():
    accuracy, loss = _train_xor(nn.MLP([2, 2, 1], activation="relu", rng=4), steps=2000, lr=0.5)
    assert accuracy == 1.0
    assert loss < 0.01


@pytest.mark.parametrize("exact", [True, False])
def test_bias_as_dummy_input_is_exactly_w_x_plus_b(exact):
    # With dyadic values (multiples of 1/4) every sum is exact in floating point, so the two
    # forms must agree bit for bit; with random reals they agree up to summation order.
    rng = np.random.default_rng(0)
    draw = (lambda *s: rng.integers(-8, 8, s) / 4) if exact else (lambda *s: rng.standard_normal(s))
    x = draw(5, 3)
    plain = nn.Linear(3, 4, rng=1).to(np.float64)
    plain.weight.data[:] = draw(4, 3)
    plain.bias.data[:] = draw(4)
    folded = nn.Linear(3, 4, bias_as_input=True, rng=1).to(np.float64)
    assert folded.weight.shape == (4, 4) and folded.bias is None
    folded.weight.data[:] = np.concatenate([plain.bias.data[:, None], plain.weight.data], axis=1)

    upstream = draw(5, 4)
    x1, x2 = Tensor(x.copy(), requires_grad=True), Tensor(x.copy(), requires_grad=True)
    y1, y2 = plain(x1), folded(x2)
    y1.backward(upstream)
    y2.backward(upstream)
    same = (
        np.testing.assert_array_equal
        if exact
        else lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    )
    same(y1.data, y2.data)
    same(x1.grad, x2.grad)
    same(folded.weight.grad[:, 0], plain.bias.grad)
    same(folded.weight.grad[:, 1:], plain.weight.grad)


def test_embedding_lookup_is_one_hot_times_e():
    rng = np.random.default_rng(0)
    emb = nn.Embedding(6, 3, rng=0).to(np.float64)
    E = Tensor(emb.weight.data.copy(), requires_grad=True)
    ids = np.array([[5, 0, 5], [2, 2, 1]])
    one_hot = np.eye(6)[ids]  # (2, 3, 6)
    looked_up = emb(ids)
    multiplied = Tensor(one_hot) @ E
    np.testing.assert_array_equal(looked_up.data, multiplied.data)
    upstream = rng.standard_normal((2, 3, 3))
    looked_up.backward(upstream)
    multiplied.backward(upstream)
    np.testing.assert_allclose(emb.weight.grad, E.grad, rtol=1e-15, atol=1e-15)
