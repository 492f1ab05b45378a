"""Character n-grams (fastText's subwords): the n-grams of a word, their hashed rows sized
to the data, rows for a word training never saw, and the model file round trip."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.estimators import CharNgrams, TextClassifier, load_classifier
from ffnlp.text.row_features import Bigrams, TextRows, Texts, feature_from_dict
from ffnlp.text.vocab import Vocab

TEXTS = ["a great film", "a dull film", "great fun", "dull and flat"] * 5
LABELS = ["pos", "neg", "pos", "neg"] * 5


def test_the_ngrams_of_a_word_are_fasttexts():
    assert CharNgrams(3, 6).ngrams("where") == [
        *("<wh", "<whe", "<wher", "<where"),
        *("whe", "wher", "where", "where>"),
        *("her", "here", "here>"),
        *("ere", "ere>"),
        "re>",
    ]
    # one-character n-grams leave out the bare markers, as fastText does
    assert CharNgrams(1, 2).ngrams("ab") == ["<a", "a", "ab", "b", "b>"]
    assert CharNgrams(3, 3).ngrams("é") == ["<é>"]  # characters, not bytes


def test_buckets_are_sized_to_the_distinct_ngrams_of_the_training_words():
    tokens = [["cat", "cats"], ["cat"]]
    texts = Texts.encode(tokens, Vocab.build(tokens))
    grams = CharNgrams(3, 4)
    grams.fit(texts, min_count=1)
    distinct = set(grams.ngrams("cat")) | set(grams.ngrams("cats"))
    assert grams.size == len(distinct) == 9
    rows, starts = grams.rows(texts)
    assert starts.tolist() == [0, 5 + 7, 12 + 5]
    expected = [zlib.crc32(g.encode()) % 9 for g in grams.ngrams("cat")]
    assert rows[:5].tolist() == expected and rows[12:].tolist() == expected
    fixed = CharNgrams(3, 4, buckets=100)
    fixed.fit(texts, 1)
    assert fixed.size == 100


def test_an_unseen_word_gets_rows_after_the_words_and_other_features():
    tokens = [["great", "film"], ["dull", "film"]]
    vocab = Vocab.build(tokens)
    encoder = TextRows(vocab, [Bigrams(), CharNgrams()])
    encoder.fit_rows(tokens, 1, every_word_kept=True)
    rows, starts = encoder.rows([["greatest"]])
    assert starts.tolist() == [0, len(rows)]
    offset = len(vocab) + encoder.features[0].size
    assert rows[0] == vocab.unk_id  # the word itself is unknown ...
    grams = rows[1:]  # ... but its n-grams have rows, after the words' and the bigrams'
    assert len(grams) == len(CharNgrams().ngrams("greatest")) == 8 + 7 + 6 + 5
    assert grams.min() >= offset and grams.max() < offset + encoder.features[1].size


def test_prefix_backoff_leaves_the_spelling_to_the_ngrams():
    tokens = [["embarrassed", "film"]]
    vocab = Vocab.build(tokens)
    grams = CharNgrams(3, 3, buckets=1000)
    encoder = TextRows(vocab, [grams], unknown_words="prefix")
    encoder.fit_rows(tokens, 1, every_word_kept=True)
    rows, _ = encoder.rows([["embarrassing"]])
    assert rows[0] == vocab.stoi["embarrassed"]  # the word read as a known one
    assert rows[1:].tolist() == (grams.word_rows("embarrassing") + len(vocab)).tolist()


def test_a_classifier_with_subwords_saves_and_loads_and_reads_unseen_words(tmp_path):
    clf = TextClassifier.from_settings(features=[CharNgrams()], embed_dim=8, epochs=30, lr=0.05)
    clf.fit(TEXTS, LABELS)
    grams = clf.features_[0]
    assert grams.size == len(
        {g for w in "a great film dull fun and flat".split() for g in grams.ngrams(w)}
    )
    unseen = ["greatest funny", "dullest flatness"]
    assert all(w not in clf.vocab_ for t in unseen for w in t.split())
    weight = clf.model_.embedding.weight.data
    rows = grams.word_rows("greatest") + len(clf.vocab_)
    assert np.abs(weight[rows]).sum() > 0  # the unseen word's rows are trained rows
    assert clf.predict(unseen).tolist() == ["pos", "neg"]  # from its n-grams alone
    clf.save(tmp_path / "m.npz")
    loaded = load_classifier(tmp_path / "m.npz")
    assert loaded.features_ == [CharNgrams()] and loaded.features_[0].size == grams.size
    np.testing.assert_array_equal(loaded.predict_proba(unseen), clf.predict_proba(unseen))


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_n must be >= min_n; got min_n=4, max_n=3"):
        feature_from_dict({"kind": "char-ngrams", "min_n": 4, "max_n": 3})
    with pytest.raises(ValueError, match="min_n must be a positive integer; got 0"):
        TextClassifier(features=[CharNgrams(0, 3)]).fit(TEXTS, LABELS)
    grams = CharNgrams()
    with pytest.raises(ValueError, match="the char n-gram table has a wrong size: 0"):
        grams.load_state({"buckets": 0}, {})
    with pytest.raises(ValueError, match="wrong size: True"):
        grams.load_state({"buckets": True}, {})
    with pytest.raises(ValueError, match="wrong size: 99"):  # a fixed table keeps its size
        CharNgrams(buckets=100).load_state({"buckets": 99}, {})


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def train(tmp_path):
    path = tmp_path / "train.ft"
    path.write_text("".join(f"__label__{y} {t}\n" for t, y in zip(TEXTS, LABELS)))
    return path


# The plain model (no bigrams, no wide tower) of the default recipe's flags.
FAST = ["--no-bigrams", "--no-wide", "--embed-dim", "8", "--epochs", "5", "--no-progress"]


def test_subword_flags(train, tmp_path, capsys):
    out = tmp_path / "m.npz"
    for flags, expected in (
        (["--subwords"], [CharNgrams()]),
        (["--char-ngrams", "2", "4"], [CharNgrams(2, 4)]),
        (["--bigrams", "--subwords"], [Bigrams(), CharNgrams()]),
        # a recipe's n-grams replaced, then removed
        (["--recipe", _recipe(tmp_path), "--char-ngrams", "3", "3"], [CharNgrams(3, 3)]),
        (["--recipe", _recipe(tmp_path), "--char-ngrams", "0", "0"], []),
    ):
        code, _, err = _run(["classify", "train", train, "--out", out, *FAST, *flags], capsys)
        assert code == 0, err
        assert load_classifier(out).features == expected, flags
    code, _, err = _run(
        ["classify", "train", train, "--out", out, "--char-ngrams", "4", "2", *FAST], capsys
    )
    assert (
        code == 2 and "--char-ngrams MIN MAX needs 1 <= MIN <= MAX (0 0 for none); got 4 2" in err
    )
    code, _, err = _run(
        ["classify", "train", train, "--out", out, "--features", "lexicon", "--subwords"], capsys
    )
    assert code == 2 and "--subwords is a setting of the classifier on embeddings" in err


def _recipe(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[classifier]\nfeatures = [{ kind = "char-ngrams", min_n = 2, max_n = 5 }]\n')
    return path
