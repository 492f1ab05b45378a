"""``classify`` on files as people have them: a CSV with a header and an id column read with
no flags, the reading kept in the model for ``test`` and ``predict``, and predictions
written as text, CSV or JSON lines."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ffnlp.cli import main
from ffnlp.estimators import load_classifier
from ffnlp.metrics import classification_report

from .test_estimators import NEG, POS

FAST = ["--embed-dim", "16", "--epochs", "30", "--lr", "0.02", "--no-progress"]


def _run(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _table(path, header, rows, delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def _reviews():
    """(id, text, label) rows: the texts with commas, so a CSV quotes them."""
    texts = [(t, "pos") for t in POS * 3] + [(t, "neg") for t in NEG * 3]
    return [(str(i), text, label) for i, (text, label) in enumerate(texts)]


@pytest.fixture
def reviews(tmp_path):
    train = _table(tmp_path / "train.csv", ("id", "text", "label"), _reviews())
    test = _table(
        tmp_path / "test.csv",
        ("id", "text", "label"),
        [
            ("a", "great warm fun", "pos"),
            ("b", "dull , awful , flat", "neg"),
            ("c", "a fine cast", "pos"),
        ],
    )
    return tmp_path, train, test


GUESS = (
    "read '{}' as csv (',' delimited, a header row; label column 'label', text column "
    "'text'): a guess (--format, --delimiter, --[no-]header, --label-column, --text-column "
    "say otherwise)"
)


def test_a_csv_with_a_header_needs_no_flags(reviews, capsys):
    tmp, train, test = reviews
    code, out, err = _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST], capsys)
    assert code == 0, err
    assert err.strip() == GUESS.format(train)
    assert out.startswith(f"wrote '{tmp / 'm.npz'}': 36 texts, 2 classes")
    model = load_classifier(tmp / "m.npz")
    assert model.reading_ == {
        "format": "csv",
        "delimiter": ",",
        "header": True,
        "label_column": "label",
        "text_column": "text",
        "encoding": None,
        "columns": ["id", "text", "label"],
    }
    # test reads the same kind of file with no flags, and says how
    code, out, err = _run(["classify", "test", tmp / "m.npz", test, "--json"], capsys)
    assert code == 0, err
    assert err.strip() == (
        f"read '{test}' as the model's training data was read: csv (',' delimited, a header "
        "row; label column 'label', text column 'text')"
    )
    texts, labels = ["great warm fun", "dull , awful , flat", "a fine cast"], ["pos", "neg", "pos"]
    expected = classification_report(labels, [str(p) for p in model.predict(texts)], ["neg", "pos"])
    assert json.loads(out) == expected.to_dict()


def test_flags_given_to_test_override_the_recorded_reading(reviews, capsys):
    tmp, train, _ = reviews
    assert _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST], capsys)[0] == 0
    renamed = _table(
        tmp / "renamed.tsv", ("gold", "review"), [("pos", "great fun"), ("neg", "dull plot")], "\t"
    )
    code, _, err = _run(["classify", "test", tmp / "m.npz", renamed], capsys)
    assert code == 2 and "has no column 'label'; its columns are ['gold\\treview']" in err
    code, out, err = _run(
        ["classify", "test", tmp / "m.npz", renamed, "--format", "tsv", "--json"], capsys
    )
    assert code == 0, err
    assert "label column 'gold', text column 'review'): a guess" in err  # another format
    assert {k: v["support"] for k, v in json.loads(out)["classes"].items()} == {"neg": 1, "pos": 1}
    # a test file without the header: the recorded names are read by their positions
    plain = _table(tmp / "plain.csv", None, [("x", "great fun", "pos"), ("y", "dull plot", "neg")])
    code, out, err = _run(
        ["classify", "test", tmp / "m.npz", plain, "--no-header", "--json"], capsys
    )
    assert code == 0, err
    assert "no header; label column 2, text column 1" in err
    assert {k: v["support"] for k, v in json.loads(out)["classes"].items()} == {"neg": 1, "pos": 1}


def test_a_file_without_a_header_and_another_delimiter(tmp_path, capsys):
    rows = [(label, text) for _, text, label in _reviews()]
    train = _table(tmp_path / "train.txt", None, rows, ";")
    code, _, err = _run(["classify", "train", train, "--out", tmp_path / "m.npz", *FAST], capsys)
    assert code == 0, err
    assert "as csv (';' delimited, no header; label column 0, text column 1): a guess" in err
    reading = load_classifier(tmp_path / "m.npz").reading_
    assert (reading["delimiter"], reading["header"], reading["columns"]) == (";", False, [])
    # --delimiter given: no guess of it; a tab as '\t'
    tsv = _table(tmp_path / "train.tsv", None, rows, "\t")
    argv = ["classify", "train", tsv, "--out", tmp_path / "t.npz", "--delimiter", "\\t"]
    code, _, err = _run(
        [*argv, "--no-header", "--label-column", "0", "--text-column", "1", *FAST], capsys
    )
    assert code == 0 and err == ""  # nothing guessed, nothing said
    assert load_classifier(tmp_path / "t.npz").reading_["format"] == "tsv"


def test_valid_and_cv_read_like_the_training_data(reviews, capsys):
    tmp, train, test = reviews
    argv = ["classify", "train", train, "--valid", test, "--out", tmp / "m.npz", *FAST]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    records = [json.loads(line) for line in (tmp / "m.npz.log.jsonl").read_text().splitlines()]
    assert [r["valid_accuracy"] for r in records if "valid_accuracy" in r]
    code, out, err = _run(["classify", "cv", train, "--folds", "3", "--json", *FAST], capsys)
    assert code == 0 and json.loads(out)["folds"] == 3 and GUESS.format(train) in err


def test_predict_writes_text_csv_tsv_and_json_lines(reviews, capsys, monkeypatch):
    tmp, train, test = reviews
    assert _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST], capsys)[0] == 0
    model = load_classifier(tmp / "m.npz")
    texts = ["great warm fun", "dull , awful , flat", "a fine cast"]
    top = model.predict_top(texts, k=2)
    code, out, err = _run(["classify", "predict", tmp / "m.npz", test], capsys)
    assert code == 0, err
    assert "classifying column 'text' of" in err
    assert out.splitlines() == [f"{a} {p:.4f}\t{text}" for text, [(a, p), _] in zip(texts, top)]
    code, out, err = _run(
        ["classify", "predict", tmp / "m.npz", test, "--output-format", "csv", "-k", "2"], capsys
    )
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [
        "id",
        "text",
        "label",
        "predicted_label",
        "probability",
        "predicted_label_2",
        "probability_2",
    ]
    for row, text, [(a, p), (b, q)] in zip(rows[1:], texts, top):
        assert row[1] == text and row[3] == a and row[5] == b
        assert float(row[4]) == pytest.approx(p, abs=1e-6) and float(row[6]) == pytest.approx(
            q, abs=1e-6
        )
    code, out, _ = _run(
        ["classify", "predict", tmp / "m.npz", test, "--output-format", "jsonl"], capsys
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert [(r["predicted_label"], r["probability"]) for r in records] == [
        (a, round(p, 6)) for [(a, p), _] in top
    ]
    code, out, _ = _run(
        ["classify", "predict", tmp / "m.npz", test, "--output-format", "tsv"], capsys
    )
    assert out.splitlines()[1].split("\t")[:4] == ["a", "great warm fun", "pos", top[0][0][0]]
    # one text a line, from standard input: a text column of its own
    code, out, err = _run(
        ["classify", "predict", tmp / "m.npz", "--format", "text", "--output-format", "jsonl"],
        capsys,
        stdin="great warm fun\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and json.loads(out) == {
        "text": "great warm fun",
        "predicted_label": top[0][0][0],
        "probability": round(top[0][0][1], 6),
    }
    # without a header: every column kept, named by position in JSON
    plain = _table(tmp / "plain.csv", None, [("7", "great warm fun")])
    code, out, err = _run(
        ["classify", "predict", tmp / "m.npz", plain, "--no-header", "--output-format", "jsonl"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["column_0"] == "7" and json.loads(out)["column_1"] == "great warm fun"


def test_predict_on_a_model_of_fasttext_lines_reads_lines(tmp_path, capsys, monkeypatch):
    train = tmp_path / "train.ft"
    train.write_text(
        "".join(f"__label__pos {t}\n" for t in POS * 3)
        + "".join(f"__label__neg {t}\n" for t in NEG * 3)
    )
    code, _, err = _run(["classify", "train", train, "--out", tmp_path / "m.npz", *FAST], capsys)
    assert code == 0 and "as fasttext ('__label__X text'): a guess" in err
    code, out, err = _run(
        ["classify", "predict", tmp_path / "m.npz", "--output-format", "csv"],
        capsys,
        stdin="great fun, really\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0 and err == ""
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["text", "predicted_label", "probability"] and rows[1][:2] == [
        "great fun, really",
        "pos",
    ]


def test_valid_keeps_the_best_epoch_and_stops_early(tmp_path, capsys):
    """Held-out labels the opposite of the training data's: the held-out loss is lowest
    after the first epoch and rises after it, so the first epoch is kept and training
    stops --early-stopping epochs later; the model is that of a 1-epoch run."""
    rows = [(text, label) for _, text, label in _reviews()]
    train = _table(tmp_path / "train.csv", ("text", "label"), rows)
    flipped = [(text, "neg" if label == "pos" else "pos") for text, label in rows]
    valid = _table(tmp_path / "valid.csv", ("text", "label"), flipped)
    argv = ["classify", "train", train, "--valid", valid, "--early-stopping", "2"]
    code, out, err = _run([*argv, "--out", tmp_path / "m.npz", *FAST], capsys)
    assert code == 0, err
    assert "; kept epoch 1, stopped early after 3 epochs (held-out loss" in out
    fast = [a for a in FAST if a != "30"]
    fast[fast.index("--epochs") + 1 : fast.index("--epochs") + 1] = ["1"]
    code, _, err = _run(["classify", "train", train, "--out", tmp_path / "one.npz", *fast], capsys)
    assert code == 0, err
    texts = [t for t, _ in rows]
    kept, one = load_classifier(tmp_path / "m.npz"), load_classifier(tmp_path / "one.npz")
    assert (kept.predict_proba(texts) == one.predict_proba(texts)).all()
    code, _, err = _run(
        ["classify", "train", train, "--early-stopping", "2", "--out", tmp_path / "x.npz"], capsys
    )
    assert (
        code == 2
        and "--early-stopping judges the epochs on held-out data: give --valid FILE" in err
    )


def test_the_estimators_keep_the_best_epoch(tmp_path):
    from ffnlp.estimators import LexiconClassifier, TextClassifier

    texts = POS * 3 + NEG * 3
    labels = ["pos"] * len(POS) * 3 + ["neg"] * len(NEG) * 3
    flipped = ["neg" if y == "pos" else "pos" for y in labels]
    for cls, extra in ((TextClassifier, {"embed_dim": 16}), (LexiconClassifier, {})):
        model = cls.from_settings(epochs=20, lr=0.02, early_stopping=1, verbose=False, **extra)
        model.fit(texts, labels, eval_set=(texts, flipped))
        assert (model.history_.best_epoch, len(model.history_.epochs)) == (1, 2), cls
        assert model.history_.stopped_early
        # Without held-out texts there is nothing to judge by: every epoch is trained.
        model = cls.from_settings(epochs=3, early_stopping=1, verbose=False, **extra)
        assert len(model.fit(texts, labels).history_.epochs) == 3
        with pytest.raises(
            ValueError, match="early_stopping must be a non-negative integer; got -1"
        ):
            cls.from_settings(epochs=1, early_stopping=-1, verbose=False, **extra).fit(
                texts, labels, eval_set=(texts, labels)
            )


def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_first_name(tmp_path, capsys):
    rows = [(label, text) for _, text, label in _reviews()]
    train = _table(tmp_path / "excel.csv", ("Label", "Text"), rows)
    train.write_bytes(b"\xef\xbb\xbf" + train.read_bytes())
    code, _, err = _run(["classify", "train", train, "--out", tmp_path / "m.npz", *FAST], capsys)
    assert code == 0, err
    assert "label column 'Label', text column 'Text'" in err


def test_a_model_without_a_record_reads_by_guessing(reviews, capsys):
    """Files from before the reading was recorded: test guesses, as train does."""
    tmp, train, test = reviews
    assert _run(["classify", "train", train, "--out", tmp / "m.npz", *FAST], capsys)[0] == 0
    model = load_classifier(tmp / "m.npz")
    model.reading_ = None
    model.save(tmp / "old.npz")
    assert load_classifier(tmp / "old.npz").reading_ is None
    code, out, err = _run(["classify", "test", tmp / "old.npz", test, "--json"], capsys)
    assert code == 0 and err.strip() == GUESS.format(test)
    code, out, err = _run(["classify", "predict", tmp / "old.npz", test], capsys)
    # no record: a file that looks like a table is read as one
    assert code == 0 and "classifying column 'text' of" in err
    assert [line.split("\t")[1] for line in out.splitlines()] == [
        "great warm fun",
        "dull , awful , flat",
        "a fine cast",
    ]
