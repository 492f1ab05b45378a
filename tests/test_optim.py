"""Optimizers, clipping and schedules: step-by-step agreement with PyTorch, state round
trips, reproducibility and errors."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import nn, optim
from ffnlp.autograd import Tensor, ops


def _torch():
    return pytest.importorskip(
        "torch", reason="PyTorch is not installed; pip install torch==2.13.0"
    )


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    return x, y


def _run_ours(make_opt, steps=6, clip=None):
    x, y = _problem()
    net = nn.MLP([5, 4, 3], activation="tanh", rng=0)
    for name, p in net.named_parameters():
        if name.endswith("bias"):
            p.data[...] = 0.1
    opt = make_opt(net.parameters())
    for _ in range(steps):
        opt.zero_grad()
        ops.cross_entropy(net(Tensor(x)), y).backward()
        if clip:
            optim.clip_grad_norm_(net.parameters(), clip)
        opt.step()
    return [p.data.copy() for p in net.parameters()]


def _run_torch(torch, make_opt, steps=6, clip=None):
    x, y = _problem()
    net = nn.MLP([5, 4, 3], activation="tanh", rng=0)
    params = [torch.tensor(p.data, requires_grad=True) for p in net.parameters()]
    with torch.no_grad():
        params[1].fill_(0.1)
        params[3].fill_(0.1)
    opt = make_opt(params)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        h = torch.tanh(xt @ params[0].T + params[1])
        torch.nn.functional.cross_entropy(h @ params[2].T + params[3], yt).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
    return [p.detach().numpy() for p in params]


OPTIMIZERS = {
    "sgd": (lambda p: optim.SGD(p, lr=0.3), lambda T, p: T.optim.SGD(p, lr=0.3)),
    "sgd-wd": (
        lambda p: optim.SGD(p, lr=0.3, weight_decay=0.01),
        lambda T, p: T.optim.SGD(p, lr=0.3, weight_decay=0.01),
    ),
    "momentum": (
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
        lambda T, p: T.optim.SGD(p, lr=0.1, momentum=0.9),
    ),
    "dampening": (
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
        lambda T, p: T.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
    ),
    "nesterov": (
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda T, p: T.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    ),
    "adam": (lambda p: optim.Adam(p, lr=0.01), lambda T, p: T.optim.Adam(p, lr=0.01)),
    "adam-l2": (
        lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
        lambda T, p: T.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
    ),
    "adamw": (
        lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
        lambda T, p: T.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_match_torch(name):
    torch = _torch()
    ours_fn, theirs_fn = OPTIMIZERS[name]
    ours = _run_ours(ours_fn)
    theirs = _run_torch(torch, lambda p: theirs_fn(torch, p))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_matches_torch():
    torch = _torch()
    ours = _run_ours(lambda p: optim.SGD(p, lr=0.5), clip=0.05)
    theirs = _run_torch(torch, lambda p: torch.optim.SGD(p, lr=0.5), clip=0.05)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_scales_to_the_limit_and_returns_the_norm():
    a = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(1, dtype=np.float32), requires_grad=True)
    a.grad = np.array([3.0, 0.0], dtype=np.float32)
    b.grad = np.array([4.0], dtype=np.float32)
    assert optim.clip_grad_norm_([a, b], max_norm=1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-5)
    assert optim.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(
        np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8], rtol=1e-5
    )  # unchanged
    a.grad[0] = np.nan
    assert np.isnan(optim.clip_grad_norm_([a, b], max_norm=1.0))


def test_adam_update_is_in_place_and_allocates_its_buffers_once():
    p = nn.Parameter(np.ones(4, dtype=np.float32))
    opt = optim.Adam([p], lr=0.1)
    data = p.data
    p.grad = np.ones(4, dtype=np.float32)
    opt.step()
    buffers = {k: id(v) for k, v in opt.state[id(p)].items() if isinstance(v, np.ndarray)}
    opt.step()
    assert p.data is data and p.data.dtype == np.float32
    assert buffers == {k: id(v) for k, v in opt.state[id(p)].items() if isinstance(v, np.ndarray)}
    # First Adam step moves each weight by lr (m_hat / sqrt(v_hat) = 1 for a constant gradient).
    assert opt.state[id(p)]["step"] == 2
    np.testing.assert_allclose(p.data, 1 - 0.2, rtol=1e-5)


def test_parameter_groups_have_their_own_settings():
    w = nn.Parameter(np.ones(2, dtype=np.float32))
    b = nn.Parameter(np.ones(2, dtype=np.float32))
    opt = optim.SGD(
        [{"params": [w]}, {"params": [b], "weight_decay": 0.0}], lr=0.1, weight_decay=1.0
    )
    w.grad = np.zeros(2, dtype=np.float32)
    b.grad = np.zeros(2, dtype=np.float32)
    opt.step()
    np.testing.assert_allclose(w.data, 0.9)  # decayed
    np.testing.assert_allclose(b.data, 1.0)  # not decayed


def test_tied_parameters_are_updated_once():
    p = nn.Parameter(np.zeros(1, dtype=np.float32))
    opt = optim.SGD([p, p], lr=1.0)
    p.grad = np.ones(1, dtype=np.float32)
    opt.step()
    assert p.data[0] == -1.0


def test_optimizer_state_dict_resumes_exactly():
    def make(params):
        return optim.Adam(params, lr=0.01)

    x, y = _problem()
    full = nn.MLP([5, 4, 3], rng=0)
    opt = make(full.parameters())
    for _ in range(6):
        opt.zero_grad()
        ops.cross_entropy(full(Tensor(x)), y).backward()
        opt.step()

    first = nn.MLP([5, 4, 3], rng=0)
    opt1 = make(first.parameters())
    for _ in range(3):
        opt1.zero_grad()
        ops.cross_entropy(first(Tensor(x)), y).backward()
        opt1.step()
    saved_model, saved_opt = first.state_dict(), opt1.state_dict()

    second = nn.MLP([5, 4, 3], rng=99)
    second.load_state_dict(saved_model)
    opt2 = make(second.parameters())
    opt2.load_state_dict(saved_opt)
    for _ in range(3):
        opt2.zero_grad()
        ops.cross_entropy(second(Tensor(x)), y).backward()
        opt2.step()
    for a, b in zip(full.parameters(), second.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_same_seed_gives_bit_identical_training():
    def train(seed):
        x, y = _problem(seed=1)
        net = nn.MLP([5, 16, 16, 3], activation="relu", dropout=0.3, rng=seed)
        opt = optim.Adam(net.parameters(), lr=0.01)
        for _ in range(20):
            opt.zero_grad()
            ops.cross_entropy(net(Tensor(x)), y).backward()
            opt.step()
        return net.state_dict()

    a, b, c = train(5), train(5), train(6)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[name], c[name]) for name in a)


# ---------------------------------------------------------------------------- schedules


def _lrs(torch, ours_sched, theirs_sched, epochs=10, metrics=None):
    p = nn.Parameter(np.zeros(1, dtype=np.float32))
    q = torch.zeros(1, requires_grad=True)
    opt, topt = optim.SGD([p], lr=1.0), torch.optim.SGD([q], lr=1.0)
    s, ts = ours_sched(opt), theirs_sched(topt)
    ours, theirs = [], []
    for epoch in range(epochs):
        topt.step()
        if metrics is None:
            s.step()
            ts.step()
        else:
            s.step(metrics[epoch])
            ts.step(metrics[epoch])
        ours.append(opt.param_groups[0]["lr"])
        theirs.append(topt.param_groups[0]["lr"])
    return ours, theirs


def test_step_and_exponential_schedules_match_torch():
    torch = _torch()
    ours, theirs = _lrs(
        torch,
        lambda o: optim.StepLR(o, step_size=3, gamma=0.5),
        lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5),
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    ours, theirs = _lrs(
        torch,
        lambda o: optim.ExponentialLR(o, gamma=0.9),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9),
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_on_plateau_matches_torch(mode):
    torch = _torch()
    metrics = [5, 4, 4, 4, 3.9999, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2]
    if mode == "max":
        metrics = [-m for m in metrics]
    kwargs = {"mode": mode, "factor": 0.5, "patience": 1, "cooldown": 1, "min_lr": 0.1}
    ours, theirs = _lrs(
        torch,
        lambda o: optim.ReduceLROnPlateau(o, **kwargs),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **kwargs),
        epochs=len(metrics),
        metrics=metrics,
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    if mode == "min":
        assert ours == [
            1.0,
            1.0,
            1.0,
            0.5,
            0.5,
            0.5,
            0.5,
            0.25,
            0.25,
            0.25,
            0.25,
            0.125,
            0.125,
            0.125,
            0.1,
        ]


def test_reduce_on_plateau_halves_on_plateau():
    p = nn.Parameter(np.zeros(1, dtype=np.float32))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    assert [sched.step(m) for m in (3.0, 2.0, 2.5, 1.0, 1.0)] == [False, False, True, False, True]
    assert opt.param_groups[0]["lr"] == 0.25


def test_scheduler_state_round_trip():
    p = nn.Parameter(np.zeros(1, dtype=np.float32))
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.1)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    opt2 = optim.SGD([p], lr=1.0)
    sched2 = optim.StepLR(opt2, step_size=2, gamma=0.1)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"] == pytest.approx(0.01)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: optim.SGD(p, lr=0), r"lr must be a finite number > 0; got 0"),
        (lambda p: optim.SGD(p, lr=-0.1), r"lr must be a finite number > 0; got -0.1"),
        (lambda p: optim.SGD(p, lr=float("nan")), r"lr must be a finite number > 0; got nan"),
        (lambda p: optim.SGD(p, momentum=1.0), r"momentum must be a number in \[0, 1\); got 1.0"),
        (lambda p: optim.SGD(p, nesterov=True), r"nesterov=True needs momentum > 0"),
        (
            lambda p: optim.SGD(p, weight_decay=-1),
            r"weight_decay must be a finite number >= 0; got -1",
        ),
        (
            lambda p: optim.Adam(p, betas=(0.9, 1.0)),
            r"betas\[1\] must be a number in \[0, 1\); got 1.0",
        ),
        (lambda p: optim.Adam(p, eps=0), r"eps must be a finite number > 0; got 0"),
        (lambda p: optim.SGD([], lr=0.1), r"SGD: got an empty list of parameters"),
        (
            lambda p: optim.SGD([np.zeros(2)], lr=0.1),
            r"SGD: parameters must be Tensors; got ndarray",
        ),
        (
            lambda p: optim.StepLR(optim.SGD(p), step_size=0),
            r"step_size must be a positive integer; got 0",
        ),
        (
            lambda p: optim.ReduceLROnPlateau(optim.SGD(p), factor=1.5),
            r"factor must be a number in \(0, 1\); got 1.5",
        ),
        (
            lambda p: optim.ReduceLROnPlateau(optim.SGD(p), mode="up"),
            r"mode must be one of \('min', 'max'\); got 'up'",
        ),
        (
            lambda p: optim.clip_grad_norm_(p, max_norm=0),
            r"max_norm must be a finite number > 0; got 0",
        ),
    ],
)
def test_bad_settings_raise_clear_errors(make, message):
    params = [nn.Parameter(np.zeros(2, dtype=np.float32))]
    with pytest.raises((ValueError, TypeError), match=message):
        make(params)


# ---------------------------------------------------------------------------- sparse gradients


def _embedding_steps(make_opt, sparse, steps=4, clip=None):
    emb = nn.Embedding(20, 3, sparse=sparse, rng=0)
    head = nn.Linear(3, 2, rng=1)
    opt = make_opt(emb.parameters() + head.parameters())
    rng = np.random.default_rng(0)
    for _ in range(steps):
        ids = rng.integers(0, 6, (8, 2))  # rows 6..19 are never used
        opt.zero_grad()
        ops.cross_entropy(head(emb(ids).mean(axis=1)), rng.integers(0, 2, 8)).backward()
        if clip:
            optim.clip_grad_norm_(emb.parameters() + head.parameters(), clip)
        opt.step()
    return emb.weight.data.copy()


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: optim.SGD(p, lr=0.5),
        lambda p: optim.SGD(p, lr=0.5, momentum=0.9),
        lambda p: optim.SGD(p, lr=0.5, weight_decay=0.01),
        lambda p: optim.Adam(p, lr=0.05),
        lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1),
    ],
)
def test_sparse_gradients_give_the_same_updates_as_dense_ones(make_opt):
    np.testing.assert_array_equal(
        _embedding_steps(make_opt, sparse=True), _embedding_steps(make_opt, sparse=False)
    )


def test_sparse_clipping_equals_dense_clipping():
    make = lambda p: optim.SGD(p, lr=0.5)  # noqa: E731
    np.testing.assert_allclose(
        _embedding_steps(make, True, clip=0.01), _embedding_steps(make, False, clip=0.01), rtol=1e-6
    )


def test_lazy_adam_touches_only_the_rows_used():
    before = nn.Embedding(20, 3, rng=0).weight.data
    lazy = _embedding_steps(lambda p: optim.Adam(p, lr=0.05, lazy=True), sparse=True)
    dense = _embedding_steps(lambda p: optim.Adam(p, lr=0.05), sparse=True, steps=1)
    np.testing.assert_array_equal(lazy[6:], before[6:])  # unused rows never move
    assert not np.array_equal(lazy[:6], before[:6])
    first = _embedding_steps(lambda p: optim.Adam(p, lr=0.05, lazy=True), sparse=True, steps=1)
    np.testing.assert_allclose(first, dense, rtol=1e-6)  # identical on the first step
