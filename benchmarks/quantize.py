"""Small models (fastText's ``quantize``), measured on MR, SST-2 and TREC.

For each dataset: ffnlp's model with the dataset's shipped recipe (``--recipe mr|sst2|trec``)
is trained, saved, quantized in a few ways and saved again; the file sizes and test
accuracies before and after come from the same run. Beside it, fastText trained with
settings like the recipe's (``-dim 100 -wordNgrams 2``, the recipe's epochs, ``-lr 0.5``)
and quantized with ``-qnorm -retrain -cutoff 100000`` (its ``.bin`` against its ``.ftz``).

Data: MR, one stratified 90/10 split (seed 0; the first fold of
``ffnlp.metrics.stratified_kfold(labels, 10)``), not 10-fold; SST-2 trained on the GLUE
phrases (sst2_glue/train.tsv) and tested on stsa.binary.test; TREC on TREC.train.all /
TREC.test.all (latin-1).

    flock /tmp/ffnlp-bench.lock python benchmarks/quantize.py [--datasets mr sst2 trec]

Writes benchmarks/results/quantize.json and quantize.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = Path("/work/shared/data")
# What is tried on each model: fastText's flags first, then smaller variants.
VARIANTS = {
    "cutoff 100000, qnorm, retrain (fastText's flags)": dict(
        cutoff=100000, dsub=2, qnorm=True, retrain=True
    ),
    "cutoff 100000, qnorm, retrain, qout": dict(
        cutoff=100000, dsub=2, qnorm=True, retrain=True, qout=True
    ),
    "dsub 4, qnorm, retrain, qout": dict(dsub=4, qnorm=True, retrain=True, qout=True),
    "cutoff 20000, dsub 2, qnorm, retrain, qout": dict(
        cutoff=20000, dsub=2, qnorm=True, retrain=True, qout=True
    ),
}


def load(name: str, data: Path) -> tuple[tuple[list, list], tuple[list, list]]:
    from ffnlp.metrics import stratified_kfold
    from ffnlp.text.labelled import read_labelled

    if name == "mr":
        texts, labels = read_labelled(
            [str(data / "mr" / "rt-polarity.pos"), str(data / "mr" / "rt-polarity.neg")],
            "files",
            encoding="cp1252",
        )
        train, test = next(iter(stratified_kfold(labels, 10, seed=0)))
        # The files come class by class: shuffled, so that fastText (which reads its input
        # in order) does not end on one class (ffnlp shuffles every epoch itself).
        train = np.random.default_rng(0).permutation(train)
        pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
        return pick(train), pick(test)
    if name == "sst2":
        train = read_labelled(
            str(data / "sst2_glue" / "train.tsv"),
            "tsv",
            label_column="label",
            text_column="sentence",
            header=True,
        )
        return train, read_labelled(str(data / "sst2" / "stsa.binary.test"), "label-first")
    # TREC's training file has one stray 0xF0 byte (see its SOURCES.md): latin-1 reads it.
    return (
        read_labelled(str(data / "trec" / "TREC.train.all"), "label-first", encoding="latin-1"),
        read_labelled(str(data / "trec" / "TREC.test.all"), "label-first", encoding="latin-1"),
    )


def accuracy(model: Any, test: tuple[list, list]) -> float:
    predicted = np.array([str(p) for p in model.predict(test[0])])
    return float((predicted == np.array([str(y) for y in test[1]])).mean())


def run_ffnlp(name: str, train: tuple, test: tuple, tmp: Path) -> dict[str, Any]:
    from ffnlp.estimators import load_classifier
    from ffnlp.recipes import load_recipe

    start = time.perf_counter()
    model = load_recipe(name).estimator(random_state=0).fit(*train)
    seconds = time.perf_counter() - start
    model.save(tmp / "full.npz")
    model = load_classifier(tmp / "full.npz")
    inner = getattr(model, "estimator_", model)
    rows = len(inner.vocab_) + inner._fitted.encoder.extra_rows
    out = {
        "rows": rows,
        "train_seconds": seconds,
        "size": (tmp / "full.npz").stat().st_size,
        "accuracy": accuracy(model, test),
        "quantized": {},
    }
    for label, settings in VARIANTS.items():
        start = time.perf_counter()
        small = inner.quantize(**settings, X=train[0], y=train[1], random_state=0)
        quantize_seconds = time.perf_counter() - start
        if inner is not model:
            model.estimator_ = small
        (model if inner is not model else small).save(tmp / "small.npz")
        loaded = load_classifier(tmp / "small.npz")  # measured as read back from its file
        size = (tmp / "small.npz").stat().st_size
        out["quantized"][label] = {
            "settings": settings,
            "size": size,
            "ratio": out["size"] / size,
            "accuracy": accuracy(loaded, test),
            "quantize_seconds": quantize_seconds,
        }
        if inner is not model:
            model.estimator_ = inner
        print(f"{name}: {label}: {out['quantized'][label]}", file=sys.stderr, flush=True)
    return out


def run_fasttext(name: str, train: tuple, test: tuple, tmp: Path) -> dict[str, Any] | None:
    if not shutil.which("fasttext"):
        return None
    from ffnlp.recipes import load_recipe

    for part, (texts, labels) in (("train", train), ("test", test)):
        (tmp / f"{part}.txt").write_text(
            "".join(f"__label__{y} {' '.join(t.split())}\n" for t, y in zip(texts, labels)),
            encoding="utf-8",
        )
    epochs = load_recipe(name).params.get("epochs", 5)
    common = ["-input", str(tmp / "train.txt"), "-output", str(tmp / "ft"), "-thread", "1"]
    settings = ["-dim", "100", "-wordNgrams", "2", "-epoch", str(epochs), "-lr", "0.5"]
    start = time.perf_counter()
    subprocess.run(["fasttext", "supervised", *common, *settings, "-seed", "0", "-verbose", "0"],
                   check=True, capture_output=True)  # fmt: skip
    seconds = time.perf_counter() - start
    quantize = ["-qnorm", "-retrain", "-cutoff", "100000"]
    subprocess.run(["fasttext", "quantize", *common, *settings[4:], *quantize, "-verbose", "0"],
                   check=True, capture_output=True)  # fmt: skip

    def score(path: Path) -> float:
        predicted = subprocess.run(
            ["fasttext", "predict", str(path), str(tmp / "test.txt")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        return float(np.mean([p[len("__label__") :] == str(y) for p, y in zip(predicted, test[1])]))

    size, small = (tmp / "ft.bin").stat().st_size, (tmp / "ft.ftz").stat().st_size
    return {
        "train": " ".join(settings),
        "quantize": " ".join(quantize),
        "train_seconds": seconds,
        "size": size,
        "accuracy": score(tmp / "ft.bin"),
        "quantized_size": small,
        "ratio": size / small,
        "quantized_accuracy": score(tmp / "ft.ftz"),
    }


def write_report(result: dict[str, Any]) -> None:
    mb = lambda n: f"{n / 1e6:.2f} MB"  # noqa: E731
    lines = [
        "# Small models (quantize)",
        "",
        f"Machine: {result['machine']}. Run with `{result['command']}` on {result['time']}.",
        "",
        "ffnlp: each dataset's shipped recipe, saved, then quantized and saved again (accuracy "
        "of the file read back). MR: one stratified 90/10 split (seed 0), not 10-fold; SST-2: "
        "trained on the GLUE phrases, tested on stsa.binary.test; TREC: TREC.train.all / "
        "TREC.test.all. fastText: `supervised " + result["fasttext_settings"] + "`, then "
        "`quantize -qnorm -retrain -cutoff 100000` (.bin against .ftz). Target: at most 1/10 "
        "of the size, at most 0.5 points of accuracy lost.",
        "",
        "| dataset | model | size | ratio | accuracy | change | target met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in result["datasets"].items():
        ours = entry["ffnlp"]
        lines.append(
            f"| {name} | ffnlp, recipe {name} ({ours['rows']} rows) | {mb(ours['size'])} | 1 | "
            f"{100 * ours['accuracy']:.2f} | | |"
        )
        for label, q in ours["quantized"].items():
            change = 100 * (q["accuracy"] - ours["accuracy"])
            met = q["ratio"] >= 10 and change >= -0.5
            lines.append(
                f"| {name} | ffnlp, {label} | {mb(q['size'])} | 1/{q['ratio']:.1f} | "
                f"{100 * q['accuracy']:.2f} | {change:+.2f} | {'yes' if met else 'no'} |"
            )
        ft = entry.get("fasttext")
        if ft:
            change = 100 * (ft["quantized_accuracy"] - ft["accuracy"])
            met = ft["ratio"] >= 10 and change >= -0.5
            lines += [
                f"| {name} | fastText .bin | {mb(ft['size'])} | 1 | {100 * ft['accuracy']:.2f} | | |",
                f"| {name} | fastText .ftz (-qnorm -retrain -cutoff 100000) | "
                f"{mb(ft['quantized_size'])} | 1/{ft['ratio']:.1f} | "
                f"{100 * ft['quantized_accuracy']:.2f} | {change:+.2f} | {'yes' if met else 'no'} |",
            ]
    (RESULTS / "quantize.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mr", "sst2", "trec"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, NumPy {np.__version__}",
        "command": "python benchmarks/quantize.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "fasttext_settings": "-dim 100 -wordNgrams 2 -epoch (the recipe's) -lr 0.5 -thread 1",
        "datasets": {},
    }
    path = RESULTS / "quantize.json"
    if path.exists() and set(args.datasets) != {"mr", "sst2", "trec"}:  # a partial rerun
        kept = json.loads(path.read_text(encoding="utf-8"))["datasets"]
        result["datasets"] = {k: v for k, v in kept.items() if k not in args.datasets}
        result["command"] += " (other datasets: an earlier run)"
    for name in args.datasets:
        train, test = load(name, args.data)
        with tempfile.TemporaryDirectory() as tmp:
            entry = {"ffnlp": run_ffnlp(name, train, test, Path(tmp))}
            entry["fasttext"] = run_fasttext(name, train, test, Path(tmp))
        entry["run"] = result["time"]
        result["datasets"][name] = entry
        result["datasets"] = {k: result["datasets"][k] for k in sorted(result["datasets"])}
        print(f"{name}: fastText {entry['fasttext']}", file=sys.stderr, flush=True)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        write_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
