"""Tokenizers: turn a line of text into a list of tokens.

Three modes cover the corpora ffnlp is used on:

- ``"whitespace"``: split on runs of whitespace, for pre-tokenized corpora such as the Penn
  Treebank language-modelling split.
- ``"regex"``: words, numbers and single punctuation marks from raw text
  ("Don't stop!" -> ["don't", "stop", "!"] with lower-casing).
- ``"char"``: every character is a token, for character-level models (names).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ffnlp.checks import check_choice

TOKENIZER_MODES = ("whitespace", "regex", "char")

# A word is letters/digits with inner apostrophes, hyphens or periods (don't, e-mail, u.s.);
# anything else that is not a space is a token of its own (punctuation).
_WORD = re.compile(r"\w+(?:['’.\-]\w+)*|[^\w\s]", re.UNICODE)


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

    def __post_init__(self) -> None:
        check_choice("tokenizer mode", self.mode, TOKENIZER_MODES)

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
        return cls(mode=data["mode"], lowercase=bool(data["lowercase"]))
