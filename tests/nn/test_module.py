"""Module: registration, traversal, state dicts, modes and dtype conversion."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import nn
from ffnlp.autograd import Tensor


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3, rng=0)
        self.hidden = nn.Linear(3, 4, rng=1)
        self.out = nn.Linear(4, 5, rng=2)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.not_a_parameter = np.zeros(3)

    def forward(self, ids):
        return self.out(self.hidden(self.embed(ids)).tanh()) * self.scale


def test_parameters_are_registered_by_assignment_with_dotted_names():
    model = TwoLayer()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "scale",
        "embed.weight",
        "hidden.weight",
        "hidden.bias",
        "out.weight",
        "out.bias",
    ]
    assert model.num_parameters() == 1 + 15 + 12 + 4 + 20 + 5
    assert [name for name, _ in model.named_modules()] == ["", "embed", "hidden", "out"]


def test_reassigning_or_deleting_an_attribute_updates_the_registry():
    model = TwoLayer()
    model.scale = None
    assert "scale" not in dict(model.named_parameters())
    del model.out
    assert "out.weight" not in dict(model.named_parameters())


def test_tied_parameters_are_listed_once():
    model = TwoLayer()
    model.hidden = nn.Linear(3, 3, rng=0)
    model.out = nn.Linear(3, 5, rng=0)
    model.out.weight = model.embed.weight  # tied input and output embeddings, both (5, 3)
    names = [name for name, _ in model.named_parameters()]
    assert "embed.weight" in names and "out.weight" not in names
    assert len(model.parameters()) == len(set(map(id, model.parameters())))
    model.load_state_dict(model.state_dict())
    assert model.out.weight is model.embed.weight


def test_super_init_is_required():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match=r"call super\(\).__init__\(\)"):
        Broken()


def test_state_dict_round_trip_reproduces_the_outputs():
    a, b = TwoLayer(), TwoLayer()
    for p in b.parameters():
        p.data[...] = 0
    b.load_state_dict(a.state_dict())
    ids = np.array([[0, 4], [2, 2]])
    np.testing.assert_array_equal(a(ids).data, b(ids).data)


def test_state_dict_is_a_copy():
    model = TwoLayer()
    state = model.state_dict()
    state["hidden.bias"][:] = 7
    assert not np.any(model.hidden.bias.data == 7)


def test_load_state_dict_rejects_a_shape_mismatch_and_changes_nothing():
    model = TwoLayer()
    before = model.state_dict()
    state = model.state_dict()
    state["embed.weight"] = np.ones((5, 3))
    state["hidden.weight"] = np.zeros((3, 4))
    with pytest.raises(
        ValueError,
        match=r"shape mismatch for 'hidden.weight': the model has \(4, 3\), the state has \(3, 4\)",
    ):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_names_missing_and_unexpected_keys():
    model = TwoLayer()
    state = model.state_dict()
    del state["out.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['out.bias'\]; unexpected \['extra'\]"):
        model.load_state_dict(state)
    model.load_state_dict(state, strict=False)  # loads what matches


def test_train_and_eval_switch_every_submodule():
    net = nn.MLP([3, 4, 2], dropout=0.5, rng=0)
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_to_float64_converts_every_parameter():
    model = TwoLayer().to(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters())
    with pytest.raises(TypeError, match="must stay floating point"):
        model.to(np.int32)


def test_zero_grad_clears_all_gradients():
    model = TwoLayer()
    model(np.array([1, 2])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_shows_the_tree():
    text = repr(nn.MLP([2, 3, 1], rng=0))
    assert text.splitlines() == [
        "MLP(",
        "  (0): Linear(2, 3)",
        "  (1): Tanh()",
        "  (2): Linear(3, 1)",
        ")",
    ]


def test_parameter_requires_grad_and_must_be_float():
    assert nn.Parameter(np.zeros(2, dtype=np.float32)).requires_grad
    with pytest.raises(TypeError, match="only floating tensors"):
        nn.Parameter(np.zeros(2, dtype=np.int64))
    assert isinstance(nn.Parameter(np.zeros(1, dtype=np.float32)), Tensor)
