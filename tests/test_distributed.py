"""Data-parallel training: `mpirun -n 2` gives the 1-process answer; failures stop cleanly.

The tests that start MPI need `mpirun` and mpi4py (`.ci/run` installs both); without them
they are skipped, with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ffnlp import distributed

HAVE_MPI = shutil.which("mpirun") is not None and importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    not HAVE_MPI,
    reason="needs mpirun and mpi4py (apt-get install openmpi-bin libopenmpi-dev; pip install 'ffnlp[mpi]')",
)
# Open MPI refuses root without these, and 2 ranks may exceed the cores it counts.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
SENTENCES = [
    "the stock market fell sharply today",
    "the company said it expects higher profits",
    "the stock rose after the company said it would buy back shares",
    "analysts said the market was calm",
    "the company said its profits fell",
    "shares of the company rose after the market closed",
]
LABELLED = [
    "pos a great film",
    "neg a dull film",
    "pos great fun and warm",
    "neg dull and flat",
    "pos warm and great",
    "neg flat and dull again",
]


def _mpirun(args, tmp_path, ranks=2, timeout=120, env=None, **kwargs):
    command = ["mpirun", "-n", str(ranks), sys.executable, "-m", "ffnlp", *args]
    return subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, **MPI_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def _assert_same_parameters(a, b):
    with np.load(a) as first, np.load(b) as second:
        floats = [k for k in first.files if first[k].dtype.kind == "f"]
        assert floats
        for key in floats:
            np.testing.assert_allclose(first[key], second[key], rtol=1e-4, atol=2e-6, err_msg=key)


def test_one_process_is_the_default_and_does_nothing():
    comm = distributed.world()
    assert isinstance(comm, distributed.SingleProcess) and comm.size == 1 and comm.is_root
    batch = np.arange(10)
    assert distributed.shard(batch, comm) is batch


def test_shards_cover_a_batch_in_order():
    class Rank(distributed.Communicator):
        def __init__(self, rank, size):
            super().__init__()
            self.rank, self.size = rank, size

    batch = np.array([7, 3, 9, 1, 4])
    shards = [distributed.shard(batch, Rank(r, 3)) for r in range(3)]
    assert [s.tolist() for s in shards] == [[7, 3], [9, 1], [4]]
    assert distributed.shard(np.array([5]), Rank(1, 2)).size == 0


def test_sparse_rows_are_chosen_only_when_they_send_fewer_bytes():
    row = 128 * 4
    assert distributed.prefer_sparse(500, 10_000, row)  # a batch touches few rows
    assert not distributed.prefer_sparse(21_000, 10_000, row)  # more rows than the matrix, twice


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize("embedding_gradients", ["auto", "dense"])
def test_two_ranks_train_the_language_model_of_one(tmp_path, embedding_gradients):
    (tmp_path / "train.txt").write_text("\n".join(SENTENCES * 4) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(SENTENCES[:3]) + "\n")
    args = ["lm", "train", "train.txt", "--valid", "valid.txt", "--context-size", "2"]
    args += ["--embed-dim", "8", "--hidden", "16", "--epochs", "3", "--batch-size", "7"]
    args += ["--no-progress", "--seed", "3"]
    one = subprocess.run(
        [sys.executable, "-m", "ffnlp", *args, "--out", "one.npz"],
        cwd=tmp_path,
        capture_output=True,
    )
    assert one.returncode == 0, one.stderr
    env = {distributed.GRADIENTS_ENV: embedding_gradients}
    two = _mpirun([*args, "--out", "two.npz"], tmp_path, env=env)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("wrote 'two.npz'") == 1  # rank 0 alone speaks
    _assert_same_parameters(tmp_path / "one.npz", tmp_path / "two.npz")
    log = (tmp_path / "two.npz.log.jsonl").read_text().splitlines()
    assert sum('"epoch"' in line for line in log) == 3  # and writes the log, once


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize(
    "model, texts",
    [
        (["--bigrams", "--buckets", "1000"], LABELLED * 3),
        (
            ["--bigrams", "--buckets", "0", "--nb-features", "--wide", "--unknown-words", "prefix"],
            LABELLED * 3,
        ),
        (  # each rank weighs its texts by the weights of the whole data, 12 : 6 here
            ["--bigrams", "--nb-features", "--wide", "--class-weight", "balanced"],
            LABELLED * 2 + LABELLED[::2] * 2,
        ),
    ],
)
def test_two_ranks_train_the_classifier_of_one_with_sparse_embedding_rows(tmp_path, model, texts):
    """Two row-sparse tables with the wide tower: still the one-process model."""
    (tmp_path / "train.txt").write_text("\n".join(texts) + "\n")
    args = ["classify", "train", "train.txt", "--format", "label-first", "--embed-dim", "6"]
    args += ["--hidden", "5", *model, "--epochs", "3"]
    args += ["--batch-size", "5", "--no-progress"]
    one = subprocess.run(
        [sys.executable, "-m", "ffnlp", *args, "--out", "one.npz"],
        cwd=tmp_path,
        capture_output=True,
    )
    assert one.returncode == 0, one.stderr
    two = _mpirun([*args, "--out", "two.npz"], tmp_path)
    assert two.returncode == 0, two.stderr
    _assert_same_parameters(tmp_path / "one.npz", tmp_path / "two.npz")


@needs_mpi
def test_ranks_with_different_data_are_refused_at_the_start(tmp_path):
    (tmp_path / "a.txt").write_text("\n".join(SENTENCES) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(reversed(SENTENCES)) + "\n")
    common = ["lm", "train", "--out", "m.npz", "--context-size", "2", "--embed-dim", "4"]
    common += ["--hidden", "4", "--epochs", "1", "--no-progress"]
    python = [sys.executable, "-m", "ffnlp"]
    result = subprocess.run(
        ["mpirun", "-n", "1", *python, *common, "a.txt", ":", "-n", "1", *python, *common, "b.txt"],
        cwd=tmp_path,
        env={**os.environ, **MPI_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "rank 1 of 2 was started with different training data than rank 0" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def _rank_pid(marker, rank, deadline):
    """The pid of the process of `rank` whose command line contains `marker`."""
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
                if marker.encode() not in cmdline or b"mpirun" in cmdline:
                    continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if f"OMPI_COMM_WORLD_RANK={rank}".encode() in f.read().split(b"\0"):
                        return int(pid)
            except OSError:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no rank {rank} process found")


def _wait_for_cpu_seconds(pid: int, seconds: float, deadline: float) -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return
        if (int(fields[11]) + int(fields[12])) / ticks >= seconds:  # utime + stime
            return
        time.sleep(0.1)


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "message"),
    [
        (signal.SIGKILL, "rank 1"),  # mpirun sees the death and ends the job
        (signal.SIGSTOP, "no answer from the other ranks"),  # a hung rank: the timeout
    ],
)
def test_a_rank_that_dies_or_hangs_stops_the_others_in_bounded_time(tmp_path, how, message):
    (tmp_path / "train.txt").write_text("\n".join(SENTENCES * 200) + "\n")
    marker = f"victim-{how.name}.npz"
    args = ["lm", "train", "train.txt", "--out", marker, "--epochs", "1000", "--batch-size", "4"]
    args += ["--context-size", "2", "--embed-dim", "4", "--hidden", "4", "--no-progress"]
    command = ["mpirun", "-n", "2", sys.executable, "-m", "ffnlp", *args]
    env = {**os.environ, **MPI_ENV, distributed.TIMEOUT_ENV: "3"}
    job = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        victim = _rank_pid(marker, 1, time.monotonic() + 60)
        # Let training start: wait for CPU time, not wall time, so a loaded machine that is
        # slow to import and load the data does not freeze the rank before it trains.
        _wait_for_cpu_seconds(victim, 2.5, time.monotonic() + 60)
        os.kill(victim, how)
        started = time.monotonic()
        output, _ = job.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        if job.poll() is None:
            job.kill()
        if how == signal.SIGSTOP:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert job.returncode != 0
    assert elapsed < 30
    assert message in output


@needs_mpi
@pytest.mark.slow
def test_ranks_agree_on_when_max_time_ends_the_run(tmp_path):
    # Each rank's clock passes the deadline at its own moment; the flag travels with the
    # gradients, so both stop after the same (first) step instead of waiting on each other.
    (tmp_path / "train.txt").write_text("\n".join(SENTENCES * 4) + "\n")
    args = ["lm", "train", "train.txt", "--context-size", "2", "--embed-dim", "8"]
    args += ["--hidden", "16", "--batch-size", "7", "--no-progress", "--max-time", "0.000001"]
    two = _mpirun([*args, "--out", "two.npz"], tmp_path)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("after 1 step (stopped by --max-time 0.000001") == 1
