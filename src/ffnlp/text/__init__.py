"""Text: tokenizers, vocabularies, corpora and the n-gram context windows models train on."""

from ffnlp.text import encoded
from ffnlp.text.batching import (
    length_bucketed_minibatches,
    minibatches,
    num_batches,
    strided_minibatches,
)
from ffnlp.text.datasets import held_out_blocks, load_corpus, read_lines, read_text, split
from ffnlp.text.ngrams import LAYOUTS, StreamWindows, context_windows, padded_sentences
from ffnlp.text.tokenize import TOKENIZER_MODES, Tokenizer
from ffnlp.text.vocab import BOS, EOS, SPECIALS, UNK, Vocab

__all__ = [
    "BOS",
    "EOS",
    "LAYOUTS",
    "SPECIALS",
    "TOKENIZER_MODES",
    "UNK",
    "StreamWindows",
    "Tokenizer",
    "Vocab",
    "context_windows",
    "encoded",
    "held_out_blocks",
    "length_bucketed_minibatches",
    "load_corpus",
    "minibatches",
    "num_batches",
    "padded_sentences",
    "read_lines",
    "read_text",
    "split",
    "strided_minibatches",
]
