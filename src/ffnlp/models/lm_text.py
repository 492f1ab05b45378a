"""What every language model offers on text: perplexity, sentence scores, next-word
predictions and sampled sentences.

A model mixes in :class:`TextLM` and provides ``vocab``, ``tokenizer``,
``log_probs(sentences)`` (log-probability of each predicted token),
``next_distribution(context)`` and ``start_context()``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from ffnlp.checks import check_int
from ffnlp.models.sampling import check_sampling, sample_token, top_predictions
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import Vocab


class TextLM(abc.ABC):
    vocab: Vocab
    tokenizer: Tokenizer

    # Provided by the model.
    @abc.abstractmethod
    def log_probs(self, sentences: Sequence[np.ndarray]) -> np.ndarray:
        """Log-probability of each predicted token (every token, then ``</s>``, per sentence)."""

    @abc.abstractmethod
    def next_distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(w | context) for every word w, (V,)."""

    @abc.abstractmethod
    def start_context(self) -> list[int]:
        """The context a sentence starts from."""

    # Shared.
    def _require_vocab(self) -> None:
        if getattr(self, "vocab", None) is None or getattr(self, "tokenizer", None) is None:
            raise ValueError(
                "this model has no vocabulary or tokenizer attached; train it through ffnlp or set .vocab and .tokenizer"
            )

    def encode_lines(self, lines: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each line (unknown words become ``<unk>``)."""
        self._require_vocab()
        return [self.vocab.encode(self.tokenizer(line)) for line in lines]

    def perplexity(self, sentences: Sequence[np.ndarray]) -> float:
        """exp of the mean negative log-probability per predicted token (``</s>`` included)."""
        return float(np.exp(-np.mean(self.log_probs(sentences))))

    def independent_log_probs(self, sentences: Sequence[np.ndarray]) -> np.ndarray:
        """Like ``log_probs``, but each sentence scored on its own, from the start-of-sentence
        context (models whose ``log_probs`` already do so need not override this)."""
        return self.log_probs(sentences)

    def sentence_log_probs(self, lines: Sequence[str]) -> np.ndarray:
        """Natural-log probability of each line as a whole sentence (its words and ``</s>``),
        each scored on its own from the start-of-sentence context."""
        sentences = self.encode_lines(lines)
        token_log_probs = self.independent_log_probs(sentences)
        lengths = np.fromiter((len(s) + 1 for s in sentences), dtype=np.int64, count=len(sentences))
        return np.add.reduceat(token_log_probs, np.concatenate(([0], np.cumsum(lengths)[:-1])))

    def predict_next(self, prompt: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` most probable next tokens after ``prompt`` (a sentence prefix)."""
        ids = self.encode_lines([prompt])[0] if prompt.strip() else np.zeros(0, dtype=np.int64)
        context = self._extend(self.start_context(), ids.tolist())
        return [
            (self.vocab.itos[i], p) for i, p in top_predictions(self.next_distribution(context), k)
        ]

    def generate(
        self,
        num_sentences: int = 1,
        max_tokens: int = 50,
        temperature: float = 1.0,
        top_k: int = 0,
        prompt: str = "",
        seed: int | None = 0,
    ) -> list[str]:
        """Sample sentences token by token until ``</s>`` (or ``max_tokens``).

        ``<s>`` and ``<unk>`` are never drawn. The same ``seed`` gives the same sentences.
        """
        check_sampling(temperature, top_k)
        max_tokens = check_int("max_tokens", max_tokens, minimum=1)
        num_sentences = check_int("num_sentences", num_sentences, minimum=1)
        rng = np.random.default_rng(seed)
        prefix = self.encode_lines([prompt])[0].tolist() if prompt.strip() else []
        out = []
        for _ in range(num_sentences):
            context = self._extend(self.start_context(), prefix)
            tokens = list(prefix)
            for _ in range(max_tokens):
                token = sample_token(
                    self.next_distribution(context),
                    rng,
                    temperature,
                    top_k,
                    banned=(Vocab.bos_id, Vocab.unk_id),
                )
                if token == Vocab.eos_id:
                    break
                tokens.append(token)
                context = self._extend(context, [token])
            out.append(self.tokenizer.join(self.vocab.decode(tokens)))
        return out

    @staticmethod
    def _extend(context: list[int], ids: list[int]) -> list[int]:
        """Slide a fixed-length context window over new ids (an empty window grows)."""
        if not context:
            return [*context, *ids]
        return [*context, *ids][-len(context) :]
