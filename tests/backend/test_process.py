"""The process-wide settings: a plain `import ffnlp` makes none, `tune_process()` makes
both (OpenBLAS's thread timeout, glibc's malloc thresholds), and the `ffnlp` command makes
them before NumPy loads. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ffnlp.backend.process import keep_freed_memory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Page faults while ten 40 MB arrays are allocated and freed, after `setup`.
FAULTS = (
    "import resource, numpy as np\n"
    "np.ones((1024, 10000), np.float32)\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(10): np.ones((1024, 10000), np.float32)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


def _python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter without OPENBLAS_THREAD_TIMEOUT or
    FFNLP_KEEP_FREED_MEMORY in its environment (plus ``env``); its stdout."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_THREAD_TIMEOUT", "FFNLP_KEEP_FREED_MEMORY")
    }
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return run.stdout.strip()


def test_a_plain_import_loads_no_numpy_and_sets_no_environment():
    out = _python(
        "import json, os, sys, ffnlp, ffnlp.backend\n"
        "print(json.dumps(['numpy' in sys.modules, os.environ.get('OPENBLAS_THREAD_TIMEOUT')]))"
    )
    assert json.loads(out) == [False, None]
    # the whole library loaded, still nothing set
    out = _python(
        "import json, os, ffnlp.train, ffnlp.optim\n"
        "print(json.dumps(os.environ.get('OPENBLAS_THREAD_TIMEOUT')))"
    )
    assert json.loads(out) is None


def test_tune_process_before_numpy_sets_the_timeout_openblas_reads_and_keeps_a_users():
    code = (
        "import json, ffnlp.backend\n"
        "s = ffnlp.backend.tune_process()\n"
        "import numpy\n"
        "print(json.dumps([s.openblas_thread_timeout, s.openblas_loaded_before]))"
    )
    assert json.loads(_python(code)) == ["4", False]
    assert json.loads(_python(code, OPENBLAS_THREAD_TIMEOUT="12")) == ["12", False]
    late = (
        "import json, numpy, ffnlp.backend, os\n"
        "s = ffnlp.backend.tune_process()\n"
        "print(json.dumps([s.openblas_thread_timeout, s.openblas_loaded_before,"
        " os.environ['OPENBLAS_THREAD_TIMEOUT']]))"
    )
    # NumPy first: this process's OpenBLAS has read its timeout; the children get it
    assert json.loads(_python(late)) == ["4", True, "4"]


def test_the_ffnlp_command_tunes_the_process_before_numpy_loads():
    run = subprocess.run(
        [sys.executable, "-m", "ffnlp", "info"],
        env={k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"},
        capture_output=True,
        text=True,
        check=True,
    )
    process_line = next(line for line in run.stdout.splitlines() if line.startswith("process"))
    assert process_line.startswith("process OPENBLAS_THREAD_TIMEOUT=4, freed arrays up to")
    assert "NumPy was loaded first" not in process_line


def test_the_ffnlp_command_leaves_malloc_alone_when_asked():
    run = subprocess.run(
        [sys.executable, "-m", "ffnlp", "info"],
        env={**os.environ, "FFNLP_KEEP_FREED_MEMORY": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "freed arrays up to 0 MB kept" in run.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_arrays_are_reused_after_tune_process_only():
    """After `tune_process()`, a 40 MB array freed and allocated again comes back from the
    heap, without the kernel faulting in fresh pages; a plain import leaves malloc as it
    was, and FFNLP_KEEP_FREED_MEMORY=0 opts out."""
    if keep_freed_memory() < 64 << 20:
        pytest.skip("this C library keeps no 40 MB arrays (no mallopt, or an older cap)")
    tuned = "import ffnlp.backend\nffnlp.backend.tune_process()\n" + FAULTS
    assert int(_python(tuned)) < 50
    assert int(_python("import ffnlp.train\n" + FAULTS)) > 100  # ten arrays, fresh pages each
    assert int(_python(tuned, FFNLP_KEEP_FREED_MEMORY="0")) > 100
