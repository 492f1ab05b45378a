"""Writes the layout-2 fixtures with the ffnlp of commit c91fb04 (the last to write layout
2, where ``lazy`` was today's ``lazy_embeddings``), with the probabilities it predicted:

    git worktree add /tmp/old c91fb04
    PYTHONPATH=/tmp/old/src python tests/data/layout2/make_fixtures.py
"""

import json
from pathlib import Path

from ffnlp.estimators import Bigrams, ContrastClauses, LexiconClassifier, TextClassifier

HERE = Path(__file__).parent
TEXTS = ["a great film", "a dull film", "great fun", "dull and flat", "warm , but dull"] * 4
LABELS = ["pos", "neg", "pos", "neg", "neg"] * 4
PROBE = ["great great fun", "dull , but great", "flat film"]

models = {
    "text": ContrastClauses(
        TextClassifier(
            features=[Bigrams(buckets=0)],
            embed_dim=8,
            hidden_dims=(4,),
            wide=True,
            epochs=5,
            lr=0.05,
            lazy=False,
            unknown_words="prefix",
            class_weight="balanced",
        ),
        words=("but",),
    ),
    "lexicon": LexiconClassifier(lexicon={"great": 1, "dull": -1}, epochs=5, lr=0.05),
}
expected = {}
for name, model in models.items():
    model.fit(TEXTS, LABELS)
    model.save(HERE / f"{name}.npz")
    expected[name] = model.predict_proba(PROBE).tolist()
(HERE / "expected.json").write_text(json.dumps({"texts": PROBE, "proba": expected}) + "\n")
