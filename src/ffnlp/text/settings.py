"""How texts become words and words become vocabulary rows: the text settings every
command that reads text shares (``--tokenizer``, ``--lowercase``, ``--min-count``,
``--max-vocab``), and the classifier's reading of words outside the vocabulary."""

from __future__ import annotations

from dataclasses import dataclass

from ffnlp.settings import Settings, setting
from ffnlp.text.tokenize import TOKENIZER_MODES, Tokenizer

UNKNOWN_WORDS = ("unk", "prefix")


@dataclass
class TextSettings(Settings):
    """The text settings; see each field's help."""

    tokenizer: str = setting(
        "whitespace",
        "how texts become tokens: whitespace (pre-tokenized text such as PTB), regex (raw "
        "text: words and punctuation apart), char (characters)",
        kind="choice",
        choices=TOKENIZER_MODES,
    )
    lowercase: bool = setting(False, "lower-case the text first", kind="bool")
    min_count: int = setting(
        1, "keep words seen at least this often; rarer ones become <unk>", kind="int", minimum=1
    )
    max_vocab: int | None = setting(
        None,
        "keep at most this many tokens, specials included (default: no limit)",
        kind="int",
        minimum=1,
        optional=True,
    )
    unknown_words: str = setting(
        "unk",
        "read a word outside the vocabulary as <unk>, or as the known word sharing its "
        "longest beginning when that covers all but its last 3 characters and at least 5 "
        "(embarrassing as embarrassed)",
        kind="choice",
        choices=UNKNOWN_WORDS,
    )

    def make_tokenizer(self) -> Tokenizer:
        return Tokenizer(self.tokenizer, self.lowercase)

    @property
    def keeps_every_word(self) -> bool:
        """Whether every word training saw has a row (no cutoff, no cap)."""
        return self.min_count <= 1 and self.max_vocab is None
