"""Labelled-text readers, lexicons, hand-built features and hashed bigrams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ffnlp.text.features import (
    bigram_keys,
    derive_lexicon,
    hash_keys,
    lexicon_features,
    read_lexicon,
)
from ffnlp.text.labelled import read_labelled


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_every_format(tmp_path):
    ft = _write(tmp_path / "a.ft", "__label__pos a fine film\n\n__label__neg dull\n")
    assert read_labelled(ft, "fasttext") == (["a fine film", "dull"], ["pos", "neg"])
    lf = _write(tmp_path / "a.txt", "1 a fine film\n0 dull\n")
    assert read_labelled(lf, "label-first") == (["a fine film", "dull"], ["1", "0"])
    tsv = _write(tmp_path / "a.tsv", "sentence\tlabel\na fine film \t1\ndull \t0\n")
    assert read_labelled(tsv, "tsv", label_column="label", text_column="sentence", header=True) == (
        ["a fine film", "dull"],
        ["1", "0"],
    )
    csv = _write(tmp_path / "a.csv", 'pos,"a fine, fine film"\nneg,dull\n')
    assert read_labelled(csv, "csv") == (["a fine, fine film", "dull"], ["pos", "neg"])
    pos = _write(tmp_path / "rt.pos", "a fine caf\xe9 film\n", "cp1252")
    neg = _write(tmp_path / "rt.neg", "dull\nflat\n", "cp1252")
    assert read_labelled([str(pos), f"bad={neg}"], "files", encoding="cp1252") == (
        ["a fine café film", "dull", "flat"],
        ["pos", "bad", "bad"],
    )


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("fasttext", "__label__pos fine\njust text without a label\n", r"line 2 has no label"),
        ("fasttext", "__label__pos __label__ fine\n", r"line 1 has an empty label"),
        ("fasttext", "__label__pos\n", r"line 1 has a label but no text"),
        ("label-first", "pos\n", r"line 1 has a label but no text"),
        ("tsv", "pos\n", r"line 1 has 1 column;"),
        ("tsv", "\tsome text\n", r"line 1 has no label"),
    ],
)
def test_bad_lines_name_the_line(tmp_path, fmt, content, message):
    with pytest.raises(ValueError, match=message):
        read_labelled(_write(tmp_path / "bad", content), fmt)


def test_wrong_encoding_is_an_error_not_mojibake(tmp_path):
    path = _write(tmp_path / "rt.pos", "caf\xe9\n", "cp1252")
    with pytest.raises(
        ValueError,
        match="is not valid UTF-8: byte 0xe9 at offset 3; give its encoding with --encoding",
    ):
        read_labelled([str(path)], "files")


def test_header_column_names_must_exist(tmp_path):
    path = _write(tmp_path / "a.tsv", "text\tlabel\nfine\t1\n")
    with pytest.raises(ValueError, match="has no column 'sentence'"):
        read_labelled(path, "tsv", text_column="sentence", label_column="label", header=True)


def test_lexicon_file(tmp_path):
    path = _write(tmp_path / "lex.tsv", "# a comment\ngreat\tpositive\nawful\tneg\nfine\t+1\n")
    assert read_lexicon(path) == {"great": 1, "awful": -1, "fine": 1}
    with pytest.raises(ValueError, match=r"line 1: expected 'word<TAB>polarity'"):
        read_lexicon(_write(tmp_path / "bad1", "great positive\n"))
    with pytest.raises(
        ValueError, match=r"line 1: polarity must be positive or negative; got 'maybe'"
    ):
        read_lexicon(_write(tmp_path / "bad2", "great\tmaybe\n"))


def test_the_chapters_features():
    # J&M's example review, abridged: counts of lexicon words, "no", pronouns, "!", ln(length).
    review = "it 's hokey . there are virtually no surprises , and the writing is second-rate . so why was it so enjoyable ? for one thing , the cast is great . another nice touch is the music . i was overcome with the urge to get off the couch and start dancing . it sucked me in , and it 'll do the same to you ."
    lexicon = {"enjoyable": 1, "great": 1, "nice": 1, "hokey": -1, "second-rate": -1}
    words = review.split()
    x = lexicon_features([words], lexicon)[0]
    assert x[:5].tolist() == [3, 2, 1, 3, 0]  # pronouns: i, me, you
    assert x[5] == pytest.approx(math.log(len(words)))
    assert lexicon_features([["wow", "!"]], {})[0][4] == 1


def test_derived_lexicon_finds_the_telling_words():
    tokens = [
        ["great", "film"],
        ["great", "fun"],
        ["great", "cast"],
        ["awful", "film"],
        ["awful", "plot"],
        ["awful", "cast"],
    ] * 2
    labels = ["pos", "pos", "pos", "neg", "neg", "neg"] * 2
    lexicon = derive_lexicon(tokens, labels, positive="pos", size=2)
    assert lexicon == {"great": 1, "awful": -1}


def test_bigrams_stay_inside_documents():
    ids = np.array([5, 6, 7, 8, 9, 5, 6])
    starts = np.array([0, 3, 3, 5, 7])  # docs: [5 6 7], [], [8 9], [5 6]
    keys, key_starts = bigram_keys(ids, starts, vocab_size=10)
    assert keys.tolist() == [56, 67, 89, 56] and key_starts.tolist() == [0, 2, 2, 3, 4]
    grams = hash_keys(keys, 1000)
    assert len(grams) == 4 and grams.min() >= 0 and grams.max() < 1000
    assert grams[0] == grams[3]  # (5, 6) hashes the same wherever it occurs
    assert (
        grams[0] != hash_keys(bigram_keys(np.array([6, 5]), np.array([0, 2]), 10)[0], 1000)[0]
    )  # order matters


def test_column_names_without_a_header_are_a_clear_error(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("pos\tgood film\n")
    with pytest.raises(ValueError, match=r"--label-column 'label' is not a 0-based column number"):
        read_labelled(path, "tsv", label_column="label", text_column="1")


@pytest.mark.parametrize("fmt", ["tsv", "csv"])
def test_carriage_returns_end_records_and_never_crash(tmp_path, fmt):
    sep = "\t" if fmt == "tsv" else ","
    path = tmp_path / f"mac.{fmt}"  # old Mac line endings
    path.write_bytes(f"pos{sep}good film\rneg{sep}bad film\r".encode())
    assert read_labelled(str(path), fmt) == (["good film", "bad film"], ["pos", "neg"])
    path = tmp_path / f"stray.{fmt}"  # a stray one cuts a record: a clear error
    path.write_bytes(f"pos{sep}good film\nneg{sep}a\rb\n".encode())
    with pytest.raises(ValueError, match="has 1 column;"):
        read_labelled(str(path), fmt)


def test_only_newlines_end_a_record(tmp_path):
    path = tmp_path / "data.ft"
    path.write_text("__label__pos good\x0cfilm\r\n__label__neg bad\u2028film\n", encoding="utf-8")
    texts, labels = read_labelled(str(path), "fasttext")
    assert labels == ["pos", "neg"] and len(texts) == 2


def test_errors_name_the_physical_line_after_a_quoted_multi_line_field(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('label,text\npos,"a film\nin two lines"\nneg,\nneg,dull\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 4 has a label but no text"):
        read_labelled(path, "csv", header=True)
