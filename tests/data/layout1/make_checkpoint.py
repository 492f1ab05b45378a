"""Written by the layout-1 code (ffnlp at commit b1f7537, first on PYTHONPATH): a
checkpoint of a classifier interrupted at its 5th step, kept as classifier.ckpt."""

import ffnlp.train
from ffnlp.estimators import TextClassifier

texts = ["a great film", "a dull film", "great fun", "dull and flat"] * 5
labels = ["pos", "neg", "pos", "neg"] * 5


class Stop(Exception):
    pass


orig = ffnlp.train.optim.Optimizer.step
n = {"c": 0}


def step(self):
    n["c"] += 1
    if n["c"] == 5:
        raise Stop
    orig(self)


ffnlp.train.optim.Optimizer.step = step
try:
    TextClassifier(embed_dim=4, epochs=3, batch_size=4).fit(
        texts, labels, checkpoint="classifier.ckpt", checkpoint_every=2
    )
except Stop:
    print("stopped")
