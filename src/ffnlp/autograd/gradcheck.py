"""Numerical gradient checking: compare backprop's gradients with central differences.

For each input element x_i, the numerical derivative is (f(x + h e_i) - f(x - h e_i)) / 2h,
accurate to O(h^2). Run it in float64: in float32 the round-off of f swamps the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ffnlp.autograd.sparse import as_dense
from ffnlp.autograd.tensor import Tensor, no_grad


@dataclass
class GradcheckResult:
    """Outcome of :func:`gradcheck`.

    Attributes:
        max_rel_error: worst |analytic - numeric| / max(|analytic|, |numeric|, floor);
            infinite where either gradient is NaN or infinite, so ``ok()`` fails.
        input_index: which input the worst element belongs to (None if nothing was checked).
        position: that element's index within its input.
        analytic: backprop's value there.
        numeric: the central difference there.
        checked: how many elements were compared.
    """

    max_rel_error: float
    input_index: int | None
    position: tuple[int, ...] | None
    analytic: float
    numeric: float
    checked: int

    def ok(self, tolerance: float = 1e-6) -> bool:
        return self.max_rel_error < tolerance

    def __str__(self) -> str:
        if self.input_index is None:
            return "gradcheck: no elements checked"
        if not (np.isfinite(self.analytic) and np.isfinite(self.numeric)):
            return (
                f"gradcheck: non-finite gradient at input {self.input_index}, position "
                f"{self.position} (backprop {self.analytic:.10g}, numeric {self.numeric:.10g}; "
                f"{self.checked} elements checked)"
            )
        return (
            f"gradcheck: worst relative error {self.max_rel_error:.3g} at input "
            f"{self.input_index}, position {self.position} (backprop {self.analytic:.10g}, "
            f"numeric {self.numeric:.10g}; {self.checked} elements checked)"
        )


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-5,
    floor: float = 1e-3,
    seed: int = 0,
    max_elements: int | None = None,
) -> GradcheckResult:
    """Check backprop's gradients of ``fn(*inputs)`` against central differences.

    Args:
        fn: a function of the tensors in ``inputs`` returning a tensor. A non-scalar output
            is reduced to the scalar sum(out * R) for a fixed random R, which checks every
            output's gradient at once.
        inputs: float64 tensors; those with ``requires_grad=True`` are checked.
        eps: the step h of the central difference.
        floor: the relative error's denominator is at least this, so gradients that are
            zero up to round-off do not make the ratio meaningless.
        seed: seeds the random projection R.
        max_elements: check at most this many elements per input (chosen at random).

    Returns:
        a :class:`GradcheckResult` naming the worst element. A NaN or infinite value in
        either gradient is the worst error there is (``max_rel_error`` is inf): backprop's
        gradient is scanned whole, even where ``max_elements`` samples the comparison.

    Raises:
        TypeError: if an input that requires a gradient is not float64.

    >>> x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    >>> gradcheck(lambda t: (t * t).tanh(), [x]).ok()
    True
    """
    for i, t in enumerate(inputs):
        if t.requires_grad and t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {t.dtype}; use float64 "
                "(Tensor(data, dtype=np.float64)), float32 round-off hides real errors"
            )
    rng = np.random.default_rng(seed)
    projection: list[np.ndarray] = []

    def scalar_output() -> Tensor:
        out = fn(*inputs)
        if out.size == 1:
            return out.sum()
        if not projection:
            projection.append(rng.standard_normal(out.shape))
        return (out * Tensor(projection[0], dtype=np.float64)).sum()

    for t in inputs:
        t.grad = None
    scalar_output().backward()
    analytic = [None if t.grad is None else np.array(as_dense(t.grad)) for t in inputs]

    worst = GradcheckResult(0.0, None, None, 0.0, 0.0, 0)
    checked = 0
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        grad = analytic[i] if analytic[i] is not None else np.zeros_like(t.data)
        bad = np.argwhere(~np.isfinite(grad))
        if len(bad):  # a NaN compares false with everything, so it would never be "worst"
            pos = tuple(int(p) for p in bad[0])
            return GradcheckResult(np.inf, i, pos, float(grad[pos]), np.nan, checked + 1)
        positions = list(np.ndindex(t.shape))
        if max_elements is not None and len(positions) > max_elements:
            picks = rng.choice(len(positions), size=max_elements, replace=False)
            positions = [positions[k] for k in picks]
        for pos in positions:
            original = t.data[pos]
            with no_grad():
                t.data[pos] = original + eps
                plus = float(scalar_output().data)
                t.data[pos] = original - eps
                minus = float(scalar_output().data)
            t.data[pos] = original
            numeric = (plus - minus) / (2 * eps)
            a = float(grad[pos])
            error = abs(a - numeric) / max(abs(a), abs(numeric), floor)
            if not np.isfinite(error):  # a NaN or inf difference: fail, and say where
                error = np.inf
            checked += 1
            if error > worst.max_rel_error or worst.input_index is None:
                worst = GradcheckResult(error, i, tuple(int(p) for p in pos), a, numeric, 0)
    worst.checked = checked
    return worst
