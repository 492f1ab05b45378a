"""ONNX export: a trained network as a graph any ONNX runtime can serve.

Two kinds of model are exported, each as the same arithmetic its ``forward`` does in
evaluation mode (dropout off), built node by node with the ``onnx`` package's helper API:

- the text classifier on embeddings (:class:`~ffnlp.estimators.TextClassifier`: a deep
  averaging network, alone or averaged with its naive Bayes linear model):
  inputs ``ids`` int64 (batch, length), a text's row ids padded with anything, and
  ``mask`` bool (batch, length), True at the real rows; outputs ``logits`` and
  ``probabilities`` float32 (batch, classes), in the order of the metadata's
  ``ffnlp.classes`` (a softmax; for a model of the "ova" loss, multi-label, each class's
  own sigmoid). The row ids are what :func:`classifier_inputs` gives: the words' ids
  in ``ffnlp.vocab`` (0, ``<unk>``, for an unknown word), then the rows of any feature
  objects (bigrams, ...), whose tables stay in Python;
- the feedforward language model (:class:`~ffnlp.models.FeedforwardLM`, with a full or
  adaptive softmax, tied embeddings or direct connections): input ``contexts`` int64
  (batch, N), the ids of the N previous tokens; output ``log_probs`` float32
  (batch, vocabulary), the natural-log probability of each next token.

The vocabulary, tokenizer, classes and context size travel in the model's
``metadata_props`` (``ffnlp.*``, JSON). What ONNX cannot express is refused with one line
that says why: the lexicon classifier (its six counts are computed from the text in
Python), the "but"-clause wrapper (it rewrites the text) and n-gram models (count tables,
which have their own exchange format: ARPA).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ffnlp import io
from ffnlp.models.classifier import DeepAveragingNetwork, NaiveBayesLinear, TextDataset
from ffnlp.models.language_model import FeedforwardLM
from ffnlp.nn import Dropout, Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from ffnlp.text.vocab import Vocab

OPSET = 17
FORMATS = ("onnx",)
MAX_BYTES = 2**31 - 2**24  # protobuf's limit on one message, less room for the graph


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'ffnlp[onnx]'") from None
    return onnx


class _Graph:
    """Nodes and constants added one by one; each op returns the name of its output."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.constants: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, value: Any, dtype: Any = None, name: str | None = None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = name or self._name("const")
        self.constants.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> Any:
        names = [self._name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def rename(self, name: str, to: str) -> None:
        """Make ``name`` available as ``to`` (a graph output's public name)."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [name], [to]))

    def model(
        self,
        inputs: Sequence[tuple[str, int, list[Any]]],
        outputs: Sequence[tuple[str, int, list[Any]]],
        metadata: dict[str, str],
        doc: str,
    ) -> Any:
        helper = self.onnx.helper
        size = sum(len(t.raw_data) for t in self.constants)
        if size >= MAX_BYTES:
            raise ValueError(
                f"the model's weights are {size / 2**30:.1f} GB, over the 2 GB an ONNX file "
                "holds in one piece; export a smaller model (fewer --buckets, a smaller "
                "vocabulary or embedding)"
            )
        graph = helper.make_graph(
            self.nodes,
            "ffnlp",
            [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
            [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
            initializer=self.constants,
        )
        model = helper.make_model(
            graph,
            producer_name="ffnlp",
            doc_string=doc,
            opset_imports=[helper.make_opsetid("", OPSET)],
        )
        model.ir_version = 8  # what ONNX runtimes of the last few years all read
        helper.set_model_props(model, metadata)
        self.onnx.checker.check_model(model)
        return model

    # ---------------------------------------------------------------- building blocks
    def axes(self, *axes: int) -> str:
        return self.const(list(axes), np.int64)

    def unsqueeze(self, x: str, axis: int) -> str:
        return self.op("Unsqueeze", x, self.axes(axis))

    def reduce_sum(self, x: str, axis: int, keepdims: int = 0) -> str:
        return self.op("ReduceSum", x, self.axes(axis), keepdims=keepdims)

    def linear(self, x: str, layer: Linear) -> str:
        """x W^T + b, with the weights of ``layer`` (B, in) -> (B, out)."""
        if layer.bias_as_input:  # the bias in column 0 of the weight, as the textbook's x0 = 1
            weight = layer.weight.data[:, 1:]
            bias = layer.weight.data[:, 0]
        else:
            weight = layer.weight.data
            bias = None if layer.bias is None else layer.bias.data
        inputs = [x, self.const(weight)] + ([self.const(bias)] if bias is not None else [])
        return self.op("Gemm", *inputs, transB=1)

    def sequential(self, x: str, module: Any) -> str:
        """Linear layers and activations in order; dropout is the identity in evaluation."""
        for layer in module if isinstance(module, Sequential) else [module]:
            if isinstance(layer, Sequential):
                x = self.sequential(x, layer)
            elif isinstance(layer, Linear):
                x = self.linear(x, layer)
            elif isinstance(layer, Tanh):
                x = self.op("Tanh", x)
            elif isinstance(layer, ReLU):
                x = self.op("Relu", x)
            elif isinstance(layer, Sigmoid):
                x = self.op("Sigmoid", x)
            elif not isinstance(layer, (Identity, Dropout)):
                raise ValueError(f"ONNX export does not know the layer {type(layer).__name__}")
        return x

    def distinct(self, ids: str, mask: str) -> tuple[str, str]:
        """:func:`ffnlp.models.classifier.distinct_tokens`: each row's ids sorted (padding
        as -1, first) and a mask of the first occurrence of each real id."""
        ordered = self.op("Where", mask, ids, self.const(-1, np.int64))
        width = self.op(
            "Slice", self.op("Shape", ids), self.axes(1), self.axes(2)
        )  # the padded length, (1,)
        ordered = self.op("TopK", ordered, width, outputs=2, axis=1, largest=0, sorted=1)[0]
        big = self.axes(np.iinfo(np.int64).max)
        later = self.op("Slice", ordered, self.axes(1), big, self.axes(1))
        earlier = self.op("Slice", ordered, self.axes(0), self.axes(-1), self.axes(1))
        head = self.op("Slice", ordered, self.axes(0), self.axes(1), self.axes(1))
        first = self.op(
            "Concat",
            self.op("Equal", head, head),  # the first column is always a first occurrence
            self.op("Not", self.op("Equal", later, earlier)),
            axis=1,
        )
        real = self.op("GreaterOrEqual", ordered, self.const(0, np.int64))
        tokens = self.op("Max", ordered, self.const(0, np.int64))
        return tokens, self.op("And", first, real)

    def weighted_sum(self, table: np.ndarray, ids: str, weights: str) -> str:
        """sum_t weights[b, t] E[ids[b, t]]: the embedding bag, (B, D)."""
        rows = self.op("Gather", self.const(table), ids)  # (B, T, D)
        return self.reduce_sum(self.op("Mul", rows, self.unsqueeze(weights, 2)), 1)


# ---------------------------------------------------------------------------- classifier


def _deep_averaging(g: _Graph, net: DeepAveragingNetwork, ids: str, mask: str) -> str:
    config = net.config
    embedding = net.embedding.weight.data
    pool_ids, pool_mask = ids, mask
    if config.pool_words_only:  # the other rows have no embedding
        pool_mask = g.op("And", mask, g.op("Less", ids, g.const(config.vocab_size, np.int64)))
        pool_ids = g.op("Where", pool_mask, ids, g.const(0, np.int64))
    pooled: list[str] = []
    if config.pooling in ("mean", "mean+max"):
        weights = g.op("Cast", pool_mask, to=g.onnx.TensorProto.FLOAT)
        length = g.op("Max", g.reduce_sum(weights, 1, keepdims=1), g.const(1.0, np.float32))
        pooled.append(g.weighted_sum(embedding, pool_ids, g.op("Div", weights, length)))
    if config.pooling in ("max", "mean+max"):
        rows = g.op("Gather", g.const(embedding), pool_ids)  # (B, T, D)
        masked = g.op("Where", g.unsqueeze(pool_mask, 2), rows, g.const(-np.inf, np.float32))
        largest = g.op("ReduceMax", masked, axes=[1], keepdims=0)
        some = g.op(
            "ReduceMax", g.op("Cast", pool_mask, to=g.onnx.TensorProto.FLOAT), axes=[1], keepdims=1
        )  # (B, 1): 0 for a text with no row, which pools to zeros
        nonempty = g.op("Greater", some, g.const(0.0, np.float32))
        pooled.append(g.op("Where", nonempty, largest, g.const(0.0, np.float32)))
    if config.pooling in ("nb", "tfidf"):
        tokens, first = g.distinct(pool_ids, pool_mask)
        if config.pooling == "nb":  # |naive Bayes ratio| of each distinct row
            ratios = g.op("Gather", g.const(net.nb_table.data), tokens)  # (B, T, K)
            weights = g.op("ReduceMax", g.op("Abs", ratios), axes=[2], keepdims=0)
            weights = g.op("Where", first, weights, g.const(0.0, np.float32))
        else:  # idf of each distinct row, the weights of a text scaled to unit length
            weights = g.op("Gather", g.const(net.idf.data), tokens)
            weights = g.op("Mul", weights, g.op("Cast", first, to=g.onnx.TensorProto.FLOAT))
            norm = g.op("Sqrt", g.reduce_sum(g.op("Mul", weights, weights), 1, keepdims=1))
            tiny = g.const(np.finfo(np.float32).tiny, np.float32)
            weights = g.op("Div", weights, g.op("Max", norm, tiny))
        pooled.append(g.weighted_sum(embedding, tokens, weights))
    features = pooled[0] if len(pooled) == 1 else g.op("Concat", *pooled, axis=1)
    if config.nb_features:  # each text's summed ratios of its distinct rows
        tokens, first = g.distinct(ids, mask)
        ratios = g.op("Gather", g.const(net.nb_table.data), tokens)  # (B, T, K)
        first = g.unsqueeze(g.op("Cast", first, to=g.onnx.TensorProto.FLOAT), 2)
        scores = g.reduce_sum(g.op("Mul", ratios, first), 1)
        features = g.op("Concat", features, scores, axis=1)
    return g.sequential(features, net.mlp)


def _naive_bayes_linear(g: _Graph, net: NaiveBayesLinear, ids: str, mask: str) -> str:
    tokens, first = g.distinct(ids, mask)
    first = g.unsqueeze(g.op("Cast", first, to=g.onnx.TensorProto.FLOAT), 2)
    ratios = g.op("Mul", g.op("Gather", g.const(net.nb_table.data), tokens), first)  # (B, T, K)
    weights = g.op("ReduceMax", g.op("Abs", ratios), axes=[2], keepdims=0)
    pooled = g.weighted_sum(net.embedding.weight.data, tokens, weights)
    scores = g.reduce_sum(ratios, 1)
    return g.linear(g.op("Concat", pooled, scores, axis=1), net.output)


def classifier_to_onnx(clf: Any) -> Any:
    """The ONNX model of a fitted :class:`~ffnlp.estimators.TextClassifier`.

    Raises:
        ValueError: for a classifier ONNX export cannot express (see the module docstring).
    """
    from ffnlp.estimators.contrast import ContrastClauses
    from ffnlp.estimators.lexicon import LexiconClassifier
    from ffnlp.estimators.text import TextClassifier, _members
    from ffnlp.text.row_features import feature_to_dict

    if isinstance(clf, ContrastClauses):
        raise ValueError(
            "ONNX export cannot express the contrast-clause wrapper (--contrast-words): it "
            "cuts each text at its contrast word in Python before the network sees it; "
            "export a classifier trained without --contrast-words"
        )
    if isinstance(clf, LexiconClassifier):
        raise ValueError(
            "ONNX export cannot express the lexicon classifier: its six features are counted "
            "from the text in Python (lexicon words, 'no', pronouns, '!', length); export a "
            "classifier on embeddings (classify train without --features lexicon)"
        )
    if not isinstance(clf, TextClassifier):
        raise TypeError(f"classifier_to_onnx: expected a TextClassifier; got {type(clf).__name__}")
    quantized = getattr(clf, "quantized_", None)
    if quantized is not None and quantized.kept is not None:
        raise ValueError(
            "ONNX export cannot express a model quantized with --cutoff: the rows it dropped "
            "are taken out of each text in Python before pooling; export the model before "
            "quantizing, or quantize it without --cutoff"
        )
    onnx = _onnx()
    g = _Graph(onnx)
    members = _members(clf.model_)
    logits = []
    for member in members:
        if isinstance(member, DeepAveragingNetwork):
            logits.append(_deep_averaging(g, member, "ids", "mask"))
        else:
            logits.append(_naive_bayes_linear(g, member, "ids", "mask"))
    ova = members[0].config.loss == "ova"  # each class its own sigmoid (multi-label)
    if len(logits) == 1:
        out = logits[0]
    elif ova:  # the logit of each class's mean probability (ProbabilityAverage)
        stacked = g.op("Concat", *(g.unsqueeze(g.op("Sigmoid", x), 0) for x in logits), axis=0)
        mean = g.op("ReduceMean", stacked, axes=[0], keepdims=0)
        tiny = g.const(np.finfo(np.float32).tiny, np.float32)
        rest = g.op("Sub", g.const(1.0, np.float32), mean)
        out = g.op(
            "Sub", g.op("Log", g.op("Max", mean, tiny)), g.op("Log", g.op("Max", rest, tiny))
        )
    else:  # the log of the mean of the members' probabilities (ProbabilityAverage)
        stacked = g.op(
            "Concat", *(g.unsqueeze(g.op("LogSoftmax", x, axis=1), 0) for x in logits), axis=0
        )
        total = g.op("ReduceLogSumExp", stacked, axes=[0], keepdims=0)
        out = g.op("Sub", total, g.const(np.log(len(logits)), np.float32))
    g.rename(out, "logits")
    if ova:
        g.nodes.append(onnx.helper.make_node("Sigmoid", ["logits"], ["probabilities"]))
    else:
        g.nodes.append(onnx.helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    classes = len(clf.classes_)
    float_, int64, bool_ = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64, onnx.TensorProto.BOOL
    metadata = {
        "ffnlp.kind": "text_classifier",
        "ffnlp.classes": json.dumps([str(c) for c in clf.classes_.tolist()]),
        "ffnlp.vocab": json.dumps(clf.vocab_.itos),
        "ffnlp.tokenizer": json.dumps(clf.tokenizer_.to_dict()),
        "ffnlp.features": json.dumps([feature_to_dict(f) for f in clf.features_]),
    }
    return g.model(
        [("ids", int64, ["batch", "length"]), ("mask", bool_, ["batch", "length"])],
        [("logits", float_, ["batch", classes]), ("probabilities", float_, ["batch", classes])],
        metadata,
        "ffnlp text classifier: row ids (batch, length) int64 and mask (batch, length) bool "
        "-> logits and probabilities (batch, classes)",
    )


def classifier_inputs(clf: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The ``ids`` (int64) and ``mask`` (bool), (n_texts, length), of ``texts`` for the
    exported classifier: the rows ``clf.predict_proba`` pools, padded."""
    from ffnlp.estimators.base import texts_of, tokens_of

    fitted = clf._fitted
    data = TextDataset.from_ragged(
        *fitted.encoder.rows(tokens_of(fitted.tokenizer, texts_of(texts)))
    )
    (ids, mask), _ = data.batch(np.arange(len(data)))
    return ids.astype(np.int64), mask.astype(bool)


# ---------------------------------------------------------------------------- language model


def lm_to_onnx(lm: FeedforwardLM) -> Any:
    """The ONNX model of a :class:`~ffnlp.models.FeedforwardLM`: context ids (B, W) ->
    log-probabilities of the next token (B, V); W is N, or with FOFE the K words it sums."""
    onnx = _onnx()
    g = _Graph(onnx)
    config = lm.config
    V, N, D, W = config.vocab_size, config.context_size, config.embed_dim, config.window_size
    embedding = lm.embedding.weight.data
    rows = g.op("Gather", g.const(embedding, name="embedding"), "contexts")  # (B, W, D)
    exact = g.op("Slice", rows, g.axes(W - N), g.axes(W), g.axes(1))  # (B, N, D)
    x = g.op("Reshape", exact, g.const([-1, N * D], np.int64))  # (B, N*D)
    if config.fofe:
        x = g.op("Concat", x, _fofe_codes(g, rows, lm), axis=1)  # (B, (N+J)*D)
    h = g.sequential(x, lm.hidden)
    if config.output == "adaptive":
        output, tied = lm.output, lm.output.tied
        if tied is None:
            head_logits = g.linear(h, output.head)
        else:  # the head's word rows are the input's head table
            head = np.concatenate([tied.head.weight.data, output.cluster_weight.data])
            head_logits = g.op("Gemm", h, g.const(head), g.const(output.head_bias.data), transB=1)
        log_head = g.op("LogSoftmax", head_logits, axis=1)  # (B, c_1 + K)
        first = output.cutoffs[0]
        parts = [g.op("Slice", log_head, g.axes(0), g.axes(first), g.axes(1))]
        for k in range(len(output.cutoffs)):
            cluster = g.op("Slice", log_head, g.axes(first + k), g.axes(first + k + 1), g.axes(1))
            if tied is None:
                logits = g.sequential(h, getattr(output, f"tail{k}"))
            else:  # (h P_k) E_k^T
                table, proj = tied.tables()[k + 1].data, tied.projections()[k].data
                logits = g.op("Gemm", g.op("MatMul", h, g.const(proj)), g.const(table), transB=1)
            parts.append(g.op("Add", g.op("LogSoftmax", logits, axis=1), cluster))
        out = g.op("Concat", *parts, axis=1)
    else:
        if config.tie_embeddings:  # h E^T + b
            logits = g.op("Gemm", h, "embedding", g.const(lm.output_bias.data), transB=1)
        else:
            logits = g.linear(h, lm.output)
        if config.direct:
            logits = g.op("Add", logits, g.linear(x, lm.direct))
        out = g.op("LogSoftmax", logits, axis=1)
    g.rename(out, "log_probs")
    metadata = {
        "ffnlp.kind": "feedforward_lm",
        "ffnlp.context_size": str(N),
        "ffnlp.window_size": str(W),  # the ids a context holds: N, or K with FOFE
        "ffnlp.layout": config.layout,
    }
    if lm.vocab is not None:
        metadata["ffnlp.vocab"] = json.dumps(lm.vocab.itos)
    if lm.tokenizer is not None:
        metadata["ffnlp.tokenizer"] = json.dumps(lm.tokenizer.to_dict())
    return g.model(
        [("contexts", onnx.TensorProto.INT64, ["batch", W])],
        [("log_probs", onnx.TensorProto.FLOAT, ["batch", V])],
        metadata,
        "ffnlp feedforward language model: context ids (batch, N) int64 -> natural-log "
        "probabilities of the next token (batch, vocabulary)",
    )


def _fofe_codes(g: _Graph, rows: str, lm: FeedforwardLM) -> str:
    """The FOFE codes of :func:`ffnlp.nn.functional.fofe` from the context's rows
    (B, W, D): a (J, K) matrix of powers a^(K-k), zero where the id is ``<s>``, times the
    last K rows; (B, J*D)."""
    config = lm.config
    W, K, D = config.window_size, config.fofe_history, config.embed_dim
    alphas = np.asarray(config.fofe, dtype=np.float64)
    powers = (alphas[:, None] ** np.arange(K - 1, -1, -1)[None, :]).astype(np.float32)
    ids = g.op("Slice", "contexts", g.axes(W - K), g.axes(W), g.axes(1))  # (B, K)
    counts = g.op("Cast", g.op("Not", g.op("Equal", ids, g.const(Vocab.bos_id, np.int64))), to=1)
    weights = g.op("Mul", g.unsqueeze(counts, 1), g.const(powers))  # (B, J, K)
    last = g.op("Slice", rows, g.axes(W - K), g.axes(W), g.axes(1))  # (B, K, D)
    codes = g.op("MatMul", weights, last)  # (B, J, D)
    return g.op("Reshape", codes, g.const([-1, len(alphas) * D], np.int64))


# ---------------------------------------------------------------------------- files


def export_model(path: str | Path, out: str | Path, format: str = "onnx") -> str:
    """Export the model in file ``path`` to ``out``; returns a one-line description.

    Raises:
        ValueError: for a format ffnlp does not write or a model it cannot express.
        ImportError: when the onnx package is missing.
    """
    from ffnlp.estimators.base import KIND as CLASSIFIER
    from ffnlp.estimators.files import load_classifier
    from ffnlp.models.arpa import looks_like_arpa
    from ffnlp.models.language_model import KIND as LM
    from ffnlp.models.ngram_lm import KIND as NGRAM

    if format not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}; got {format!r}")
    path = Path(path)
    if path.is_file() and looks_like_arpa(path):
        raise ValueError(
            f"{str(path)!r} is an ARPA n-gram model: ONNX cannot express an n-gram model's "
            "look-up tables; KenLM and SRILM read the ARPA file itself"
        )
    meta, _ = io.load_archive(path)
    kind = meta.get("kind")
    if kind == NGRAM:
        raise ValueError(
            f"{str(path)!r} is a Kneser-Ney n-gram model: ONNX cannot express an n-gram "
            "model's look-up tables; write it as ARPA (ffnlp ngram train --arpa FILE), which "
            "KenLM and SRILM read"
        )
    if kind == LM:
        lm = FeedforwardLM.load(path)
        model = lm_to_onnx(lm)
        what = (
            f"feedforward LM ({lm.config.output} softmax); input contexts int64 "
            f"(batch, {lm.config.window_size}); output log_probs float32 "
            f"(batch, {lm.config.vocab_size})"
        )
    elif kind == CLASSIFIER:
        clf = load_classifier(path)
        model = classifier_to_onnx(clf)
        what = (
            "text classifier; inputs ids int64 and mask bool (batch, length); outputs "
            f"logits and probabilities float32 (batch, {len(clf.classes_)})"
        )
    else:
        raise ValueError(f"{str(path)!r} holds a {kind!r} model, which ffnlp cannot export")
    data = model.SerializeToString()
    io.atomic_write(out, lambda handle: handle.write(data))
    return f"wrote {str(out)!r} ({len(data) / 1024:.0f} KB): {what}"
