"""benchmarks/lm_wikitext2.py end to end on a made-up corpus in WikiText's layout (a tiny
recipe, in this process): KN5, the neural LM and their mixture, with the weight chosen on
valid, written as the table and its JSON; and its recipe is the wikitext2 recipe file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "lm_wikitext2", ROOT / "benchmarks" / "lm_wikitext2.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

TINY = {
    "model": {"context_size": 2, "embed_dim": 8, "hidden_dims": [16], "layout": "stream"},
    "training": {"epochs": 2, "batch_size": 32, "lr": 0.01, "early_stopping": 0},
}


def _wikitext(root: Path) -> Path:
    """Three splits of made-up paragraphs, with WikiText's headings and blank lines."""
    rng = np.random.default_rng(0)
    words = "the a cat dog sat ate on in mat fish , . <unk> @-@".split()
    folder = root / "wikitext2"
    folder.mkdir(parents=True)
    for split, n in (("train", 60), ("valid", 12), ("test", 12)):
        lines = [" = Heading = ", ""]
        for _ in range(n):
            lines += [" " + " ".join(rng.choice(words, size=rng.integers(5, 15))) + " ", ""]
        (folder / f"wiki.{split}.tokens").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(bench, "recipe_dict", lambda name: json.loads(json.dumps(TINY)))
    monkeypatch.setattr(bench, "in_fresh_process", lambda function, *args: function(*args))


def test_the_three_models_and_the_mixture_chosen_on_valid(tmp_path, tiny, capsys):
    data, results = _wikitext(tmp_path / "data"), tmp_path / "results"
    assert (
        bench.main(["--data-dir", str(data), "--results-dir", str(results), "--max-time", "1m"])
        == 0
    )
    written = json.loads((results / "lm_wikitext2.json").read_text())
    kn, neural, mixed = written["kn5"], written["neural"], written["mixture"]
    assert written["quick"] is False and neural["recipe"]["training"]["max_time"] == 60.0
    assert neural["epochs_run"] == 2 and neural["out_of_time"] is False
    assert neural["recipe_name"] == "wikitext2"
    for r in (kn, neural):
        assert r["train_seconds"] > 0 and r["tokens_per_second"] > 0 and r["peak_memory_mb"] > 0
    assert 0 < mixed["weight"] < 1
    # the weight that is best on valid cannot make valid worse than either model alone
    assert mixed["valid_ppl"] <= min(kn["valid_ppl"], neural["valid_ppl"]) + 1e-9
    md = (results / "lm_wikitext2.md").read_text()
    assert (
        "| model | valid ppl | test ppl | target (issue 21) | training time | tokens/s | peak memory |"
        in md
    )
    assert f"| KN5 | {kn['valid_ppl']:.2f} | {kn['test_ppl']:.2f} |  |" in md
    assert (
        f"| feedforward NNLM | {neural['valid_ppl']:.2f} | {neural['test_ppl']:.2f} | ≤ 160 |" in md
    )
    assert f"| NNLM + KN5 (weight {mixed['weight']:.2f}) | {mixed['valid_ppl']:.2f} |" in md
    assert "The neural LM trained 2 epochs (best: " in md and "A smoke run" not in md
    # the full run's raw result is kept beside the validation-only candidates, test and all
    (line,) = (results / "tuning" / "lm_wikitext2.jsonl").read_text().splitlines()
    kept = json.loads(line)
    assert kept["test_ppl"] == neural["test_ppl"] and kept["curve"] == neural["curve"]
    assert kept["mixture"] == mixed and kept["script"] == "lm_wikitext2"
    # KN5 alone again: the neural LM's results stay, and the mixture is made again from both
    assert (
        bench.main(["--data-dir", str(data), "--results-dir", str(results), "--parts", "kn"]) == 0
    )
    again = json.loads((results / "lm_wikitext2.json").read_text())
    assert again["neural"] == neural and again["mixture"] == mixed


def test_a_quick_run_is_marked_and_never_shares_a_table_with_a_measurement(tmp_path, tiny):
    data, results = _wikitext(tmp_path / "data"), tmp_path / "results"
    assert (
        bench.main(["--data-dir", str(data), "--results-dir", str(results), "--parts", "kn"]) == 0
    )
    assert bench.main(["--data-dir", str(data), "--results-dir", str(results), "--quick"]) == 0
    written = json.loads((results / "lm_wikitext2.json").read_text())
    assert written["quick"] is True
    assert written["neural"]["recipe"]["training"]["epochs"] == 1
    assert written["neural"]["recipe"]["model"]["embed_dim"] == bench.QUICK_MODEL["embed_dim"]
    assert "**A smoke run (--quick)" in (results / "lm_wikitext2.md").read_text()


def test_the_benchmark_trains_the_wikitext2_recipe_file():
    from ffnlp.recipes import load_lm_recipe

    recipe = bench.neural_recipe(epochs=3, max_time=90.0)
    groups = load_lm_recipe("wikitext2").groups()
    assert recipe["model"] == groups["model"]
    assert recipe["training"] == {**groups["training"], "epochs": 3, "max_time": 90.0}


def test_a_candidate_recipe_file_is_trained_with_the_run_s_bounds(tmp_path):
    # A candidate compared on validation: the file's settings, the run's bounds over them.
    from ffnlp.recipes import load_lm_recipe

    candidate = tmp_path / "wikitext2-fofe.toml"
    text = (ROOT / "src" / "ffnlp" / "recipes" / "wikitext2.toml").read_text()
    assert "\nfofe = [0.7]\n" in text
    candidate.write_text(text.replace("\nfofe = [0.7]\n", "\nfofe = [0.5, 0.9]\n"))
    recipe = bench.neural_recipe(epochs=2, name=str(candidate))
    groups = load_lm_recipe("wikitext2").groups()
    assert recipe["model"] == {**groups["model"], "fofe": [0.5, 0.9]}
    assert recipe["training"] == {**groups["training"], "epochs": 2}


def test_no_data_is_skipped_not_failed(tmp_path, capsys):
    assert bench.main(["--data-dir", str(tmp_path)]) == 0
    assert "skipped: no WikiText-2 under" in capsys.readouterr().err


def test_a_candidate_on_validation_only_is_recorded_and_never_scored_on_test(
    tmp_path, tiny, monkeypatch, capsys
):
    import classify

    monkeypatch.setattr(classify, "RESULTS", tmp_path / "results")
    data = _wikitext(tmp_path / "data")
    scored = []
    real = bench.run_neural
    monkeypatch.setattr(bench, "run_neural", lambda *a: scored.append(a) or real(*a))
    folder = tmp_path / "logs"
    argv = ["--data-dir", str(data), "--valid-only", "--max-time", "1m", "--results-dir"]
    assert bench.main([*argv, str(folder)]) == 0
    steps = [
        json.loads(s) for s in (folder / ".wikitext2_probe_log.jsonl").read_text().split("\n") if s
    ]
    assert steps and {"step", "epoch", "train_loss"} <= set(steps[0])  # followed as it runs
    (line,) = (tmp_path / "results" / "tuning" / "lm_wikitext2.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["script"] == "lm_wikitext2" and entry["recipe_name"] == "wikitext2"
    assert entry["epochs_run"] == 2 and len(entry["curve"]) == 2
    best = min(r["valid_loss"] for r in entry["curve"])
    assert entry["valid_ppl"] == pytest.approx(np.exp(best))
    assert "test_ppl" not in entry and not scored  # the test split is never scored
    assert not list((tmp_path / "results").glob("lm_wikitext2.*"))  # no table written
