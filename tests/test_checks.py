"""The shared argument checks: one rule for integers, reals, choices and flags everywhere."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import ffnlp
from ffnlp.checks import check_bool, check_choice, check_int, check_probability, check_real

NOT_NUMBERS = [True, False, np.True_, np.False_, None, "3", [3], np.array([3])]


# ---------------------------------------------------------------------------- integers


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"minimum": 1}, "a positive integer"),
        ({"minimum": 0}, "a non-negative integer"),
        ({"minimum": 2}, "an integer >= 2"),
        ({"minimum": 3, "min_inclusive": False}, "an integer > 3"),
        ({"maximum": 5}, "an integer <= 5"),
        ({"minimum": 1, "maximum": 5}, "an integer in [1, 5]"),
        ({}, "an integer"),
    ],
)
def test_check_int_says_the_rule_and_the_value(kwargs, rule):
    with pytest.raises(ValueError) as info:
        check_int("epochs", 2.5, **kwargs)
    assert str(info.value) == f"epochs must be {rule}; got 2.5"


def test_check_int_note_goes_in_brackets_after_the_rule():
    with pytest.raises(ValueError) as info:
        check_int("top_k", -1, minimum=0, note="0 = no limit")
    assert str(info.value) == "top_k must be a non-negative integer (0 = no limit); got -1"


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_check_int_accepts_python_and_numpy_integers_as_plain_int(value):
    out = check_int("n", value, minimum=1)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [*NOT_NUMBERS, 3.0, np.float64(3.0), 1 + 0j])
def test_check_int_refuses_bools_floats_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"^n must be an integer; got "):
        check_int("n", value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, False), (1, True), (5, True), (6, False), (np.int64(6), False), (np.int64(5), True)],
)
def test_check_int_bounds_are_inclusive_by_default(value, ok):
    if ok:
        assert check_int("n", value, minimum=1, maximum=5) == value
    else:
        with pytest.raises(ValueError, match=r"n must be an integer in \[1, 5\]"):
            check_int("n", value, minimum=1, maximum=5)


def test_check_int_exclusive_bounds():
    assert check_int("n", 4, minimum=3, min_inclusive=False) == 4
    with pytest.raises(ValueError, match="n must be an integer > 3; got 3"):
        check_int("n", 3, minimum=3, min_inclusive=False)
    with pytest.raises(ValueError, match=r"n must be an integer in \[0, 3\); got 3"):
        check_int("n", 3, minimum=0, maximum=3, max_inclusive=False)


# ---------------------------------------------------------------------------- reals


@pytest.mark.parametrize("value", [2, 2.0, np.float32(2.0), np.float64(2.0), np.int64(2)])
def test_check_real_accepts_ints_and_floats_of_both_kinds_as_plain_float(value):
    out = check_real("lr", value, minimum=0, min_inclusive=False)
    assert out == 2.0 and type(out) is float


@pytest.mark.parametrize("value", [*NOT_NUMBERS, 1 + 0j])
def test_check_real_refuses_bools_and_non_numbers(value):
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0; got "):
        check_real("lr", value, minimum=0, min_inclusive=False)


@pytest.mark.parametrize("nan", [math.nan, np.float32("nan"), np.float64("nan")])
def test_check_real_refuses_nan_even_without_bounds_or_with_inf_allowed(nan):
    with pytest.raises(ValueError, match=r"^x must be a finite number; got nan"):
        check_real("x", nan)
    with pytest.raises(ValueError, match=r"^x must be a number >= 0; got nan"):
        check_real("x", nan, minimum=0, allow_inf=True)


def test_check_real_refuses_an_int_too_large_for_a_float_as_infinite():
    with pytest.raises(ValueError, match="lr must be a finite number > 0; got 1000"):
        check_real("lr", 10**400, minimum=0, min_inclusive=False)
    assert check_real("t", 10**400, minimum=0, allow_inf=True) == math.inf


def test_check_real_refuses_infinity_unless_allowed():
    with pytest.raises(ValueError, match="lr must be a finite number > 0; got inf"):
        check_real("lr", math.inf, minimum=0, min_inclusive=False)
    assert check_real("t", math.inf, minimum=0, min_inclusive=False, allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="t must be a number > 0; got -inf"):
        check_real("t", -math.inf, minimum=0, min_inclusive=False, allow_inf=True)


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({"minimum": 0}, -1, "w must be a finite number >= 0; got -1"),
        ({"minimum": 0, "min_inclusive": False}, 0.0, "w must be a finite number > 0; got 0.0"),
        ({"maximum": 1}, 2.0, "w must be a finite number <= 1; got 2.0"),
        ({"maximum": 1, "max_inclusive": False}, 1, "w must be a finite number < 1; got 1"),
        (
            {"minimum": 0, "maximum": 1, "min_inclusive": False},
            0,
            "w must be a number in (0, 1]; got 0",
        ),
        (
            {"minimum": 0, "maximum": 1, "min_inclusive": False, "max_inclusive": False},
            1.0,
            "w must be a number in (0, 1); got 1.0",
        ),
    ],
)
def test_check_real_bounds_and_messages(kwargs, value, message):
    with pytest.raises(ValueError) as info:
        check_real("w", value, **kwargs)
    assert str(info.value) == message


def test_check_real_values_on_the_inclusive_bounds_pass():
    assert check_real("w", 0, minimum=0, maximum=1) == 0.0
    assert check_real("w", 1, minimum=0, maximum=1) == 1.0


# ---------------------------------------------------------------------------- probabilities


def test_check_probability_is_half_open_unless_one_is_allowed():
    assert check_probability("dropout", 0) == 0.0
    assert check_probability("dropout", np.float32(0.5)) == 0.5
    with pytest.raises(ValueError) as info:
        check_probability("dropout", 1.5)
    assert str(info.value) == "dropout must be a number in [0, 1); got 1.5"
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\); got 1"):
        check_probability("dropout", 1)
    assert check_probability("weight", 1, allow_one=True) == 1.0
    with pytest.raises(ValueError, match=r"weight must be a number in \[0, 1\]; got -0.1"):
        check_probability("weight", -0.1, allow_one=True)


@pytest.mark.parametrize("value", [True, np.False_, math.nan, "0.5"])
def test_check_probability_refuses_bools_nan_and_strings(value):
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\)"):
        check_probability("p", value)


# ---------------------------------------------------------------------------- choices, flags


def test_check_choice_returns_the_value_or_names_the_choices():
    assert check_choice("layout", "stream", ("stream", "sentence")) == "stream"
    assert check_choice("layout", np.str_("stream"), ["stream", "sentence"]) == "stream"
    with pytest.raises(ValueError) as info:
        check_choice("layout", "lines", ["stream", "sentence"])
    assert str(info.value) == "layout must be one of ('stream', 'sentence'); got 'lines'"


@pytest.mark.parametrize("value", [["stream"], {"a": 1}, np.array(["stream", "x"]), None])
def test_check_choice_refuses_lists_dicts_and_arrays_without_crashing(value):
    with pytest.raises(ValueError, match=r"layout must be one of \('stream', 'sentence'\)"):
        check_choice("layout", value, ("stream", "sentence"))


def test_check_choice_refuses_bools_for_integer_choices():
    assert check_choice("order", 1, (1, 2)) == 1
    with pytest.raises(ValueError, match=r"order must be one of \(1, 2\); got True"):
        check_choice("order", True, (1, 2))


@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_check_bool_accepts_python_and_numpy_bools_as_plain_bool(value):
    out = check_bool("wide", value)
    assert out is bool(value)


@pytest.mark.parametrize("value", [0, 1, np.int64(1), "True", None, 1.0])
def test_check_bool_refuses_what_only_looks_like_a_bool(value):
    with pytest.raises(ValueError, match=r"^wide must be True or False; got "):
        check_bool("wide", value)


# ---------------------------------------------------------------------------- one home


def test_checks_import_nothing_from_the_rest_of_ffnlp():
    # Any layer may import the checks, so they may import no layer.
    tree = ast.parse(Path(ffnlp.__file__).with_name("checks.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("ffnlp"), node.module
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("ffnlp") for a in node.names)


def test_no_hand_written_integer_checks_are_left_in_src():
    src = Path(ffnlp.__file__).parent
    offenders = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        if path.name != "checks.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "isinstance(" in line and "bool)" in line and "not isinstance(" in line
    ]
    assert offenders == []


def test_numpy_integers_are_accepted_where_they_used_not_to_be():
    from ffnlp import optim
    from ffnlp.metrics import stratified_kfold
    from ffnlp.models.sampling import check_sampling
    from ffnlp.nn import Parameter
    from ffnlp.text.vocab import Vocab

    scheduler = optim.StepLR(optim.SGD([Parameter(np.zeros(2))], lr=0.1), step_size=np.int64(2))
    assert type(scheduler.step_size) is int
    assert len(Vocab.build([["a", "a", "b"]], min_count=np.int64(2))) == 4  # 3 specials + a
    assert len(list(stratified_kfold([0, 1] * 3, k=np.int64(3)))) == 3
    check_sampling(1.0, np.int64(5))
    with pytest.raises(ValueError, match="top_k must be a non-negative integer"):
        check_sampling(1.0, np.True_)


def test_numpy_integers_are_stored_as_plain_ints_in_a_train_config():
    from ffnlp.train import TrainConfig

    config = TrainConfig(epochs=np.int64(2), batch_size=np.int32(8), seed=np.int64(0))
    assert [type(v) for v in (config.epochs, config.batch_size, config.seed)] == [int] * 3
    with pytest.raises(ValueError, match="epochs must be a positive integer; got True"):
        TrainConfig(epochs=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, True), (np.int64(3), True), (True, False), (np.True_, False), (3.0, False), ("3", False)],
)
def test_is_int_is_the_same_rule_as_check_int(value, expected):
    from ffnlp.checks import is_int

    assert is_int(value) is expected


def test_model_configurations_store_numpy_integers_as_plain_ints():
    import json
    from dataclasses import asdict

    from ffnlp.models.classifier import DeepAveragingConfig
    from ffnlp.models.language_model import FeedforwardLMConfig

    lm = FeedforwardLMConfig(
        vocab_size=np.int64(20),
        context_size=np.int32(2),
        embed_dim=np.int64(4),
        hidden_dims=[np.int64(8)],
    )
    clf = DeepAveragingConfig(
        vocab_size=np.int64(20), num_classes=np.int64(2), embed_dim=np.int16(4)
    )
    for config in (lm, clf):
        json.dumps(asdict(config))  # a NumPy integer would not serialise
    assert (lm.vocab_size, lm.context_size, lm.embed_dim, lm.hidden_dims) == (20, 2, 4, (8,))
    assert type(lm.hidden_dims[0]) is int and type(clf.num_classes) is int
    with pytest.raises(ValueError, match="embed_dim must be a positive integer; got True"):
        FeedforwardLMConfig(vocab_size=20, embed_dim=True)
