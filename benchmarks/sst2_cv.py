"""Choosing SST-2's recipe by sentence-level cross-validation over its training data.

SST-2's dev set has 872 sentences: one sentence moves its accuracy by 0.11 points and a
recipe's score by up to 1.5 points from seed to seed, so it cannot separate recipes that
differ by less than about one point. This scores a candidate on the 6,920 training
*sentences* instead, in k folds. The model trains on GLUE's phrase-level training set, less
every phrase that occurs only inside the fold's held-out sentences (a held-out sentence's
own phrases would give its answer away; a phrase such as "the film" that also occurs in a
training sentence stays) and less the few phrases found in no sentence (mostly sentences
spelt differently), and is scored on the held-out sentences as written in the
sentence-level files (PTB escapes such as ``-lrb-`` included, as in the test set). The
dev set is scored too, by the same models. The test set is never read.

    OPENBLAS_NUM_THREADS=1 python benchmarks/sst2_cv.py '{"embed_dim": 100, "hidden_dims": [200, 200]}'
    python benchmarks/sst2_cv.py logreg

Prints one JSON line per candidate: the recipe, the CV accuracy (mean over all held-out
sentences, %), each fold's, the dev accuracy averaged over the folds' models, and the
median fit time in seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ffnlp.backend import tune_process

tune_process()  # the ffnlp command's process settings, made before NumPy loads (README)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classify import DEFAULT_DATA, fold_training_set, load, phrase_sources, record, sentence_folds  # noqa: E402


def make_model(candidate: str | dict[str, Any], seed: int) -> Any:
    if candidate == "logreg":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+"),
            LogisticRegression(C=10, max_iter=2000, random_state=seed),
        )
    from ffnlp.recipes import recipe_from_options

    return recipe_from_options(candidate).estimator(random_state=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "candidates", nargs="+", help='TextClassifier keyword arguments as JSON, or "logreg"'
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--seed", type=int, default=0, help="fold assignment (and model seed, unless --model-seed)"
    )
    parser.add_argument(
        "--model-seed", type=int, help="model seed, if not --seed (same folds, another model)"
    )
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA), help="holds sst2/ and sst2_glue/")
    parser.add_argument(
        "--first-folds", type=int, help="score only this many folds (a quicker, rougher look)"
    )
    parser.add_argument(
        "--save-probs", help="save each candidate's held-out and dev probabilities (.npz)"
    )
    args = parser.parse_args(argv)
    from ffnlp.text.labelled import read_labelled

    data = Path(args.data_dir)
    sets = load("sst2", data)
    phrases = sets["train"]
    sentences = read_labelled(str(data / "sst2" / "stsa.binary.train"), "label-first")
    sources = phrase_sources(phrases[0], sentences[0])
    n = len(sentences[0])
    dev_labels = np.asarray(sets["dev"][1])
    folds = [(None, held) for held in sentence_folds(sentences, args.folds, args.seed)]
    model_seed = args.seed if args.model_seed is None else args.model_seed
    scored = np.sort(np.concatenate([held for _, held in folds[: args.first_folds]]))
    for c, text in enumerate(args.candidates):
        candidate = text if text == "logreg" else json.loads(text)
        correct = np.zeros(n, dtype=bool)
        held_probs = np.zeros((n, 2))
        dev_probs, fold_scores, dev_scores, seconds = [], [], [], []
        for f, (_, held_out) in enumerate(folds[: args.first_folds]):
            train = fold_training_set(phrases, sources, held_out, n)
            start = time.perf_counter()
            model = make_model(candidate, model_seed + f).fit(*train)
            seconds.append(time.perf_counter() - start)
            classes = np.asarray(model.classes_)
            probs = model.predict_proba([sentences[0][i] for i in held_out])
            held_probs[held_out] = probs
            truth = np.asarray([sentences[1][i] for i in held_out])
            correct[held_out] = classes[probs.argmax(1)] == truth
            fold_scores.append(100 * correct[held_out].mean())
            dp = model.predict_proba(sets["dev"][0])
            dev_probs.append(dp)
            dev_scores.append(100 * np.mean(classes[dp.argmax(1)] == dev_labels))
        if args.save_probs:
            np.savez(
                f"{args.save_probs}-{c}.npz",
                held=held_probs,
                dev=np.array(dev_probs),
                classes=classes,
            )
        entry = record(
            "sst2_cv",
            {
                "candidate": candidate,
                "cv": round(100 * float(correct[scored].mean()), 2),
                "folds": [round(s, 2) for s in fold_scores],
                "dev": round(float(np.mean(dev_scores)), 2),
                "seconds": round(float(np.median(seconds)), 2),
            },
        )
        print(json.dumps(entry), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
