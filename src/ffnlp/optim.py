"""Optimizers, gradient clipping and learning-rate schedules.

Each optimizer updates parameters in place from their ``.grad`` (filled by
``loss.backward()``), reusing its buffers between steps so a step allocates nothing.
The update rules follow the usual definitions (the same as PyTorch's, which the tests
check step by step).

A row-sparse gradient (from ``Embedding(sparse=True)``) is applied exactly as its dense
equivalent would be, touching only its rows where the rule allows it (plain SGD); rules
that change every row each step (momentum, Adam, weight decay) densify it, unless Adam is
asked to be ``lazy``: then only the rows in the gradient have their moments and weights
updated, as in TensorFlow's LazyAdam, much faster for large embedding tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ffnlp.autograd import Tensor
from ffnlp.autograd.sparse import RowSparseGrad
from ffnlp.backend import kernels
from ffnlp.backend.threads import BLOCK, PARALLEL_MIN, parallel_blocks, parallel_ranges
from ffnlp.checks import check_choice, check_int, check_probability, check_real

# ---------------------------------------------------------------------------- base


class Optimizer:
    """Base class: holds parameter groups and per-parameter state.

    Args:
        params: an iterable of tensors, or of dicts ``{"params": [...], **settings}`` to give
            groups of parameters their own settings (e.g. no weight decay for biases).
        defaults: settings used where a group does not set its own.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for group in groups:
            group = {**defaults, **group}
            unique = []
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(
                        f"{type(self).__name__}: parameters must be Tensors; got {type(p).__name__}"
                    )
                if p.data.dtype.kind != "f":
                    raise TypeError(
                        f"{type(self).__name__}: cannot optimise a tensor of dtype {p.dtype}"
                    )
                if id(p) not in seen:  # tied weights are updated once
                    seen.add(id(p))
                    unique.append(p)
            group["params"] = unique
            self._check_group(group)
            self.param_groups.append(group)
        self.state: dict[int, dict[str, Any]] = {}  # keyed by id(param)
        # Scratch arrays reused every step; not part of the state, so never saved.
        self.work: dict[int, dict[str, np.ndarray]] = {}
        self._compiled: bool | None = None  # see _use_compiled

    def _use_compiled(self, p: Tensor) -> bool:
        """Whether ``p`` takes the compiled update loop (ffnlp.backend.kernels): every parameter
        of an optimizer that has a large one. Once Numba is loaded for the large one, a
        small parameter's update is one call of a microsecond instead of a dozen NumPy
        calls. Decided once per optimizer, so a model's numbers never depend on what else
        ran in the process."""
        if self._compiled is None:
            self._compiled = any(kernels.use_for(q.data) for q in self._ordered_params())
        return self._compiled and kernels.fits(p.data)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_real("lr", group["lr"], minimum=0, min_inclusive=False)

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                if p.grad.shape != p.shape:
                    raise ValueError(
                        f"{type(self).__name__}: gradient shape {p.grad.shape} != parameter shape {p.shape}"
                    )
                self._update(p, p.grad, self.state.setdefault(id(p), {}), group)

    def _update(
        self, p: Tensor, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ save / restore
    def _ordered_params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """Settings and state (buffers copied), with parameters referred to by position."""
        params = self._ordered_params()
        state = {}
        for i, p in enumerate(params):
            if id(p) in self.state:
                state[i] = {
                    k: (v.copy() if isinstance(v, np.ndarray) else v)
                    for k, v in self.state[id(p)].items()
                }
        groups = []
        start = 0
        for group in self.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            settings["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(settings)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, for the same parameters in the same order."""
        params = self._ordered_params()
        groups = state_dict["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError(
                "load_state_dict: the saved parameter groups do not match this optimizer's"
            )
        for group, saved in zip(self.param_groups, groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, entry in state_dict["state"].items():
            p = params[int(i)]
            restored = {}
            for k, v in entry.items():
                if isinstance(v, np.ndarray):
                    if v.shape != p.shape:
                        raise ValueError(
                            f"load_state_dict: state {k!r} of parameter {i} has shape {v.shape}, expected {p.shape}"
                        )
                    v = v.astype(p.dtype, copy=True)
                restored[k] = v
            self.state[id(p)] = restored

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({settings})"


def _densify(grad: RowSparseGrad, work: dict[str, np.ndarray]) -> np.ndarray:
    """The dense form of a row-sparse gradient, written into a buffer reused every step."""
    dense = work.get("dense_grad")
    if dense is None or dense.dtype != grad.dtype:
        dense = work["dense_grad"] = np.zeros(grad.shape, dtype=grad.dtype)
    else:
        dense.fill(0)
    dense[grad.indices] = grad.values
    return dense


def _adam_rows(w, m, v, grad: RowSparseGrad, work: dict[str, np.ndarray], scalars) -> None:
    """Exact Adam for a row-sparse gradient without densifying it: each row knows where its
    gradient row is (-1: none, the gradient is zero there), and the compiled loop updates
    every row, in blocks of rows spread over the threads."""
    position = work.get("position")
    if position is None or len(position) != w.shape[0]:
        position = work["position"] = np.full(w.shape[0], -1, dtype=np.int64)
    values = np.ascontiguousarray(grad.values, dtype=w.dtype)
    position[grad.indices] = np.arange(len(grad.indices))
    w2, m2, v2 = (a.reshape(w.shape[0], -1) for a in (w, m, v))
    rows = max(1, BLOCK // max(w2.shape[1], 1))
    adam = kernels.compiled("adam_rows_block")
    try:
        parallel_ranges(
            lambda lo, hi: adam(w2[lo:hi], m2[lo:hi], v2[lo:hi], position[lo:hi], values, *scalars),
            w2.shape[0],
            block=rows,
            min_size=max(1, PARALLEL_MIN // max(w2.shape[1], 1)),
        )
    finally:
        position[grad.indices] = -1  # ready for the next step


def _buffer(state: dict[str, Any], name: str, like: np.ndarray) -> np.ndarray:
    """A zero-initialised per-parameter buffer, created once and reused every step."""
    buf = state.get(name)
    if buf is None:
        # np.zeros, not zeros_like: calloc'd pages cost nothing until touched, and lazy
        # Adam touches only the rows it updates.
        buf = state[name] = np.zeros(like.shape, dtype=like.dtype)
    return buf


# ---------------------------------------------------------------------------- SGD


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (heavy ball or Nesterov).

    With g = grad + weight_decay * w:
        plain:     w <- w - lr g
        momentum:  v <- momentum v + (1 - dampening) g;  w <- w - lr v
        Nesterov:  v as above;  w <- w - lr (g + momentum v)

    Args:
        params: tensors or parameter groups.
        lr: learning rate (> 0).
        momentum: in [0, 1).
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        weight_decay: L2 coefficient (>= 0) added to the gradient.
        dampening: in [0, 1).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "dampening": dampening,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_real("lr", group["lr"], minimum=0, min_inclusive=False)
        check_probability("momentum", group["momentum"])
        check_probability("dampening", group["dampening"])
        check_real("weight_decay", group["weight_decay"], minimum=0)
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")

    def _update(self, p, grad, state, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if isinstance(grad, RowSparseGrad):
            if not momentum and not wd:  # zero rows would not move: update just the others
                p.data[grad.indices] -= lr * grad.values
                return
            grad = grad.to_dense()
        if wd:
            grad = grad + wd * p.data
        if momentum:
            velocity = state.get("momentum_buffer")
            if velocity is None:
                velocity = state["momentum_buffer"] = grad.copy()
            else:
                velocity *= momentum
                velocity += (1 - group["dampening"]) * grad
            if group["nesterov"]:
                grad = grad + momentum * velocity
            else:
                grad = velocity
        p.data -= lr * grad


# ---------------------------------------------------------------------------- Adam


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): per-parameter steps scaled by running moment estimates.

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        w <- w - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

    ``weight_decay`` adds an L2 term to g (classic Adam); for decoupled weight decay use
    :class:`AdamW`. ``lazy=True`` updates only the rows present in a row-sparse gradient
    (their moments decay only when they are used); dense gradients are unaffected.
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        lazy: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "lazy": lazy,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_real("lr", group["lr"], minimum=0, min_inclusive=False)
        betas = group["betas"]
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}")
        check_probability("betas[0]", betas[0])
        check_probability("betas[1]", betas[1])
        check_real("eps", group["eps"], minimum=0, min_inclusive=False)
        check_real("weight_decay", group["weight_decay"], minimum=0)

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), eps, wd = (
            group["lr"],
            group["betas"],
            group["eps"],
            group["weight_decay"],
        )
        work = self.work.setdefault(id(p), {})
        if isinstance(grad, RowSparseGrad) and group["lazy"]:
            self._lazy_update(p, grad, state, group)
            return
        decay = 1 - lr * wd if wd and self.decoupled else 1.0  # AdamW's, before the step
        m = _buffer(state, "exp_avg", p.data)
        v = _buffer(state, "exp_avg_sq", p.data)
        t = state["step"] = state.get("step", 0) + 1
        l2 = 0.0 if self.decoupled else wd
        sqrt_bias2 = math.sqrt(1 - beta2**t)
        step_size = lr / (1 - beta1**t)
        if self._use_compiled(p):
            # The same rule as `update` below, compiled into one pass, AdamW's decay
            # included (ffnlp.backend.kernels).
            f = p.data.dtype.type
            scalars = (f(decay), f(l2), f(1 - beta1), f(beta2), f(1 - beta2))
            scalars += (f(step_size * sqrt_bias2), f(eps * sqrt_bias2))
            if isinstance(grad, RowSparseGrad):
                _adam_rows(p.data, m, v, grad, work, scalars)
            else:
                g = np.ascontiguousarray(grad, dtype=p.data.dtype)
                adam = kernels.compiled("adam_block")
                parallel_blocks(lambda *blk: adam(*blk, *scalars), p.data, g, m, v)
            return
        if decay != 1.0:
            p.data *= decay
        if isinstance(grad, RowSparseGrad):
            grad = _densify(grad, work)
        scratch = _buffer(work, "scratch", p.data)

        def update(w, g, m, v, s):
            # One cache-sized block: every operation below re-reads memory the previous
            # one just wrote, so the update costs about one pass over the arrays, not nine.
            if l2:
                g = g + l2 * w
            np.subtract(g, m, out=s)  # m <- m + (1 - b1)(g - m) = b1 m + (1 - b1) g
            s *= 1 - beta1
            m += s
            v *= beta2
            np.multiply(g, g, out=s)
            s *= 1 - beta2
            v += s
            # lr m_hat / (sqrt(v_hat) + eps) with m_hat = m / (1 - b1^t), v_hat = v / c^2,
            # c = sqrt(1 - b2^t), is (lr c / (1 - b1^t)) m / (sqrt(v) + eps c): one pass fewer.
            np.sqrt(v, out=s)
            s += eps * sqrt_bias2
            np.divide(m, s, out=s)
            s *= step_size * sqrt_bias2
            w -= s

        if p.data.flags.c_contiguous and m.flags.c_contiguous:
            parallel_blocks(update, p.data, np.ascontiguousarray(grad), m, v, scratch)
        else:  # a strided view: the same rule over the whole arrays, one pass a line
            update(p.data, grad, m, v, scratch)

    def _lazy_update(self, p, grad: RowSparseGrad, state, group):
        """Adam on the gradient's rows only; the other rows keep their weights and moments
        (bias correction uses the global step count)."""
        lr, (beta1, beta2), eps, wd = (
            group["lr"],
            group["betas"],
            group["eps"],
            group["weight_decay"],
        )
        rows, g = grad.indices, grad.values
        if self._use_compiled(p) and p.data.ndim == 2:
            # The same rule as below in one compiled pass over the rows used: the NumPy
            # form gathers and scatters each row a dozen times.
            m = _buffer(state, "exp_avg", p.data)
            v = _buffer(state, "exp_avg_sq", p.data)
            t = state["step"] = state.get("step", 0) + 1
            f = p.data.dtype.type
            decay = 1 - lr * wd if wd and self.decoupled else 1.0
            scalars = (f(decay), f(0.0 if self.decoupled else wd), f(1 - beta1), f(beta2))
            scalars += (f(1 - beta2), f(lr / (1 - beta1**t)), f(1 / math.sqrt(1 - beta2**t)))
            adam = kernels.compiled("adam_lazy_rows")
            values = np.ascontiguousarray(g, dtype=p.data.dtype)
            rows = np.ascontiguousarray(rows, np.int64)
            width = max(p.data.shape[1], 1)
            parallel_ranges(  # the rows are distinct, so the threads never share one
                lambda lo, hi: adam(p.data, m, v, rows[lo:hi], values[lo:hi], *scalars, f(eps)),
                len(rows),
                block=max(1, BLOCK // width),
                min_size=max(1, PARALLEL_MIN // width),
            )
            return
        w = p.data[rows]
        if wd and self.decoupled:
            w *= 1 - lr * wd
        elif wd:
            g = g + wd * w
        m = _buffer(state, "exp_avg", p.data)
        v = _buffer(state, "exp_avg_sq", p.data)
        t = state["step"] = state.get("step", 0) + 1
        m_rows = m[rows] * beta1 + (1 - beta1) * g
        v_rows = v[rows] * beta2 + (1 - beta2) * (g * g)
        m[rows] = m_rows
        v[rows] = v_rows
        denom = np.sqrt(v_rows) * (1 / math.sqrt(1 - beta2**t)) + eps
        p.data[rows] = w - (lr / (1 - beta1**t)) * m_rows / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): w <- w (1 - lr wd)
    before the Adam step, instead of adding wd w to the gradient."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        lazy: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, lazy=lazy)


# ---------------------------------------------------------------------------- clipping


def grad_norm(params: Iterable[Tensor]) -> float:
    """The joint L2 norm of the parameters' gradients (inf or nan if one is not finite),
    the number the training loop checks before every step."""
    squares = (
        g.squared_norm() if isinstance(g, RowSparseGrad) else _squared_norm(g)
        for g in (p.grad for p in params)
        if g is not None
    )
    return math.sqrt(sum(squares))


def _squared_norm(g: np.ndarray) -> float:
    """sum(g**2) as dot products over fixed blocks spread over the threads (the same
    result for any number of threads; one BLAS dot product uses one core)."""
    flat = np.ascontiguousarray(g).reshape(-1)
    block = 1 << 18
    if flat.size <= block:  # one block: no partial sums to add up
        return float(np.dot(flat, flat))
    partial = np.zeros(-(-flat.size // block))

    def dot(lo: int, hi: int) -> None:
        partial[lo // block] = np.dot(flat[lo:hi], flat[lo:hi])

    parallel_ranges(dot, flat.size, block)
    return float(partial.sum())


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients together so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (inf or nan if a gradient is not finite, in which case
    nothing is scaled).
    """
    max_norm = check_real("max_norm", max_norm, minimum=0, min_inclusive=False)
    params = list(params)
    grads = [p.grad for p in params if p.grad is not None]
    total = grad_norm(params)
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            if isinstance(g, RowSparseGrad):
                g.values *= scale
            else:
                g *= scale
    return total


# ---------------------------------------------------------------------------- schedules


class LRScheduler:
    """Base class: sets each group's ``lr`` from its initial value and the epoch count.

    Call ``step()`` once per epoch (or per step, if that is your unit), after the
    optimizer's step.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0

    def factor(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * self.factor(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.gamma = check_real("gamma", gamma, minimum=0, min_inclusive=False)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = check_real("gamma", gamma, minimum=0, min_inclusive=False)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma**epoch


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    Args:
        optimizer: the optimizer whose learning rate to change.
        mode: "min" (loss, perplexity) or "max" (accuracy).
        factor: in (0, 1); 0.5 halves the rate.
        patience: epochs without improvement tolerated before reducing.
        threshold: relative improvement that counts (``threshold_mode="rel"``) or absolute
            (``"abs"``).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate never goes below this.

    ``step(metric)`` returns True when it reduced the rate.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        check_choice("mode", mode, ("min", "max"))
        check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        factor = check_real("factor", factor, 0, 1, min_inclusive=False, max_inclusive=False)
        patience = check_int("patience", patience, minimum=0)
        cooldown = check_int("cooldown", cooldown, minimum=0)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold = check_real("threshold", threshold, minimum=0)
        self.threshold_mode, self.cooldown = threshold_mode, cooldown
        self.min_lr = check_real("min_lr", min_lr, minimum=0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, metric: float) -> bool:
        if self.mode == "min":
            bound = (
                self.best * (1 - self.threshold)
                if self.threshold_mode == "rel"
                else self.best - self.threshold
            )
            return metric < bound
        bound = (
            self.best * (1 + self.threshold)
            if self.threshold_mode == "rel"
            else self.best + self.threshold
        )
        return metric > bound

    def step(self, metric: float) -> bool:
        metric = float(metric)
        if self.is_better(metric):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            reduced = False
            for group in self.optimizer.param_groups:
                new_lr = max(group["lr"] * self.factor, self.min_lr)
                if group["lr"] - new_lr > 1e-12:
                    group["lr"] = new_lr
                    reduced = True
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
            return reduced
        return False

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
