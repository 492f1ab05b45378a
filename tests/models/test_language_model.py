"""The feedforward language model: gradient check of the whole loss, agreement with the
architecture's formula, overfitting one batch, files, and text-level use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ffnlp.autograd import Tensor, gradcheck, ops
from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig
from ffnlp.text import Tokenizer, Vocab
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
    settings.update(overrides)
    return FeedforwardLM(FeedforwardLMConfig(**settings), vocab=vocab, tokenizer=Tokenizer(), rng=0)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"activation": "relu", "hidden_dims": (5, 4)},
        {"direct": True},
        {"tie_embeddings": True, "hidden_dims": (4,)},
        {"hidden_dims": ()},
        {"tie_embeddings": True, "direct": True, "hidden_dims": (7, 4), "activation": "sigmoid"},
        {"sparse_embeddings": False},
        {"output": "adaptive", "cutoffs": (5,)},
        {"output": "adaptive", "cutoffs": (4, 8), "div_value": 2.0, "hidden_dims": (6, 5)},
        {
            "output": "adaptive",
            "cutoffs": (4, 8),
            "div_value": 2.0,
            "tie_embeddings": True,
            "hidden_dims": (4,),
        },
        {
            "output": "adaptive",
            "cutoffs": (5,),
            "tie_embeddings": True,
            "hidden_dims": (4,),
            "sparse_embeddings": False,
            "dropout": 0.0,
        },
    ],
)
def test_gradcheck_of_the_whole_loss(overrides):
    lm = _tiny(**overrides).to(np.float64)
    for name, p in lm.named_parameters():
        if name.endswith("bias"):
            p.data[...] = np.random.default_rng(1).uniform(-0.5, 0.5, p.shape)
    contexts = np.array([[1, 1], [1, 3], [3, 4], [4, 5], [5, 2]])
    targets = np.array([3, 4, 5, 2, 6])
    result = gradcheck(lambda *_: lm(contexts, targets)[1], lm.parameters())
    assert result.ok(1e-6), str(result)


def test_forward_is_bengios_formula():
    lm = _tiny(direct=True).to(np.float64)
    contexts = np.array([[1, 3], [4, 5]])
    E = lm.embedding.weight.data
    x = np.concatenate([E[contexts[:, 0]], E[contexts[:, 1]]], axis=1)  # e = [E x_{t-2}; E x_{t-1}]
    W1, b1 = lm.hidden[0].weight.data, lm.hidden[0].bias.data
    U, b = lm.output.weight.data, lm.output.bias.data
    expected = (
        x @ lm.direct.weight.data.T + np.tanh(x @ W1.T + b1) @ U.T + b
    )  # y = b + Wx + U tanh(d + Hx)
    logits, loss = lm(contexts)
    np.testing.assert_allclose(logits.data, expected, rtol=1e-12)
    assert loss is None


def test_tied_embeddings_share_one_matrix():
    lm = _tiny(tie_embeddings=True, hidden_dims=(4,))
    assert not hasattr(lm, "output")
    names = [n for n, _ in lm.named_parameters()]
    assert names.count("embedding.weight") == 1 and "output_bias" in names
    with pytest.raises(
        ValueError,
        match=r"tie_embeddings needs the last hidden size to equal embed_dim \(4\); got 6",
    ):
        _tiny(tie_embeddings=True)


def test_overfits_one_batch():
    lm = _tiny(hidden_dims=(32,), embed_dim=8)
    contexts, targets = lm.windows(lm.encode_lines(SENTENCES[:1]))
    data = ArrayDataset(contexts, targets)
    fit(
        lm,
        data,
        data,
        TrainConfig(
            epochs=300,
            batch_size=len(targets),
            lr=0.02,
            progress=False,
            early_stopping=0,
            lr_decay=1.0,
        ),
    )
    _, loss = lm(contexts, targets)
    assert loss.item() < 0.02


def test_learns_the_corpus_better_than_uniform_and_saves(tmp_path):
    lm = _tiny(hidden_dims=(16,), embed_dim=8, dropout=0.1)
    contexts, targets = lm.windows(lm.encode_lines(SENTENCES))
    data = ArrayDataset(contexts, targets)
    history = fit(lm, data, data, TrainConfig(epochs=60, batch_size=8, lr=0.01, progress=False))
    ppl = lm.perplexity(lm.encode_lines(SENTENCES))
    assert ppl < 3 < len(lm.vocab)
    assert history.best_epoch is not None
    assert math.exp(history.best_valid_loss) == pytest.approx(ppl, rel=1e-4)
    lm.save(tmp_path / "lm.npz", extra={"note": "tiny"})
    again = FeedforwardLM.load(tmp_path / "lm.npz")
    assert again.config == lm.config and again.vocab == lm.vocab and again.extra == {"note": "tiny"}
    np.testing.assert_array_equal(
        again.log_probs(lm.encode_lines(SENTENCES)), lm.log_probs(lm.encode_lines(SENTENCES))
    )
    top = again.predict_next("the cat", k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert sum(again.next_distribution([1, 3])) == pytest.approx(1.0, abs=1e-9)
    first = again.generate(num_sentences=3, seed=5, temperature=0.8, top_k=5)
    assert first == again.generate(num_sentences=3, seed=5, temperature=0.8, top_k=5)
    assert all(w in lm.vocab for s in first for w in s.split())


def test_sentence_log_probs_sum_the_token_log_probs():
    lm = _tiny(layout="sentence")
    ids = lm.encode_lines(SENTENCES[:2])
    per_token = lm.log_probs(ids)
    per_sentence = lm.sentence_log_probs(SENTENCES[:2])
    np.testing.assert_allclose(per_sentence, [per_token[:7].sum(), per_token[7:].sum()], rtol=1e-5)


def test_frozen_pretrained_embeddings_do_not_move():
    vocab = Vocab.build([s.split() for s in SENTENCES])
    pretrained = np.random.default_rng(0).standard_normal((len(vocab), 4)).astype(np.float32)
    config = FeedforwardLMConfig(
        vocab_size=len(vocab), context_size=2, embed_dim=4, hidden_dims=(6,), freeze_embeddings=True
    )
    lm = FeedforwardLM(config, vocab=vocab, tokenizer=Tokenizer(), pretrained=pretrained, rng=0)
    contexts, targets = lm.windows(lm.encode_lines(SENTENCES))
    fit(
        lm,
        ArrayDataset(contexts, targets),
        None,
        TrainConfig(epochs=3, batch_size=4, progress=False),
    )
    np.testing.assert_array_equal(lm.embedding.weight.data, pretrained)
    with pytest.raises(ValueError, match=r"pretrained embeddings have shape \(3, 4\)"):
        FeedforwardLM(config, pretrained=pretrained[:3])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"context_size": 0}, "context_size must be a positive integer; got 0"),
        ({"embed_dim": -1}, "embed_dim must be a positive integer; got -1"),
        ({"hidden_dims": (4, 0)}, r"hidden_dims\[1\] must be a positive integer; got 0"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\); got 1.0"),
        ({"activation": "swish"}, "activation must be one of"),
        ({"layout": "doc"}, "layout must be one of"),
        ({"output": "hierarchical"}, "output must be one of"),
        ({"output": "adaptive", "cutoffs": (5, 3)}, "cutoffs must be increasing integers"),
        ({"output": "adaptive", "cutoffs": (10,)}, "cutoffs must be increasing integers"),
        (
            {"output": "adaptive", "direct": True, "cutoffs": (4,)},
            "cannot be combined with direct",
        ),
    ],
)
def test_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        FeedforwardLMConfig(vocab_size=10, **overrides)


def test_bad_inputs_at_the_api():
    lm = _tiny()
    with pytest.raises(ValueError, match=r"contexts must have shape \(B, 2\); got \(1, 3\)"):
        lm(np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match=r"embedding: id 99 is out of range"):
        lm(np.array([[1, 99]]))
    with pytest.raises(ValueError, match="unknown settings"):
        FeedforwardLMConfig.from_dict({"vocab_size": 10, "colour": "red"})
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        lm.generate(temperature=0)


def test_log_probs_equal_minus_the_cross_entropy():
    lm = _tiny()
    contexts, targets = lm.windows(lm.encode_lines(SENTENCES))
    lm.eval()
    logits, loss = lm(contexts, targets)
    assert -lm.log_probs(lm.encode_lines(SENTENCES)).mean() == pytest.approx(loss.item(), rel=1e-5)
    np.testing.assert_allclose(ops.softmax(logits).data.sum(axis=1), 1, rtol=1e-5)
    assert isinstance(logits, Tensor)


def test_sentence_scores_are_independent_of_neighbours_in_stream_layout():
    lm = _tiny(layout="stream")
    alone = [float(lm.sentence_log_probs([line])[0]) for line in SENTENCES]
    together = lm.sentence_log_probs(SENTENCES)
    np.testing.assert_allclose(together, alone, rtol=1e-5)
    # The same as scoring token by token from the start context.
    context, total = lm.start_context(), 0.0
    for token in [*lm.encode_lines(SENTENCES[:1])[0].tolist(), 2]:
        total += float(np.log(lm.next_distribution(context)[token]))
        context = [*context[1:], token]
    assert alone[0] == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize(
    "settings",
    [
        {"hidden_dims": (8,)},
        {"hidden_dims": (8, 4), "dropout": 0.2, "direct": True},
        {"hidden_dims": (6,), "embed_dim": 6, "tie_embeddings": True, "dropout": 0.1},
        {"hidden_dims": ()},
        {"hidden_dims": (8,), "output": "adaptive", "cutoffs": (4, 7)},
        {"hidden_dims": (), "output": "adaptive", "cutoffs": (3,), "div_value": 2.0},
        {"hidden_dims": (5,), "output": "adaptive", "cutoffs": (3, 7), "tie_embeddings": True},
        {"hidden_dims": (5,), "output": "adaptive", "tie_embeddings": True},
        {"output": "auto"},
    ],
)
def test_parameter_shapes_follow_the_configuration_without_building(settings):
    from ffnlp.models.language_model import FeedforwardLM, FeedforwardLMConfig

    config = FeedforwardLMConfig(vocab_size=11, context_size=3, **{"embed_dim": 5, **settings})
    model = FeedforwardLM(config, rng=0)
    assert FeedforwardLM.parameter_shapes(config) == {
        name: p.shape for name, p in model.named_parameters()
    }


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"hidden_dims": (8, 4), "dropout": 0.2, "pooling": "mean+max", "extra_rows": 7},
        {"nb_features": 1, "hidden_dims": (3,)},
        {"nb_features": 1, "extra_rows": 7, "pool_words_only": True},
        {"pooling": "tfidf", "extra_rows": 7},
        {"extra_rows": 7, "pool_words_only": True, "hidden_dims": (5,)},
    ],
)
def test_classifier_parameter_shapes_follow_the_configuration(settings):
    from ffnlp.models.classifier import (
        DeepAveragingConfig,
        DeepAveragingNetwork,
        NaiveBayesLinear,
        NaiveBayesLinearConfig,
    )

    config = DeepAveragingConfig(vocab_size=9, num_classes=3, embed_dim=4, **settings)
    model = DeepAveragingNetwork(config, rng=0)
    assert DeepAveragingNetwork.parameter_shapes(config) == {
        name: p.shape for name, p in model.named_parameters()
    }
    linear = NaiveBayesLinearConfig(vocab_size=9, num_classes=3, embed_dim=4, extra_rows=7)
    assert NaiveBayesLinear.parameter_shapes(linear) == {
        name: p.shape for name, p in NaiveBayesLinear(linear, rng=0).named_parameters()
    }


def test_tied_adaptive_lm_is_its_plain_product_and_saves(tmp_path):
    """The tied LM's embeddings are the input's explicit table, its probabilities those of
    the full softmax over the explicit tied output matrix, times the clusters' entries."""
    lm = _tiny(
        output="adaptive", cutoffs=(4, 8), div_value=2.0, tie_embeddings=True, hidden_dims=(4,)
    ).to(np.float64)
    E = lm.embedding.full_table()  # (V, D): head rows, then E_k P_k^T
    contexts = np.array([[1, 3], [4, 9], [10, 2]])
    x = np.concatenate([E[contexts[:, 0]], E[contexts[:, 1]]], axis=1)
    h = np.tanh(x @ lm.hidden[0].weight.data.T + lm.hidden[0].bias.data)
    out = lm.output
    head = h @ np.concatenate([E[:4], out.cluster_weight.data]).T + out.head_bias.data
    log_head = head - np.log(np.exp(head).sum(1, keepdims=True))
    parts = [log_head[:, :4]]
    for k, (low, high) in enumerate([(4, 8), (8, len(lm.vocab))]):
        # the output's rows of cluster k are E_k, and h reaches them through P_k: the same
        # word rows as the input's, E_k P_k^T, so the logits are h (E_k P_k^T)^T
        logits = h @ E[low:high].T
        parts.append(
            logits - np.log(np.exp(logits).sum(1, keepdims=True)) + log_head[:, 4 + k : 5 + k]
        )
    expected = np.concatenate(parts, axis=1)
    lm.eval()
    np.testing.assert_allclose(lm(contexts)[0].data, expected, rtol=1e-10)
    lm.to(np.float32)
    lm.save(tmp_path / "tied.npz")
    again = FeedforwardLM.load(tmp_path / "tied.npz")
    assert again.config == lm.config and isinstance(again.output.tied, type(lm.embedding))
    sentences = lm.encode_lines(SENTENCES)
    np.testing.assert_array_equal(again.log_probs(sentences), lm.log_probs(sentences))
    with pytest.raises(ValueError, match="pretrained embeddings need a full"):
        FeedforwardLM(lm.config, pretrained=np.zeros((len(lm.vocab), 4)))
    frozen = _tiny(
        output="adaptive",
        cutoffs=(4,),
        tie_embeddings=True,
        hidden_dims=(4,),
        freeze_embeddings=True,
    )
    assert not any(p.requires_grad for p in frozen.embedding.parameters())


def test_auto_output_follows_the_vocabulary_size_and_frequencies():
    from ffnlp.models.language_model import (
        ADAPTIVE_FROM,
        CLUSTER_SHARES,
        HEAD_SHARE,
        choose_cutoffs,
        choose_output,
    )

    small, line = choose_output(FeedforwardLMConfig(vocab_size=ADAPTIVE_FROM - 1))
    assert (small.output, line) == (
        "full",
        f"output: full softmax (chosen for {ADAPTIVE_FROM - 1:,} words)",
    )
    # The first 10 words cover just over HEAD_SHARE of the tokens, the first 20 just over
    # the cluster share: the head ends at 10, the cluster at 20.
    (share,) = CLUSTER_SHARES
    head, cluster = HEAD_SHARE + 1e-3, share + 1e-3
    rest = ADAPTIVE_FROM - 20
    counts = np.r_[
        np.full(10, head / 10),
        np.full(10, (cluster - head) / 10),
        np.full(rest, (1 - cluster) / rest),
    ]
    assert choose_cutoffs(counts, ADAPTIVE_FROM) == (10, 20)
    big, line = choose_output(
        FeedforwardLMConfig(vocab_size=ADAPTIVE_FROM, tie_embeddings=True, hidden_dims=(128,)),
        counts,
    )
    assert (big.output, big.cutoffs) == ("adaptive", (10, 20))
    assert (
        line
        == f"output: adaptive softmax tied to adaptive input, cutoffs 10 20 (chosen for {ADAPTIVE_FROM:,} words)"
    )
    # direct connections need the full softmax; given cutoffs are kept; full stays full
    assert choose_output(FeedforwardLMConfig(vocab_size=30_000, direct=True))[0].output == "full"
    kept = choose_output(FeedforwardLMConfig(vocab_size=30_000, cutoffs=(2000, 10000)))
    assert kept[0].cutoffs == (2000, 10000)
    assert kept[1] == "output: adaptive softmax, cutoffs 2000 10000 (chosen for 30,000 words)"
    given = FeedforwardLMConfig(vocab_size=30_000, output="adaptive", cutoffs=(2000, 10000))
    assert choose_output(given) == (given, "output: adaptive softmax, cutoffs 2000 10000")
    assert (
        choose_output(FeedforwardLMConfig(vocab_size=30_000, output="full"))[1]
        == "output: full softmax"
    )
    # rounded to two significant digits; Zipf's law without counts
    # (Zipf: ranks 1..r cover H_r / H_V of the tokens; H_3700 / H_33278 = 0.80)
    assert choose_cutoffs(None, 33_278) == (3700, 19000)
    config = FeedforwardLMConfig(vocab_size=ADAPTIVE_FROM, embed_dim=4, hidden_dims=(4,))
    lm = FeedforwardLM(config, rng=0)
    assert lm.config.output == "adaptive"
    assert lm.config.cutoffs == choose_cutoffs(None, ADAPTIVE_FROM)


def test_files_before_the_output_setting_load_with_the_full_softmax():
    old = {"vocab_size": 30_000, "context_size": 2, "embed_dim": 4, "hidden_dims": [4]}
    assert FeedforwardLMConfig.from_dict(old).output == "full"  # not today's default, "auto"
    kept = FeedforwardLMConfig.from_dict({**old, "output": "adaptive", "cutoffs": [2000]})
    assert (kept.output, kept.cutoffs) == ("adaptive", (2000,))
    with pytest.raises(ValueError, match="output 'auto' without cutoffs is not decided"):
        FeedforwardLMConfig.from_dict({**old, "output": "auto"})
