"""The README stays true: its examples run as written and print what it shows, and CI
runs its test command word for word."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def _blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def _run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    return out.getvalue()


def test_quickstart_runs_and_prints_the_loss_falling_as_shown():
    quickstart = _section("The chapter in Python")
    printed = _run(_blocks("python", quickstart)[0])
    shown = re.search(r"It prints:\n\n```\n(.*?)```", quickstart, flags=re.S).group(1)
    assert printed == shown
    losses = [float(x) for x in re.findall(r"loss (\d+\.\d+)", printed)]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] / 10


def test_the_other_quickstart_examples_print_what_their_comments_say():
    for code in _blocks("python", _section("The chapter in Python"))[1:]:
        printed = _run(code)
        for comment in re.findall(r"# (-?\d.*)$", code, flags=re.M):
            assert comment.split() == printed.split()


def test_ci_runs_the_readme_test_command():
    command = _blocks("bash", _section("Tests"))[-1].strip()
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


TINY_PTB = [
    "the stock market fell sharply today",
    "the company said it expects higher profits",
    "the stock rose after the company said it would buy back shares",
    "analysts said the market was calm",
    "the company said its profits fell",
    "the market rose on monday and tuesday and fell in march",
]


def _fake_data(root: Path) -> None:
    """The README's paths, ../shared/data/..., with tiny files in the real formats."""
    data = root / "shared" / "data"
    for folder in ("ptb", "names", "trec", "mr", "sst2", "sst2_glue"):
        (data / folder).mkdir(parents=True)
    for split, repeat in (("train", 4), ("valid", 1), ("test", 1)):
        (data / "ptb" / f"ptb.{split}.txt").write_text(
            "".join(f" {s} \n" for s in TINY_PTB * repeat)
        )
    (data / "wikitext2").mkdir()
    for split, repeat in (("train", 4), ("valid", 1), ("test", 1)):  # headings, blank lines
        (data / "wikitext2" / f"wiki.{split}.tokens").write_text(
            " \n = Heading = \n \n" + "".join(f" {s} \n" for s in TINY_PTB * repeat)
        )
    (data / "names" / "names.txt").write_text(
        "\n".join(["emma", "olivia", "ava", "isabella", "sophia", "mia"] * 5)
    )
    questions = [
        "3 how far is denver from aspen ?",
        "4 where is the eiffel tower ?",
        "0 what is a caldera ?",
        "5 how many miles is it to the moon ?",
    ]
    # Like the real file, the training questions hold one byte that is not UTF-8.
    (data / "trec" / "TREC.train.all").write_bytes(
        ("\n".join(questions * 4) + "\n1 a sister\xf0city ?\n").encode("latin-1")
    )
    (data / "trec" / "TREC.test.all").write_text("\n".join(questions) + "\n")
    raw = [
        "NUM:dist How far is Denver from Aspen ?",
        "LOC:other Where is the Eiffel Tower ?",
        "DESC:def What is a caldera ?",
        "NUM:count How many miles is it to the Moon ?",
    ]
    (data / "trec" / "raw").mkdir()
    (data / "trec" / "raw" / "TREC.train").write_bytes(
        ("\n".join(raw * 4) + "\nENTY:other A sister\xf0city ?\n").encode("latin-1")
    )
    (data / "trec" / "raw" / "TREC.test").write_text("\n".join(raw) + "\n")
    # Distinct sentences: cross-validation keeps copies of a text in one fold.
    (data / "mr" / "rt-polarity.pos").write_bytes(
        "\n".join(
            f"{t}, take {i}" for t in ["a great caf\xe9 film", "warm and fun"] for i in range(6)
        ).encode("cp1252")
    )
    (data / "mr" / "rt-polarity.neg").write_bytes(
        "\n".join(
            f"{t}, take {i}" for t in ["a dull film", "flat and awful"] for i in range(6)
        ).encode("cp1252")
    )
    phrases = ["a great film \t1", "great \t1", "a dull film \t0", "dull \t0"]
    (data / "sst2_glue" / "train.tsv").write_text(
        "sentence\tlabel\n" + "\n".join(phrases * 4) + "\n"
    )
    (data / "sst2" / "stsa.binary.test").write_text("1 a great greatness\n0 a dull dullness\n")
    (data / "sst2" / "stsa.binary.train").write_text(
        "".join(f"{y} {t}\n" for t, y in [("a great film", 1), ("a dull film", 0)] * 4)
    )
    work = root / "work"  # the user's own files, where the commands run
    work.mkdir()
    paragraph = (
        "It was the best of times, it was the worst of times. The king sat on the\n"
        "throne, and the queen sat beside him. It was the age of wisdom.\n\n"
    )
    (work / "mybook.txt").write_text(paragraph * 30)
    reviews = [("a great film", "positive"), ("a dull , flat film", "negative")] * 6
    for name in ("reviews.csv", "reviews-test.csv"):
        (work / name).write_text(
            "id,text,label\n" + "".join(f'{i},"{t}",{y}\n' for i, (t, y) in enumerate(reviews))
        )


def _run_section(title: str, tmp_path: Path) -> Path:
    _fake_data(tmp_path)
    work = tmp_path / "work"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    section = _section(title)
    commands = [line for block in _blocks("bash", section) for line in block.strip().splitlines()]
    assert commands
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {command}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert "Traceback" not in done.stderr
    cwd = os.getcwd()
    os.chdir(work)
    try:
        for code in _blocks("python", section):
            assert _run(code).strip()
    finally:
        os.chdir(cwd)
    return work


needs_cli = pytest.mark.skipif(
    shutil.which("ffnlp") is None and not Path(sys.executable).with_name("ffnlp").exists(),
    reason="the ffnlp command is not installed",
)


def test_the_raw_text_lines_are_what_lm_train_says(tmp_path, capsys, monkeypatch):
    """The README's lines for mybook.txt are what ``lm train`` prints for the file the
    section's commands run on."""
    from ffnlp.cli import main

    _fake_data(tmp_path)
    monkeypatch.chdir(tmp_path / "work")
    section = _section("Language models")
    command = next(
        line
        for block in _blocks("bash", section)
        for line in block.splitlines()
        if line.startswith("ffnlp lm train mybook.txt")
    )
    assert main([*command.split()[1:], "--no-progress"]) == 0
    err = capsys.readouterr().err.splitlines()
    shown = re.search(r"```\n('mybook.txt' read as .*?)```", section, flags=re.S).group(1)
    assert len(shown.strip().splitlines()) == 2
    for line in shown.strip().splitlines():
        assert line in err


@needs_cli
def test_language_model_commands_run_as_written(tmp_path):
    work = _run_section("Language models", tmp_path)
    assert (
        (work / "nnlm.npz").exists()
        and (work / "kn5.arpa").exists()
        and (work / "valid-scores.tsv").exists()
    )


@needs_cli
def test_classification_commands_run_as_written(tmp_path):
    work = _run_section("Text classification", tmp_path)
    assert (work / "trec.npz").exists() and (work / "sst2.npz").exists()
    assert (work / "trec-ml.npz").exists()  # multi-label
    assert (
        (work / "trec-ml.train")
        .read_text(encoding="latin-1")
        .startswith("__label__NUM __label__NUM:dist how far is denver")
    )
    predictions = (work / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "id,text,label,predicted_label,probability"
    assert len(predictions) == 13


@needs_cli
def test_word_vector_commands_run_as_written(tmp_path):
    pytest.importorskip("gensim")  # the section's Python reads the .vec file with it
    work = _run_section("Word vectors", tmp_path)
    lines = (work / "ptb.vec").read_text().splitlines()
    assert lines[0].split()[1] == "64" and len(lines) == int(lines[0].split()[0]) + 1
    assert len((work / "sentence.txt").read_text().split()) == 64


def test_the_subword_table_is_the_benchmark_s():
    results = json.loads((ROOT / "benchmarks" / "results" / "subwords.json").read_text())
    table = _section("Text classification")
    for row in results["summary"]:
        name = {"sst2": "SST-2", "trec": "TREC"}[row["dataset"]]
        cells = f"{row['accuracy']:.2f} ± {row['accuracy_std']:.2f}"
        line = next(
            x
            for x in table.splitlines()
            if x.startswith(f"| {name} ({100 * row['oov_token_share']:.1f}%) | {row['recipe']} |")
        )
        assert cells in line and f"{row['accuracy_texts_with_unseen_words']:.2f}" in line


@needs_cli
def test_files_for_other_tools_commands_run_as_written(tmp_path):
    pytest.importorskip("onnx", reason="ffnlp export needs the onnx package")
    pytest.importorskip("onnxruntime", reason="the README serves the files with onnxruntime")
    work = _run_section("Files for other tools", tmp_path)
    for name in ("kn5.arpa", "trec.onnx", "lm.onnx"):
        assert (work / name).stat().st_size > 0


def test_quickstart_is_one_command_that_installs_and_runs_the_demo():
    command = _blocks("bash", _section("Quickstart"))[0].strip()
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -e ")
    assert command.endswith("&& ffnlp demo")


def _figure(lines: list[str], label: str) -> float:
    """The number at the end of the line that starts with ``label`` (a % is dropped)."""
    (line,) = [x for x in lines if x.strip().startswith(label)]
    return float(line.split()[-1].rstrip("%"))


@needs_cli
def test_the_demo_prints_what_the_quickstart_shows(tmp_path):
    """The demo is seeded and runs on one thread, so it prints the README's figures digit
    for digit; and the README's claims about them (the network beats the majority class,
    the neural LM beats the trigram) hold as orderings of the printed numbers."""
    quickstart = _section("Quickstart")
    shown = re.search(r"machine\):\n\n```\n(.*?)```", quickstart, flags=re.S).group(1).splitlines()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["ffnlp", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    printed = [line for line in done.stdout.strip().splitlines() if not line.startswith("note:")]
    pictures = [line for line in shown if line.startswith("  graph-")]
    if shutil.which("dot") is None and importlib.util.find_spec("matplotlib") is None:
        # with neither Graphviz nor matplotlib, the graphs are DOT text
        shown = [line.replace(".svg", ".dot") for line in shown]
    assert len(printed) == len(shown) and pictures
    for lines in (shown, printed):
        majority = _figure(lines, "majority class (baseline)")
        network = _figure(lines, "feedforward network on pooled embeddings")
        trigram = _figure(lines, "Kneser-Ney trigram (n-gram baseline)")
        neural = _figure(lines, "feedforward neural LM (Bengio et al. 2003)")
        assert network > majority and neural < trigram, lines
    first = shown.index("sentences sampled from the neural LM (temperature 0.8):") + 1
    # The sampled words are left loose: they repeat here too, but a draw can land on the
    # other side of a cumulative probability where another BLAS rounds differently.
    sentences = range(first, shown.index("", first))
    for i, (got, want) in enumerate(zip(printed, shown)):
        if i in sentences:
            assert got.startswith("  ") and len(got.split()) >= 1
        elif not want.startswith("done in"):  # the time is the only figure not seeded
            assert got == want
    for name in ("curves.png", "embeddings.png", "lm.npz", "classifier.npz"):
        assert (tmp_path / "ffnlp-demo" / name).stat().st_size > 0


STANDARD_DATA = Path(os.environ.get("FFNLP_DATA", ROOT.parent / "shared" / "data"))


@pytest.mark.slow
@pytest.mark.skipif(
    not (STANDARD_DATA / "mr" / "rt-polarity.pos").exists()
    or not (STANDARD_DATA / "ptb" / "ptb.train.txt").exists(),
    reason=f"MR and the Penn Treebank are not in {STANDARD_DATA} (set FFNLP_DATA)",
)
def test_the_demo_on_mr_and_ptb_prints_the_figures_the_quickstart_quotes(tmp_path, capsys):
    from ffnlp.cli import main

    quickstart = " ".join(_section("Quickstart").split())
    claim = re.search(
        r"reports (\d+\.\d)% accuracy \(majority (\d+\.\d)%\) and perplexities of "
        r"(\d+\.\d) \(Kneser-Ney trigram\) and (\d+\.\d) \(neural LM\)",
        quickstart,
    )
    assert claim, "the Quickstart no longer quotes the demo's MR and PTB figures"
    assert main(["demo", "--data-dir", str(STANDARD_DATA), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out.splitlines()
    figures = [
        _figure(printed, "feedforward network on pooled embeddings"),
        _figure(printed, "majority class (baseline)"),
        _figure(printed, "Kneser-Ney trigram (n-gram baseline)"),
        _figure(printed, "feedforward neural LM (Bengio et al. 2003)"),
    ]
    assert figures == [float(x) for x in claim.groups()]
    assert figures[0] > figures[1]


@needs_cli
def test_picture_commands_run_as_written_and_the_pictures_are_in_the_repository(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["ffnlp", "demo", "--epochs", "2"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    (tmp_path / "docs" / "images").mkdir(parents=True)
    section = _section("Pictures")
    for command in _blocks("bash", section)[0].strip().splitlines():
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    for image in re.findall(r"!\[.*?\]\((docs/images/[^)]+)\)", section):
        assert (ROOT / image).stat().st_size > 1000, image
        made = tmp_path / image
        assert made.exists() or made.with_suffix(".dot").exists(), image
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for code in _blocks("python", section):
            printed = _run(code)
            for comment in re.findall(r"# (-?\d[^#]*?)$", code, flags=re.M):
                assert comment.split() == printed.split()
    finally:
        os.chdir(cwd)


RESULTS = ROOT / "benchmarks" / "results"


def _results(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _prose(text: str) -> str:
    """The text outside code blocks, on one line."""
    return " ".join(re.sub(r"```.*?```", " ", text, flags=re.S).split())


def test_the_quickstart_output_is_the_run_benchmarks_demo_py_recorded():
    sample = _results("demo.json")["sample_demo"]
    shown = re.search(r"machine\):\n\n```\n(.*?)\n```", _section("Quickstart"), flags=re.S)
    printed = sample["printed"].splitlines()
    if not sample["graphviz"]:  # the README shows a run with Graphviz: .svg graphs, no note
        printed = [line.replace(".dot", ".svg") for line in printed if not line.startswith("note:")]
    assert shown.group(1).splitlines() == printed


def test_every_figure_about_the_demo_comes_from_its_results_file():
    from ffnlp import demo

    results = _results("demo.json")
    sample, standard = results["sample_demo"], results["standard_demo"]
    cv = {name: s["accuracy"] for name, s in results["sample_cv"]["systems"].items()}
    quoted = [
        f"{round(sample['wall_seconds'])} seconds from start to end",
        f"{sample['data'].split(':')[1].split()[0]} short reviews",
        f"{cv['demo classifier']:.1f}% in 5-fold cross-validation",
        f"{cv['naive Bayes (bag of words)']:.1f}% for naive Bayes",
        f"{cv['logistic regression (bag of words)']:.1f}% for logistic regression",
        f"without the naive Bayes features: {cv['demo classifier without naive Bayes features']:.1f}%",
        f"trained on {sample['lm_train_tokens']:,} tokens",
        f"first {demo.PTB_LINES['train']:,} PTB sentences",
        f"reports {standard['accuracy']:.1f}% accuracy (majority {standard['majority_accuracy']:.1f}%)",
        f"perplexities of {standard['ngram_perplexity']:.1f} (Kneser-Ney trigram) and "
        f"{standard['neural_perplexity']:.1f} (neural LM), in {round(standard['wall_seconds'])} seconds",
    ]
    prose = _prose(_section("Quickstart"))
    for phrase in quoted:
        assert phrase in prose, phrase
    # ... and no other figure: every number in the prose is one of those (or a name's).
    allowed = {"2", "5", "2012", "3"}  # 2-core, 5-fold, Wang & Manning 2012, Python 3
    for number in re.findall(r"\d[\d,.]*\d|\d", prose):
        assert number in allowed or any(number in phrase for phrase in quoted), number


def test_the_language_model_table_is_the_benchmark_s():
    lm = _results("lm_ptb.json")
    rows = {
        "Kneser-Ney 5-gram": [
            f"{lm['kn5']['test_ppl']:.2f}",
            f"{lm['kn5']['train_seconds']:.1f} s",
        ],
        "feedforward NNLM + FOFE 0.5 and 0.9, the `ptb` recipe": [
            f"{lm['neural']['test_ppl']:.2f}",
            f"{lm['neural']['train_seconds'] / 60:.0f} min",
            f"{round(lm['neural']['tokens_per_second'], -2):,.0f} tokens/s",
        ],
        f"NNLM + FOFE + KN5, λ = {lm['mixture']['weight']:.2f}": [
            f"{lm['mixture']['test_ppl']:.2f}"
        ],
    }
    table = _section("Language models")
    for label, figures in rows.items():
        line = next(line for line in table.splitlines() if line.startswith(f"| {label}"))
        for figure in figures:
            assert figure in line, (label, figure)


def test_the_speed_and_accuracy_summaries_are_the_benchmarks():
    configs = _results("vs_torch.json")["configs"]
    speed = next(line for line in README.split("\n- ") if line.startswith("**Speed**"))
    speed = " ".join(speed.split())
    a = configs["A"]
    # the headline: against the fastest PyTorch (default, fused optimizer, + torch.compile)
    assert "against the fastest of PyTorch's defaults, its fused optimizer" in speed
    assert f"the PTB word LM trains {a['ratio']:.2f}x the fastest PyTorch's speed" in speed
    assert f"at {a['flops']['fraction_of_limit']:.2f} of NumPy's own matrix-multiply" in speed
    assert (
        f"{a['flops']['ffnlp_fraction_of_measured_peak']:.2f} of the machine's measured peak"
        in speed
    )
    assert f"the character LM {configs['B']['ratio']:.2f}x" in speed
    assert f"{configs['C']['ratio']:.1f}x with exact Adam" in speed
    assert f"{configs['C-lazy']['ratio']:.1f}x with lazy Adam" in speed
    assert f"PTB evaluation {configs['D']['ratio']:.2f}x" in speed
    # ... and, labelled, against PyTorch's defaults
    default = [configs[k]["ratios"]["torch"] for k in ("A", "B", "C", "C-lazy", "D")]
    assert (
        "against PyTorch's default settings: {:.2f}x, {:.2f}x, {:.1f}x, {:.1f}x and {:.2f}x".format(
            *default
        )
        in speed
    )
    for c in configs.values():  # less memory than every PyTorch variant
        assert all(c["ffnlp"]["peak_mb"] < c[fw]["peak_mb"] for fw in c["ratios"])
    adam = _results("adam_update.json")
    install = " ".join(_section("Install").split())
    assert (
        f"runs in NumPy, {adam['2']['numpy_over_compiled']:.1f}x slower on both cores and "
        f"{adam['1']['numpy_over_compiled']:.1f}x on one" in install
    )
    classify = _results("classify.json")
    summary = " ".join(README.split("\n- **Text classification**")[1].split("\n- ")[0].split())
    assert "ahead of fastText; its fit" in summary
    assert "chooses the recipe on training data only" in summary
    ratio = {n: classify[n]["ffnlp"]["train_seconds"] / classify[n]["fasttext"]["train_seconds"]
             for n in ("mr", "sst2", "trec")}  # fmt: skip
    assert all(r < 1 for r in ratio.values())  # what the summary claims of the latest run
    assert (
        "took less time than fastText's (2 threads) on all three in the latest run "
        f"({ratio['mr']:.2f}, {ratio['sst2']:.2f}, {ratio['trec']:.2f} of it)" in summary
    )
    assert "moves between runs" in summary  # and that SST-2's rests on fastText's pick
    rows = {"MR": "| MR, 10-fold CV |", "SST-2": "| SST-2 test (3 seeds) |"}
    for name, label in (("mr", "MR"), ("sst2", "SST-2"), ("trec", "TREC")):
        ours, fasttext = classify[name]["ffnlp"], classify[name]["fasttext"]
        assert f"{label} {100 * ours['accuracy']:.2f}" in summary
        assert ours["accuracy"] > fasttext["accuracy"]
        start = rows.get(label, f"| {label} test (3 seeds) |")
        row = next(line for line in README.splitlines() if line.startswith(start))
        assert f"| {100 * fasttext['accuracy']:.2f} |" in row
        assert f"| {ratio[name]:.2f}" in row


def test_the_auto_table_comes_from_its_results_file():
    results = _results("auto.json")
    columns = ("auto", "recipe", "defaults", "plain", "fasttext-autotune", "fasttext")
    names = {"mr": "MR, 10 folds", "sst2": "SST-2, test set", "trec": "TREC, test set"}
    for dataset, label in names.items():
        cells = " | ".join(f"{results[dataset][c]['accuracy']:.2f}" for c in columns)
        assert f"| {label} | {cells} |" in README


def test_the_quantize_table_is_the_benchmark_s():
    results = json.loads((ROOT / "benchmarks" / "results" / "quantize.json").read_text())
    table = _section("Text classification")
    names = {"mr": "MR", "sst2": "SST-2", "trec": "TREC"}
    for key, entry in results["datasets"].items():
        ours, fasttext = entry["ffnlp"], entry["fasttext"]
        line = next(x for x in table.splitlines() if x.startswith(f"| {names[key]} |"))
        assert f"| {ours['size'] / 1e6:.2f} MB, {100 * ours['accuracy']:.2f} |" in line
        for label in (
            "dsub 4, qnorm, retrain, qout",
            "cutoff 100000, qnorm, retrain (fastText's flags)",
        ):
            small = ours["quantized"][label]
            change = 100 * (small["accuracy"] - ours["accuracy"])
            cell = f"{small['size'] / 1e6:.2f} MB (1/{small['ratio']:.1f}), {100 * small['accuracy']:.2f} ({change:+.2f})"
            assert cell in line, label
        assert f"{100 * fasttext['quantized_accuracy']:.2f}" in line


def test_the_prediction_figures_come_from_their_results_file():
    results = _results("predict.json")
    text = " ".join((ROOT / "docs" / "performance.md").read_text(encoding="utf-8").split())
    lps, median = results["lines_per_second"], results["median_seconds"]
    assert (
        f"file: {lps['ffnlp_file']:,.0f} lines/s against fastText's {lps['fasttext_file']:,.0f}"
        in text
    )
    assert f"one line from the shell, {median['ffnlp_line']:.2f} s" in text
