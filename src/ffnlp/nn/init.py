"""Weight initialisation and the random generator every random choice is drawn from.

All randomness in ffnlp (initial weights, dropout masks, shuffling) comes from NumPy
``Generator`` objects. Pass ``rng=`` an int seed or a Generator to any layer; leave it out
to draw from the library's default generator, which :func:`manual_seed` resets. The same
seed and the same sequence of calls give bit-identical results.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ffnlp.checks import check_choice, check_int, is_int

_default_generator = np.random.default_rng(0)

RngLike = int | np.random.Generator | None


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to ``seed`` and return it.

    >>> import ffnlp
    >>> _ = ffnlp.manual_seed(1)
    """
    global _default_generator
    _default_generator = np.random.default_rng(check_int("seed", seed, minimum=0))
    return _default_generator


def default_generator() -> np.random.Generator:
    """The generator used when no ``rng`` is given."""
    return _default_generator


def as_generator(rng: RngLike) -> np.random.Generator:
    """A Generator from an int seed, a Generator (returned as is) or None (the default)."""
    if rng is None:
        return _default_generator
    if isinstance(rng, np.random.Generator):
        return rng
    if is_int(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a non-negative int seed, a numpy Generator or None; got {rng!r}")


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in), the layout of :class:`Linear`."""
    if len(shape) != 2:
        raise ValueError(f"fan-based initialisation needs a 2-D (out, in) shape; got {shape}")
    fan_out, fan_in = shape
    return fan_in, fan_out


def xavier_uniform(
    shape: tuple[int, ...], rng: RngLike = None, gain: float = 1.0, dtype: Any = np.float32
) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    Keeps the variance of activations and gradients about equal across layers for
    symmetric activations such as tanh and sigmoid.
    """
    fan_in, fan_out = _fans(shape)
    limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return as_generator(rng).uniform(-limit, limit, size=shape).astype(dtype)


def xavier_normal(
    shape: tuple[int, ...], rng: RngLike = None, gain: float = 1.0, dtype: Any = np.float32
) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (as_generator(rng).standard_normal(size=shape) * std).astype(dtype)


def he_uniform(shape: tuple[int, ...], rng: RngLike = None, dtype: Any = np.float32) -> np.ndarray:
    """He et al. (2015): U(-a, a) with a = sqrt(6 / fan_in), for ReLU layers (ReLU zeroes
    half its inputs, so the variance is doubled to compensate)."""
    fan_in, _ = _fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return as_generator(rng).uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape: tuple[int, ...], rng: RngLike = None, dtype: Any = np.float32) -> np.ndarray:
    """He et al. (2015): N(0, 2 / fan_in)."""
    fan_in, _ = _fans(shape)
    return (as_generator(rng).standard_normal(size=shape) * math.sqrt(2.0 / fan_in)).astype(dtype)


def normal(
    shape: tuple[int, ...], std: float, rng: RngLike = None, dtype: Any = np.float32
) -> np.ndarray:
    """N(0, std^2)."""
    return (as_generator(rng).standard_normal(size=shape) * std).astype(dtype)


def uniform(
    shape: tuple[int, ...], limit: float, rng: RngLike = None, dtype: Any = np.float32
) -> np.ndarray:
    """U(-limit, limit)."""
    return as_generator(rng).uniform(-limit, limit, size=shape).astype(dtype)


INITIALIZERS = {
    "xavier": xavier_uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "glorot": xavier_uniform,
    "he": he_uniform,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def initializer(name: str) -> Any:
    """Look up a weight initialiser by name (see ``INITIALIZERS``)."""
    return INITIALIZERS[check_choice("init", name, sorted(INITIALIZERS))]
