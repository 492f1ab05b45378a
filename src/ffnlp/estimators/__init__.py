"""scikit-learn-style classifiers, as parts that compose:

- :class:`TextClassifier`: raw texts to a deep averaging network over their words and the
  rows of any feature objects (:mod:`ffnlp.text.row_features`), alone or averaged with a
  naive Bayes linear model (``wide``);
- :class:`LexiconClassifier`: the chapter's six hand-built features of a text into a
  small network;
- :class:`ContrastClauses`: any text classifier, with "X but Y" scored on Y as well;
- :class:`FeedforwardClassifier`: the feedforward network on numeric feature matrices.

They follow scikit-learn's conventions (``__init__`` only stores parameters, ``fit``
returns self, learned attributes end in ``_``, ``predict_proba`` columns follow
``classes_``) and, when scikit-learn is installed, are real scikit-learn estimators that
work inside its ``Pipeline`` and ``GridSearchCV``. :func:`load_classifier` reads any of
their model files.
"""

from ffnlp.estimators.base import KIND, NotFittedError, check_unseen_labels
from ffnlp.estimators.contrast import ContrastClauses
from ffnlp.estimators.feedforward import FeedforwardClassifier
from ffnlp.estimators.files import load_classifier
from ffnlp.estimators.lexicon import LexiconClassifier
from ffnlp.estimators.text import TextClassifier
from ffnlp.text.row_features import (
    Bigrams,
    CharNgrams,
    OpeningPairs,
    Openings,
    WordShapes,
)

__all__ = [
    "KIND",
    "Bigrams",
    "CharNgrams",
    "ContrastClauses",
    "FeedforwardClassifier",
    "LexiconClassifier",
    "NotFittedError",
    "OpeningPairs",
    "Openings",
    "TextClassifier",
    "WordShapes",
    "check_unseen_labels",
    "load_classifier",
]
