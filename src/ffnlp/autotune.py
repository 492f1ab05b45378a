"""A recipe for data nobody has tuned for: a search over general recipe families, each
candidate scored on held-out parts of the training data only, within a time budget; the
recipe chosen is then trained on all of it (``ffnlp classify train --auto``).

The search starts from every recipe ffnlp ships (``ffnlp.recipes``: each a family, whose
file says where it was tuned): the defaults' mean-pooled words, naive-Bayes-weighted
pooling of words and bigrams, a wide-and-deep pair, and a linear model of words, bigrams
and position features. Then, while time is left, it tries the neighbours of the best so
far: more or fewer epochs, a higher or lower rate, more or less dropout, wider or narrower
embeddings, a hidden layer or none, bigrams or none, the wide tower or none. Nothing in it
knows a dataset.

Scoring: stratified 3-fold cross-validation of the training texts (below 20,000 whole texts),
else one stratified fifth held out; a text that lies inside a longer one (a labelled phrase
of a sentence, a duplicate) stays on the longer one's side, and only whole texts are
scored (:func:`held_out_splits`). A candidate is started only when its fits (estimated
from the trials of its family so far) and the final fit on all the data still fit in the
budget, so a search ends on time; the same texts, seed and budget on the same machine run
the same candidates in the same order, and choose the same recipe unless the clock puts a
candidate on the other side of the budget. The recipe chosen is the first trial within one
standard error of the best mean held-out accuracy (:func:`choose`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ffnlp.checks import check_real, plural
from ffnlp.metrics import containing_groups, stratified_kfold
from ffnlp.recipes import Recipe, load_recipe, recipe_from_options, recipe_names

# At or above this many texts, one held-out fifth is enough (and 3 fits would cost 3x).
CROSS_VALIDATE_BELOW = 20_000
FOLDS = 3


@dataclass
class Trial:
    """One candidate: its settings, where it came from, and its held-out accuracies."""

    number: int
    origin: str
    options: dict[str, Any]
    scores: list[float]
    seconds: float

    @property
    def score(self) -> float:
        return float(np.mean(self.scores))

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.number,
            "origin": self.origin,
            "options": self.options,
            "scores": self.scores,
            "score": self.score,
            "seconds": self.seconds,
        }


@dataclass
class Search:
    """What a search did: every trial, the one chosen and the recipe it makes."""

    recipe: Recipe
    best: Trial
    trials: list[Trial]
    time_budget: float
    seconds: float
    scoring: str
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as a model file keeps it."""
        recipe = {"description": self.recipe.description, "origin": self.recipe.origin}
        return {
            "recipe": {**recipe, **self.recipe.to_dict()},
            "best_trial": self.best.number,
            "held_out_accuracy": self.best.score,
            "scoring": self.scoring,
            "time_budget": self.time_budget,
            "seconds": self.seconds,
            "skipped": self.skipped,
            "trials": [t.to_dict() for t in self.trials],
        }


def recipe_of(search: dict[str, Any]) -> Recipe:
    """The recipe a search chose, from its record (:meth:`Search.to_dict`, as a model file
    keeps it)."""
    table = search["recipe"]
    options = dict(table["classifier"])
    options["contrast_words"] = table.get("contrast", {}).get("words", [])
    recipe = recipe_from_options(options)
    return Recipe(
        name="auto",
        description=table.get("description", ""),
        origin=table.get("origin", ""),
        params=recipe.params,
        contrast_words=recipe.contrast_words,
    )


def _family(options: dict[str, Any]) -> str:
    return options.get("_family", "?")


def _key(options: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in options.items() if k != "_family"}, sort_keys=True)


def _options(recipe: Recipe, family: str) -> dict[str, Any]:
    """A recipe as JSON-like options (what :func:`recipe_from_options` reads)."""
    options = dict(recipe.to_dict()["classifier"])
    if recipe.contrast_words:
        options["contrast_words"] = list(recipe.contrast_words)
    options["_family"] = family
    return options


def neighbours(options: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The candidates one step from ``options``, each with a line saying what changed."""
    out: list[tuple[str, dict[str, Any]]] = []

    def changed(what: str, **settings: Any) -> None:
        out.append((what, {**options, **settings}))

    epochs = int(options.get("epochs", 10))
    changed(f"epochs {epochs} -> {epochs * 2}", epochs=epochs * 2)
    if epochs > 1:
        changed(f"epochs {epochs} -> {max(1, epochs // 2)}", epochs=max(1, epochs // 2))
    lr = float(options.get("lr", 1e-3))
    changed(f"lr {lr:g} -> {lr * 3:g}", lr=lr * 3)
    changed(f"lr {lr:g} -> {lr / 3:g}", lr=lr / 3)
    dropout = float(options.get("dropout", 0.0))
    if dropout < 0.7:
        changed(
            f"dropout {dropout:g} -> {min(dropout + 0.2, 0.7):.1f}",
            dropout=round(min(dropout + 0.2, 0.7), 1),
        )
    if dropout > 0:
        changed(
            f"dropout {dropout:g} -> {max(dropout - 0.2, 0.0):.1f}",
            dropout=round(max(dropout - 0.2, 0.0), 1),
        )
    dim = int(options.get("embed_dim", 100))
    if dim < 400:
        changed(f"embed_dim {dim} -> {dim * 2}", embed_dim=dim * 2)
    if dim > 25:
        changed(f"embed_dim {dim} -> {dim // 2}", embed_dim=dim // 2)
    hidden = list(options.get("hidden_dims", []))
    if hidden:
        changed("no hidden layer", hidden_dims=[])
    else:
        changed(f"a hidden layer of {dim}", hidden_dims=[dim])
    features = list(options.get("features", []))
    if any(f.get("kind") == "bigrams" for f in features):
        kept = [f for f in features if f.get("kind") != "bigrams"]
        if options.get("pooling") != "nb" and not options.get("pool_words_only"):
            changed("no bigrams", features=kept)
    else:
        changed("bigrams", features=[{"kind": "bigrams", "buckets": 0}, *features])
    if options.get("wide"):
        changed("no wide tower", wide=False)
    elif options.get("pooling", "mean") in ("mean", "max", "mean+max"):
        changed("the wide tower", wide=True)
    return out


def held_out_splits(
    labels: Sequence[Any], seed: int, texts: Sequence[str] | None = None
) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The (train, held-out) index pairs every candidate is scored on, and how they were
    made: 3 stratified folds below 20,000 whole texts, else one stratified fifth.

    With ``texts``, a text that lies inside a longer one (a labelled phrase of a sentence,
    a duplicate: :func:`ffnlp.metrics.containing_groups`) stays on its side of the split,
    and only whole texts are scored: what the classifier will be asked about is new text,
    not pieces of the text it was trained on."""
    groups = None if texts is None else containing_groups(texts)
    whole = len(labels) if groups is None else int(np.sum(groups == np.arange(len(labels))))
    how = "" if whole == len(labels) else f" of the {plural(whole, 'whole text')}"
    if whole < CROSS_VALIDATE_BELOW:
        folds = list(stratified_kfold(labels, FOLDS, seed, groups))
        scoring = f"{FOLDS}-fold cross-validation"
    else:
        folds = [next(stratified_kfold(labels, 5, seed, groups))]
        scoring = "one stratified fifth held out"
    if groups is not None:  # scored on the whole texts only
        folds = [(train, held[groups[held] == held]) for train, held in folds]
    return folds, scoring + how


def autotune(
    texts: Sequence[str],
    labels: Sequence[Any],
    time_budget: float = 60.0,
    random_state: int = 0,
    say: Callable[[str], None] | None = None,
    settings: dict[str, Any] | None = None,
) -> Search:
    """Search for a recipe for ``texts`` and ``labels`` within ``time_budget`` seconds (the
    final fit on all the data included, as estimated); see the module's docstring.
    ``settings``: flat settings laid over every candidate (``{"tokenizer": "regex"}``:
    what the user knows of the text), not searched.

    Returns a :class:`Search`; its ``recipe.estimator(random_state=...)`` is the classifier
    to train on all the data (:func:`fit_auto` does both).
    """
    time_budget = check_real("time_budget", time_budget, minimum=0, min_inclusive=False)
    say = say or (lambda line: None)
    fixed = dict(settings or {})
    started = time.perf_counter()
    texts, labels = list(texts), list(labels)
    splits, scoring = held_out_splits(labels, random_state, texts)
    fraction = float(np.mean([len(train) for train, _ in splits])) / len(texts)
    rng = np.random.default_rng(random_state)
    queue: list[tuple[str, dict[str, Any]]] = [
        (f"recipe {name}", _options(load_recipe(name), name))
        for name in ["default", *[n for n in recipe_names() if n != "default"]]
    ]
    seen: set[str] = set()
    expanded: set[int] = set()  # trials whose neighbours are queued
    trials: list[Trial] = []
    fit_seconds: dict[str, list[float]] = {}  # family -> seconds per text and epoch
    skipped = 0
    say(
        f"searching for {time_budget:g}s on {plural(len(texts), 'text')}, scoring each "
        f"candidate by {scoring}"
    )
    while queue:
        origin, options = queue.pop(0)
        key = _key(options)
        if key in seen:
            continue
        seen.add(key)
        try:
            recipe = recipe_from_options(
                {**{k: v for k, v in options.items() if k != "_family"}, **fixed}
            )
        except ValueError:  # a step that made settings which do not go together
            continue
        if trials:
            estimate = _estimate(fit_seconds, options, len(texts) * fraction) * len(splits)
            best = max(trials, key=lambda t: (t.score, -t.number))
            final = _estimate(fit_seconds, best.options, len(texts))
            if time.perf_counter() - started + estimate + final > time_budget:
                skipped += 1
                continue
        trial_started = time.perf_counter()
        scores = []
        for train, held in splits:
            model = recipe.estimator(random_state=random_state)
            fit_started = time.perf_counter()
            try:
                model.fit([texts[i] for i in train], [labels[i] for i in train])
            except ValueError:  # settings that do not go together: not a candidate
                break
            per_unit = (time.perf_counter() - fit_started) / (
                len(train) * max(1, int(options.get("epochs", 10)))
            )
            fit_seconds.setdefault(_family(options), []).append(per_unit)
            scores.append(float(model.score([texts[i] for i in held], [labels[i] for i in held])))
        if len(scores) < len(splits):
            continue
        trial = Trial(
            len(trials) + 1,
            origin,
            {k: v for k, v in options.items() if k != "_family"},
            scores,
            time.perf_counter() - trial_started,
        )
        trial.options["_family"] = _family(options)
        trials.append(trial)
        best = max(trials, key=lambda t: (t.score, -t.number))
        say(
            f"trial {trial.number:3d}  held-out accuracy {100 * trial.score:6.2f}  "
            f"{trial.seconds:5.1f}s  {origin}" + ("  (best)" if best is trial else "")
        )
        portfolio_done = trial.number >= len(recipe_names())
        if portfolio_done and (best is trial or not queue):
            # Around the best trial not yet explored (the best so far, unless every
            # neighbour of it was tried), in a seeded order.
            ranked = sorted(trials, key=lambda t: (-t.score, t.number))
            centre = next((t for t in ranked if t.number not in expanded), None)
            if centre is not None:
                expanded.add(centre.number)
                steps = neighbours(centre.options)
                order = rng.permutation(len(steps))
                queue = [
                    (
                        f"trial {centre.number}: {steps[i][0]}",
                        {**steps[i][1], "_family": _family(centre.options)},
                    )
                    for i in order
                ] + [q for q in queue if q[0].startswith("recipe")]
    best = choose(trials, [len(held) for _, held in splits])
    for trial in trials:
        trial.options.pop("_family", None)
    recipe = recipe_from_options({**best.options, **fixed})
    recipe = Recipe(
        name="auto",
        description=f"chosen by ffnlp classify train --auto ({best.origin})",
        origin=(
            f"held-out accuracy {100 * best.score:.2f} by {scoring} of the training data, "
            f"trial {best.number} of {len(trials)} in a {time_budget:g}s search"
        ),
        params=recipe.params,
        contrast_words=recipe.contrast_words,
    )
    return Search(
        recipe,
        best,
        trials,
        time_budget,
        time.perf_counter() - started,
        scoring,
        skipped,
    )


def standard_error(trial: Trial, held_out: Sequence[int]) -> float:
    """The standard error of a trial's held-out accuracy: of the mean over its folds, or,
    from one held-out part, of a proportion (sqrt(p (1 - p) / n))."""
    if len(trial.scores) > 1:
        return float(np.std(trial.scores, ddof=1) / np.sqrt(len(trial.scores)))
    p = trial.score
    return float(np.sqrt(max(p * (1 - p), 1e-12) / max(held_out[0], 1)))


def choose(trials: Sequence[Trial], held_out: Sequence[int]) -> Trial:
    """The trial the search settles on: the first (a shipped recipe before its variations,
    an earlier step before a later one) whose held-out accuracy is within one standard
    error of the best's (Breiman et al.'s one-standard-error rule). Many candidates scored
    on the same held-out texts let the best of them win partly by chance; a later, more
    tuned one must beat an earlier one by more than the noise to replace it."""
    best = max(trials, key=lambda t: (t.score, -t.number))
    bar = best.score - standard_error(best, held_out)
    return next(t for t in trials if t.score >= bar)


def _estimate(fit_seconds: dict[str, list[float]], options: dict[str, Any], texts: float) -> float:
    """Seconds a fit of ``options`` on ``texts`` texts should take: its family's cost per
    text and epoch so far (the dearest family's when it has none yet)."""
    known = fit_seconds.get(_family(options))
    if known:
        per_unit = float(np.median(known))
    elif fit_seconds:
        per_unit = max(float(np.median(v)) for v in fit_seconds.values())
    else:
        return 0.0
    return per_unit * texts * max(1, int(options.get("epochs", 10)))


def fit_auto(
    texts: Sequence[str],
    labels: Sequence[Any],
    time_budget: float = 60.0,
    random_state: int = 0,
    say: Callable[[str], None] | None = None,
    settings: dict[str, Any] | None = None,
    verbose: bool = False,
    **fit_params: Any,
) -> Any:
    """:func:`autotune`, then the recipe chosen trained on all of ``texts`` (``verbose``:
    with a progress bar; ``fit_params`` go to its ``fit``): the fitted classifier, with
    the search as its ``search_``, which its model file keeps."""
    search = autotune(texts, labels, time_budget, random_state, say, settings)
    if say is not None:
        top = max(search.trials, key=lambda t: (t.score, -t.number))
        within = (
            f", within one standard error of the best, trial {top.number} ({100 * top.score:.2f})"
            if top is not search.best
            else ""
        )
        say(
            f"chose trial {search.best.number} ({search.best.origin}): held-out accuracy "
            f"{100 * search.best.score:.2f}{within}; training it on all "
            f"{plural(len(texts), 'text')}"
        )
    model = search.recipe.estimator(random_state=random_state, verbose=verbose)
    model.fit(list(texts), list(labels), **fit_params)
    model.search_ = search.to_dict()
    return model


__all__ = [
    "Search",
    "Trial",
    "autotune",
    "choose",
    "fit_auto",
    "held_out_splits",
    "neighbours",
    "recipe_of",
    "standard_error",
]
