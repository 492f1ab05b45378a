"""Fuzzing the file readers with hypothesis: whatever the bytes, a reader returns a result
or raises ValueError with a message, never another exception. Bounded: a few hundred
examples per reader, a few seconds in all."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffnlp import io
from ffnlp.estimators import TextClassifier
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.text import Tokenizer, Vocab, load_corpus
from ffnlp.text.features import read_lexicon
from ffnlp.text.labelled import read_labelled
from ffnlp.text.vectors import load_vectors

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

# Bytes that look like the files: words, labels, tabs, commas, quotes, digits, newlines,
# plus anything at all (NUL, invalid UTF-8).
PIECES = st.sampled_from(
    [
        *(
            b"__label__",
            b"pos",
            b"neg",
            b"the",
            b"\t",
            b",",
            b'"',
            b" ",
            b"\n",
            b"\r\n",
            b"\r",
            b"1",
        ),
        *(b"-0.5", b"1e999", b"nan", b"positive", b"negative", b"#", b"\xe9", b"\x00", b"3 2"),
    ]
)
TEXTISH = st.one_of(
    st.lists(PIECES, max_size=40).map(b"".join),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8")),
)


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _file(workdir: Path, data: bytes, name: str = "input.txt") -> Path:
    path = workdir / name
    path.write_bytes(data)
    return path


def _only_value_errors(read, *args, **kwargs):
    try:
        return read(*args, **kwargs)
    except ValueError as err:
        assert str(err)  # a message, not an empty error
        return None


@FUZZ
@given(data=TEXTISH, encoding=st.sampled_from([None, "latin-1"]))
def test_corpus_reader(workdir, data, encoding):
    for mode in ("whitespace", "regex", "char"):
        _only_value_errors(load_corpus, _file(workdir, data), Tokenizer(mode), encoding)


@FUZZ
@given(
    data=TEXTISH,
    fmt=st.sampled_from(["fasttext", "label-first", "tsv", "csv"]),
    header=st.booleans(),
    columns=st.sampled_from([("0", "1"), ("1", "0"), ("label", "text"), ("2", "0")]),
)
def test_labelled_reader(workdir, data, fmt, header, columns):
    path = _file(workdir, data)
    _only_value_errors(read_labelled, [str(path)], fmt, None, *columns, header)


@FUZZ
@given(data=TEXTISH, header=st.sampled_from([None, True, False]))
def test_guessed_reading(workdir, data, header):
    """Whatever the file, the guess and the reading it makes give a result or a ValueError,
    and a table to classify likewise."""
    from ffnlp.text.reading import check_labelling, guess_reading, read_text_table

    path = _file(workdir, data)
    guessed = _only_value_errors(guess_reading, path, header=header)
    if guessed is not None:
        read = _only_value_errors(guessed[0].read, [str(path)])
        if read is not None:
            _only_value_errors(check_labelling, read[1], guessed[0])
    text = data.decode("utf-8", errors="replace")
    for fmt in ("csv", "tsv"):
        _only_value_errors(read_text_table, text, "input", fmt, header=header)


@FUZZ
@given(data=TEXTISH)
def test_class_files_reader(workdir, data):
    path = _file(workdir, data, "reviews.pos")
    _only_value_errors(read_labelled, [str(path)], "files")


@FUZZ
@given(data=TEXTISH)
def test_lexicon_reader(workdir, data):
    _only_value_errors(read_lexicon, _file(workdir, data))


@FUZZ
@given(data=TEXTISH, lowercase=st.booleans())
def test_embeddings_reader(workdir, data, lowercase):
    vocab = Vocab(["<unk>", "<s>", "</s>", "the", "pos", "neg", "1"])
    result = _only_value_errors(load_vectors, _file(workdir, data), vocab, lowercase=lowercase)
    if result is not None:
        vectors, found = result
        assert vectors.shape[0] == len(vocab) and found.any() and np.isfinite(vectors).all()


@pytest.fixture(scope="module")
def model_files(workdir):
    config = FeedforwardLMConfig(vocab_size=5, context_size=2, embed_dim=3, hidden_dims=(4,))
    lm = FeedforwardLM(
        config, vocab=Vocab(["<unk>", "<s>", "</s>", "a", "b"]), tokenizer=Tokenizer()
    )
    lm.save(workdir / "lm.npz")
    clf = TextClassifier.from_settings(embed_dim=3, epochs=1).fit(
        ["a b", "b c", "c a"], ["x", "y", "x"]
    )
    clf.save(workdir / "clf.npz")
    return {
        "lm": (workdir / "lm.npz").read_bytes(),
        "clf": (workdir / "clf.npz").read_bytes(),
    }


def _load_any(path: Path) -> None:
    for load in (io.load_archive, FeedforwardLM.load, TextClassifier.load):
        _only_value_errors(load, path)


@FUZZ
@given(data=st.binary(max_size=600))
def test_model_reader_on_random_bytes(workdir, data):
    _load_any(_file(workdir, b"PK\x03\x04" + data if data[:1] == b"P" else data, "m.npz"))


@FUZZ
@given(
    which=st.sampled_from(["lm", "clf"]),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert"]),
            st.floats(0, 1, exclude_max=True),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_model_reader_on_damaged_model_files(workdir, model_files, which, edits):
    data = bytearray(model_files[which])
    for kind, where, value in edits:
        at = int(where * len(data))
        if kind == "flip":
            data[at] ^= value or 1
        elif kind == "cut":
            del data[at:]
            if not data:
                break
        else:
            data[at:at] = bytes([value])
    path = _file(workdir, bytes(data), "m.npz")
    if bytes(data) != model_files[which]:  # (two flips of the same bit undo each other)
        with pytest.raises(ValueError):  # every change is caught: none of them loads
            io.load_archive(path)
    _load_any(path)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=8,
)


@settings(FUZZ, max_examples=60)
@given(
    which=st.sampled_from(["lm", "clf"]),
    key=st.sampled_from(
        ["config", "vocab", "tokenizer", "params", "classes", "label_type", "extra"]
    ),
    field=st.sampled_from(
        [
            *("vocab_size", "context_size", "embed_dim", "hidden_dims", "dropout", "tokens"),
            *("mode", "num_classes", "buckets", "pooling", "features", "lowercase", None),
        ]
    ),
    value=JSONISH,
)
def test_model_reader_on_forged_descriptions(workdir, model_files, which, key, field, value):
    """Files with a valid checksum whose description a forger changed: wrong types, huge
    sizes, missing parts. Loading refuses them before building anything."""
    path = _file(workdir, model_files[which], "m.npz")
    meta, arrays = io.load_archive(path)
    kind = meta.pop("kind")
    for k in ("format", "version"):
        meta.pop(k)
    if field is None or not isinstance(meta.get(key), dict):
        meta[key] = value
    else:
        meta[key] = {**meta[key], field: value}
    try:
        io.save_archive(path, kind, meta, arrays)
    except (TypeError, ValueError):  # not JSON (nan is, as Python writes it)
        return
    _load_any(path)


ARPA_PIECES = st.sampled_from(
    [
        b"\\data\\\n",
        b"ngram 1=3\n",
        b"ngram 2=1\n",
        b"ngram 3=0\n",
        b"\\1-grams:\n",
        b"\\2-grams:\n",
        b"\\end\\\n",
        b"-0.5\t<s>\t-0.1\n",
        b"-1\t</s>\n",
        b"-1\t<unk>\n",
        b"-0.3 a\n",
        b"-0.2\t<s> a\n",
        b"nan\ta\n",
        b"1e999 a\n",
        b"\n",
        b" ",
        b"\t",
        b"\xe9",
    ]
)


@FUZZ
@given(data=st.one_of(st.lists(ARPA_PIECES, max_size=30).map(b"".join), TEXTISH))
def test_arpa_reader(workdir, data):
    from ffnlp.models.arpa import ArpaLM

    lm = _only_value_errors(ArpaLM.read, _file(workdir, data, "m.arpa"))
    if lm is not None:  # what it read, it scores: a probability for every token
        log_probs = lm.log_probs(lm.encode_lines(["a b", ""]))
        assert len(log_probs) == 3 and not np.isnan(log_probs).any()
