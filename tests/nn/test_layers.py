"""Layers: gradient checks of every module in float64, PyTorch comparisons, dropout,
pooling with masks, initialisation and errors."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import nn
from ffnlp.autograd import Tensor, gradcheck, ops
from ffnlp.nn import functional as F

TOLERANCE = 1e-6


def _check_module(module: nn.Module, *inputs: Tensor, loss=None) -> None:
    """Gradient-check a module's output with respect to its parameters and float inputs."""
    module.to(np.float64)
    rng = np.random.default_rng(5)
    for name, p in module.named_parameters():
        if name.endswith("bias"):  # zero biases can put a ReLU exactly on its kink
            p.data[...] = rng.uniform(-0.5, 0.5, p.shape)
    params = module.parameters()
    float_inputs = [x for x in inputs if isinstance(x, Tensor) and x.dtype.kind == "f"]

    def run(*_):
        out = module(*inputs)
        return out if loss is None else loss(out)

    result = gradcheck(run, [*params, *float_inputs])
    assert result.ok(TOLERANCE), str(result)
    assert result.checked == sum(p.size for p in params) + sum(x.size for x in float_inputs)


def _x(*shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("bias_as_input", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (1, 3), (2, 5, 3), (3,)])
def test_linear_gradcheck(shape, bias_as_input):
    _check_module(nn.Linear(3, 2, bias_as_input=bias_as_input, rng=0), _x(*shape))


def test_linear_without_bias_gradcheck():
    _check_module(nn.Linear(3, 2, bias=False, rng=0), _x(4, 3))


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("sizes", [[3, 2], [3, 4, 2], [3, 5, 4, 3]])
def test_mlp_gradcheck_of_the_whole_loss(sizes, activation):
    net = nn.MLP(sizes, activation=activation, rng=1)
    targets = np.array([0, 1, 1, 0, 1])
    _check_module(net, _x(5, 3, seed=2), loss=lambda logits: ops.cross_entropy(logits, targets))


def test_mlp_with_folded_biases_gradcheck():
    net = nn.MLP([3, 4, 2], activation="tanh", bias_as_input=True, rng=1)
    _check_module(
        net, _x(5, 3), loss=lambda logits: ops.cross_entropy(logits, np.array([0, 1, 1, 0, 1]))
    )


def test_embedding_gradcheck_with_repeated_ids():
    _check_module(nn.Embedding(5, 3, rng=0), np.array([[0, 4, 4], [2, 0, 0]]))


@pytest.mark.parametrize("module", [nn.Sigmoid(), nn.Tanh(), nn.Softmax(axis=-1), nn.Identity()])
def test_activation_modules_gradcheck(module):
    _check_module(module, _x(3, 4))


def test_relu_module_gradcheck_away_from_the_kink():
    x = Tensor(np.array([[-1.5, 0.3], [0.7, -0.2]]), requires_grad=True)
    _check_module(nn.ReLU(), x)


def test_dropout_in_eval_mode_gradcheck_is_identity():
    layer = nn.Dropout(0.3, rng=0).eval()
    x = _x(3, 4)
    assert layer(x) is x


def test_dropout_in_training_gradcheck_with_a_fixed_mask():
    layer = nn.Dropout(0.5, rng=0)
    x = _x(4, 5)
    state = layer.rng.bit_generator.state

    def run(t):
        layer.rng.bit_generator.state = state  # the same mask on every evaluation
        return layer(t)

    result = gradcheck(run, [x])
    assert result.ok(TOLERANCE), str(result)


def test_pooling_module_gradcheck():
    mask = np.array([[True, True, False], [True, False, False], [True, True, True]])
    x = Tensor(np.random.default_rng(0).permutation(36).reshape(3, 3, 4) * 0.1, requires_grad=True)
    weights = np.array([[0.5, 2.0, 9.0], [1.5, 9.0, 9.0], [0.1, 0.2, 0.3]])  # 9: padding
    for mode in nn.POOLING_MODES:
        given = weights if mode == "weighted" else None
        result = gradcheck(lambda t, mode=mode, w=given: nn.Pooling(mode)(t, mask, w), [x])
        assert result.ok(TOLERANCE), f"{mode}: {result}"
    with pytest.raises(ValueError, match="'mean' takes no weights"):
        nn.Pooling("mean")(x, mask, weights)
    expected = (x.data * np.where(mask, weights, 0)[:, :, None]).sum(axis=1)
    np.testing.assert_allclose(nn.Pooling("weighted")(x, mask, weights).data, expected)
    with pytest.raises(ValueError, match="'weighted' needs weights"):
        nn.Pooling("weighted")(x, mask)


@pytest.mark.parametrize("mode", ["mean", "weighted", "max", "mean+max"])
def test_pooling_rows_of_a_table_equals_pooling_the_gathered_rows(mode):
    """``rows`` fuses the lookup and the mean (or weighted sum) into one embedding-bag node:
    the same values and gradients as ``forward`` on the looked-up vectors (the plain
    reference), and gradient-checked on its own."""
    ids = np.array([[3, 1, 0], [2, 2, 0], [4, 0, 1]])
    mask = np.array([[True, True, False], [True, True, False], [True, True, True]])
    weights = np.array([[0.5, 2.0, 9.0], [1.5, 0.5, 9.0], [0.1, 0.2, 0.3]])
    pool = nn.Pooling(mode)
    weights = weights if mode == "weighted" else None
    results = []
    for fused in (True, False):
        table = nn.Embedding(5, 4, rng=0)
        table.to(np.float64)
        if fused:
            out = pool.rows(table, ids, mask, weights)
        else:
            out = pool(table(ids), mask, weights)
        (out * Tensor(np.arange(out.size).reshape(out.shape) * 0.1)).sum().backward()
        results.append((out.data, np.asarray(table.weight.grad)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12, atol=1e-15)
    table = nn.Embedding(5, 4, rng=1)
    table.to(np.float64)
    result = gradcheck(lambda w: pool.rows(table, ids, mask, weights), [table.weight])
    assert result.ok(TOLERANCE), str(result)


# ---------------------------------------------------------------------------- against torch


def test_mlp_matches_torch_forward_and_gradients():
    torch = pytest.importorskip(
        "torch", reason="PyTorch is not installed; pip install torch==2.13.0"
    )
    net = nn.MLP([6, 8, 7, 3], activation="relu", rng=0)
    layers = [m for m in net if isinstance(m, nn.Linear)]
    ref = torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 7),
        torch.nn.ReLU(),
        torch.nn.Linear(7, 3),
    )
    with torch.no_grad():
        for ours, theirs in zip(layers, [ref[0], ref[2], ref[4]]):
            theirs.weight.copy_(torch.tensor(ours.weight.data))
            theirs.bias.copy_(torch.tensor(ours.bias.data + 0.01))
            ours.bias.data += 0.01
    x = np.random.default_rng(1).standard_normal((10, 6)).astype(np.float32)
    y = np.random.default_rng(2).integers(0, 3, 10)
    loss = ops.cross_entropy(net(Tensor(x)), y)
    loss.backward()
    ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
    ref_loss.backward()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    for ours, theirs in zip(layers, [ref[0], ref[2], ref[4]]):
        np.testing.assert_allclose(
            ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- dropout


def test_dropout_zeroes_about_p_and_scales_the_rest():
    layer = nn.Dropout(0.25, rng=0)
    x = Tensor(np.ones((200, 500), dtype=np.float32))
    y = layer(x).data
    kept = y != 0
    assert abs(1 - kept.mean() - 0.25) < 0.005
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert abs(y.mean() - 1) < 0.01  # inverted dropout keeps the expectation
    assert y.dtype == np.float32


def test_dropout_is_reproducible_from_its_seed():
    x = Tensor(np.ones((4, 8), dtype=np.float32))
    first, second = nn.Dropout(0.5, rng=7), nn.Dropout(0.5, rng=7)
    a = [first(x).data for _ in range(2)]
    b = [second(x).data for _ in range(2)]
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], a[1])  # a new mask each call


def test_dropout_rejects_bad_probabilities():
    for p in (1.5, 1.0, -0.1, "0.5", True):
        with pytest.raises(ValueError, match=rf"dropout must be a number in \[0, 1\); got {p!r}"):
            nn.Dropout(p)


# ---------------------------------------------------------------------------- pooling


def _padded_batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2))
    mask = np.array(
        [[True, True, True, False], [True, False, False, False], [False, False, False, False]]
    )
    return x, mask


@pytest.mark.parametrize("pool", [F.mean_pool, F.max_pool, F.concat_pool])
def test_padding_never_leaks_into_values_or_gradients(pool):
    x, mask = _padded_batch()
    noisy = x.copy()
    noisy[~mask] = 1e6  # whatever sits in the padding
    a, b = Tensor(x, requires_grad=True), Tensor(noisy, requires_grad=True)
    out_a, out_b = pool(a, mask), pool(b, mask)
    np.testing.assert_array_equal(out_a.data, out_b.data)
    upstream = np.random.default_rng(1).standard_normal(out_a.shape)
    out_a.backward(upstream)
    out_b.backward(upstream)
    assert np.all(a.grad[~mask] == 0) and np.all(b.grad[~mask] == 0)
    np.testing.assert_array_equal(a.grad, b.grad)


def test_pooling_values():
    x, mask = _padded_batch()
    mean = F.mean_pool(Tensor(x), mask).data
    maxed = F.max_pool(Tensor(x), mask).data
    np.testing.assert_allclose(mean[0], x[0, :3].mean(axis=0))
    np.testing.assert_allclose(mean[1], x[1, 0])
    np.testing.assert_array_equal(maxed[0], x[0, :3].max(axis=0))
    np.testing.assert_array_equal(maxed[1], x[1, 0])
    np.testing.assert_array_equal(mean[2], [0, 0])  # an empty sequence pools to zeros
    np.testing.assert_array_equal(maxed[2], [0, 0])
    both = nn.Pooling("mean+max")(Tensor(x), mask).data
    np.testing.assert_array_equal(both, np.concatenate([mean, maxed], axis=1))
    concat = nn.Pooling("concat")(Tensor(x), mask).data
    assert concat.shape == (3, 8)
    np.testing.assert_array_equal(concat[0], np.concatenate([x[0, 0], x[0, 1], x[0, 2], [0, 0]]))


def test_pooling_errors():
    x = Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(
        ValueError, match=r"mean_pool: mask of shape \(2, 2\) does not match x of shape \(2, 3, 4\)"
    ):
        F.mean_pool(x, np.ones((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="max_pool: mask must be boolean"):
        F.max_pool(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, D\); got \(2, 3\)"):
        F.mean_pool(Tensor(np.zeros((2, 3))), np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="pooling mode must be one of"):
        nn.Pooling("median")


# ---------------------------------------------------------------------------- init and errors


def test_xavier_and_he_have_the_documented_spread():
    w = nn.init.xavier_uniform((300, 200), rng=0)
    limit = np.sqrt(6 / 500)
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert np.var(w) == pytest.approx(limit**2 / 3, rel=0.03)
    h = nn.init.he_normal((300, 200), rng=0)
    assert np.var(h) == pytest.approx(2 / 200, rel=0.03)
    assert np.var(nn.init.xavier_normal((300, 200), rng=0)) == pytest.approx(2 / 500, rel=0.03)
    assert np.abs(nn.init.he_uniform((300, 200), rng=0)).max() <= np.sqrt(6 / 200)


def test_same_seed_same_weights_and_manual_seed_resets_the_default():
    a, b = nn.MLP([4, 5, 3], rng=3), nn.MLP([4, 5, 3], rng=3)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(nn.MLP([4, 5, 3], rng=4)[0].weight.data, a[0].weight.data)
    import ffnlp

    ffnlp.manual_seed(11)
    c = nn.MLP([4, 5, 3])
    ffnlp.manual_seed(11)
    d = nn.MLP([4, 5, 3])
    np.testing.assert_array_equal(c[0].weight.data, d[0].weight.data)


def test_mlp_uses_he_for_relu_and_xavier_otherwise():
    relu_w = nn.MLP([100, 100, 2], activation="relu", rng=0)[0].weight.data
    tanh_w = nn.MLP([100, 100, 2], activation="tanh", rng=0)[0].weight.data
    assert np.abs(relu_w).max() > np.sqrt(6 / 200)  # he: limit sqrt(6/100)
    assert np.abs(tanh_w).max() <= np.sqrt(6 / 200)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: nn.Linear(0, 3), ValueError, r"in_features must be a positive integer; got 0"),
        (lambda: nn.Linear(3, -2), ValueError, r"out_features must be a positive integer; got -2"),
        (
            lambda: nn.Linear(3, 2.5),
            ValueError,
            r"out_features must be a positive integer; got 2.5",
        ),
        (lambda: nn.Linear(3, 2, init="lecun"), ValueError, r"init must be one of .*; got 'lecun'"),
        (
            lambda: nn.Embedding(10, 0),
            ValueError,
            r"embedding_dim must be a positive integer; got 0",
        ),
        (
            lambda: nn.MLP([3]),
            ValueError,
            r"MLP: sizes needs at least an input and an output size; got \[3\]",
        ),
        (
            lambda: nn.MLP([3, 0, 2]),
            ValueError,
            r"MLP sizes\[1\] must be a positive integer; got 0",
        ),
        (
            lambda: nn.MLP([3, 2], activation="gelu"),
            ValueError,
            r"activation must be one of .*; got 'gelu'",
        ),
        (
            lambda: nn.MLP([3, 2], dropout=1.5),
            ValueError,
            r"dropout must be a number in \[0, 1\); got 1.5",
        ),
        (lambda: nn.Linear(3, 2, rng="seed"), TypeError, r"rng must be a non-negative int seed"),
        (
            lambda: nn.Linear(3, 2)(Tensor(np.ones((2, 4)))),
            ValueError,
            r"linear: input of shape \(2, 4\) does not fit a weight of shape \(2, 3\)",
        ),
        (
            lambda: nn.Embedding(4, 2)(np.array([4])),
            ValueError,
            r"embedding: id 4 is out of range for 4 rows",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_embedding_from_pretrained_can_be_frozen():
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(vectors, freeze=True)
    np.testing.assert_array_equal(emb(np.array([2])).data, [[4, 5]])
    assert not emb.weight.requires_grad and emb.num_parameters(trainable_only=True) == 0


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_mlp_with_its_last_layer_activated_is_the_language_model_s_hidden_stack(dropout):
    """``activate_last``: every layer, the last too, is Linear, activation (and dropout),
    numbered as the language model's hidden layers always were (hidden.0, hidden.2/3, ...)."""
    net = nn.MLP([6, 5, 4], activation="relu", dropout=dropout, rng=0, activate_last=True)
    kinds = [type(m).__name__ for m in net]
    per_layer = ["Linear", "ReLU", *(["Dropout"] if dropout else [])]
    assert kinds == per_layer * 2
    shapes = nn.MLP.parameter_shapes([6, 5, 4], dropout, prefix="h.", activate_last=True)
    assert shapes == {f"h.{k}": p.shape for k, p in net.named_parameters()}
    net.eval()
    x = Tensor(np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32))
    assert (net(x).data >= 0).all()  # a ReLU after the last layer
    plain = nn.MLP([6, 5, 4], activation="relu", dropout=dropout, rng=0)
    plain.eval()
    np.testing.assert_array_equal(net(x).data, np.maximum(plain(x).data, 0))
