"""The Tensor and the computation graph it records.

A :class:`Tensor` wraps a NumPy array. When it is made by an op (see ``ops.py``) it keeps a
reference to that op's context, which holds the op's inputs (its parents in the graph) and
whatever the op saved for its backward pass. :meth:`Tensor.backward` walks this graph from the
output back to the leaves in reverse topological order and applies the chain rule at each
node: the textbook's backward pass, right to left.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_DTYPE = np.float32

_grad_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph (False inside :func:`no_grad`)."""
    return getattr(_grad_state, "enabled", True)


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) in which ops do not record the graph.

    Use it for evaluation and for parameter updates: it saves the memory and time of
    building a graph that nobody will differentiate.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self) -> no_grad:
        self._previous = is_grad_enabled()
        _grad_state.enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        _grad_state.enabled = self._previous


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    """Convert ``data`` to an ndarray: floats become ``dtype`` (float32 by default),
    existing float arrays keep their precision, integer and bool arrays stay as they are."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        if data.dtype.kind in "fiub":
            return np.asarray(data)
        raise TypeError(
            f"Tensor: unsupported array dtype {data.dtype}; use a float, int or bool array"
        )
    array = np.asarray(data)
    if array.dtype.kind == "f":
        return array.astype(DEFAULT_DTYPE, copy=False)
    if array.dtype.kind in "iub":
        return array
    raise TypeError(
        f"Tensor: cannot make a tensor from {type(data).__name__} (dtype {array.dtype}); "
        "give numbers, nested lists of numbers or a numeric NumPy array"
    )


class Tensor:
    """A NumPy array that remembers how it was computed, so it can be differentiated.

    Args:
        data: numbers, nested lists or an ndarray. Python floats and lists become float32
            (the default precision); NumPy arrays and scalars keep their dtype, so float64
            stays float64 (use it for gradient checks) and integers stay integers (token
            ids, labels).
        requires_grad: whether gradients should flow to this tensor. Only floating tensors
            can require gradients.
        dtype: force a dtype, e.g. ``np.float64``.
        name: an optional label, shown in error messages and graph pictures.

    After ``loss.backward()``, every leaf tensor with ``requires_grad=True`` that the loss
    depends on has its gradient ``dloss/dtensor`` in ``.grad`` (an ndarray of its shape).

    >>> a, b, c = Tensor(3.0, requires_grad=True), Tensor(1.0, requires_grad=True), Tensor(-2.0, requires_grad=True)
    >>> L = c * (a + 2 * b)
    >>> L.backward()
    >>> float(L.data), float(a.grad), float(b.grad), float(c.grad)
    (-10.0, -2.0, -4.0, 5.0)
    """

    __slots__ = ("__weakref__", "_ctx", "_retain_grad", "data", "grad", "name", "requires_grad")
    __array_priority__ = 1000  # so ndarray * Tensor calls Tensor.__rmul__

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        self.data: np.ndarray = _as_array(data, dtype)
        self.grad: np.ndarray | None = None
        self._ctx = None  # the op context that produced this tensor; None for leaves
        self._retain_grad = False
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs and parameters)."""
        return self._ctx is None

    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor, or None for a leaf."""
        return None if self._ctx is None else type(self._ctx).__name__

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from (empty for a leaf)."""
        return () if self._ctx is None else self._ctx.parents

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        extra = f", op={self.op}" if self._ctx is not None else ""
        extra += ", requires_grad=True" if self.requires_grad else ""
        extra += f", dtype={self.dtype}" if self.dtype != DEFAULT_DTYPE else ""
        return f"Tensor({body}{extra})"

    # ------------------------------------------------------------------ grad bookkeeping
    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        if flag and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad: only floating tensors can require gradients; got dtype "
                f"{self.data.dtype}{f' for {self.name!r}' if self.name else ''}. "
                "Convert with .astype(np.float32) or Tensor(data, dtype=np.float64)"
            )
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self) -> Tensor:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward (leaves always do)."""
        self._retain_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this one's data, cut off from the graph."""
        return Tensor(self.data, requires_grad=False, name=self.name)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(
                f"item: only a one-element tensor can become a number; shape is {self.shape}"
            )
        return self.data.item()

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype`` (differentiable for float to float)."""
        from ffnlp.autograd import ops

        return ops.Cast.apply(self, dtype=np.dtype(dtype))

    # ------------------------------------------------------------------ backward
    def backward(self, grad: Any = None, retain_grads: bool = False) -> None:
        """Reverse-mode differentiation: fill ``.grad`` of every leaf this tensor depends on.

        Args:
            grad: dL/dself, same shape as self. Defaults to 1 for a one-element tensor.
            retain_grads: keep ``.grad`` on every intermediate tensor as well (used to draw
                graphs with their backward values); by default only leaves keep theirs.

        Gradients accumulate: call ``zero_grad`` (or ``Module.zero_grad``) between steps.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require gradients (no input had "
                "requires_grad=True, or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward: a gradient must be given for a non-scalar output of shape {self.shape}"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward: gradient shape {grad.shape} does not match tensor shape {self.shape}"
                )

        grads: dict[int, np.ndarray] = {id(self): grad}
        stored: set[int] = set()  # ids of arrays already stored in some .grad
        for node in reversed(topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            ctx = node._ctx
            if ctx is None or retain_grads or node._retain_grad:
                if node.grad is not None:
                    node.grad = node.grad + g
                elif id(g) in stored or (
                    isinstance(g, np.ndarray) and (g.base is not None or not g.flags.writeable)
                ):
                    # A view, or an array already handed to another tensor: copy it, so
                    # every .grad is its own writable array (optimizers may work in place).
                    node.grad = np.array(g) if isinstance(g, np.ndarray) else g.copy()
                else:
                    node.grad = g
                stored.add(id(node.grad))
            if ctx is None:
                continue
            parent_grads = ctx.backward(g)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            for parent, pg in zip(ctx.parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                previous = grads.get(key)
                # A tensor used more than once receives the sum of its gradients.
                grads[key] = pg if previous is None else previous + pg

    # ------------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Tensor:
        return _ops().Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops().Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops().Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops().Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops().Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops().Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops().Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops().Div.apply(other, self)

    def __neg__(self) -> Tensor:
        return _ops().Neg.apply(self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops().Pow.apply(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops().Pow.apply(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops().MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops().MatMul.apply(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops().Index.apply(self, index=index)

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _data(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _data(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _data(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _data(other)

    __hash__ = object.__hash__  # tensors are graph nodes, hashed by identity

    # ------------------------------------------------------------------ methods
    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops().Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops().Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return _ops().Max.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().Reshape.apply(self, shape=shape)

    def transpose(self, *axes: int) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops().Transpose.apply(self, axes=axes or None)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def exp(self) -> Tensor:
        return _ops().Exp.apply(self)

    def log(self) -> Tensor:
        return _ops().Log.apply(self)

    def sigmoid(self) -> Tensor:
        return _ops().Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return _ops().Tanh.apply(self)

    def relu(self) -> Tensor:
        return _ops().ReLU.apply(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops().Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops().LogSoftmax.apply(self, axis=axis)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


@functools.cache
def _ops() -> Any:
    # ops.py imports this module, so the operator methods look it up lazily.
    from ffnlp.autograd import ops

    return ops


def topological_order(root: Tensor, constants: bool = False) -> list[Tensor]:
    """Tensors that ``root`` depends on (and that require grad), parents before children.

    Iterative depth-first search, so graphs of any depth work without recursion.

    Args:
        root: the output; it comes last.
        constants: also follow the tensors that need no gradient (the 2 in 2b), as a picture
            of the graph does (:mod:`ffnlp.viz.graph`); parents are then visited first
            argument first, so a drawing numbers its nodes in the order the expression
            reads. Without it (what ``backward`` uses) the last argument is visited first:
            that order fixes the order in which gradients are summed, so it stays as it is.

    >>> a = Tensor(3.0, requires_grad=True)
    >>> L = a * 2 + a
    >>> [t.op for t in topological_order(L)]
    [None, 'Mul', 'Add']
    >>> len(topological_order(L, constants=True))  # the 2 as well
    4
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is None:
            continue
        if constants:
            stack.extend((p, False) for p in reversed(node._ctx.parents) if id(p) not in visited)
            continue
        for parent in node._ctx.parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


class Function:
    """Base class of every op: ``forward`` on arrays, ``backward`` from dL/doutput to the
    gradients of the inputs, side by side in one small class.

    ``apply`` wraps the inputs as tensors, runs ``forward`` on their arrays and, when any
    input requires a gradient (and grad mode is on), records itself as the output's maker.
    Keyword arguments are non-differentiable settings (axes, shapes, indices) and are passed
    to ``forward``. ``backward`` returns one gradient per tensor input (None where an input
    needs none); ``self.needs_grad[i]`` says which inputs want one.
    """

    __slots__ = ("needs_grad", "parents", "saved")

    def forward(self, *arrays: np.ndarray, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...] | np.ndarray:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Tensor:
        tensors = _as_tensors(inputs)
        ctx = cls()
        out = Tensor.__new__(Tensor)
        out.data = ctx.forward(*[t.data for t in tensors], **kwargs)
        out.grad = None
        out.name = None
        out._retain_grad = False
        if is_grad_enabled() and any(t.requires_grad for t in tensors):
            ctx.parents = tensors
            ctx.needs_grad = tuple(t.requires_grad for t in tensors)
            out._ctx = ctx
            out.requires_grad = True
        else:
            out._ctx = None
            out.requires_grad = False
        return out


def _as_tensors(inputs: Sequence[Any]) -> tuple[Tensor, ...]:
    """Wrap non-tensor inputs as constants with the dtype of the first floating tensor, so a
    Python or NumPy number never silently upcasts float32 work to float64."""
    if all(isinstance(x, Tensor) for x in inputs):
        return tuple(inputs)
    dtype = next(
        (x.data.dtype for x in inputs if isinstance(x, Tensor) and x.data.dtype.kind == "f"),
        DEFAULT_DTYPE,
    )
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            out.append(x)
        elif isinstance(x, np.ndarray) and x.dtype.kind in "iub" and x.ndim > 0:
            out.append(Tensor(x))  # masks and index arrays keep their type
        else:
            out.append(Tensor(x, dtype=dtype))
    return tuple(out)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a tensor; see :class:`Tensor`."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape: int, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape: int, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)
