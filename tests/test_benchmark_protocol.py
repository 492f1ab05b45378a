"""The classification benchmark's selection protocol (benchmarks/classify.py): recipes are
chosen on training data only, and the test data reaches nothing but the final run of the
recipe chosen. Tiny made-up data; no dataset needed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "classify_bench", ROOT / "benchmarks" / "classify.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(ROOT / "benchmarks"))


def _pairs(prefix, n):
    texts = [f"{prefix} {'good' if i % 2 else 'bad'} text {i}" for i in range(n)]
    return texts, ["pos" if i % 2 else "neg" for i in range(n)]


def test_the_candidates_are_every_shipped_recipe(bench):
    assert bench.CANDIDATES == ("default", "mr", "sst2", "trec")
    assert bench.RECIPES["trec"].params["epochs"] == 10 and bench.RECIPES["default"].params["wide"]


def test_trec_and_mr_folds_hold_training_texts_only(bench):
    train, test = _pairs("train", 40), _pairs("test", 10)
    splits = bench.selection_splits("trec", {"train": train, "test": test}, seed=0)
    assert len(splits) == bench.SELECTION_FOLDS
    held = [t for _, (texts, _) in splits for t in texts]
    assert sorted(held) == sorted(train[0])  # each training text held out exactly once
    for (fit_texts, _), (held_texts, _) in splits:
        assert not set(fit_texts) & set(held_texts)
        assert not set(fit_texts + held_texts) & set(test[0])
    outer = _pairs("outer", 30)  # MR: the inner folds of one outer fold's training part
    splits = bench.selection_splits("mr", {"all": train}, seed=0, train=outer)
    assert len(splits) == bench.INNER_FOLDS
    assert sorted(t for _, (texts, _) in splits for t in texts) == sorted(outer[0])


def test_sst2_folds_drop_the_phrases_of_held_out_sentences_only(bench):
    sentences = (["a fine film", "a dull film", "fine acting", "dull acting"] * 3, [1, 0, 1, 0] * 3)
    sentences = ([f"{t} {i}" for i, t in enumerate(sentences[0])], sentences[1])
    phrases = (
        [*sentences[0], "a fine film 0", "film", "fine acting 2", "never seen"],
        [*sentences[1], 1, 1, 1, 0],
    )
    sets = {"train": phrases, "train_sentences": sentences}
    for (fit_texts, _), (held_texts, _) in bench.selection_splits("sst2", sets, seed=0):
        assert not set(held_texts) & set(fit_texts)  # no held-out sentence as a phrase
        assert "never seen" not in fit_texts  # found in no sentence: dropped
        # "film" occurs in training sentences too, so it stays in every fold
        assert "film" in fit_texts


def test_choose_takes_the_best_held_out_score_and_the_first_of_equals(bench):
    scores = {"a": {"accuracy": 0.8}, "b": {"accuracy": 0.9}, "c": {"accuracy": 0.9}}
    assert bench.choose(scores) == "b"


def test_score_candidates_pools_every_held_out_text(bench):
    train = _pairs("x", 24)
    splits = bench.selection_splits("trec", {"train": train}, seed=0)[:2]
    from ffnlp.recipes import recipe_from_options

    small = recipe_from_options({"embed_dim": 4, "epochs": 2})
    scores = bench.score_candidates(splits, {"small": small}, seed=0)
    s = scores["small"]
    assert len(s["folds"]) == 2 and len(s["seconds"]) == 2
    assert s["accuracy"] == pytest.approx(np.dot(s["folds"], s["held_out"]) / sum(s["held_out"]))


def test_the_test_set_reaches_only_the_final_runs_of_the_recipe_chosen(bench, monkeypatch):
    train, test = _pairs("train", 40), _pairs("test", 10)
    monkeypatch.setattr(
        bench, "load", lambda name, data: {"train": train, "dev": None, "test": test}
    )
    monkeypatch.setattr(bench, "_fresh", lambda function, *args: function(*args))
    seen_by_selection, final = [], []

    def score(splits, candidates, seed):
        seen_by_selection.extend(t for pair in splits for part in pair for t in part[0])
        return {n: {"accuracy": 0.9 if n == "mr" else 0.5, "seconds": [0.1]} for n in candidates}

    def run(fit, scored, recipe, seed):
        final.append((fit[0], scored[0], recipe))
        return {"accuracy": 1.0, "train_seconds": 0.1, "peak_memory_mb": 1.0}

    monkeypatch.setattr(bench, "score_candidates", score)
    monkeypatch.setattr(bench, "run_ffnlp", run)
    results = bench.evaluate("trec", Path("."), seed=0, systems=["ffnlp"], repeats=2)
    assert seen_by_selection and not set(seen_by_selection) & set(test[0])
    assert len(final) == 2  # the repeats: one recipe, two seeds, each fit on all of train
    assert all(f == train[0] and s == test[0] and r == bench.RECIPES["mr"] for f, s, r in final)
    assert results["ffnlp"]["selection"]["chosen"] == "mr"


def test_mr_chooses_per_outer_fold_on_that_folds_training_part(bench, monkeypatch):
    everything = _pairs("all", 40)
    monkeypatch.setattr(bench, "load", lambda name, data: {"all": everything, "folds": 4})
    monkeypatch.setattr(bench, "_fresh", lambda function, *args: function(*args))
    tested = []

    def score(splits, candidates, seed):
        seen = {t for pair in splits for part in pair for t in part[0]}
        assert not seen & set(tested_next[0])  # the outer test fold is not in its choice
        return {n: {"accuracy": 0.9 if n == "sst2" else 0.5, "seconds": [0.1]} for n in candidates}

    real_splits = bench.selection_splits
    tested_next = [set()]

    def splits(name, sets, seed, train=None):
        tested_next[0] = set(everything[0]) - set(train[0])
        return real_splits(name, sets, seed, train)

    def run(fit, scored, recipe, seed):
        tested.append(recipe)
        return {"accuracy": 1.0, "train_seconds": 0.1, "peak_memory_mb": 1.0}

    monkeypatch.setattr(bench, "selection_splits", splits)
    monkeypatch.setattr(bench, "score_candidates", score)
    monkeypatch.setattr(bench, "run_ffnlp", run)
    results = bench.evaluate("mr", Path("."), seed=0, systems=["ffnlp"])
    assert results["ffnlp"]["selection"]["chosen"] == ["sst2"] * 4
    assert tested == [bench.RECIPES["sst2"]] * 4


def test_each_candidate_s_raw_result_is_kept_in_the_tuning_record(bench, monkeypatch, tmp_path):
    import json

    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    first = bench.record("trec_cv", {"options": {"epochs": 3}, "accuracy": 87.2})
    bench.record("trec_cv", {"options": {"epochs": 5}, "accuracy": 87.5})
    lines = (tmp_path / "tuning" / "trec_cv.jsonl").read_text().splitlines()
    assert [json.loads(line)["accuracy"] for line in lines] == [87.2, 87.5]  # appended
    assert first["script"] == "trec_cv" and first["time"] and "commit" in first
    assert json.loads(lines[0]) == first


def test_the_readme_s_before_and_after_claim_holds_in_the_kept_runs():
    """The README says the runs before and after the classifier was split into parts gave
    the same ffnlp figures and held-out scores, digit for digit: the kept raw runs say so."""
    import json

    runs = ROOT / "benchmarks" / "results" / "classify-runs"
    before, after = (
        {d["dataset"]: d["ffnlp"] for d in map(json.loads, (runs / name).read_text().splitlines())}
        for name in (
            "classify-2026-12-01-0935-before-redesign.jsonl",
            "classify-2026-12-01-1014.jsonl",
        )
    )
    assert set(before) == set(after) == {"mr", "sst2", "trec"}
    for name in before:
        assert before[name]["accuracy"] == after[name]["accuracy"]
        assert before[name].get("runs") == after[name].get("runs")
        a, b = before[name]["selection"], after[name]["selection"]
        assert a["chosen"] == b["chosen"]
        folds = lambda s: [s["scores"]] if "scores" in s else [f["scores"] for f in s["folds"]]  # noqa: E731
        for x, y in zip(folds(a), folds(b), strict=True):
            assert {c: v["folds"] for c, v in x.items()} == {c: v["folds"] for c, v in y.items()}
    current = json.loads((ROOT / "benchmarks" / "results" / "classify.json").read_text())
    assert all(current[n]["ffnlp"]["accuracy"] == after[n]["accuracy"] for n in after)


def test_the_final_fits_take_turns_in_alternating_order(bench, monkeypatch):
    """ffnlp's and fastText's fit times are compared as medians over fits that alternate,
    seed by seed, first one system first, then the other."""
    train, test = _pairs("train", 40), _pairs("test", 10)
    monkeypatch.setattr(
        bench, "load", lambda name, data: {"train": train, "dev": None, "test": test}
    )
    monkeypatch.setattr(bench, "_fresh", lambda function, *args: function(*args))
    monkeypatch.setattr(bench.shutil, "which", lambda name: "/usr/bin/fasttext")
    monkeypatch.setattr(bench, "choose_fasttext", lambda train, dev, seed: {"epoch": 5})
    monkeypatch.setattr(
        bench,
        "score_candidates",
        lambda splits, candidates, seed: {n: {"accuracy": 0.5} for n in candidates},
    )
    calls = []

    def runner(system, seconds):
        def run(*args):
            calls.append((system, args[-1]))
            return {"accuracy": 0.5, "train_seconds": seconds[args[-1]], "peak_memory_mb": 1}

        return run

    monkeypatch.setattr(bench, "run_ffnlp", runner("ffnlp", [1.0, 9.0, 2.0]))
    monkeypatch.setattr(bench, "run_fasttext", runner("fasttext", [3.0, 4.0, 5.0]))
    results = bench.evaluate("trec", Path("."), seed=0, systems=["ffnlp", "fasttext"], repeats=3)
    assert calls == [
        ("ffnlp", 0), ("fasttext", 0), ("fasttext", 1), ("ffnlp", 1), ("ffnlp", 2), ("fasttext", 2)
    ]  # fmt: skip
    assert results["ffnlp"]["train_seconds_runs"] == [1.0, 9.0, 2.0]
    assert results["ffnlp"]["train_seconds"] == 2.0  # the median, not the mean
    assert results["fasttext"]["train_seconds"] == 4.0
