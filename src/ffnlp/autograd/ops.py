"""The primitive ops: each a small class with ``forward`` and ``backward`` side by side.

``forward`` computes the op on NumPy arrays and saves what the backward pass needs.
``backward`` receives ``grad`` = dL/d(output) and returns dL/d(input) for each tensor input,
by the chain rule: dL/dx = dL/dout * dout/dx. Everything else in ffnlp (layers, losses,
models) is a composition of these ops.

Two ops are fused for speed and numerical stability: :class:`Linear` (x W^T + b in one node)
and :class:`CrossEntropy` (softmax and negative log-likelihood in one node, whose backward is
the textbook's ``softmax - one_hot``). Both are gradient-checked like the rest.

Every op here is written plainly, as the chapter writes it. Three of them (:class:`Linear`,
:class:`CrossEntropy`, :class:`EmbeddingBag`) also have a faster version in
:mod:`ffnlp.backend` (cache-sized blocks, a thread pool, a compiled loop) that computes the
same numbers; their function forms below (``linear``, ``cross_entropy``, ``embedding_bag``)
run it unless ``ffnlp.backend.use("reference")`` (or ``FFNLP_BACKEND=reference``) asks for
the ones written here. tests/backend/ compares each fast version with its op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp import backend
from ffnlp.autograd.sparse import RowSparseGrad
from ffnlp.autograd.tensor import Function, Tensor
from ffnlp.checks import check_choice

# ---------------------------------------------------------------------------- helpers


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the gradient of NumPy broadcasting.

    An input that was broadcast along an axis was used once per position of that axis, so
    its gradient is the sum over that axis.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _broadcast(op: str, ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return ufunc(a, b)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together "
            "(each axis, from the right, must be equal or 1)"
        ) from None


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < (ndim or 1):
            raise ValueError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(int(ax) % (ndim or 1))
    return tuple(out)


def _expand_reduced(grad: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Put back the axes a reduction removed, so ``grad`` broadcasts against the input."""
    if keepdims or not axes:
        return grad
    return np.expand_dims(grad, axes)


# ---------------------------------------------------------------------------- arithmetic


class Add(Function):
    """a + b (with broadcasting)."""

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return _broadcast("add", np.add, a, b)

    def backward(self, grad):
        a_shape, b_shape = self.saved
        return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)


class Sub(Function):
    """a - b (with broadcasting)."""

    def forward(self, a, b):
        self.saved = (a.shape, b.shape)
        return _broadcast("sub", np.subtract, a, b)

    def backward(self, grad):
        a_shape, b_shape = self.saved
        gb = unbroadcast(-grad, b_shape) if self.needs_grad[1] else None
        return unbroadcast(grad, a_shape), gb


class Mul(Function):
    """a * b, element-wise (with broadcasting). d(ab)/da = b, d(ab)/db = a."""

    def forward(self, a, b):
        self.saved = (a, b)
        return _broadcast("mul", np.multiply, a, b)

    def backward(self, grad):
        a, b = self.saved
        ga = unbroadcast(grad * b, a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(grad * a, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    """a / b, element-wise. d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -(a/b)/b."""

    def forward(self, a, b):
        out = _broadcast("div", np.divide, a, b)
        self.saved = (a.shape, b, out)
        return out

    def backward(self, grad):
        a_shape, b, out = self.saved
        ga = unbroadcast(grad / b, a_shape) if self.needs_grad[0] else None
        gb = unbroadcast(-grad * out / b, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    """-a."""

    def forward(self, a):
        return np.negative(a)

    def backward(self, grad):
        return -grad


class Pow(Function):
    """a ** b. d/da = b a^(b-1); d/db = a^b log(a) (only asked for when b requires grad)."""

    def forward(self, a, b):
        out = _broadcast("pow", np.power, a, b)
        self.saved = (a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(grad * b * np.power(a, b - 1), a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(grad * out * np.log(a), b.shape)
        return ga, gb


class Cast(Function):
    """Change the dtype; the gradient is cast back."""

    def forward(self, a, dtype):
        self.saved = a.dtype
        return a.astype(dtype)

    def backward(self, grad):
        return grad.astype(self.saved)


# ---------------------------------------------------------------------------- matrix products


class MatMul(Function):
    """a @ b, NumPy's matmul: 1-D vectors, 2-D matrices and stacks of matrices.

    For C = A B: dL/dA = dL/dC B^T and dL/dB = A^T dL/dC (summed over broadcast batch axes).
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least one dimension; got shapes {a.shape} "
                f"and {b.shape} (use * to scale by a number)"
            )
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if a.shape[-1] != inner_b:
            raise ValueError(
                f"matmul: cannot multiply shapes {a.shape} and {b.shape}: the last dimension "
                f"of the first ({a.shape[-1]}) must equal the "
                f"{'first' if b.ndim == 1 else 'second-to-last'} dimension of the second ({inner_b})"
            )
        self.saved = (a, b)
        try:
            return np.matmul(a, b)
        except ValueError:
            raise ValueError(
                f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast"
            ) from None

    def backward(self, grad):
        a, b = self.saved
        if a.ndim == 2 and b.ndim == 2:
            ga = grad @ b.T if self.needs_grad[0] else None
            gb = a.T @ grad if self.needs_grad[1] else None
            return ga, gb
        # Promote vectors to matrices, as matmul itself does, then undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """The affine map of a layer of units, fused into one node: x W^T + b.

    x: (..., in), W: (out, in) as in the textbook (row j holds unit j's weights), b: (out,).
    dL/dx = g W, dL/dW = g^T x, dL/db = sum of g over the batch.
    """

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} does not fit a weight of shape "
                f"{weight.shape}: the input's last dimension must be {weight.shape[1] if weight.ndim == 2 else '?'}"
            )
        self.saved = (x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        x, weight = self.saved
        g2 = grad.reshape(-1, grad.shape[-1])  # (M, out)
        gx = (grad @ weight) if self.needs_grad[0] else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if self.needs_grad[1] else None
        if len(self.needs_grad) == 2:
            return gx, gw
        gb = self.bias_grad(g2) if self.needs_grad[2] else None
        return gx, gw, gb

    @staticmethod
    def bias_grad(g2):
        """dL/db: the upstream gradient (M, out) summed over the batch."""
        return g2.sum(axis=0)


# ---------------------------------------------------------------------------- reductions


class Sum(Function):
    """Sum over ``axis`` (all axes when None). Each input element gets the output's gradient."""

    def forward(self, a, axis=None, keepdims=False):
        self.saved = (a.shape, _normalize_axes(axis, a.ndim, "sum"), keepdims)
        return np.sum(a, axis=self.saved[1], keepdims=keepdims)

    def backward(self, grad):
        shape, axes, keepdims = self.saved
        return np.broadcast_to(_expand_reduced(grad, axes, keepdims), shape)


class Mean(Function):
    """Mean over ``axis``. Each input element gets the output's gradient divided by the count."""

    def forward(self, a, axis=None, keepdims=False):
        axes = _normalize_axes(axis, a.ndim, "mean")
        count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        if count == 0:
            raise ValueError(f"mean: cannot average over an empty axis (shape {a.shape})")
        self.saved = (a.shape, axes, keepdims, count)
        return np.mean(a, axis=axes, keepdims=keepdims)

    def backward(self, grad):
        shape, axes, keepdims, count = self.saved
        g = _expand_reduced(grad, axes, keepdims) / np.asarray(count, dtype=grad.dtype)
        return np.broadcast_to(g, shape)


class Max(Function):
    """Maximum over ``axis``. The gradient goes to the element(s) that were the maximum;
    ties share it equally, so the total gradient is preserved."""

    def forward(self, a, axis=None, keepdims=False):
        axes = _normalize_axes(axis, a.ndim, "max")
        if a.size == 0:
            raise ValueError(f"max: cannot take the maximum of an empty tensor (shape {a.shape})")
        out = np.max(a, axis=axes, keepdims=True)
        self.saved = (a, axes, keepdims, out)
        return out if keepdims else np.squeeze(out, axis=axes)

    def backward(self, grad):
        a, axes, keepdims, out = self.saved
        is_max = a == out
        count = is_max.sum(axis=axes, keepdims=True).astype(grad.dtype)
        return is_max * (_expand_reduced(grad, axes, keepdims) / count)


# ---------------------------------------------------------------------------- shapes


class Reshape(Function):
    def forward(self, a, shape):
        self.saved = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                f"into shape {tuple(shape)}"
            ) from None

    def backward(self, grad):
        return grad.reshape(self.saved)


class Transpose(Function):
    """Permute axes (reverse them when ``axes`` is None); the gradient permutes back."""

    def forward(self, a, axes=None):
        if axes is not None and sorted(int(x) % (a.ndim or 1) for x in axes) != list(range(a.ndim)):
            raise ValueError(
                f"transpose: axes {tuple(axes)} are not a permutation of {a.ndim} axes"
            )
        self.saved = axes
        return np.transpose(a, axes)

    def backward(self, grad):
        axes = self.saved
        return np.transpose(grad, None if axes is None else np.argsort(axes))


class Concatenate(Function):
    """Join tensors along an existing axis; the gradient is split back at the same places."""

    def forward(self, *arrays, axis=0):
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            raise ValueError(
                f"concatenate: shapes {[x.shape for x in arrays]} do not match except "
                f"along axis {axis}"
            ) from None
        except np.exceptions.AxisError:
            raise ValueError(
                f"concatenate: axis {axis} is out of range for shapes {[x.shape for x in arrays]}"
            ) from None
        self.saved = (np.cumsum([x.shape[axis] for x in arrays])[:-1], axis)
        return out

    def backward(self, grad):
        splits, axis = self.saved
        return tuple(np.split(grad, splits, axis=axis))


class Stack(Function):
    """Join same-shaped tensors along a new axis."""

    def forward(self, *arrays, axis=0):
        try:
            out = np.stack(arrays, axis=axis)
        except ValueError:
            raise ValueError(
                f"stack: all tensors must have the same shape; got {[x.shape for x in arrays]}"
            ) from None
        self.saved = axis % out.ndim
        return out

    def backward(self, grad):
        return tuple(np.moveaxis(grad, self.saved, 0))


class Index(Function):
    """a[index], NumPy indexing (basic or advanced). The gradient is scattered back;
    positions picked twice get the sum."""

    def forward(self, a, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        self.saved = (a.shape, a.dtype, index)
        try:
            return a[index]
        except IndexError as err:
            raise ValueError(f"index: {err} (tensor shape {a.shape})") from None

    def backward(self, grad):
        shape, dtype, index = self.saved
        out = np.zeros(shape, dtype=dtype)
        if _is_basic_index(index):
            out[index] = grad  # basic indexing never picks a position twice
        else:
            np.add.at(out, index, grad)
        return out


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) for p in parts)


class GatherRows(Function):
    """Row gather: ``weight[ids]``, the embedding lookup.

    weight: (V, D); ids: integer array of any shape S; output: S + (D,). Picking row i of E
    is the same as multiplying the one-hot row vector for i by E, without building it. The
    gradient of E adds each output row's gradient into the row it came from (rows picked
    several times get the sum), computed by sorting the ids and summing runs, which is much
    faster than ``np.add.at``. With ``sparse=True`` it stays a :class:`RowSparseGrad` of
    the touched rows instead of a full (V, D) array.
    """

    def forward(self, weight, ids, sparse=False):
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"embedding: ids must be integers; got dtype {ids.dtype}")
        if weight.ndim != 2:
            raise ValueError(
                f"embedding: the weight must be a (V, D) matrix; got shape {weight.shape}"
            )
        vocab_size = weight.shape[0]
        if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
            bad = ids.min() if ids.min() < 0 else ids.max()
            raise ValueError(
                f"embedding: id {int(bad)} is out of range for {vocab_size} rows "
                f"(ids must be in [0, {vocab_size}))"
            )
        self.saved = (vocab_size, ids, sparse)
        return np.take(weight, ids, axis=0)

    def backward(self, grad):
        vocab_size, ids, sparse = self.saved
        rows = RowSparseGrad.from_rows(ids, grad.reshape(-1, grad.shape[-1]), vocab_size)
        return rows if sparse else rows.to_dense()


class EmbeddingBag(Function):
    """Weighted sums of embedding rows, fused: out[b] = sum_t w[b, t] E[ids[b, t]].

    The mean pooling of a padded batch of texts (w = mask / length) in one node. Both
    directions go through the rows the batch uses: with u the distinct ids and W (U, B)
    the summed weight of each id in each text, out = W^T E[u] and dL/dE[u] = W g, two
    matrix products instead of a (B, T, D) gather and a scatter of as many rows. The
    gradient is row-sparse when ``sparse``.
    """

    def forward(self, weight, ids, weights, sparse=False):
        ids, weights = check_embedding_bag(weight, ids, weights)
        unique, inverse = np.unique(ids, return_inverse=True)
        batch = ids.shape[0]
        bag = (
            np.bincount(
                inverse.ravel() * batch + np.repeat(np.arange(batch), ids.shape[1]),
                weights=weights.ravel(),
                minlength=len(unique) * batch,
            )
            .reshape(len(unique), batch)
            .astype(weight.dtype)
        )  # (U, B)
        self.saved = (weight.shape, sparse, unique, bag)
        return bag.T @ weight[unique]  # (B, D)

    def backward(self, grad):
        shape, sparse, unique, bag = self.saved
        rows = RowSparseGrad(unique, bag @ grad, shape)  # (U, D)
        return rows if sparse else rows.to_dense()


def check_embedding_bag(
    weight: np.ndarray, ids: Any, weights: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The ids and weights of :class:`EmbeddingBag` as arrays, checked against the table."""
    ids = np.asarray(ids)
    weights = np.asarray(weights, dtype=weight.dtype)
    if ids.ndim != 2 or weights.shape != ids.shape:
        raise ValueError(
            f"embedding_bag: ids and weights must both be (B, T); got {ids.shape} and {weights.shape}"
        )
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding_bag: ids must be integers; got dtype {ids.dtype}")
    vocab_size = weight.shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"embedding_bag: id {int(bad)} is out of range for {vocab_size} rows")
    return ids, weights


class Where(Function):
    """``condition ? a : b`` element-wise; each branch gets the gradient where it was chosen."""

    def forward(self, a, b, condition):
        condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
        if condition.dtype != np.bool_:
            raise TypeError(
                f"where: the condition must be a boolean array; got dtype {condition.dtype}"
            )
        try:
            out = np.where(condition, a, b)
        except ValueError:
            raise ValueError(
                f"where: condition {condition.shape}, a {a.shape} and b {b.shape} cannot be "
                "broadcast together"
            ) from None
        self.saved = (condition, a.shape, b.shape)
        return out

    def backward(self, grad):
        condition, a_shape, b_shape = self.saved
        zero = np.zeros((), dtype=grad.dtype)
        ga = unbroadcast(np.where(condition, grad, zero), a_shape) if self.needs_grad[0] else None
        gb = unbroadcast(np.where(condition, zero, grad), b_shape) if self.needs_grad[1] else None
        return ga, gb


# ---------------------------------------------------------------------------- element-wise


class Exp(Function):
    """e^a; its derivative is itself."""

    def forward(self, a):
        self.saved = np.exp(a)
        return self.saved

    def backward(self, grad):
        return grad * self.saved


class Log(Function):
    """Natural log; d log(a)/da = 1/a."""

    def forward(self, a):
        self.saved = a
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(a)

    def backward(self, grad):
        return grad / self.saved


def _stable_sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: with e = e^-|z| (never above 1), sigma(z) is
    1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0. Keeps full relative precision for
    tiny values (sigma(-50) = 1.9e-22, not 0), which log-probabilities need."""
    e = np.exp(-np.abs(a))
    r = 1 / (1 + e)
    return np.where(a >= 0, r, e * r)


class Sigmoid(Function):
    """sigma(z) = 1 / (1 + e^-z); sigma'(z) = sigma(z) (1 - sigma(z)). Stable at z = +-1e4."""

    def forward(self, a):
        self.saved = _stable_sigmoid(a)
        return self.saved

    def backward(self, grad):
        out = self.saved
        return grad * out * (1 - out)


class Tanh(Function):
    """tanh(z); tanh'(z) = 1 - tanh(z)^2."""

    def forward(self, a):
        self.saved = np.tanh(a)
        return self.saved

    def backward(self, grad):
        out = self.saved
        return grad * (1 - out * out)


class ReLU(Function):
    """max(z, 0); derivative 1 for z > 0 and 0 otherwise (0 at the kink)."""

    def forward(self, a):
        self.saved = a > 0
        return np.maximum(a, 0)

    def backward(self, grad):
        return grad * self.saved


# ---------------------------------------------------------------------------- softmax family


def _log_sum_exp(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Shifted logits a - max(a) and log(sum(exp(a - max(a)))) (keepdims). Subtracting the
    maximum first keeps exp from overflowing for large logits."""
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted, np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class Softmax(Function):
    """softmax(z)_i = exp(z_i) / sum_j exp(z_j) along ``axis``.

    Backward (the Jacobian-vector product): dL/dz = s * (g - sum(g * s)).
    """

    def forward(self, a, axis=-1):
        _normalize_axes(axis, a.ndim, "softmax")
        out = np.exp(a - np.max(a, axis=axis, keepdims=True))
        out /= np.sum(out, axis=axis, keepdims=True)
        self.saved = (out, axis)
        return out

    def backward(self, grad):
        out, axis = self.saved
        return out * (grad - np.sum(grad * out, axis=axis, keepdims=True))


class LogSoftmax(Function):
    """log softmax(z)_i = z_i - log sum_j exp(z_j), computed stably.

    Backward: dL/dz = g - softmax(z) * sum(g).
    """

    def forward(self, a, axis=-1):
        _normalize_axes(axis, a.ndim, "log_softmax")
        shifted, lse = _log_sum_exp(a, axis)
        out = shifted - lse
        self.saved = (out, axis)
        return out

    def backward(self, grad):
        out, axis = self.saved
        return grad - np.exp(out) * np.sum(grad, axis=axis, keepdims=True)


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    check_choice(f"{op}: reduction", reduction, _REDUCTIONS)


def _reduce(losses: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(losses.mean(), dtype=losses.dtype)
    if reduction == "sum":
        return np.asarray(losses.sum(), dtype=losses.dtype)
    return losses


def _reduced_grad(grad: np.ndarray, shape: tuple[int, ...], reduction: str) -> np.ndarray:
    """dL/d(per-example loss) for each example, from dL/d(reduced loss)."""
    if reduction == "none":
        return grad
    count = int(np.prod(shape))
    return np.broadcast_to(grad / count if reduction == "mean" else grad, shape)


class CrossEntropy(Function):
    """Cross-entropy loss from unnormalised logits and integer class targets, fused.

    logits: (..., C); targets: integers (...) in [0, C). Per example,
    L = -log softmax(z)_y = log sum_j exp(z_j) - z_y, and the textbook's gradient is
    dL/dz = softmax(z) - one_hot(y). Fusing the two ops avoids computing log(softmax),
    which underflows to log(0) for confident predictions.
    """

    def forward(self, logits, targets, reduction="mean"):
        targets = check_cross_entropy(logits, targets, reduction)
        shifted, lse = _log_sum_exp(logits, axis=-1)  # z - max z, log sum exp(z - max z)
        picked = np.take_along_axis(shifted, targets[..., None], axis=-1)  # z_y - max z
        losses = (lse - picked)[..., 0]
        self.saved = (np.exp(shifted - lse), targets, reduction)  # softmax(z)
        return _reduce(losses, reduction)

    def backward(self, grad):
        probs, targets, reduction = self.saved
        one_hot = np.zeros_like(probs)
        np.put_along_axis(one_hot, targets[..., None], 1, axis=-1)
        per_example = _reduced_grad(grad, targets.shape, reduction)  # dL/d(loss of each)
        return (probs - one_hot) * per_example[..., None]


def check_cross_entropy(logits: np.ndarray, targets: Any, reduction: str) -> np.ndarray:
    """The targets of :class:`CrossEntropy` as an array, checked against the logits."""
    _check_reduction("cross_entropy", reduction)
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits must have a class axis; got a scalar")
    num_classes = logits.shape[-1]
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"cross_entropy: targets of shape {targets.shape} do not match logits of shape "
            f"{logits.shape}; expected targets of shape {logits.shape[:-1]}"
        )
    if targets.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy: targets must be integer class ids; got dtype {targets.dtype}"
        )
    if targets.size and (targets.min() < 0 or targets.max() >= num_classes):
        bad = targets.min() if targets.min() < 0 else targets.max()
        raise ValueError(
            f"cross_entropy: target {int(bad)} is out of range for {num_classes} classes"
        )
    return targets


class BinaryCrossEntropyWithLogits(Function):
    """Binary cross-entropy from logits z and targets y in [0, 1], fused with the sigmoid.

    L = -[y log sigma(z) + (1 - y) log(1 - sigma(z))] = max(z, 0) - z y + log(1 + e^-|z|),
    the form that never overflows; dL/dz = sigma(z) - y.
    """

    def forward(self, logits, targets, reduction="mean"):
        _check_reduction("binary_cross_entropy_with_logits", reduction)
        y = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=logits.dtype)
        if y.shape != logits.shape:
            raise ValueError(
                f"binary_cross_entropy_with_logits: targets of shape {y.shape} do not match "
                f"logits of shape {logits.shape}"
            )
        losses = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
        self.saved = (logits, y, reduction)
        return _reduce(losses, reduction)

    def backward(self, grad):
        logits, y, reduction = self.saved
        sigma = _stable_sigmoid(logits)
        return (sigma - y) * _reduced_grad(grad, logits.shape, reduction)


# ---------------------------------------------------------------------------- function forms


def add(a: Any, b: Any) -> Tensor:
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    return Div.apply(a, b)


def neg(a: Any) -> Tensor:
    return Neg.apply(a)


def pow(a: Any, b: Any) -> Tensor:
    return Pow.apply(a, b)


def matmul(a: Any, b: Any) -> Tensor:
    """a @ b; raises ValueError naming both shapes when they do not fit."""
    return MatMul.apply(a, b)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x W^T + b for x (..., in), W (out, in), b (out,)."""
    op = backend.implementation(Linear)  # the fast version, unless use("reference")
    return op.apply(x, weight) if bias is None else op.apply(x, weight, bias)


def sum(a: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return Mean.apply(a, axis=axis, keepdims=keepdims)


def max(a: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return Max.apply(a, axis=axis, keepdims=keepdims)


def reshape(a: Any, shape: Sequence[int]) -> Tensor:
    return Reshape.apply(a, shape=tuple(shape))


def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    return Transpose.apply(a, axes=None if axes is None else tuple(axes))


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    if len(tensors) == 0:
        raise ValueError("concatenate: need at least one tensor")
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    if len(tensors) == 0:
        raise ValueError("stack: need at least one tensor")
    return Stack.apply(*tensors, axis=axis)


def gather_rows(weight: Any, ids: Any, sparse: bool = False) -> Tensor:
    """Rows ``ids`` of the matrix ``weight`` (the embedding lookup); see :class:`GatherRows`."""
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    return GatherRows.apply(weight, ids=ids, sparse=sparse)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Element-wise ``condition ? a : b`` for a boolean array ``condition``."""
    return Where.apply(a, b, condition=condition)


def embedding_bag(weight: Any, ids: Any, weights: Any, sparse: bool = False) -> Tensor:
    """Per row b, the sum over t of weights[b, t] * weight[ids[b, t]]; see :class:`EmbeddingBag`."""
    return backend.implementation(EmbeddingBag).apply(
        weight, ids=np.asarray(ids), weights=np.asarray(weights), sparse=sparse
    )


def masked_fill(a: Any, mask: Any, value: float) -> Tensor:
    """``a`` with ``value`` wherever the boolean ``mask`` is True (no gradient flows there)."""
    return Where.apply(value, a, condition=mask)


def exp(a: Any) -> Tensor:
    return Exp.apply(a)


def log(a: Any) -> Tensor:
    return Log.apply(a)


def sigmoid(a: Any) -> Tensor:
    return Sigmoid.apply(a)


def tanh(a: Any) -> Tensor:
    return Tanh.apply(a)


def relu(a: Any) -> Tensor:
    return ReLU.apply(a)


def softmax(a: Any, axis: int = -1) -> Tensor:
    return Softmax.apply(a, axis=axis)


def log_softmax(a: Any, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(a, axis=axis)


def cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Cross-entropy of integer ``targets`` under softmax(``logits``); see :class:`CrossEntropy`."""
    op = backend.implementation(CrossEntropy)  # the fast version, unless use("reference")
    return op.apply(logits, targets=targets, reduction=reduction)


def binary_cross_entropy_with_logits(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``targets`` in [0, 1] under sigmoid(``logits``)."""
    return BinaryCrossEntropyWithLogits.apply(logits, targets=targets, reduction=reduction)
