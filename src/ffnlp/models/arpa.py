r"""Back-off n-gram models read from ARPA files (written by ffnlp, KenLM, SRILM, ...).

An ARPA file lists, for each order n, n-grams with their log10 probability and (below the
highest order) a log10 back-off weight. The probability of word w after history h is the
listed one when the n-gram h w is listed, and otherwise the back-off weight of h (0 when h
is not listed) plus the probability of w after h without its oldest word:

    log p(w | h) = logp(h w)                     if h w is listed
                 = bow(h) + log p(w | h')        otherwise (h' drops the oldest word)

down to the unigrams, where every word of the vocabulary is listed. This is the rule
KenLM's query applies (Heafield 2011), and so are its conventions: a word outside the
vocabulary is ``<unk>``; a file without ``<unk>`` gets one with log10 probability -100;
a sentence starts from the context ``<s>`` and ends with ``</s>``, which is predicted.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "m.arpa")
>>> _ = open(path, "w").write(
...     "\\data\\\nngram 1=4\nngram 2=1\n\n\\1-grams:\n-1 <unk>\n-99 <s> -0.3\n-0.5 </s>\n"
...     "-0.4 a -0.2\n\n\\2-grams:\n-0.1 <s> a\n\n\\end\\\n"
... )
>>> lm = ArpaLM.read(path)
>>> log10 = lm.sentence_log_probs(["a"]) / math.log(10)  # p(a | <s>) listed; </s> backs off
>>> round(float(log10[0]), 6)  # -0.1 + (bow(a) -0.2 + p(</s>) -0.5)
-0.8
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ffnlp.backend.sorting import unique
from ffnlp.models.lm_text import TextLM
from ffnlp.text.ngrams import padded_sentences, sentence_depths
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import BOS, EOS, SPECIALS, UNK, Vocab

LN10 = math.log(10.0)
UNK_MISSING_LOG10 = -100.0  # KenLM's log10 probability of an <unk> the file does not list
_COUNT = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"\\(\d+)-grams:$")
# A line that begins (after blanks) with a backslash, from the newline before it: a
# section's end. (A literal first character lets the search skip ahead fast; a "^" in
# multiline mode would try every position.)
_NEXT_HEADER = re.compile(rb"\n[ \t\r\x0b\x0c]*\\")


def looks_like_arpa(path: str | Path) -> bool:
    """Whether the file starts (after blank lines and comments) like an ARPA file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    if b"\0" in head:
        return False
    return any(line.strip() == b"\\data\\" for line in head.splitlines()[:200])


class ArpaLM(TextLM):
    """A back-off n-gram language model of any order, read from an ARPA file.

    The same scoring interface as :class:`~ffnlp.models.ngram_lm.KneserNeyLM`:
    :meth:`log_probs`, :meth:`perplexity`, :meth:`sentence_log_probs`,
    :meth:`next_distribution`, :meth:`predict_next` and :meth:`generate`. Text is split
    on whitespace and kept as it is (an ARPA file's words are case-sensitive tokens).

    The n-grams are held as KneserNeyLM holds its own, so that reading and scoring are
    whole-array operations: the n-gram h w of order n >= 2 is the number
    ``id(h) * V + w``, where ``id(h)`` is the row of h in the sorted table of order n - 1
    (a unigram's row is its word id), and looking one up is a binary search. A table also
    holds the prefix h of every listed n-gram h w, listed or not (a pruned file can list
    "a b c" without "a b"; KenLM's probing model refuses such a file): its probability
    NaN, its back-off 0, so that it is a history with no back-off of its own.

    Args:
        order: N, the highest order in the file.
        vocab: the words of the unigrams, the specials first.
        keys: for each order n >= 2 (index n), the table's sorted n-gram numbers
            (indices 0 and 1: empty).
        log10_probs: for each order n >= 1, the log10 probability of each row of the
            table (order 1: of each word id), NaN for a prefix that is not listed.
        log10_backoffs: for each order n < N, the log10 back-off weight of each row (0
            where the file gives none).

    Use :meth:`read` to make one from a file.
    """

    def __init__(
        self,
        order: int,
        vocab: Vocab,
        keys: list[np.ndarray],
        log10_probs: list[np.ndarray],
        log10_backoffs: list[np.ndarray],
    ) -> None:
        self.order = order
        self.vocab = vocab
        self.tokenizer = Tokenizer("whitespace", lowercase=False)
        self.keys = keys
        self.log10_probs = log10_probs
        self.log10_backoffs = log10_backoffs

    # ------------------------------------------------------------------ reading
    @classmethod
    def read(cls, path: str | Path) -> ArpaLM:
        """Read an ARPA file.

        Raises:
            ValueError: one line naming the file and the line: no ``\\data\\`` header, a
                header line that is not ``ngram N=COUNT``, orders that are not 1..N, a
                section whose n-grams do not match the header's count, an entry without
                its probability and N words, an n-gram listed twice, a missing ``<s>`` or
                ``</s>``, or no ``\\end\\``.
        """
        path = Path(path)
        name = repr(str(path))
        if not path.exists():
            raise ValueError(f"model file {name} does not exist")
        if path.is_dir():
            raise ValueError(f"model file {name} is a directory, not a file")
        data = path.read_bytes()
        try:
            data.decode("utf-8")  # checked whole here; only the unigrams are decoded later
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{name} is not valid UTF-8 at byte {err.start}: ARPA files are read as UTF-8"
            ) from None
        order, counts, at, line_number = _header(data, name)
        sections: list[_Section | None] = [None] * (order + 1)
        ended = False
        while at < len(data):
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end
            line = data[at:end].decode("utf-8").strip()
            line_number += 1
            at = end + 1
            if not line:
                continue
            if line == "\\end\\":
                ended = True
                break
            match = _SECTION.match(line)
            if match is None:
                raise ValueError(
                    f"{name}, line {line_number}: expected a section header like "
                    f"'\\2-grams:'; got {line!r}"
                )
            n = int(match[1])
            if n not in counts:
                raise ValueError(
                    f"{name}, line {line_number}: a \\{n}-grams: section, but the header "
                    f"declares orders 1 to {order}"
                )
            if sections[n] is not None:
                raise ValueError(f"{name}, line {line_number}: a second \\{n}-grams: section")
            following = _NEXT_HEADER.search(data, at - 1)  # at - 1: the newline before
            stop = following.start() + 1 if following else len(data)
            blob = data[at:stop]
            section = _Section.parse(blob, n, line_number + 1, name)
            if len(section.log10_probs) != counts[n]:
                raise ValueError(
                    f"{name}: the header says {counts[n]} {n}-grams, but the \\{n}-grams: "
                    f"section has {len(section.log10_probs)}"
                )
            sections[n] = section
            line_number += blob.count(b"\n")
            at = stop
        for n in range(1, order + 1):
            if counts[n] and sections[n] is None:
                raise ValueError(
                    f"{name}: the header declares {counts[n]} {n}-grams, but there is no "
                    f"\\{n}-grams: section"
                )
        if not ended:
            raise ValueError(f"{name} has no \\end\\ line: the file is cut short")
        complete = [s if s is not None else _Section.empty(n) for n, s in enumerate(sections)]
        vocab = _vocab(complete[1], name)
        return cls(order, vocab, *_tables(vocab, complete, name))

    # ------------------------------------------------------------------ scoring
    def log_probs(self, sentences: Sequence[np.ndarray]) -> np.ndarray:
        """Natural-log probability of every predicted token: each sentence's tokens and its
        ``</s>``, each sentence scored from the context ``<s>``.

        By the back-off rule, found for every token at once, order by order: the n-gram
        of the token and its n - 1 previous words is numbered from the row of the (n-1)-gram
        that ends one token before (the history's row); where the table lists it, its
        probability replaces the lower orders' one, and otherwise the history's back-off
        weight is added to it.
        """
        V = len(self.vocab)
        tokens, is_target = padded_sentences(sentences, pad=1)
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= V):
            raise ValueError(f"token ids must be in [0, {V}) for this model's {V} words")
        depth = sentence_depths(is_target)
        log10 = self.log10_probs[1][tokens]
        rows = tokens  # the row of the 1-gram ending at each position: its word id
        for n in range(2, self.order + 1):
            history = np.concatenate(([-1], rows[:-1]))  # the (n-1)-gram ending one before
            valid = is_target & (depth >= n - 1) & (history >= 0)
            h = np.where(valid, history, 0)
            found, at = _find(self.keys[n], h * V + tokens, valid)
            listed = found & ~np.isnan(self.log10_probs[n][at])
            backoff = np.where(valid, self.log10_backoffs[n - 1][h], 0.0)
            log10 = np.where(listed, self.log10_probs[n][at], log10 + backoff)
            rows = np.where(found, at, -1)
        return log10[is_target] * LN10

    def start_context(self) -> list[int]:
        return [Vocab.bos_id] * max(self.order - 1, 1)

    def _row(self, words: Sequence[int]) -> int:
        """The row of the n-gram ``words`` in its order's table, -1 if it has none."""
        row, V = words[0], len(self.vocab)
        for n, word in enumerate(words[1:], start=2):
            found, at = _find(self.keys[n], np.array([row * V + word]), np.array([True]))
            if not found[0]:
                return -1
            row = int(at[0])
        return row

    def next_distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(w | context) for every word w, (V,): the file's probabilities, which sum to 1
        up to the rounding of the numbers written in it.

        Only the last ``order - 1`` ids matter, and nothing before the last ``<s>``.
        """
        V = len(self.vocab)
        context = [int(t) for t in context]
        if any(not 0 <= t < V for t in context):
            raise ValueError(f"context ids must be in [0, {V})")
        if Vocab.bos_id in context:  # nothing comes before the start of a sentence
            context = context[len(context) - 1 - context[::-1].index(Vocab.bos_id) :]
        context = context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else []
        log10 = self.log10_probs[1].copy()
        for k in range(1, len(context) + 1):  # the history of the last k words
            h = self._row(context[len(context) - k :])
            if h < 0:
                continue
            log10 += self.log10_backoffs[k][h]
            keys = self.keys[k + 1]
            lo, hi = np.searchsorted(keys, [h * V, (h + 1) * V])
            listed = ~np.isnan(self.log10_probs[k + 1][lo:hi])
            log10[keys[lo:hi][listed] % V] = self.log10_probs[k + 1][lo:hi][listed]
        return np.power(10.0, log10)

    def num_ngrams(self) -> list[int]:
        """How many n-grams of each order the file lists (index 0: order 1; an ``<unk>``
        the file leaves out counts, with KenLM's probability)."""
        return [int(np.count_nonzero(~np.isnan(p))) for p in self.log10_probs[1:]]


@dataclasses.dataclass
class _Section:
    """The entries of one ``\\n-grams:`` section, in the file's order: their words (n
    columns of bytes: the first words, the second words, ...), log10 probabilities, log10
    back-offs (NaN where none), and the line each is on (1-based)."""

    words: list[Sequence[bytes]]
    log10_probs: np.ndarray
    log10_backoffs: np.ndarray
    lines: np.ndarray

    @classmethod
    def parse(cls, blob: bytes, n: int, first_line: int, name: str) -> _Section:
        """Split the section's text (its first line numbered ``first_line``) into fields all
        at once: ``bytes.split`` gives them in order, and the byte array says where each
        line starts among them, so each line's count of fields and each field's place on
        its line (probability, word or back-off) are array operations, not a loop over
        the lines. Where every entry has the same count (all with a back-off, or none),
        each column is a slice of the fields, every count-th one."""
        fields = blob.split()
        if not fields:
            return cls.empty(n)
        byte = np.frombuffer(blob, np.uint8)
        space = (byte == 32) | ((byte >= 9) & (byte <= 13))  # what bytes.split splits on
        starts = np.flatnonzero(~space & np.concatenate(([True], space[:-1])))
        line_starts = np.concatenate(([0], np.flatnonzero(byte == 10) + 1))
        per_line = np.diff(np.searchsorted(starts, line_starts), append=len(starts))
        entry_line = np.flatnonzero(per_line)  # the entries: the lines that are not blank
        width = per_line[entry_line]

        def where(entry: int) -> str:
            return f"{name}, line {first_line + int(entry_line[entry])}"

        def text(entry: int) -> str:
            return blob.split(b"\n")[int(entry_line[entry])].decode("utf-8").strip()

        bad = np.flatnonzero((width != n + 1) & (width != n + 2))
        if len(bad):
            raise ValueError(
                f"{where(bad[0])}: a {n}-gram entry needs a log10 probability, {n} "
                f"word{'s' if n > 1 else ''} and an optional back-off; got {width[bad[0]]} fields"
            )

        def numbers(texts: Sequence[bytes], entries: np.ndarray) -> np.ndarray:
            try:
                values = np.array(texts, dtype=object).astype(np.float64).reshape(-1)
            except ValueError:  # name the first entry whose number is not one
                for entry, value in zip(entries, texts):
                    try:
                        float(value)
                    except ValueError:
                        raise ValueError(
                            f"{where(entry)}: {text(entry)!r} does not start with a number"
                        ) from None
                raise
            bad = np.flatnonzero(~(values < math.inf))  # NaN, +inf
            if len(bad):
                entry = entries[bad[0]]
                raise ValueError(
                    f"{where(entry)}: {text(entry)!r} has a log10 value that is not a number "
                    "or is +infinity"
                )
            return values

        entries = np.arange(len(entry_line))
        log10_backoffs = np.full(len(entry_line), np.nan)
        if (width == width[0]).all():  # one count: each column a slice of the fields
            w = int(width[0])
            columns = [fields[j::w] for j in range(w)]
            log10_probs = numbers(columns[0], entries)
            if w == n + 2:
                log10_backoffs[:] = numbers(columns[n + 1], entries)
        else:  # some with a back-off, some without: each field's place on its line
            line = np.repeat(np.arange(len(per_line)), per_line)
            place = np.arange(len(starts)) - (np.cumsum(per_line) - per_line)[line]
            column = np.array(fields, dtype=object)
            columns = [column[place == j].tolist() for j in range(n + 2)]
            log10_probs = numbers(columns[0], entries)
            with_backoff = np.flatnonzero(width == n + 2)
            log10_backoffs[with_backoff] = numbers(columns[n + 1], with_backoff)
        return cls(columns[1 : n + 1], log10_probs, log10_backoffs, first_line + entry_line)

    @classmethod
    def empty(cls, n: int) -> _Section:
        return cls([[] for _ in range(n)], np.empty(0), np.empty(0), np.empty(0, np.int64))

    def gram(self, entry: int) -> str:
        """The words of entry ``entry``, as the file writes them."""
        return b" ".join(column[entry] for column in self.words).decode("utf-8")


def _header(data: bytes, name: str) -> tuple[int, dict[int, int], int, int]:
    """The ``\\data\\`` header: the order, the count of each order's n-grams, and where
    the text after it starts (a byte offset, and the number of lines before it)."""
    at, line_number, counts, seen = 0, 0, {}, False
    while at < len(data):
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        line = data[at:end].decode("utf-8").strip()
        if seen and line.startswith("\\"):
            break  # the first section's header: read by the caller
        at = end + 1
        line_number += 1
        if not seen:
            seen = line == "\\data\\"
        elif line:
            match = _COUNT.match(line)
            if match is None:
                raise ValueError(
                    f"{name}, line {line_number}: the \\data\\ header has {line!r} where "
                    "'ngram N=COUNT' was expected"
                )
            counts[int(match[1])] = int(match[2])
    if not seen:
        raise ValueError(f"{name} is not an ARPA file: it has no \\data\\ header line")
    order = len(counts)
    if not counts or sorted(counts) != list(range(1, order + 1)):
        raise ValueError(
            f"{name}: the \\data\\ header must give 'ngram N=COUNT' for the orders 1 to N; "
            f"it gives {sorted(counts) or 'none'}"
        )
    return order, counts, at, line_number


def _vocab(unigrams: _Section, name: str) -> Vocab:
    """The vocabulary of the unigrams, the specials first (``<unk>`` among them, listed or
    not)."""
    listed = [w.decode("utf-8") for w in unigrams.words[0]]
    for marker in (BOS, EOS):
        if marker not in listed:
            raise ValueError(
                f"{name}: the unigrams have no {marker}; an ARPA model of sentences needs "
                "<s> and </s>"
            )
    words = [*SPECIALS, *(w for w in dict.fromkeys(listed) if w not in SPECIALS)]
    if len(words) != len(listed) + (UNK not in listed):
        raise ValueError(f"{name}: a word is listed twice among the unigrams")
    return Vocab(words)


def _tables(
    vocab: Vocab, sections: list[_Section], name: str
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """ArpaLM's tables from the sections' entries (see :class:`ArpaLM`).

    The words become ids by one dictionary look-up each. Then order by order, each
    n-gram's number comes from the row its first n - 1 words have in the table below, and
    the first n words of every longer n-gram are looked up in (or, where the file does not
    list them, added to) this order's table, so that their rows are there for the next
    order.
    """
    order, V = len(sections) - 1, len(vocab)
    stoi = {w.encode("utf-8"): i for i, w in enumerate(vocab.itos)}
    ids: list[np.ndarray] = [np.empty((0, 0), np.int64)]
    for n, section in enumerate(sections[1:], start=1):
        count = len(section.log10_probs)
        ids.append(np.empty((count, n), np.int64))
        for j, column in enumerate(section.words):
            try:
                ids[n][:, j] = np.fromiter(map(stoi.__getitem__, column), np.int64, count)
            except KeyError as err:
                word = err.args[0]
                gram = section.gram(list(column).index(word))
                raise ValueError(
                    f"{name}: the {n}-gram {gram!r} has the word {word.decode('utf-8')!r}, "
                    "which is not among the unigrams"
                ) from None
    keys = [np.empty(0, np.int64), np.empty(0, np.int64)]
    log10_probs = [np.empty(0), np.full(V, UNK_MISSING_LOG10)]  # for an <unk> left out
    log10_probs[1][ids[1][:, 0]] = sections[1].log10_probs
    log10_backoffs = [np.empty(0), np.zeros(V)]
    log10_backoffs[1][ids[1][:, 0]] = np.nan_to_num(sections[1].log10_backoffs, nan=0.0)
    # rows[m], for each m-gram of an order m > n: the row of its first n - 1 words
    rows = {m: ids[m][:, 0] for m in range(2, order + 1)}
    for n in range(2, order + 1):
        own = rows.pop(n) * V + ids[n][:, n - 1]
        longer = {m: rows[m] * V + ids[m][:, n - 1] for m in rows}
        table = unique(np.concatenate([own, *longer.values()]))
        at = np.searchsorted(table, own)
        if len(unique(own)) < len(own):
            twice = _first_repeat(own)
            raise ValueError(
                f"{name}, line {sections[n].lines[twice]}: the {n}-gram "
                f"{sections[n].gram(twice)!r} is listed twice"
            )
        for m, prefix in longer.items():
            rows[m] = np.searchsorted(table, prefix)
        keys.append(table)
        log10_probs.append(np.full(len(table), np.nan))  # NaN: only a longer one's prefix
        log10_probs[n][at] = sections[n].log10_probs
        log10_backoffs.append(np.zeros(len(table)))
        if n < order:  # the highest order's back-offs, if a file gives them, are never used
            log10_backoffs[n][at] = np.nan_to_num(sections[n].log10_backoffs, nan=0.0)
    return keys, log10_probs, log10_backoffs


def _first_repeat(values: np.ndarray) -> int:
    """The index of the first value that appeared earlier in ``values``."""
    order = np.argsort(values, kind="stable")
    repeat = order[1:][values[order[1:]] == values[order[:-1]]]
    return int(repeat.min())


def _find(keys: np.ndarray, wanted: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``wanted`` (where ``valid``) are in the sorted ``keys``, and where."""
    if not len(keys):
        return np.zeros(len(wanted), bool), np.zeros(len(wanted), np.int64)
    # The wanted keys searched in sorted order: each search then starts where the last one
    # ended and walks memory just read (2-3x faster on a 5-gram table than in text order).
    # Any sort will do (equal keys find the same place), and NumPy's default one is several
    # times faster than its stable one on int64 (a million keys: 45 ms against 114, sort
    # and searches together).
    order = np.argsort(wanted)
    at = np.empty(len(wanted), np.int64)
    at[order] = np.minimum(np.searchsorted(keys, wanted[order]), len(keys) - 1)
    return valid & (keys[at] == wanted), at


def load_ngram(path: str | Path) -> TextLM:
    """The n-gram model in a file: an ARPA file (:class:`ArpaLM`), or a model file of
    ``ffnlp ngram train`` (:class:`~ffnlp.models.ngram_lm.KneserNeyLM`)."""
    from ffnlp.models.ngram_lm import KneserNeyLM

    if Path(path).is_file() and looks_like_arpa(path):
        return ArpaLM.read(path)
    return KneserNeyLM.load(path)
