"""The adaptive softmax: its loss and exact log-probabilities against PyTorch's
AdaptiveLogSoftmaxWithLoss with the same weights, its gradient, and its errors; tied to
adaptive input embeddings, against the explicitly built product and PyTorch's layer given
the shared weights."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp.autograd import Tensor, gradcheck, ops
from ffnlp.autograd.sparse import as_dense
from ffnlp.nn import AdaptiveInput, AdaptiveSoftmax
from ffnlp.nn import functional as F


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


# ---------------------------------------------------------------- tied to adaptive input


def _tied(cutoffs=(5, 12), div_value=2.0, dim=8, vocab_size=20):
    embedding = AdaptiveInput(vocab_size, dim, cutoffs, div_value, sparse=True, rng=0)
    layer = AdaptiveSoftmax(dim, vocab_size, cutoffs, div_value, rng=1, tied=embedding)
    embedding.to(np.float64), layer.to(np.float64)
    layer.head_bias.data[...] = np.random.default_rng(1).uniform(-0.5, 0.5, layer.head_bias.shape)
    return embedding, layer


def _reference_log_prob(embedding, layer, h):
    """log p(w | h) built the plain way: the head softmax over [E_0; C] h + b, times each
    cluster's softmax over the explicitly multiplied (E_k P_k^T) h."""
    first = layer.cutoffs[0]
    tables = [t.data for t in embedding.tables()]
    head = h @ np.concatenate([tables[0], layer.cluster_weight.data]).T + layer.head_bias.data
    p_head = np.exp(head - head.max(1, keepdims=True))
    p_head /= p_head.sum(1, keepdims=True)
    parts = [p_head[:, :first]]
    for k, (table, proj) in enumerate(zip(tables[1:], embedding.projections())):
        output_matrix = table @ proj.data.T  # (cluster size, D): the word rows the input uses
        logits = h @ output_matrix.T
        p = np.exp(logits - logits.max(1, keepdims=True))
        parts.append(p / p.sum(1, keepdims=True) * p_head[:, first + k : first + k + 1])
    return np.log(np.concatenate(parts, axis=1))


def test_adaptive_input_is_the_explicit_table():
    embedding, _ = _tied()
    ids = np.array([[0, 4, 5], [11, 12, 19], [3, 3, 15]])
    table = np.concatenate(
        [embedding.head.weight.data]
        + [t.data @ p.data.T for t, p in zip(embedding.tables()[1:], embedding.projections())]
    )
    np.testing.assert_allclose(embedding(ids).data, table[ids], rtol=1e-12)
    np.testing.assert_allclose(embedding.weight.data, table, rtol=1e-12)
    assert embedding(np.array([1, 2])).shape == (2, 8)  # the head alone: no reordering
    assert embedding.tail1.weight.shape == (8, 2)  # d_2 = 8 // 2^2


@pytest.mark.parametrize("cutoffs", [(5,), (5, 12), (2, 3, 19)])
def test_tied_log_prob_and_loss_match_the_explicit_product(cutoffs):
    embedding, layer = _tied(cutoffs=cutoffs)
    h, targets = _inputs()
    expected = _reference_log_prob(embedding, layer, h)
    log_p = layer.log_prob(Tensor(h)).data
    np.testing.assert_allclose(log_p, expected, rtol=1e-10)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1.0, rtol=1e-12)
    loss = layer.loss(Tensor(h), targets).item()
    assert loss == pytest.approx(-expected[np.arange(len(targets)), targets].mean(), rel=1e-12)


@pytest.mark.parametrize("cutoffs", [(5,), (5, 12), (2, 3, 19)])
def test_gradient_of_the_tied_input_and_output_together(cutoffs):
    embedding, layer = _tied(cutoffs=cutoffs)
    _, targets = _inputs()
    ids = np.array([[0, 7], [19, 4], [12, 5], [3, 15], [11, 11], [2, 9], [6, 18], [1, 13], [8, 0]])
    mix = Tensor(np.random.default_rng(3).standard_normal((16, 8)))

    def loss(*_):  # the input's rows feed the output that shares them
        h = ops.tanh(ops.matmul(embedding(ids).reshape(len(ids), 16), mix))
        return layer.loss(h, targets)

    params = [*embedding.parameters(), *layer.parameters()]
    assert len(params) == 2 * len(cutoffs) + 3  # E_0, (E_k, P_k) per band, C, b: no copies
    result = gradcheck(loss, params)
    assert result.ok(1e-6), str(result)


@pytest.mark.parametrize(("cutoffs", "div_value"), [((5,), 4.0), ((5, 12), 2.0)])
def test_tied_matches_torch_with_the_shared_weights(cutoffs, div_value):
    """The tied layer is an ordinary adaptive softmax whose weights are the input's: torch's,
    given them, has the same loss, log-probabilities and gradients."""
    torch = pytest.importorskip("torch")
    embedding, layer = _tied(cutoffs=cutoffs, div_value=div_value)
    reference = torch.nn.AdaptiveLogSoftmaxWithLoss(
        8, 20, list(cutoffs), div_value=div_value, head_bias=True
    ).double()
    tables, projections = embedding.tables(), embedding.projections()
    with torch.no_grad():
        head = np.concatenate([tables[0].data, layer.cluster_weight.data])
        reference.head.weight.copy_(torch.from_numpy(head))
        reference.head.bias.copy_(torch.from_numpy(layer.head_bias.data))
        for k, tail in enumerate(reference.tail):
            tail[0].weight.copy_(torch.from_numpy(projections[k].data.T.copy()))
            tail[1].weight.copy_(torch.from_numpy(tables[k + 1].data))
    h, targets = _inputs()
    x = Tensor(h, requires_grad=True)
    loss = layer.loss(x, targets)
    loss.backward()
    th = torch.from_numpy(h).requires_grad_()
    t_loss = reference(th, torch.from_numpy(targets)).loss
    t_loss.backward()
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    np.testing.assert_allclose(x.grad, th.grad.numpy(), rtol=1e-9, atol=1e-12)
    t_head = reference.head.weight.grad.numpy()
    np.testing.assert_allclose(tables[0].grad, t_head[: cutoffs[0]], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        layer.cluster_weight.grad, t_head[cutoffs[0] :], rtol=1e-9, atol=1e-12
    )
    for k, tail in enumerate(reference.tail):
        np.testing.assert_allclose(
            projections[k].grad, tail[0].weight.grad.numpy().T, rtol=1e-9, atol=1e-12
        )
        np.testing.assert_allclose(
            np.asarray(tables[k + 1].grad), tail[1].weight.grad.numpy(), rtol=1e-9, atol=1e-12
        )
    np.testing.assert_allclose(
        layer.log_prob(Tensor(h)).data, reference.log_prob(th).detach().numpy(), rtol=1e-10
    )


def test_tied_errors():
    embedding = AdaptiveInput(20, 8, (5, 12), rng=0)
    with pytest.raises(ValueError, match=r"tied input must have the same vocab_size, cutoffs"):
        AdaptiveSoftmax(8, 20, (5, 13), tied=embedding)
    with pytest.raises(ValueError, match=r"embedding: id 20 is out of range for 20 rows"):
        embedding(np.array([3, 20]))
    with pytest.raises(TypeError, match="ids must be integers"):
        embedding(np.array([1.0]))
    with pytest.raises(ValueError, match="cutoffs must be increasing integers"):
        AdaptiveInput(20, 8, (12, 5))


# ------------------------------------------------- FOFE codes over adaptive input, band by band


def _reference_fofe(embedding, ids, alphas, ignore):
    """The codes the plain way: each word's embedding e(w) from the layer itself, then the
    weighted sum over the history (the last word with weight 1, the one before a, ...)."""
    rows = embedding(ids)  # (B, K, D), every word projected up to D
    K = ids.shape[1]
    codes = []
    for a in alphas:
        weights = Tensor((a ** np.arange(K - 1, -1, -1) * (ids != ignore))[:, :, None])
        codes.append((rows * weights).sum(axis=1))  # (B, D)
    return ops.concatenate(codes, axis=1)  # (B, J*D)


@pytest.mark.parametrize("cutoffs", [(5,), (5, 12), (2, 3, 19)])
def test_fofe_over_adaptive_input_is_the_sum_of_projected_rows(cutoffs):
    embedding, _ = _tied(cutoffs=cutoffs)
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 20, size=(6, 9))
    ids[0, :4] = 1  # padding before a text's start
    ids[1] = 13  # one band only
    alphas = (0.7, 0.3)
    ours = embedding.fofe(ids, alphas, ignore=1)
    reference = _reference_fofe(embedding, ids, alphas, ignore=1)
    assert ours.shape == (6, 2 * 8) and np.abs(reference.data).max() > 0.1
    np.testing.assert_allclose(ours.data, reference.data, rtol=1e-12, atol=1e-12)
    # the same again as the plain table's codes (the (V, D) table of every e(w))
    plain = F.fofe(Tensor(embedding.full_table()), ids, alphas, ignore=1)
    np.testing.assert_allclose(ours.data, plain.data, rtol=1e-12, atol=1e-12)
    # and the gradients of every table and projection, against the plain way's
    upstream = Tensor(rng.standard_normal(ours.shape))
    grads = []
    for codes in (embedding.fofe, lambda *a, **k: _reference_fofe(embedding, *a, **k)):
        embedding.zero_grad()
        (codes(ids, alphas, ignore=1) * upstream).sum().backward()
        grads.append([as_dense(p.grad) for p in embedding.parameters()])
    for mine, theirs in zip(*grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


def test_fofe_over_adaptive_input_passes_the_gradient_check():
    embedding, _ = _tied(cutoffs=(5, 12))
    ids = np.random.default_rng(8).integers(0, 20, size=(4, 6))
    result = gradcheck(
        lambda *_: embedding.fofe(ids, (0.6, 0.2), ignore=1), list(embedding.parameters())
    )
    assert result.ok(1e-6), str(result)
