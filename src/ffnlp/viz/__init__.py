"""Pictures of what the chapter teaches: computation graphs (:mod:`ffnlp.viz.graph`),
training curves (:mod:`ffnlp.viz.curves`) and word embeddings in 2-D
(:mod:`ffnlp.viz.embeddings`). Graph pictures need Graphviz's ``dot`` program; the plots
need matplotlib (``pip install 'ffnlp[plot]'``), imported only when a plot is drawn."""

from ffnlp.viz.graph import chapter_example, have_graphviz, to_dot, two_layer_example, write_graph

__all__ = ["chapter_example", "have_graphviz", "to_dot", "two_layer_example", "write_graph"]
