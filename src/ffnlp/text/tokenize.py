"""Tokenizers: turn a line of text into a list of tokens.

Three modes cover the corpora ffnlp is used on:

- ``"whitespace"``: split on runs of whitespace, for pre-tokenized corpora such as the Penn
  Treebank language-modelling split.
- ``"regex"``: words, numbers and single punctuation marks from raw text
  ("Don't stop!" -> ["don't", "stop", "!"] with lower-casing).
- ``"char"``: every character is a token, for character-level models (names).

And two ways a whole file becomes sentences (:meth:`Tokenizer.sentences`):

- ``"lines"``: each non-blank line is one sentence (PTB, WikiText: pre-split corpora);
- ``"prose"``: raw prose as people keep it, hard-wrapped: the lines of a paragraph (up to a
  blank line) are joined again, and the paragraph is cut into sentences after ``.``, ``!``
  or ``?`` followed by a capital or a digit (not after an initial or a common abbreviation
  such as "Mr." or "e.g.").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ffnlp.checks import check_choice

TOKENIZER_MODES = ("whitespace", "regex", "char")
SENTENCE_MODES = ("lines", "prose")

# A word is letters/digits with inner apostrophes, hyphens or periods (don't, e-mail, u.s.);
# anything else that is not a space is a token of its own (punctuation).
_WORD = re.compile(r"\w+(?:['’.\-]\w+)*|[^\w\s]", re.UNICODE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
# A sentence ends at . ! ? (and the quotes or brackets closing it) before white space...
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")
# ... unless the period ends one of these (compared lower-cased, without the period).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof rev st jr sr vs etc e.g i.e cf no nos fig figs vol inc ltd co corp mt "
    "gen col capt lt sgt gov sen rep jan feb mar apr jun jul aug sep sept oct nov dec".split()
)


@dataclass(frozen=True)
class Tokenizer:
    """Splits text into tokens.

    Args:
        mode: "whitespace", "regex" or "char" (see the module docstring).
        lowercase: lower-case the text first.

    >>> Tokenizer("regex", lowercase=True)("Don't stop -- it's 9.5!")
    ["don't", 'stop', '-', '-', "it's", '9.5', '!']
    """

    mode: str = "whitespace"
    lowercase: bool = False
    sentences: str = "lines"

    def __post_init__(self) -> None:
        check_choice("tokenizer mode", self.mode, TOKENIZER_MODES)
        check_choice("sentences", self.sentences, SENTENCE_MODES)

    def sentence_texts(self, text: str) -> list[str]:
        """The sentences of a whole file's ``text``, as strings (see the module docstring):
        its non-blank lines, or (``sentences="prose"``) its paragraphs cut into sentences."""
        if self.sentences == "lines":
            return [line for line in text.splitlines() if line.strip()]
        paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
        return [s for p in paragraphs for s in split_sentences(p)]

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        if self.mode == "whitespace":
            return text.split()
        if self.mode == "regex":
            return _WORD.findall(text)
        return list(text.rstrip("\r\n"))

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        """The tokens of each text: ``[self(t) for t in texts]``, faster for many texts."""
        if self.lowercase:
            texts = map(str.lower, texts)
        if self.mode == "whitespace":
            return list(map(str.split, texts))
        if self.mode == "regex":
            return list(map(_WORD.findall, texts))
        return [list(t.rstrip("\r\n")) for t in texts]

    def join(self, tokens: list[str]) -> str:
        """The inverse, as far as it goes: characters are concatenated, words spaced."""
        return "".join(tokens) if self.mode == "char" else " ".join(tokens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        # files written before "sentences" existed read one sentence a line
        return cls(
            mode=data["mode"],
            lowercase=bool(data["lowercase"]),
            sentences=data.get("sentences", "lines"),
        )


def split_sentences(paragraph: str) -> list[str]:
    """A paragraph (one line of text) cut into sentences.

    >>> split_sentences("Mr. Smith came at 9 p.m. on Monday. He left! 'Why?' she asked. J. Doe")
    ['Mr. Smith came at 9 p.m. on Monday.', 'He left!', "'Why?' she asked.", 'J. Doe']
    """
    out, start = [], 0
    for end in _SENTENCE_END.finditer(paragraph):
        rest = paragraph[end.end() :].lstrip("\"'“‘([")
        if not rest or not (rest[0].isupper() or rest[0].isdigit()):
            continue  # "9 p.m. on Monday": a lower-case word goes on with the sentence
        word = paragraph[start : end.start()].rsplit(None, 1)[-1:]
        stem = word[0].lower().lstrip("\"'“‘([") if word else ""
        single_period = end.group()[0] == "." and not end.group().startswith("..")
        if single_period and ((len(stem) == 1 and stem.isalpha()) or stem in _ABBREVIATIONS):
            continue  # an initial (J. Doe) or an abbreviation (Mr. Smith)
        out.append(paragraph[start : end.end()].strip())
        start = end.end()
    if paragraph[start:].strip():
        out.append(paragraph[start:].strip())
    return out
