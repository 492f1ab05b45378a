"""Pictures of the computation graph: Graphviz DOT text, rendered to SVG/PNG by ``dot``.

Each tensor is one node, labelled with its name (when it has one), the op that made it, its
shape and, for small tensors, its forward value and, after ``backward(retain_grads=True)``,
its gradient dL/dnode, the way the chapter draws L(a, b, c) = c(a + 2b). Edges run forward,
from inputs to outputs. A graph too big to read (a real model's training step) is summarised
by layer: one box per module, named after the parameters its ops consume.

The DOT text is written by hand (the format is simple); turning it into a picture needs
Graphviz's ``dot`` program (Debian: ``apt-get install graphviz``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ffnlp.autograd import Tensor, topological_order
from ffnlp.autograd.sparse import as_dense
from ffnlp.nn import Linear, Module
from ffnlp.nn import functional as F

RENDERED_FORMATS = ("svg", "png", "pdf")
MAX_NODES = 60  # more nodes than this and the graph is summarised by layer
MAX_SHOWN_VALUES = 6  # tensors with more elements show their shape only

_LEAF_COLOR = "#dbe9f6"  # inputs and parameters, the values gradients flow back to
_CONSTANT_COLOR = "#eeeeee"
_GRAD_COLOR = "#c0392b"  # the textbook prints backward values in red


def graph_tensors(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` was computed from, constants included, parents before children.

    Backward follows only the tensors that need a gradient; a picture also shows constants
    such as the 2 in 2b: :func:`ffnlp.autograd.topological_order` with ``constants=True``.
    """
    return topological_order(root, constants=True)


def to_dot(
    root: Tensor,
    module: Module | None = None,
    title: str | None = None,
    max_nodes: int = MAX_NODES,
    summarise: bool | None = None,
) -> str:
    """The graph behind ``root`` as Graphviz DOT text.

    Args:
        root: the output, e.g. a loss. Call ``root.backward(retain_grads=True)`` first to
            see every node's gradient (leaves keep theirs after any backward).
        module: the model whose parameters appear in the graph: their dotted names
            (``hidden.0.weight``) label the leaves and define the layers of a summary.
        title: a caption above the picture.
        max_nodes: graphs with more tensors than this are summarised by layer.
        summarise: force (True) or forbid (False) the summary; None decides by size.

    >>> a, b = Tensor(3.0, name="a"), Tensor(1.0, name="b")
    >>> "value 4" in to_dot(a + b)
    True
    """
    names = _parameter_names(module)
    tensors = graph_tensors(root)
    if summarise is None:
        summarise = len(tensors) > max_nodes
    body = _summary(root, tensors, names) if summarise else _full(root, tensors, names)
    lines = [
        "digraph computation {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    if title:
        lines.append(f"  labelloc=t; label=<{_escape(title)}>; fontname=Helvetica;")
    return "\n".join([*lines, *body, "}"]) + "\n"


def _parameter_names(module: Module | None) -> dict[int, str]:
    return {} if module is None else {id(p): name for name, p in module.named_parameters()}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _number(array: np.ndarray) -> str:
    """Values as the textbook prints them: 5, -2, 0.25; arrays as [1, 2]."""
    if array.ndim == 0:
        return f"{array.item():.4g}"
    return np.array2string(
        np.asarray(array, dtype=np.float64),
        separator=", ",
        formatter={"float_kind": lambda x: f"{x:.3g}"},
    ).replace("\n", "")


def _shape(array: np.ndarray) -> str:
    return "scalar" if array.ndim == 0 else str(tuple(array.shape))


def _node_label(node: Tensor, name: str | None, root_name: str) -> str:
    title = " = ".join(_escape(part) for part in (name, node.op) if part)
    title = title or ("input" if node.requires_grad else "constant")
    rows = [f"<B>{title}</B>", f"shape {_shape(node.data)}"]
    if node.data.size <= MAX_SHOWN_VALUES:
        rows.append(f"value {_escape(_number(node.data))}")
    if node.grad is not None and int(np.prod(node.grad.shape)) <= MAX_SHOWN_VALUES:
        grad = _escape(_number(as_dense(node.grad)))
        what = f"∂{root_name}/∂{_escape(name)}" if name else "gradient"
        rows.append(f'<FONT COLOR="{_GRAD_COLOR}">{what} = {grad}</FONT>')
    return "<" + "<BR/>".join(rows) + ">"


def _full(root: Tensor, tensors: list[Tensor], names: Mapping[int, str]) -> list[str]:
    ids = {id(t): f"t{i}" for i, t in enumerate(tensors)}
    root_name = root.name or "L"
    lines = []
    for t in tensors:
        name = names.get(id(t)) or t.name
        style = ""
        if t.is_leaf and t.requires_grad:
            style = f', fillcolor="{_LEAF_COLOR}"'
        elif t.is_leaf:
            style = f', fillcolor="{_CONSTANT_COLOR}", style="rounded,filled,dashed"'
        if t is root:
            style += ", penwidth=2"
        lines.append(f"  {ids[id(t)]} [label={_node_label(t, name, root_name)}{style}];")
    for t in tensors:
        for parent in t.parents:
            lines.append(f"  {ids[id(parent)]} -> {ids[id(t)]};")
    return lines


def _summary(root: Tensor, tensors: list[Tensor], names: Mapping[int, str]) -> list[str]:
    """One node per layer: an op belongs to the layer of the first parameter it consumes,
    or else to the layer of its most recent parent; constants (the data) are left out."""
    position = {id(t): i for i, t in enumerate(tensors)}
    layer_of: dict[int, str] = {}
    groups: dict[str, dict] = {}

    def group(layer: str) -> dict:
        return groups.setdefault(layer, {"ops": {}, "params": [], "out": None, "grad_sq": 0.0})

    for t in tensors:
        if t.is_leaf:
            if not t.requires_grad:
                continue
            name = names.get(id(t)) or t.name or "input"
            layer = name.rsplit(".", 1)[0] if "." in name else name
            layer_of[id(t)] = layer
            g = group(layer)
            g["params"].append((name.rsplit(".", 1)[-1], t))
            if t.grad is not None:
                dense = isinstance(t.grad, np.ndarray)  # embedding tables may hold row-sparse ones
                g["grad_sq"] += (
                    float(np.sum(np.square(t.grad, dtype=np.float64)))
                    if dense
                    else float(t.grad.squared_norm())
                )
            continue
        if t is root:
            continue
        param_layers = [layer_of[id(p)] for p in t.parents if p.is_leaf and id(p) in layer_of]
        inner = [p for p in t.parents if id(p) in layer_of]
        if param_layers:
            layer = param_layers[0]
        elif inner:
            layer = layer_of[id(max(inner, key=lambda p: position[id(p)]))]
        else:
            layer = "input"
        layer_of[id(t)] = layer
        g = group(layer)
        g["ops"][t.op] = g["ops"].get(t.op, 0) + 1
        g["out"] = t
    node_ids = {layer: f"g{i}" for i, layer in enumerate(groups)}
    lines = []
    for layer, g in groups.items():
        rows = [f"<B>{_escape(layer)}</B>"]
        if g["ops"]:
            ops = ", ".join(op if n == 1 else f"{op} ×{n}" for op, n in g["ops"].items())
            rows.append(_escape(ops))
        for short, p in g["params"]:
            rows.append(f"{_escape(short)} {_shape(p.data)}")
        if g["out"] is not None:
            rows.append(f"out {_shape(g['out'].data)}")
        if g["grad_sq"]:
            rows.append(f'<FONT COLOR="{_GRAD_COLOR}">‖∂L/∂θ‖ = {np.sqrt(g["grad_sq"]):.3g}</FONT>')
        fill = f', fillcolor="{_LEAF_COLOR}"' if not g["ops"] else ""
        lines.append(f"  {node_ids[layer]} [label=<{'<BR/>'.join(rows)}>{fill}];")
    lines.append(
        f"  loss [label={_node_label(root, root.name or 'L', root.name or 'L')}, penwidth=2];"
    )
    edges: set[tuple[str, str]] = set()
    for t in tensors:
        if id(t) not in layer_of and t is not root:
            continue
        target = "loss" if t is root else node_ids[layer_of[id(t)]]
        for p in t.parents:
            if id(p) in layer_of:
                source = node_ids[layer_of[id(p)]]
                if source != target:
                    edges.add((source, target))
    lines.extend(f"  {a} -> {b};" for a, b in sorted(edges))
    return lines


# ---------------------------------------------------------------------------- pictures


def have_graphviz() -> bool:
    """Whether Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def write_graph(dot: str, path: str | Path) -> Path:
    """Write ``dot`` to ``path``: as text for ``.dot``/``.gv``, else rendered by Graphviz
    into the format the suffix names (svg, png, pdf).

    Returns the path written. Without Graphviz, the DOT text goes next to ``path`` with the
    suffix ``.dot`` and that path is returned, so the caller can say so.

    Raises:
        ValueError: for an unknown suffix, or when ``dot`` fails.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot, encoding="utf-8")
        return path
    if fmt not in RENDERED_FORMATS:
        raise ValueError(f"graph pictures can be .svg, .png, .pdf or .dot; got {str(path)!r}")
    if not have_graphviz():
        text_path = path.with_suffix(".dot")
        text_path.write_text(dot, encoding="utf-8")
        return text_path
    done = subprocess.run(
        ["dot", f"-T{fmt}", "-o", str(path)],
        input=dot.encode("utf-8"),
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise ValueError(
            f"Graphviz's dot could not draw {str(path)!r}: {done.stderr.decode(errors='replace').strip()}"
        )
    return path


GRAPHVIZ_MISSING = (
    "Graphviz's `dot` program is not installed, so the graph was written as DOT text; "
    "install it (Debian/Ubuntu: apt-get install graphviz) or paste the text into any "
    "Graphviz viewer"
)


# ---------------------------------------------------------------------------- examples


def chapter_example() -> Tensor:
    """The chapter's computation graph L(a, b, c) = c(a + 2b) at a = 3, b = 1, c = -2,
    with its named intermediate nodes d = 2b and e = a + d, after the backward pass.

    >>> L = chapter_example()
    >>> L.item(), L.parents[1].grad.item()
    (-10.0, -2.0)
    """
    a = Tensor(3.0, requires_grad=True, name="a")
    b = Tensor(1.0, requires_grad=True, name="b")
    c = Tensor(-2.0, requires_grad=True, name="c")
    d = 2 * b
    d.name = "d"
    e = a + d
    e.name = "e"
    L = c * e
    L.name = "L"
    L.backward(retain_grads=True)
    return L


class TwoLayerNetwork(Module):
    """The chapter's 2-layer network, h = σ(W x + b), z = U h + b_out, y = softmax(z),
    with its intermediate tensors named as in the book so the picture can show them."""

    def __init__(
        self, input_dim: int = 2, hidden_dim: int = 3, num_classes: int = 2, seed: int = 0
    ):
        super().__init__()
        self.hidden = Linear(input_dim, hidden_dim, rng=seed)
        self.output = Linear(hidden_dim, num_classes, rng=seed + 1)

    def forward(self, x: Tensor, targets: object = None) -> tuple[Tensor, Tensor | None]:
        z1 = self.hidden(x)
        z1.name = "Wx+b"
        h = z1.sigmoid()
        h.name = "h"
        z = self.output(h)
        z.name = "z"
        return z, None if targets is None else F.cross_entropy(z, targets)


def two_layer_example(seed: int = 0) -> tuple[Tensor, Module]:
    """The 2-layer network (2 inputs, 3 sigmoid hidden units, 2 classes) on one example:
    its cross-entropy loss after the backward pass, and the network."""
    network = TwoLayerNetwork(seed=seed)
    x = Tensor(np.array([[1.0, -0.5]], dtype=np.float32), name="x")
    _, loss = network(x, np.array([1]))
    loss.name = "L"
    loss.backward(retain_grads=True)
    return loss, network


def training_step(model: Module, inputs: object, targets: object) -> Tensor:
    """One training step's forward and backward pass of ``model`` (the shared call shape
    ``model(inputs, targets) -> (outputs, loss)``); returns the loss, whose graph holds
    every parameter's gradient. The parameters are not updated."""
    model.train()
    for p in model.parameters():
        p.grad = None
    _, loss = model(inputs, targets)
    loss.name = "L"
    loss.backward()
    return loss
