"""Pictures of the computation graph: Graphviz DOT text, rendered to SVG/PNG by ``dot``.

Each tensor is one node, labelled with its name (when it has one), the op that made it, its
shape and, for small tensors, its forward value and, after ``backward(retain_grads=True)``,
its gradient dL/dnode, the way the chapter draws L(a, b, c) = c(a + 2b). Edges run forward,
from inputs to outputs. A graph too big to read (a real model's training step) is summarised
by layer: one box per module, named after the parameters its ops consume.

:func:`graph_picture` builds the picture's boxes and arrows (a :class:`GraphPicture`);
:meth:`GraphPicture.dot` writes them as DOT text, by hand (the format is simple), and
:func:`write_graph` turns them into SVG, PNG or PDF: with Graphviz's ``dot`` program where
it is installed (Debian: ``apt-get install graphviz``), else with matplotlib
(:mod:`ffnlp.viz.drawing`, a layered layout in the graph's topological order).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass
class Box:
    """One box of a graph picture: its rows of text, each (text, kind) with kind "title"
    (bold), "text" or "grad" (red, as the book prints backward values), and its look."""

    id: str
    rows: list[tuple[str, str]]
    fill: str = "white"
    dashed: bool = False
    bold: bool = False  # the root (the loss): a thicker border


@dataclass
class GraphPicture:
    """The boxes (parents before children) and arrows (parent id, child id) of a graph."""

    boxes: list[Box]
    arrows: list[tuple[str, str]]
    title: str | None = None
    notes: list[str] = field(default_factory=list)

    def dot(self) -> str:
        """The picture as Graphviz DOT text."""
        lines = [
            "digraph computation {",
            "  rankdir=LR;",
            '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", fontsize=11];',
            '  edge [color="#555555"];',
        ]
        if self.title:
            lines.append(f"  labelloc=t; label=<{_escape(self.title)}>; fontname=Helvetica;")
        for box in self.boxes:
            style = f', fillcolor="{box.fill}"' if box.fill != "white" else ""
            if box.dashed:
                style += ', style="rounded,filled,dashed"'
            if box.bold:
                style += ", penwidth=2"
            lines.append(f"  {box.id} [label={_html(box.rows)}{style}];")
        lines.extend(f"  {a} -> {b};" for a, b in self.arrows)
        return "\n".join([*lines, "}"]) + "\n"


def _html(rows: list[tuple[str, str]]) -> str:
    shown = {
        "title": "<B>{}</B>",
        "text": "{}",
        "grad": f'<FONT COLOR="{_GRAD_COLOR}">{{}}</FONT>',
    }
    return "<" + "<BR/>".join(shown[kind].format(_escape(text)) for text, kind in rows) + ">"


def graph_picture(
    root: Tensor,
    module: Module | None = None,
    title: str | None = None,
    max_nodes: int = MAX_NODES,
    summarise: bool | None = None,
) -> GraphPicture:
    """The picture of the graph behind ``root``: one box per tensor, or per layer.

    Args:
        root: the output, e.g. a loss. Call ``root.backward(retain_grads=True)`` first to
            see every node's gradient (leaves keep theirs after any backward).
        module: the model whose parameters appear in the graph: their dotted names
            (``hidden.0.weight``) label the leaves and define the layers of a summary.
        title: a caption above the picture.
        max_nodes: graphs with more tensors than this are summarised by layer.
        summarise: force (True) or forbid (False) the summary; None decides by size.
    """
    names = _parameter_names(module)
    tensors = graph_tensors(root)
    if summarise is None:
        summarise = len(tensors) > max_nodes
    boxes, arrows = (_summary if summarise else _full)(root, tensors, names)
    return GraphPicture(boxes, arrows, title)


def to_dot(
    root: Tensor,
    module: Module | None = None,
    title: str | None = None,
    max_nodes: int = MAX_NODES,
    summarise: bool | None = None,
) -> str:
    """The graph behind ``root`` as Graphviz DOT text (the arguments of
    :func:`graph_picture`).

    >>> a, b = Tensor(3.0, name="a"), Tensor(1.0, name="b")
    >>> "value 4" in to_dot(a + b)
    True
    """
    return graph_picture(root, module, title, max_nodes, summarise).dot()


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


def _node_rows(node: Tensor, name: str | None, root_name: str) -> list[tuple[str, str]]:
    title = " = ".join(part for part in (name, node.op) if part)
    title = title or ("input" if node.requires_grad else "constant")
    rows = [(title, "title"), (f"shape {_shape(node.data)}", "text")]
    if node.data.size <= MAX_SHOWN_VALUES:
        rows.append((f"value {_number(node.data)}", "text"))
    if node.grad is not None and int(np.prod(node.grad.shape)) <= MAX_SHOWN_VALUES:
        grad = _number(as_dense(node.grad))
        what = f"∂{root_name}/∂{name}" if name else "gradient"
        rows.append((f"{what} = {grad}", "grad"))
    return rows


def _full(
    root: Tensor, tensors: list[Tensor], names: Mapping[int, str]
) -> tuple[list[Box], list[tuple[str, str]]]:
    ids = {id(t): f"t{i}" for i, t in enumerate(tensors)}
    root_name = root.name or "L"
    boxes = []
    for t in tensors:
        name = names.get(id(t)) or t.name
        box = Box(ids[id(t)], _node_rows(t, name, root_name), bold=t is root)
        if t.is_leaf and t.requires_grad:
            box.fill = _LEAF_COLOR
        elif t.is_leaf:
            box.fill, box.dashed = _CONSTANT_COLOR, True
        boxes.append(box)
    arrows = [(ids[id(parent)], ids[id(t)]) for t in tensors for parent in t.parents]
    return boxes, arrows


def _summary(
    root: Tensor, tensors: list[Tensor], names: Mapping[int, str]
) -> tuple[list[Box], list[tuple[str, str]]]:
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
    boxes = []
    for layer, g in groups.items():
        rows = [(layer, "title")]
        if g["ops"]:
            ops = ", ".join(op if n == 1 else f"{op} ×{n}" for op, n in g["ops"].items())
            rows.append((ops, "text"))
        for short, p in g["params"]:
            rows.append((f"{short} {_shape(p.data)}", "text"))
        if g["out"] is not None:
            rows.append((f"out {_shape(g['out'].data)}", "text"))
        if g["grad_sq"]:
            rows.append((f"‖∂L/∂θ‖ = {np.sqrt(g['grad_sq']):.3g}", "grad"))
        boxes.append(Box(node_ids[layer], rows, fill=_LEAF_COLOR if not g["ops"] else "white"))
    boxes.append(Box("loss", _node_rows(root, root.name or "L", root.name or "L"), bold=True))
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
    return boxes, sorted(edges)


# ---------------------------------------------------------------------------- pictures


def have_graphviz() -> bool:
    """Whether Graphviz's ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def write_graph(picture: GraphPicture | str, path: str | Path) -> Path:
    """Write a graph picture (from :func:`graph_picture`, or DOT text) to ``path``: as DOT
    text for ``.dot``/``.gv``, else drawn in the format the suffix names (svg, png, pdf) by
    Graphviz's ``dot`` where it is installed, else by matplotlib (a :class:`GraphPicture`
    only: DOT text needs Graphviz).

    Returns the path written. With neither Graphviz nor matplotlib (or DOT text without
    Graphviz), the DOT text goes next to ``path`` with the suffix ``.dot`` and that path is
    returned, so the caller can say so.

    Raises:
        ValueError: for an unknown suffix, or when ``dot`` fails.
    """
    path = Path(path)
    dot = picture.dot() if isinstance(picture, GraphPicture) else picture
    fmt = path.suffix.lstrip(".").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot, encoding="utf-8")
        return path
    if fmt not in RENDERED_FORMATS:
        raise ValueError(f"graph pictures can be .svg, .png, .pdf or .dot; got {str(path)!r}")
    if not have_graphviz():
        if isinstance(picture, GraphPicture) and have_matplotlib():
            from ffnlp.viz.drawing import draw_graph

            return draw_graph(picture, path)
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


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (the plot extra)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


GRAPHVIZ_MISSING = (
    "neither Graphviz's `dot` program nor matplotlib is installed, so the graph was written "
    "as DOT text; install one (pip install 'ffnlp[plot]', or Debian/Ubuntu: apt-get install "
    "graphviz) or paste the text into any Graphviz viewer"
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
