"""The feedforward neural language model (Bengio, Ducharme, Vincent & Jauvin 2003).

To predict word t from the N previous words: look up each word's embedding in the shared
matrix E, concatenate the N embeddings into one vector x (the chapter's e = [E x_{t-N};
...; E x_{t-1}]), pass it through hidden layers h = g(W x + b), and output a softmax over the
vocabulary, p(w_t | context) = softmax(U h + b_out).

Options from the paper and after it:

- ``direct``: Bengio's direct connections from the embeddings to the output,
  y = b + W_direct x + U g(H x + d);
- ``tie_embeddings``: the output matrix U is the embedding matrix E (Press & Wolf 2017),
  which needs the last hidden size to equal the embedding size;
- ``dropout`` on the concatenated embeddings and after each hidden layer;
- embeddings initialised from pretrained vectors, optionally frozen;
- ``output="adaptive"``: the adaptive softmax (Grave et al. 2017) for training, much cheaper
  over a large vocabulary; the probabilities it gives for evaluation are exact. With
  ``tie_embeddings`` the input becomes adaptive input embeddings (Baevski & Auli 2019) whose
  tables and projections the output shares;
- ``fofe``: beside the N exact embeddings, the fixed-size ordinally-forgetting encoding of
  the whole history (Zhang, Jiang, Xu, Hou & Dai 2015), z_t = a z_{t-1} + E x_t, one D-vector
  per forgetting factor a, so the network sees far back while its input stays
  (N + J) * D wide (:func:`ffnlp.nn.functional.fofe`; over adaptive input embeddings,
  :meth:`ffnlp.nn.AdaptiveInput.fofe`);
- ``output="auto"`` (the default): the full softmax below :data:`ADAPTIVE_FROM` words, the
  adaptive softmax from there on, with cutoffs from the training text's frequencies
  (:func:`choose_output`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ffnlp import io
from ffnlp.autograd import Tensor, no_grad, ops
from ffnlp.checks import check_cutoffs, check_int
from ffnlp.models.lm_text import TextLM
from ffnlp.nn import (
    ACTIVATIONS,
    MLP,
    AdaptiveInput,
    Dropout,
    Embedding,
    Linear,
    Module,
    Parameter,
    Sequential,
)
from ffnlp.nn import init as nn_init
from ffnlp.nn.adaptive_softmax import AdaptiveSoftmax
from ffnlp.nn.functional import fofe, fofe_window
from ffnlp.settings import Settings, setting
from ffnlp.text.ngrams import LAYOUTS, context_windows
from ffnlp.text.tokenize import Tokenizer
from ffnlp.text.vocab import Vocab

KIND = "feedforward_lm"
OUTPUTS = ("auto", "full", "adaptive")

# output="auto": the adaptive softmax from this many words on (measured in docs/performance.md,
# "Choosing the output layer"), with the head ending where it covers HEAD_SHARE of the
# training tokens and one cluster more at each share of CLUSTER_SHARES.
ADAPTIVE_FROM = 20_000
HEAD_SHARE = 0.8
CLUSTER_SHARES = (0.95,)
# With fofe_window 0, the FOFE codes sum the fewest previous words K whose left-out words
# would carry at most this fraction (max a^K) of a code's weight.
FOFE_TOLERANCE = 1e-3


@dataclass
class FeedforwardLMConfig(Settings):
    """Hyperparameters of :class:`FeedforwardLM` (validated on creation).

    Attributes:
        vocab_size: V, the size of the softmax.
        context_size: N, the number of previous words the model sees (an (N+1)-gram model).
        embed_dim: D, the size of each word embedding.
        hidden_dims: sizes of the hidden layers, e.g. (512,) or (1024, 512); may be empty.
        activation: "tanh" (the paper's), "relu" or "sigmoid".
        dropout: dropout probability on the embeddings and after each hidden layer.
        direct: add direct connections from the embeddings to the output.
        tie_embeddings: use E as the output matrix; needs hidden_dims[-1] == embed_dim.
            With the adaptive softmax, E becomes adaptive input embeddings whose tables
            and projections the output shares (Baevski & Auli 2019).
        freeze_embeddings: keep E fixed (for pretrained vectors).
        sparse_embeddings: give E a row-sparse gradient (only the rows of the batch's
            context words) instead of a dense (V, D) one. Exact with every optimizer (Adam
            densifies it unless asked to be lazy); only faster.
        output: "full" (one softmax over the vocabulary), "adaptive" (the adaptive
            softmax, :class:`ffnlp.nn.AdaptiveSoftmax`; the vocabulary must be sorted by
            frequency, as :meth:`Vocab.build` does) or "auto" (one of them by the
            vocabulary's size, see :func:`choose_output`; a model holds the choice made).
        cutoffs: for the adaptive softmax, where the head and each cluster end; empty:
            chosen from the frequencies (:func:`choose_cutoffs`).
        div_value: for the adaptive softmax, each cluster's projection is this much smaller.
        layout: how training text is cut into windows: "stream" (contexts cross sentence
            ends, the PTB convention) or "sentence" (each sentence padded with <s>).
        fofe: forgetting factors a in (0, 1) of FOFE codes of the history (one code each,
            fed beside the N exact embeddings); empty: none.
        fofe_window: K, how many previous words the codes sum; 0: derived, the smallest K
            with max(fofe)^K <= :data:`FOFE_TOLERANCE` (20 words for 0.7).
    """

    check_on_init: ClassVar[bool] = True

    vocab_size: int  # found from the data, so not a setting
    context_size: int = setting(
        4, "number of previous tokens the model sees (N)", kind="int", minimum=1
    )
    embed_dim: int = setting(128, "size of the word embeddings (D)", kind="int", minimum=1)
    hidden_dims: tuple[int, ...] = setting(
        (512,), "sizes of the hidden layers", kind="ints", minimum=1, flag="hidden"
    )
    activation: str = setting(
        "tanh", "hidden-layer activation", kind="choice", choices=tuple(sorted(ACTIVATIONS))
    )
    dropout: float = setting(
        0.0,
        "dropout on the embeddings and after each hidden layer",
        kind="probability",
    )
    direct: bool = setting(
        False,
        "direct connections from the embeddings to the output (Bengio et al.)",
        kind="bool",
    )
    tie_embeddings: bool = setting(
        False,
        "use the embedding matrix as the output matrix (the last hidden size must equal "
        "--embed-dim)",
        kind="bool",
    )
    freeze_embeddings: bool = setting(False, "keep the embeddings fixed", kind="bool")
    sparse_embeddings: bool = setting(
        True, "a row-sparse gradient for the embeddings (exact; only faster)", kind="bool"
    )
    output: str = setting(
        "auto",
        "output layer: the full softmax, or the adaptive softmax (Grave et al. 2017), "
        "faster to train over a large vocabulary and exact in evaluation; auto: the full "
        f"softmax below {ADAPTIVE_FROM:,} words, else the adaptive one",
        kind="choice",
        choices=OUTPUTS,
    )
    cutoffs: tuple[int, ...] = setting(
        (),
        "adaptive softmax: the frequency ranks where the head and each cluster end "
        f"(default: chosen from the training text, the head's words covering {HEAD_SHARE} of "
        "its tokens, a cluster ending at each of " + ", ".join(map(str, CLUSTER_SHARES)) + ")",
        kind="ints",
        minimum=1,
    )
    div_value: float = setting(
        4.0, "adaptive softmax: each cluster's projection is this much smaller", minimum=1
    )
    layout: str = setting(
        "stream",
        "stream: one running text with </s> after each line (PTB); sentence: lines are independent",
        kind="choice",
        choices=LAYOUTS,
    )
    fofe: tuple[float, ...] = setting(
        (),
        "forgetting factors of FOFE codes of the history (Zhang et al. 2015), fed beside the "
        "--context-size exact embeddings, e.g. 0.7 (none: off)",
        kind="reals",
        minimum=0,
        maximum=1,
        min_inclusive=False,
        max_inclusive=False,
    )
    fofe_window: int = setting(
        0,
        "how many previous words the FOFE codes sum (0: the fewest whose left-out words "
        f"would carry under {FOFE_TOLERANCE:g} of the weight, 20 for 0.7)",
        kind="int",
        minimum=0,
    )

    def __post_init__(self) -> None:
        # Each setting checked by its declaration, and stored as a plain int, float or tuple
        # (a NumPy integer is accepted), so the file's JSON can hold them.
        super().__post_init__()
        self.vocab_size = check_int("vocab_size", self.vocab_size, minimum=1)
        last = self.hidden_dims[-1] if self.hidden_dims else self.input_dim
        if self.tie_embeddings and last != self.embed_dim:
            raise ValueError(
                f"tie_embeddings needs the last hidden size to equal embed_dim ({self.embed_dim}); "
                f"got {last}. Set the last of hidden_dims to {self.embed_dim} or turn tying off"
            )

        if self.output == "adaptive":
            if self.cutoffs:
                check_cutoffs(self.cutoffs, self.vocab_size)
            if self.direct:
                raise ValueError(
                    "output='adaptive' cannot be combined with direct; use output='full' "
                    "(or 'auto', which then chooses it) for direct connections"
                )

    @property
    def fofe_history(self) -> int:
        """K, how many previous words the FOFE codes sum (0 without FOFE)."""
        if not self.fofe:
            return 0
        return self.fofe_window or fofe_window(self.fofe, FOFE_TOLERANCE)

    @property
    def window_size(self) -> int:
        """How many previous ids each context holds: max(N, K)."""
        return max(self.context_size, self.fofe_history)

    @property
    def input_dim(self) -> int:
        """The width of the network's input: N exact embeddings and J codes, (N + J) * D."""
        return (self.context_size + len(self.fofe)) * self.embed_dim

    @property
    def resolved(self) -> bool:
        """Whether the output layer is fully decided (no "auto", the cutoffs given)."""
        return self.output == "full" or (self.output == "adaptive" and bool(self.cutoffs))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hidden_dims"] = list(self.hidden_dims)
        data["cutoffs"] = list(self.cutoffs)
        data["fofe"] = list(self.fofe)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeedforwardLMConfig:
        if not isinstance(data, dict):
            raise ValueError("language model configuration must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"language model configuration has unknown settings {unknown}")
        # A file holds the output layer it was built with; one written before `output`
        # existed had the full softmax (not today's default, "auto", to be decided).
        data = {"output": "full", **data}
        if data["output"] == "auto" or (data["output"] == "adaptive" and not data.get("cutoffs")):
            raise ValueError(
                f"language model configuration: output {data['output']!r} without cutoffs is "
                "not decided; a model file holds the output layer its model was built with"
            )
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"language model configuration: {err}") from None


def choose_cutoffs(counts: np.ndarray | None, vocab_size: int) -> tuple[int, ...]:
    """Cutoffs for a vocabulary sorted by frequency: the head ends at the first rank whose
    words cover :data:`HEAD_SHARE` of the tokens, a cluster at each of
    :data:`CLUSTER_SHARES`, each rounded to two significant digits.

    Args:
        counts: (V,) how often each id occurs in the training text; None assumes Zipf's
            law (count proportional to 1 / rank), for a model built without its text.
        vocab_size: V.

    Returns:
        increasing cutoffs in (0, V); at least one.
    """
    if counts is None:
        counts = 1.0 / np.arange(1, vocab_size + 1)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (vocab_size,):
        raise ValueError(f"counts must have shape ({vocab_size},); got {counts.shape}")
    share = np.cumsum(counts) / max(counts.sum(), 1.0)
    cutoffs: list[int] = []
    for target in (HEAD_SHARE, *CLUSTER_SHARES):
        rank = int(np.searchsorted(share, target)) + 1  # the words 0..rank-1 cover target
        digits = max(0, len(str(rank)) - 2)
        rank = int(round(rank, -digits))  # 2,614 -> 2,600: a cutoff a person can repeat
        if (not cutoffs or rank > cutoffs[-1]) and rank < vocab_size:
            cutoffs.append(rank)
    return tuple(cutoffs) or (max(1, vocab_size // 2),)


def token_counts(sentences: Sequence[np.ndarray] | np.ndarray, vocab_size: int) -> np.ndarray:
    """(V,) how often each id is to be predicted: in a list of encoded ``sentences``, every
    token and ``</s>`` once per sentence; in one flat array of ids (an encoded corpus,
    memory-mapped, ``</s>`` already in it), every id, read a block at a time."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    if isinstance(sentences, np.ndarray):
        block = 1 << 18  # bincount widens a block to int64: 2 MiB, not the corpus
        for start in range(0, len(sentences), block):
            counts += np.bincount(sentences[start : start + block], minlength=vocab_size)
        return counts
    if sentences:
        counts += np.bincount(np.concatenate(sentences).astype(np.int64), minlength=vocab_size)
    counts[Vocab.eos_id] += len(sentences)
    return counts


def choose_output(
    config: FeedforwardLMConfig, counts: np.ndarray | None = None
) -> tuple[FeedforwardLMConfig, str]:
    """The configuration with its output layer decided, and one line saying what it is.

    ``output="auto"`` becomes "full" below :data:`ADAPTIVE_FROM` words (or with ``direct``,
    which the adaptive softmax lacks), else "adaptive"; an adaptive softmax without cutoffs
    gets :func:`choose_cutoffs` of ``counts`` (the training text's count of each id).

    >>> config, line = choose_output(FeedforwardLMConfig(vocab_size=40_000))
    >>> config.output, config.cutoffs
    ('adaptive', (4300, 23000))
    """
    V = config.vocab_size
    output = config.output
    if output == "auto":
        output = "adaptive" if V >= ADAPTIVE_FROM and not config.direct else "full"
    chosen = f" (chosen for {V:,} words)"
    if output == "full":
        line = "output: full softmax" + (chosen if config.output == "auto" else "")
        return replace(config, output="full"), line
    cutoffs = config.cutoffs or choose_cutoffs(counts, V)
    kind = (
        "adaptive softmax tied to adaptive input" if config.tie_embeddings else "adaptive softmax"
    )
    line = f"output: {kind}, cutoffs {' '.join(map(str, cutoffs))}"
    line += chosen if config.output == "auto" or not config.cutoffs else ""
    return replace(config, output="adaptive", cutoffs=cutoffs), line


class FeedforwardLM(Module, TextLM):
    """Bengio et al. (2003)'s neural probabilistic language model.

    ``forward(contexts, targets=None)`` takes ids (B, W) and returns (logits (B, V), loss),
    the mean cross-entropy when targets (B,) are given (else None). With
    ``output="adaptive"``, a training-mode call with targets computes only the loss and
    returns None for the logits; otherwise the "logits" are exact log-probabilities. W is
    ``config.window_size``: N, or with FOFE the K previous words its codes sum if more.
    A configuration with ``output="auto"`` (or adaptive without cutoffs) is decided by
    :func:`choose_output` (Zipf's law standing in for the text's counts); ``self.config``
    holds the decision.

    Args:
        config: the hyperparameters.
        vocab, tokenizer: attach them to score and generate text directly.
        pretrained: optional (V, D) matrix to start the embeddings from.
        rng: seed or Generator for initialisation and dropout.

    >>> lm = FeedforwardLM(FeedforwardLMConfig(vocab_size=10, context_size=2, embed_dim=4, hidden_dims=(8,)), rng=0)
    >>> logits, loss = lm(np.array([[1, 2]]), np.array([3]))
    >>> logits.shape
    (1, 10)
    """

    def __init__(
        self,
        config: FeedforwardLMConfig,
        vocab: Vocab | None = None,
        tokenizer: Tokenizer | None = None,
        pretrained: np.ndarray | None = None,
        rng: nn_init.RngLike = None,
    ) -> None:
        super().__init__()
        if vocab is not None and len(vocab) != config.vocab_size:
            raise ValueError(
                f"the vocabulary has {len(vocab)} tokens but vocab_size is {config.vocab_size}"
            )
        if not config.resolved:
            config = choose_output(config)[0]
        self.config = config
        self.vocab = vocab
        self.tokenizer = tokenizer
        rng = nn_init.as_generator(rng)
        V, D = config.vocab_size, config.embed_dim
        adaptive_input = config.output == "adaptive" and config.tie_embeddings
        if adaptive_input:
            self.embedding = AdaptiveInput(
                V, D, config.cutoffs, config.div_value, config.sparse_embeddings, rng=rng
            )
        else:
            self.embedding = Embedding(V, D, sparse=config.sparse_embeddings, rng=rng)
        if pretrained is not None and adaptive_input:
            raise ValueError(
                "pretrained embeddings need a full (V, D) table, which the tied adaptive "
                "softmax replaces by smaller rows for rare words; untie it "
                "(tie_embeddings=False) or use output='full'"
            )
        if pretrained is not None:
            pretrained = np.asarray(pretrained, dtype=np.float32)
            if pretrained.shape != (V, D):
                raise ValueError(
                    f"pretrained embeddings have shape {pretrained.shape}; expected ({V}, {D})"
                )
            self.embedding.weight.data[...] = pretrained
        if config.freeze_embeddings:
            for p in self.embedding.parameters():
                p.requires_grad_(False)
        self.input_dropout = Dropout(config.dropout, rng=rng)
        # The hidden layers: an MLP whose every layer, the last too, is activated.
        sizes = [config.input_dim, *config.hidden_dims]
        self.hidden = (
            MLP(sizes, config.activation, config.dropout, rng=rng, activate_last=True)
            if config.hidden_dims
            else Sequential()
        )
        width = sizes[-1]  # H, or the input's (N+J)*D with no hidden layer
        if config.output == "adaptive":
            self.output = AdaptiveSoftmax(
                width,
                V,
                config.cutoffs,
                config.div_value,
                rng=rng,
                tied=self.embedding if adaptive_input else None,
            )
        elif config.tie_embeddings:
            self.output_bias = Parameter(np.zeros(V, dtype=np.float32))
        else:
            self.output = Linear(width, V, rng=rng)
        if config.direct:
            self.direct = Linear(config.input_dim, V, bias=False, rng=rng)

    @staticmethod
    def parameter_shapes(config: FeedforwardLMConfig) -> dict[str, tuple[int, ...]]:
        """The name and shape of every parameter a model of ``config`` has, without building
        it (to check a file before trusting its sizes)."""
        if not config.resolved:
            config = choose_output(config)[0]
        V, D = config.vocab_size, config.embed_dim
        tied_adaptive = config.output == "adaptive" and config.tie_embeddings
        shapes: dict[str, tuple[int, ...]] = (
            AdaptiveInput.parameter_shapes(V, D, config.cutoffs, config.div_value, "embedding.")
            if tied_adaptive
            else {"embedding.weight": (V, D)}
        )
        sizes = [config.input_dim, *config.hidden_dims]
        if config.hidden_dims:
            shapes.update(
                MLP.parameter_shapes(sizes, config.dropout, prefix="hidden.", activate_last=True)
            )
        width = sizes[-1]
        if config.output == "adaptive":
            shapes.update(
                AdaptiveSoftmax.parameter_shapes(
                    width, V, config.cutoffs, config.div_value, "output.", tied=tied_adaptive
                )
            )
        elif config.tie_embeddings:
            shapes["output_bias"] = (V,)
        else:
            shapes["output.weight"], shapes["output.bias"] = (V, width), (V,)
        if config.direct:
            shapes["direct.weight"] = (V, config.input_dim)
        return shapes

    def forward(self, contexts: Any, targets: Any = None) -> tuple[Tensor | None, Tensor | None]:
        contexts = np.asarray(contexts)
        config = self.config
        N, W = config.context_size, config.window_size
        if contexts.ndim != 2 or contexts.shape[1] != W:
            raise ValueError(f"contexts must have shape (B, {W}); got {contexts.shape}")
        x = self.embedding(contexts[:, W - N :]).reshape(len(contexts), N * config.embed_dim)
        if config.fofe:  # the codes of the last K words beside the N exact ones
            history = contexts[:, W - config.fofe_history :]
            if isinstance(self.embedding, AdaptiveInput):  # band by band, then projected
                codes = self.embedding.fofe(history, config.fofe, ignore=Vocab.bos_id)
            else:
                codes = fofe(
                    self.embedding.weight,
                    history,
                    config.fofe,
                    ignore=Vocab.bos_id,  # the padding before a text's start adds nothing
                    sparse=self.embedding.sparse,
                )  # (B, J*D)
            x = ops.concatenate([x, codes], axis=1)  # (B, (N+J)*D)
        x = self.input_dropout(x)
        h = self.hidden(x)
        if self.config.output == "adaptive":
            if self.training and targets is not None:
                # Training needs only the loss: the clusters' softmaxes are computed just
                # for the examples whose target is in them, and no (B, V) output exists.
                return None, self.output.loss(h, targets)
            # Exact log-probabilities; cross-entropy of these as logits is their NLL,
            # since log_softmax leaves normalised log-probabilities unchanged.
            logits = self.output.log_prob(h)  # (B, V)
            return logits, None if targets is None else ops.cross_entropy(logits, targets)
        if self.config.tie_embeddings:
            logits = ops.linear(h, self.embedding.weight, self.output_bias)  # h E^T + b
        else:
            logits = self.output(h)
        if self.config.direct:
            logits = logits + self.direct(x)
        loss = None if targets is None else ops.cross_entropy(logits, targets)
        return logits, loss

    # ------------------------------------------------------------------ use
    def windows(self, sentences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(contexts, targets) of ``sentences`` in this model's layout."""
        return context_windows(sentences, self.config.window_size, self.config.layout)

    def log_probs(self, sentences: Sequence[np.ndarray], batch_size: int = 1024) -> np.ndarray:
        """Natural-log probability of each predicted token (every token, then ``</s>``, per
        sentence), in evaluation mode."""
        contexts, targets = self.windows(sentences)
        return self.window_log_probs(contexts, targets, batch_size)

    def independent_log_probs(
        self, sentences: Sequence[np.ndarray], batch_size: int = 1024
    ) -> np.ndarray:
        """Each sentence scored on its own, its context starting from :meth:`start_context`."""
        N = self.config.window_size
        start = np.array(self.start_context(), dtype=np.int64)
        eos = np.array([Vocab.eos_id], dtype=np.int64)
        ids = np.concatenate(
            [part for s in sentences for part in (start, np.asarray(s, dtype=np.int64), eos)]
        )
        is_target = np.ones(len(ids), dtype=bool)
        block_starts = np.cumsum([0] + [N + len(s) + 1 for s in sentences])[:-1]
        is_target[(block_starts[:, None] + np.arange(N)[None, :]).ravel()] = False
        windows = np.lib.stride_tricks.sliding_window_view(ids, N + 1)[is_target[N:]]
        return self.window_log_probs(
            np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, -1]), batch_size
        )

    def window_log_probs(
        self, contexts: np.ndarray, targets: np.ndarray, batch_size: int = 1024
    ) -> np.ndarray:
        was_training = self.training
        self.eval()
        out = np.empty(len(targets), dtype=np.float64)
        try:
            with no_grad():
                for start in range(0, len(targets), batch_size):
                    stop = start + batch_size
                    logits, _ = self(contexts[start:stop])
                    out[start:stop] = -ops.cross_entropy(
                        logits, targets[start:stop], reduction="none"
                    ).data
        finally:
            self.train(was_training)
        return out

    def start_context(self) -> list[int]:
        N = self.config.window_size
        if self.config.layout == "sentence":
            return [Vocab.bos_id] * N
        return [Vocab.bos_id] * (N - 1) + [Vocab.eos_id]  # a sentence follows the last one's </s>

    def next_distribution(self, context: Sequence[int]) -> np.ndarray:
        N = self.config.window_size
        context = [Vocab.bos_id] * max(0, N - len(context)) + [int(t) for t in context][-N:]
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                logits, _ = self(np.array([context]))
        finally:
            self.train(was_training)
        return ops.softmax(logits.astype(np.float64)).data[0]

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        """Write the model, its configuration, vocabulary and tokenizer to one file."""
        if self.vocab is None or self.tokenizer is None:
            raise ValueError("save: attach a vocab and a tokenizer to the model first")
        meta = {
            "config": self.config.to_dict(),
            "vocab": self.vocab.to_dict(),
            "tokenizer": self.tokenizer.to_dict(),
            "extra": extra or {},
        }
        io.save_archive(path, KIND, meta, self.state_dict())

    @classmethod
    def load(cls, path: str | Path) -> FeedforwardLM:
        """Read a model written by :meth:`save`, checking everything before building it."""
        meta, arrays = io.load_archive(path, kind=KIND)
        try:
            config = FeedforwardLMConfig.from_dict(meta["config"])
            vocab = Vocab.from_dict(meta["vocab"])
            tokenizer = Tokenizer.from_dict(meta["tokenizer"])
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(
                f"{str(path)!r}: the model description is incomplete ({err})"
            ) from None
        if len(vocab) != config.vocab_size:
            raise ValueError(
                f"{str(path)!r}: the vocabulary has {len(vocab)} tokens but vocab_size is {config.vocab_size}"
            )
        io.check_shapes(path, arrays, cls.parameter_shapes(config))
        model = cls(config, vocab=vocab, tokenizer=tokenizer, rng=0)
        model.load_state_dict(arrays)
        model.extra = meta.get("extra", {})
        return model
