"""The recipe search (ffnlp.autotune, classify train --auto), on small data the tests make."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ffnlp.autotune
from ffnlp.autotune import autotune, fit_auto, held_out_splits, neighbours, recipe_of
from ffnlp.cli import main
from ffnlp.estimators import load_classifier
from ffnlp.recipes import load_recipe, recipe_from_options

from .test_estimators import NEG, POS

# Four versions of each text, told apart (copies would be held out together, as one).
TEXTS = [f"{text} ({copy})" for texts in (POS, NEG) for copy in range(4) for text in texts]
LABELS = ["pos"] * (4 * len(POS)) + ["neg"] * (4 * len(NEG))


class _Clock:
    """A clock that moves ``tick`` seconds each time it is read: the search then runs the
    same trials whatever the machine is doing."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = _Clock(0.05)
    monkeypatch.setattr(ffnlp.autotune, "time", fake)
    return fake


def test_the_search_starts_from_every_shipped_recipe_then_explores_the_best(clock):
    search = autotune(TEXTS, LABELS, time_budget=30, random_state=0)
    origins = [t.origin for t in search.trials]
    assert origins[:4] == ["recipe default", "recipe mr", "recipe sst2", "recipe trec"]
    assert len(search.trials) > 4 and all(o.startswith("trial ") for o in origins[4:])
    best = max(search.trials, key=lambda t: (t.score, -t.number))
    assert search.best is best and search.scoring == "3-fold cross-validation"
    assert all(len(t.scores) == 3 and 0 <= t.score <= 1 for t in search.trials)
    # The recipe chosen is the best trial's settings.
    assert search.recipe.params == recipe_from_options(best.options).params


def test_the_same_seed_and_budget_choose_the_same_recipe(monkeypatch):
    runs = []
    for _ in range(2):
        monkeypatch.setattr(ffnlp.autotune, "time", _Clock(0.05))
        runs.append(autotune(TEXTS, LABELS, time_budget=20, random_state=3))
    assert [t.to_dict() | {"seconds": 0} for t in runs[0].trials] == [
        t.to_dict() | {"seconds": 0} for t in runs[1].trials
    ]
    assert runs[0].recipe == runs[1].recipe


def test_a_candidate_starts_only_while_it_and_the_final_fit_fit_in_the_budget(clock):
    small = autotune(TEXTS, LABELS, time_budget=2, random_state=0)
    large = autotune(TEXTS, LABELS, time_budget=40, random_state=0)
    assert 1 <= len(small.trials) < len(large.trials)
    assert small.skipped > 0  # the dearer candidates were left out
    assert small.seconds <= 2 + 1.0  # the clock's ticks within the last trial's fits


def test_held_out_splits_cross_validate_small_data_and_hold_out_a_fifth_of_large():
    labels = ["a", "b"] * 30
    splits, how = held_out_splits(labels, 0)
    assert how == "3-fold cross-validation" and len(splits) == 3
    assert sorted(np.concatenate([held for _, held in splits]).tolist()) == list(range(60))
    splits, how = held_out_splits(["a", "b"] * 10_000, 0)
    assert how == "one stratified fifth held out" and len(splits) == 1
    train, held = splits[0]
    assert (len(train), len(held)) == (16_000, 4_000) and not set(train) & set(held)


def test_every_neighbour_of_every_shipped_recipe_is_a_valid_recipe():
    for name in ("default", "mr", "sst2", "trec"):
        options = ffnlp.autotune._options(load_recipe(name), name)
        steps = neighbours(options)
        assert len(steps) >= 8
        for what, step in steps:
            assert step != options, what
            recipe_from_options({k: v for k, v in step.items() if k != "_family"})


def test_fit_auto_trains_the_recipe_chosen_on_all_the_data_and_keeps_the_search(clock, tmp_path):
    lines = []
    model = fit_auto(TEXTS, LABELS, time_budget=10, random_state=0, say=lines.append)
    assert lines[0].startswith(f"searching for 10s on {len(TEXTS)} texts")
    assert any(line.startswith("trial   1  held-out accuracy") for line in lines)
    assert lines[-1].startswith(f"chose trial {model.search_['best_trial']} (")
    assert model.score(TEXTS, LABELS) > 0.9
    model.save(tmp_path / "m.npz")
    again = load_classifier(tmp_path / "m.npz")
    assert again.search_ == model.search_
    np.testing.assert_array_equal(again.predict_proba(TEXTS), model.predict_proba(TEXTS))
    assert recipe_of(again.search_).params == recipe_of(model.search_).params


def _train_file(tmp_path):
    path = tmp_path / "train.ft"
    path.write_text("".join(f"__label__{y} {t}\n" for t, y in zip(TEXTS, LABELS)))
    return path


def test_classify_train_auto_writes_a_recipe_that_trains_the_same_model(tmp_path, capsys):
    train = _train_file(tmp_path)
    argv = ["classify", "train", str(train), "--auto", "--time-budget", "3", "--no-progress"]
    argv += ["--write-recipe", str(tmp_path / "chosen.toml"), "--out", str(tmp_path / "a.npz")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert (
        f"searching for 3s on {len(TEXTS)} texts" in captured.err and "chose trial" in captured.err
    )
    assert "wrote the recipe chosen to" in captured.out
    auto = load_classifier(tmp_path / "a.npz")
    recipe = load_recipe(tmp_path / "chosen.toml")
    assert recipe.origin.startswith("held-out accuracy")
    argv = ["classify", "train", str(train), "--recipe", str(tmp_path / "chosen.toml")]
    assert main([*argv, "--no-progress", "--out", str(tmp_path / "r.npz")]) == 0
    again = load_classifier(tmp_path / "r.npz")
    np.testing.assert_array_equal(again.predict_proba(TEXTS), auto.predict_proba(TEXTS))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--auto", "--embed-dim", "8"],
            "--auto chooses the model and training settings: leave --embed-dim out",
        ),
        (["--auto", "--recipe", "mr"], "leave --recipe out, or drop --auto"),
        (["--time-budget", "5"], "--time-budget belongs to --auto: give --auto too"),
        (["--auto", "--time-budget", "soon"], "--time-budget must be a length of time > 0"),
        (["--auto", "--resume"], "--auto cannot resume"),
    ],
)
def test_auto_refuses_what_it_would_ignore(tmp_path, capsys, flags, message):
    train = _train_file(tmp_path)
    if "--resume" in flags:
        (tmp_path / "m.npz.ckpt").write_bytes(b"")
    code = main(["classify", "train", str(train), "--out", str(tmp_path / "m.npz"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "m.npz").exists()


def test_the_text_settings_given_with_auto_hold_for_every_candidate(clock):
    search = autotune(TEXTS, LABELS, time_budget=5, settings={"lowercase": True})
    assert search.recipe.params["lowercase"] is True
    assert all(t.options.get("lowercase") is None for t in itertools.islice(search.trials, 3))


def test_the_first_trial_within_one_standard_error_of_the_best_is_chosen():
    from ffnlp.autotune import Trial, choose, standard_error

    trials = [
        Trial(1, "recipe default", {}, [0.70, 0.72, 0.74], 1.0),
        Trial(2, "recipe mr", {}, [0.76, 0.78, 0.80], 1.0),
        Trial(3, "trial 2: lr", {}, [0.78, 0.79, 0.80], 1.0),  # the best mean, 0.79
    ]
    assert standard_error(trials[2], [100]) == pytest.approx(0.01 / np.sqrt(3))
    # 0.78 is below 0.79 - 0.0058: the later trial beats the recipe by more than the noise.
    assert choose(trials, [100, 100, 100]).number == 3
    trials[2].scores = [0.72, 0.82, 0.86]  # mean 0.80, standard error 0.042
    assert choose(trials, [100] * 3).number == 2
    one = [Trial(1, "a", {}, [0.80], 1.0), Trial(2, "b", {}, [0.81], 1.0)]
    assert choose(one, [400]).number == 1  # sqrt(.81 * .19 / 400) = 0.0196 > 0.01


def test_a_phrase_of_a_longer_text_is_held_out_with_it_and_only_whole_texts_are_scored():
    sentences = [f"the film number {i} was {'good' if i % 2 else 'bad'} indeed" for i in range(30)]
    phrases = [s.split(" was ")[1] for s in sentences]  # "good indeed": inside many sentences
    pieces = [s.split(" was ")[0].upper() for s in sentences]  # "THE FILM NUMBER 3": inside one
    texts = sentences + phrases + pieces
    labels = [i % 2 for i in range(30)] * 3
    splits, how = held_out_splits(labels, 0, texts)
    assert how == "3-fold cross-validation of the 30 whole texts"
    scored = np.concatenate([held for _, held in splits])
    assert sorted(scored.tolist()) == list(range(30))  # each sentence scored once, no piece
    for train, held in splits:
        for i in held:  # sentence i's piece trains only where sentence i does not
            assert 60 + i not in train
    assert held_out_splits(labels, 0)[1] == "3-fold cross-validation"  # no texts: plain split
