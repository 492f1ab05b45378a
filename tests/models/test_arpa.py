"""ARPA files read by ArpaLM: a hand-written trigram file worked by hand, ffnlp's own
Kneser-Ney models written as ARPA and read back, and both checked against KenLM's query
(the ``kenlm`` package) when it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ffnlp.cli import main
from ffnlp.models.arpa import ArpaLM, load_ngram, looks_like_arpa
from ffnlp.models.ngram_lm import KneserNeyLM
from ffnlp.text import Tokenizer, Vocab

# A trigram file with back-offs at both lower orders, an n-gram with no back-off and words
# whose every use backs off. The expected values below are worked by hand.
HAND_ARPA = """\
\\data\\
ngram 1=6
ngram 2=4
ngram 3=2

\\1-grams:
-1.0\t<unk>
-99\t<s>\t-0.5
-0.7\t</s>
-0.6\ta\t-0.3
-0.8\tb\t-0.2
-0.9\tc

\\2-grams:
-0.2\t<s> a\t-0.1
-0.4\ta b\t-0.25
-0.3\tb </s>
-0.5\tb c

\\3-grams:
-0.05\t<s> a b
-0.15\ta b c

\\end\\
"""

# (sentence, log10 probability of each predicted token, </s> last)
HAND_CASES = [
    # p(a|<s>) and p(b|<s> a), p(c|a b) listed; </s> after "b c": nothing listed, no
    # back-off of "b c" or "c": the unigram.
    ("a b c", [-0.2, -0.05, -0.15, -0.7]),
    # </s> after "a b": bow(a b) + p(</s> | b), which is listed.
    ("a b", [-0.2, -0.05, -0.25 - 0.3]),
    # b after <s>: bow(<s>) + p(b); a after "<s> b": "<s> b" unlisted (0), bow(b) + p(a);
    # an unknown word is <unk>: bow(a) + p(<unk>); then </s> from the unigram.
    ("b a zebra", [-0.5 - 0.8, -0.2 - 0.6, -0.3 - 1.0, -0.7]),
]


def _write(tmp_path, text, name="m.arpa"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _ptb_like(seed: int, n: int) -> list[str]:
    """Sentences of Zipf-distributed words, with PTB's literal <unk> and N tokens."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(120)] + ["<unk>", "N"])
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    return [" ".join(rng.choice(words, size=rng.integers(1, 16), p=p)) for _ in range(n)]


@pytest.fixture(scope="module")
def kenlm():
    return pytest.importorskip(
        "kenlm", reason="the kenlm package is not installed (pip install kenlm builds it)"
    )


def _kenlm_perplexity(model, lines):
    total = sum(model.score(line, bos=True, eos=True) for line in lines)
    return 10.0 ** (-total / sum(len(line.split()) + 1 for line in lines))


@pytest.mark.parametrize("preface", ["", "a comment before the header is skipped\n\n"])
def test_hand_written_file_by_hand(tmp_path, preface):
    lm = ArpaLM.read(_write(tmp_path, preface + HAND_ARPA))
    assert lm.order == 3 and lm.num_ngrams() == [6, 4, 2]
    assert lm.vocab.itos[:3] == ["<unk>", "<s>", "</s>"]
    for sentence, expected in HAND_CASES:
        got = lm.log_probs(lm.encode_lines([sentence])) / math.log(10)
        np.testing.assert_allclose(got, expected, atol=1e-12)
        assert lm.sentence_log_probs([sentence])[0] == pytest.approx(
            sum(expected) * math.log(10), abs=1e-12
        )


def test_next_distribution_follows_the_back_off_rule(tmp_path):
    lm = ArpaLM.read(_write(tmp_path, HAND_ARPA))
    ids = {w: i for i, w in enumerate(lm.vocab.itos)}
    p = lm.next_distribution([ids["<s>"], ids["a"], ids["b"]])  # history "a b"
    assert math.log10(p[ids["c"]]) == pytest.approx(-0.15)  # the trigram
    assert math.log10(p[ids["</s>"]]) == pytest.approx(-0.25 - 0.3)  # bow(a b) + bigram
    assert math.log10(p[ids["a"]]) == pytest.approx(-0.25 - 0.2 - 0.6)  # bow(a b) bow(b) p(a)
    # each entry is the probability log_probs gives the same word in the same place
    for word in ("a", "b", "c", "</s>", "<unk>"):
        context = (ids["a"], ids["b"])
        assert math.log10(p[ids[word]]) == pytest.approx(lm._log10_prob(context, ids[word]))
    # nothing before <s> counts
    np.testing.assert_array_equal(
        lm.next_distribution([ids["c"], ids["<s>"]]), lm.next_distribution([ids["<s>"]])
    )


def test_hand_written_file_against_kenlm(tmp_path, kenlm):
    path = _write(tmp_path, HAND_ARPA)
    lm, reference = ArpaLM.read(path), kenlm.Model(str(path))
    for sentence, expected in HAND_CASES:
        assert reference.score(sentence) == pytest.approx(sum(expected), abs=1e-5)
        assert lm.sentence_log_probs([sentence])[0] / math.log(10) == pytest.approx(
            reference.score(sentence), abs=1e-5
        )


def test_a_file_without_unk_gives_unknown_words_kenlms_minus_100(tmp_path, kenlm):
    text = (
        "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-99\t<s>\n-0.5\t</s>\n-0.3\ta\n\n"
        "\\2-grams:\n-0.1\t<s> a\n\n\\end\\\n"
    )
    path = _write(tmp_path, text)
    lm = ArpaLM.read(path)
    assert "<unk>" in lm.vocab
    # p(a | <s>), then <unk> after "a": -100 (no back-off of "a"), then p(</s>)
    assert lm.sentence_log_probs(["a zebra"])[0] / math.log(10) == pytest.approx(-100.6)
    assert kenlm.Model(str(path)).score("a zebra") == pytest.approx(-100.6, abs=1e-4)


@pytest.mark.parametrize("order", [2, 3, 5])
def test_ffnlp_kneser_ney_written_as_arpa_reads_back_the_same(tmp_path, order):
    train, test = _ptb_like(0, 600), [*_ptb_like(1, 80), "never seen words here"]
    tokenizer = Tokenizer("whitespace")
    vocab = Vocab.build([tokenizer(s) for s in train], min_count=2)  # some words become <unk>
    kn = KneserNeyLM(order, vocab=vocab, tokenizer=tokenizer)
    kn.fit([vocab.encode(tokenizer(s)) for s in train], len(vocab))
    kn.to_arpa(tmp_path / "kn.arpa")
    arpa = ArpaLM.read(tmp_path / "kn.arpa")
    assert arpa.vocab.itos == vocab.itos and arpa.order == order
    # the file's numbers are written with 6 decimals: equal to that
    np.testing.assert_allclose(
        arpa.log_probs(arpa.encode_lines(test)), kn.log_probs(kn.encode_lines(test)), atol=1e-4
    )
    p = arpa.next_distribution(arpa.encode_lines(["w1 w2 w3"])[0].tolist())
    q = kn.next_distribution(kn.encode_lines(["w1 w2 w3"])[0].tolist())
    np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-9)
    assert p.sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_perplexity_of_an_arpa_file_equals_kenlms(tmp_path, order, kenlm):
    train, test = _ptb_like(2, 600), _ptb_like(3, 100)
    tokenizer = Tokenizer("whitespace")
    vocab = Vocab.build([tokenizer(s) for s in train], min_count=2)
    kn = KneserNeyLM(order, vocab=vocab, tokenizer=tokenizer)
    kn.fit([vocab.encode(tokenizer(s)) for s in train], len(vocab))
    kn.to_arpa(tmp_path / "kn.arpa")
    ours = ArpaLM.read(tmp_path / "kn.arpa")
    theirs = _kenlm_perplexity(kenlm.Model(str(tmp_path / "kn.arpa")), test)
    assert ours.perplexity(ours.encode_lines(test)) == pytest.approx(theirs, abs=0.01)
    assert 10 < theirs < 200  # a real model, not a degenerate one
    per_sentence = ours.sentence_log_probs(test) / math.log(10)
    reference = [kenlm.Model(str(tmp_path / "kn.arpa")).score(s) for s in test[:10]]
    np.testing.assert_allclose(per_sentence[:10], reference, atol=1e-4)


def test_load_ngram_tells_arpa_from_ffnlp_files(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\nb c a\n" * 5)
    assert (
        main(["ngram", "train", str(corpus), "--out", str(tmp_path / "m.npz"), "--order", "2"]) == 0
    )
    assert isinstance(load_ngram(tmp_path / "m.npz"), KneserNeyLM)
    assert isinstance(load_ngram(_write(tmp_path, HAND_ARPA)), ArpaLM)
    assert looks_like_arpa(tmp_path / "m.arpa") and not looks_like_arpa(tmp_path / "m.npz")


def test_the_ngram_commands_on_an_arpa_file(tmp_path, capsys):
    path = str(_write(tmp_path, HAND_ARPA))
    text = tmp_path / "t.txt"
    text.write_text("a b c\nb a zebra\n")
    assert main(["ngram", "eval", path, str(text), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    total = sum(sum(expected) for s, expected in HAND_CASES if s in ("a b c", "b a zebra"))
    assert result["tokens"] == 8
    assert result["perplexity"] == pytest.approx(10 ** (-total / 8))
    assert main(["ngram", "score", path, str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert float(lines[0].split("\t")[0]) == pytest.approx(-1.1 * math.log(10), abs=1e-4)
    assert main(["ngram", "predict", path, "a", "b", "-k", "2"]) == 0
    # after "a b": c (-0.15) then </s> (-0.55)
    assert capsys.readouterr().out.split() == ["a", "b", "c", "0.7079", "</s>", "0.2818"]
    assert main(["ngram", "generate", path, "-n", "3", "--seed", "1"]) == 0
    sentences = capsys.readouterr().out.splitlines()
    assert len(sentences) == 3 and all(set(s.split()) <= {"a", "b", "c"} for s in sentences)


BAD_ARPA = {
    "no-header": ("ngram 1=2\n\\1-grams:\n-1 <s>\n-1 </s>\n\\end\\\n", "has no \\data\\ header"),
    "bad-count-line": (
        "\\data\\\nngram one=3\n\\1-grams:\n",
        "the \\data\\ header has 'ngram one=3' where 'ngram N=COUNT' was expected",
    ),
    "orders-with-a-gap": (
        "\\data\\\nngram 1=2\nngram 3=1\n\\1-grams:\n",
        "must give 'ngram N=COUNT' for the orders 1 to N; it gives [1, 3]",
    ),
    "count-does-not-match": (
        "\\data\\\nngram 1=3\n\n\\1-grams:\n-1 <s>\n-1 </s>\n\n\\end\\\n",
        "the header says 3 1-grams, but the \\1-grams: section has 2",
    ),
    "short-entry": (
        "\\data\\\nngram 1=2\nngram 2=1\n\\1-grams:\n-1 <s>\n-1 </s>\n\\2-grams:\n-1 <s>\n\\end\\\n",
        "line 8: a 2-gram entry needs a log10 probability, 2 words and an optional back-off",
    ),
    "undeclared-section": (
        "\\data\\\nngram 1=2\n\\1-grams:\n-1 <s>\n-1 </s>\n\\2-grams:\n-1 <s> </s>\n\\end\\\n",
        "a \\2-grams: section, but the header declares orders 1 to 1",
    ),
    "no-end": ("\\data\\\nngram 1=2\n\\1-grams:\n-1 <s>\n-1 </s>\n", "has no \\end\\ line"),
    "no-sentence-start": (
        "\\data\\\nngram 1=2\n\\1-grams:\n-1 a\n-1 </s>\n\\end\\\n",
        "the unigrams have no <s>",
    ),
    "unknown-word-in-bigram": (
        "\\data\\\nngram 1=2\nngram 2=1\n\\1-grams:\n-1 <s>\n-1 </s>\n\\2-grams:\n-1 <s> x\n\\end\\\n",
        "the 2-gram '<s> x' has the word 'x', which is not among the unigrams",
    ),
    "nan-probability": (
        "\\data\\\nngram 1=2\n\\1-grams:\n-1 <s>\nnan </s>\n\\end\\\n",
        "line 5: 'nan </s>' has a log10 value that is not a number or is +infinity",
    ),
    "not-a-number": (
        "\\data\\\nngram 1=2\n\\1-grams:\nhigh <s>\n-1 </s>\n\\end\\\n",
        "line 4: 'high <s>' does not start with a number",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_ARPA))
def test_broken_arpa_files_are_refused_in_one_line(tmp_path, name):
    text, message = BAD_ARPA[name]
    with pytest.raises(ValueError) as info:
        ArpaLM.read(_write(tmp_path, text))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "m.arpa" in str(info.value)


def test_the_neural_lm_mixes_with_an_arpa_file_as_with_the_model_file(tmp_path, capsys):
    import json

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(_ptb_like(4, 60)) + "\n")
    kn, arpa, lm = (str(tmp_path / n) for n in ("kn.npz", "kn.arpa", "lm.npz"))
    assert main(["ngram", "train", str(corpus), "--order", "3", "--out", kn, "--arpa", arpa]) == 0
    assert main(["lm", "train", str(corpus), "--out", lm, "--context-size", "2",
                 "--embed-dim", "4", "--hidden", "8", "--epochs", "1", "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    results = []
    for ngram in (kn, arpa):
        argv = ["lm", "eval", lm, str(corpus), "--ngram", ngram, "--weight", "0.5", "--json"]
        assert main(argv) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0]["ngram_perplexity"] == pytest.approx(results[1]["ngram_perplexity"], rel=1e-5)
    assert results[0]["interpolated_perplexity"] == pytest.approx(
        results[1]["interpolated_perplexity"], rel=1e-5
    )


def _reference_log10(lm: ArpaLM, context: tuple[int, ...], word: int) -> float:
    """The back-off rule of the module's docstring, written out word by word."""
    if context and (*context, word) in lm.probs[len(context) + 1]:
        return lm.probs[len(context) + 1][(*context, word)]
    if not context:
        return lm.probs[1][(word,)]
    return lm.backoffs[len(context)].get(context, 0.0) + _reference_log10(lm, context[1:], word)


def _kn_arpa(tmp_path, order: int):
    train = _ptb_like(4, 500)
    tokenizer = Tokenizer("whitespace")
    vocab = Vocab.build([tokenizer(s) for s in train], min_count=2)
    kn = KneserNeyLM(order, vocab=vocab, tokenizer=tokenizer)
    kn.fit([vocab.encode(tokenizer(s)) for s in train], len(vocab))
    kn.to_arpa(tmp_path / "kn.arpa")
    return tmp_path / "kn.arpa"


def test_scoring_applies_the_back_off_rule_to_every_token(tmp_path):
    lm = ArpaLM.read(_kn_arpa(tmp_path, 4))
    sentences = lm.encode_lines([*_ptb_like(5, 40), "w1 w2 unseen w3"])
    got = lm.log_probs(sentences) / math.log(10)
    expected = []
    for s in sentences:
        seq = [Vocab.bos_id, *s.tolist(), Vocab.eos_id]
        expected += [
            _reference_log10(lm, tuple(seq[max(0, i - 3) : i]), seq[i]) for i in range(1, len(seq))
        ]
    assert len(got) == sum(len(s) + 1 for s in sentences)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert len(set(np.round(got, 6))) > 20  # many different values, backed off and listed
    with pytest.raises(ValueError, match=r"token ids must be in \[0, "):
        lm.log_probs([np.array([0, len(lm.vocab)])])


def test_reading_pauses_the_garbage_collector_and_gives_it_back(tmp_path, monkeypatch):
    import gc

    import ffnlp.models.arpa as arpa

    seen = []
    build = arpa.ArpaLM.__init__
    monkeypatch.setattr(
        arpa.ArpaLM, "__init__", lambda *a: seen.append(gc.isenabled()) or build(*a)
    )
    assert gc.isenabled()
    ArpaLM.read(_write(tmp_path, HAND_ARPA))
    assert seen and not any(seen) and gc.isenabled()  # paused while reading, on after
    with pytest.raises(ValueError, match="the unigrams have no <s>"):
        ArpaLM.read(_write(tmp_path, BAD_ARPA["no-sentence-start"][0]))
    assert gc.isenabled()  # after an error too
    gc.disable()
    try:
        ArpaLM.read(_write(tmp_path, HAND_ARPA))
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
