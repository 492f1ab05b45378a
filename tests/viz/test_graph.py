"""Computation-graph pictures: the chapter's figure with exact values, summaries of big
graphs, and rendering with and without Graphviz."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from ffnlp.autograd import Tensor
from ffnlp.viz import graph
from ffnlp.viz.graph import chapter_example, to_dot, two_layer_example, write_graph

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's dot is not installed (Debian: apt-get install graphviz)",
)


def _node_labels(dot: str) -> dict[str, str]:
    """Node title (the bold first line) -> the node's whole label."""
    labels = {}
    for label in re.findall(r"\[label=<(.*?)>(?:,|\])", dot):
        title = re.match(r"<B>(.*?)</B>", label).group(1)
        labels[title] = label
    return labels


def test_chapter_figure_has_the_forward_values_and_derivatives_of_the_book():
    # J&M ch. 7: a = 3, b = 1, c = -2; d = 2b, e = a + d, L = c e.
    labels = _node_labels(to_dot(chapter_example()))
    expected = {
        "a": ("value 3", "∂L/∂a = -2"),
        "b": ("value 1", "∂L/∂b = -4"),
        "c": ("value -2", "∂L/∂c = 5"),
        "d = Mul": ("value 2", "∂L/∂d = -2"),
        "e = Add": ("value 5", "∂L/∂e = -2"),
        "L = Mul": ("value -10", "∂L/∂L = 1"),
    }
    for title, (value, derivative) in expected.items():
        assert value in labels[title], title
        assert derivative in labels[title], title
    assert "value 2" in labels["constant"]  # the 2 of 2b


def test_chapter_figure_edges_run_from_inputs_to_the_loss():
    dot = to_dot(chapter_example())
    ids = {
        re.match(r"<B>(.*?)</B>", label).group(1): node
        for node, label in re.findall(r"(t\d+) \[label=<(.*?)>[,\]]", dot)
    }
    edges = set(re.findall(r"(t\d+) -> (t\d+);", dot))
    for parent, child in [
        ("b", "d = Mul"),
        ("a", "e = Add"),
        ("d = Mul", "e = Add"),
        ("c", "L = Mul"),
        ("e = Add", "L = Mul"),
    ]:
        assert (ids[parent], ids[child]) in edges
    assert len(edges) == 6


def test_without_backward_there_are_values_but_no_gradients():
    a, b = Tensor(3.0, name="a"), Tensor(4.0, name="b")
    dot = to_dot(a * b)
    assert "value 12" in dot and "∂" not in dot


def test_two_layer_network_names_its_parameters_and_hidden_layer():
    loss, network = two_layer_example()
    labels = _node_labels(to_dot(loss, module=network))
    assert {
        "hidden.weight",
        "hidden.bias",
        "output.weight",
        "output.bias",
        "h = Sigmoid",
        "z = Linear",
        "L = CrossEntropy",
    } <= set(labels)
    grad = network.hidden.weight.grad
    assert f"{grad[0, 0]:.3g}" in labels["hidden.weight"]
    assert "shape (3, 2)" in labels["hidden.weight"]


def test_large_tensors_show_their_shape_but_not_their_values():
    x = Tensor(np.ones((10, 10)), requires_grad=True, name="x")
    dot = to_dot((x * 2).sum())
    assert "shape (10, 10)" in dot and "value [[1" not in dot


def test_big_graphs_are_summarised_by_layer():
    loss, network = two_layer_example()
    dot = to_dot(loss, module=network, summarise=True)
    labels = _node_labels(dot)
    assert set(labels) == {"hidden", "output", "L = CrossEntropy"}
    assert "Linear, Sigmoid" in labels["hidden"] and "weight (3, 2)" in labels["hidden"]
    assert "‖∂L/∂θ‖" in labels["output"]
    # a chain of 200 ops is summarised without being asked
    x = Tensor(1.0, requires_grad=True, name="x")
    y = x
    for _ in range(200):
        y = y * 1.0
    assert dot.count("->") == 2 and to_dot(y).count("[label=") < 10


def test_a_saved_models_training_step_is_drawn_by_layer(tmp_path):
    from ffnlp.estimators import TextClassifier
    from ffnlp.viz.saved import load_model, sample_step

    model = TextClassifier.from_settings(embed_dim=4, hidden_dims=(3,), epochs=1)
    model.fit(["a good film", "a bad film"], ["pos", "neg"]).save(tmp_path / "c.npz")
    loss, network = sample_step(load_model(str(tmp_path / "c.npz")), batch_size=4)
    labels = _node_labels(to_dot(loss, module=network, summarise=True))
    assert "embedding" in labels and "mlp.0" in labels  # the sparse embedding gradient too
    assert "‖∂L/∂θ‖" in labels["embedding"]


def test_write_graph_writes_dot_text(tmp_path):
    path = write_graph(to_dot(chapter_example()), tmp_path / "g.dot")
    assert path.read_text().startswith("digraph computation {")


def test_without_graphviz_the_dot_text_is_written_instead(tmp_path, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    path = write_graph(to_dot(chapter_example()), tmp_path / "g.svg")
    assert path == tmp_path / "g.dot" and path.read_text().startswith("digraph")
    assert not (tmp_path / "g.svg").exists()


def test_unknown_picture_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf or \.dot"):
        write_graph("digraph {}", tmp_path / "g.jpeg")


@needs_dot
@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_graphviz_renders_pictures(tmp_path, suffix):
    path = write_graph(to_dot(chapter_example()), tmp_path / f"g.{suffix}")
    assert path.suffix == f".{suffix}" and path.stat().st_size > 500
    if suffix == "svg":
        assert "∂L/∂e = &#45;2" in path.read_text(encoding="utf-8")  # SVG escapes the minus
    else:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_layers_follow_the_topological_order_with_inputs_next_to_their_user():
    from ffnlp.viz.drawing import layers

    picture = graph.graph_picture(chapter_example())
    titles = {box.id: box.rows[0][0] for box in picture.boxes}
    by_title = {titles[i]: layer for i, layer in layers(picture).items()}
    # constant, b -> d = 2b -> e = a + d -> L = c e; a and c sit just before their op
    assert by_title == {
        "constant": 0,
        "b": 0,
        "d = Mul": 1,
        "a": 1,
        "e = Add": 2,
        "c": 2,
        "L = Mul": 3,
    }
    for a, b in picture.arrows:  # every arrow runs forward
        assert layers(picture)[a] < layers(picture)[b]


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf"])
def test_without_graphviz_matplotlib_draws_the_picture_asked_for(tmp_path, monkeypatch, suffix):
    pytest.importorskip("matplotlib")
    from ffnlp.viz.drawing import layout

    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    loss, network = two_layer_example()
    picture = graph.graph_picture(loss, module=network, title="two layers")
    path = write_graph(picture, tmp_path / f"g.{suffix}")
    assert path == tmp_path / f"g.{suffix}" and not (tmp_path / "g.dot").exists()
    data = path.read_bytes()
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}[suffix]
    assert data.startswith(magic) and len(data) > 5000
    if suffix == "svg":  # matplotlib notes each text it draws as paths in a comment
        text = data.decode("utf-8")
        assert "<!-- h = Sigmoid -->" in text and "<!-- L = CrossEntropy -->" in text
    places, width, height = layout(picture)
    boxes = list(places.values())
    for i, (x, y, w, h) in enumerate(boxes):  # no two boxes overlap
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


def test_the_dot_text_of_a_picture_is_to_dots():
    loss, network = two_layer_example()
    assert graph.graph_picture(loss, module=network).dot() == to_dot(loss, module=network)
