"""The scikit-learn-style estimators: scikit-learn's own estimator checks, Pipeline and
GridSearchCV, files, and errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ffnlp.estimators import (
    Bigrams,
    ContrastClauses,
    FeedforwardClassifier,
    LexiconClassifier,
    NotFittedError,
    OpeningPairs,
    Openings,
    TextClassifier,
    WordShapes,
)
from ffnlp.models.classifier import DeepAveraging

POS = [
    "a great film",
    "great fun and great cast",
    "a fine warm film",
    "fun , warm and great",
    "fine acting",
    "a great warm story",
]
NEG = [
    "a dull film",
    "dull and flat",
    "an awful plot",
    "flat , dull acting",
    "awful cast",
    "a dull awful story",
]
TEXTS = (POS + NEG) * 3
LABELS = (["pos"] * 6 + ["neg"] * 6) * 3


def test_feedforward_classifier_passes_sklearn_check_estimator():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(FeedforwardClassifier.from_settings(hidden_dims=(16,), epochs=50, lr=0.01))


def test_feedforward_classifier_learns_xor_and_follows_conventions():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 10)
    y = np.array(["no", "yes", "yes", "no"] * 10)
    model = FeedforwardClassifier.from_settings(hidden_dims=(8,), epochs=300, lr=0.02)
    assert model.fit(X, y) is model
    assert model.score(X, y) == 1.0
    assert model.classes_.tolist() == ["no", "yes"]
    proba = model.predict_proba(X[:4])
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert (proba[:, 1] > 0.5).tolist() == [False, True, True, False]  # columns follow classes_
    assert model.get_params()["hidden_dims"] == (8,)
    with pytest.raises(ValueError, match="contains NaN"):
        model.predict(np.array([[np.nan, 0.0]]))
    with pytest.raises(
        ValueError, match="X has 3 features, but FeedforwardClassifier is expecting 2 features"
    ):
        model.predict(np.zeros((1, 3)))
    with pytest.raises(NotFittedError):
        FeedforwardClassifier().predict(X)


B0, B32 = [Bigrams(buckets=0)], [Bigrams(buckets=32)]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"pooling": "max", "hidden_dims": (16,)},
        {
            "pooling": "mean+max",
            "features": [Bigrams(buckets=512)],
            "word_dropout": 0.2,
            "dropout": 0.2,
        },
        {"nb_features": True, "features": [Bigrams(buckets=64)], "hidden_dims": (8,)},
        {"nb_features": True, "features": B0, "min_count": 2},
        {"pooling": "nb", "nb_features": True, "features": B0},
        {"features": [*B0, Openings(2)]},
        {"features": [Bigrams(buckets=32), Openings(3)]},
        {"features": [Openings(1)]},
        {"features": [*B0, Openings(2), OpeningPairs(2)]},
        {"features": [Openings(2), OpeningPairs(2), WordShapes()]},
        {"features": [WordShapes(), *B32]},  # any order
        {"optimizer": "sgd", "lr": 0.5, "lr_schedule": "linear", "batch_size": 4},
        {"batch_by_length": True, "batch_size": 4, "features": B0, "nb_features": True},
        {"pool_words_only": True, "nb_features": True, "features": B0, "hidden_dims": (8,)},
        {"pool_words_only": True, "nb_features": True, "features": B0, "pooling": "nb"},
        {"pooling": "tfidf", "features": B0},
        {"pooling": "tfidf", "hidden_dims": (8,), "word_dropout": 0.2},
        {"wide": True, "features": B0, "hidden_dims": (8,)},
        {"wide": True, "pooling": "tfidf", "word_dropout": 0.2},
        {"wide": True, "nb_features": True, "features": B0},  # the network gets scores too
        {"unknown_words": "prefix", "min_count": 2},
    ],
)
def test_text_classifier_learns_a_small_sentiment_task(params, tmp_path):
    model = TextClassifier.from_settings(**{"embed_dim": 16, "epochs": 40, "lr": 0.02, **params})
    model.fit(TEXTS, LABELS)
    assert model.score(TEXTS, LABELS) == 1.0
    assert model.predict(["great warm fun", "dull awful flat"]).tolist() == ["pos", "neg"]
    model.save(tmp_path / "model.npz")
    again = TextClassifier.load(tmp_path / "model.npz")
    assert type(again) is TextClassifier
    assert again.flat_settings() == {**model.flat_settings(), "features": list(model.features)}
    np.testing.assert_array_equal(again.predict_proba(TEXTS), model.predict_proba(TEXTS))
    top = again.predict_top(["a great film"], k=2)[0]
    assert [label for label, _ in top] == ["pos", "neg"] and top[0][1] > top[1][1]
    assert type(top[0][0]) is str


def test_the_feature_objects_given_are_never_fitted():
    features = [Bigrams(buckets=0), WordShapes()]
    model = TextClassifier.from_settings(features=features, embed_dim=4, epochs=1).fit(
        TEXTS, LABELS
    )
    assert not hasattr(features[0], "table_") and not hasattr(features[1], "table_")
    assert model.features_[0] is not features[0] and len(model.features_[0].table_) > 0


def test_lexicon_classifier_learns_and_round_trips(tmp_path):
    model = LexiconClassifier.from_settings(hidden_dims=(8,), epochs=40, lr=0.02).fit(TEXTS, LABELS)
    assert model.score(TEXTS, LABELS) == 1.0
    model.save(tmp_path / "lexicon.npz")
    again = TextClassifier.load(tmp_path / "lexicon.npz")  # any classifier file
    assert type(again) is LexiconClassifier and again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.predict_proba(TEXTS), model.predict_proba(TEXTS))
    assert LexiconClassifier.load(tmp_path / "lexicon.npz").lexicon_ == model.lexicon_
    TextClassifier.from_settings(embed_dim=4, epochs=1).fit(TEXTS, LABELS).save(
        tmp_path / "text.npz"
    )
    with pytest.raises(ValueError, match="holds a TextClassifier, not a LexiconClassifier"):
        LexiconClassifier.load(tmp_path / "text.npz")


def test_parameters_that_do_not_apply_to_a_model_do_not_exist_on_it():
    text = set(TextClassifier().get_params(deep=False))
    lexicon = set(LexiconClassifier().get_params(deep=False))
    assert {"features", "wide", "network", "text"} <= text - lexicon
    assert {"lexicon", "lexicon_size"} <= lexicon - text
    assert "contrast_words" not in text | lexicon  # ContrastClauses(words=...)
    # The network's settings are the deep averaging network's alone.
    assert {"nb_features", "pooling"} <= set(TextClassifier.owner_of())
    assert not {"nb_features", "pooling", "min_count"} & set(LexiconClassifier.owner_of())
    with pytest.raises(ValueError, match="has no setting 'bigrams'"):
        TextClassifier.from_settings(bigrams=True)


def test_the_estimator_a_user_meets_first_has_few_parameters_and_groups_the_rest():
    params = TextClassifier().get_params(deep=False)
    assert len(params) <= 15
    # Each group's settings are reached by their own name, flat, or nested as in sklearn.
    clf = TextClassifier.from_settings(embed_dim=8, lr=0.05, min_count=2)
    assert (clf.network.embed_dim, clf.training.lr, clf.text.min_count) == (8, 0.05, 2)
    assert clf.training.batch_size == 32  # the classifier's default, not the group's 256
    clf.set_params(lr=0.1, training__epochs=3)
    assert (clf.training.lr, clf.training.epochs) == (0.1, 3)
    given = DeepAveraging(embed_dim=4)
    TextClassifier(network=given).set_params(embed_dim=6)
    assert given.embed_dim == 4  # a group given is never changed in place
    assert TextClassifier(training={"lr": 0.5}).group("training").batch_size == 32
    with pytest.raises(ValueError, match="training has no setting 'learning_rate'"):
        TextClassifier(training={"learning_rate": 0.5}).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="embed_dim must be a positive integer; got 0"):
        TextClassifier(network={"embed_dim": 0}).fit(TEXTS, LABELS)


def test_same_seed_same_model():
    a = TextClassifier.from_settings(
        embed_dim=8, epochs=5, dropout=0.3, word_dropout=0.2, random_state=3
    ).fit(TEXTS, LABELS)
    b = TextClassifier.from_settings(
        embed_dim=8, epochs=5, dropout=0.3, word_dropout=0.2, random_state=3
    ).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(a.predict_proba(TEXTS), b.predict_proba(TEXTS))


def test_unseen_words_map_to_unk():
    model = TextClassifier.from_settings(embed_dim=8, epochs=20, lr=0.02).fit(TEXTS, LABELS)
    proba = model.predict_proba(["zyzzyva quux", "great zyzzyva"])
    assert proba.shape == (2, 2) and np.isfinite(proba).all()


def test_inside_sklearn_pipeline_and_grid_search():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("clf", TextClassifier.from_settings(embed_dim=8, epochs=10, lr=0.02))])
    search = GridSearchCV(
        pipeline, {"clf__pooling": ["mean", "max"], "clf__embed_dim": [4, 8]}, cv=3
    )
    search.fit(TEXTS, LABELS)
    assert search.best_score_ > 0.8
    assert set(search.best_params_) == {"clf__pooling", "clf__embed_dim"}
    assert clone(TextClassifier.from_settings(pooling="max")).network.pooling == "max"


def test_text_classifier_errors():
    with pytest.raises(ValueError, match=r"only one class \('pos'\)"):
        TextClassifier.from_settings(epochs=1).fit(POS, ["pos"] * len(POS))
    with pytest.raises(ValueError, match="text 1 is empty"):
        TextClassifier.from_settings(epochs=1).fit(["good", "   ", "bad"], ["a", "b", "a"])
    with pytest.raises(ValueError, match="y must hold one label per text"):
        TextClassifier.from_settings(epochs=1).fit(TEXTS, LABELS[:-1])
    with pytest.raises(TypeError, match="X must be a list of texts"):
        TextClassifier.from_settings(epochs=1).fit("one text", ["a"])
    with pytest.raises(ValueError, match="features must be a list of feature objects"):
        TextClassifier.from_settings(features="tfidf").fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="features must be feature objects"):
        TextClassifier.from_settings(features=["bigrams"]).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="features lists a kind twice"):
        TextClassifier.from_settings(features=[Bigrams(), Bigrams(buckets=8)]).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="buckets must be a non-negative integer; got -1"):
        TextClassifier.from_settings(features=[Bigrams(buckets=-1)]).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="n must be a positive integer; got True"):
        TextClassifier.from_settings(features=[Openings(True)]).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\); got 2"):
        TextClassifier.from_settings(dropout=2).fit(TEXTS, LABELS)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        TextClassifier().predict(["x"])
    with pytest.raises(ValueError, match="deriving a lexicon needs exactly 2 classes"):
        LexiconClassifier().fit(["a", "b", "c"], ["x", "y", "z"])


def test_naive_bayes_table_is_the_log_count_ratio():
    from ffnlp.models.classifier import DeepAveragingConfig, DeepAveragingNetwork, nb_scores

    docs = [np.array([3, 4, 4]), np.array([3, 5]), np.array([5, 6])]
    targets = np.array([1, 1, 0])
    model = DeepAveragingNetwork(
        DeepAveragingConfig(vocab_size=7, num_classes=2, embed_dim=2, nb_features=1), rng=0
    )
    model.set_nb_table(docs, targets, alpha=1.0)
    # texts containing each token, smoothed: class 1 has {3: 2, 4: 1, 5: 1}; class 0 {5: 1, 6: 1}
    p = np.array([0, 0, 0, 2, 1, 1, 0]) + 1.0
    q = np.array([0, 0, 0, 0, 0, 1, 1]) + 1.0
    r = np.log(p / p.sum()) - np.log(q / q.sum())
    scores = np.array([r[3] + r[4], r[3] + r[5], r[5] + r[6]])  # repeated tokens count once
    np.testing.assert_allclose(model.nb_table.data[:, 0], r / scores.std(), rtol=1e-5)
    ids = np.array([[3, 4, 4], [3, 5, 0]])
    mask = np.array([[True, True, True], [True, True, False]])
    np.testing.assert_allclose(
        nb_scores(model.nb_table, ids, mask)[:, 0], scores[:2] / scores.std(), rtol=1e-5
    )


def test_nb_pooling_sums_distinct_tokens_weighted_by_their_naive_bayes_ratio():
    from ffnlp.models.classifier import DeepAveragingConfig, DeepAveragingNetwork, nb_scores

    config = DeepAveragingConfig(
        vocab_size=7, num_classes=2, embed_dim=3, nb_features=1, pooling="nb"
    )
    model = DeepAveragingNetwork(config, rng=0)
    model.set_nb_table(
        [np.array([3, 4, 4]), np.array([3, 5]), np.array([5, 6])], np.array([1, 1, 0])
    )
    model.eval()
    ids = np.array([[4, 3, 4], [5, 3, 0]])
    mask = np.array([[True, True, True], [True, True, False]])
    seen = {}
    model.mlp.forward = lambda x: seen.setdefault("features", x) or x  # capture the input
    model((ids, mask))
    r = np.abs(model.nb_table.data[:, 0])
    E = model.embedding.weight.data
    expected = np.stack([r[3] * E[3] + r[4] * E[4], r[3] * E[3] + r[5] * E[5]])  # 4 counts once
    features = seen["features"].data
    np.testing.assert_allclose(features[:, :3], expected, rtol=1e-5)
    np.testing.assert_allclose(
        features[:, 3], nb_scores(model.nb_table, ids, mask)[:, 0], rtol=1e-5
    )
    # backward: each distinct token's row gets |r| times the gradient of the pooled vector
    del model.mlp.forward
    logits, _ = model((ids, mask))
    logits.sum().backward()
    grad = model.embedding.weight.grad
    grad = grad.to_dense() if hasattr(grad, "to_dense") else np.asarray(grad)
    g = model.mlp[0].weight.data.sum(axis=0)[:3]  # d sum(logits) / d pooled, for every text
    expected_grad = np.zeros_like(E)
    expected_grad[3] = 2 * r[3] * g  # in both texts
    expected_grad[4] = r[4] * g
    expected_grad[5] = r[5] * g
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-7)


def test_idf_table_and_tfidf_pooling():
    """idf = ln((1 + N) / (1 + df)) + 1 per row; a text pools its distinct rows weighted
    by idf, the weights scaled to unit length; the backward pass gives each row its weight
    times the gradient of the pooled vector."""
    from ffnlp.autograd import gradcheck
    from ffnlp.models.classifier import DeepAveragingConfig, DeepAveragingNetwork

    config = DeepAveragingConfig(vocab_size=7, num_classes=2, embed_dim=3, pooling="tfidf")
    model = DeepAveragingNetwork(config, rng=0)
    model.set_idf_table([np.array([3, 4, 4]), np.array([3, 5]), np.array([5, 6])])
    df = np.array([0, 0, 0, 2, 1, 2, 1])
    np.testing.assert_allclose(model.idf.data, np.log(4 / (1 + df)) + 1, rtol=1e-6)
    model.eval()
    ids = np.array([[4, 3, 4], [5, 0, 0]])
    mask = np.array([[True, True, True], [True, False, False]])
    seen = {}
    model.mlp.forward = lambda x: seen.setdefault("features", x) or x
    model((ids, mask))
    idf, E = model.idf.data, model.embedding.weight.data
    w3, w4 = idf[3], idf[4]  # 4 twice counts once
    norm = np.hypot(w3, w4)
    expected = np.stack([(w3 * E[3] + w4 * E[4]) / norm, E[5]])  # one word: its own vector
    np.testing.assert_allclose(seen["features"].data, expected, rtol=1e-5)
    del model.mlp.forward
    logits, _ = model((ids, mask))
    logits.sum().backward()
    grad = model.embedding.weight.grad.to_dense()
    g = model.mlp[0].weight.data.sum(axis=0)
    np.testing.assert_allclose(grad[3], w3 / norm * g, rtol=1e-5)
    np.testing.assert_allclose(grad[4], w4 / norm * g, rtol=1e-5)
    np.testing.assert_allclose(grad[5], g, rtol=1e-5)
    model.to(np.float64)
    result = gradcheck(lambda *_: model((ids, mask), np.array([1, 0]))[1], model.parameters())
    assert result.ok(1e-6), str(result)
    with pytest.raises(ValueError, match="pooling 'tfidf'"):
        DeepAveragingNetwork(DeepAveragingConfig(7, 2, 3), rng=0).set_idf_table([np.array([1])])


def test_wide_tower_averages_two_models_each_trained_on_its_own_loss():
    """An average of a deep averaging network (of the words) and a naive Bayes linear
    model (of every row): the prediction is the mean of their probabilities, the loss the
    mean of their cross-entropies."""
    from ffnlp.autograd import Tensor, gradcheck, ops
    from ffnlp.models.classifier import (
        DeepAveragingConfig,
        DeepAveragingNetwork,
        NaiveBayesLinear,
        NaiveBayesLinearConfig,
        ProbabilityAverage,
        TextDataset,
        distinct_tokens,
        nb_scores,
    )

    deep_config = DeepAveragingConfig(
        vocab_size=7, num_classes=3, embed_dim=4, hidden_dims=(5,), extra_rows=3,
        pool_words_only=True,
    )  # fmt: skip
    linear_config = NaiveBayesLinearConfig(
        vocab_size=7, num_classes=3, embed_dim=4, extra_rows=3, nb_features=3
    )
    network = DeepAveragingNetwork(deep_config, rng=0)
    linear = NaiveBayesLinear(linear_config, rng=0, dropout=network.dropout)
    model = ProbabilityAverage([network, linear])
    assert network.embedding.weight.shape == (7, 4)  # words only
    assert linear.embedding.weight.shape == (10, 4)  # words and the other rows
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {
        **DeepAveragingNetwork.parameter_shapes(deep_config, prefix="member0."),
        **NaiveBayesLinear.parameter_shapes(linear_config, prefix="member1."),
    }
    assert [type(m).__name__ for m in model.members] == ["DeepAveragingNetwork", "NaiveBayesLinear"]
    docs = [np.array([3, 4, 8]), np.array([3, 5, 7]), np.array([5, 6, 9])]
    targets = np.array([0, 1, 2])
    linear.set_nb_table(TextDataset(docs), targets)
    (ids, mask), _ = TextDataset(docs, targets).batch(np.arange(3))
    model.eval()
    logits, loss = model((ids, mask), targets)
    deep_in = ops.embedding_bag(
        network.embedding.weight,
        np.where(ids < 7, ids, 0),
        (mask & (ids < 7)) / (mask & (ids < 7)).sum(1, keepdims=True),
    )
    deep = network.mlp(deep_in).data
    tokens, first = distinct_tokens(ids, mask)
    r = np.abs(linear.nb_table.data[tokens]).max(axis=-1) * first
    pooled = ops.embedding_bag(linear.embedding.weight, tokens, r).data
    wide = linear.output(
        Tensor(np.concatenate([pooled, nb_scores(linear.nb_table, ids, mask)], axis=1))
    ).data

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    np.testing.assert_allclose(
        softmax(logits.data), (softmax(deep) + softmax(wide)) / 2, rtol=1e-5, atol=1e-7
    )
    ce = lambda z: -np.log(softmax(z)[np.arange(3), targets]).mean()  # noqa: E731
    np.testing.assert_allclose(loss.data, (ce(deep) + ce(wide)) / 2, rtol=1e-5)
    # The whole loss, in float64, against central differences (both models' parameters).
    model.to(np.float64)
    result = gradcheck(lambda *_: model((ids, mask), targets)[1], model.parameters())
    assert result.ok(1e-6), str(result)
    with pytest.raises(ValueError, match="at least 2 models"):
        ProbabilityAverage([network])


def test_prefix_backoff_reads_an_unseen_word_as_the_most_frequent_sharing_its_beginning():
    from ffnlp.text.vocab import PrefixBackoff, Vocab

    vocab = Vocab.build(
        [["embarrassed"] * 3, ["embarrassment"] * 5, ["overshadow", "film", "intermission"]]
    )
    backoff = PrefixBackoff(vocab)
    assert backoff("embarrassing") == "embarrassment"  # both share "embarrass": the commoner
    assert backoff("overshadowed") == "overshadow"  # 2 characters left over
    assert backoff("overshadowing") == "overshadow"  # 3 over: the limit
    assert backoff("overshadowings") is None  # 4 over
    assert backoff("films") is None  # too short to guess from
    assert backoff("interview") is None  # "inter" shared, 4 over
    assert backoff("zzzzzzzz") is None
    texts = [["the", "embarrassing", "film"], ["film"]]
    read = backoff.tokens(texts, vocab)
    assert read == [["the", "embarrassment", "film"], ["film"]]
    assert read[1] is texts[1]  # texts with nothing to read are not copied
    assert PrefixBackoff(vocab, max_unmatched=4)("overshadowings") == "overshadow"


def test_text_classifier_reads_unseen_inflections_with_the_prefix_backoff(tmp_path):
    texts = ["a wonderful film", "wonderful acting", "a dreadful film", "dreadful acting"] * 4
    labels = ["pos", "pos", "neg", "neg"] * 4
    params = {"embed_dim": 8, "epochs": 30, "lr": 0.05, "random_state": 0}
    plain = TextClassifier.from_settings(**params).fit(texts, labels)
    prefix = TextClassifier.from_settings(unknown_words="prefix", **params).fit(texts, labels)
    unseen = ["wonderfully", "dreadfully"]
    assert prefix.predict(unseen).tolist() == ["pos", "neg"]
    p = plain.predict_proba(unseen)
    np.testing.assert_allclose(p[0], p[1])  # both <unk>: the same guess
    prefix.save(tmp_path / "model.npz")
    again = TextClassifier.load(tmp_path / "model.npz")
    assert again.text.unknown_words == "prefix"
    np.testing.assert_allclose(again.predict_proba(unseen), prefix.predict_proba(unseen))
    with pytest.raises(ValueError, match="unknown_words must be"):
        TextClassifier.from_settings(unknown_words="stem").fit(texts, labels)


def test_naive_bayes_table_is_the_same_from_a_dataset():
    from ffnlp.models.classifier import (
        DeepAveragingConfig,
        DeepAveragingNetwork,
        TextDataset,
    )

    docs = [np.array([3, 4, 4]), np.array([3, 5]), np.array([5, 6]), np.array([6])]
    targets = np.array([1, 1, 0, 0])
    config = DeepAveragingConfig(vocab_size=7, num_classes=2, embed_dim=2, nb_features=1)
    a, b = DeepAveragingNetwork(config, rng=0), DeepAveragingNetwork(config, rng=0)
    a.set_nb_table(docs, targets)
    b.set_nb_table(TextDataset(docs), targets)
    np.testing.assert_array_equal(a.nb_table.data, b.nb_table.data)


def test_text_dataset_from_a_ragged_array_and_its_batch_orders():
    from ffnlp.models.classifier import TextDataset

    docs = [np.array([3, 4, 4]), np.array([5]), np.array([5, 6]), np.array([6, 3, 3, 3])]
    ragged = TextDataset.from_ragged(np.concatenate(docs), np.array([0, 3, 4, 6, 10]))
    listed = TextDataset(docs)
    for i in ([0, 1, 2, 3], [3, 1]):
        (ids, mask), _ = ragged.batch(np.array(i))
        (ids2, mask2), _ = listed.batch(np.array(i))
        np.testing.assert_array_equal(ids, ids2)
        np.testing.assert_array_equal(mask, mask2)
    # The default order is the training loop's own; by_length groups similar lengths.
    from ffnlp.text import minibatches

    ours = list(listed.batch_order(4, 2, np.random.default_rng(5)))
    plain = list(minibatches(4, 2, np.random.default_rng(5)))
    assert all(np.array_equal(a, b) for a, b in zip(ours, plain))
    listed.by_length = True
    batches = list(listed.batch_order(4, 2, np.random.default_rng(5)))
    assert sorted(sorted(b.tolist()) for b in batches) == [[0, 3], [1, 2]]


def test_documents_are_words_then_bigrams_then_openings():
    texts = ["a b c", "b c", "c a b", "d"]
    model = TextClassifier.from_settings(features=[Bigrams(buckets=0), Openings(1)], epochs=1)
    model.fit(texts, [0, 1, 0, 1])
    v, words = model.vocab_, len(model.vocab_)
    table = model.features_[0].table_.tolist()
    bigram = {
        (a, b): words + table.index(v.stoi[a] * words + v.stoi[b])
        for a, b in [("a", "b"), ("b", "c"), ("c", "a")]
    }
    opening = {w: words + len(table) + i for i, w in enumerate(sorted(v.stoi[t] for t in "abcd"))}
    flat, starts = model._fitted.encoder.rows([t.split() for t in ["a b c a", "x b", "d"]])
    rows = np.split(flat, starts[1:-1])
    ids = [v.stoi.get(w, 0) for w in "a b c a".split()]
    grams = [bigram["a", "b"], bigram["b", "c"], bigram["c", "a"]]
    assert rows[0].tolist() == [*ids, *grams, opening[ids[0]]]
    assert rows[1].tolist() == [0, v.stoi["b"]]  # unseen bigram and opening left out
    assert rows[2].tolist() == [v.stoi["d"], opening[v.stoi["d"]]]
    assert model._fitted.encoder.extra_rows == len(table) + 4


def test_pool_words_only_pools_the_words_and_leaves_bigrams_to_the_nb_score():
    from ffnlp.autograd import gradcheck
    from ffnlp.models.classifier import DeepAveragingConfig, DeepAveragingNetwork

    config = DeepAveragingConfig(
        vocab_size=5,
        num_classes=2,
        embed_dim=3,
        extra_rows=4,
        nb_features=1,
        pool_words_only=True,
        hidden_dims=(4,),
    )
    model = DeepAveragingNetwork(config, rng=0)
    assert model.embedding.weight.shape == (5, 3)  # no rows for the bigrams
    assert DeepAveragingNetwork.parameter_shapes(config)["embedding.weight"] == (5, 3)
    docs = [np.array([3, 4, 5, 6]), np.array([4, 7]), np.array([3, 8])]
    model.set_nb_table(docs, np.array([1, 0, 1]))
    model.eval()
    ids = np.array([[3, 4, 5, 6], [4, 7, 0, 0]])
    mask = np.array([[True, True, True, True], [True, True, False, False]])
    seen = {}
    model.mlp.forward = lambda x: seen.setdefault("features", x) or x  # capture the input
    model((ids, mask))
    E = model.embedding.weight.data
    expected = np.stack([(E[3] + E[4]) / 2, E[4]])  # the mean over the words only
    features = seen["features"].data
    np.testing.assert_allclose(features[:, :3], expected, rtol=1e-5)
    r = model.nb_table.data[:, 0]
    np.testing.assert_allclose(features[:, 3], [r[[3, 4, 5, 6]].sum(), r[[4, 7]].sum()], rtol=1e-5)
    del model.mlp.forward
    # The whole loss, in float64, against central differences.
    model.to(np.float64)
    result = gradcheck(lambda *_: model((ids, mask), np.array([1, 0]))[1], model.parameters())
    assert result.ok(1e-6), str(result)
    with pytest.raises(ValueError, match=r"pool_words_only .* needs nb_features"):
        TextClassifier.from_settings(features=[Bigrams()], pool_words_only=True).fit(TEXTS, LABELS)


def _rows(model, tokens):
    """Each text's rows of the embedding table, as the fitted model reads them."""
    flat, starts = model._fitted.encoder.rows(tokens)
    return np.split(flat, starts[1:-1])


def test_nb_pooling_needs_the_naive_bayes_table():
    with pytest.raises(ValueError, match=r"pooling .nb. .* needs nb_features"):
        TextClassifier.from_settings(pooling="nb", epochs=1).fit(TEXTS, LABELS)


def test_prefix_ngrams_add_one_row_per_opening_seen_in_training():
    texts = ["how many cats", "how many dogs", "who is he", "how far is it", "who"]
    labels = ["num", "num", "hum", "num", "hum"]
    model = TextClassifier.from_settings(features=[Openings(2)], epochs=1).fit(texts, labels)
    v = model.vocab_
    openings = {tuple(v.itos[i] for i in row if i >= 0) for row in model.features_[0].table_}
    assert openings == {("how",), ("how", "many"), ("how", "far"), ("who",), ("who", "is")}
    assert model.model_.config.extra_rows == 5
    rows = _rows(model, [["how", "many", "birds"], ["why", "not"]])
    words = len(v)
    row_of = {
        o: words + i for i, o in enumerate(sorted(tuple(v.stoi[w] for w in o) for o in openings))
    }
    assert rows[0].tolist() == [
        v.stoi["how"],
        v.stoi["many"],
        0,
        row_of[(v.stoi["how"],)],
        row_of[(v.stoi["how"], v.stoi["many"])],
    ]
    assert rows[1].tolist() == [0, 0]  # unseen openings are left out
    with pytest.raises(ValueError, match="n must be a positive integer; got -1"):
        TextClassifier.from_settings(features=[Openings(-1)]).fit(texts, labels)


@pytest.mark.parametrize("features", ["embeddings", "lexicon"])
def test_eval_set_and_log_path_give_validation_curves(features, tmp_path):
    """Both kinds of features log every epoch, with the held-out loss and accuracy."""
    import json

    log = tmp_path / "run.jsonl"
    held_out = (["great warm fun", "dull awful flat", "a fine story"], ["pos", "neg", "pos"])
    model = (
        TextClassifier.from_settings(embed_dim=8, hidden_dims=(8,), epochs=30, lr=0.02)
        if features == "embeddings"
        else LexiconClassifier.from_settings(hidden_dims=(8,), epochs=30, lr=0.02)
    )
    model.fit(TEXTS, LABELS, eval_set=held_out, log_path=log)
    epochs = [r for r in map(json.loads, log.read_text().splitlines()) if "valid_accuracy" in r]
    assert len(epochs) == 30
    probs = model.predict_proba(held_out[0])
    picked = probs[np.arange(3), np.searchsorted(model.classes_, held_out[1])]
    assert epochs[-1]["valid_accuracy"] == pytest.approx(model.score(*held_out))
    assert epochs[-1]["valid_loss"] == pytest.approx(-np.mean(np.log(picked)), rel=1e-6)
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"]


def test_prefix_pairs_pair_the_opening_words_with_later_ones_seen_twice():
    texts = ["what is the city", "what city is big", "who is he", "what is it"]
    labels = ["loc", "loc", "hum", "ent"]
    model = TextClassifier.from_settings(features=[OpeningPairs(2)], epochs=1).fit(texts, labels)
    v = model.vocab_
    size = len(v)
    table = model.features_[0].table_
    pairs = {(v.itos[k // size], v.itos[k % size]) for k in table}
    # (what, is) 3 times, (what, city) twice, (is, the) once: kept if seen twice or more
    assert pairs == {("what", "is"), ("what", "city")}
    assert table.tolist() == sorted(table.tolist())
    assert model.model_.config.extra_rows == 2
    row_of = {
        p: size + i
        for i, p in enumerate(sorted(pairs, key=lambda p: v.stoi[p[0]] * size + v.stoi[p[1]]))
    }
    rows = _rows(model, [["what", "big", "city", "is"], ["is", "what"]])
    words = [v.stoi[w] for w in ("what", "big", "city", "is")]
    assert rows[0].tolist() == [*words, row_of[("what", "city")], row_of[("what", "is")]]
    assert rows[1].tolist() == [v.stoi["is"], v.stoi["what"]]  # (is, what) never seen
    with pytest.raises(ValueError, match="n must be a positive integer; got 0"):
        TextClassifier.from_settings(features=[OpeningPairs(0)]).fit(texts, labels)


def test_word_shapes_add_one_row_per_shape_seen_twice():
    texts = ["Who founded NASA", "Who is Bob", "When was it in 1990", "Who led IBM in 1990"]
    labels = ["hum", "hum", "num", "hum"]
    model = TextClassifier.from_settings(features=[WordShapes()], epochs=1).fit(texts, labels)
    # shapes after the first word: x X / x Xx / x x x dddd / x X x dddd; "Xx" is seen once
    assert model.features_[0].table_ == ["X", "dddd", "x"]
    assert model.model_.config.extra_rows == 3
    words = len(model.vocab_)
    v = model.vocab_.stoi
    rows = _rows(model, [["Who", "wrote", "Hamlet", "in", "1600", "Inc."]])
    x, year = words + 2, words + 1  # wrote, in: x; 1600: dddd; Hamlet, Inc.: unseen shapes
    assert rows[0].tolist() == [v["Who"], 0, 0, v["in"], 0, 0, x, x, year]
    with pytest.raises(ValueError, match="WordShapes has no setting 'n'"):
        WordShapes().set_params(n=2)


def test_lr_schedule_is_checked():
    with pytest.raises(
        ValueError,
        match=r"lr_schedule must be one of \('constant', 'plateau', 'linear'\); got 'cos'",
    ):
        TextClassifier.from_settings(lr_schedule="cos", epochs=1).fit(TEXTS, LABELS)
    for model in (
        TextClassifier.from_settings(epochs=1),
        FeedforwardClassifier.from_settings(epochs=1),
    ):
        X = TEXTS if isinstance(model, TextClassifier) else np.eye(len(LABELS))
        with pytest.raises(ValueError, match=r"lr_schedule='plateau' .* it needs an eval_set"):
            model.set_params(lr_schedule="plateau").fit(X, LABELS)
        with pytest.raises(ValueError, match=r"lr_decay must be a number in \(0, 1\]; got 0"):
            model.set_params(lr_schedule="constant", lr_decay=0).fit(X, LABELS)


def test_plateau_schedule_halves_the_rate_when_the_held_out_loss_does_not_improve(tmp_path):
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] * 5)
    y = np.array([0, 1, 1, 0] * 5)
    held_out = (X[:4], np.array([1, 0, 0, 1]))  # the opposite labels: it only gets worse
    model = FeedforwardClassifier.from_settings(
        hidden_dims=(8,), epochs=4, lr=0.05, lr_schedule="plateau"
    )
    model.fit(X, y, eval_set=held_out, log_path=tmp_path / "log.jsonl")
    epochs = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in epochs if "seconds" in r]
    assert [r["best"] for r in epochs] == [True, False, False, False]
    assert [r["lr"] for r in epochs] == [0.05, 0.05, 0.025, 0.0125]


def test_a_file_whose_tables_do_not_match_its_configuration_is_refused(tmp_path):
    from ffnlp import io
    from ffnlp.estimators import KIND

    model = TextClassifier.from_settings(
        embed_dim=4, epochs=1, features=[Openings(1), OpeningPairs(2)]
    )
    model.fit(TEXTS, LABELS).save(tmp_path / "m.npz")
    meta, arrays = io.load_archive(tmp_path / "m.npz", kind=KIND)
    arrays["features.1.table"] = arrays["features.1.table"][:-1]  # a pair fewer than trained
    io.save_archive(tmp_path / "bad.npz", KIND, meta, arrays)
    with pytest.raises(ValueError, match=r"make \d+ rows, the configuration \d+"):
        TextClassifier.load(tmp_path / "bad.npz")


def test_contrast_clause_is_what_follows_the_last_contrast_word():
    from ffnlp.text.features import contrast_clause

    tokens = "slow at first , but it grows , but never bores".split()
    assert contrast_clause(tokens, ["but"]) == ["never", "bores"]
    assert contrast_clause(tokens, ["BUT", "yet"]) == ["never", "bores"]  # without case
    assert contrast_clause("Dull , But fun".split(), ["but"]) == ["fun"]
    assert contrast_clause("dull , yet fun".split(), ["but", "yet"]) == ["fun"]
    assert contrast_clause("but why".split(), ["but"]) is None  # the first word: no X
    assert contrast_clause("dull but".split(), ["but"]) is None  # nothing follows
    assert contrast_clause("dull but fine but".split(), ["but"]) == ["fine", "but"]
    assert contrast_clause("dull but fine but .".split(), ["but"]) == ["fine", "but", "."]
    assert contrast_clause("it was good but .".split(), ["but"]) is None  # no word after
    assert contrast_clause("dull but but".split(), ["but"]) is None  # nor here
    assert contrast_clause("dull and flat".split(), ["but"]) is None
    assert contrast_clause("dull but fun".split(), []) is None


@pytest.mark.parametrize("features", ["embeddings", "lexicon"])
def test_contrast_words_average_the_text_and_the_clause_after_the_last_one(features, tmp_path):
    if features == "embeddings":
        make = lambda: TextClassifier.from_settings(embed_dim=8, epochs=30, lr=0.02)  # noqa: E731
    else:
        make = lambda: LexiconClassifier.from_settings(epochs=30, lr=0.02)  # noqa: E731
    plain = make().fit(TEXTS, LABELS)
    given = make()
    model = ContrastClauses(given, words=["but"]).fit(TEXTS, LABELS)
    assert not hasattr(given, "classes_")  # a copy is fitted
    np.testing.assert_array_equal(  # training is unchanged
        model.predict_proba(TEXTS), plain.predict_proba(TEXTS)
    )
    texts = ["a great cast but a dull awful plot", "dull and flat", "great fun , BUT dull"]
    expected = plain.predict_proba(texts)
    clauses = plain.predict_proba(["a dull awful plot", "dull"])
    expected[[0, 2]] = 0.5 * (expected[[0, 2]] + clauses)
    got = model.predict_proba(texts)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert not np.allclose(got, plain.predict_proba(texts))
    model.save(tmp_path / "model.npz")
    again = TextClassifier.load(tmp_path / "model.npz")
    assert type(again) is ContrastClauses and list(again.words) == ["but"]
    assert type(again.estimator_) is type(plain)
    np.testing.assert_array_equal(again.predict_proba(texts), got)
    again.set_params(words=())  # words act at prediction only
    np.testing.assert_array_equal(again.predict_proba(texts), plain.predict_proba(texts))


@pytest.mark.parametrize("words", ["but", ["but", 3], ["but yet"], [" but"]])
def test_contrast_words_must_be_a_list_of_single_words(words):
    with pytest.raises(ValueError, match="the contrast words must be a list of single words"):
        ContrastClauses(TextClassifier.from_settings(epochs=1), words=words).fit(TEXTS, LABELS)
    char = TextClassifier.from_settings(tokenizer="char", epochs=1)
    with pytest.raises(ValueError, match="tokenizer='char' makes every character a token"):
        ContrastClauses(char, words=["b"]).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="needs an estimator to wrap"):
        ContrastClauses().fit(TEXTS, LABELS)


LAYOUT_1 = Path(__file__).parent / "data" / "layout1"


@pytest.mark.parametrize(
    "name", ["wide-contrast", "features", "hashed-nb", "tfidf-words-only", "lexicon"]
)
def test_a_file_of_layout_1_loads_and_predicts_exactly_as_it_did(name, tmp_path):
    """Files written before the classifier was split into parts (tests/data/layout1, made
    by make_fixtures.py with that code) load as today's parts and give the probabilities
    they gave then; saved again, they are layout-2 files that read back the same."""
    import json

    from ffnlp.estimators import load_classifier

    expected = json.loads((LAYOUT_1 / "expected.json").read_text())
    model = load_classifier(LAYOUT_1 / f"{name}.npz")
    probs = np.array(expected["models"][name]["probabilities"])
    np.testing.assert_array_equal(model.predict_proba(expected["texts"]), probs)
    kind = {"wide-contrast": ContrastClauses, "lexicon": LexiconClassifier}
    assert type(model) is kind.get(name, TextClassifier)
    model.save(tmp_path / "again.npz")
    np.testing.assert_array_equal(
        load_classifier(tmp_path / "again.npz").predict_proba(expected["texts"]), probs
    )


def test_a_layout_1_file_missing_the_newer_settings_loads_with_their_defaults(tmp_path):
    from ffnlp import io
    from ffnlp.estimators import KIND, load_classifier

    meta, arrays = io.load_archive(LAYOUT_1 / "features.npz", kind=KIND)
    for name in ("wide", "unknown_words", "contrast_words", "class_weight"):
        del meta["params"][name]
    del meta["config"]["class_weights"]
    io.save_archive(tmp_path / "older.npz", KIND, meta, arrays)
    old = load_classifier(tmp_path / "older.npz")
    assert (old.wide, old.text.unknown_words, old.class_weight) == (False, "unk", None)
    assert old.model_.config.class_weights == ()
    texts = ["great fun", "dull"]
    reference = load_classifier(LAYOUT_1 / "features.npz")
    np.testing.assert_array_equal(old.predict_proba(texts), reference.predict_proba(texts))


def test_a_file_of_a_newer_layout_is_refused_naming_it(tmp_path):
    from ffnlp import io
    from ffnlp.estimators import KIND

    model = TextClassifier.from_settings(embed_dim=4, epochs=1).fit(TEXTS, LABELS)
    meta, arrays = model.to_archive()
    io.save_archive(tmp_path / "future.npz", KIND, {**meta, "layout": 4}, arrays)
    with pytest.raises(ValueError, match="classifier of layout 4, written by a newer ffnlp"):
        TextClassifier.load(tmp_path / "future.npz")


@pytest.mark.parametrize("wide", [False, True])
def test_class_weights_weigh_each_text_s_loss_by_its_class(wide):
    from ffnlp.autograd import gradcheck
    from ffnlp.models.classifier import (
        DeepAveragingConfig,
        DeepAveragingNetwork,
        NaiveBayesLinear,
        NaiveBayesLinearConfig,
        TextDataset,
    )

    docs = [np.array([3, 4, 8]), np.array([3, 5, 7]), np.array([5, 6, 9]), np.array([1, 2])]
    targets = np.array([0, 1, 2, 1])
    weights = (0.5, 2.0, 3.0)
    settings = dict(vocab_size=7, num_classes=3, embed_dim=4, extra_rows=3, nb_features=3)
    if wide:  # the naive Bayes linear model weighs its loss the same way
        kind, config = NaiveBayesLinear, NaiveBayesLinearConfig
    else:
        kind, config = DeepAveragingNetwork, DeepAveragingConfig
        settings["hidden_dims"] = (5,)
    plain = kind(config(**settings), rng=0)
    weighted = kind(config(**settings, class_weights=weights), rng=0)
    for model in (plain, weighted):
        model.set_nb_table(TextDataset(docs), targets)
        model.eval()
    (ids, mask), _ = TextDataset(docs, targets).batch(np.arange(4))
    # Each text's loss alone, from the unweighted model (the same weights, same seed).
    each = np.array([plain((ids[i : i + 1], mask[i : i + 1]), targets[i : i + 1])[1].data
                     for i in range(4)])  # fmt: skip
    logits, loss = weighted((ids, mask), targets)
    np.testing.assert_allclose(logits.data, plain((ids, mask))[0].data)
    np.testing.assert_allclose(loss.data, (np.array(weights)[targets] * each).mean(), rtol=1e-5)
    weighted.to(np.float64)
    result = gradcheck(lambda *_: weighted((ids, mask), targets)[1], weighted.parameters())
    assert result.ok(1e-6), str(result)


@pytest.mark.parametrize(
    "bad", [(1.0, 2.0), (1.0, -1.0, 1.0), (0, 0, 0), (1.0, float("nan"), 1.0), ("a", 1, 1), "123"]
)
def test_class_weights_are_checked(bad):
    from ffnlp.models.classifier import DeepAveragingConfig

    with pytest.raises(ValueError, match="class_weights must be"):
        DeepAveragingConfig(vocab_size=7, num_classes=3, class_weights=bad)


def test_class_weight_balanced_makes_every_class_count_alike(tmp_path):
    texts = ["a great film", "great fun", "a fine film", "a dull film"] * 5
    labels = ["pos", "pos", "pos", "neg"] * 5  # 15 against 5
    params = {"embed_dim": 8, "epochs": 10, "lr": 0.02, "dropout": 0.0}
    plain = TextClassifier.from_settings(**params).fit(texts, labels)
    balanced = TextClassifier.from_settings(class_weight="balanced", **params).fit(texts, labels)
    assert plain.model_.config.class_weights == ()
    # n / (C * n_c): neg (5 of 20) 2.0, pos (15 of 20) 2/3, in classes_ order.
    assert balanced.classes_.tolist() == ["neg", "pos"]
    np.testing.assert_allclose(balanced.model_.config.class_weights, [2.0, 2 / 3])
    neutral = ["a film"]  # words of both classes: the minority class gains
    assert balanced.predict_proba(neutral)[0, 0] > plain.predict_proba(neutral)[0, 0]
    balanced.save(tmp_path / "model.npz")
    again = TextClassifier.load(tmp_path / "model.npz")
    assert again.class_weight == "balanced"
    np.testing.assert_allclose(again.model_.config.class_weights, [2.0, 2 / 3])
    np.testing.assert_allclose(again.predict_proba(texts), balanced.predict_proba(texts), rtol=1e-6)
    numbered = TextClassifier.from_settings(class_weight={0: 3.0}, **params).fit(
        texts, [0, 0, 0, 1] * 5
    )
    assert numbered.model_.config.class_weights == (3.0, 1.0)
    numbered.save(tmp_path / "numbered.npz")  # JSON keeps the keys as strings
    assert TextClassifier.load(tmp_path / "numbered.npz").model_.config.class_weights == (3.0, 1.0)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"class_weight": "even"}, "class_weight must be None, 'balanced' or a dict"),
        ({"class_weight": {"neutral": 2.0}}, "does not have: 'neutral'"),
        ({"class_weight": {"pos": -1.0}}, r"class_weight\['pos'\] must be a .*>= 0; got -1"),
        ({"class_weight": {"pos": float("inf")}}, r"class_weight\['pos'\] must be"),
        ({"class_weight": {"pos": 0, "neg": 0}}, "not all 0"),
        ({"class_weight": {"pos": "2"}}, r"class_weight\['pos'\] must be a .*number"),
        ({"class_weight": {"pos": 1j}}, r"class_weight\['pos'\] must be a .*number"),
    ],
)
def test_class_weight_errors(params, message):
    model = TextClassifier.from_settings(epochs=1, **params)
    with pytest.raises(ValueError, match=message):
        model.fit(TEXTS, LABELS)
    with pytest.raises(NotFittedError):  # a refused fit leaves nothing that looks fitted
        model.predict(TEXTS)


def test_class_weight_dicts_of_numpy_values_save_and_load(tmp_path):
    texts = ["a great film", "great fun", "a fine film", "a dull film"] * 3
    params = {"embed_dim": 8, "epochs": 2}
    weights = {np.int64(0): np.float32(0.5), np.int64(1): np.float64(0.0)}  # 0: ignore class 1
    model = ContrastClauses(
        TextClassifier.from_settings(class_weight=weights, **params), np.array(["but"])
    )
    model.fit(texts, np.array([0, 0, 0, 1] * 3))
    assert model.estimator_.model_.config.class_weights == (0.5, 0.0)
    model.save(tmp_path / "model.npz")
    again = TextClassifier.load(tmp_path / "model.npz")
    assert again.estimator_.get_params()["class_weight"] == {0: 0.5, 1: 0.0}  # labels' type
    assert again.words == ("but",)
    np.testing.assert_allclose(again.predict_proba(texts), model.predict_proba(texts), rtol=1e-6)
    with pytest.raises(ValueError, match="gives label 1 two weights"):
        TextClassifier.from_settings(class_weight={1: 2.0, "1": 3.0}, **params).fit(
            texts, [0, 0, 0, 1] * 3
        )
    floats = TextClassifier.from_settings(class_weight={1: 2.0}, **params).fit(
        texts, [0.0, 0.0, 0.0, 1.0] * 3
    )
    assert floats.model_.config.class_weights == (1.0, 2.0)  # 1 == 1.0, as scikit-learn


def test_a_refused_fit_leaves_the_estimator_as_it_was():
    texts = ["a great film", "great fun", "a dull film", "dull and flat"] * 3
    model = TextClassifier.from_settings(embed_dim=8, epochs=2).fit(texts, [1, 1, 0, 0] * 3)
    before = model.predict_proba(texts)
    model.set_params(pooling="nb")  # refused: no nb_features
    with pytest.raises(ValueError, match="needs nb_features"):
        model.fit(texts, ["pos", "pos", "neg", "neg"] * 3)
    assert model.classes_.tolist() == [0, 1]  # the old fit, whole, not the new labels
    np.testing.assert_array_equal(model.predict_proba(texts), before)
    model.set_params(pooling="mean", class_weight={"neutral": 1.0})  # refused, later
    with pytest.raises(ValueError, match="does not have: 'neutral'"):
        model.fit(texts, ["pos", "pos", "neg", "neg"] * 3)
    np.testing.assert_array_equal(model.predict_proba(texts), before)
    fresh = TextClassifier.from_settings(pooling="nb", epochs=1)
    with pytest.raises(ValueError, match="needs nb_features"):
        fresh.fit(texts, [1, 1, 0, 0] * 3)
    with pytest.raises(NotFittedError):
        fresh.predict(texts)


def test_a_file_keeps_the_class_weights_the_model_was_trained_with(tmp_path):
    texts = ["a great film", "great fun", "a fine film", "a dull film"] * 3
    labels = [1, 1, 1, 0] * 3
    model = TextClassifier.from_settings(embed_dim=8, epochs=2).fit(texts, labels)
    model.set_params(class_weight={"pos": 2.0, 1: "x"})  # after the fit: not trained
    model.save(tmp_path / "model.npz")
    again = TextClassifier.load(tmp_path / "model.npz")
    assert again.class_weight is None


def test_words_missing_from_the_pretrained_vectors_start_as_the_language_models_do():
    from ffnlp.text.vectors import fill_missing

    probe = TextClassifier.from_settings(epochs=1).fit(
        TEXTS, LABELS
    )  # to learn the vocabulary's size
    V = len(probe.vocab_)
    vectors = np.random.default_rng(0).standard_normal((V, 8)).astype(np.float32) * 4
    found = np.arange(V) % 2 == 0
    vectors[~found] = 0
    model = TextClassifier.from_settings(
        embed_dim=8, epochs=2, pretrained=(vectors, found), freeze_embeddings=True, random_state=3
    ).fit(TEXTS, LABELS)
    rows = model.model_.embedding.weight.data[:V]
    np.testing.assert_array_equal(rows, fill_missing(vectors, found, rng=3))
    assert rows[~found].std() > 2  # at the scale of the pretrained rows (std 4), not the init


def test_review_edge_cases_of_the_parts(tmp_path):
    # A wrapper around a wrapper clones its classifier (no deep parameters passed on).
    nested = ContrastClauses(
        ContrastClauses(TextClassifier.from_settings(embed_dim=4, epochs=2)), ["but"]
    )
    assert nested.fit(TEXTS, LABELS).predict(["great fun but dull"]).shape == (1,)
    # Float and bool labels come back as themselves from a file.
    for labels in ([1.0, 0.0] * (len(TEXTS) // 2), [True, False] * (len(TEXTS) // 2)):
        model = TextClassifier.from_settings(embed_dim=4, epochs=2).fit(TEXTS, labels)
        model.save(tmp_path / "labels.npz")
        again = TextClassifier.load(tmp_path / "labels.npz")
        assert again.classes_.dtype == model.classes_.dtype
        assert again.predict(TEXTS).tolist() == model.predict(TEXTS).tolist()
    # A held-out text without a word is refused before training, naming the held-out set.
    with pytest.raises(ValueError, match="eval_set: text 0 is empty"):
        TextClassifier.from_settings(epochs=1).fit(
            TEXTS, LABELS, eval_set=(["  ", "great"], ["pos", "neg"])
        )
    # A lexicon given is kept in the file, so a loaded classifier refits with it.
    lexicon = {"great": 1, "dull": -1}
    LexiconClassifier.from_settings(lexicon=lexicon, epochs=1).fit(TEXTS, LABELS).save(
        tmp_path / "lex.npz"
    )
    assert LexiconClassifier.load(tmp_path / "lex.npz").lexicon == lexicon


def test_a_layout_1_wide_file_that_pooled_the_words_only_refits(tmp_path):
    from ffnlp import io
    from ffnlp.estimators import KIND, load_classifier

    meta, arrays = io.load_archive(LAYOUT_1 / "wide-contrast.npz", kind=KIND)
    meta["params"]["pool_words_only"] = meta["config"]["pool_words_only"] = True  # allowed then
    io.save_archive(tmp_path / "old.npz", KIND, meta, arrays)
    model = load_classifier(tmp_path / "old.npz")
    assert model.estimator_.wide and not model.estimator_.network.pool_words_only
    model.fit(TEXTS, LABELS)  # the settings it loaded with are valid settings


LAYOUT_2 = Path(__file__).parent / "data" / "layout2"


@pytest.mark.parametrize("name", ["text", "lexicon"])
def test_a_layout_2_file_loads_and_predicts_as_it_did(name):
    from ffnlp.estimators import load_classifier

    expected = json.loads((LAYOUT_2 / "expected.json").read_text())
    model = load_classifier(LAYOUT_2 / f"{name}.npz")
    np.testing.assert_array_equal(
        model.predict_proba(expected["texts"]), np.array(expected["proba"][name])
    )
    if name == "text":  # layout 2's `lazy` is today's lazy_embeddings, in the training group
        inner = model.estimator_
        assert inner.training.lazy_embeddings is False and inner.text.unknown_words == "prefix"
        assert inner.class_weight == "balanced"


def test_every_setting_is_declared_once_and_the_flags_and_defaults_come_from_it():
    import dataclasses
    import inspect

    from ffnlp.cli import build_parser
    from ffnlp.models.classifier import ClassifierOptions
    from ffnlp.train import CLASSIFIER_TRAINING

    parser = build_parser()._subparsers._group_actions[0].choices["classify"]
    train = parser._subparsers._group_actions[0].choices["train"]
    flags = {a.dest: a for a in train._actions if a.option_strings}
    signature = inspect.signature(TextClassifier.__init__).parameters
    for name, rule in ClassifierOptions.declared().items():  # the estimator's own
        assert signature[name].default == ClassifierOptions.default_of(name), name
        assert flags[name].help == rule.help and flags[name].default == signature[name].default
    for group, cls in TextClassifier.GROUPS.items():
        defaults = TextClassifier.group_default(group)
        for name, rule in cls.declared().items():
            assert flags[name].help == rule.help, name  # one help text, the declaration's
            expected = getattr(defaults, name)
            given = flags[name].default
            assert (tuple(given) if isinstance(given, list) else given) == expected, name
    assert dataclasses.asdict(TextClassifier().group("training")) == dataclasses.asdict(
        CLASSIFIER_TRAINING
    )
    with pytest.raises(ValueError, match="wide must be True or False; got 'yes'"):
        TextClassifier(wide="yes").fit(TEXTS, LABELS)
