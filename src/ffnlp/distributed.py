"""Data-parallel training over MPI: K processes, one model, the same answer as one process.

Every rank holds the whole model. Rank 0's initial parameters are broadcast; each rank
draws the same permutation of the training data and takes its own share of every global
batch; after backward, the gradients are summed across ranks (each rank's gradient weighted
by its share of the batch, so the sum is the gradient of the global batch's mean loss) and
every rank takes the same optimizer step. A K-rank run with global batch B therefore gives
the parameters of a 1-rank run with batch B, up to float32 round-off in the order of the
sums.

Dense gradients travel in one Allreduce. Embedding gradients travel as the rows a batch
touched, gathered from every rank (Allgatherv), when those rows take fewer bytes than the
dense matrix (see :func:`prefer_sparse` and ``docs/scaling.md``, where the rule is measured).

:func:`world` is the entry point: under ``mpirun -n K`` (K > 1) it returns an
:class:`MPICommunicator` (mpi4py, imported only then); otherwise a :class:`SingleProcess`
that does nothing, so without MPI everything runs exactly as before.

Failures: a rank waiting for the others gives up after ``timeout`` seconds with
:class:`RankLost` (a rank died or hangs) instead of waiting for ever; ranks started with
different settings or data are refused at the start with :class:`RanksDisagree`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ffnlp.autograd.sparse import RowSparseGrad
from ffnlp.backend.sorting import unique
from ffnlp.checks import check_choice
from ffnlp.nn import Embedding, Module, Parameter

TIMEOUT_ENV = "FFNLP_MPI_TIMEOUT"
GRADIENTS_ENV = "FFNLP_EMBEDDING_GRADIENTS"  # auto | dense | sparse
DEFAULT_TIMEOUT = 300.0  # seconds; longer than any step, checkpoint or model save
# The process-count variables of the common launchers (Open MPI, MPICH/Hydra, Slurm's PMI).
_SIZE_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")
_ID_BYTES = 8  # a row id travels as int64


class RankLost(RuntimeError):
    """The other ranks did not answer within the timeout: one died, was killed, or hangs."""


class RanksDisagree(ValueError):
    """Ranks were started with different settings or data (found before any training)."""


class Communicator:
    """What data-parallel training needs from a group of processes.

    Attributes:
        rank: this process's number, 0 .. size-1; rank 0 is the one that writes files.
        size: K, the number of processes.
        bytes_sent: bytes this rank has sent so far under the ring algorithms' model: an
            Allreduce of n bytes sends 2(K-1)/K n, an Allgather of T bytes in all sends
            (K-1)/K T (what Open MPI's large-message algorithms do).
        embedding_gradients: how embedding gradients travel: "auto" (as rows when that
            sends fewer bytes), "dense" or "sparse" (see :func:`sum_gradients`).
    """

    rank = 0
    size = 1
    embedding_gradients = "auto"

    def __init__(self) -> None:
        self.bytes_sent = 0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        """The element-wise sum of ``array`` over all ranks (the same on every rank)."""
        return array

    def allgatherv(self, array: np.ndarray, counts: Sequence[int]) -> np.ndarray:
        """Every rank's ``array`` (rank r's has ``counts[r]`` rows), concatenated by rank."""
        return array

    def allgather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (small, JSON-able), in rank order."""
        return [obj]

    def broadcast(self, array: np.ndarray) -> None:
        """Overwrite ``array`` (in place) with rank 0's."""

    def abort(self, exit_code: int) -> None:
        """End every rank now (after an error one rank cannot recover from alone)."""
        raise SystemExit(exit_code)


class SingleProcess(Communicator):
    """One process: every collective is the identity."""


class MPICommunicator(Communicator):
    """The processes of ``MPI.COMM_WORLD``, through mpi4py.

    Collectives are non-blocking and polled, so a rank whose peer died gives up after
    ``timeout`` seconds (default ``$FFNLP_MPI_TIMEOUT`` or 300) with :class:`RankLost`
    instead of hanging; ``mpirun`` itself also ends the job when a process dies.
    """

    def __init__(self, timeout: float | None = None) -> None:
        super().__init__()
        try:
            from mpi4py import MPI
        except ImportError as err:
            raise ImportError(
                f"this process was started by mpirun with {_launched_size()} processes, but "
                f"mpi4py cannot be imported ({err}); install it with: pip install 'ffnlp[mpi]' "
                "(it needs an MPI library, e.g. Debian's openmpi-bin and libopenmpi-dev)"
            ) from None
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.embedding_gradients = os.environ.get(GRADIENTS_ENV, "auto")
        self.timeout = float(
            os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT) if timeout is None else timeout
        )

    def _wait(self, request: Any, what: str) -> None:
        if request.Test():
            return
        deadline = time.monotonic() + self.timeout
        pause = 1e-5
        while not request.Test():
            if time.monotonic() > deadline:
                raise RankLost(
                    f"rank {self.rank} of {self.size}: no answer from the other ranks for "
                    f"{self.timeout:g} s during {what}; a rank has died, was killed or hangs. "
                    f"Stopping (raise ${TIMEOUT_ENV} if steps are really that slow)"
                )
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)

    def allreduce_sum(self, array: np.ndarray) -> np.ndarray:
        array = np.ascontiguousarray(array)
        out = np.empty_like(array)
        self._wait(self.comm.Iallreduce(array, out, op=self._MPI.SUM), "a gradient Allreduce")
        self.bytes_sent += int(2 * (self.size - 1) * array.nbytes / self.size)
        return out

    def allgatherv(self, array: np.ndarray, counts: Sequence[int]) -> np.ndarray:
        array = np.ascontiguousarray(array)
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        out = np.empty((int(sum(counts)), *array.shape[1:]), dtype=array.dtype)
        sizes = [int(c) * row for c in counts]
        self._wait(
            self.comm.Iallgatherv(array, [out, sizes]), "a gather of embedding-gradient rows"
        )
        self.bytes_sent += int((self.size - 1) * out.nbytes / self.size)
        return out

    def allgather_object(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (JSON-able), gathered with the same timeout as a step, so a
        rank that hangs before training starts is noticed too."""
        mine = np.frombuffer(json.dumps(obj, sort_keys=True).encode(), dtype=np.uint8)
        lengths = np.empty(self.size, dtype=np.int64)
        what = "the start-up check of settings and data"
        self._wait(self.comm.Iallgather(np.array([len(mine)], np.int64), lengths), what)
        everything = np.empty(int(lengths.sum()), dtype=np.uint8)
        self._wait(self.comm.Iallgatherv(mine, [everything, lengths.tolist()]), what)
        ends = np.cumsum(lengths)
        return [
            json.loads(everything[end - n : end].tobytes().decode())
            for n, end in zip(lengths.tolist(), ends.tolist())
        ]

    def broadcast(self, array: np.ndarray) -> None:
        self._wait(self.comm.Ibcast(array, root=0), "the broadcast of the parameters")

    def abort(self, exit_code: int) -> None:
        self.comm.Abort(exit_code)


def _launched_size() -> int:
    for name in _SIZE_ENV:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


_world: Communicator | None = None


def world() -> Communicator:
    """The processes this one was started with: an :class:`MPICommunicator` under
    ``mpirun -n K`` with K > 1, else a :class:`SingleProcess` (mpi4py is not imported).

    Raises:
        ImportError: started by mpirun with K > 1 but mpi4py is missing.
    """
    global _world
    if _world is None:
        _world = MPICommunicator() if _launched_size() > 1 else SingleProcess()
    return _world


# ---------------------------------------------------------------------------- start-up


def shard(indices: np.ndarray, comm: Communicator) -> np.ndarray:
    """This rank's share of a global batch: the ``rank``-th of ``size`` near-equal
    contiguous pieces (the first ``len % size`` pieces have one more)."""
    if comm.size == 1:
        return indices
    return np.array_split(indices, comm.size)[comm.rank]


def start_together(model: Module, parts: dict[str, Any], comm: Communicator) -> None:
    """Make K ranks one run: refuse ranks that differ in any of ``parts`` (see
    :func:`check_same_start`), give every rank rank 0's parameters, and give each rank
    its own dropout draws (see :func:`separate_generators`)."""
    check_same_start(parts, comm)
    broadcast_parameters(model, comm)
    separate_generators(model, comm)


def broadcast_parameters(model: Module, comm: Communicator) -> None:
    """Give every rank rank 0's parameters."""
    for p in model.parameters():
        comm.broadcast(p.data)


def separate_generators(model: Module, comm: Communicator) -> None:
    """Rank r's dropout generators jump 2^128·r draws ahead of rank 0's, so the ranks
    draw independent masks for their different examples (rank 0, and a 1-rank run, are
    untouched). With dropout > 0 a K-rank run therefore differs from a 1-rank run (other
    masks, same distribution); without dropout they are equal."""
    if comm.rank == 0:
        return
    for _, generator in model.named_generators():
        generator.bit_generator.state = generator.bit_generator.jumped(comm.rank).state


def data_fingerprint(data: Any, samples: int = 256) -> str:
    """A short hash of a dataset: its length and ``samples`` evenly spaced examples (from
    ``data.batch``), or ``data.fingerprint()`` when it has one. Cheap for any size."""
    if data is None:
        return "none"
    if hasattr(data, "fingerprint"):
        return str(data.fingerprint())
    n = len(data)
    digest = hashlib.blake2b(str(n).encode(), digest_size=16)
    if n:
        _feed(digest, data.batch(np.unique(np.linspace(0, n - 1, samples).astype(np.int64))))
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        for key in sorted(value):
            digest.update(str(key).encode())
            _feed(digest, value[key])
    else:
        _feed(digest, np.asarray(value))


def check_same_start(parts: dict[str, Any], comm: Communicator) -> None:
    """Refuse to train when ranks differ in any of ``parts`` (e.g. settings, parameter
    shapes, training data), naming what differs and on which rank.

    Raises:
        RanksDisagree: on every rank, so all of them stop together.
    """
    if comm.size == 1:
        return
    mine = {
        k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()
        for k, v in parts.items()
    }
    everyone = comm.allgather_object(mine)
    for rank, theirs in enumerate(everyone[1:], start=1):
        differing = sorted(
            k for k in everyone[0].keys() | theirs.keys() if everyone[0].get(k) != theirs.get(k)
        )
        if differing:
            raise RanksDisagree(
                f"rank {rank} of {comm.size} was started with different {' and '.join(differing)} "
                "than rank 0; every rank must run the same command on the same data"
            )


# ---------------------------------------------------------------------------- every step


def embedding_weights(model: Module) -> set[int]:
    """The ids of the embedding tables' parameters: their gradients may travel sparsely."""
    return {
        id(module.weight)
        for _, module in model.named_modules()
        if isinstance(module, Embedding) and isinstance(module.weight, Parameter)
    }


def prefer_sparse(total_rows: int, num_rows: int, row_bytes: int) -> bool:
    """Whether to gather an embedding gradient's rows rather than Allreduce the matrix.

    A ring Allreduce of the (V, D) matrix sends 2(K-1)/K · V·row_bytes per rank; an
    Allgather of the rows every rank touched sends (K-1)/K · rows·(row_bytes + 8), ids
    included. The rows win when they take fewer bytes, which is what matters between
    machines; on one machine ``benchmarks/scaling.py`` could not separate the two in time
    (``docs/scaling.md``).
    """
    return total_rows * (row_bytes + _ID_BYTES) < 2 * num_rows * row_bytes


def sum_gradients(
    params: Sequence[Parameter],
    comm: Communicator,
    weight: float,
    extras: Sequence[float] = (),
    sparse: set[int] | None = None,
    mode: str = "auto",
) -> np.ndarray:
    """Replace each gradient by the sum over ranks of ``weight`` × the local gradient, and
    return the sums of ``extras`` over ranks.

    With ``weight`` = this rank's share of the global batch, the sum is the gradient of the
    global batch's mean loss, as one process computing the whole batch would have it.

    Args:
        params: every trainable parameter, in the same order on every rank.
        comm: the ranks.
        weight: this rank's examples / the global batch's examples.
        extras: numbers summed across ranks in the first (small) message, as float64.
        sparse: ids of the parameters whose gradients may travel as rows (embeddings, see
            :func:`embedding_weights`).
        mode: "auto" (rows when :func:`prefer_sparse` says so), "dense" or "sparse".

    Returns:
        The summed extras, (len(extras),) float64.

    A parameter that has no gradient on any rank keeps None (the optimizer skips it, as in
    a 1-rank run); a row-sparse gradient stays row-sparse (over the rows any rank touched).
    """
    check_choice("mode", mode, ("auto", "dense", "sparse"))
    K, P = comm.size, len(params)
    candidates = [i for i, p in enumerate(params) if sparse and id(p) in sparse]
    local_rows = {i: _touched_rows(params[i]) for i in candidates}
    # First message (small, float64): extras, who has a gradient, who has a row-sparse
    # one, and a (K, candidates) table of row counts in which each rank fills its own row.
    table = np.zeros((K, len(candidates)))
    table[comm.rank] = [len(local_rows[i][0]) for i in candidates]
    first = np.concatenate(
        [
            np.asarray(extras, dtype=np.float64),
            [p.grad is not None for p in params],
            [isinstance(p.grad, RowSparseGrad) for p in params],
            table.ravel(),
        ]
    )
    first = comm.allreduce_sum(first)
    E = len(extras)
    has_grad = first[E : E + P] > 0
    row_sparse = first[E + P : E + 2 * P] > 0
    counts = first[E + 2 * P :].reshape(K, len(candidates)).astype(np.int64)
    gathered = set()
    for j, i in enumerate(candidates):
        rows, dim = params[i].data.shape
        itemsize = params[i].data.dtype.itemsize
        if has_grad[i] and (
            mode == "sparse"
            or (mode == "auto" and prefer_sparse(int(counts[:, j].sum()), rows, dim * itemsize))
        ):
            gathered.add(i)
    # Second message: every other gradient, dense, in one Allreduce.
    dense = [i for i in range(P) if has_grad[i] and i not in gathered]
    if dense:
        dtype = np.result_type(*(params[i].data.dtype for i in dense))
        flat = np.concatenate([_dense_local(params[i], dtype).ravel() for i in dense])
        if weight != 1:
            flat *= dtype.type(weight)
        flat = comm.allreduce_sum(flat)
        offset = 0
        for i in dense:
            shape = params[i].data.shape
            size = int(np.prod(shape, dtype=np.int64))
            params[i].grad = flat[offset : offset + size].reshape(shape)
            offset += size
    # Then the rows of the embeddings that travel sparsely (and the row ids of row-sparse
    # gradients summed densely, so the optimizer still sees which rows were touched).
    for j, i in enumerate(candidates):
        p = params[i]
        if not has_grad[i] or (i not in gathered and not row_sparse[i]):
            continue
        ids, values = local_rows[i]
        all_ids = comm.allgatherv(ids, counts[:, j])
        if i in gathered:
            all_values = comm.allgatherv(values * values.dtype.type(weight), counts[:, j])
            grad = RowSparseGrad.from_rows(all_ids, all_values, p.data.shape[0])
            p.grad = grad if row_sparse[i] else grad.to_dense()
        else:
            union = unique(all_ids)
            p.grad = RowSparseGrad(union, p.grad[union], p.data.shape)
    for i in range(P):
        if not has_grad[i]:
            params[i].grad = None
    return first[:E]


def _touched_rows(p: Parameter) -> tuple[np.ndarray, np.ndarray]:
    """(ids, rows) of an embedding's local gradient: a row-sparse one's rows, or a dense
    one's non-zero rows (a zero row adds nothing to the sum, so leaving it out is exact)."""
    grad = p.grad
    if grad is None:
        return np.zeros(0, dtype=np.int64), np.zeros((0, p.data.shape[1]), dtype=p.data.dtype)
    if isinstance(grad, RowSparseGrad):
        return grad.indices.astype(np.int64), grad.values
    ids = np.flatnonzero(np.any(grad != 0, axis=1))
    return ids, grad[ids]


def _dense_local(p: Parameter, dtype: np.dtype) -> np.ndarray:
    if p.grad is None:
        return np.zeros(p.data.shape, dtype=dtype)
    grad = p.grad.to_dense() if isinstance(p.grad, RowSparseGrad) else p.grad
    return np.asarray(grad, dtype=dtype)
