"""The adaptive softmax: its loss and exact log-probabilities against PyTorch's
AdaptiveLogSoftmaxWithLoss with the same weights, its gradient, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp.autograd import Tensor, gradcheck
from ffnlp.nn import AdaptiveSoftmax


def _layer(in_features=8, vocab_size=20, cutoffs=(5, 12), div_value=2.0):
    layer = AdaptiveSoftmax(in_features, vocab_size, cutoffs, div_value, rng=0).to(np.float64)
    layer.head.bias.data[...] = np.random.default_rng(1).uniform(-0.5, 0.5, layer.head.bias.shape)
    return layer


def _inputs(batch=9, in_features=8, vocab_size=20):
    rng = np.random.default_rng(2)
    h = rng.standard_normal((batch, in_features))
    targets = np.array([0, 4, 5, 11, 12, 19, 3, 7, 15])[:batch] % vocab_size
    return h, targets


def test_log_prob_is_normalised_and_its_nll_is_the_training_loss():
    layer = _layer()
    h, targets = _inputs()
    log_p = layer.log_prob(Tensor(h)).data
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-12)
    loss = layer.loss(Tensor(h), targets).item()
    assert loss == pytest.approx(-log_p[np.arange(len(targets)), targets].mean(), rel=1e-12)


@pytest.mark.parametrize("cutoffs", [(5,), (5, 12), (2, 3, 19)])
def test_gradient_of_the_loss(cutoffs):
    layer = _layer(cutoffs=cutoffs)
    h, targets = _inputs()
    x = Tensor(h, requires_grad=True)
    result = gradcheck(lambda *_: layer.loss(x, targets), [x, *layer.parameters()])
    assert result.ok(1e-6), str(result)


def test_a_batch_with_no_rare_word_skips_the_clusters():
    layer = _layer()
    h, _ = _inputs()
    loss = layer.loss(Tensor(h), np.zeros(len(h), dtype=np.int64))
    expected = -layer.log_prob(Tensor(h)).data[:, 0].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("cutoffs", "div_value"), [((5,), 4.0), ((5, 12), 2.0)])
def test_matches_torch(cutoffs, div_value):
    torch = pytest.importorskip("torch")
    layer = _layer(cutoffs=cutoffs, div_value=div_value)
    reference = torch.nn.AdaptiveLogSoftmaxWithLoss(
        8, 20, list(cutoffs), div_value=div_value, head_bias=True
    ).double()
    with torch.no_grad():
        reference.head.weight.copy_(torch.from_numpy(layer.head.weight.data))
        reference.head.bias.copy_(torch.from_numpy(layer.head.bias.data))
        for k, tail in enumerate(reference.tail):
            ours = getattr(layer, f"tail{k}")
            tail[0].weight.copy_(torch.from_numpy(ours[0].weight.data))
            tail[1].weight.copy_(torch.from_numpy(ours[1].weight.data))
    h, targets = _inputs()
    x = Tensor(h, requires_grad=True)
    loss = layer.loss(x, targets)
    loss.backward()
    th = torch.from_numpy(h).requires_grad_()
    t_loss = reference(th, torch.from_numpy(targets)).loss
    t_loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    np.testing.assert_allclose(x.grad, th.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        layer.head.weight.grad, reference.head.weight.grad.numpy(), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        layer.log_prob(Tensor(h)).data, reference.log_prob(th).detach().numpy(), rtol=1e-10
    )


def test_errors():
    with pytest.raises(ValueError, match="cutoffs must be increasing integers"):
        AdaptiveSoftmax(8, 20, (12, 5))
    with pytest.raises(ValueError, match="cutoffs must be increasing integers"):
        AdaptiveSoftmax(8, 20, ())
    layer = _layer()
    with pytest.raises(ValueError, match=r"targets must be in \[0, 20\)"):
        layer.loss(Tensor(np.ones((2, 8))), np.array([0, 20]))
    with pytest.raises(ValueError, match="do not fit h"):
        layer.loss(Tensor(np.ones((2, 8))), np.array([0, 1, 2]))
