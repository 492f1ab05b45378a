"""The table that drives the op tests: for each op, how to call it in ffnlp, in NumPy (the
forward reference) and in PyTorch, and which inputs it takes.

Each entry's ``cases`` yields argument lists for a given random generator: input arrays
(float, to be differentiated) plus fixed settings. Inputs stay away from kinks (relu at 0),
poles (log and div at 0) and ties (max), where a derivative does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ffnlp.autograd import ops


def values(shape: tuple[int, ...], rng: np.random.Generator, domain: str = "any") -> np.ndarray:
    """Random float64 values of ``shape`` from a domain where the ops are smooth."""
    if domain == "any":
        return rng.uniform(-2, 2, size=shape)
    if domain == "positive":
        return rng.uniform(0.5, 2, size=shape)
    if domain == "nonzero":  # |x| >= 0.2, away from the kink of relu and the pole of 1/x
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2, size=shape)
    if domain == "distinct":  # pairwise at least 0.1 apart, so max has no ties
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(0, 0.01, n)).reshape(shape)
    raise ValueError(domain)


@dataclass
class Case:
    """One call: the differentiable inputs and keyword settings."""

    inputs: list[np.ndarray]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Case(shapes={[x.shape for x in self.inputs]}, kwargs={self.kwargs})"


@dataclass
class OpSpec:
    name: str
    ours: Callable[..., Any]  # (*tensors, **kwargs) -> Tensor
    reference: Callable[..., np.ndarray]  # (*arrays, **kwargs) -> ndarray
    torch: Callable[..., Any] | None  # (torch, *torch_tensors, **kwargs) -> torch.Tensor
    cases: Callable[[np.random.Generator], Iterator[Case]]


# ---------------------------------------------------------------------------- shapes

BINARY_SHAPES = [
    ((), ()),
    ((3,), ()),
    ((), (3,)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((1,), (4,)),
    ((2, 3, 4), (3, 1)),
    ((1, 1), (1, 1)),
    ((2, 3), (2, 3)),
]
UNARY_SHAPES = [(), (1,), (5,), (1, 3), (2, 3), (2, 1, 3)]


def _binary(domain_a: str, domain_b: str) -> Callable[[np.random.Generator], Iterator[Case]]:
    def cases(rng: np.random.Generator) -> Iterator[Case]:
        for sa, sb in BINARY_SHAPES:
            yield Case([values(sa, rng, domain_a), values(sb, rng, domain_b)])

    return cases


def _unary(domain: str) -> Callable[[np.random.Generator], Iterator[Case]]:
    def cases(rng: np.random.Generator) -> Iterator[Case]:
        for shape in UNARY_SHAPES:
            yield Case([values(shape, rng, domain)])

    return cases


def _reduction(domain: str) -> Callable[[np.random.Generator], Iterator[Case]]:
    def cases(rng: np.random.Generator) -> Iterator[Case]:
        settings = [
            ((), None, False),
            ((4,), None, False),
            ((4,), 0, True),
            ((2, 3), 0, False),
            ((2, 3), 1, True),
            ((2, 3), -1, False),
            ((2, 1, 3), (0, 2), False),
            ((2, 1, 3), (0, 2), True),
            ((2, 3, 4), None, True),
        ]
        for shape, axis, keepdims in settings:
            yield Case([values(shape, rng, domain)], {"axis": axis, "keepdims": keepdims})

    return cases


def _torch_reduce(name: str) -> Callable[..., Any]:
    def fn(torch: Any, x: Any, axis: Any, keepdims: bool) -> Any:
        dims = tuple(range(x.ndim)) if axis is None else axis
        if name == "sum":
            return torch.sum(x, dim=dims, keepdim=keepdims) if x.ndim else x.clone()
        if name == "mean":
            return torch.mean(x, dim=dims, keepdim=keepdims) if x.ndim else x.clone()
        return torch.amax(x, dim=dims, keepdim=keepdims) if x.ndim else x.clone()

    return fn


def _softmax_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape, axis in [
        ((1,), -1),
        ((5,), 0),
        ((2, 3), -1),
        ((2, 3), 0),
        ((2, 1, 4), 1),
        ((2, 3, 4), 2),
    ]:
        yield Case([values(shape, rng) * 2], {"axis": axis})


def _matmul_cases(rng: np.random.Generator) -> Iterator[Case]:
    for sa, sb in [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((1, 1), (1, 1)),
        ((2, 3), (3, 4)),
        ((2, 2, 3), (3, 4)),
        ((2, 3), (2, 3, 4)),
        ((2, 1, 2, 3), (3, 3, 2)),
    ]:
        yield Case([values(sa, rng), values(sb, rng)])


def _linear_cases(rng: np.random.Generator) -> Iterator[Case]:
    for batch, n_in, n_out, bias in [
        ((4,), 3, 2, True),
        ((1,), 1, 1, True),
        ((2, 3), 4, 5, True),
        ((4,), 3, 2, False),
        ((), 3, 2, True),
    ]:
        inputs = [values((*batch, n_in), rng), values((n_out, n_in), rng)]
        if bias:
            inputs.append(values((n_out,), rng))
        yield Case(inputs)


def _reshape_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape, new in [
        ((), (1,)),
        ((6,), (2, 3)),
        ((2, 3), (3, 2)),
        ((2, 3, 4), (4, -1)),
        ((1, 4), (4,)),
    ]:
        yield Case([values(shape, rng)], {"shape": new})


def _transpose_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape, axes in [
        ((2, 3), None),
        ((1, 3), None),
        ((2, 3, 4), (1, 0, 2)),
        ((2, 3, 4), (2, 0, 1)),
        ((4,), None),
    ]:
        yield Case([values(shape, rng)], {"axes": axes})


def _concatenate_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shapes, axis in [
        ([(2,), (3,)], 0),
        ([(2, 3), (1, 3), (2, 3)], 0),
        ([(2, 1), (2, 4)], 1),
        ([(1, 2, 3), (1, 2, 1)], -1),
    ]:
        yield Case([values(s, rng) for s in shapes], {"axis": axis})


def _stack_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape, count, axis in [
        ((), 3, 0),
        ((3,), 2, 0),
        ((2, 3), 3, 1),
        ((2, 3), 2, -1),
        ((1,), 1, 0),
    ]:
        yield Case([values(shape, rng) for _ in range(count)], {"axis": axis})


def _index_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape, index in [
        ((5,), 2),
        ((5,), slice(1, 4)),
        ((3, 4), (slice(None), 1)),
        ((3, 4), np.array([0, 2, 0])),  # row 0 twice: its gradient is the sum
        ((3, 4), (np.array([0, 1, 1]), np.array([3, 2, 2]))),
        ((2, 3, 4), (Ellipsis, None, 0)),
    ]:
        yield Case([values(shape, rng)], {"index": index})


def _gather_cases(rng: np.random.Generator) -> Iterator[Case]:
    for vocab, dim, ids in [
        (5, 3, np.array([0, 4, 4, 2])),
        (1, 1, np.array([0])),
        (6, 2, np.array([[1, 2, 3], [3, 1, 5]])),
        (4, 3, np.array(2)),
        (3, 2, np.zeros((0,), dtype=np.int64)),
    ]:
        yield Case([values((vocab, dim), rng)], {"ids": ids})


def _bag_cases(rng: np.random.Generator) -> Iterator[Case]:
    for vocab, dim, ids in [
        (6, 3, np.array([[0, 4, 4], [2, 0, 5]])),
        (1, 1, np.array([[0]])),
        (5, 2, np.array([[1, 2], [3, 1], [4, 4]])),
    ]:
        yield Case(
            [values((vocab, dim), rng)], {"ids": ids, "weights": rng.uniform(0, 1, ids.shape)}
        )


def _np_bag(w, ids, weights):
    return (w[ids] * weights[..., None]).sum(axis=1)


def _where_cases(rng: np.random.Generator) -> Iterator[Case]:
    for sa, sb, sc in [
        ((3,), (3,), (3,)),
        ((2, 3), (), (2, 3)),
        ((2, 1), (1, 3), (2, 3)),
        ((), (), ()),
    ]:
        yield Case([values(sa, rng), values(sb, rng)], {"condition": rng.random(sc) < 0.5})


def _masked_fill_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape, mask_shape, value in [
        ((3,), (3,), 0.0),
        ((2, 3), (2, 1), -5.0),
        ((2, 3), (3,), 1.5),
        ((), (), 2.0),
    ]:
        yield Case([values(shape, rng)], {"mask": rng.random(mask_shape) < 0.5, "value": value})


def _cross_entropy_cases(rng: np.random.Generator) -> Iterator[Case]:
    for batch, classes in [((4,), 3), ((1,), 1), ((), 5), ((2, 3), 4), ((6,), 2)]:
        for reduction in ("mean", "sum", "none"):
            targets = rng.integers(0, classes, size=batch)
            yield Case(
                [values((*batch, classes), rng) * 2], {"targets": targets, "reduction": reduction}
            )


def _bce_cases(rng: np.random.Generator) -> Iterator[Case]:
    for shape in [(), (4,), (2, 3)]:
        for reduction in ("mean", "sum", "none"):
            yield Case(
                [values(shape, rng) * 2], {"targets": rng.random(shape), "reduction": reduction}
            )
    # label sets, as the one-vs-all loss gives them: a 0/1 row of classes for each text
    labels = (rng.random((4, 5)) < 0.4).astype(np.float64)
    yield Case([values((4, 5), rng) * 2], {"targets": labels, "reduction": "sum"})


def _torch_ce(torch: Any, z: Any, targets: Any, reduction: str) -> Any:
    t = torch.as_tensor(targets)
    losses = torch.nn.functional.cross_entropy(
        z.reshape(-1, z.shape[-1]), t.reshape(-1), reduction="none"
    )
    losses = losses.reshape(t.shape)
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def _np_ce(z: np.ndarray, targets: Any, reduction: str) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    losses = -np.take_along_axis(logp, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def _np_bce(z: np.ndarray, targets: Any, reduction: str) -> np.ndarray:
    p = 1 / (1 + np.exp(-z))
    losses = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def _torch_bce(torch: Any, z: Any, targets: Any, reduction: str) -> Any:
    return torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.as_tensor(targets, dtype=z.dtype), reduction=reduction
    )


def _np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_linear(x, w, b=None):
    out = x @ w.T
    return out if b is None else out + b


def _torch_max(torch: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    return _torch_reduce("max")(torch, x, axis, keepdims)


OPS: list[OpSpec] = [
    OpSpec("add", ops.add, np.add, lambda T, a, b: a + b, _binary("any", "any")),
    OpSpec("sub", ops.sub, np.subtract, lambda T, a, b: a - b, _binary("any", "any")),
    OpSpec("mul", ops.mul, np.multiply, lambda T, a, b: a * b, _binary("any", "any")),
    OpSpec("div", ops.div, np.divide, lambda T, a, b: a / b, _binary("any", "nonzero")),
    OpSpec("pow", ops.pow, np.power, lambda T, a, b: a**b, _binary("positive", "any")),
    OpSpec("neg", ops.neg, np.negative, lambda T, a: -a, _unary("any")),
    OpSpec("exp", ops.exp, np.exp, lambda T, a: T.exp(a), _unary("any")),
    OpSpec("log", ops.log, np.log, lambda T, a: T.log(a), _unary("positive")),
    OpSpec(
        "sigmoid",
        ops.sigmoid,
        lambda a: 1 / (1 + np.exp(-a)),
        lambda T, a: T.sigmoid(a),
        _unary("any"),
    ),
    OpSpec("tanh", ops.tanh, np.tanh, lambda T, a: T.tanh(a), _unary("any")),
    OpSpec("relu", ops.relu, lambda a: np.maximum(a, 0), lambda T, a: T.relu(a), _unary("nonzero")),
    OpSpec("matmul", ops.matmul, np.matmul, lambda T, a, b: a @ b, _matmul_cases),
    OpSpec(
        "linear",
        ops.linear,
        _np_linear,
        lambda T, x, w, b=None: T.nn.functional.linear(x, w, b),
        _linear_cases,
    ),
    OpSpec(
        "sum",
        ops.sum,
        lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims),
        _torch_reduce("sum"),
        _reduction("any"),
    ),
    OpSpec(
        "mean",
        ops.mean,
        lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims),
        _torch_reduce("mean"),
        _reduction("any"),
    ),
    OpSpec(
        "max",
        ops.max,
        lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims),
        _torch_max,
        _reduction("distinct"),
    ),
    OpSpec(
        "reshape",
        ops.reshape,
        lambda a, shape: a.reshape(shape),
        lambda T, a, shape: a.reshape(shape),
        _reshape_cases,
    ),
    OpSpec(
        "transpose",
        ops.transpose,
        lambda a, axes: np.transpose(a, axes),
        lambda T, a, axes: a.permute(*(axes or range(a.ndim - 1, -1, -1))),
        _transpose_cases,
    ),
    OpSpec(
        "concatenate",
        lambda *xs, axis: ops.concatenate(xs, axis=axis),
        lambda *xs, axis: np.concatenate(xs, axis=axis),
        lambda T, *xs, axis: T.cat(xs, dim=axis),
        _concatenate_cases,
    ),
    OpSpec(
        "stack",
        lambda *xs, axis: ops.stack(xs, axis=axis),
        lambda *xs, axis: np.stack(xs, axis=axis),
        lambda T, *xs, axis: T.stack(xs, dim=axis),
        _stack_cases,
    ),
    OpSpec(
        "index",
        lambda a, index: a[index],
        lambda a, index: a[index],
        lambda T, a, index: a[
            tuple(T.as_tensor(i) if isinstance(i, np.ndarray) else i for i in index)
            if isinstance(index, tuple)
            else (T.as_tensor(index) if isinstance(index, np.ndarray) else index)
        ],
        _index_cases,
    ),
    OpSpec(
        "gather_rows",
        ops.gather_rows,
        lambda w, ids: w[ids],
        lambda T, w, ids: T.nn.functional.embedding(T.as_tensor(ids), w),
        _gather_cases,
    ),
    OpSpec(
        "where",
        lambda a, b, condition: ops.where(condition, a, b),
        lambda a, b, condition: np.where(condition, a, b),
        lambda T, a, b, condition: T.where(T.as_tensor(condition), a, b),
        _where_cases,
    ),
    OpSpec(
        "embedding_bag",
        ops.embedding_bag,
        _np_bag,
        lambda T, w, ids, weights: T.nn.functional.embedding_bag(
            T.as_tensor(ids), w, per_sample_weights=T.as_tensor(weights, dtype=w.dtype), mode="sum"
        ),
        _bag_cases,
    ),
    OpSpec(
        "masked_fill",
        ops.masked_fill,
        lambda a, mask, value: np.where(mask, value, a),
        lambda T, a, mask, value: a.masked_fill(T.as_tensor(mask), value),
        _masked_fill_cases,
    ),
    OpSpec(
        "softmax",
        ops.softmax,
        _np_softmax,
        lambda T, a, axis: T.softmax(a, dim=axis),
        _softmax_cases,
    ),
    OpSpec(
        "log_softmax",
        ops.log_softmax,
        lambda a, axis: np.log(_np_softmax(a, axis)),
        lambda T, a, axis: T.log_softmax(a, dim=axis),
        _softmax_cases,
    ),
    OpSpec("cross_entropy", ops.cross_entropy, _np_ce, _torch_ce, _cross_entropy_cases),
    OpSpec(
        "binary_cross_entropy_with_logits",
        ops.binary_cross_entropy_with_logits,
        _np_bce,
        _torch_bce,
        _bce_cases,
    ),
]

OPS_BY_NAME = {spec.name: spec for spec in OPS}
