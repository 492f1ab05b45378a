"""ffnlp: feedforward neural networks for natural-language processing, on NumPy.

The library follows the chapter "Neural Networks and Neural Language Models" (Jurafsky &
Martin, Speech and Language Processing, 3rd ed.): :mod:`ffnlp.autograd` is the computation
graph and backpropagation, :mod:`ffnlp.nn` the layers and losses, :mod:`ffnlp.optim` the
optimizers that train them.
"""

import os
import sys

if "numpy" not in sys.modules:
    # OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after every matrix product
    # before they sleep, so on a machine with few cores they take the cores ffnlp's own
    # threads need for the softmax and the optimizer update right after: with two threads
    # those ran slower than with one. 2^4 cycles lets them sleep at once. OpenBLAS reads
    # this when it loads, so it only works if ffnlp is imported before NumPy; a value the
    # user set is kept. (See docs/performance.md.)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from ffnlp.autograd import Tensor, no_grad, tensor
from ffnlp.memory import keep_freed_memory
from ffnlp.nn.init import manual_seed
from ffnlp.threads import get_num_threads, set_num_threads

keep_freed_memory()  # large arrays freed by one step are reused by the next (ffnlp/memory.py)

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
