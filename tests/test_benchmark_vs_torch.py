"""benchmarks/vs_torch.py's report and benchmarks/peak_flops.py's computed peak: the
headline is ffnlp against the fastest PyTorch variant, a variant that failed is said so,
and the peak comes from what lscpu says, by the formula in the docstring. No PyTorch run:
synthetic results."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


peak_flops = _load("peak_flops")
vs_torch = _load("vs_torch")

# This machine's lscpu, cut down: a KVM guest that reports no max MHz.
ZEN5 = """Architecture:                            x86_64
Vendor ID:                               AuthenticAMD
Model name:                              AMD EPYC
CPU family:                              26
Model:                                   2
Thread(s) per core:                      1
Core(s) per socket:                      2
Socket(s):                               1
Flags:                                   fpu sse sse2 avx fma avx2 avx512f avx512dq avx512bw
Hypervisor vendor:                       KVM
"""
ZEN5_CPUINFO = "processor\t: 0\ncpu MHz\t\t: 2596.118\n"
BROADWELL = """Vendor ID:                GenuineIntel
Model name:               Intel(R) Xeon(R) CPU E5-2690 v4 @ 2.60GHz
CPU family:               6
Model:                    79
Thread(s) per core:       2
Core(s) per socket:       14
Socket(s):                2
CPU max MHz:              3500.0000
Flags:                    fpu sse sse2 avx fma avx2
"""


def test_the_computed_peak_is_cores_units_lanes_two_and_the_clock():
    peak = peak_flops.computed_peak(ZEN5, ZEN5_CPUINFO)
    assert (peak["cores"], peak["fma_units"], peak["lanes"]) == (2, 2, 16)
    assert peak["peak_gflops"] == pytest.approx(2 * 2 * 16 * 2 * 2.596118)
    assert "nominal clock, not boost" in peak["how"] and "Zen 5" in peak["how"]
    assert peak["hypervisor"] == "KVM"
    # physical cores (not hyperthreads) of both sockets, at the max clock lscpu reports
    intel = peak_flops.computed_peak(BROADWELL, "cpu MHz : 1200.0\n")
    assert (intel["cores"], intel["lanes"]) == (28, 8)
    assert intel["peak_gflops"] == pytest.approx(28 * 2 * 8 * 2 * 3.5)
    assert "CPU max MHz" in intel["how"]
    # fewer threads than cores: the peak of the cores used
    assert peak_flops.computed_peak(BROADWELL, "", threads=2)["peak_gflops"] == pytest.approx(
        2 * 2 * 8 * 2 * 3.5
    )


def test_zen_4_splits_avx512_into_two_halves():
    units, lanes, why = peak_flops.fma_units("AuthenticAMD", 0x19, 0x11, {"avx512f", "fma"})
    assert (units, lanes) == (2, 8) and "Zen 3/4" in why
    assert peak_flops.fma_units("AuthenticAMD", 0x17, 0x01, {"fma"})[1] == 4  # Zen 1


def _timed(speed: float, **facts) -> dict:
    return {"units_per_second": speed, "seconds": 1 / speed, "peak_mb": 300.0, **facts}


def _results() -> dict:
    a = {
        "ffnlp": _timed(5000.0, baseline_mb=160.0),
        "torch": _timed(4000.0, baseline_mb=300.0),
        "torch_fused": _timed(4400.0, baseline_mb=300.0),
        "torch_compile": _timed(
            4500.0,
            baseline_mb=310.0,
            warmup_seconds=[30.0, 0.06, 0.05, 0.05, 0.05],
            graphs_after_warmup=1,
            graphs_at_end=1,
        ),
        "fastest_torch": "torch_compile",
        "ratio": 5000 / 4500,
        "ratios": {"torch": 1.25, "torch_fused": 5000 / 4400, "torch_compile": 5000 / 4500},
        "flops": {
            "step_gflop": 8.27,
            "ffnlp_gflops": 180.0,
            "torch_gflops": 140.0,
            "torch_fused_gflops": 150.0,
            "torch_compile_gflops": 155.0,
            "numpy_matmul_gflops": 200.0,
            "fraction_of_limit": 0.9,
            "computed_peak_gflops": 332.0,
            "ffnlp_fraction_of_computed_peak": 180 / 332,
            "numpy_fraction_of_computed_peak": 200 / 332,
            "measured_peak_gflops": 560.0,
            "ffnlp_fraction_of_measured_peak": 180 / 560,
            "numpy_fraction_of_measured_peak": 200 / 560,
        },
    }
    d = {
        "ffnlp": _timed(20000.0, baseline_mb=160.0, test_ppl=10005.37),
        "torch": _timed(16000.0, baseline_mb=300.0, test_ppl=10005.37),
        "torch_compile": {"failed": "BackendCompilerFailed: no compiler"},
        "fastest_torch": "torch",
        "ratio": 1.25,
        "ratios": {"torch": 1.25},
    }
    peak = peak_flops.computed_peak(ZEN5, ZEN5_CPUINFO)
    return {
        "threads": 2,
        "rounds": 5,
        "load_average": [0.5, 0.5, 0.5],
        "configs": {"A": a, "D": d},
        "machine_peak": {
            "computed": peak,
            "measured": {"threads": 2, "lanes": 16, "gflops": 560.0, "how": "gcc"},
        },
    }


def test_the_report_heads_with_the_fastest_pytorch_and_keeps_every_variant():
    lines = vs_torch._report_lines(_results(), "python benchmarks/vs_torch.py", "2.13.0")
    text = "\n".join(lines)
    row_a = next(line for line in lines if line.startswith("| A | tokens/s"))
    cells = [c.strip() for c in row_a.split("|")[1:-1]]
    assert cells[2:6] == ["5,000", "4,000", "4,400", "4,500"]
    assert cells[6] == "**1.11** (fused + compile)"
    assert cells[7:] == ["1.25", "1.14", "1.11"]
    row_d = next(line for line in lines if line.startswith("| D | tokens/s"))
    cells = [c.strip() for c in row_d.split("|")[1:-1]]
    assert cells[3:7] == ["16,000", "-", "failed", "**1.25** (default)"]
    assert "- D: torch.compile failed: BackendCompilerFailed: no compiler" in text
    assert "- A: 5 warm-up steps; the first took 30.0 s (compiling; a timed one 0.2 ms)" in text
    assert "1 in the warm-up, 0 in the timed rounds" in text
    assert "ffnlp's whole step runs at **0.54** of it, NumPy's matmul on A's shapes at 0.60" in text
    assert "2 cores x 2 FMA units x 16 float32 lanes x 2 x 2.596 GHz" in text
    # the measured peak, and the clock it implies: 560 / (2 x 2 x 16 x 2) = 4.375 GHz
    assert "**560 GFLOP/s**, which is 4.38 GHz at 128 FLOP a cycle, above the nominal 2.60" in text
    assert "ffnlp's step runs at **0.32** and NumPy's matmul at 0.36." in text
    assert "ffnlp 10005.37, default 10005.37." in text  # the failed variant is left out


def test_d_runs_compile_alone_and_the_others_all_three():
    assert vs_torch.variants("D") == ("torch", "torch_compile")
    assert vs_torch.variants("C-lazy") == ("torch", "torch_fused", "torch_compile")
    assert vs_torch.label("torch_compile", "D") == "compile"
    assert vs_torch.label("torch_compile", "A") == "fused + compile"
