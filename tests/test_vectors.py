"""Word vectors of trained models (ffnlp.vectors and its commands): the word2vec file as
gensim and --pretrained read it, neighbours and analogies against a direct computation
(and gensim's), and the vector of a text for the classifier and the LM."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.estimators import CharNgrams, TextClassifier, load_classifier
from ffnlp.estimators.text import deep_network
from ffnlp.models.language_model import FeedforwardLM
from ffnlp.text.vectors import load_vectors
from ffnlp.vectors import WordVectors

CORPUS = "the cat sat on the mat\nthe dog sat on the log\na cat ate the fish\n" * 3
TEXTS = ["a great film", "a dull film", "great fun", "dull and flat", "a fine cast"] * 4
LABELS = ["pos", "neg", "pos", "neg", "pos"] * 4


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("vectors")
    (root / "corpus.txt").write_text(CORPUS)
    (root / "train.ft").write_text("".join(f"__label__{y} {t}\n" for t, y in zip(TEXTS, LABELS)))
    lm = ["--context-size", "2", "--embed-dim", "4", "--hidden", "8", "--epochs", "1"]
    assert main(["lm", "train", str(root / "corpus.txt"), "--out", str(root / "lm.npz"), *lm]) == 0
    clf = ["--embed-dim", "6", "--epochs", "3", "--no-progress", "--bigrams"]
    clf += ["--no-wide", "--dropout", "0", "--hidden"]  # the plain model, no wide tower
    assert (
        main(["classify", "train", str(root / "train.ft"), "--out", str(root / "clf.npz"), *clf])
        == 0
    )
    return root


def _cosines(matrix, vector):
    return matrix @ vector / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(vector))


@pytest.mark.parametrize("name", ["lm.npz", "clf.npz"])
def test_the_vectors_are_the_embedding_rows_of_the_vocabulary_words(models, name):
    vectors = WordVectors.load(models / name)
    if name == "lm.npz":
        model = FeedforwardLM.load(models / name)
        weight, vocab = model.embedding.weight.data, model.vocab
    else:
        model = load_classifier(models / name)
        weight, vocab = deep_network(model.model_).embedding.weight.data, model.vocab_
    assert vectors.words == vocab.itos[3:] and "<unk>" not in vectors.words
    np.testing.assert_array_equal(vectors.vectors, weight[3 : len(vocab)])
    # not the rows of the bigrams after the words
    assert len(weight) > len(vocab) if name == "clf.npz" else len(weight) == len(vocab)


@pytest.mark.parametrize("name", ["lm.npz", "clf.npz"])
def test_the_vec_file_reads_in_gensim_and_as_pretrained_vectors(models, tmp_path, capsys, name):
    out = tmp_path / "m.vec"
    code, said, err = _run(["vectors", models / name, "--out", out], capsys)
    vectors = WordVectors.load(models / name)
    V, D = vectors.vectors.shape
    assert code == 0 and said == f"wrote {str(out)!r}: {V} words, {D} dimensions\n", err
    lines = out.read_text().splitlines()
    assert lines[0] == f"{V} {D}" and len(lines) == V + 1
    assert [line.split(" ")[0] for line in lines[1:]] == vectors.words
    # standard output holds the same text
    code, printed, _ = _run(["vectors", models / name], capsys)
    assert code == 0 and printed == out.read_text()
    # ffnlp's own reader: every word found, the numbers to the 6 digits written
    vocab = (
        FeedforwardLM.load(models / name).vocab
        if name == "lm.npz"
        else load_classifier(models / name).vocab_
    )
    read, found = load_vectors(out, vocab)
    assert found.tolist() == [False] * 3 + [True] * V
    np.testing.assert_allclose(read[3:], vectors.vectors, rtol=1e-5, atol=1e-6)
    gensim = pytest.importorskip("gensim.models")
    keyed = gensim.KeyedVectors.load_word2vec_format(str(out), binary=False)
    assert list(keyed.index_to_key) == vectors.words
    np.testing.assert_allclose(keyed.vectors, vectors.vectors, rtol=1e-5, atol=1e-6)


def test_a_classifier_trained_on_the_vec_file_starts_from_its_rows(models, tmp_path, capsys):
    vec = tmp_path / "m.vec"
    assert _run(["vectors", models / "clf.npz", "--out", vec], capsys)[0] == 0
    out = tmp_path / "again.npz"
    flags = ["--embed-dim", "6", "--epochs", "1", "--lr", "1e-9", "--no-progress"]
    code, _, err = _run(
        ["classify", "train", models / "train.ft", "--out", out, "--pretrained", vec, *flags],
        capsys,
    )
    assert code == 0, err
    np.testing.assert_allclose(
        WordVectors.load(out).vectors, WordVectors.load(models / "clf.npz").vectors, atol=1e-5
    )


@pytest.mark.parametrize("name", ["lm.npz", "clf.npz"])
def test_neighbours_are_the_highest_cosines_without_the_word_itself(models, capsys, name):
    vectors = WordVectors.load(models / name)
    word = vectors.words[0]
    cos = _cosines(vectors.vectors, vectors.vectors[0])
    order = [i for i in np.argsort(-cos, kind="stable") if i != 0][:3]
    expected = [(vectors.words[i], float(cos[i])) for i in order]
    got = vectors.neighbours(word, k=3)
    assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5)
    code, out, err = _run(["neighbours", models / name, word, vectors.words[1], "-k", "3"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 6 and lines[:3] == [f"{word}\t{w}\t{s:.4f}" for w, s in got]
    assert all(line.startswith(vectors.words[1] + "\t") for line in lines[3:])
    assert len(vectors.neighbours(word, k=1000)) == len(vectors.words) - 1


KING = ["king", "queen", "man", "woman", "apple"]
KING_VECTORS = np.array(
    [[1.0, 1.0, 0.1], [1.0, -1.0, 0.1], [0.9, 1.1, 0.0], [0.9, -0.9, 0.0], [0.0, 0.1, 1.0]]
)


def test_analogies_are_3cosadd_without_the_three_words():
    vectors = WordVectors(KING, KING_VECTORS)
    got = vectors.analogy("man", "king", "woman", k=2)
    unit = KING_VECTORS / np.linalg.norm(KING_VECTORS, axis=1, keepdims=True)
    target = unit[0] - unit[2] + unit[3]
    cos = _cosines(KING_VECTORS, target)
    assert [w for w, _ in got] == ["queen", "apple"]
    np.testing.assert_allclose([s for _, s in got], cos[[1, 4]], rtol=1e-6)
    assert got[0][1] > 0.99


def test_analogies_and_neighbours_agree_with_gensim(models):
    gensim = pytest.importorskip("gensim.models")
    vectors = WordVectors.load(models / "clf.npz")
    keyed = gensim.KeyedVectors(vector_size=vectors.vectors.shape[1])
    keyed.add_vectors(vectors.words, vectors.vectors)
    a, b, c = vectors.words[:3]
    theirs = keyed.most_similar(positive=[b, c], negative=[a], topn=4)
    ours = vectors.analogy(a, b, c, k=4)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    theirs = keyed.most_similar(a, topn=4)
    np.testing.assert_allclose(
        [s for _, s in vectors.neighbours(a, k=4)], [s for _, s in theirs], rtol=1e-5
    )


def test_analogies_command(models, capsys):
    vectors = WordVectors.load(models / "clf.npz")
    a, b, c = vectors.words[:3]
    code, out, err = _run(["analogies", models / "clf.npz", a, b, c, "-k", "2"], capsys)
    assert code == 0, err
    assert out.splitlines() == [f"{w}\t{s:.4f}" for w, s in vectors.analogy(a, b, c, k=2)]


def test_sentence_vectors_of_a_classifier_are_its_pooled_input(models, tmp_path, capsys):
    model = load_classifier(models / "clf.npz")
    texts = ["a great film", "dull unseenword"]
    got = WordVectors.of_model(model).sentence_vectors(texts)
    weight = deep_network(model.model_).embedding.weight.data
    rows, starts = model._fitted.encoder.rows([t.split() for t in texts])
    # mean pooling of the words' and the bigrams' rows
    expected = [weight[rows[starts[i] : starts[i + 1]]].mean(axis=0) for i in range(2)]
    assert starts.tolist() == [0, 3 + 2, 5 + 2]  # words, then bigrams (none with the unseen word)
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-5)
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n")
    code, out, err = _run(["sentence-vectors", models / "clf.npz", path], capsys)
    assert code == 0, err
    printed = np.array([[float(x) for x in line.split()] for line in out.splitlines()])
    np.testing.assert_allclose(printed, got, rtol=1e-5, atol=1e-6)


def test_sentence_vectors_of_an_lm_are_the_mean_word_embedding(models):
    model = FeedforwardLM.load(models / "lm.npz")
    got = WordVectors.load(models / "lm.npz").sentence_vectors(["the cat", "zebra", ""])
    weight, stoi = model.embedding.weight.data, model.vocab.stoi
    np.testing.assert_allclose(got[0], (weight[stoi["the"]] + weight[stoi["cat"]]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(got[1], weight[stoi["<unk>"]])
    np.testing.assert_array_equal(got[2], np.zeros(4))


def test_a_subword_model_gives_unseen_words_the_mean_of_their_ngram_rows():
    clf = TextClassifier.from_settings(features=[CharNgrams()], embed_dim=64, epochs=3)
    clf.fit(TEXTS, LABELS)
    vectors = WordVectors.of_model(clf)
    weight, grams, V = clf.model_.embedding.weight.data, clf.features_[0], len(clf.vocab_)
    great = weight[[clf.vocab_.stoi["great"], *(grams.word_rows("great") + V)]].mean(axis=0)
    np.testing.assert_allclose(vectors.vector("great"), great, rtol=1e-6)
    unseen = weight[grams.word_rows("greatest") + V].mean(axis=0)
    np.testing.assert_allclose(vectors.vector("greatest"), unseen, rtol=1e-6)
    assert np.abs(unseen).sum() > 0
    assert [w for w, _ in vectors.neighbours("greatest", k=1)] == ["great"]
    # in a wide model the deep network pools the words alone: n-grams give it no vectors
    wide = TextClassifier.from_settings(features=[CharNgrams()], embed_dim=6, epochs=1, wide=True)
    with pytest.raises(ValueError, match="'greatest' is not in the model's vocabulary"):
        WordVectors.of_model(wide.fit(TEXTS, LABELS)).vector("greatest")


def test_unknown_words_are_named_with_the_closest_known_ones():
    vectors = WordVectors(KING, KING_VECTORS)
    with pytest.raises(ValueError) as info:
        vectors.neighbours("kinj")
    assert (
        str(info.value)
        == "'kinj' is not in the model's vocabulary of 5 words (closest known: 'king')"
    )
    with pytest.raises(ValueError) as info:
        vectors.analogy("mann", "king", "xyzzy")
    assert str(info.value) == (
        "2 words are not in the model's vocabulary of 5 words: 'mann' (closest known: "
        "'man', 'woman'), 'xyzzy' (no known word is spelled like it)"
    )
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        vectors.neighbours("king", k=0)
    with pytest.raises(ValueError, match="not fitted"):
        WordVectors.of_model(TextClassifier())
