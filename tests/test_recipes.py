"""Named recipes: TOML files of TextClassifier settings, read by name or path, used by
``classify train/cv --recipe`` (flags beside it win) and by the benchmarks."""

from __future__ import annotations

import json

import pytest

from ffnlp.cli import main
from ffnlp.estimators import Bigrams, OpeningPairs, Openings, TextClassifier, WordShapes
from ffnlp.recipes import load_recipe, recipe_names

LABELLED = "".join(
    f"__label__pos a great film, take {i}\n__label__neg a dull film, take {i}\n" for i in range(4)
)


def test_the_shipped_recipes_are_listed_and_each_makes_a_classifier():
    assert recipe_names() == ["default", "mr", "sst2", "trec"]
    for name in recipe_names():
        recipe = load_recipe(name)
        assert recipe.name == name and recipe.description and recipe.origin
        model = TextClassifier.from_settings(**recipe.params)
        assert {k: model.flat_settings()[k] for k in recipe.params} == recipe.params
        built = recipe.estimator(random_state=4)
        inner = built.estimator if recipe.contrast_words else built
        expected = TextClassifier.from_settings(**recipe.params, random_state=4)
        assert inner.flat_settings() == expected.flat_settings()
    assert load_recipe("default").params == {
        "features": [Bigrams(buckets=0)],
        "hidden_dims": (100,),
        "dropout": 0.5,
        "wide": True,
        "epochs": 3,
        "lr": 0.003,
    }
    assert (load_recipe("mr").contrast_words, load_recipe("trec").contrast_words) == (("but",), ())


def test_a_recipe_reads_lists_as_the_tuples_the_estimator_takes():
    recipe = load_recipe("sst2")
    params = recipe.params
    assert params["hidden_dims"] == (300,) and recipe.contrast_words == ("but",)
    assert params["wide"] is True and params["lr"] == 0.004 and params["epochs"] == 2
    assert params["features"] == [Bigrams(buckets=0)]
    assert recipe.to_dict()["classifier"]["features"] == [{"kind": "bigrams", "buckets": 0}]
    assert load_recipe("trec").params["features"] == [
        Bigrams(buckets=0),
        Openings(3),
        OpeningPairs(4),
        WordShapes(),
    ]


def test_a_recipe_file_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('description = "mine"\n[classifier]\nepochs = 3\nhidden_dims = [8, 4]\n')
    recipe = load_recipe(path)
    assert (recipe.name, recipe.description, recipe.params) == (
        "mine",
        "mine",
        {"epochs": 3, "hidden_dims": (8, 4)},
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[classifier]\nepoch = 3\n", "'epoch' is not a TextClassifier setting .*'epochs'"),
        ("epochs = 3\n", "has no \\[classifier\\] table"),
        ("[classifier\n", "is not a TOML file"),
        ("[classifier]\nfeatures = [{ kind = 'trigrams' }]\n", "unknown feature kind 'trigrams'"),
        ("[classifier]\nfeatures = [{ kind = 'openings', m = 2 }]\n", "has no setting 'm'"),
        ("[classifier]\n[contrast]\nword = ['but']\n", r"\[contrast\] holds only 'words'"),
        ("[classifier]\n[contrast]\nwords = ['but now']\n", "list of single words"),
    ],
)
def test_a_bad_recipe_file_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_recipe(path)


def test_an_unknown_name_lists_the_named_recipes(tmp_path):
    with pytest.raises(ValueError, match="no recipe named 'imdb'; the named recipes are default"):
        load_recipe("imdb")
    with pytest.raises(ValueError, match="does not exist"):
        load_recipe(tmp_path / "none.toml")


def _trained(tmp_path, *flags):
    (tmp_path / "train.ft").write_text(LABELLED)
    out = tmp_path / "m.npz"
    argv = ["classify", "train", str(tmp_path / "train.ft"), "--out", str(out), "--no-progress"]
    assert main([*argv, *flags]) == 0
    return TextClassifier.load(out)


def test_classify_train_with_a_recipe_trains_its_settings(tmp_path):
    model = _trained(tmp_path, "--recipe", "mr")
    assert model.words == ("but",)
    params = model.estimator_.flat_settings()
    assert params["pooling"] == "nb" and params["nb_features"] is True
    assert params["epochs"] == 5 and params["dropout"] == 0.5
    assert params["features"] == [Bigrams(buckets=0)]


def test_flags_given_beside_a_recipe_override_it_even_at_their_default(tmp_path):
    # --epochs 10 is the flag's default, but given, it wins over the recipe's 5.
    model = _trained(tmp_path, "--recipe", "mr", "--epochs", "10", "--dropout", "0.1")
    params = model.estimator_.flat_settings()
    assert params["epochs"] == 10 and params["dropout"] == 0.1
    assert params["pooling"] == "nb"  # the rest still comes from the recipe
    # A feature flag replaces or adds its own kind; --contrast-words '' drops the words.
    model = _trained(tmp_path, "--recipe", "mr", "--word-shapes", "--contrast-words", "")
    assert type(model) is TextClassifier
    assert model.features == [Bigrams(buckets=0), WordShapes()]
    model = _trained(tmp_path, "--recipe", "mr", "--buckets", "64")  # the recipe's bigrams
    assert model.estimator_.features == [Bigrams(buckets=64)]
    model = _trained(tmp_path, "--recipe", "trec", "--prefix-pairs", "0", "--prefix-ngrams", "2")
    assert model.features == [Bigrams(buckets=0), Openings(2), WordShapes()]
    model = _trained(tmp_path, "--recipe", "default", "--bigrams")  # a recipe without any
    assert model.features == [Bigrams(buckets=0)]


def test_classify_cv_takes_a_recipe(tmp_path, capsys, monkeypatch):
    fitted = []
    real_fit = TextClassifier.fit

    def fit(self, *args, **kwargs):
        fitted.append(self.flat_settings())
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(TextClassifier, "fit", fit)
    (tmp_path / "train.ft").write_text(LABELLED)
    argv = ["classify", "cv", str(tmp_path / "train.ft"), "--folds", "2", "--json"]
    assert main([*argv, "--recipe", "trec", "--epochs", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["folds"] == 2 and len(result["fold_accuracies"]) == 2
    assert len(fitted) == 2
    for params in fitted:
        assert params["epochs"] == 3 and params["lr"] == 0.01
        assert params["features"][2] == OpeningPairs(4)


def test_the_language_model_recipes_are_their_own_kind():
    from ffnlp.models.language_model import FeedforwardLMConfig
    from ffnlp.recipes import load_lm_recipe

    assert recipe_names("language_model") == ["names", "ptb", "wikitext2"]
    for name in recipe_names("language_model"):
        recipe = load_lm_recipe(name)
        assert recipe.name == name and recipe.description and "validation" in recipe.origin
        groups = recipe.groups()
        assert set(groups) == {"model", "training"} | ({"text"} if name == "names" else set())
        FeedforwardLMConfig(vocab_size=33_279, **groups["model"])  # a model it can build
    ptb = load_lm_recipe("ptb")
    assert ptb.params["hidden_dims"] == (1024, 256) and ptb.groups()["model"]["hidden_dims"] == [
        1024,
        256,
    ]
    wikitext2 = load_lm_recipe("wikitext2").params
    assert wikitext2["output"] == "auto" and wikitext2["tie_embeddings"] is True


def test_the_ptb_benchmark_reads_its_recipe_from_the_file_and_it_is_the_one_measured():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("lm_ptb", root / "benchmarks" / "lm_ptb.py")
    lm_ptb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lm_ptb)
    recorded = json.loads((root / "benchmarks" / "results" / "lm_ptb.json").read_text())
    measured = recorded["neural"]["recipe"]
    measured["training"].pop("max_time", None)  # the run's own bound (--max-time), not the file's
    assert lm_ptb.NEURAL == measured  # the recipe behind the table's test perplexity
    assert lm_ptb.NAMES == recorded["names"]["recipe"]  # and the one behind names' 1.924


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[language_model]\nhiden = [8]\n", "'hiden' is not a language-model setting"),
        ("[language_model]\ndropout = 1.5\n", r"dropout must be a number in \[0, 1\); got 1.5"),
        ("[language_model]\nunknown_words = 'prefix'\n", "'unknown_words' is not a language"),
        ("[classifier]\nepochs = 3\n", "is a classifier recipe \\(a \\[classifier\\] table"),
        ("epochs = 3\n", "has no \\[language_model\\] table"),
    ],
)
def test_a_bad_language_model_recipe_file_is_refused_with_the_reason(tmp_path, text, message):
    from ffnlp.recipes import load_lm_recipe

    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_lm_recipe(path)


def test_the_classifier_loader_refuses_a_language_model_recipe_by_name_and_by_path(tmp_path):
    with pytest.raises(
        ValueError, match=r"'ptb' is a language-model recipe .*lm train --recipe ptb"
    ):
        load_recipe("ptb")
    path = tmp_path / "lm.toml"
    path.write_text("[language_model]\nepochs = 3\n")
    with pytest.raises(
        ValueError, match=r"is a language-model recipe \(a \[language_model\] table"
    ):
        load_recipe(path)
