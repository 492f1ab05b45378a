"""Kneser-Ney: the vectorised model against a plain dictionary implementation of the same
formulas, normalisation, ARPA export and save/load."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from ffnlp import io
from ffnlp.models.ngram_lm import KneserNeyLM, interpolate_log_probs, interpolate_weight
from ffnlp.text import Tokenizer, Vocab

BOS, EOS = Vocab.bos_id, Vocab.eos_id


def _corpus(seed: int, sentences: int = 60, words: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Zipf-like word choice so that counts of 1, 2, 3 and 4 all occur.
    p = 1 / np.arange(1, words + 1)
    p /= p.sum()
    return [rng.choice(words, size=rng.integers(0, 9), p=p) + 3 for _ in range(sentences)]


class ReferenceKN:
    """Interpolated modified Kneser-Ney written plainly with dictionaries, one n-gram at a
    time: the definition the vectorised model must reproduce."""

    def __init__(self, sentences, order, V):
        self.order, self.V = order, V
        raw = [Counter() for _ in range(order + 1)]
        for s in sentences:
            seq = [BOS, *s.tolist(), EOS]
            for t in range(1, len(seq)):
                for n in range(1, order + 1):
                    if t - n + 1 >= 0:
                        raw[n][tuple(seq[t - n + 1 : t + 1])] += 1
        self.c = [Counter() for _ in range(order + 1)]
        self.c[order] = raw[order]
        for n in range(1, order):
            left = defaultdict(set)
            for gram in raw[n + 1]:
                left[gram[1:]].add(gram[0])
            for gram, count in raw[n].items():
                self.c[n][gram] = count if gram[0] == BOS else len(left[gram])
        self.D = [None]
        for n in range(1, order + 1):
            nk = [sum(1 for v in self.c[n].values() if v == k) for k in range(5)]
            if min(nk[1:5]) == 0:
                self.D.append([0, 0.5, 1.0, 1.5])
                continue
            y = nk[1] / (nk[1] + 2 * nk[2])
            self.D.append(
                [0, 1 - 2 * y * nk[2] / nk[1], 2 - 3 * y * nk[3] / nk[2], 3 - 4 * y * nk[4] / nk[3]]
            )
        self.hist = [None] + [defaultdict(lambda: [0, 0.0]) for _ in range(order)]
        for n in range(1, order + 1):
            for gram, count in self.c[n].items():
                h = self.hist[n][gram[:-1]]
                h[0] += count
                h[1] += self.D[n][min(count, 3)]

    def prob(self, history, w):
        total, removed = self.hist[1][()]
        p = max(self.c[1][(w,)] - self.D[1][min(self.c[1][(w,)], 3)], 0) / total
        p += removed / total * (0.0 if w == BOS else 1 / (self.V - 1))
        for n in range(2, self.order + 1):
            if len(history) < n - 1:
                break
            h = tuple(history[len(history) - n + 1 :])
            total, removed = self.hist[n].get(h, (0, 0.0))
            if total == 0:
                continue
            count = self.c[n][(*h, w)]
            p = max(count - self.D[n][min(count, 3)], 0) / total + removed / total * p
        return p

    def log_probs(self, sentences):
        out = []
        for s in sentences:
            seq = [BOS, *s.tolist(), EOS]
            for t in range(1, len(seq)):
                out.append(math.log(self.prob(seq[max(0, t - self.order + 1) : t], seq[t])))
        return np.array(out)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_matches_the_reference_implementation(order):
    train, test = _corpus(0), _corpus(1, sentences=20, words=14)  # test has unseen words
    V = 3 + 14
    lm = KneserNeyLM(order).fit(train, V)
    ref = ReferenceKN(train, order, V)
    np.testing.assert_allclose(lm.log_probs(test), ref.log_probs(test), rtol=1e-12)
    np.testing.assert_allclose(lm.log_probs(train), ref.log_probs(train), rtol=1e-12)
    for n in range(1, order + 1):
        np.testing.assert_allclose(lm.discounts[n], ref.D[n], rtol=1e-12)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_every_distribution_sums_to_one(order):
    train = _corpus(2)
    lm = KneserNeyLM(order).fit(train, 17)
    contexts = [[BOS], [BOS, 3], [3, 4, 5], [16, 16], [BOS, 16, 3], []]
    for context in contexts:
        p = lm.next_distribution(context)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert p[BOS] == 0 and np.all(p[3:] > 0)


def test_next_distribution_agrees_with_log_probs():
    train = _corpus(3)
    lm = KneserNeyLM(3).fit(train, 15)
    sentence = np.array([3, 4, 3, 7])
    expected = lm.log_probs([sentence])
    context = [BOS, BOS]
    got = []
    for token in [*sentence.tolist(), EOS]:
        got.append(np.log(lm.next_distribution(context)[token]))
        context = [*context[1:], token]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def _read_arpa(path):
    probs, bows, section = {}, {}, None
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1])
            continue
        if section is None or not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        gram = tuple(parts[1].split(" "))
        probs[gram] = float(parts[0])
        if len(parts) == 3:
            bows[gram] = float(parts[2])
    return probs, bows


def _arpa_log10_prob(probs, bows, gram):
    if gram in probs:
        return probs[gram]
    return bows.get(gram[:-1], 0.0) + _arpa_log10_prob(probs, bows, gram[1:])


def test_arpa_export_reproduces_the_model(tmp_path):
    train = _corpus(4)
    tokens = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(12)]
    vocab = Vocab(tokens)
    lm = KneserNeyLM(3).fit(train, len(vocab))
    path = tmp_path / "model.arpa"
    lm.to_arpa(path, vocab)
    text = path.read_text()
    assert text.startswith("\n\\data\\\nngram 1=15\n")
    probs, bows = _read_arpa(path)
    assert probs[("<s>",)] == -99.0
    test = _corpus(5, sentences=10)
    expected = lm.log_probs(test) / np.log(10)
    got = []
    for s in test:
        seq = ["<s>", *[tokens[i] for i in s], "</s>"]
        for t in range(1, len(seq)):
            got.append(_arpa_log10_prob(probs, bows, tuple(seq[max(0, t - 2) : t + 1])))
    np.testing.assert_allclose(got, expected, atol=2e-6)  # ARPA keeps 6 decimals


def test_save_and_load_round_trip(tmp_path):
    train = _corpus(6)
    vocab = Vocab(["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(12)])
    lm = KneserNeyLM(3, vocab=vocab, tokenizer=Tokenizer()).fit(train, len(vocab))
    lm.save(tmp_path / "kn.npz")
    again = KneserNeyLM.load(tmp_path / "kn.npz")
    test = _corpus(7, sentences=5)
    np.testing.assert_array_equal(again.log_probs(test), lm.log_probs(test))
    assert again.vocab == vocab and again.order == 3
    assert again.generate(num_sentences=2, seed=1) == lm.generate(num_sentences=2, seed=1)
    words = [w for w, _ in again.predict_next("w0 w1", k=4)]
    assert len(words) == 4 and "<s>" not in words
    with pytest.raises(
        ValueError, match="holds a 'kneser_ney_lm' model, not a 'feedforward_lm' model"
    ):
        io.load_archive(tmp_path / "kn.npz", kind="feedforward_lm")


def test_errors():
    with pytest.raises(ValueError, match=r"order must be a positive integer; got 0"):
        KneserNeyLM(0)
    with pytest.raises(ValueError, match="not trained yet"):
        KneserNeyLM(2).log_probs([np.array([3])])
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 5\)"):
        KneserNeyLM(2).fit([np.array([3, 7])], 5)
    with pytest.raises(ValueError, match="no training sentences"):
        KneserNeyLM(2).fit([], 5)
    lm = KneserNeyLM(2).fit([np.array([3, 4])], 5)
    with pytest.raises(ValueError, match="out of range for this model's 5 words"):
        lm.log_probs([np.array([9])])


def test_interpolation_weight_by_em():
    rng = np.random.default_rng(0)
    # Tokens where model a is better on 70 % and b on 30 %: the best mixture leans to a.
    a = np.where(rng.random(2000) < 0.7, np.log(0.5), np.log(0.01))
    b = np.where(a > np.log(0.1), np.log(0.05), np.log(0.4))
    weight = interpolate_weight(a, b)
    grid = np.linspace(0.01, 0.99, 981)
    likelihood = [interpolate_log_probs(a, b, w).sum() for w in grid]
    assert weight == pytest.approx(grid[int(np.argmax(likelihood))], abs=2e-3)
    mixed = interpolate_log_probs(a, b, weight)
    assert mixed.mean() > max(a.mean(), b.mean())
    np.testing.assert_allclose(interpolate_log_probs(a, b, 1.0), a)
