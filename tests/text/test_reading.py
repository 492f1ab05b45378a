"""Labelled files read as they come: the format, header and columns guessed from the content,
labellings that cannot be one refused, and the reading kept in the model file."""

from __future__ import annotations

import pytest

from ffnlp import io
from ffnlp.estimators import TextClassifier, load_classifier
from ffnlp.text.reading import (
    Reading,
    check_labelling,
    guess_format,
    guess_reading,
    looks_like_header,
    merge_recorded,
    read_text_table,
)


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("__label__pos a fine film\n__label__neg dull\n", ("fasttext", None)),
        ("a fine film __label__pos\n__label__neg dull\n", ("fasttext", None)),
        ("pos a fine film\nneg dull , flat\n", ("label-first", None)),
        # commas, but not the same number on every line: text, not a table
        ("pos a fine, fine film\nneg dull\nneg flat, grey, long\n", ("label-first", None)),
        ("pos\ta fine film\nneg\tdull, flat\n", ("tsv", None)),
        ('label,text\npos,"a fine, fine film"\nneg,dull\n', ("csv", ",")),
        ("label;text\npos;a fine, fine film\nneg;dull, flat, grey\n", ("csv", ";")),
        ("pos|a fine film\nneg|dull\n", ("csv", "|")),
    ],
)
def test_the_format_is_guessed_from_the_content(text, expected):
    assert guess_format(text) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["id", "Review_Text", "x"], ["1", "fine", "a"]], True),  # a known name
        ([["stars", "body"], ["5", "great"], ["1", "awful"]], True),  # a word over numbers
        ([["pos", "a fine film"], ["neg", "dull"], ["pos", "fun"]], False),  # pos repeats
        ([["1", "a fine film"], ["0", "dull"]], False),  # a number over numbers
        ([["yes", "fine"], ["ab", "dull film"], ["cd", "flat"]], True),  # 3 letters over 2
        ([["yes", "fine"], ["ab", "dull"], ["cd", "flat"]], False),  # ... but 4 over 4
    ],
)
def test_a_header_is_told_from_data(rows, expected):
    assert looks_like_header(rows) is expected


def test_columns_are_found_by_their_header_names(tmp_path):
    path = _write(
        tmp_path / "a.csv",
        "ID,Review Text,Sentiment,Label\n1,a fine film,good,pos\n2,dull,bad,neg\n",
    )
    reading, guessed = guess_reading(path)
    # "label" comes before "sentiment" in the list of label names
    assert reading == Reading(
        "csv", ",", True, "Label", "Review Text", None, ("ID", "Review Text", "Sentiment", "Label")
    )
    assert guessed == ["format", "delimiter", "header", "label_column", "text_column"]
    assert reading.read(path) == (["a fine film", "dull"], ["pos", "neg"])
    reading, guessed = guess_reading(path, label_column="Sentiment", encoding="utf-8")
    assert (reading.label_column, reading.encoding) == ("Sentiment", "utf-8")
    assert "label_column" not in guessed
    assert reading.read(path)[1] == ["good", "bad"]


def test_without_a_header_the_text_is_the_longest_column_and_the_label_the_least_varied(
    tmp_path,
):
    path = _write(
        tmp_path / "a.tsv",
        "1\tpos\ta fine film\n2\tneg\tdull and flat\n3\tpos\tgreat fun\n4\tneg\tawful\n",
    )
    reading, guessed = guess_reading(path)
    assert (reading.format, reading.header, reading.label_column, reading.text_column) == (
        "tsv",
        False,
        1,
        2,
    )
    assert "header" in guessed and "delimiter" not in guessed  # a tsv's is a tab
    assert reading.read(path) == (
        ["a fine film", "dull and flat", "great fun", "awful"],
        ["pos", "neg", "pos", "neg"],
    )
    # a column given is kept, and the other chosen among the rest
    assert guess_reading(path, text_column="2")[0].label_column == 1
    assert guess_reading(path, label_column=0)[0].text_column == 2


def test_a_header_without_known_names_is_refused_naming_its_columns(tmp_path):
    path = _write(tmp_path / "a.csv", "id,words,verdict\n1,a fine film,up\n2,dull,down\n")
    with pytest.raises(
        ValueError,
        match=r"no column is named like a label or a text \(label, class, category, target, "
        r"sentiment, \.\.\.; text, sentence, review, content, body, \.\.\.\); its columns are "
        r"\['id', 'words', 'verdict'\]: choose with --label-column NAME and --text-column NAME",
    ):
        guess_reading(path)
    reading, _ = guess_reading(path, label_column="verdict", text_column="words")
    assert reading.read(path) == (["a fine film", "dull"], ["up", "down"])


def test_settings_that_cannot_go_together_are_refused(tmp_path):
    path = _write(tmp_path / "a.txt", "pos a fine film\nneg dull\n")
    with pytest.raises(ValueError, match="--label-column is a setting of csv/tsv columns"):
        guess_reading(path, format="label-first", label_column=1)
    with pytest.raises(
        ValueError, match=r"--header is a setting .* read as label-first \(guessed\)"
    ):
        guess_reading(path, header=True)
    with pytest.raises(ValueError, match="--delimiter must be one character; got ';;'"):
        guess_reading(path, delimiter=";;")
    table = _write(tmp_path / "a.csv", "pos,a fine film\nneg,dull\n")
    with pytest.raises(ValueError, match="the label and the text are both column 1"):
        guess_reading(table, label_column="1", text_column=1)


def test_a_delimiter_given_makes_a_table():
    reading, guessed = guess_reading(
        __file__, delimiter="\t", header=False, label_column=0, text_column=1
    )
    assert reading.format == "tsv" and guessed == []


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (
            [str(i) for i in range(12)],
            "the labels look like ids: column 'id' holds 12 different integers",
        ),
        ([f"t{i}" for i in range(10)] + ["a", "a"], "11 different labels for 12 texts"),
    ],
)
def test_labellings_that_cannot_be_one_are_refused(labels, message):
    reading = Reading("csv", ",", True, "id", "text")
    with pytest.raises(ValueError, match=message):
        check_labelling(labels, reading)


def test_a_label_per_line_start_names_the_format():
    with pytest.raises(
        ValueError,
        match=r"the first word of each line \(--format label-first\) is likely not the label; "
        "give the file's --format",
    ):
        check_labelling([f"w{i}" for i in range(20)], Reading("label-first"))


def test_real_labellings_and_small_files_pass():
    check_labelling(["pos", "neg"] * 10)
    check_labelling([str(i) for i in range(9)])  # fewer than 10 texts: not judged
    check_labelling([str(i % 10) for i in range(20)])  # half the texts: still a labelling


def test_a_reading_goes_through_json_and_is_checked():
    reading = Reading("csv", ";", True, "label", "text", "cp1252", ("id", "text", "label"))
    assert Reading.from_dict(reading.to_dict()) == reading
    assert Reading.from_dict({"format": "fasttext"}) == Reading()
    for bad, message in [
        ({"format": "xml"}, "reading format must be one of"),
        ({"format": "csv", "delimiter": ",,"}, "delimiter must be one character"),
        ({"format": "csv", "header": "yes"}, "header must be True or False"),
        ({"format": "csv", "label_column": -1}, "label_column must be a non-negative integer"),
        ({"format": "csv", "text_column": 1.5}, "text_column must be an index or a name"),
        ({"format": "csv", "colour": "red"}, r"unknown settings \['colour'\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            Reading.from_dict(bad)


def test_the_recorded_reading_fills_what_the_flags_leave():
    recorded = Reading("csv", ";", True, "label", "text", "cp1252", ("id", "text", "label"))
    assert merge_recorded(recorded, {}) == {
        "format": "csv",
        "encoding": "cp1252",
        "delimiter": ";",
        "header": True,
        "label_column": "label",
        "text_column": "text",
    }
    merged = merge_recorded(recorded, {"header": False})
    assert merged["header"] is False and merged["columns"] == ("id", "text", "label")
    assert merge_recorded(recorded, {"format": "tsv"}) == {"format": "tsv"}
    assert merge_recorded(Reading("fasttext", encoding="latin-1"), {}) == {
        "format": "fasttext",
        "encoding": "latin-1",
    }


def test_a_headerless_file_is_read_by_the_recorded_headers_positions(tmp_path):
    path = _write(tmp_path / "t.csv", "1,a fine film,pos\n2,dull,neg\n")
    recorded = Reading("csv", ",", True, "label", "text", None, ("id", "text", "label"))
    reading, guessed = guess_reading(path, **merge_recorded(recorded, {"header": False}))
    assert (reading.label_column, reading.text_column, guessed) == (2, 1, [])
    assert reading.read(path) == (["a fine film", "dull"], ["pos", "neg"])


def test_tables_to_classify_keep_every_column():
    recorded = Reading("csv", ",", True, "label", "review", None, ("label", "review"))
    table = read_text_table("id,review\n7,a fine film\n\n8,dull\n", "'p.csv'", "csv", recorded)
    assert (table.names, table.rows, table.numbers) == (
        ["id", "review"],
        [["7", "a fine film"], ["8", "dull"]],
        [2, 4],
    )
    assert table.texts == ["a fine film", "dull"]
    # the recorded name missing: a text-like name, else a clear error
    assert read_text_table("id,sentence\n1,fine\n", "x", "csv", recorded).text_column == 1
    with pytest.raises(ValueError, match=r"no column is named like a text .* \['id', 'words'\]"):
        read_text_table("id,words\n1,fine\n", "x", "csv", recorded)
    headerless = read_text_table("7,a fine film\n8,dull\n", "x", "csv", recorded, header=False)
    assert headerless.text_column == 1 and headerless.names == []
    with pytest.raises(ValueError, match="x, line 2 has 1 columns; the text is column 1"):
        read_text_table("7,fine\n8\n", "x", "csv", None, header=False, text_column=1)
    with pytest.raises(ValueError, match="x, line 3 has no text in column 1"):
        read_text_table("id,text\n7,fine\n8,\n", "x", "csv")
    semicolons = read_text_table("text;n\na, b;1\nc, d;2\n", "x", "csv")
    assert semicolons.texts == ["a, b", "c, d"]


def test_the_model_file_keeps_the_reading(tmp_path):
    texts, labels = ["a fine film", "dull", "great fun", "flat"] * 3, ["pos", "neg"] * 6
    model = TextClassifier.from_settings(embed_dim=4, epochs=1, verbose=False).fit(texts, labels)
    reading = Reading("csv", ";", True, "label", "text", "cp1252", ("id", "text", "label"))
    model.save(tmp_path / "m.npz", reading=reading.to_dict())
    loaded = load_classifier(tmp_path / "m.npz")
    assert loaded.reading_ == reading.to_dict()
    assert "reading" not in loaded.get_params()  # not a setting of the estimator
    loaded.save(tmp_path / "again.npz")  # kept when saved again
    assert load_classifier(tmp_path / "again.npz").reading_ == reading.to_dict()
    model.save(tmp_path / "none.npz")  # files without one (older files) load with None
    assert load_classifier(tmp_path / "none.npz").reading_ is None
    meta, arrays = io.load_archive(tmp_path / "m.npz")
    meta["reading"] = {"format": "csv", "header": "maybe"}
    io.save_archive(tmp_path / "forged.npz", meta["kind"], meta, arrays)
    with pytest.raises(
        ValueError,
        match=r"forged.npz': the record of how its training data was read is wrong "
        r"\(a reading's header must be True or False; got 'maybe'\)",
    ):
        load_classifier(tmp_path / "forged.npz")
    with pytest.raises(ValueError, match="reading format must be one of"):
        model.save(tmp_path / "bad.npz", reading={"format": "xml"})
    assert not (tmp_path / "bad.npz").exists()
