"""How a labelled file is read, guessed from its content when not given, and recorded.

A :class:`Reading` says everything needed to read a file of labelled texts again: its
format, delimiter, header, label and text columns and encoding. :func:`guess_reading` fills
in whatever the user did not give from the file's own content:

- the format: fastText's ``__label__`` tags, then a tab-, comma-, semicolon- or
  pipe-separated table (the delimiter that splits nearly every record into the same
  number of fields, at least two), else label-first (``pos some text``);
- the header: a first row that names a known label or text column (``label``, ``class``,
  ``sentiment``, ...; ``text``, ``sentence``, ``review``, ...), or that stands out from the
  rows below it the way :meth:`csv.Sniffer.has_header` judges (a word over a column of
  numbers, another length over a column of equal lengths, never a value the column
  repeats);
- the columns: by those names with a header (a header without them is refused, naming
  its columns and the flag to choose); without a header, the text is the column with the
  longest cells and the label the one with the fewest distinct values.

A model file records its training data's reading (``TextPredictions.save(path,
reading=...)``), so ``classify test`` and ``classify predict`` read the same kind of file
with no flags. :func:`check_labelling` refuses labels that cannot be a labelling: ids, or
one label per text.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ffnlp.checks import check_bool, check_choice, check_int, is_int
from ffnlp.text.labelled import (
    FORMATS,
    LABEL_PREFIX,
    _lines,
    as_label_sets,
    is_multi_label,
    read_labelled,
    read_labelled_text,
    read_table,
)

# Header names that mark a column, compared lower-cased with spaces, '-' and '_' dropped;
# when several columns match, the one whose name comes first here is taken.
LABEL_NAMES = (
    "label", "labels", "class", "classlabel", "category", "target", "sentiment",
    "polarity", "goldlabel", "gold", "y", "tag", "intent", "topic", "stars", "rating",
)  # fmt: skip
TEXT_NAMES = (
    "text", "sentence", "review", "reviewtext", "content", "body", "document", "doc",
    "comment", "message", "tweet", "question", "utterance", "query", "phrase", "post",
    "abstract", "description", "title", "headline", "x",
)  # fmt: skip
_EXAMPLES = {
    "label": "label, class, category, target, sentiment, ...",
    "text": "text, sentence, review, content, body, ...",
}
DELIMITERS = ("\t", ",", ";", "|")  # tried in this order; a tie goes to the earlier one
READING_FORMATS = (*FORMATS, "files")
_SAMPLE_CHARS = 1 << 18  # the guess looks at the first 256 KiB ...
_SAMPLE_ROWS = 500  # ... and at most this many records of it
_FLAGS = "--format, --delimiter, --[no-]header, --label-column, --text-column"


@dataclass(frozen=True)
class Reading:
    """How a file of labelled texts is read.

    Args:
        format: one of ``fasttext``, ``label-first``, ``tsv``, ``csv``, ``files``.
        delimiter: the field separator of ``csv`` (``tsv``: a tab); None for the others.
        header: whether the first row of a ``tsv``/``csv`` file names its columns.
        label_column, text_column: a 0-based index, or a header name.
        encoding: the files' encoding (None: UTF-8).
        columns: the header's names, as the guess saw them (so a later file without a
            header can still be read by position).
    """

    format: str = "fasttext"
    delimiter: str | None = None
    header: bool = False
    label_column: int | str = 0
    text_column: int | str = 1
    encoding: str | None = None
    columns: tuple[str, ...] = field(default=())

    @property
    def delimited(self) -> bool:
        return self.format in ("tsv", "csv")

    def read(self, paths: Sequence[str] | str) -> tuple[list[str], list[str]]:
        """``(texts, labels)`` of ``paths``, read this way."""
        return read_labelled(
            paths,
            self.format,
            self.encoding,
            self.label_column,
            self.text_column,
            self.header,
            delimiter=self.delimiter,
        )

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON-able values (what a model file keeps as ``reading``)."""
        return {
            "format": self.format,
            "delimiter": self.delimiter,
            "header": self.header,
            "label_column": self.label_column,
            "text_column": self.text_column,
            "encoding": self.encoding,
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Reading:
        """A reading from :meth:`to_dict`'s values, each checked.

        Raises:
            ValueError: naming the first value that is missing, unknown or of a wrong kind.
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"a reading must be a mapping; got {type(values).__name__}")
        unknown = sorted(set(values) - set(cls().to_dict()))
        if unknown:
            raise ValueError(f"a reading has unknown settings {unknown}")
        check_choice("reading format", values.get("format"), READING_FORMATS)
        delimiter = values.get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ValueError(f"a reading's delimiter must be one character; got {delimiter!r}")
        header = check_bool("a reading's header", values.get("header", False))
        columns = {}
        for name in ("label_column", "text_column"):
            column = values.get(name, cls.__dataclass_fields__[name].default)
            if is_int(column):
                column = check_int(f"a reading's {name}", column, minimum=0)
            elif not isinstance(column, str):
                raise ValueError(f"a reading's {name} must be an index or a name; got {column!r}")
            columns[name] = column
        encoding = values.get("encoding")
        if encoding is not None and not isinstance(encoding, str):
            raise ValueError(f"a reading's encoding must be a name; got {encoding!r}")
        names = values.get("columns", [])
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"a reading's columns must be a list of names; got {names!r}")
        return cls(
            values["format"], delimiter, header, encoding=encoding, columns=tuple(names), **columns
        )

    def describe(self) -> str:
        """One line for people: ``csv (',' delimited, a header row; label column 'label',
        text column 'text')``."""
        if not self.delimited:
            what = {
                "fasttext": f"fasttext ('{LABEL_PREFIX}X text')",
                "label-first": "label-first (the first word of each line is its label)",
                "files": "one file per class",
            }[self.format]
        else:
            what = (
                f"{self.format} ({self.delimiter or ','!r} delimited, "
                f"{'a header row' if self.header else 'no header'}; label column "
                f"{self.label_column!r}, text column {self.text_column!r})"
            ).replace("'\\t' delimited", "tab-delimited")
        return what + (f", encoding {self.encoding}" if self.encoding else "")

    def label_source(self) -> str:
        """Where the labels come from, for messages."""
        if self.format == "label-first":
            return "the first word of each line (--format label-first)"
        if self.format == "fasttext":
            return f"the {LABEL_PREFIX} tags"
        if self.format == "files":
            return "the file names"
        return f"column {self.label_column!r}"


def _normal(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def find_column(names: Sequence[str], known: Sequence[str]) -> str | None:
    """The header name in ``names`` that the list ``known`` puts first, or None."""
    found = {_normal(n): n for n in reversed(names)}  # the leftmost of equal names wins
    return next((found[k] for k in known if k in found), None)


def _sample(text: str) -> str:
    if len(text) <= _SAMPLE_CHARS:
        return text
    cut = text[:_SAMPLE_CHARS]
    return cut[: cut.rfind("\n") + 1] or cut  # whole lines only


def _records(sample: str, delimiter: str, quoting: bool) -> list[list[str]]:
    try:
        rows, _ = read_table(sample, "the sample", delimiter, quoting)
    except ValueError:  # a guess, not a reading: an unparsable table is simply not this one
        return []
    return [r for r in rows if any(c.strip() for c in r)][:_SAMPLE_ROWS]


def _consistency(rows: list[list[str]]) -> tuple[float, int]:
    """The share of records with the most common number of fields, and that number."""
    if not rows:
        return 0.0, 0
    fields, count = Counter(len(r) for r in rows).most_common(1)[0]
    return count / len(rows), fields


def guess_format(text: str) -> tuple[str, str | None]:
    """``(format, delimiter)`` of a labelled file's ``text``, judged on its beginning."""
    sample = _sample(text)
    lines = [line for line in _lines(sample) if line.strip()][:_SAMPLE_ROWS]
    tagged = sum(any(w.startswith(LABEL_PREFIX) for w in line.split()) for line in lines)
    if lines and tagged >= len(lines) / 2:
        return "fasttext", None
    best: tuple[float, str] | None = None
    for delimiter in DELIMITERS:
        share, fields = _consistency(_records(sample, delimiter, delimiter != "\t"))
        if fields >= 2 and share >= 0.9 and (best is None or share > best[0]):
            best = (share, delimiter)
    if best is None:
        return "label-first", None
    return ("tsv", None) if best[1] == "\t" else ("csv", best[1])


def guess_delimiter(text: str) -> str:
    """The separator of a csv file's ``text``: the one of ``, ; |`` that splits the most
    records into the same number of fields (``,`` when none splits them)."""
    shares = []
    for d in DELIMITERS[1:]:
        share, fields = _consistency(_records(_sample(text), d, True))
        shares.append((share if fields >= 2 else 0.0, d))
    share = max(s for s, _ in shares)
    return next(d for s, d in shares if s == share) if share > 0 else ","


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def looks_like_header(rows: list[list[str]]) -> bool:
    """Whether the first of ``rows`` names the columns: it holds a known label or text
    name, or it stands out from the rows below (see the module's docstring)."""
    if not rows:
        return False
    first = rows[0]
    if find_column(first, LABEL_NAMES) or find_column(first, TEXT_NAMES):
        return True
    votes = 0
    for j, cell in enumerate(first):
        below = [r[j] for r in rows[1:] if len(r) > j]
        if not below:
            continue
        if cell in below:  # a name is not one of its column's values
            votes -= 1
        elif all(_is_number(c) for c in below):
            votes += -1 if _is_number(cell) else 1
        elif len({len(c) for c in below}) == 1:
            votes += 1 if len(cell) != len(below[0]) else -1
    return votes > 0


def _by_statistics(
    rows: list[list[str]], label: int | str | None, text: int | str | None
) -> tuple[int | str, int | str]:
    """Columns of a file without a header: the text the longest on average, the label
    the fewest distinct values among the others."""
    width = max(len(r) for r in rows)
    cells = [[r[j] for r in rows if len(r) > j] for j in range(width)]
    if text is None:
        taken = {int(label)} if label is not None and str(label).isdigit() else set()
        lengths = [
            (sum(map(len, c)) / max(len(c), 1), -j) for j, c in enumerate(cells) if j not in taken
        ]
        text = -max(lengths)[1] if lengths else 1  # one column, the label's: none left
    if label is None:
        distinct = [(len(set(c)), j) for j, c in enumerate(cells) if str(j) != str(text)]
        label = min(distinct)[1] if distinct else 0
    return label, text


def _column(value: int | str | None) -> int | str | None:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def guess_reading(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    label_column: int | str | None = None,
    text_column: int | str | None = None,
    encoding: str | None = None,
    columns: Sequence[str] = (),
) -> tuple[Reading, list[str]]:
    """The reading of ``path``: each setting given is kept, each None guessed from the
    file's content. Returns the reading and the names of the settings guessed.

    Raises:
        ValueError: when the file cannot be read, or when it has a header and no column
            is named like a label or a text (the message lists its columns and names
            the flag that chooses).
    """
    label_column, text_column = _column(label_column), _column(text_column)
    if format is not None:
        check_choice("format", format, READING_FORMATS)
    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(f"--delimiter must be one character; got {delimiter!r}")
    if format is None and delimiter is not None:
        format = "tsv" if delimiter == "\t" else "csv"
    guessed: list[str] = []
    content: list[str] = []

    def text() -> str:  # the file, read once, when a guess needs it
        if not content:
            content.append(read_labelled_text(path, encoding))
        return content[0]

    if format is None:
        format, delimiter = guess_format(text())
        guessed += ["format", "delimiter"] if format == "csv" else ["format"]
    if format not in ("tsv", "csv"):
        given = [
            f"--{name.replace('_', '-')}"
            for name, value in (
                ("delimiter", delimiter),
                ("header", header),
                ("label_column", label_column),
                ("text_column", text_column),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{given[0]} is a setting of csv/tsv columns, and {str(path)!r} is read as "
                f"{format}{' (guessed)' if guessed else ''}: give --format csv or tsv, or leave it out"
            )
        return Reading(format, encoding=encoding), guessed
    if delimiter is None and format == "tsv":
        delimiter = "\t"
    elif delimiter is None:
        delimiter = guess_delimiter(text())
        guessed.append("delimiter")
    rows = _records(_sample(text()), delimiter, format == "csv")
    if header is None:
        header = looks_like_header(rows)
        guessed.append("header")
    names = tuple(rows[0]) if header and rows else ()
    if header:
        missing = []
        for kind, known in (("label", LABEL_NAMES), ("text", TEXT_NAMES)):
            if (label_column if kind == "label" else text_column) is not None:
                continue
            found = find_column(names, known)
            if found is None:
                missing.append(kind)
                continue
            guessed.append(f"{kind}_column")
            if kind == "label":
                label_column = found
            else:
                text_column = found
        if missing:
            examples = "; ".join(_EXAMPLES[m] for m in missing)
            flags = " and ".join(f"--{m}-column NAME" for m in missing)
            raise ValueError(
                f"{str(path)!r}: no column is named like a {' or a '.join(missing)} "
                f"({examples}); its columns are {list(names)}: choose with {flags} (or "
                "--no-header if that first row is data)"
            )
    else:
        if columns:  # a header the recorded reading named, now read by position
            label_column = _position(columns, label_column)
            text_column = _position(columns, text_column)
        guessed += [
            f"{k}_column" for k, v in (("label", label_column), ("text", text_column)) if v is None
        ]
        if label_column is None or text_column is None:
            label_column, text_column = _by_statistics(rows or [[""]], label_column, text_column)
    if str(label_column) == str(text_column):
        raise ValueError(
            f"the label and the text are both column {label_column!r} of {str(path)!r}: "
            "choose another with --label-column or --text-column"
        )
    return Reading(format, delimiter, header, label_column, text_column, encoding, names), guessed


def _position(names: Sequence[str], column: int | str) -> int | str:
    return list(names).index(column) if isinstance(column, str) and column in names else column


def describe_guess(path: str | os.PathLike, reading: Reading, guessed: Sequence[str]) -> str:
    """The line that says what was guessed of ``path`` and how to say otherwise."""
    if not guessed:
        return ""
    return f"read {str(path)!r} as {reading.describe()}: a guess ({_FLAGS} say otherwise)"


def check_labelling(labels: Sequence[Any], reading: Reading | None = None) -> None:
    """Refuse labels that cannot be a labelling of the texts: a distinct integer for every
    text (an id), or most texts with a label of their own (the label read from the wrong
    column or format). Files of fewer than 10 texts are not judged.

    Raises:
        ValueError: naming where the labels were read from and the likely cause.
    """
    if is_multi_label(labels):  # label sets: judged by the labels they hold
        labels = [y for labels_of_text in as_label_sets(labels) for y in labels_of_text]
    n, distinct = len(labels), len(set(labels))
    if n < 10 or distinct <= n / 2:
        return
    source = reading.label_source() if reading is not None else "the labels"
    fix = (
        "choose the label column with --label-column"
        if reading is None or reading.delimited
        else "give the file's --format"
    )
    if distinct == n and all(re.fullmatch(r"-?\d+", str(y).strip()) for y in labels):
        raise ValueError(
            f"the labels look like ids: {source} holds {n} different integers, one per text; {fix}"
        )
    raise ValueError(
        f"{distinct} different labels for {n} texts: most texts have a label of their own, "
        f"so {source} is likely not the label; {fix}"
    )


def merge_recorded(recorded: Reading | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings to read a file with, as :func:`guess_reading`'s keywords: those
    ``given`` (flags), else the ``recorded`` reading's (a model's training data), unless
    ``given`` names another format."""
    if recorded is None or given.get("format", recorded.format) != recorded.format:
        return dict(given)
    settings: dict[str, Any] = {"format": recorded.format, "encoding": recorded.encoding}
    if recorded.delimited:
        settings.update(
            delimiter=recorded.delimiter,
            header=recorded.header,
            label_column=recorded.label_column,
            text_column=recorded.text_column,
        )
    settings.update(given)
    if recorded.header and not settings.get("header"):
        settings["columns"] = recorded.columns  # its names, read by position
    return settings


@dataclass
class TextTable:
    """The rows of a file of texts to classify: the header's names (empty without one),
    the records with the line each starts on, and which column holds the text."""

    names: list[str]
    rows: list[list[str]]
    numbers: list[int]
    text_column: int

    @property
    def texts(self) -> list[str]:
        return [row[self.text_column].strip() for row in self.rows]


def read_text_table(
    text: str,
    where: str,
    format: str,
    recorded: Reading | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    text_column: int | str | None = None,
) -> TextTable:
    """The texts of a tsv/csv ``text`` (``where`` names it), with every column kept: each
    setting given is used, else the ``recorded`` reading's (when it is of this
    ``format``), else guessed from the content. The text column is, in that order: the
    one given, the recorded one (by name, else by position), one named like a text
    (text, sentence, review, ...), the longest.

    Raises:
        ValueError: naming the line of a record without that column or without text, or
            listing the columns when a header has none of the text's name.
    """
    check_choice("format", format, ("tsv", "csv"))
    same = recorded is not None and recorded.format == format
    if delimiter is None:
        if same:
            delimiter = recorded.delimiter
        elif format == "tsv":
            delimiter = "\t"
        else:
            delimiter = guess_delimiter(text)
    rows, numbers = read_table(text, where, delimiter, format == "csv")
    kept = [i for i, row in enumerate(rows) if any(cell.strip() for cell in row)]
    rows, numbers = [rows[i] for i in kept], [numbers[i] for i in kept]
    if header is None:
        header = recorded.header if same else looks_like_header(rows[:_SAMPLE_ROWS])
    names = rows[0] if header and rows else []
    if header:
        rows, numbers = rows[1:], numbers[1:]
    text_column = _column(text_column)
    if text_column is None and same:
        text_column = recorded.text_column
        if header and text_column not in names and not isinstance(text_column, int):
            text_column = find_column(names, TEXT_NAMES)
        elif not header and isinstance(text_column, str):
            text_column = _position(recorded.columns, text_column)
    elif text_column is None and header:
        text_column = find_column(names, TEXT_NAMES)
    if text_column is None and header:
        raise ValueError(
            f"{where}: no column is named like a text ({_EXAMPLES['text']}); "
            f"its columns are {names}: choose with --text-column NAME, or --format text for "
            "one text a line"
        )
    if text_column is None:
        text_column = _by_statistics(rows[:_SAMPLE_ROWS] or [[""]], 0, None)[1]
    if isinstance(text_column, str) and not text_column.isdigit():
        if not header:
            raise ValueError(
                f"--text-column {text_column!r} is a name, and {where} has no header "
                "(give a 0-based column number)"
            )
        if text_column not in names:
            raise ValueError(
                f"{where} has no column {text_column!r}; its columns are {names} (choose one "
                "with --text-column, or --format text for one text a line)"
            )
        index = names.index(text_column)
    else:
        index = int(text_column)
    for number, row in zip(numbers, rows):
        if index >= len(row):
            raise ValueError(
                f"{where}, line {number} has {len(row)} columns; the text is column {index} "
                "(0-based; set --text-column, or --format text for one text a line)"
            )
        if not row[index].strip():
            raise ValueError(f"{where}, line {number} has no text in column {index}")
    if not rows:
        raise ValueError(f"{where} has no texts to classify")
    return TextTable(names, rows, numbers, index)
