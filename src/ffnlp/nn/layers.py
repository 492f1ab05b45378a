"""Layers: Linear, Embedding, Dropout, activations, Sequential, MLP and pooling."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ffnlp.autograd import Tensor, ops
from ffnlp.checks import check_choice, check_int, check_probability
from ffnlp.nn import functional as F
from ffnlp.nn import init as nn_init
from ffnlp.nn.module import Module, Parameter


class Linear(Module):
    """A layer of units: z = W x + b for each input row x, i.e. x W^T + b for a batch.

    Args:
        in_features: size of each input (n_in).
        out_features: number of units (n_out).
        bias: learn a bias vector b.
        bias_as_input: fold the bias into the weights, as the textbook's dummy input
            x0 = 1: the weight becomes (out, 1 + in) with column 0 holding b, and each input
            gets a leading 1. The outputs and gradients are exactly those of W x + b.
        init: weight initialiser name ("xavier", "he", ...; see ``nn.init``).
        rng: seed or Generator for the initial weights.
        dtype: parameter dtype (float32 by default).

    Attributes:
        weight: W, shape (out_features, in_features), or (out, 1 + in) with bias_as_input.
        bias: b, shape (out_features,), or None.

    >>> layer = Linear(3, 2, rng=0)
    >>> layer(Tensor(np.ones((4, 3), dtype=np.float32))).shape
    (4, 2)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_as_input: bool = False,
        init: str = "xavier",
        rng: nn_init.RngLike = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        self.bias_as_input = bool(bias_as_input and bias)
        weight = nn_init.initializer(init)((self.out_features, self.in_features), rng, dtype=dtype)
        if self.bias_as_input:
            weight = np.concatenate([np.zeros((self.out_features, 1), dtype=dtype), weight], axis=1)
            self.weight = Parameter(weight)
            self.bias = None
        else:
            self.weight = Parameter(weight)
            self.bias = Parameter(np.zeros(self.out_features, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.bias_as_input:
            ones = np.ones((*x.shape[:-1], 1), dtype=x.dtype)
            return ops.linear(ops.concatenate([ones, x], axis=-1), self.weight)
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        flags = (
            ", bias_as_input=True"
            if self.bias_as_input
            else ("" if self.bias is not None else ", bias=False")
        )
        return f"{self.in_features}, {self.out_features}{flags}"


class Embedding(Module):
    """A lookup table E of shape (|V|, d): row i is the embedding of token i.

    ``forward(ids)`` returns E[ids], shape ids.shape + (d,). This equals multiplying the
    one-hot vector of each id by E, without building the one-hot vectors.

    Args:
        num_embeddings: vocabulary size |V|.
        embedding_dim: d.
        std: initial weights are N(0, std^2); by default 1/sqrt(d), so a vector's length is
            about 1 whatever d is; 0 starts every vector at zero (no random draw).
        sparse: give the weight a row-sparse gradient (only the rows a batch used; see
            :mod:`ffnlp.autograd.sparse`), for large tables.
        rng: seed or Generator.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        std: float | None = None,
        sparse: bool = False,
        rng: nn_init.RngLike = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.sparse = bool(sparse)
        self.num_embeddings = check_int("num_embeddings", num_embeddings, minimum=1)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, minimum=1)
        std = 1.0 / np.sqrt(self.embedding_dim) if std is None else std
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight = Parameter(
            np.zeros(shape, dtype) if std == 0 else nn_init.normal(shape, std, rng, dtype)
        )

    @classmethod
    def from_pretrained(cls, vectors: Any, freeze: bool = False) -> Embedding:
        """An Embedding holding the given (|V|, d) matrix; ``freeze`` keeps it fixed."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.dtype.kind != "f":
            raise ValueError(
                f"from_pretrained: need a 2-D float matrix; got shape {vectors.shape}, dtype {vectors.dtype}"
            )
        layer = cls(vectors.shape[0], vectors.shape[1], rng=0, dtype=vectors.dtype)
        layer.weight = Parameter(vectors.copy(), requires_grad=not freeze)
        return layer

    def forward(self, ids: Any) -> Tensor:
        return ops.gather_rows(self.weight, ids, sparse=self.sparse)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    """Inverted dropout (Srivastava et al. 2014) during training; the identity in eval mode.

    Args:
        p: probability of zeroing each element, in [0, 1).
        rng: seed or Generator for the masks (by default, one drawn from the default
            generator when the layer is made, so runs with the same seed repeat exactly).
    """

    def __init__(self, p: float = 0.5, rng: nn_init.RngLike = None) -> None:
        super().__init__()
        check_probability("dropout", p)
        self.p = float(p)
        self.rng = np.random.default_rng(nn_init.as_generator(rng).integers(2**63))

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.rng, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.tanh(x)


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.relu(x)


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Softmax(Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return ops.softmax(x, axis=self.axis)


ACTIVATIONS: dict[str, type[Module]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "identity": Identity,
}


def activation(name: str) -> Module:
    """An activation module by name: "sigmoid", "tanh", "relu" or "identity"."""
    return ACTIVATIONS[check_choice("activation", name, sorted(ACTIVATIONS))]()


class Sequential(Module):
    """Modules applied one after another; they are registered as "0", "1", ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: item {i} is a {type(module).__name__}, not a Module")
            setattr(self, str(i), module)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x


class MLP(Sequential):
    """A fully connected feedforward network: Linear, activation (and dropout) per hidden
    layer, then a final Linear producing the output scores (logits; the softmax belongs to
    the loss, or apply it yourself).

    Args:
        sizes: [n_in, n_hidden_1, ..., n_out]; at least two entries.
        activation: "tanh", "relu" or "sigmoid" for the hidden layers.
        dropout: dropout probability after each hidden activation.
        bias_as_input: fold biases into weights (see :class:`Linear`).
        init: weight initialiser; by default He for ReLU, Xavier otherwise.
        rng: seed or Generator.
        activate_last: the last layer too is followed by the activation (and dropout):
            hidden layers only, whose output feeds another layer (the language model's
            output layer), not scores.

    >>> net = MLP([2, 2, 1], activation="relu", rng=0)
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "tanh",
        dropout: float = 0.0,
        bias_as_input: bool = False,
        init: str | None = None,
        rng: nn_init.RngLike = None,
        dtype: Any = np.float32,
        activate_last: bool = False,
    ) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size; got {sizes}")
        for i, size in enumerate(sizes):
            check_int(f"MLP sizes[{i}]", size, minimum=1)
        check_choice("activation", activation, sorted(ACTIVATIONS))
        check_probability("dropout", dropout)
        init_name = init or ("he" if activation == "relu" else "xavier")
        rng = nn_init.as_generator(rng)
        layers: list[Module] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            layers.append(
                Linear(
                    n_in, n_out, bias_as_input=bias_as_input, init=init_name, rng=rng, dtype=dtype
                )
            )
            if i < len(sizes) - 2 or activate_last:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(Dropout(dropout, rng=rng))
        super().__init__(*layers)
        self.sizes = sizes
        self.activation = activation

    @staticmethod
    def parameter_shapes(
        sizes: Sequence[int], dropout: float = 0.0, prefix: str = "", activate_last: bool = False
    ) -> dict[str, tuple[int, ...]]:
        """The names and shapes of the parameters ``MLP(sizes, dropout=dropout)`` has
        (``prefix`` + "0.weight", ...), without building it: a file can be checked against
        its configuration before any memory is spent on it."""
        shapes: dict[str, tuple[int, ...]] = {}
        index = 0
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            shapes[f"{prefix}{index}.weight"] = (n_out, n_in)
            shapes[f"{prefix}{index}.bias"] = (n_out,)
            last = i == len(sizes) - 2 and not activate_last
            index += 1 if last else (3 if dropout > 0 else 2)
        return shapes


POOLING_MODES = ("mean", "max", "mean+max", "concat", "weighted")


class Pooling(Module):
    """Combine a padded batch of vectors (B, T, D) into one vector per row.

    Modes: "mean" and "max" (component-wise) give (B, D); "mean+max" concatenates both,
    (B, 2D); "concat" gives (B, T*D); "weighted" is the sum of the vectors, each times a
    weight (B, T) given with them, (B, D). ``forward(x, mask)`` takes a boolean mask
    (B, T), True at real tokens; padding never reaches the result or the gradient.
    :meth:`rows` pools the rows of an embedding table that a batch of ids names, the way
    every model on bags of words does.
    """

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        check_choice("pooling mode", mode, POOLING_MODES)
        self.mode = mode

    def forward(self, x: Tensor, mask: Any = None, weights: Any = None) -> Tensor:
        if mask is None:
            mask = np.ones(x.shape[:2], dtype=bool)
        if self.mode == "weighted":
            if weights is None:
                raise ValueError("pooling mode 'weighted' needs weights of shape (B, T)")
            w = np.where(mask, np.asarray(weights, dtype=x.dtype), 0)
            return (x * Tensor(w[:, :, None])).sum(axis=1)
        if weights is not None:
            raise ValueError(f"pooling mode {self.mode!r} takes no weights; use 'weighted'")
        if self.mode == "mean":
            return F.mean_pool(x, mask)
        if self.mode == "max":
            return F.max_pool(x, mask)
        if self.mode == "mean+max":
            return ops.concatenate([F.mean_pool(x, mask), F.max_pool(x, mask)], axis=-1)
        return F.concat_pool(x, mask)

    def rows(
        self, embedding: Embedding, ids: np.ndarray, mask: np.ndarray, weights: Any = None
    ) -> Tensor:
        """The pooling of ``embedding``'s rows named by ``ids`` (B, T), mask (B, T) bool:
        ``forward(embedding(ids), mask, weights)``. The mean and the weighted sum are one
        fused :func:`~ffnlp.autograd.ops.embedding_bag` node instead, with no (B, T, D)
        tensor in either direction (the same numbers, tested against ``forward``)."""
        if self.mode == "mean":
            weights = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)  # 1/length or 0
        elif self.mode == "weighted":
            if weights is None:
                raise ValueError("pooling mode 'weighted' needs weights of shape (B, T)")
            weights = np.where(mask, weights, 0)
        else:
            return self.forward(embedding(ids), mask, weights)
        return ops.embedding_bag(embedding.weight, ids, weights, sparse=embedding.sparse)

    def extra_repr(self) -> str:
        return repr(self.mode)
