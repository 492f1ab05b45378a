"""Named recipes: a classifier's or a language model's settings kept as data (TOML files),
not as code.

A classifier's recipe file holds a one-line ``description``, a free-text ``origin`` (how the settings
were found, so a reader can judge what a score obtained with them means), a
``[classifier]`` table whose keys are :class:`~ffnlp.estimators.TextClassifier`
settings, flat, as :meth:`~ffnlp.estimators.TextClassifier.from_settings` takes them
(``embed_dim``, ``lr``, ``wide``...; ``features`` a list of tables such as ``{ kind = "bigrams", buckets = 0 }``,
see :mod:`ffnlp.text.row_features`) and, optionally, a ``[contrast]`` table whose
``words`` wrap the classifier in :class:`~ffnlp.estimators.ContrastClauses`. The recipes
shipped with ffnlp live beside this module (``*.toml``); a path to any other such file
works the same way.

A language model's recipe file (:func:`load_lm_recipe`, ``ffnlp lm train --recipe``) holds
the same ``description`` and ``origin`` and a ``[language_model]`` table of flat
settings: the :class:`~ffnlp.models.language_model.FeedforwardLMConfig` ones
(``context_size``, ``hidden_dims``, ...), the :class:`~ffnlp.train.Training` ones
(``epochs``, ``lr``, ...) and the text ones (``tokenizer``, ``min_count``, ``sentences``...).
The table's name says which kind a file is; each loader refuses the other kind by name.

>>> recipe = load_recipe("trec")
>>> recipe.params["features"][:2], recipe.params["epochs"]
([Bigrams(buckets=0), Openings(n=3)], 10)
>>> mr = load_recipe("mr")
>>> mr.contrast_words, type(mr.estimator(random_state=1)).__name__
(('but',), 'ContrastClauses')
>>> sorted(recipe_names())[:2]
['default', 'mr']
>>> recipe_names("language_model"), load_lm_recipe("ptb").groups()["model"]["context_size"]
(['names', 'ptb', 'wikitext2'], 5)
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SUFFIX = ".toml"
KINDS = ("classifier", "language_model")
_KIND_WORDS = {"classifier": "classifier", "language_model": "language-model"}
_COMMANDS = {"classifier": "ffnlp classify train", "language_model": "ffnlp lm train"}
_TABLE = re.compile(rb"^\[(classifier|language_model)\]", re.MULTILINE)
# Parameters whose value is a tuple in the estimator and a list in TOML.
_TUPLES = ("hidden_dims",)


@dataclass(frozen=True)
class Recipe:
    """A named set of :class:`~ffnlp.estimators.TextClassifier` parameters.

    Attributes:
        name: the file's stem ("mr" for mr.toml).
        description: one line saying what the recipe trains.
        origin: how its settings were chosen.
        params: settings for ``TextClassifier.from_settings``.
        path: the file it was read from.
    """

    name: str
    description: str
    origin: str
    params: dict[str, Any] = field(default_factory=dict)
    contrast_words: tuple[str, ...] = ()
    path: str = ""

    def estimator(self, **overrides: Any) -> Any:
        """A new, unfitted classifier of this recipe, with ``overrides`` laid over it."""
        from ffnlp.estimators import ContrastClauses, TextClassifier

        classifier = TextClassifier.from_settings(**{**self.params, **overrides})
        if self.contrast_words:
            return ContrastClauses(classifier, words=self.contrast_words)
        return classifier

    def write(self, path: str | os.PathLike) -> None:
        """Write the recipe as a recipe file (TOML, through tomli-w), which
        :func:`load_recipe` reads back as the same recipe."""
        import tomli_w

        table = {"description": self.description, "origin": self.origin, **self.to_dict()}
        Path(path).write_text(tomli_w.dumps(table), encoding="utf-8")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as its file holds it (JSON-able: features as tables)."""
        from ffnlp.text.row_features import feature_to_dict

        params = dict(self.params)
        if "features" in params:
            params["features"] = [feature_to_dict(f) for f in params["features"]]
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        out: dict[str, Any] = {"classifier": params}
        if self.contrast_words:
            out["contrast"] = {"words": list(self.contrast_words)}
        return out


def _kind_of(raw: bytes) -> str | None:
    """Which kind a recipe file is, from the name of its table (read without parsing it)."""
    match = _TABLE.search(raw)
    return match.group(1).decode() if match else None


def recipe_names(kind: str = "classifier") -> list[str]:
    """The names of the recipes of ``kind`` ("classifier" or "language_model") shipped with
    ffnlp, sorted."""
    folder = resources.files(__name__)
    return sorted(
        p.name[: -len(SUFFIX)]
        for p in folder.iterdir()
        if p.name.endswith(SUFFIX) and _kind_of(p.read_bytes()) == kind
    )


def _read(name_or_path: str | os.PathLike, kind: str) -> tuple[dict[str, Any], Path]:
    """The parsed recipe file of ``kind``, and its path; a named recipe or a file of the
    other kind is refused, naming the command it is for."""
    text = str(name_or_path)
    is_path = text.endswith(SUFFIX) or os.sep in text or "/" in text
    if is_path:
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"recipe file {text!r} does not exist")
        raw = path.read_bytes()
    else:
        names = recipe_names(kind)
        if text not in names:
            other = next(k for k in KINDS if k != kind)
            if text in recipe_names(other):
                raise ValueError(
                    f"recipe {text!r} is a {_KIND_WORDS[other]} recipe (for {_COMMANDS[other]} "
                    f"--recipe {text}), not a {_KIND_WORDS[kind]} one; the "
                    f"{_KIND_WORDS[kind]} recipes are {', '.join(names)}"
                )
            raise ValueError(
                f"no recipe named {text!r}; the named recipes are {', '.join(names)} "
                "(or give the path of a .toml recipe file)"
            )
        resource = resources.files(__name__) / (text + SUFFIX)
        raw = resource.read_bytes()
        path = Path(str(resource))
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"recipe {text!r} is not a TOML file: {err}") from None
    other = next(k for k in KINDS if k != kind)
    if kind not in data and isinstance(data.get(other), dict):
        raise ValueError(
            f"recipe {text!r} is a {_KIND_WORDS[other]} recipe (a [{other}] table, for "
            f"{_COMMANDS[other]} --recipe), not a {_KIND_WORDS[kind]} one"
        )
    return data, path


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    """Read a classifier's recipe by name (one of :func:`recipe_names`) or from a TOML file.

    Raises:
        ValueError: an unknown name, a file that is not a recipe, a language model's recipe,
            or a key that is not a ``TextClassifier`` parameter (the message names it and
            the closest one).
        OSError: a path that cannot be read.
    """
    text = str(name_or_path)
    data, path = _read(name_or_path, "classifier")
    table = data.get("classifier")
    if not isinstance(table, dict):
        raise ValueError(f"recipe {text!r} has no [classifier] table of TextClassifier parameters")
    contrast = data.get("contrast", {})
    if not isinstance(contrast, dict) or set(contrast) - {"words"}:
        raise ValueError(f"recipe {text!r}: [contrast] holds only 'words', a list of words")
    from ffnlp.estimators.contrast import check_contrast_words

    return Recipe(
        name=path.stem,
        description=str(data.get("description", "")),
        origin=str(data.get("origin", "")),
        params=_checked_params(table, text),
        contrast_words=check_contrast_words(contrast.get("words", ())),
        path=str(path),
    )


def recipe_from_options(options: dict[str, Any], base: Recipe | None = None) -> Recipe:
    """A recipe from JSON-like options: ``TextClassifier`` parameters (``features`` as
    tables) and ``contrast_words``, laid over ``base`` (the benchmarks' candidates)."""
    options = dict(options)
    words = options.pop("contrast_words", None)
    params = {**(base.params if base else {}), **_checked_params(options, "options")}
    from ffnlp.estimators.contrast import check_contrast_words

    return Recipe(
        name=base.name if base else "options",
        description=base.description if base else "",
        origin=base.origin if base else "",
        params=params,
        contrast_words=check_contrast_words(words)
        if words is not None
        else (base.contrast_words if base else ()),
        path=base.path if base else "",
    )


def _checked_params(table: dict[str, Any], source: str) -> dict[str, Any]:
    from ffnlp.estimators import TextClassifier  # recipes sit above the estimators
    from ffnlp.text.row_features import feature_from_dict

    known = [*TextClassifier.owner_of(), *TextClassifier().get_params(deep=False)]
    known = [k for k in known if k not in TextClassifier.GROUPS]
    params: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"recipe {source!r}: {key!r} is not a TextClassifier setting{hint}")
        if key == "features":
            try:
                value = [feature_from_dict(f) for f in value]
            except (TypeError, ValueError) as err:
                raise ValueError(f"recipe {source!r}: {err}") from None
        params[key] = tuple(value) if key in _TUPLES and isinstance(value, list) else value
    return params


@dataclass(frozen=True)
class LMRecipe:
    """A named set of language-model settings (``ffnlp lm train --recipe``).

    Attributes:
        name, description, origin, path: as :class:`Recipe`'s.
        params: flat settings, each checked by its declaration (model, training and text
            settings; sequences as tuples).
    """

    name: str
    description: str
    origin: str
    params: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def groups(self) -> dict[str, dict[str, Any]]:
        """The settings by group, as plain JSON values: ``{"model": {...}, "training":
        {...}, "text": {...}}`` (a group without settings is left out)."""
        owners = _lm_groups()
        out: dict[str, dict[str, Any]] = {}
        for key, value in self.params.items():
            group = next(g for g, declared in owners.items() if key in declared)
            out.setdefault(group, {})[key] = list(value) if isinstance(value, tuple) else value
        return out


def _lm_groups() -> dict[str, dict[str, Any]]:
    """The settings a language model's recipe may hold, by group: name -> declaration."""
    from ffnlp.models.language_model import FeedforwardLMConfig  # recipes sit above them
    from ffnlp.text.running import RunningTextSettings
    from ffnlp.text.settings import TextSettings
    from ffnlp.train import Training

    model = FeedforwardLMConfig.declared()
    model.pop("sparse_embeddings")  # exact, only faster: always on, no flag
    text = {**TextSettings.declared(), **RunningTextSettings.declared()}
    text.pop("unknown_words")  # the classifier's
    return {"model": model, "training": Training.declared(), "text": text}


def load_lm_recipe(name_or_path: str | os.PathLike) -> LMRecipe:
    """Read a language model's recipe by name (one of ``recipe_names("language_model")``)
    or from a TOML file with a ``[language_model]`` table.

    Raises:
        ValueError: an unknown name, a file that is not a recipe, a classifier's recipe, a
            key that is no language-model setting (named, with the closest one), or a value
            its setting refuses.
    """
    text = str(name_or_path)
    data, path = _read(name_or_path, "language_model")
    table = data.get("language_model")
    if not isinstance(table, dict):
        raise ValueError(
            f"recipe {text!r} has no [language_model] table of language-model settings"
        )
    declared = {k: rule for group in _lm_groups().values() for k, rule in group.items()}
    params: dict[str, Any] = {}
    for key, value in table.items():
        if key not in declared:
            close = difflib.get_close_matches(key, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"recipe {text!r}: {key!r} is not a language-model setting{hint}")
        try:
            params[key] = declared[key].check(key, value)
        except ValueError as err:
            raise ValueError(f"recipe {text!r}: {err}") from None
    return LMRecipe(
        name=path.stem,
        description=str(data.get("description", "")),
        origin=str(data.get("origin", "")),
        params=params,
        path=str(path),
    )
