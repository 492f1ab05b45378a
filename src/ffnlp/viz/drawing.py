"""A graph picture drawn without Graphviz: a layered layout, drawn with matplotlib.

The boxes of a :class:`ffnlp.viz.graph.GraphPicture` come parents first (the graph's
topological order), so one pass gives each box its layer, one more than the deepest of its
parents (an input goes just before its first user): inputs on the left, the loss on the right, arrows running forward as in
Graphviz's ``rankdir=LR``. Within a layer, boxes are stacked in the order of their parents'
heights (the barycentre heuristic of Sugiyama et al. 1981), which keeps most arrows from
crossing. Sizes are worked out in points from the rendered text, so nothing overlaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ffnlp.viz.curves import pyplot
from ffnlp.viz.graph import _GRAD_COLOR, Box, GraphPicture

FONT_SIZE = 9.0  # points
LINE = 1.3 * FONT_SIZE  # the height of a row of text
PAD = 5.0  # inside a box, around its text
LAYER_GAP = 36.0  # between the columns of boxes
BOX_GAP = 12.0  # between the boxes of a column
MARGIN = 12.0


def layers(picture: GraphPicture) -> dict[str, int]:
    """Each box's layer: one more than its deepest parent's; a box without parents (an
    input) one before its first child's. An arrow that runs back to an earlier box (none
    does in a computation graph; a summary's layers could) is left out of the count."""
    order = {box.id: i for i, box in enumerate(picture.boxes)}
    parents: dict[str, list[str]] = {box.id: [] for box in picture.boxes}
    for a, b in picture.arrows:
        if order[a] < order[b]:
            parents[b].append(a)
    layer: dict[str, int] = {}
    for box in picture.boxes:
        layer[box.id] = 1 + max((layer[p] for p in parents[box.id]), default=-1)
    # An input (a parameter, a constant) goes just before its first user, not at the far
    # left, so that its arrow is short and crosses no box.
    children: dict[str, list[str]] = {box.id: [] for box in picture.boxes}
    for b, ps in parents.items():
        for a in ps:
            children[a].append(b)
    for box in picture.boxes:
        if not parents[box.id] and children[box.id]:
            layer[box.id] = min(layer[c] for c in children[box.id]) - 1
    return layer


def _row_sizes(boxes: list[Box]) -> dict[str, tuple[float, float]]:
    """(width, height) in points of each box, from its text as matplotlib renders it."""
    plt = pyplot()
    fig = plt.figure()
    renderer = fig.canvas.get_renderer()
    sizes = {}
    for box in boxes:
        width = 0.0
        for text, kind in box.rows:
            shown = fig.text(0, 0, text, fontsize=FONT_SIZE, weight=_weight(kind))
            width = max(width, shown.get_window_extent(renderer).width * 72 / fig.dpi)
            shown.remove()
        sizes[box.id] = (width + 2 * PAD, len(box.rows) * LINE + 2 * PAD)
    plt.close(fig)
    return sizes


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _weight(kind: str) -> str:
    return "bold" if kind == "title" else "normal"


def layout(
    picture: GraphPicture,
) -> tuple[dict[str, tuple[float, float, float, float]], float, float]:
    """Each box's (x, y, width, height) in points, its lower left corner at (x, y), and the
    width and height of the whole drawing."""
    sizes = _row_sizes(picture.boxes)
    layer = layers(picture)
    used = sorted(set(layer.values()))  # the layers some box is in, left to right
    columns: list[list[str]] = [[] for _ in used]
    for box in picture.boxes:
        columns[used.index(layer[box.id])].append(box.id)
    parents: dict[str, list[str]] = {box.id: [] for box in picture.boxes}
    for a, b in picture.arrows:
        parents[b].append(a)
    heights = [sum(sizes[i][1] for i in column) + BOX_GAP * (len(column) - 1) for column in columns]
    total_height = max(heights, default=0.0)
    places: dict[str, tuple[float, float, float, float]] = {}
    x = MARGIN
    for column, height in zip(columns, heights):
        centre = {i: places[i][1] + places[i][3] / 2 for i in places}
        # highest first by the mean height of the parents placed so far (stable: boxes
        # without placed parents keep their order)
        column.sort(
            key=lambda i, centre=centre: -_mean([centre[p] for p in parents[i] if p in centre])
        )
        y = MARGIN + (total_height + height) / 2  # the top of the column, centred
        width = max(sizes[i][0] for i in column)
        for i in column:
            w, h = sizes[i]
            y -= h
            places[i] = (x + (width - w) / 2, y, w, h)
            y -= BOX_GAP
        x += width + LAYER_GAP
    return places, x - LAYER_GAP + MARGIN, total_height + 2 * MARGIN


def draw_graph(picture: GraphPicture, path: str | Path) -> Path:
    """Draw ``picture`` with matplotlib into ``path`` (SVG, PNG or PDF, by its suffix)."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    plt = pyplot()
    places, width, height = layout(picture)
    title_room = 2 * LINE if picture.title else 0.0
    fig = plt.figure(figsize=(width / 72, (height + title_room) / 72))
    ax = fig.add_axes((0, 0, 1, height / (height + title_room)))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    if picture.title:
        fig.text(0.5, 1 - LINE / (height + title_room), picture.title, ha="center", va="top")
    for box in picture.boxes:
        x, y, w, h = places[box.id]
        ax.add_patch(
            FancyBboxPatch(
                (x, y),
                w,
                h,
                boxstyle="round,pad=0,rounding_size=4",
                facecolor=box.fill,
                edgecolor="#333333",
                linewidth=2 if box.bold else 0.8,
                linestyle="--" if box.dashed else "-",
            )
        )
        for row, (text, kind) in enumerate(box.rows):
            ax.text(
                x + w / 2,
                y + h - PAD - (row + 0.5) * LINE,
                text,
                ha="center",
                va="center",
                fontsize=FONT_SIZE,
                weight=_weight(kind),
                color=_GRAD_COLOR if kind == "grad" else "black",
            )
    for a, b in picture.arrows:
        ax.add_patch(_arrow(places[a], places[b], FancyArrowPatch))
    path = Path(path)
    fig.savefig(path, format=path.suffix.lstrip(".").lower(), dpi=150)
    plt.close(fig)
    return path


def _arrow(source: tuple[float, ...], target: tuple[float, ...], patch: Any) -> Any:
    """From the right edge of ``source`` to the left edge of ``target``; bent when it runs
    back, so that it does not cross the boxes between."""
    sx, sy, sw, sh = source
    tx, ty, tw, th = target
    forward = tx > sx + sw
    start = (sx + sw, sy + sh / 2) if forward else (sx + sw / 2, sy)
    end = (tx, ty + th / 2) if forward else (tx + tw / 2, ty)
    return patch(
        start,
        end,
        arrowstyle="-|>",
        mutation_scale=9,
        color="#555555",
        linewidth=0.8,
        shrinkA=0,
        shrinkB=1,
        connectionstyle="arc3,rad=0" if forward else "arc3,rad=0.4",
    )
