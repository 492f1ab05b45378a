"""The feedforward LM with FOFE codes of the history (Zhang et al. 2015) beside its N exact
embeddings: the input it builds, its gradients, its windows in both layouts, and its files."""

from __future__ import annotations

import numpy as np
import pytest

from ffnlp import io
from ffnlp.autograd import Tensor, gradcheck
from ffnlp.models.language_model import (
    FOFE_TOLERANCE,
    KIND,
    FeedforwardLM,
    FeedforwardLMConfig,
)
from ffnlp.text import StreamWindows, Tokenizer, Vocab
from ffnlp.train import ArrayDataset, TrainConfig, fit

SENTENCES = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat ate the fish",
    "the dog ate a bone",
]


def _tiny(**overrides):
    vocab = Vocab.build([s.split() for s in SENTENCES])
    settings = {"vocab_size": len(vocab), "context_size": 2, "embed_dim": 4, "hidden_dims": (6,)}
    settings.update({"fofe": (0.7,), "fofe_window": 5, **overrides})
    return FeedforwardLM(FeedforwardLMConfig(**settings), vocab=vocab, tokenizer=Tokenizer(), rng=0)


def _code(E, history, alpha):
    """z = alpha z + e(w) over the history, word by word, <s> adding nothing."""
    z = np.zeros(E.shape[1])
    for w in history:
        z = alpha * z + (0.0 if w == Vocab.bos_id else E[w])
    return z


def test_the_window_is_the_longer_of_n_and_k():
    config = FeedforwardLMConfig(vocab_size=10, context_size=5, fofe=(0.7,))
    assert config.fofe_history == 20 and config.window_size == 20  # 0.7^20 < 1e-3 < 0.7^19
    assert 0.7**20 <= FOFE_TOLERANCE < 0.7**19
    assert FeedforwardLMConfig(vocab_size=10, context_size=5, fofe=(0.5, 0.9)).window_size == 66
    assert (
        FeedforwardLMConfig(vocab_size=10, context_size=5, fofe=(0.7,), fofe_window=3).window_size
        == 5
    )
    plain = FeedforwardLMConfig(vocab_size=10, context_size=5)
    assert (plain.fofe_history, plain.window_size, plain.input_dim) == (0, 5, 5 * 128)
    assert FeedforwardLMConfig(vocab_size=10, context_size=5, fofe=(0.7, 0.5)).input_dim == 7 * 128


def test_the_input_is_the_exact_embeddings_then_the_codes():
    lm = _tiny(fofe=(0.7, 0.3), direct=True).to(np.float64)
    contexts = np.array([[1, 1, 1, 3, 4], [5, 6, 7, 8, 9], [1, 1, 1, 1, 2]])
    E = lm.embedding.weight.data
    x = np.array(
        [np.concatenate([E[c[-2]], E[c[-1]], _code(E, c, 0.7), _code(E, c, 0.3)]) for c in contexts]
    )  # [E w_{t-2}; E w_{t-1}; z_0.7; z_0.3]
    W1, b1 = lm.hidden[0].weight.data, lm.hidden[0].bias.data
    U, b = lm.output.weight.data, lm.output.bias.data
    expected = x @ lm.direct.weight.data.T + np.tanh(x @ W1.T + b1) @ U.T + b
    logits, _ = lm(contexts)
    np.testing.assert_allclose(logits.data, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"fofe": (0.8, 0.2), "context_size": 1, "activation": "relu"},
        {"fofe": (0.6,), "fofe_window": 0, "tie_embeddings": True, "hidden_dims": (4,)},
        {"direct": True, "sparse_embeddings": False, "hidden_dims": ()},
        {"output": "adaptive", "cutoffs": (5,)},
        # the codes over the tied adaptive input, band by band (embed_dim 4, last hidden 4)
        {"output": "adaptive", "cutoffs": (5, 9), "tie_embeddings": True, "hidden_dims": (4,)},
    ],
)
def test_gradcheck_of_the_whole_loss(overrides):
    lm = _tiny(**overrides).to(np.float64)
    for name, p in lm.named_parameters():
        if name.endswith("bias"):
            p.data[...] = np.random.default_rng(1).uniform(-0.5, 0.5, p.shape)
    contexts, targets = lm.windows(lm.encode_lines(SENTENCES[:2]))
    assert contexts.shape[1] == lm.config.window_size
    result = gradcheck(lambda *_: lm(contexts, targets)[1], lm.parameters())
    assert result.ok(1e-6), str(result)


@pytest.mark.parametrize("layout", ["stream", "sentence"])
def test_scores_equal_the_token_by_token_distribution(layout):
    lm = _tiny(layout=layout, fofe_window=9)
    sentences = lm.encode_lines(SENTENCES)
    # log_probs: the corpus as the layout reads it, ...
    context, expected = [Vocab.bos_id] * lm.config.window_size, []
    for s in sentences:
        if layout == "sentence":
            context = lm.start_context()
        for w in [*s.tolist(), Vocab.eos_id]:
            expected.append(np.log(lm.next_distribution(context)[w]))
            context = [*context[1:], w]
    np.testing.assert_allclose(lm.log_probs(sentences), expected, rtol=1e-5)
    # ... and each sentence on its own, from the start context.
    alone = [float(lm.sentence_log_probs([line])[0]) for line in SENTENCES]
    np.testing.assert_allclose(lm.sentence_log_probs(SENTENCES), alone, rtol=1e-5)
    if layout == "sentence":  # the code starts at the sentence's start: nothing carries over
        np.testing.assert_allclose(
            lm.sentence_log_probs(SENTENCES), np.add.reduceat(expected, [0, 7, 14, 20]), rtol=1e-5
        )


@pytest.mark.parametrize("layout", ["stream", "sentence"])
def test_stream_windows_give_the_models_windows(layout):
    lm = _tiny(layout=layout, fofe_window=7)
    sentences = lm.encode_lines(SENTENCES)
    contexts, targets = lm.windows(sentences)
    ids = np.concatenate([np.append(s, Vocab.eos_id) for s in sentences])
    streamed = StreamWindows(ids, lm.config.window_size, layout).batch(np.arange(len(ids)))
    np.testing.assert_array_equal(streamed[0], contexts)
    np.testing.assert_array_equal(streamed[1], targets)


def test_learns_saves_and_loads(tmp_path):
    lm = _tiny(hidden_dims=(16,), embed_dim=8, fofe=(0.7, 0.4), fofe_window=0)
    data = ArrayDataset(*lm.windows(lm.encode_lines(SENTENCES)))
    fit(lm, data, data, TrainConfig(epochs=60, batch_size=8, lr=0.01, progress=False))
    assert lm.perplexity(lm.encode_lines(SENTENCES)) < 3
    lm.save(tmp_path / "lm.npz")
    again = FeedforwardLM.load(tmp_path / "lm.npz")
    assert again.config == lm.config and again.config.fofe == (0.7, 0.4)
    np.testing.assert_array_equal(
        again.log_probs(lm.encode_lines(SENTENCES)), lm.log_probs(lm.encode_lines(SENTENCES))
    )
    assert len(again.start_context()) == 20
    assert again.predict_next("the cat", k=2) == lm.predict_next("the cat", k=2)
    assert again.generate(num_sentences=2, seed=3) == lm.generate(num_sentences=2, seed=3)


def test_a_file_written_before_fofe_loads_unchanged(tmp_path):
    lm = _tiny(fofe=(), fofe_window=0)
    # The file as ffnlp wrote it before FOFE: the same, but no fofe settings in its config.
    config = lm.config.to_dict()
    del config["fofe"], config["fofe_window"]
    meta = {"config": config, "vocab": lm.vocab.to_dict(), "tokenizer": lm.tokenizer.to_dict()}
    io.save_archive(tmp_path / "old.npz", KIND, {**meta, "extra": {}}, lm.state_dict())
    old = FeedforwardLM.load(tmp_path / "old.npz")
    assert old.config == lm.config and old.config.window_size == 2
    np.testing.assert_array_equal(
        old.log_probs(lm.encode_lines(SENTENCES)), lm.log_probs(lm.encode_lines(SENTENCES))
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"fofe": (0.7,)},
        {"fofe": (0.7, 0.5), "direct": True, "hidden_dims": ()},
        {"fofe": (0.9,), "output": "adaptive", "cutoffs": (4,)},
    ],
)
def test_parameter_shapes_follow_the_configuration(settings):
    config = FeedforwardLMConfig(vocab_size=11, context_size=3, embed_dim=5, **settings)
    model = FeedforwardLM(config, rng=0)
    assert FeedforwardLM.parameter_shapes(config) == {
        name: p.shape for name, p in model.named_parameters()
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fofe": (1.0,)}, r"fofe\[0\] must be a number in \(0, 1\); got 1.0"),
        ({"fofe": (0.5, 0.0)}, r"fofe\[1\] must be a number in \(0, 1\); got 0.0"),
        ({"fofe": 0.5}, "fofe must be a sequence of numbers; got 0.5"),
        ({"fofe": (0.5,), "fofe_window": -1}, "fofe_window must be a non-negative integer; got -1"),
    ],
)
def test_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        FeedforwardLMConfig(vocab_size=10, **overrides)


def test_contexts_must_hold_the_window():
    lm = _tiny()
    with pytest.raises(ValueError, match=r"contexts must have shape \(B, 5\); got \(1, 2\)"):
        lm(np.array([[1, 2]]))


def test_fofe_beside_tied_embeddings_keeps_the_adaptive_softmax():
    # The codes are taken band by band over the adaptive input (AdaptiveInput.fofe), so a
    # large vocabulary keeps its fast output layer, tied or not.
    from ffnlp.models.language_model import choose_output

    tied = dict(vocab_size=30_000, context_size=2, embed_dim=8, hidden_dims=(8,), fofe=(0.7,))
    config, line = choose_output(FeedforwardLMConfig(**tied, tie_embeddings=True))
    assert config.output == "adaptive" and line.startswith(
        "output: adaptive softmax tied to adaptive input, cutoffs"
    )
    config, _ = choose_output(FeedforwardLMConfig(**tied))  # untied: the adaptive softmax
    assert config.output == "adaptive" and config.cutoffs


def test_the_tied_adaptive_lm_s_input_holds_the_codes_of_its_own_embeddings():
    lm = _tiny(output="adaptive", cutoffs=(5, 9), tie_embeddings=True, hidden_dims=(4,))
    lm = lm.to(np.float64)
    contexts = np.array([[1, 1, 1, 3, 4], [5, 6, 7, 8, 9], [1, 10, 2, 11, 2]])
    E = lm.embedding.full_table()  # every word's e(w), projected bands included
    x = np.array([np.concatenate([E[c[-2]], E[c[-1]], _code(E, c, 0.7)]) for c in contexts])
    W1, b1 = lm.hidden[0].weight.data, lm.hidden[0].bias.data
    h = np.tanh(x @ W1.T + b1)
    lm.eval()
    logits, _ = lm(contexts)
    np.testing.assert_allclose(logits.data, lm.output.log_prob(Tensor(h)).data, rtol=1e-10)
