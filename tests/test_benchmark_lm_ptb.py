"""benchmarks/lm_ptb.py's names part: the dev split stops training, so the test loss is the
headline; a names-only run keeps the Penn Treebank results; the README quotes the results
file. Made-up names, tiny models: no dataset is needed."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lm_ptb", ROOT / "benchmarks" / "lm_ptb.py")
lm_ptb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lm_ptb)

TINY = {
    "model": {"context_size": 2, "embed_dim": 4, "hidden_dims": [8], "layout": "sentence"},
    "training": {"epochs": 3, "batch_size": 16, "lr": 0.01, "early_stopping": 0},
}


def _names(root: Path) -> Path:
    rng = np.random.default_rng(0)
    letters = [list("bdklmnrst"), list("aeiou")]  # made-up names: consonant, vowel, ...
    names = ["".join(rng.choice(letters[i % 2]) for i in range(n)) for n in rng.integers(3, 8, 200)]
    (root / "names").mkdir(parents=True)
    (root / "names" / "names.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.fixture
def tiny_recipes(monkeypatch):
    anchor = json.loads(json.dumps(lm_ptb.NAMES_ANCHOR))  # the anchor's model, 20 steps
    anchor["training"].update(epochs=2, max_steps=20)
    recipes = {
        "names": ("char MLP, ffnlp recipe", TINY),
        "names_anchor": ("char MLP, anchor's configuration", anchor),
    }
    monkeypatch.setattr(lm_ptb, "NAMES_RECIPES", recipes)
    return recipes


def test_run_names_reports_the_dev_loss_it_stopped_on_and_the_test_loss(tmp_path, tiny_recipes):
    result = lm_ptb.run_names(str(_names(tmp_path)), 0, "names")
    assert result["model"] == "char MLP, ffnlp recipe" and result["stopping_split"] == "dev"
    valid = [r["valid_loss"] for r in result["curve"]]
    # the model kept is the best epoch's on dev, so its dev loss is that epoch's
    assert result["best_epoch"] == int(np.argmin(valid)) + 1
    assert result["dev_loss"] == pytest.approx(min(valid), rel=1e-6)
    assert np.isfinite(result["test_loss"]) and result["test_loss"] != result["dev_loss"]
    anchor = lm_ptb.run_names(str(tmp_path), 0, "names_anchor")
    assert anchor["recipe"]["model"]["context_size"] == 3 and anchor["steps"] == 20


def _row(md: str, model: str) -> dict[str, str]:
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| model | test loss"))
    (row,) = [line for line in lines if line.startswith(f"| {model} |")]
    cells = lambda line: [c.strip() for c in line.strip("|").split("|")]  # noqa: E731
    return dict(zip(cells(header), cells(row)))


def _names_result(model, recipe, dev, test):
    return {
        "model": model,
        "recipe": recipe,
        "run": "2026-01-02 03:04",
        "stopping_split": "dev",
        "epochs_run": 9,
        "best_epoch": 7,
        "dev_loss": dev,
        "test_loss": test,
        "train_seconds": 12.3,
        "load_average": [0.5, 3.25],
        "tokens_per_second": 4567.8,
        "peak_memory_mb": 89.0,
        "samples": ["ann", "bob"],
    }


def test_the_names_table_gives_test_loss_first_and_names_dev_as_the_stopping_split(tmp_path):
    results = {
        "names": _names_result("char MLP, ffnlp recipe", lm_ptb.NAMES, 2.2224, 2.1116),
        "names_anchor": _names_result(
            "char MLP, anchor's configuration", lm_ptb.NAMES_ANCHOR, 2.3334, 2.4446
        ),
    }
    lm_ptb.write_report(results, tmp_path)
    md = (tmp_path / "lm_ptb.md").read_text()
    recipe, anchor = (
        _row(md, "char MLP, ffnlp recipe"),
        _row(md, "char MLP, anchor's configuration"),
    )
    assert list(recipe)[:4] == ["model", "test loss", "dev loss (stopping split)", "anchor (dev)"]
    assert (recipe["test loss"], recipe["dev loss (stopping split)"]) == ("2.112", "2.222")
    assert (anchor["test loss"], anchor["dev loss (stopping split)"]) == ("2.445", "2.333")
    assert (recipe["anchor (dev)"], anchor["anchor (dev)"]) == ("", "2.17")
    assert recipe["epochs (best)"] == "9 (7)"
    assert "the test split, seen by neither, gives the headline" in md
    assert "end of each run: 0.5 to 3.2; 0.5 to 3.2, on" in md  # a busy machine is named
    assert "Penn Treebank" not in md  # no PTB results, no PTB section
    assert json.loads((tmp_path / "lm_ptb.json").read_text()) == results


def test_a_names_run_keeps_the_penn_treebank_results(tmp_path, tiny_recipes, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    previous = json.loads((ROOT / "benchmarks" / "results" / "lm_ptb.json").read_text())
    ptb = {k: previous[k] for k in ("kn3", "kn5", "neural", "mixture")}
    (results / "lm_ptb.json").write_text(json.dumps(ptb))
    monkeypatch.setattr(lm_ptb, "RESULTS", results)
    monkeypatch.setattr(lm_ptb, "_in_fresh_process", lambda function, *args: function(*args))
    # no ptb/ folder: the names part alone needs only names.txt
    assert lm_ptb.main(["--parts", "names", "--data-dir", str(_names(tmp_path / "data"))]) == 0
    written = json.loads((results / "lm_ptb.json").read_text())
    assert {k: written[k] for k in ptb} == ptb
    assert written["names"]["stopping_split"] == written["names_anchor"]["stopping_split"] == "dev"
    md = (results / "lm_ptb.md").read_text()
    kn5 = ptb["kn5"]
    assert (
        f"| KN5 | {kn5['valid_ppl']:.2f} | {kn5['test_ppl']:.2f} | 141.2 | "
        f"{kn5['train_seconds']:.1f} s |" in md
    )
    runs = ", ".join(sorted({ptb[k]["run"] for k in ("kn3", "kn5", "neural")}))
    assert f"Run {runs}." in md  # the PTB rows keep the dates they were measured


def test_the_readme_quotes_the_names_results_file():
    results = json.loads((ROOT / "benchmarks" / "results" / "lm_ptb.json").read_text())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| char-level MLP")]
    assert len(rows) == 2
    for row, key in zip(rows, ("names", "names_anchor")):
        r = results[key]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{r['test_loss']:.3f} nats", row
        assert f"dev {r['dev_loss']:.3f}" in cells[0], row
        assert cells[3] == f"{r['train_seconds']:.0f} s", row
    assert re.search(r"\| 2\.17 \(dev\) \|", rows[1])
    anchor = results["names_anchor"]
    prose = f"reaches {anchor['dev_loss']:.3f} on dev and {anchor['test_loss']:.3f} on test"
    assert prose in " ".join(readme.split())


def test_a_candidate_recipe_on_validation_only_is_recorded_and_never_scored_on_test(
    tmp_path, monkeypatch
):
    import classify
    import tomli_w

    monkeypatch.setattr(classify, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(lm_ptb, "RESULTS", tmp_path / "results")
    rng = np.random.default_rng(0)
    words = "the a cat dog sat ate on in mat fish N <unk>".split()
    (tmp_path / "data" / "ptb").mkdir(parents=True)
    for split, n in (("train", 120), ("valid", 20), ("test", 20)):
        lines = [" ".join(rng.choice(words, size=rng.integers(3, 12))) for _ in range(n)]
        (tmp_path / "data" / "ptb" / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        tomli_w.dumps({"language_model": {**TINY["model"], **TINY["training"], "fofe": [0.7]}})
    )
    scored = []
    monkeypatch.setattr(lm_ptb, "run_neural", lambda *a: scored.append(a))
    argv = ["--data-dir", str(tmp_path / "data"), "--valid-only", "--recipe", str(candidate)]
    assert lm_ptb.main([*argv, "--epochs", "2", "--max-time", "1m"]) == 0
    (line,) = (tmp_path / "results" / "tuning" / "lm_ptb.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["recipe_name"] == "candidate.toml" and entry["recipe"]["model"]["fofe"] == [0.7]
    assert entry["recipe"]["training"]["max_time"] == 60.0 and len(entry["curve"]) == 2
    assert "test_ppl" not in entry and not scored  # the test split is never scored
    log = (tmp_path / "results" / ".ptb_probe_log.jsonl").read_text().splitlines()
    assert log and "train_loss" in json.loads(log[0])
    assert not list((tmp_path / "results").glob("lm_ptb.*"))  # no table written
