"""Argument checks shared by every layer, so a rule is decided once and messages read alike.

The rules, once for all of ffnlp:

- an integer is a Python ``int`` or a NumPy integer (``np.int64(3)`` is as good as ``3``);
- a real is any of those or a Python or NumPy float, and never NaN;
- ``True``/``False`` (and ``np.True_``/``np.False_``) are never numbers, though Python
  counts ``bool`` as an ``int``: ``epochs=True`` is a mistake, not 1 epoch.

Every check raises ``ValueError`` naming the parameter, the rule and the value received,
in the house format ``"dropout must be a number in [0, 1); got 1.5"``, and returns the value
as a plain ``int``/``float``/``bool``, so what is stored or written to JSON is never a NumPy
scalar.

This module imports nothing from the rest of ffnlp, so any layer may use it.

>>> check_int("epochs", np.int64(3), minimum=1)
3
>>> check_int("epochs", 0, minimum=1)
Traceback (most recent call last):
    ...
ValueError: epochs must be a positive integer; got 0
>>> check_probability("dropout", 1.5)
Traceback (most recent call last):
    ...
ValueError: dropout must be a number in [0, 1); got 1.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_probability",
    "check_real",
    "is_int",
]


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def is_int(value: Any) -> bool:
    """Whether ``value`` counts as an integer here (for code that branches on it rather than
    refusing it): a Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not _is_bool(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not _is_bool(value)


def _bounds(
    minimum: float | None, maximum: float | None, min_inclusive: bool, max_inclusive: bool
) -> str:
    """`` > 0``, `` in [0, 1)``... (with its leading space), or "" when unbounded."""
    if minimum is not None and maximum is not None:
        left = "[" if min_inclusive else "("
        right = "]" if max_inclusive else ")"
        return f" in {left}{minimum}, {maximum}{right}"
    if minimum is not None:
        return f" {'>=' if min_inclusive else '>'} {minimum}"
    if maximum is not None:
        return f" {'<=' if max_inclusive else '<'} {maximum}"
    return ""


def _in_bounds(
    value: float,
    minimum: float | None,
    maximum: float | None,
    min_inclusive: bool,
    max_inclusive: bool,
) -> bool:
    if minimum is not None and not (value >= minimum if min_inclusive else value > minimum):
        return False
    return maximum is None or (value <= maximum if max_inclusive else value < maximum)


def _shown(value: Any) -> str:
    # A NumPy scalar is shown as the number it holds ("got 1.5", not "got np.float64(1.5)").
    return repr(value.item() if isinstance(value, np.generic) else value)


def _fail(name: str, rule: str, value: Any, note: str | None) -> ValueError:
    extra = f" ({note})" if note else ""
    return ValueError(f"{name} must be {rule}{extra}; got {_shown(value)}")


def check_int(
    name: str,
    value: Any,
    minimum: int | None = None,
    maximum: int | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    note: str | None = None,
) -> int:
    """``value`` as an ``int``, checked to be an integer (not a bool) within the bounds.

    Args:
        name: the parameter's name, as the user wrote it (``"batch-size"`` for a flag).
        value: what was given.
        minimum, maximum: the bounds, or None for none; inclusive unless
            ``min_inclusive``/``max_inclusive`` is False.
        note: a hint added in brackets after the rule, e.g. ``"0 = no limit"``.

    Raises:
        ValueError: "epochs must be a positive integer; got 0"; the rule reads "a positive
            integer" for ``minimum=1``, "a non-negative integer" for ``minimum=0``, else
            "an integer >= 2", "an integer in [1, 5]"...
    """
    if minimum == 1 and min_inclusive and maximum is None:
        rule = "a positive integer"
    elif minimum == 0 and min_inclusive and maximum is None:
        rule = "a non-negative integer"
    else:
        rule = "an integer" + _bounds(minimum, maximum, min_inclusive, max_inclusive)
    if not is_int(value) or not _in_bounds(value, minimum, maximum, min_inclusive, max_inclusive):
        raise _fail(name, rule, value, note)
    return int(value)


def check_real(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    allow_inf: bool = False,
    note: str | None = None,
) -> float:
    """``value`` as a ``float``, checked to be a real number (not a bool, not NaN) within
    the bounds.

    Infinity is refused unless ``allow_inf`` (or unless the bounds exclude it anyway).

    Raises:
        ValueError: "lr must be a finite number > 0; got 0.0", "lr-decay must be a number in
            (0, 1]; got 2"; "finite" is said where an unbounded side would let infinity in.
    """
    bounded = minimum is not None and maximum is not None
    kind = "a number" if bounded or allow_inf else "a finite number"
    rule = kind + _bounds(minimum, maximum, min_inclusive, max_inclusive)
    number = math.nan
    if _is_real(value):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float is beyond every bound we set
            number = math.inf if value > 0 else -math.inf
    ok = (
        not math.isnan(number)
        and (allow_inf or math.isfinite(number))
        and _in_bounds(number, minimum, maximum, min_inclusive, max_inclusive)
    )
    if not ok:
        raise _fail(name, rule, value, note)
    return number


def check_probability(name: str, value: Any, *, allow_one: bool = False) -> float:
    """``value`` as a ``float`` in [0, 1) (a rate such as dropout, where 1 would drop
    everything), or in [0, 1] with ``allow_one`` (a weight)."""
    return check_real(name, value, 0, 1, max_inclusive=allow_one)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value``, checked to be one of ``choices``.

    Raises:
        ValueError: "layout must be one of ('stream', 'sentence'); got 'lines'".
    """
    choices = tuple(choices)
    try:
        ok = not _is_bool(value) and value in choices
    except (TypeError, ValueError):  # an array or incomparable value is no choice either
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {choices}; got {_shown(value)}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool``, checked to be True or False (or NumPy's)."""
    if not _is_bool(value):
        raise ValueError(f"{name} must be True or False; got {_shown(value)}")
    return bool(value)


def check_cutoffs(cutoffs: Sequence[int], vocab_size: int) -> tuple[int, ...]:
    """``cutoffs`` as a tuple, checked: increasing integers in (0, vocab_size): where the
    frequency clusters of an adaptive softmax or adaptive input end."""
    cutoffs = tuple(cutoffs)
    ok = (
        len(cutoffs) > 0
        and all(is_int(c) for c in cutoffs)
        and all(a < b for a, b in zip((0, *cutoffs), (*cutoffs, vocab_size)))
    )
    if not ok:
        raise ValueError(
            f"cutoffs must be increasing integers between 0 and vocab_size ({vocab_size}), "
            f"exclusive, e.g. (2000,) for a 10k vocabulary; got {cutoffs!r}"
        )
    return tuple(int(c) for c in cutoffs)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word`` for messages: "1 epoch", "3 epochs", "1,200 texts" (``many``:
    the plural where it is not ``word`` + "s").

    >>> plural(1, "epoch"), plural(2, "epoch"), plural(2, "query", "queries")
    ('1 epoch', '2 epochs', '2 queries')
    """
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def check_threshold(value: Any, name: str = "threshold") -> float:
    """A probability threshold, refused outside (0, 1): 0 would keep every label (leave the
    threshold out for that) and 1 none."""
    return check_real(name, value, 0, 1, min_inclusive=False, max_inclusive=False)
