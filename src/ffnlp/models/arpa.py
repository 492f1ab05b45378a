r"""Back-off n-gram models read from ARPA files (written by ffnlp, KenLM, SRILM, ...).

An ARPA file lists, for each order n, n-grams with their log10 probability and (below the
highest order) a log10 back-off weight. The probability of word w after history h is the
listed one when the n-gram h w is listed, and otherwise the back-off weight of h (0 when h
is not listed) plus the probability of w after h without its oldest word:

    log p(w | h) = logp(h w)                     if h w is listed
                 = bow(h) + log p(w | h')        otherwise (h' drops the oldest word)

down to the unigrams, where every word of the vocabulary is listed. This is the rule
KenLM's query applies (Heafield 2011), and so are its conventions: a word outside the
vocabulary is ``<unk>``; a file without ``<unk>`` gets one with log10 probability -100;
a sentence starts from the context ``<s>`` and ends with ``</s>``, which is predicted.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "m.arpa")
>>> _ = open(path, "w").write(
...     "\\data\\\nngram 1=4\nngram 2=1\n\n\\1-grams:\n-1 <unk>\n-99 <s> -0.3\n-0.5 </s>\n"
...     "-0.4 a -0.2\n\n\\2-grams:\n-0.1 <s> a\n\n\\end\\\n"
... )
>>> lm = ArpaLM.read(path)
>>> log10 = lm.sentence_log_probs(["a"]) / math.log(10)  # p(a | <s>) listed; </s> backs off
>>> round(float(log10[0]), 6)  # -0.1 + (bow(a) -0.2 + p(</s>) -0.5)
-0.8
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ffnlp.models.lm_text import TextLM
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import BOS, EOS, SPECIALS, UNK, Vocab

LN10 = math.log(10.0)
UNK_MISSING_LOG10 = -100.0  # KenLM's log10 probability of an <unk> the file does not list
_COUNT = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)$")
_SECTION = re.compile(r"\\(\d+)-grams:$")


def looks_like_arpa(path: str | Path) -> bool:
    """Whether the file starts (after blank lines and comments) like an ARPA file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    if b"\0" in head:
        return False
    return any(line.strip() == b"\\data\\" for line in head.splitlines()[:200])


class ArpaLM(TextLM):
    """A back-off n-gram language model of any order, read from an ARPA file.

    The same scoring interface as :class:`~ffnlp.models.ngram_lm.KneserNeyLM`:
    :meth:`log_probs`, :meth:`perplexity`, :meth:`sentence_log_probs`,
    :meth:`next_distribution`, :meth:`predict_next` and :meth:`generate`. Text is split
    on whitespace and kept as it is (an ARPA file's words are case-sensitive tokens).

    Args:
        order: N, the highest order in the file.
        vocab: the words of the unigrams, the specials first.
        probs: for each order n (index n), log10 p of each listed n-gram, keyed by the
            tuple of its word ids.
        backoffs: for each order n < N, the log10 back-off weight of each n-gram that has one.

    Use :meth:`read` to make one from a file.
    """

    def __init__(
        self,
        order: int,
        vocab: Vocab,
        probs: list[dict[tuple[int, ...], float]],
        backoffs: list[dict[tuple[int, ...], float]],
    ) -> None:
        self.order = order
        self.vocab = vocab
        self.tokenizer = Tokenizer("whitespace", lowercase=False)
        self.probs = probs
        self.backoffs = backoffs
        self.unigram = np.array([probs[1][(i,)] for i in range(len(vocab))])  # log10, (V,)
        self._following: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] | None = None

    # ------------------------------------------------------------------ reading
    @classmethod
    def read(cls, path: str | Path) -> ArpaLM:
        """Read an ARPA file.

        Raises:
            ValueError: one line naming the file and the line: no ``\\data\\`` header, a
                header line that is not ``ngram N=COUNT``, orders that are not 1..N, a
                section whose n-grams do not match the header's count, an entry without
                its probability and N words, a missing ``<s>`` or ``</s>``, or no ``\\end\\``.
        """
        with _collector_paused():
            return cls._read(Path(path))

    @classmethod
    def _read(cls, path: Path) -> ArpaLM:
        name = repr(str(path))
        if not path.exists():
            raise ValueError(f"model file {name} does not exist")
        if path.is_dir():
            raise ValueError(f"model file {name} is a directory, not a file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{name} is not valid UTF-8 at byte {err.start}: ARPA files are read as UTF-8"
            ) from None
        lines = text.splitlines()
        at = 0
        while at < len(lines) and lines[at].strip() != "\\data\\":
            at += 1
        if at == len(lines):
            raise ValueError(f"{name} is not an ARPA file: it has no \\data\\ header line")
        at += 1
        counts: dict[int, int] = {}
        while at < len(lines) and not lines[at].strip().startswith("\\"):
            line = lines[at].strip()
            if line:
                match = _COUNT.match(line)
                if match is None:
                    raise ValueError(
                        f"{name}, line {at + 1}: the \\data\\ header has {line!r} where "
                        "'ngram N=COUNT' was expected"
                    )
                counts[int(match[1])] = int(match[2])
            at += 1
        order = len(counts)
        if not counts or sorted(counts) != list(range(1, order + 1)):
            raise ValueError(
                f"{name}: the \\data\\ header must give 'ngram N=COUNT' for the orders 1 to N; "
                f"it gives {sorted(counts) or 'none'}"
            )
        words: list[str] = []
        stoi: dict[str, int] = {}
        raw: list[list[tuple[tuple[str, ...], float, float | None]]] = [
            [] for _ in range(order + 1)
        ]
        ended = False
        while at < len(lines):
            line = lines[at].strip()
            at += 1
            if not line:
                continue
            if line == "\\end\\":
                ended = True
                break
            match = _SECTION.match(line)
            if match is None:
                raise ValueError(
                    f"{name}, line {at}: expected a section header like '\\2-grams:'; got {line!r}"
                )
            n = int(match[1])
            if n not in counts:
                raise ValueError(
                    f"{name}, line {at}: a \\{n}-grams: section, but the header declares orders 1 to {order}"
                )
            if raw[n]:
                raise ValueError(f"{name}, line {at}: a second \\{n}-grams: section")
            entries = raw[n]
            while at < len(lines) and not lines[at].strip().startswith("\\"):
                fields = lines[at].split()
                at += 1
                if not fields:
                    continue
                if len(fields) not in (n + 1, n + 2):
                    raise ValueError(
                        f"{name}, line {at}: a {n}-gram entry needs a log10 probability, {n} "
                        f"word{'s' if n > 1 else ''} and an optional back-off; got {len(fields)} fields"
                    )
                try:
                    logp = float(fields[0])
                    bow = float(fields[n + 1]) if len(fields) == n + 2 else None
                except ValueError:
                    raise ValueError(
                        f"{name}, line {at}: {lines[at - 1].strip()!r} does not start with a number"
                    ) from None
                if not all(v is None or v < math.inf for v in (logp, bow)):  # NaN, +inf
                    raise ValueError(
                        f"{name}, line {at}: {lines[at - 1].strip()!r} has a log10 value that "
                        "is not a number or is +infinity"
                    )
                entries.append((tuple(fields[1 : n + 1]), logp, bow))
            if len(entries) != counts[n]:
                raise ValueError(
                    f"{name}: the header says {counts[n]} {n}-grams, but the \\{n}-grams: "
                    f"section has {len(entries)}"
                )
        for n in range(1, order + 1):
            if counts[n] and not raw[n]:
                raise ValueError(
                    f"{name}: the header declares {counts[n]} {n}-grams, but there is no \\{n}-grams: section"
                )
        if not ended:
            raise ValueError(f"{name} has no \\end\\ line: the file is cut short")
        unigrams = [entry[0][0] for entry in raw[1]]
        for marker in (BOS, EOS):
            if marker not in unigrams:
                raise ValueError(
                    f"{name}: the unigrams have no {marker}; an ARPA model of sentences needs <s> and </s>"
                )
        words = [*SPECIALS, *(w for w in dict.fromkeys(unigrams) if w not in SPECIALS)]
        if len(words) != len(unigrams) + (UNK not in unigrams):
            raise ValueError(f"{name}: a word is listed twice among the unigrams")
        stoi = {w: i for i, w in enumerate(words)}
        probs: list[dict[tuple[int, ...], float]] = [{} for _ in range(order + 1)]
        backoffs: list[dict[tuple[int, ...], float]] = [{} for _ in range(order + 1)]
        if UNK not in unigrams:
            probs[1][(Vocab.unk_id,)] = UNK_MISSING_LOG10
        for n in range(1, order + 1):
            for gram, logp, bow in raw[n]:
                try:
                    key = tuple(stoi[w] for w in gram)
                except KeyError as err:
                    raise ValueError(
                        f"{name}: the {n}-gram {' '.join(gram)!r} has the word {err.args[0]!r}, "
                        "which is not among the unigrams"
                    ) from None
                probs[n][key] = logp
                if bow is not None and n < order:
                    backoffs[n][key] = bow
        return cls(order, Vocab(words), probs, backoffs)

    # ------------------------------------------------------------------ scoring
    def _log10_prob(self, context: tuple[int, ...], word: int) -> float:
        """log10 p(word | context), by the back-off rule (longest listed n-gram first)."""
        bow = 0.0
        for k in range(len(context), 0, -1):
            history = context[len(context) - k :]
            listed = self.probs[k + 1].get((*history, word))
            if listed is not None:
                return listed + bow
            bow += self.backoffs[k].get(history, 0.0)
        return self.probs[1][(word,)] + bow

    def log_probs(self, sentences: Sequence[np.ndarray]) -> np.ndarray:
        """Natural-log probability of every predicted token: each sentence's tokens and its
        ``</s>``, each sentence scored from the context ``<s>``."""
        V = len(self.vocab)
        keep = self.order - 1
        out = []
        for sentence in sentences:
            ids = [int(t) for t in sentence]
            if any(not 0 <= t < V for t in ids):
                raise ValueError(f"token ids must be in [0, {V}) for this model's {V} words")
            context: tuple[int, ...] = (Vocab.bos_id,)
            for word in [*ids, Vocab.eos_id]:
                out.append(self._log10_prob(context[-keep:] if keep else (), word))
                context = (*context, word)
        return np.asarray(out, dtype=np.float64) * LN10

    def start_context(self) -> list[int]:
        return [Vocab.bos_id] * max(self.order - 1, 1)

    def _index(self) -> dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]:
        """For each listed history h, the words w with h w listed and their log10 p
        (built once, on the first call: scoring does not need it)."""
        if self._following is None:
            grouped: dict[tuple[int, ...], tuple[list[int], list[float]]] = {}
            for n in range(2, self.order + 1):
                for key, logp in self.probs[n].items():
                    ws, lps = grouped.setdefault(key[:-1], ([], []))
                    ws.append(key[-1])
                    lps.append(logp)
            self._following = {
                h: (np.array(ws, dtype=np.int64), np.array(lps)) for h, (ws, lps) in grouped.items()
            }
        return self._following

    def next_distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(w | context) for every word w, (V,): the file's probabilities, which sum to 1
        up to the rounding of the numbers written in it.

        Only the last ``order - 1`` ids matter, and nothing before the last ``<s>``.
        """
        V = len(self.vocab)
        context = [int(t) for t in context]
        if any(not 0 <= t < V for t in context):
            raise ValueError(f"context ids must be in [0, {V})")
        if Vocab.bos_id in context:  # nothing comes before the start of a sentence
            context = context[len(context) - 1 - context[::-1].index(Vocab.bos_id) :]
        context = context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else []
        index = self._index()
        logp = self.unigram.copy()
        for k in range(1, len(context) + 1):
            history = tuple(context[len(context) - k :])
            logp += self.backoffs[k].get(history, 0.0)
            if history in index:
                words, listed = index[history]
                logp[words] = listed
        return np.power(10.0, logp)

    def num_ngrams(self) -> list[int]:
        """How many n-grams of each order the file lists (index 0: order 1)."""
        return [len(self.probs[n]) for n in range(1, self.order + 1)]


def load_ngram(path: str | Path) -> TextLM:
    """The n-gram model in a file: an ARPA file (:class:`ArpaLM`), or a model file of
    ``ffnlp ngram train`` (:class:`~ffnlp.models.ngram_lm.KneserNeyLM`)."""
    from ffnlp.models.ngram_lm import KneserNeyLM

    if Path(path).is_file() and looks_like_arpa(path):
        return ArpaLM.read(path)
    return KneserNeyLM.load(path)


@contextlib.contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector. Reading makes millions of small tuples and
    lists, none in a cycle; the collector, run every few hundred new objects, would walk
    all those made so far again and again (on PTB's KN5, most of the reading time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
