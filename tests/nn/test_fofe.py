"""The fixed-size ordinally-forgetting encoding: against the literal recursion, central
differences and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp.autograd import Tensor, gradcheck
from ffnlp.autograd.sparse import RowSparseGrad
from ffnlp.nn import functional as F

PAD = 1


def _recursion(E, ids, alphas, ignore=None):
    """z_k = a z_{k-1} + e(w_k) from z_0 = 0, word by word: the definition, in a loop."""
    out = []
    for row in ids:
        codes = []
        for a in alphas:
            z = np.zeros(E.shape[1])
            for w in row:
                z = a * z + (0.0 if w == ignore else E[w])
            codes.append(z)
        out.append(np.concatenate(codes))
    return np.array(out)


def _histories(rng, batch=7, length=6, vocab=11):
    ids = rng.integers(0, vocab, size=(batch, length))
    ids[ids == PAD] = 3  # <s> only as padding, before a history's start
    for b, start in enumerate(rng.integers(0, length, size=batch)):
        ids[b, :start] = PAD
    ids[0] = PAD  # a history with no word at all: its code is zero
    return ids


@pytest.mark.parametrize("alphas", [(0.7,), (0.5, 0.9), (0.1, 0.6, 0.95)])
def test_fofe_is_the_recursion(alphas):
    rng = np.random.default_rng(0)
    E = rng.standard_normal((11, 4))
    ids = _histories(rng)
    got = F.fofe(Tensor(E), ids, alphas, ignore=PAD).data
    assert got.shape == (7, len(alphas) * 4)
    np.testing.assert_allclose(got, _recursion(E, ids, alphas, ignore=PAD), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got[0], 0.0)
    # Without ``ignore`` the padding's row counts like any other.
    np.testing.assert_allclose(
        F.fofe(Tensor(E), ids, alphas).data, _recursion(E, ids, alphas), rtol=1e-12
    )


def test_fofe_by_hand():
    E = Tensor(np.array([[0.0, 0.0], [9.0, 9.0], [1.0, 0.0], [0.0, 1.0]]))
    # history "2 3 2" after two pads: 0.5^2 e2 + 0.5 e3 + e2, and 0.1^2 e2 + 0.1 e3 + e2
    got = F.fofe(E, np.array([[1, 1, 2, 3, 2]]), [0.5, 0.1], ignore=1).data
    np.testing.assert_allclose(got, [[1.25, 0.5, 1.01, 0.1]])


@pytest.mark.parametrize("sparse", [False, True])
def test_fofe_passes_the_gradient_check(sparse):
    rng = np.random.default_rng(1)
    E = Tensor(rng.standard_normal((11, 3)), requires_grad=True)
    ids = _histories(rng, batch=5, length=5)
    result = gradcheck(lambda t: F.fofe(t, ids, (0.6, 0.3), ignore=PAD, sparse=sparse), [E])
    assert result.ok(1e-6), str(result)
    assert result.checked == E.data.size


def test_the_sparse_gradient_is_the_dense_one_on_the_rows_used():
    rng = np.random.default_rng(2)
    ids = _histories(rng, batch=6, length=8, vocab=50)
    upstream = rng.standard_normal((6, 2 * 5))
    grads = {}
    for sparse in (False, True):
        E = Tensor(rng.standard_normal((50, 5)) * 0 + 1.0, requires_grad=True)
        (F.fofe(E, ids, (0.7, 0.2), ignore=PAD, sparse=sparse) * Tensor(upstream)).sum().backward()
        grads[sparse] = E.grad
    assert isinstance(grads[True], RowSparseGrad)
    assert set(grads[True].indices.tolist()) <= set(np.unique(ids).tolist())
    np.testing.assert_allclose(grads[True].to_dense(), grads[False], rtol=1e-12)
    np.testing.assert_array_equal(grads[False][PAD], 0.0)  # padding gets no gradient


def test_fofe_matches_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; pip install torch")
    rng = np.random.default_rng(3)
    E = rng.standard_normal((11, 4)).astype(np.float32)
    ids = _histories(rng, batch=6, length=7)
    alphas = (0.7, 0.4)
    upstream = rng.standard_normal((6, 8)).astype(np.float32)
    ours_E = Tensor(E.copy(), requires_grad=True)
    ours = F.fofe(ours_E, ids, alphas, ignore=PAD)
    (ours * Tensor(upstream)).sum().backward()
    theirs_E = torch.tensor(E, requires_grad=True)
    rows = torch.nn.functional.embedding(torch.as_tensor(ids), theirs_E)  # (B, K, D)
    keep = torch.as_tensor(ids != PAD, dtype=torch.float32)
    powers = torch.tensor([[a ** (7 - 1 - k) for k in range(7)] for a in alphas])  # (J, K)
    theirs = torch.einsum("bk,jk,bkd->bjd", keep, powers, rows).reshape(6, 8)
    theirs.backward(torch.as_tensor(upstream))
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_E.grad, theirs_E.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "alpha, tolerance, expected",
    [(0.7, 1e-3, 20), (0.5, 1e-3, 10), (0.9, 1e-3, 66), (0.2, 1e-3, 5)],
)
def test_the_window_keeps_all_but_the_tolerance_of_the_weight(alpha, tolerance, expected):
    K = F.fofe_window([alpha, alpha / 2], tolerance)
    assert K == expected
    assert alpha**K <= tolerance < alpha ** (K - 1)
    # the words left out would carry at most the tolerance of a long history's weight
    weights = alpha ** np.arange(2000)
    assert weights[K:].sum() / weights.sum() <= tolerance < weights[K - 1 :].sum() / weights.sum()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda E: F.fofe(E, np.zeros(3, np.int64), [0.5]),
            ValueError,
            r"fofe: ids must be \(B, K\)",
        ),
        (lambda E: F.fofe(E, np.zeros((2, 3), np.int64), []), ValueError, "no forgetting factors"),
        (
            lambda E: F.fofe(E, np.zeros((2, 3), np.int64), [1.0]),
            ValueError,
            r"alphas\[0\] must be",
        ),
        (lambda E: F.fofe(E, np.full((2, 3), 9), [0.5]), ValueError, "out of range"),
        (lambda E: F.fofe_window([0.5], 0.0), ValueError, "tolerance must be"),
        (
            lambda E: F.fofe(E, np.zeros((2, 3), np.int64), [0.5], keep=np.ones((2, 2))),
            ValueError,
            r"keep must have the ids' shape \(2, 3\); got \(2, 2\)",
        ),
    ],
)
def test_fofe_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(np.zeros((4, 2))))


def test_keep_leaves_out_the_ids_it_marks_false():
    # keep is what an adaptive input's band passes: the same codes as a table whose
    # left-out rows are zero.
    rng = np.random.default_rng(4)
    E = rng.standard_normal((11, 3))
    ids = _histories(rng, batch=5, length=6)
    keep = rng.random(ids.shape) < 0.5
    ours = F.fofe(Tensor(E), ids, (0.6, 0.3), ignore=PAD, keep=keep).data
    zeroed = F.fofe(Tensor(E), np.where(keep, ids, PAD), (0.6, 0.3), ignore=PAD).data
    np.testing.assert_allclose(ours, zeroed, rtol=1e-12, atol=1e-12)
    assert np.abs(ours).max() > 0.1
