"""ffnlp: feedforward neural networks for natural-language processing, on NumPy.

The library follows the chapter "Neural Networks and Neural Language Models" (Jurafsky &
Martin, Speech and Language Processing, 3rd ed.): :mod:`ffnlp.autograd` is the computation
graph and backpropagation, :mod:`ffnlp.nn` the layers and losses, :mod:`ffnlp.optim` the
optimizers that train them.
"""

from ffnlp.autograd import Tensor, no_grad, tensor
from ffnlp.nn.init import manual_seed
from ffnlp.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "__version__",
    "get_num_threads",
    "manual_seed",
    "no_grad",
    "set_num_threads",
    "tensor",
]
