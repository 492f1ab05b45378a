"""Running text as users have it: the guess of tokenizer, sentences and vocabulary cutoff
(ffnlp.text.running), prose cut into sentences, and the held-out blocks of --valid-fraction."""

from __future__ import annotations

from collections import Counter

import pytest

from ffnlp.text import Tokenizer, held_out_blocks, load_corpus
from ffnlp.text.running import choose_min_count, guess_running_text
from ffnlp.text.tokenize import split_sentences

PTB_LIKE = "the <unk> company said it expects N shares\nmr. smith 's offer was n't accepted\n" * 20
WIKI_LIKE = (
    " = Title = \n \n The game , released in 2011 , was <unk> @-@ praised . It sold well . \n" * 20
)
WRAPPED = """It was the best of times, it was the worst of times, it was the age of
wisdom, it was the age of foolishness. It was the season of Light, it was the
season of Darkness.

Mr. Lorry sat at the table (a small one) and waited; the fire was low, and
the night was cold. He said: "We shall see." Then he slept.
"""
ONE_A_LINE = "I loved this film, truly.\nThe plot (such as it is) drags.\nWhat a waste!\n" * 10


@pytest.mark.parametrize(
    ("text", "kind", "mode", "sentences"),
    [
        (PTB_LIKE, "pre-tokenized text", "whitespace", "lines"),
        (WIKI_LIKE, "pre-tokenized text", "whitespace", "lines"),
        (WRAPPED * 3, "hard-wrapped prose", "regex", "prose"),
        (ONE_A_LINE, "raw text", "regex", "lines"),
    ],
)
def test_the_guess_tells_pre_tokenized_text_raw_lines_and_hard_wrapped_prose(
    text, kind, mode, sentences
):
    running = guess_running_text(text)
    assert (running.kind, running.tokenizer.mode, running.tokenizer.sentences) == (
        kind,
        mode,
        sentences,
    )
    assert running.guessed == ("tokenizer", "sentences")


def test_what_is_given_is_kept_and_not_said_to_be_guessed():
    running = guess_running_text(WRAPPED, tokenizer="whitespace", lowercase=True)
    assert running.tokenizer == Tokenizer("whitespace", True, "prose")
    assert running.guessed == ("sentences",)
    assert guess_running_text(WRAPPED, "regex", "lines").describe() == ""
    line = running.describe(2, 1234)
    assert line == (
        "read as hard-wrapped prose: --tokenizer whitespace, --sentences prose (rebuilt from "
        "paragraphs), --min-count 2 (words seen once become <unk>; 1,234 training tokens); "
        "guessed (--sentences, --min-count say otherwise)"
    )


def test_hard_wrapped_prose_becomes_its_sentences():
    sentences = Tokenizer("regex", sentences="prose").sentence_texts(WRAPPED)
    assert sentences == [
        "It was the best of times, it was the worst of times, it was the age of wisdom, it "
        "was the age of foolishness.",
        "It was the season of Light, it was the season of Darkness.",
        "Mr. Lorry sat at the table (a small one) and waited; the fire was low, and the "
        "night was cold.",
        'He said: "We shall see."',
        "Then he slept.",
    ]
    # a sentence never runs across a blank line, even without a closing period
    assert Tokenizer(sentences="prose").sentence_texts("A title\n\nThe text.\n") == [
        "A title",
        "The text.",
    ]
    assert Tokenizer().sentence_texts("one line\n\n  \ntwo\n") == ["one line", "two"]


def test_sentences_end_at_stops_not_at_abbreviations_initials_or_lower_case():
    assert split_sentences(
        "Dr. No met J. R. Hartley at 3 p.m. today. Wow! 1990 came. e.g. this"
    ) == [
        "Dr. No met J. R. Hartley at 3 p.m. today.",
        "Wow!",
        "1990 came. e.g. this",
    ]
    assert split_sentences("") == [] and split_sentences("No stop") == ["No stop"]


def test_load_corpus_reads_prose_as_its_tokenizer_says(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text(WRAPPED)
    sentences = load_corpus(path, Tokenizer("regex", sentences="prose"))
    assert len(sentences) == 5 and sentences[3] == [
        "He",
        "said",
        ":",
        '"',
        "We",
        "shall",
        "see",
        ".",
        '"',
    ]


def test_a_tokenizer_file_without_sentences_reads_lines():
    assert Tokenizer.from_dict({"mode": "regex", "lowercase": True}) == Tokenizer("regex", True)
    tokenizer = Tokenizer("char", False, "prose")
    assert Tokenizer.from_dict(tokenizer.to_dict()) == tokenizer
    with pytest.raises(ValueError, match="sentences must be one of"):
        Tokenizer(sentences="paragraphs")


def test_the_cutoff_comes_from_the_data_size_and_its_own_unk():
    assert choose_min_count(Counter({"a": 5, "b": 1})) == 2
    assert choose_min_count(Counter({"a": 999_999, "b": 2})) == 3  # a million tokens
    assert choose_min_count(Counter({"a": 5, "<unk>": 3})) == 1  # a vocabulary already cut
    assert choose_min_count(Counter({"a": 1, "b": 1})) == 1  # 2 would keep no word


def test_held_out_blocks_are_contiguous_seeded_and_of_the_fraction():
    items = list(range(1000))
    kept, held, spans = held_out_blocks(items, 0.1, seed=3)
    assert len(held) == 100 and len(kept) == 900 and sorted(kept + held) == items
    assert len(spans) == 10 and all(stop - start == 10 for start, stop in spans)
    for k, (start, stop) in enumerate(spans):  # one block in each tenth of the text
        assert items[start:stop] == held[10 * k : 10 * k + 10]
        assert 100 * k <= start and stop <= 100 * (k + 1)
    assert held_out_blocks(items, 0.1, seed=3) == (kept, held, spans)
    assert held_out_blocks(items, 0.1, seed=4)[2] != spans
    kept, held, spans = held_out_blocks(list(range(7)), 0.3)
    assert (len(held), len(spans)) == (2, 2)


@pytest.mark.parametrize(
    ("n", "fraction", "message"),
    [
        (100, 0.0, r"must be a number in \(0, 0.5\]"),
        (100, 0.6, r"must be a number in \(0, 0.5\]"),
        (100, True, r"must be a number in \(0, 0.5\]"),
        (4, 0.1, "--valid-fraction 0.1 of 4 sentences holds out none"),
    ],
)
def test_held_out_blocks_refuse_a_fraction_that_is_no_validation_set(n, fraction, message):
    with pytest.raises(ValueError, match=message):
        held_out_blocks(list(range(n)), fraction)
