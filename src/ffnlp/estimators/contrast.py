"""Reading "X but Y": a meta-estimator that scores a text's clause after a contrast word
as well as the whole text, around any text classifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp.estimators.base import (
    ClassifierBase,
    EstimatorBase,
    TextPredictions,
    check_fitted,
    texts_of,
    tokens_of,
)
from ffnlp.text.features import contrast_clause


def check_contrast_words(words: Any) -> tuple[str, ...]:
    """``words`` as a tuple of single words, or a ValueError."""
    if words is None:
        return ()
    if (
        isinstance(words, str)
        or not isinstance(words, (Sequence, np.ndarray))
        or not all(isinstance(w, str) and w.split() == [w] for w in words)
    ):
        raise ValueError(
            f"the contrast words must be a list of single words, such as ['but']; got {words!r}"
        )
    return tuple(str(w) for w in words)


class ContrastClauses(TextPredictions, ClassifierBase, EstimatorBase):
    """Any text classifier, with the clause after a contrast word scored as well.

    At prediction, a text holding one of ``words`` (a whole token, compared without
    case, after the first token and with a word after it) gets the mean of two
    probabilities: the whole text's and those of the tokens after the last such word
    (:func:`ffnlp.text.features.contrast_clause`). A bag of words weighs "X but Y"'s two
    halves alike where the writer's verdict is mostly Y's. Training is the wrapped
    classifier's own, so the words can be changed on a trained model (``set_params``).

    Args:
        estimator: a text classifier (``fit``, ``predict_proba``, ``classes_``, and a
            ``tokenizer_`` after fitting, whose tokens the words are matched against).
        words: the contrast words, such as ``("but",)``.

    >>> from ffnlp.estimators import TextClassifier
    >>> texts = ["a great film", "a dull film", "great fun", "dull and flat"] * 5
    >>> clf = ContrastClauses(TextClassifier.from_settings(embed_dim=8, epochs=30, lr=0.05), words=("but",))
    >>> clf.fit(texts, ["pos", "neg", "pos", "neg"] * 5).predict(["dull , but great fun"]).tolist()
    ['pos']
    """

    def __init__(self, estimator: Any = None, words: Sequence[str] = ("but",)) -> None:
        self.estimator = estimator
        self.words = words

    def _checked_words(self, tokenizer_mode: str | None) -> tuple[str, ...]:
        words = check_contrast_words(self.words)
        if words and tokenizer_mode == "char":
            raise ValueError(
                "contrast words are matched against whole tokens, and tokenizer='char' makes "
                "every character a token: use tokenizer 'whitespace' or 'regex'"
            )
        return words

    def fit(self, X: Any, y: Any, **fit_params: Any) -> ContrastClauses:
        """Fit a copy of ``estimator`` (so the one given stays unfitted); returns self.

        ``fit_params`` go to the classifier's own ``fit``: its log's held-out loss and
        accuracy (``eval_set``) are the classifier's, without the contrast words, which
        act at prediction only."""
        if self.estimator is None:
            raise ValueError("ContrastClauses needs an estimator to wrap")
        est = self.estimator
        mode = est.group("text").tokenizer if "text" in getattr(est, "GROUPS", ()) else None
        self._checked_words(mode or getattr(est, "tokenizer", None))
        fitted = type(self.estimator)(**self.estimator.get_params(deep=False)).fit(
            X, y, **fit_params
        )
        self.estimator_, self.classes_ = fitted, fitted.classes_
        return self

    @property
    def tokenizer_(self) -> Any:
        return self.estimator_.tokenizer_

    def predict_proba(self, X: Any, batch_size: int = 1024) -> np.ndarray:
        """The wrapped classifier's probabilities, each text with a clause after a contrast
        word scored as the mean of the whole text's and the clause's."""
        check_fitted(self)
        return self.proba_of_tokens(tokens_of(self.tokenizer_, texts_of(X)), batch_size)

    def proba_of_tokens(
        self, tokens: Sequence[Sequence[str]], batch_size: int = 1024
    ) -> np.ndarray:
        """:meth:`predict_proba` of texts already tokenized (by ``tokenizer_``)."""
        check_fitted(self)
        probs = self.estimator_.proba_of_tokens(tokens, batch_size)
        return self._with_clauses(tokens, probs, batch_size)

    def _with_clauses(
        self, tokens: Sequence[Sequence[str]], probs: np.ndarray, batch_size: int
    ) -> np.ndarray:
        words = self._checked_words(self.tokenizer_.mode)
        if not words:
            return probs
        found = [(i, contrast_clause(t, words)) for i, t in enumerate(tokens)]
        found = [(i, clause) for i, clause in found if clause is not None]
        if found:
            rows = [i for i, _ in found]
            clauses = self.estimator_.proba_of_tokens([c for _, c in found], batch_size)
            probs[rows] = 0.5 * (probs[rows] + clauses)
        return probs

    def to_archive(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        check_fitted(self)
        meta, arrays = self.estimator_.to_archive()
        return {**meta, "contrast_words": list(check_contrast_words(self.words))}, arrays
