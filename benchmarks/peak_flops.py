"""The machine's peak float32 FLOP rate: computed from what the CPU says it is, and measured.

    python benchmarks/peak_flops.py            # both, as JSON
    python benchmarks/peak_flops.py --threads 1

The computed peak is cores x FMA units per core x float32 lanes per unit x 2 (an FMA is a
multiply and an add) x clock. Cores, vendor, family, model and the SIMD flags come from
``lscpu`` and ``/proc/cpuinfo``; the clock is lscpu's "CPU max MHz" where the kernel knows
it, else /proc/cpuinfo's "cpu MHz" (under a hypervisor that is the nominal TSC clock, not
what the core boosts to). FMA units per core are not reported by the CPU at all: they come
from the table in :func:`fma_units`, by microarchitecture, and are an assumption.

The measured peak runs a loop of independent AVX FMAs (12 accumulators, more than latency
x units, so the FMA pipes never wait) on every thread for about half a second, compiled
by gcc for this CPU (``-march=native -fopenmp``): the rate the machine really gives, clock
included. It is None where gcc is missing or fails. Used by ``benchmarks/vs_torch.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

FMA_KERNEL = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define STORE _mm512_storeu_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define STORE _mm256_storeu_ps
#endif
int main(int argc, char **argv) {
    long iters = atol(argv[1]);
    int threads = 0;
    float sink = 0.0f;
    double start = omp_get_wtime();
#pragma omp parallel reduction(+ : sink)
    {
#pragma omp single
        threads = omp_get_num_threads();
        vec b = SET1(0.9999999f), c = SET1(1e-7f);
        vec a0 = SET1(1.0f), a1 = SET1(1.1f), a2 = SET1(1.2f), a3 = SET1(1.3f);
        vec a4 = SET1(1.4f), a5 = SET1(1.5f), a6 = SET1(1.6f), a7 = SET1(1.7f);
        vec a8 = SET1(1.8f), a9 = SET1(1.9f), a10 = SET1(2.0f), a11 = SET1(2.1f);
        for (long i = 0; i < iters; i++) {
            a0 = FMA(a0, b, c); a1 = FMA(a1, b, c); a2 = FMA(a2, b, c); a3 = FMA(a3, b, c);
            a4 = FMA(a4, b, c); a5 = FMA(a5, b, c); a6 = FMA(a6, b, c); a7 = FMA(a7, b, c);
            a8 = FMA(a8, b, c); a9 = FMA(a9, b, c); a10 = FMA(a10, b, c); a11 = FMA(a11, b, c);
        }
        float out[LANES];
        STORE(out, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
        for (int k = 0; k < LANES; k++) sink += out[k];
    }
    double seconds = omp_get_wtime() - start;
    /* 12 FMAs of LANES lanes per iteration, 2 FLOPs each */
    printf("%d %d %.9f %.17g %f\n", threads, LANES, seconds,
           2.0 * 12 * LANES * (double)iters * threads, sink);
    return 0;
}
"""


def _field(text: str, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def fma_units(vendor: str, family: int, model: int, flags: set[str]) -> tuple[int, int, str]:
    """(FMA units per core, float32 lanes per unit, why): the CPU does not report its FMA
    units, so they come from this table of microarchitectures (vendors' optimisation
    manuals); an unknown CPU is assumed to have two units as wide as its widest SIMD flag."""
    widest = 16 if "avx512f" in flags else 8 if "fma" in flags else 4
    if vendor == "AuthenticAMD":
        if family >= 0x1A:
            return 2, widest, "AMD family 1Ah (Zen 5): two FMA pipes, 512 bits wide"
        if family == 0x19:
            return 2, 8, "AMD family 19h (Zen 3/4): two 256-bit FMA pipes (Zen 4 splits AVX-512)"
        if family == 0x17:
            lanes = 4 if model < 0x30 else 8
            return 2, lanes, "AMD family 17h (Zen 1: 128-bit, Zen 2: 256-bit FMA pipes)"
    if vendor == "GenuineIntel" and widest == 16:
        return 2, 16, "Intel with AVX-512: assumed two 512-bit FMA units (some SKUs have one)"
    return 2, widest, f"assumed two FMA units of the widest SIMD flag ({widest * 32} bits)"


def computed_peak(lscpu: str, cpuinfo: str, threads: int | None = None) -> dict[str, Any]:
    """The peak from ``lscpu``'s and ``/proc/cpuinfo``'s text, for ``threads`` cores (all
    physical cores when None)."""
    vendor = _field(lscpu, "Vendor ID") or _field(cpuinfo, "vendor_id") or "?"
    family = int(_field(lscpu, "CPU family") or _field(cpuinfo, "cpu family") or 0)
    model = int(_field(lscpu, "Model") or _field(cpuinfo, "model") or 0)
    name = _field(lscpu, "Model name") or _field(cpuinfo, "model name") or "?"
    flags = set((_field(lscpu, "Flags") or _field(cpuinfo, "flags") or "").split())
    per_socket = int(_field(lscpu, "Core(s) per socket") or 1)
    sockets = int(_field(lscpu, "Socket(s)") or 1)
    cores = per_socket * sockets
    used = min(cores, threads) if threads else cores
    max_mhz = _field(lscpu, "CPU max MHz")
    if max_mhz:
        mhz, clock_from = float(max_mhz), "lscpu 'CPU max MHz'"
    else:
        mhz = float(_field(cpuinfo, "cpu MHz") or 0.0)
        clock_from = "/proc/cpuinfo 'cpu MHz' (no max MHz known: the nominal clock, not boost)"
    units, lanes, why = fma_units(vendor, family, model, flags)
    per_core = units * lanes * 2 * mhz / 1e3
    return {
        "cpu": f"{name} ({vendor} family {family:#x} model {model:#x})",
        "hypervisor": _field(lscpu, "Hypervisor vendor"),
        "cores": used,
        "fma_units": units,
        "lanes": lanes,
        "ghz": mhz / 1e3,
        "peak_gflops": used * per_core,
        "how": (
            f"{used} cores x {units} FMA units x {lanes} float32 lanes x 2 x {mhz / 1e3:.3f} GHz; "
            f"cores and flags from lscpu, clock from {clock_from}; FMA units: {why}"
        ),
    }


def machine_peak(threads: int | None = None) -> dict[str, Any]:
    """:func:`computed_peak` for this machine."""
    try:
        lscpu = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True, env={**os.environ, "LC_ALL": "C"}
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    return computed_peak(lscpu, cpuinfo, threads)


def blas_kernels() -> str:
    """NumPy's BLAS as it runs in this process: library, version, the kernels it chose
    and its threads, e.g. "openblas 0.3.31.188.0, SkylakeX kernels, 2 threads". OpenBLAS
    picks its kernels by the CPU unless ``OPENBLAS_CORETYPE`` names them; some machines set
    that (with ``OPENBLAS_L2_SIZE``) to keep older OpenBLAS builds from crashing, and on an
    AVX-512 CPU that halves a current NumPy's float32 products (AVX2 Haswell kernels), so
    the line says when the environment chose them."""
    import numpy as np  # loads the BLAS that threadpoolctl then finds

    try:
        import threadpoolctl  # the `threads` extra
    except ImportError:
        return f"? (threadpoolctl is not installed; NumPy {np.__version__})"

    parts = []
    for lib in threadpoolctl.threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        kernels = f", {lib['architecture']} kernels" if lib.get("architecture") else ""
        parts.append(
            f"{lib.get('internal_api')} {lib.get('version')}{kernels}, {lib.get('num_threads')} threads"
        )
    line = "; ".join(parts) or "?"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return line + (f" (chosen by OPENBLAS_CORETYPE={forced} in the environment)" if forced else "")


def measured_fma(threads: int, seconds: float = 0.5) -> dict[str, Any] | None:
    """GFLOP/s of a loop of independent FMAs on ``threads`` threads (None without gcc)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        source, binary = Path(folder) / "fma.c", Path(folder) / "fma"
        source.write_text(FMA_KERNEL)
        built = subprocess.run(
            [gcc, "-O2", "-march=native", "-fopenmp", str(source), "-o", str(binary)],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            return None
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_PROC_BIND": "true"}

        def run(iters: int) -> tuple[int, int, float, float]:
            out = subprocess.run(
                [str(binary), str(iters)], capture_output=True, text=True, env=env, check=True
            ).stdout.split()
            return int(out[0]), int(out[1]), float(out[2]), float(out[3])

        iters = 1_000_000
        _, _, took, _ = run(iters)  # calibrate to about ``seconds``
        iters = max(iters, int(iters * seconds / max(took, 1e-6)))
        best = None
        for _ in range(3):  # the best of three: a shared machine only ever slows it
            used, lanes, took, flops = run(iters)
            rate = flops / took / 1e9
            best = rate if best is None else max(best, rate)
    return {"threads": used, "lanes": lanes, "gflops": best, "how": "gcc -O2 -march=native"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    peak = machine_peak(args.threads)
    measured = measured_fma(args.threads)
    print(json.dumps({"computed": peak, "measured": measured, "blas": blas_kernels()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
