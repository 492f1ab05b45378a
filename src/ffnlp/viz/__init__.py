"""Pictures of what the chapter teaches: computation graphs (:mod:`ffnlp.viz.graph`),
training curves (:mod:`ffnlp.viz.curves`) and word embeddings in 2-D
(:mod:`ffnlp.viz.embeddings`). Graph pictures are drawn by Graphviz's ``dot`` program where
it is installed, else by matplotlib (:mod:`ffnlp.viz.drawing`); the plots need matplotlib
(``pip install 'ffnlp[plot]'``), imported only when a picture is drawn."""

from ffnlp.viz.graph import (
    chapter_example,
    graph_picture,
    have_graphviz,
    to_dot,
    two_layer_example,
    write_graph,
)

__all__ = [
    "chapter_example",
    "graph_picture",
    "have_graphviz",
    "to_dot",
    "two_layer_example",
    "write_graph",
]
