"""Losses and the L2 penalty."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import nn
from ffnlp.autograd import Tensor, gradcheck, ops
from ffnlp.nn import functional as F


def test_nll_of_log_softmax_equals_cross_entropy():
    z = np.random.default_rng(0).standard_normal((5, 4))
    y = np.array([0, 3, 2, 2, 1])
    for reduction in ("mean", "sum", "none"):
        a = F.nll_loss(ops.log_softmax(Tensor(z)), y, reduction=reduction)
        b = F.cross_entropy(Tensor(z), y, reduction=reduction)
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    logits = Tensor(z.copy(), requires_grad=True)
    result = gradcheck(lambda t: F.nll_loss(ops.log_softmax(t), y), [logits])
    assert result.ok(1e-6), str(result)


def test_cross_entropy_of_a_uniform_prediction_is_log_c():
    loss = F.cross_entropy(Tensor(np.zeros((3, 10))), np.array([1, 5, 9]))
    assert loss.item() == pytest.approx(np.log(10), rel=1e-6)


def test_binary_cross_entropy_on_probabilities_matches_the_logit_form():
    z = np.random.default_rng(0).standard_normal(6)
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.5])
    a = F.binary_cross_entropy(ops.sigmoid(Tensor(z)), y)
    b = F.binary_cross_entropy_with_logits(Tensor(z), y)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    probs = Tensor(1 / (1 + np.exp(-z)), requires_grad=True)
    result = gradcheck(lambda p: F.binary_cross_entropy(p, y, reduction="sum"), [probs])
    assert result.ok(1e-6), str(result)


def test_torch_agrees_on_nll_and_bce():
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed; pip install torch==2.13.0"
    )
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(4), size=6)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    ours = F.nll_loss(Tensor(lp), y).item()
    theirs = torch.nn.functional.nll_loss(torch.tensor(lp), torch.tensor(y)).item()
    assert ours == pytest.approx(theirs, rel=1e-5)
    p = rng.uniform(0.05, 0.95, 6).astype(np.float32)
    t = rng.integers(0, 2, 6).astype(np.float32)
    ours = F.binary_cross_entropy(Tensor(p), t).item()
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t)).item()
    assert ours == pytest.approx(theirs, rel=1e-5)


def test_l2_penalty_skips_biases_and_has_gradient_weight_decay_times_w():
    net = nn.MLP([3, 4, 2], rng=0).to(np.float64)
    penalty = F.l2_penalty(net.named_parameters(), weight_decay=0.1)
    weights = [net[0].weight.data, net[2].weight.data]
    assert penalty.item() == pytest.approx(0.05 * sum((w**2).sum() for w in weights), rel=1e-12)
    penalty.backward()
    np.testing.assert_allclose(net[0].weight.grad, 0.1 * net[0].weight.data, rtol=1e-12)
    assert net[0].bias.grad is None
    net[0].bias.data[:] = [1.0, 2.0, 0.0, -1.0]
    with_biases = F.l2_penalty(net.named_parameters(), weight_decay=0.1, skip_biases=False)
    assert with_biases.item() == pytest.approx(penalty.item() + 0.05 * 6.0, rel=1e-12)


def test_l2_penalty_rejects_negative_weight_decay():
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number >= 0; got -1"):
        F.l2_penalty([], -1)


def test_loss_errors():
    with pytest.raises(
        ValueError, match=r"nll_loss: expected log_probs \(B, C\) and targets \(B,\)"
    ):
        F.nll_loss(Tensor(np.zeros((2, 3))), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="nll_loss: targets must be integer class ids"):
        F.nll_loss(Tensor(np.zeros((2, 3))), np.array([0.0, 1.0]))
    with pytest.raises(
        ValueError, match=r"binary_cross_entropy: targets of shape \(3,\) do not match"
    ):
        F.binary_cross_entropy(Tensor(np.full(2, 0.5)), np.ones(3))
