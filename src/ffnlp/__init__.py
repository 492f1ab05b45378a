"""ffnlp: feedforward neural networks for natural-language processing, on NumPy.

The library follows the chapter "Neural Networks and Neural Language Models" (Jurafsky &
Martin, Speech and Language Processing, 3rd ed.): :mod:`ffnlp.autograd` is the computation
graph and backpropagation, :mod:`ffnlp.nn` the layers and losses, :mod:`ffnlp.optim` the
optimizers that train them; :mod:`ffnlp.backend` holds the fast versions of a few ops.

``import ffnlp`` changes nothing in the process and loads nothing heavy: the names below
are imported from their modules on first use (so the ``ffnlp`` command can tune the
process before NumPy loads; see :func:`ffnlp.backend.tune_process`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ffnlp.autograd import Tensor, no_grad, tensor
    from ffnlp.backend.threads import get_num_threads, set_num_threads
    from ffnlp.nn.init import manual_seed

__version__ = "0.1.0"

# name -> the module it comes from, imported when the name is first used (PEP 562)
_EXPORTS = {
    "Tensor": "ffnlp.autograd",
    "no_grad": "ffnlp.autograd",
    "tensor": "ffnlp.autograd",
    "manual_seed": "ffnlp.nn.init",
    "get_num_threads": "ffnlp.backend.threads",
    "set_num_threads": "ffnlp.backend.threads",
}

__all__ = [
    "Tensor",
    "__version__",
    "get_num_threads",
    "manual_seed",
    "no_grad",
    "set_num_threads",
    "tensor",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ffnlp' has no attribute {name!r}")
    value = globals()[name] = getattr(importlib.import_module(module), name)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
