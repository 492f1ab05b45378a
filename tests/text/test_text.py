"""Tokenizers, vocabulary, context windows, batches and corpus reading."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp.text import (
    Tokenizer,
    Vocab,
    context_windows,
    length_bucketed_minibatches,
    load_corpus,
    minibatches,
    num_batches,
    read_text,
    split,
)
from ffnlp.text.vectors import fill_missing, load_vectors


def test_tokenizer_modes():
    assert Tokenizer()("  the cat\tsat \n") == ["the", "cat", "sat"]
    assert Tokenizer("regex", lowercase=True)("Don't stop -- it's U.S. 9.5!") == [
        "don't",
        "stop",
        "-",
        "-",
        "it's",
        "u.s",
        ".",
        "9.5",
        "!",
    ]
    assert Tokenizer("char")("emma\n") == ["e", "m", "m", "a"]
    assert Tokenizer("char").join(["a", "v", "a"]) == "ava"
    assert Tokenizer.from_dict(Tokenizer("regex", True).to_dict()) == Tokenizer("regex", True)
    with pytest.raises(ValueError, match="tokenizer mode must be one of"):
        Tokenizer("bpe")


@pytest.mark.parametrize("mode", ["whitespace", "regex", "char"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_tokenizing_many_texts_is_tokenizing_each(mode, lowercase):
    texts = ["  The cat\tsat \n", "Don't stop -- it's U.S. 9.5!", "", "emma\n"]
    tokenizer = Tokenizer(mode, lowercase)
    assert tokenizer.many(texts) == [tokenizer(t) for t in texts]
    assert tokenizer.many(iter(texts)) == [tokenizer(t) for t in texts]


def test_vocab_orders_by_frequency_then_alphabet_and_maps_unknowns():
    v = Vocab.build([["b", "a", "c", "a"], ["b", "d"]])
    assert v.itos == ["<unk>", "<s>", "</s>", "a", "b", "c", "d"]
    assert v.encode(["a", "zebra", "d"]).tolist() == [3, 0, 6]
    assert v.decode([3, 0, 6]) == ["a", "<unk>", "d"]
    assert Vocab.from_dict(v.to_dict()) == v
    assert Vocab.build([["b", "a", "c", "a"], ["b", "d"]], min_count=2).itos[3:] == ["a", "b"]
    assert len(Vocab.build([["b", "a", "c", "a"]], max_size=4)) == 4


def test_vocab_encodes_many_texts_as_one_ragged_array():
    v = Vocab.build([["b", "a", "c", "a"], ["b", "d"]])
    texts = [["a", "zebra"], [], ["d", "b", "c"], ["a"]]
    ids, starts = v.encode_many(texts)
    assert starts.tolist() == [0, 2, 2, 5, 6]
    assert ids.tolist() == [3, 0, 6, 4, 5, 3]
    for k, text in enumerate(texts):
        assert ids[starts[k] : starts[k + 1]].tolist() == v.encode(text).tolist()
    ids, starts = v.encode_many([])
    assert ids.shape == (0,) and starts.tolist() == [0]


def test_vocab_keeps_an_unk_that_is_already_in_the_text():
    v = Vocab.build([["<unk>", "x", "<unk>"]])
    assert v.itos == ["<unk>", "<s>", "</s>", "x"]


def test_vocab_errors():
    with pytest.raises(
        ValueError,
        match=r"the vocabulary is empty: no token occurs at least min_count=3 times \(the most frequent occurs 2 times\)",
    ):
        Vocab.build([["a", "a", "b"]], min_count=3)
    with pytest.raises(ValueError, match="min_count must be a positive integer; got 0"):
        Vocab.build([["a"]], min_count=0)
    with pytest.raises(ValueError, match=r"max_size must be an integer > 3"):
        Vocab.build([["a"]], max_size=3)
    with pytest.raises(ValueError, match=r"decode: ids must be in \[0, 4\)"):
        Vocab.build([["a"]]).decode([4])
    with pytest.raises(ValueError, match="the first tokens must be"):
        Vocab(["a", "b"])


def test_context_windows_in_both_layouts():
    s = [np.array([5, 6, 7]), np.array([8])]
    x, y = context_windows(s, 2, "stream")
    assert x.tolist() == [[1, 1], [1, 5], [5, 6], [6, 7], [7, 2], [2, 8]]
    assert y.tolist() == [5, 6, 7, 2, 8, 2]
    x, y = context_windows(s, 2, "sentence")
    assert x.tolist() == [[1, 1], [1, 5], [5, 6], [6, 7], [1, 1], [1, 8]]
    assert y.tolist() == [5, 6, 7, 2, 8, 2]
    x, y = context_windows([np.array([], dtype=np.int64), np.array([9])], 3, "sentence")
    assert x.tolist() == [[1, 1, 1], [1, 1, 1], [1, 1, 9]] and y.tolist() == [2, 9, 2]
    assert x.dtype == np.int64 and x.flags.c_contiguous


def test_context_windows_match_a_plain_loop_on_random_data():
    rng = np.random.default_rng(0)
    sentences = [rng.integers(3, 50, rng.integers(0, 12)) for _ in range(200)]
    for layout in ("stream", "sentence"):
        x, y = context_windows(sentences, 4, layout)
        expected_x, expected_y = [], []
        history = [1] * 4
        for s in sentences:
            if layout == "sentence":
                history = [1] * 4
            for token in [*s.tolist(), 2]:
                expected_x.append(list(history))
                expected_y.append(token)
                history = [*history[1:], token]
        assert x.tolist() == expected_x and y.tolist() == expected_y


def test_context_windows_errors():
    with pytest.raises(ValueError, match="context_size must be a positive integer; got 0"):
        context_windows([np.array([3])], 0)
    with pytest.raises(ValueError, match="layout must be one of"):
        context_windows([np.array([3])], 2, "document")


def test_minibatches_are_a_seeded_permutation():
    batches = list(minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    again = list(minibatches(10, 4, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert [len(b) for b in minibatches(10, 4, shuffle=False, drop_last=True)] == [4, 4]
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        list(minibatches(10, 0, shuffle=False))


def test_length_bucketed_minibatches_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000)
    batches = list(length_bucketed_minibatches(lengths, 32, np.random.default_rng(1), span=4))
    assert len(batches) == num_batches(1000, 32)  # what the training loop counts on
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert sum(len(b) < 32 for b in batches) == 1  # only the last of the last run is short
    # Within a run of 4 batches the lengths are sorted: a batch's spread is small.
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.3 * np.mean([np.ptp(lengths[b]) for b in minibatches(1000, 32, rng)])
    again = list(length_bucketed_minibatches(lengths, 32, np.random.default_rng(1), span=4))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        list(length_bucketed_minibatches(lengths, 0, rng))
    with pytest.raises(ValueError, match="span must be a positive integer; got 0"):
        list(length_bucketed_minibatches(lengths, 4, rng, span=0))


def test_split_is_seeded_and_complete():
    parts = split(list(range(100)), (0.8, 0.1, 0.1), seed=3)
    assert [len(p) for p in parts] == [80, 10, 10]
    assert sorted(x for part in parts for x in part) == list(range(100))
    assert split(list(range(100)), (0.8, 0.1, 0.1), seed=3) == parts
    with pytest.raises(ValueError, match="fractions must be positive and sum to 1"):
        split([1, 2], (0.5, 0.6))


def test_reading_files_gives_clear_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("the cat\n\nsat down\n", encoding="utf-8")
    assert load_corpus(good) == [["the", "cat"], ["sat", "down"]]
    cases = {
        tmp_path / "missing.txt": r"corpus '.*missing.txt' does not exist",
        tmp_path: r"is a directory, not a file",
    }
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    cases[empty] = r"is empty"
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\x02abc")
    cases[binary] = r"looks like a binary file \(it contains NUL bytes\)"
    latin = tmp_path / "reviews.txt"
    latin.write_bytes("a fine caf\xe9 film\n".encode("cp1252"))
    cases[latin] = r"is not valid UTF-8: byte 0xe9 at offset 10; give its encoding with --encoding"
    for path, message in cases.items():
        with pytest.raises(ValueError, match=message):
            load_corpus(path)
    assert load_corpus(latin, encoding="cp1252") == [["a", "fine", "café", "film"]]
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        read_text(good, encoding="klingon")


def test_load_vectors_reads_word2vec_and_glove(tmp_path):
    vocab = Vocab.build([["the", "cat", "dog"]])
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\nzebra 1 1 1\ncat -1 0 1.5\n", encoding="utf-8")
    vectors, found = load_vectors(glove, vocab)
    assert vectors.shape == (6, 3) and vectors.dtype == np.float32
    assert found.tolist() == [False, False, False, True, False, True]  # ids: cat 3, dog 4, the 5
    np.testing.assert_allclose(vectors[vocab.stoi["the"]], [0.1, 0.2, 0.3])
    w2v = tmp_path / "w2v.txt"
    w2v.write_text("2 2\nThe 1 2\ndog 3 4\n", encoding="utf-8")
    vectors, found = load_vectors(w2v, vocab, lowercase=True)
    np.testing.assert_allclose(vectors[vocab.stoi["the"]], [1, 2])
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3\ncat 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: 2 numbers where the file has 3 per word"):
        load_vectors(bad, vocab)
    bad.write_text("the 1 x 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 1: a value is not a number"):
        load_vectors(bad, vocab)
    bad.write_text("zebra 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="none of the 6 vocabulary words is in it"):
        load_vectors(bad, vocab)


def test_fill_missing_keeps_found_rows_and_draws_the_others_at_their_scale():
    rng = np.random.default_rng(5)
    vectors = (3.0 * rng.standard_normal((4000, 25)) + 1.0).astype(np.float32)
    found = rng.random(4000) < 0.5
    vectors[~found] = 0.0  # as load_vectors leaves them
    filled = fill_missing(vectors, found, rng=7)
    assert filled.dtype == np.float32 and filled.shape == vectors.shape
    np.testing.assert_array_equal(filled[found], vectors[found])
    missing = filled[~found].astype(np.float64)
    scale = float(vectors[found].std())  # about 3: the std of every pretrained value
    assert abs(missing.std() - scale) < 0.02 * scale and abs(missing.mean()) < 0.02 * scale
    np.testing.assert_array_equal(fill_missing(vectors, found, rng=7), filled)  # seeded
    np.testing.assert_array_equal(
        fill_missing(vectors, found, rng=np.random.default_rng(7)), filled
    )
    assert not np.array_equal(fill_missing(vectors, found, rng=8), filled)


def test_fill_missing_is_the_language_models_policy_as_it_was():
    # What ffnlp lm train computed inline before the policy had one home: the same numbers.
    vectors = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    found = np.arange(50) % 3 != 0
    vectors[~found] = 0
    rng = np.random.default_rng(42)
    scale = float(vectors[found].std())
    before = np.where(found[:, None], vectors, rng.normal(0, scale, vectors.shape))
    np.testing.assert_array_equal(fill_missing(vectors, found, rng=42), before.astype(np.float32))


def test_fill_missing_refuses_a_mask_that_does_not_fit():
    with pytest.raises(ValueError, match=r"fill_missing: found must be one bool per row"):
        fill_missing(np.zeros((3, 2)), np.array([True, False]))
    with pytest.raises(ValueError, match=r"with at least one True"):
        fill_missing(np.zeros((3, 2)), np.zeros(3, dtype=bool))
