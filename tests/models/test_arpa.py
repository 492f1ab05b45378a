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
        sentence = np.array([ids["a"], ids["b"], ids[word]])
        assert math.log(p[ids[word]]) == pytest.approx(lm.log_probs([sentence])[2])
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


def _plain_read(path) -> tuple[dict, dict]:
    """The reference reader: an ARPA file line by line into two dictionaries keyed by each
    n-gram's tuple of words, its log10 probability and its log10 back-off."""
    probs, backoffs, n = {}, {}, 0
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.strip().endswith("-grams:"):
            n = int(line.strip()[1:].split("-")[0])
        elif n and line.strip() and not line.startswith("\\"):
            fields = line.split()
            probs[tuple(fields[1 : n + 1])] = float(fields[0])
            if len(fields) == n + 2:
                backoffs[tuple(fields[1 : n + 1])] = float(fields[n + 1])
    probs.setdefault(("<unk>",), -100.0)
    return probs, backoffs


def _reference_log10(probs, backoffs, context: tuple[str, ...], word: str) -> float:
    """The back-off rule of the module's docstring, written out word by word."""
    if (*context, word) in probs:
        return probs[(*context, word)]
    return backoffs.get(context, 0.0) + _reference_log10(probs, backoffs, context[1:], word)


def _check_every_token(path, lines, order):
    """ArpaLM's log10 probability of every token of ``lines`` against the reference's."""
    lm = ArpaLM.read(path)
    probs, backoffs = _plain_read(path)
    got = lm.log_probs(lm.encode_lines(lines)) / math.log(10)
    expected = []
    for line in lines:
        words = [w if (w,) in probs else "<unk>" for w in line.split()]
        seq = ["<s>", *words, "</s>"]
        expected += [
            _reference_log10(probs, backoffs, tuple(seq[max(0, i - order + 1) : i]), seq[i])
            for i in range(1, len(seq))
        ]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    return lm, got


def _kn_arpa(tmp_path, order: int):
    train = _ptb_like(4, 500)
    tokenizer = Tokenizer("whitespace")
    vocab = Vocab.build([tokenizer(s) for s in train], min_count=2)
    kn = KneserNeyLM(order, vocab=vocab, tokenizer=tokenizer)
    kn.fit([vocab.encode(tokenizer(s)) for s in train], len(vocab))
    kn.to_arpa(tmp_path / "kn.arpa")
    return tmp_path / "kn.arpa"


def test_scoring_applies_the_back_off_rule_to_every_token(tmp_path):
    lines = [*_ptb_like(5, 40), "w1 w2 unseen w3", ""]
    lm, got = _check_every_token(_kn_arpa(tmp_path, 4), lines, 4)
    assert len(got) == sum(len(line.split()) + 1 for line in lines)
    assert len(set(np.round(got, 6))) > 20  # many different values, backed off and listed
    with pytest.raises(ValueError, match=r"token ids must be in \[0, "):
        lm.log_probs([np.array([0, len(lm.vocab)])])


def _pruned(text: str, rng, keep: float) -> str:
    """``text`` with a share of the lines of its middle orders dropped (as pruning does,
    leaving longer n-grams whose prefix is not listed), the header's counts fixed, and the
    remaining lines shuffled within their section."""
    sections, n = {}, 0
    highest = int(text.split("-grams:")[-2].rsplit("\\", 1)[1])
    for line in text.splitlines():
        if line.endswith("-grams:"):
            n = int(line[1:].split("-")[0])
            sections[n] = []
        elif n and line and not line.startswith("\\"):
            if n in (1, highest) or rng.random() < keep:
                sections[n].append(line)
    for lines in sections.values():
        rng.shuffle(lines)
    header = ["\\data\\", *(f"ngram {n}={len(lines)}" for n, lines in sections.items())]
    body = [part for n, lines in sections.items() for part in ("", f"\\{n}-grams:", *lines)]
    return "\n".join([*header, *body, "", "\\end\\", ""])


def test_a_pruned_shuffled_file_scores_by_the_rule(tmp_path, kenlm_or_none):
    """n-grams whose prefixes are not listed (a table row of its own, probability unlisted,
    back-off 0), lines out of order, spaces for tabs, CRLF line ends; and a shuffled file
    against KenLM."""
    full = _kn_arpa(tmp_path, 4).read_text()
    pruned = _pruned(full, np.random.default_rng(0), keep=0.6)
    path = _write(tmp_path, pruned, "pruned.arpa")
    # the same file with spaces for tabs and CRLF line ends (KenLM wants tabs)
    loose = _write(tmp_path, pruned.replace("\t", " ").replace("\n", "\r\n"), "loose.arpa")
    lines = [*_ptb_like(5, 40), *_ptb_like(4, 20), "w1 w2 unseen w3"]
    lm, got = _check_every_token(path, lines, 4)
    np.testing.assert_array_equal(_check_every_token(loose, lines, 4)[1], got)
    probs, _ = _plain_read(path)
    unlisted_prefixes = {g[:-1] for g in probs if len(g) > 2} - set(probs)
    assert unlisted_prefixes  # the case is there
    assert lm.num_ngrams() == [sum(len(g) == n for g in probs) for n in (1, 2, 3, 4)]
    if kenlm_or_none is not None:  # KenLM refuses a file with such gaps: shuffled alone
        shuffled = _write(tmp_path, _pruned(full, np.random.default_rng(1), keep=1.0), "s.arpa")
        model = kenlm_or_none.Model(str(shuffled))
        reference = [model.score(line) for line in lines]
        ours = ArpaLM.read(shuffled).sentence_log_probs(lines) / math.log(10)
        np.testing.assert_allclose(ours, reference, atol=1e-4)
    # next_distribution gives what log_probs gives, after a history that is only a prefix
    ids = lm.encode_lines(["w0 w1 w2 w3"])[0]
    p = lm.next_distribution([Vocab.bos_id, *ids[:3]])
    sentences = [np.append(ids[:3], w) for w in range(len(lm.vocab))]
    scored = lm.log_probs(sentences).reshape(len(lm.vocab), 5)[:, 3]
    np.testing.assert_allclose(np.log(p), scored, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def kenlm_or_none():
    try:
        import kenlm
    except ImportError:
        return None
    return kenlm


def test_an_ngram_listed_twice_is_refused_with_its_line(tmp_path):
    text = HAND_ARPA.replace("ngram 2=4", "ngram 2=5").replace(
        "-0.5\tb c\n", "-0.5\tb c\n-0.6\ta b\n"
    )
    with pytest.raises(ValueError, match=r"m.arpa', line 19: the 2-gram 'a b' is listed twice"):
        ArpaLM.read(_write(tmp_path, text))
