"""Reading labelled text for classification.

Formats:

- ``fasttext``: ``__label__pos some text`` (fastText's format); a line may carry several
  labels (``__label__sports __label__politics some text``): multi-label data;
- ``label-first``: ``pos some text``, the label is the first word (SST-2 and TREC as
  distributed with Kim 2014);
- ``tsv`` / ``csv``: a label column and a text column, chosen by index or, with a header,
  by name;
- one file per class (MR's rt-polarity.pos / .neg): :func:`read_class_files`.

Every reader returns ``(texts, labels)`` as lists of strings and raises ``ValueError`` naming
the file and line for a line without a label or without text. When a line of a fastText file
has several labels, every label of the read is a tuple of labels instead (a label set,
each of its labels once, in the order of the line): multi-label data.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ffnlp.checks import check_choice, plural
from ffnlp.text.datasets import read_text

FORMATS = ("fasttext", "label-first", "tsv", "csv")
LABEL_PREFIX = "__label__"


def _where(path: str | os.PathLike, number: int) -> str:
    return f"{str(path)!r}, line {number}"


def read_labelled_text(
    path: str | os.PathLike, encoding: str | None = None, what: str = "labelled file"
) -> str:
    """A file's text (:func:`ffnlp.text.datasets.read_text`) without the byte-order mark
    that spreadsheet programs put before a UTF-8 CSV's first column name."""
    return read_text(path, encoding, what).removeprefix("\ufeff")


def _lines(text: str) -> list[str]:
    """The file's lines: split on newlines only (str.splitlines would also cut a text at a
    form feed or a Unicode line separator inside it), with a carriage return before the
    newline dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_fasttext(
    path: str | os.PathLike, encoding: str | None = None
) -> tuple[list[str], list[str] | list[tuple[str, ...]]]:
    """The texts and labels of a fastText file: strings, or label sets (tuples) for every
    line when a line has several labels (see the module's docstring)."""
    texts: list[str] = []
    found_sets: list[tuple[str, ...]] = []
    for number, line in enumerate(_lines(read_labelled_text(path, encoding)), start=1):
        if not line.strip():
            continue
        words = line.split()
        found = [w[len(LABEL_PREFIX) :] for w in words if w.startswith(LABEL_PREFIX)]
        if not found:
            raise ValueError(
                f"{_where(path, number)} has no label: expected '{LABEL_PREFIX}NAME text...'"
            )
        if not all(found):
            raise ValueError(f"{_where(path, number)} has an empty label ('{LABEL_PREFIX}' alone)")
        text = " ".join(w for w in words if not w.startswith(LABEL_PREFIX))
        if not text:
            raise ValueError(f"{_where(path, number)} has a label but no text")
        texts.append(text)
        found_sets.append(tuple(dict.fromkeys(found)))  # a label twice counts once
    if any(len(labels) > 1 for labels in found_sets):
        return texts, found_sets
    return texts, [labels[0] for labels in found_sets]


def is_multi_label(labels: Sequence[Any]) -> bool:
    """Whether ``labels`` are label sets (a tuple, list or set of labels for each text)
    rather than one label per text."""
    return any(isinstance(y, (tuple, list, set, frozenset)) for y in labels)


def as_label_sets(labels: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Each text's labels as a tuple, each label once: a label alone becomes a tuple of
    one, a set is sorted."""
    out = []
    for y in labels:
        if isinstance(y, (set, frozenset)):
            y = sorted(y, key=str)
        out.append(tuple(dict.fromkeys(y)) if isinstance(y, (tuple, list)) else (y,))
    return out


def read_label_first(
    path: str | os.PathLike, encoding: str | None = None
) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for number, line in enumerate(_lines(read_labelled_text(path, encoding)), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2:
            raise ValueError(
                f"{_where(path, number)} has a label but no text (expected 'LABEL text...')"
            )
        labels.append(parts[0])
        texts.append(parts[1])
    return texts, labels


def read_table(
    text: str, where: str, delimiter: str = "\t", quoting: bool | None = None
) -> tuple[list[list[str]], list[int]]:
    """The records of delimited ``text`` and the physical line each starts on (a quoted
    field may span lines). ``quoting``: whether ``"`` quotes fields (CSV) or is a
    character like any other (TSV); by default, quoting for every delimiter but a tab.
    ``where`` names the source in errors."""
    quoting = delimiter != "\t" if quoting is None else quoting
    reader = csv.reader(
        io.StringIO(text, newline=""),  # as csv wants
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    rows: list[list[str]] = []
    numbers: list[int] = []
    try:
        for row in reader:
            numbers.append(reader.line_num - sum(cell.count("\n") for cell in row))
            rows.append(row)
    except csv.Error as err:  # a stray carriage return, an unclosed quote running on, ...
        raise ValueError(f"{where}, line {reader.line_num}: {err}") from None
    return rows, numbers


def column_index(
    path: str | os.PathLike, names: Sequence[str], column: int | str, flag: str
) -> int:
    """A column given by 0-based index or by a name of the header ``names``."""
    if isinstance(column, str) and not column.isdigit():
        if column not in names:
            raise ValueError(
                f"{str(path)!r} has no column {column!r}; its columns are {list(names)} "
                f"(choose one with {flag})"
            )
        return list(names).index(column)
    return int(column)


def read_delimited(
    path: str | os.PathLike,
    label_column: int | str = 0,
    text_column: int | str = 1,
    delimiter: str = "\t",
    header: bool = False,
    encoding: str | None = None,
    quoting: bool | None = None,
) -> tuple[list[str], list[str]]:
    """Rows of a TSV/CSV file; columns by 0-based index, or by name when ``header``.
    ``quoting``: see :func:`read_table`."""
    rows, numbers = read_table(
        read_labelled_text(path, encoding), repr(str(path)), delimiter, quoting
    )
    if header:
        names = rows[0] if rows else []
        label_column = column_index(path, names, label_column, "--label-column")
        text_column = column_index(path, names, text_column, "--text-column")
        rows, numbers = rows[1:], numbers[1:]
    else:
        for name, column in (("label", label_column), ("text", text_column)):
            if not str(column).isdigit():
                raise ValueError(
                    f"--{name}-column {column!r} is not a 0-based column number; to choose "
                    "columns by name, the file needs a header row (--header)"
                )
        label_column, text_column = int(label_column), int(text_column)
    texts, labels = [], []
    for number, row in zip(numbers, rows):
        if not any(cell.strip() for cell in row):
            continue
        if max(label_column, text_column) >= len(row):
            raise ValueError(
                f"{_where(path, number)} has {plural(len(row), 'column')}; the label is column {label_column} and the "
                f"text column {text_column} (0-based; set --label-column / --text-column)"
            )
        label, text = row[label_column].strip(), row[text_column].strip()
        if not label:
            raise ValueError(f"{_where(path, number)} has no label")
        if not text:
            raise ValueError(f"{_where(path, number)} has a label but no text")
        texts.append(text)
        labels.append(label)
    return texts, labels


def read_class_files(
    files: Sequence[str], encoding: str | None = None
) -> tuple[list[str], list[str]]:
    """One file per class, each line a text. ``files`` are ``LABEL=PATH`` or plain paths,
    whose label is then the file's extension (``rt-polarity.pos`` -> ``pos``)."""
    texts, labels = [], []
    for spec in files:
        label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        label = label or Path(path).suffix.lstrip(".")
        if not label:
            raise ValueError(f"cannot tell the class of {path!r}: give it as LABEL={path}")
        lines = [
            line.strip()
            for line in _lines(read_labelled_text(path, encoding, "class file"))
            if line.strip()
        ]
        texts += lines
        labels += [label] * len(lines)
    return texts, labels


def read_labelled(
    paths: Sequence[str] | str,
    format: str = "fasttext",
    encoding: str | None = None,
    label_column: int | str = 0,
    text_column: int | str = 1,
    header: bool = False,
    delimiter: str | None = None,
) -> tuple[list[str], list[str]]:
    """Read labelled texts in any supported format; several paths in one of the line
    formats are concatenated, and ``format="files"`` reads one file per class.

    ``delimiter``: the csv format's (default ``,``; tsv is tab-separated and never quoted).
    To guess the format, the columns and the header from a file's content, see
    :func:`ffnlp.text.reading.guess_reading`."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise ValueError("no input files given")
    if format == "files":
        return read_class_files([str(p) for p in paths], encoding)
    check_choice("format", format, (*FORMATS, "files"))
    texts, labels = [], []
    for path in paths:
        if format == "fasttext":
            t, y = read_fasttext(path, encoding)
        elif format == "label-first":
            t, y = read_label_first(path, encoding)
        else:
            tsv = format == "tsv"
            separator = delimiter or ("\t" if tsv else ",")
            t, y = read_delimited(
                path, label_column, text_column, separator, header, encoding, quoting=not tsv
            )
        texts += t
        labels += y
    if not texts:
        raise ValueError(f"no labelled texts in {[str(p) for p in paths]}")
    if is_multi_label(labels):  # one file of label sets makes them all sets
        labels = as_label_sets(labels)
    return texts, labels
