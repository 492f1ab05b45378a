"""Written by the layout-1 code (ffnlp at commit b1f7537, before the classifier was split
into parts; run with that checkout first on PYTHONPATH): tiny
model files and their predictions, kept as test fixtures of old-file loading."""

import json
import sys

from ffnlp.estimators import TextClassifier

out = sys.argv[1]
texts = [
    "a great film",
    "a dull film",
    "Great fun in Paris",
    "dull and flat",
    "what a great cast but a dull plot",
    "dull start but great fun",
    "NASA made a 1990 film",
    "how many great films",
] * 3
labels = ["pos", "neg", "pos", "neg", "neg", "pos", "pos", "neg"] * 3
probe = [
    "great fun",
    "dull",
    "a dull film but great acting",
    "How many films in 1990 ?",
    "unseen words here",
]
configs = {
    "wide-contrast": dict(
        embed_dim=4,
        hidden_dims=(6,),
        dropout=0.2,
        bigrams=True,
        buckets=0,
        nb_features=True,
        wide=True,
        contrast_words=["but"],
        class_weight="balanced",
        epochs=3,
        lr=0.05,
    ),
    "features": dict(
        embed_dim=4,
        bigrams=True,
        buckets=0,
        prefix_ngrams=2,
        prefix_pairs=2,
        word_shapes=True,
        epochs=3,
        lr=0.05,
    ),
    "hashed-nb": dict(
        embed_dim=4, pooling="nb", bigrams=True, buckets=50, nb_features=True, epochs=3, lr=0.05
    ),
    "tfidf-words-only": dict(
        embed_dim=4,
        pooling="tfidf",
        bigrams=True,
        buckets=0,
        nb_features=True,
        pool_words_only=True,
        epochs=3,
        lr=0.05,
    ),
    "lexicon": dict(features="lexicon", epochs=5, lr=0.05),
}
expected = {}
for name, params in configs.items():
    m = TextClassifier(random_state=0, **params).fit(texts, labels)
    m.save(f"{out}/{name}.npz")
    expected[name] = {
        "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
        "probabilities": m.predict_proba(probe).tolist(),
    }
json.dump({"texts": probe, "models": expected}, open(f"{out}/expected.json", "w"), indent=1)
