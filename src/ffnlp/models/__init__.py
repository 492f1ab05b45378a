"""Models built from :mod:`ffnlp.nn`: language models and text classifiers."""

from ffnlp.models.arpa import ArpaLM, load_ngram
from ffnlp.models.ngram_lm import KneserNeyLM, interpolate_log_probs, interpolate_weight

__all__ = ["ArpaLM", "KneserNeyLM", "interpolate_log_probs", "interpolate_weight", "load_ngram"]
