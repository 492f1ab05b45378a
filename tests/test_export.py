"""ONNX export: every network a classifier or language model can be, run by onnxruntime
on the same inputs as ffnlp, to 1e-5; and the models export refuses, by name."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ffnlp.autograd import no_grad, ops
from ffnlp.cli import main
from ffnlp.estimators import TextClassifier
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.text.row_features import Bigrams, Openings
from ffnlp.text.vocab import Vocab

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package (ffnlp[onnx])")
ort = pytest.importorskip("onnxruntime", reason="the export is checked by onnxruntime")
from ffnlp.export import (  # noqa: E402
    classifier_inputs,
    classifier_to_onnx,
    export_model,
    lm_to_onnx,
)

TEXTS = [
    "a great film",
    "a dull film",
    "great fun and more fun",
    "dull and flat , flat",
    "not bad at all",
    "bad bad movie",
]
LABELS = ["pos", "neg", "pos", "neg", "pos", "neg"]
# Texts of every length, repeated and unknown words, and one with no known word at all.
QUERIES = [*TEXTS, "zebra quagga", "great", "film film film great dull fun fun bad"]


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


CLASSIFIERS = {
    "mean": ({}, [], False),
    "max-hidden": ({"pooling": "max", "hidden_dims": (8,)}, [], False),
    "mean+max-bigrams": (
        {"pooling": "mean+max", "activation": "tanh", "hidden_dims": (6, 4)},
        [Bigrams()],
        False,
    ),
    "nb-pooling": ({"pooling": "nb", "nb_features": True}, [Bigrams(buckets=64)], False),
    "tfidf-sigmoid": (
        {"pooling": "tfidf", "hidden_dims": (5,), "activation": "sigmoid"},
        [],
        False,
    ),
    "nb-features-words-only": (
        {"nb_features": True, "pool_words_only": True},
        [Bigrams(), Openings(2)],
        False,
    ),
    "wide": ({"dropout": 0.2}, [Bigrams()], True),
}


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifier_matches_onnxruntime(name):
    network, features, wide = CLASSIFIERS[name]
    clf = TextClassifier.from_settings(
        features=features, wide=wide, embed_dim=8, epochs=4, lr=0.05, **network
    ).fit(TEXTS * 4, LABELS * 4)
    ids, mask = classifier_inputs(clf, QUERIES)
    assert ids.dtype == np.int64 and mask.dtype == bool and ids.shape == mask.shape
    logits, probs = _session(classifier_to_onnx(clf)).run(None, {"ids": ids, "mask": mask})
    clf.model_.eval()
    with no_grad():
        expected, _ = clf.model_((ids, mask))
    np.testing.assert_allclose(logits, expected.data, atol=1e-5)
    np.testing.assert_allclose(probs, clf.predict_proba(QUERIES), atol=1e-5)
    assert np.ptp(probs[:, 0]) > 1e-3  # the texts get different answers: a real test


def test_classifier_padding_does_not_change_the_answer():
    clf = TextClassifier.from_settings(embed_dim=8, epochs=2, nb_features=True, pooling="nb")
    clf.fit(TEXTS, LABELS)
    session = _session(classifier_to_onnx(clf))
    ids, mask = classifier_inputs(clf, QUERIES)
    wide_ids = np.concatenate([ids, np.full((len(ids), 3), 7)], axis=1)  # junk in the padding
    wide_mask = np.concatenate([mask, np.zeros((len(ids), 3), bool)], axis=1)
    a = session.run(["probabilities"], {"ids": ids, "mask": mask})[0]
    b = session.run(["probabilities"], {"ids": wide_ids, "mask": wide_mask})[0]
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_classifier_metadata_has_what_a_server_needs():
    clf = TextClassifier.from_settings(embed_dim=4, epochs=1).fit(TEXTS, LABELS)
    model = classifier_to_onnx(clf)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["ffnlp.classes"]) == ["neg", "pos"]
    assert json.loads(props["ffnlp.vocab"]) == clf.vocab_.itos
    assert json.loads(props["ffnlp.tokenizer"]) == clf.tokenizer_.to_dict()
    assert [i.name for i in model.graph.input] == ["ids", "mask"]
    assert [o.name for o in model.graph.output] == ["logits", "probabilities"]


LMS = {
    "tanh": {},
    "direct-relu": {"direct": True, "activation": "relu"},
    "tied": {"tie_embeddings": True, "hidden_dims": (4,)},
    "adaptive": {"output": "adaptive", "cutoffs": (8, 14), "div_value": 2.0},
    "adaptive-tied": {
        "output": "adaptive",
        "cutoffs": (8, 14),
        "div_value": 2.0,
        "tie_embeddings": True,
        "hidden_dims": (4,),
    },
    "no-hidden": {"hidden_dims": ()},
    "two-hidden-dropout": {"hidden_dims": (8, 6), "dropout": 0.3},
    "fofe": {"fofe": (0.7, 0.4), "fofe_window": 5},
    "fofe-shorter-than-n-direct": {"fofe": (0.5,), "fofe_window": 2, "direct": True},
    "fofe-adaptive": {"fofe": (0.6,), "fofe_window": 4, "output": "adaptive", "cutoffs": (8,)},
    "fofe-adaptive-tied": {  # the codes over the adaptive input's projected rows
        "fofe": (0.6, 0.3),
        "fofe_window": 4,
        "output": "adaptive",
        "cutoffs": (8, 14),
        "div_value": 2.0,
        "tie_embeddings": True,
        "hidden_dims": (4,),
    },
}


@pytest.mark.parametrize("name", sorted(LMS))
def test_language_model_matches_onnxruntime(name):
    config = FeedforwardLMConfig(
        vocab_size=20, context_size=3, embed_dim=4, **({"hidden_dims": (8,)} | LMS[name])
    )
    lm = FeedforwardLM(config, rng=1)
    contexts = np.random.default_rng(0).integers(0, 20, size=(9, config.window_size))
    contexts[:3, :2] = Vocab.bos_id  # the padding before a text's start, which FOFE skips
    lm.eval()
    with no_grad():
        logits, _ = lm(contexts)
    expected = ops.log_softmax(logits.data, axis=1).data
    (got,) = _session(lm_to_onnx(lm)).run(None, {"contexts": contexts.astype(np.int64)})
    assert got.shape == (9, 20)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.exp(got).sum(axis=1), 1.0, atol=1e-5)
    # each row, exponentiated, is next_distribution of the same context
    np.testing.assert_allclose(np.exp(got[0]), lm.next_distribution(contexts[0]), atol=1e-6)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    (root / "train.ft").write_text(
        "".join(f"__label__{y} {x}\n" for x, y in zip(TEXTS, LABELS)) * 5
    )
    (root / "corpus.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 3)
    quiet = ["--epochs", "1", "--no-progress"]
    assert main(["classify", "train", str(root / "train.ft"), "--out", str(root / "clf.npz"),
                 "--embed-dim", "4", "--bigrams", *quiet]) == 0  # fmt: skip
    assert main(["lm", "train", str(root / "corpus.txt"), "--out", str(root / "lm.npz"),
                 "--context-size", "2", "--embed-dim", "4", "--hidden", "8", *quiet]) == 0  # fmt: skip
    return root


def test_export_command_writes_files_onnxruntime_runs(files, capsys):
    from ffnlp.estimators.files import load_classifier

    out = files / "clf.onnx"
    capsys.readouterr()
    assert main(["export", str(files / "clf.npz"), "--format", "onnx", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {str(out)!r}") and "ids int64 and mask bool" in said
    clf = load_classifier(files / "clf.npz")
    ids, mask = classifier_inputs(clf, QUERIES)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    probs = session.run(["probabilities"], {"ids": ids, "mask": mask})[0]
    np.testing.assert_allclose(probs, clf.predict_proba(QUERIES), atol=1e-5)

    out = files / "lm.onnx"
    assert main(["export", str(files / "lm.npz"), "--out", str(out)]) == 0
    assert "input contexts int64 (batch, 2)" in capsys.readouterr().out
    lm = FeedforwardLM.load(files / "lm.npz")
    contexts, targets = lm.windows(lm.encode_lines(["the cat sat on the log"]))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (log_probs,) = session.run(None, {"contexts": contexts})
    np.testing.assert_allclose(
        log_probs[np.arange(len(targets)), targets],
        lm.window_log_probs(contexts, targets),
        atol=1e-5,
    )


def test_what_export_refuses(files, tmp_path, capsys):
    text = files / "corpus.txt"
    assert main(["ngram", "train", str(text), "--out", str(tmp_path / "ng.npz"),
                 "--order", "2", "--arpa", str(tmp_path / "ng.arpa")]) == 0  # fmt: skip
    cases = [
        (tmp_path / "ng.npz", "is a Kneser-Ney n-gram model: ONNX cannot express"),
        (tmp_path / "ng.arpa", "is an ARPA n-gram model: ONNX cannot express"),
    ]
    capsys.readouterr()
    for model, message in cases:
        with pytest.raises(ValueError, match="ONNX cannot express an n-gram model"):
            export_model(model, tmp_path / "x.onnx")
        assert main(["export", str(model), "--out", str(tmp_path / "x.onnx")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_the_lexicon_classifier_and_the_contrast_wrapper_are_refused():
    from ffnlp.estimators import ContrastClauses, LexiconClassifier

    texts = ["a great good film", "a bad awful film", "good fun", "bad and dull"] * 5
    labels = ["pos", "neg", "pos", "neg"] * 5
    lexicon = LexiconClassifier.from_settings(epochs=1).fit(texts, labels)
    with pytest.raises(ValueError, match="ONNX export cannot express the lexicon classifier"):
        classifier_to_onnx(lexicon)
    wrapped = ContrastClauses(TextClassifier.from_settings(embed_dim=4, epochs=1), words=["but"])
    wrapped.fit(texts, labels)
    with pytest.raises(ValueError, match="cannot express the contrast-clause wrapper"):
        classifier_to_onnx(wrapped)


def test_a_model_over_onnx_s_2_gb_is_refused_before_writing(monkeypatch):
    import ffnlp.export

    lm = FeedforwardLM(FeedforwardLMConfig(vocab_size=20, context_size=2, embed_dim=4), rng=0)
    monkeypatch.setattr(ffnlp.export, "MAX_BYTES", 1000)  # as if the weights were 2 GB
    with pytest.raises(ValueError, match=r"over the 2 GB an ONNX file holds in one piece"):
        lm_to_onnx(lm)


def test_a_model_quantized_with_a_cutoff_is_refused():
    # Its dropped rows are taken out of each text in Python, which the graph cannot do.
    texts = ["a great good film", "a bad awful film", "good fun", "bad and dull"] * 5
    labels = ["pos", "neg", "pos", "neg"] * 5
    model = TextClassifier.from_settings(embed_dim=4, epochs=1).fit(texts, labels)
    classifier_to_onnx(model.quantize(dsub=2))  # without a cutoff: exported
    with pytest.raises(ValueError, match="cannot express a model quantized with --cutoff"):
        classifier_to_onnx(model.quantize(cutoff=5, dsub=2))
