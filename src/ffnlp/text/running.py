"""How a file of running text (what the language models read) is read, guessed from its
content when not given, as :mod:`ffnlp.text.reading` guesses a labelled file's format.

:func:`guess_running_text` judges the file's beginning (the same sample as
:func:`ffnlp.text.reading.guess_format`'s) and fills in what the user did not give:

- the tokenizer: ``whitespace`` for pre-tokenized text, whose punctuation already stands
  apart (PTB, WikiText: fewer than 1 word in 100 with a comma, period, quote or bracket
  stuck to it), else ``regex``, which splits punctuation off words ("end." -> "end", ".");
- the sentences: ``lines`` (each line one) for pre-tokenized text and for raw text whose
  lines end where sentences end, ``prose`` for hard-wrapped raw text (at least 1 line
  break in 5 falls inside a sentence: the line ends without closing punctuation and the
  next begins in lower case), whose paragraphs are joined again and cut into sentences;
- the vocabulary cutoff (:func:`choose_min_count`): keep every word of a text that already
  marks rare words ``<unk>`` (its vocabulary was cut by its makers); otherwise drop words
  seen once (2) below a million training tokens and words seen fewer than 3 times (3, the
  WikiText rule) above, so that ``<unk>`` is trained on real rare words and a word the
  model never saw gets a learned probability (1 when no word is seen that often).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ffnlp.settings import Settings, setting
from ffnlp.text.reading import _sample
from ffnlp.text.tokenize import SENTENCE_MODES, Tokenizer
from ffnlp.text.vocab import UNK

# A word with punctuation stuck to its end or start: raw text ("(see", "said,"). A period
# alone does not count: pre-tokenized corpora keep it in abbreviations ("mr.", "u.s.").
_GLUED = re.compile(r"\w[,;:!?)\]\"”’]+|[(\[\"“‘]+\w")
_SENTENCE_CLOSED = re.compile(r"[.!?:;\"'”’)\]]\s*$")
PRE_TOKENIZED_GLUE = 0.01  # below this share of words with punctuation stuck on
WRAPPED_BREAKS = 0.2  # at least this share of line breaks inside a sentence
LARGE_CORPUS = 1_000_000  # training tokens from which words seen twice are dropped too


@dataclass(frozen=True)
class RunningText:
    """How a file of running text was read: the tokenizer (mode, case, sentences), the
    vocabulary cutoff, and which of them were guessed."""

    tokenizer: Tokenizer
    kind: str  # "pre-tokenized", "raw text" or "hard-wrapped prose", for the message
    guessed: tuple[str, ...] = ()

    def describe(self, min_count: int | None = None, tokens: int | None = None) -> str:
        """The line that says what was chosen and how to say otherwise; ``min_count``: the
        cutoff chosen for ``tokens`` training tokens (None: the user's). Empty when the
        user gave everything."""
        guessed = [*self.guessed, *(["min_count"] if min_count is not None else [])]
        if not guessed:
            return ""
        t = self.tokenizer
        parts = [
            f"--tokenizer {t.mode}"
            + (" (punctuation apart from words)" if t.mode == "regex" else ""),
            "--sentences "
            + (
                "lines (one a line)"
                if t.sentences == "lines"
                else "prose (rebuilt from paragraphs)"
            ),
        ]
        if min_count is not None:
            why = {1: "every word kept", 2: "words seen once become <unk>"}.get(
                min_count, f"words seen fewer than {min_count} times become <unk>"
            )
            parts.append(f"--min-count {min_count} ({why}; {tokens or 0:,} training tokens)")
        flags = ", ".join(f"--{g.replace('_', '-')}" for g in guessed)
        return f"read as {self.kind}: {', '.join(parts)}; guessed ({flags} say otherwise)"


def glued_share(lines: Sequence[str]) -> float:
    """The share of whitespace-separated words with punctuation stuck to them."""
    words = [w for line in lines for w in line.split()]
    if not words:
        return 0.0
    return sum(1 for w in words if _GLUED.search(w) and w != UNK) / len(words)


def wrapped_share(lines: Sequence[str]) -> float:
    """The share of line breaks (between two non-blank lines) that fall inside a sentence:
    the first line ends without closing punctuation, the next begins in lower case."""
    pairs = [(a, b) for a, b in itertools.pairwise(lines) if a.strip() and b.strip()]
    if not pairs:
        return 0.0
    inside = sum(1 for a, b in pairs if not _SENTENCE_CLOSED.search(a) and b.lstrip()[:1].islower())
    return inside / len(pairs)


def guess_running_text(
    text: str,
    tokenizer: str | None = None,
    sentences: str | None = None,
    lowercase: bool = False,
) -> RunningText:
    """The reading of a running ``text``: each setting given is kept, each None guessed
    (see the module docstring)."""
    lines = _sample(text).splitlines()
    pre_tokenized = glued_share(lines) < PRE_TOKENIZED_GLUE
    wrapped = not pre_tokenized and wrapped_share(lines) >= WRAPPED_BREAKS
    guessed = []
    if tokenizer is None:
        tokenizer = "whitespace" if pre_tokenized else "regex"
        guessed.append("tokenizer")
    if sentences is None:
        sentences = "prose" if wrapped else "lines"
        guessed.append("sentences")
    kind = (
        "pre-tokenized text" if pre_tokenized else "hard-wrapped prose" if wrapped else "raw text"
    )
    return RunningText(Tokenizer(tokenizer, lowercase, sentences), kind, tuple(guessed))


def choose_min_count(counts: Mapping[str, int]) -> int:
    """The vocabulary cutoff for a training text of these token ``counts`` (see the module
    docstring); 1 where a higher one would keep no word at all (a text of words seen once).

    >>> choose_min_count({"a": 2, "b": 1}), choose_min_count({"a": 1, "<unk>": 1})
    (2, 1)
    """
    if counts.get(UNK, 0) > 0:
        return 1
    cutoff = 2 if sum(counts.values()) < LARGE_CORPUS else 3
    return cutoff if any(c >= cutoff for c in counts.values()) else 1


@dataclass
class RunningTextSettings(Settings):
    """The language models' own text setting (beside :class:`~ffnlp.text.settings.TextSettings`)."""

    sentences: str | None = setting(
        None,
        "how a file becomes sentences: lines (each non-blank line one, as in PTB or "
        "WikiText), prose (hard-wrapped paragraphs joined again and cut at sentence ends); "
        "unset: guessed from the file",
        kind="choice",
        choices=SENTENCE_MODES,
        optional=True,
    )
