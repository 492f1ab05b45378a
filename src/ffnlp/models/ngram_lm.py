"""Interpolated modified Kneser-Ney n-gram language model (Chen & Goodman 1998).

The strong count-based baseline that neural language models are measured against. For an
n-gram h w (history h, next word w):

    p_n(w | h) = max(c_n(h w) - D_n(c_n(h w)), 0) / c_n(h .) + gamma_n(h) p_{n-1}(w | h')

where h' drops the oldest word of h, ``D_n`` is one of three discounts per order (for
counts 1, 2 and 3+, estimated from the count-of-counts), and ``gamma_n(h)`` is exactly the
mass the discounts removed, so each distribution sums to one. The highest order uses raw
counts; lower orders use *continuation* counts, the number of distinct words seen before
the n-gram (how likely a word is to appear in a new context, not how often it appears),
except for n-grams starting with ``<s>``, which can have no word before them. The unigram
distribution is interpolated with the uniform one, so every word has a probability.
A history never seen in training backs off to the next lower order.

Everything is vectorised: an n-gram is identified by ``id(prefix) * V + w`` where
``id(prefix)`` is the index of its (n-1)-word prefix in the sorted table of order n-1, so
counting is a sort (:func:`ffnlp.backend.sorting.unique`, which is ``np.unique`` without
NumPy 2.4's hash table) and lookup is ``np.searchsorted``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ffnlp import io
from ffnlp.backend.sorting import unique
from ffnlp.checks import check_int, check_probability
from ffnlp.models.lm_text import TextLM
from ffnlp.text.ngrams import padded_sentences, sentence_depths
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import SPECIALS, Vocab

KIND = "kneser_ney_lm"


class KneserNeyLM(TextLM):
    """Interpolated modified Kneser-Ney language model of any order.

    Args:
        order: N, the length of the longest n-gram (3 = trigram, 5 = 5-gram).
        vocab, tokenizer: attach them to score and generate text directly.

    Use :meth:`fit` on sentences of token ids (each scored with a ``</s>`` at its end and
    ``<s>`` before its start), then :meth:`log_probs`, :meth:`perplexity`,
    :meth:`next_distribution` or :meth:`to_arpa`.

    >>> lm = KneserNeyLM(order=2).fit([np.array([3, 4]), np.array([3, 5])], vocab_size=6)
    >>> round(float(lm.next_distribution([Vocab.bos_id]).sum()), 6)
    1.0
    """

    def __init__(
        self, order: int = 3, vocab: Vocab | None = None, tokenizer: Tokenizer | None = None
    ) -> None:
        self.order = check_int("order", order, minimum=1)
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.vocab_size: int | None = None
        # Per order n (index n): tables of the n-grams seen in training.
        self.keys: list[np.ndarray] = []  # sorted id(prefix) * V + w, for n >= 2
        self.counts: list[np.ndarray] = []  # modified counts per n-gram
        self.discounts: list[np.ndarray] = []  # [0, D1, D2, D3+] per order
        self.totals: list[np.ndarray] = []  # c_n(h .) per history id (an (n-1)-gram)
        self.gammas: list[np.ndarray] = []  # interpolation weight per history id
        self.suffixes: list[np.ndarray] = []  # id of the (n-1)-gram w_2..w_n of each n-gram
        self.unigram: np.ndarray | None = None  # p_1(w), (V,)

    # ------------------------------------------------------------------ training
    def fit(self, sentences: Sequence[np.ndarray], vocab_size: int) -> KneserNeyLM:
        """Count and estimate from ``sentences`` (arrays of token ids in [0, vocab_size))."""
        if not len(sentences):
            raise ValueError("KneserNeyLM.fit: no training sentences")
        V = int(vocab_size)
        if V <= len(SPECIALS):
            raise ValueError(
                f"vocab_size must leave room for a word beside the special tokens; got {vocab_size}"
            )
        tokens, is_target = padded_sentences(sentences, pad=1)
        if tokens.max() >= V or tokens.min() < 0:
            raise ValueError(f"KneserNeyLM.fit: token ids must be in [0, {V})")
        self.vocab_size = V
        depth = sentence_depths(is_target)  # distance of each position from its sentence's <s>
        N = self.order

        # ids[n][t]: id of the n-gram ending at position t in the order-n table (-1: none).
        ids = [None, tokens]
        tables = [None, None]
        for n in range(2, N + 1):
            prefix = np.concatenate(([-1], ids[n - 1][:-1]))
            valid = is_target & (depth >= n - 1) & (prefix >= 0)
            keys = prefix[valid] * V + tokens[valid]
            table, inverse = unique(keys, return_inverse=True)
            ids_n = np.full(len(tokens), -1, dtype=np.int64)
            ids_n[valid] = inverse
            ids.append(ids_n)
            tables.append(table)

        self.keys = [np.empty(0, np.int64)] * 2 + tables[2:]
        self.counts = [np.empty(0, np.int64)] * (N + 1)
        self.suffixes = [np.empty(0, np.int64)] * (N + 1)
        for n in range(1, N + 1):
            size = V if n == 1 else len(tables[n])
            at = is_target & (ids[n] >= 0)
            raw = np.bincount(ids[n][at], minlength=size)
            if n == N:
                counts = raw
            else:
                # Continuation count: distinct (n+1)-grams that end with this n-gram.
                _, first = unique(ids[n + 1][ids[n + 1] >= 0], return_index=True)
                positions = np.flatnonzero(ids[n + 1] >= 0)[first]
                counts = np.bincount(ids[n][positions], minlength=size)
                starts_with_bos = np.zeros(size, dtype=bool)
                starts_with_bos[ids[n][is_target & (depth == n - 1)]] = True
                counts = np.where(starts_with_bos, raw, counts)
            self.counts[n] = counts
            if n >= 2:
                _, first = unique(ids[n][at], return_index=True)
                self.suffixes[n] = ids[n - 1][np.flatnonzero(at)[first]]

        self.discounts = [np.zeros(4)] + [_discounts(self.counts[n]) for n in range(1, N + 1)]
        self.totals = [np.empty(0)] * (N + 1)
        self.gammas = [np.empty(0)] * (N + 1)
        for n in range(1, N + 1):
            counts = self.counts[n]
            if n == 1:
                histories = np.zeros(V, dtype=np.int64)
                num_histories = 1
            else:
                histories = self.keys[n] // V
                num_histories = V if n == 2 else len(self.keys[n - 1])
            self.totals[n], self.gammas[n] = _history_stats(
                histories, counts, self.discounts[n], num_histories
            )

        # p_1: discounted continuation counts plus the uniform distribution over the words
        # that can be predicted (everything but <s>).
        counts, D = self.counts[1], self.discounts[1]
        total, gamma = self.totals[1][0], self.gammas[1][0]
        uniform = np.full(V, 1.0 / (V - 1))
        uniform[Vocab.bos_id] = 0.0
        discounted = np.maximum(counts - D[np.minimum(counts, 3)], 0) / total
        self.unigram = discounted + gamma * uniform
        self.unigram[Vocab.bos_id] = 0.0
        return self

    # ------------------------------------------------------------------ scoring
    def _check_fitted(self) -> None:
        if self.unigram is None:
            raise ValueError("this KneserNeyLM is not trained yet; call fit() first")

    def log_probs(self, sentences: Sequence[np.ndarray]) -> np.ndarray:
        """Natural-log probability of every predicted token: each sentence's tokens and its
        ``</s>``, in order (the targets of :func:`ffnlp.text.context_windows`)."""
        self._check_fitted()
        V = self.vocab_size
        tokens, is_target = padded_sentences(sentences, pad=1)
        if tokens.max() >= V:
            raise ValueError(
                f"token id {int(tokens.max())} is out of range for this model's {V} words"
            )
        depth = sentence_depths(is_target)
        p = self.unigram[tokens]
        ids = tokens
        for n in range(2, self.order + 1):
            history = np.concatenate(([-1], ids[:-1]))
            valid = is_target & (depth >= n - 1) & (history >= 0)
            h = np.where(valid, history, 0)
            total = self.totals[n][h]
            known = valid & (total > 0)
            keys = self.keys[n]
            key = h * V + tokens
            if len(keys):
                idx = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
                found = valid & (keys[idx] == key)
                c = np.where(found, self.counts[n][idx], 0)
            else:  # no n-gram of this order in training (only empty sentences)
                idx, found, c = np.zeros_like(key), np.zeros_like(valid), np.zeros_like(key)
            discounted = np.maximum(c - self.discounts[n][np.minimum(c, 3)], 0) / np.where(
                known, total, 1
            )
            p = np.where(known, discounted + self.gammas[n][h] * p, p)
            ids = np.where(found, idx, -1)
        with np.errstate(divide="ignore"):
            return np.log(p[is_target])

    def start_context(self) -> list[int]:
        return [Vocab.bos_id] * (self.order - 1)

    def _history_ids(self, context: Sequence[int]) -> list[int]:
        """ids[n] = id of the (n-1)-word history for order n (-1 if unseen), n = 2..order."""
        context = [int(t) for t in context][-(self.order - 1) :] if self.order > 1 else []
        ids = [-1, -1]
        for n in range(2, self.order + 1):
            if len(context) < n - 1:
                ids.append(-1)
                continue
            words = context[len(context) - (n - 1) :]
            h = words[0]
            for k, w in enumerate(words[1:], start=2):
                keys = self.keys[k]
                i = int(np.searchsorted(keys, h * self.vocab_size + w))
                h = i if i < len(keys) and keys[i] == h * self.vocab_size + w else -1
                if h < 0:
                    break
            ids.append(h)
        return ids

    def next_distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(w | context) for every word w, (V,) float64, summing to 1.

        ``context`` is the sequence of previous ids; start it with ``<s>`` at the beginning
        of a sentence. Only the last ``order - 1`` ids matter.
        """
        self._check_fitted()
        V = self.vocab_size
        if any(not 0 <= int(t) < V for t in context):
            raise ValueError(f"context ids must be in [0, {V})")
        p = self.unigram.copy()
        for n, h in enumerate(self._history_ids(context)):
            if n < 2 or h < 0 or self.totals[n][h] <= 0:
                continue
            keys = self.keys[n]
            lo, hi = np.searchsorted(keys, [h * V, (h + 1) * V])
            words = keys[lo:hi] % V
            c = self.counts[n][lo:hi]
            p *= self.gammas[n][h]
            p[words] += np.maximum(c - self.discounts[n][np.minimum(c, 3)], 0) / self.totals[n][h]
        return p

    # ------------------------------------------------------------------ ARPA
    def _ngram_words(self) -> list[np.ndarray]:
        """For each order n, the (num_ngrams, n) matrix of word ids of every n-gram."""
        V = self.vocab_size
        words = [np.empty((0, 0), np.int64), np.arange(V)[:, None]]
        for n in range(2, self.order + 1):
            prefix, last = np.divmod(self.keys[n], V)
            words.append(np.concatenate([words[n - 1][prefix], last[:, None]], axis=1))
        return words

    def _ngram_probs(self) -> list[np.ndarray]:
        """Interpolated p_n(w | h) of every n-gram in the tables."""
        V = self.vocab_size
        probs = [np.empty(0), self.unigram]
        for n in range(2, self.order + 1):
            h = self.keys[n] // V
            c = self.counts[n]
            discounted = np.maximum(c - self.discounts[n][np.minimum(c, 3)], 0) / self.totals[n][h]
            probs.append(discounted + self.gammas[n][h] * probs[n - 1][self.suffixes[n]])
        return probs

    def to_arpa(self, path: str | Path, vocab: Vocab | None = None) -> None:
        """Write the model in the ARPA back-off format (readable by SRILM, KenLM and others).

        Interpolated Kneser-Ney is exactly a back-off model whose listed probabilities are
        the interpolated ones and whose back-off weights are the gammas.
        """
        self._check_fitted()
        vocab = vocab or self.vocab
        if vocab is None:
            raise ValueError("to_arpa: the model has no vocabulary; pass one")
        itos = np.array(vocab.itos, dtype=object)
        words, probs = self._ngram_words(), self._ngram_probs()
        lines = ["", "\\data\\"]
        lines += [f"ngram {n}={len(probs[n])}" for n in range(1, self.order + 1)]
        for n in range(1, self.order + 1):
            lines += ["", f"\\{n}-grams:"]
            with np.errstate(divide="ignore"):
                logp = np.log10(probs[n])
            logp[~np.isfinite(logp)] = -99.0
            bow = None
            if n < self.order:
                gamma = self.gammas[n + 1]
                has = self.totals[n + 1] > 0
                bow = np.where(has, np.log10(np.where(has, gamma, 1.0)), 0.0)
            text = [" ".join(row) for row in itos[words[n]]]
            if bow is None:
                lines += [f"{lp:.6f}\t{t}" for lp, t in zip(logp.tolist(), text)]
            else:
                lines += [
                    f"{lp:.6f}\t{t}\t{b:.6f}" for lp, t, b in zip(logp.tolist(), text, bow.tolist())
                ]
        lines += ["", "\\end\\", ""]
        io.atomic_write_text(path, "\n".join(lines))

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> None:
        """Write the model with its vocabulary and tokenizer to one file."""
        self._check_fitted()
        if self.vocab is None or self.tokenizer is None:
            raise ValueError("save: attach a vocab and a tokenizer to the model first")
        arrays = {"unigram": self.unigram}
        for n in range(1, self.order + 1):
            arrays[f"counts.{n}"] = self.counts[n]
            arrays[f"discounts.{n}"] = self.discounts[n]
            arrays[f"totals.{n}"] = self.totals[n]
            arrays[f"gammas.{n}"] = self.gammas[n]
            if n >= 2:
                arrays[f"keys.{n}"] = self.keys[n]
                arrays[f"suffixes.{n}"] = self.suffixes[n]
        meta = {
            "config": {"order": self.order, "vocab_size": self.vocab_size},
            "vocab": self.vocab.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
        }
        io.save_archive(path, KIND, meta, arrays)

    @classmethod
    def load(cls, path: str | Path) -> KneserNeyLM:
        """Read a model written by :meth:`save`."""
        meta, arrays = io.load_archive(path, kind=KIND)
        try:
            config = meta["config"]
            lm = cls(
                order=int(config["order"]),
                vocab=Vocab.from_dict(meta["vocab"]),
                tokenizer=Tokenizer.from_dict(meta["tokenizer"]),
            )
            lm.vocab_size = int(config["vocab_size"])
            N = lm.order
            empty = np.empty(0, np.int64)
            lm.unigram = arrays["unigram"]
            lm.counts = [empty] + [arrays[f"counts.{n}"] for n in range(1, N + 1)]
            lm.discounts = [np.zeros(4)] + [arrays[f"discounts.{n}"] for n in range(1, N + 1)]
            lm.totals = [empty] + [arrays[f"totals.{n}"] for n in range(1, N + 1)]
            lm.gammas = [empty] + [arrays[f"gammas.{n}"] for n in range(1, N + 1)]
            lm.keys = [empty, empty] + [arrays[f"keys.{n}"] for n in range(2, N + 1)]
            lm.suffixes = [empty, empty] + [arrays[f"suffixes.{n}"] for n in range(2, N + 1)]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{str(path)!r}: the n-gram model is incomplete ({err})") from None
        if lm.unigram.shape != (lm.vocab_size,) or len(lm.vocab) != lm.vocab_size:
            raise ValueError(
                f"{str(path)!r}: the n-gram tables do not match the vocabulary size {lm.vocab_size}"
            )
        return lm


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Chen & Goodman's estimates [0, D1, D2, D3+] from the count-of-counts n1..n4."""
    n1, n2, n3, n4 = (int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:  # too little data for the estimate: a common fallback
        return np.array([0.0, 0.5, 1.0, 1.5])
    y = n1 / (n1 + 2 * n2)
    d = np.array([0.0, 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
    return np.clip(d, 0.0, [0.0, 1.0, 2.0, 3.0])


def _history_stats(
    histories: np.ndarray, counts: np.ndarray, discounts: np.ndarray, num_histories: int
) -> tuple[np.ndarray, np.ndarray]:
    """c(h .) and gamma(h) = (D1 N1(h) + D2 N2(h) + D3 N3+(h)) / c(h .) per history."""
    total = np.bincount(histories, weights=counts, minlength=num_histories)
    removed = np.bincount(
        histories, weights=discounts[np.minimum(counts, 3)] * (counts > 0), minlength=num_histories
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = np.where(total > 0, removed / np.where(total > 0, total, 1), 1.0)
    return total, gamma


def interpolate_weight(log_p_a: np.ndarray, log_p_b: np.ndarray, iterations: int = 100) -> float:
    """The weight lambda maximising the likelihood of lambda p_a + (1 - lambda) p_b on held-out
    tokens, by EM (each step is guaranteed not to lower the likelihood)."""
    if log_p_a.shape != log_p_b.shape or log_p_a.ndim != 1 or not len(log_p_a):
        raise ValueError(
            "interpolate_weight: need two equal-length 1-D arrays of log-probabilities"
        )
    p_a, p_b = np.exp(log_p_a), np.exp(log_p_b)
    weight = 0.5
    for _ in range(iterations):
        mixed = weight * p_a + (1 - weight) * p_b
        new = float(np.mean(weight * p_a / mixed))
        if math.isclose(new, weight, abs_tol=1e-9):
            return new
        weight = new
    return weight


def interpolate_log_probs(log_p_a: np.ndarray, log_p_b: np.ndarray, weight: float) -> np.ndarray:
    """log(weight p_a + (1 - weight) p_b), computed without underflow."""
    check_probability("interpolation weight", weight, allow_one=True)
    with np.errstate(divide="ignore"):
        return np.logaddexp(np.log(weight) + log_p_a, np.log1p(-weight) + log_p_b)
