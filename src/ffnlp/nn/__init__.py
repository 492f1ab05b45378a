"""Neural-network building blocks: modules, layers, losses and initialisation."""

from ffnlp.nn import functional, init
from ffnlp.nn.adaptive_input import AdaptiveInput
from ffnlp.nn.adaptive_softmax import AdaptiveSoftmax
from ffnlp.nn.layers import (
    ACTIVATIONS,
    MLP,
    POOLING_MODES,
    Dropout,
    Embedding,
    Identity,
    Linear,
    Pooling,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    activation,
)
from ffnlp.nn.module import Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "POOLING_MODES",
    "AdaptiveInput",
    "AdaptiveSoftmax",
    "Dropout",
    "Embedding",
    "Identity",
    "Linear",
    "Module",
    "Parameter",
    "Pooling",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "activation",
    "functional",
    "init",
]
