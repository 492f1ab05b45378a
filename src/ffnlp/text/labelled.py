"""Reading labelled text for classification.

Formats:

- ``fasttext``: ``__label__pos some text`` (fastText's format; one label per line);
- ``label-first``: ``pos some text``, the label is the first word (SST-2 and TREC as
  distributed with Kim 2014);
- ``tsv`` / ``csv``: a label column and a text column, chosen by index or, with a header,
  by name;
- one file per class (MR's rt-polarity.pos / .neg): :func:`read_class_files`.

Every reader returns ``(texts, labels)`` as lists of strings and raises ``ValueError`` naming
the file and line for a line without a label or without text.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from ffnlp.checks import check_choice, plural
from ffnlp.text.datasets import read_text

FORMATS = ("fasttext", "label-first", "tsv", "csv")
LABEL_PREFIX = "__label__"


def _where(path: str | os.PathLike, number: int) -> str:
    return f"{str(path)!r}, line {number}"


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
) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for number, line in enumerate(_lines(read_text(path, encoding, "labelled file")), start=1):
        if not line.strip():
            continue
        words = line.split()
        found = [w for w in words if w.startswith(LABEL_PREFIX)]
        if not found:
            raise ValueError(
                f"{_where(path, number)} has no label: expected '{LABEL_PREFIX}NAME text...'"
            )
        if len(found) > 1:
            raise ValueError(
                f"{_where(path, number)} has {len(found)} labels; ffnlp classifies one label per text"
            )
        label = found[0][len(LABEL_PREFIX) :]
        if not label:
            raise ValueError(f"{_where(path, number)} has an empty label ('{LABEL_PREFIX}' alone)")
        text = " ".join(w for w in words if not w.startswith(LABEL_PREFIX))
        if not text:
            raise ValueError(f"{_where(path, number)} has a label but no text")
        texts.append(text)
        labels.append(label)
    return texts, labels


def read_label_first(
    path: str | os.PathLike, encoding: str | None = None
) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for number, line in enumerate(_lines(read_text(path, encoding, "labelled file")), start=1):
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


def read_delimited(
    path: str | os.PathLike,
    label_column: int | str = 0,
    text_column: int | str = 1,
    delimiter: str = "\t",
    header: bool = False,
    encoding: str | None = None,
) -> tuple[list[str], list[str]]:
    """Rows of a TSV/CSV file; columns by 0-based index, or by name when ``header``."""
    reader = csv.reader(
        io.StringIO(read_text(path, encoding, "labelled file"), newline=""),  # as csv wants
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE,
    )
    rows: list[list[str]] = []
    # the physical line each record starts on (quoted fields may span lines)
    numbers: list[int] = []
    try:
        for row in reader:
            numbers.append(reader.line_num - sum(cell.count("\n") for cell in row))
            rows.append(row)
    except csv.Error as err:  # a stray carriage return, an unclosed quote running on, ...
        raise ValueError(f"{_where(path, reader.line_num)}: {err}") from None
    if header:
        names = rows[0] if rows else []
        columns = []
        for column in (label_column, text_column):
            if isinstance(column, str) and not column.isdigit():
                if column not in names:
                    raise ValueError(
                        f"{str(path)!r} has no column {column!r}; its header has {names}"
                    )
                columns.append(names.index(column))
            else:
                columns.append(int(column))
        label_column, text_column = columns
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
            line.strip() for line in _lines(read_text(path, encoding, "class file")) if line.strip()
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
) -> tuple[list[str], list[str]]:
    """Read labelled texts in any supported format; several paths in one of the line
    formats are concatenated, and ``format="files"`` reads one file per class."""
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
            t, y = read_delimited(
                path, label_column, text_column, "\t" if format == "tsv" else ",", header, encoding
            )
        texts += t
        labels += y
    if not texts:
        raise ValueError(f"no labelled texts in {[str(p) for p in paths]}")
    return texts, labels
