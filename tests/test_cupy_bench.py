"""The CuPy runner (NVRTC kernels and the cuBLAS gemm prefill): its logic without a GPU.

On a GPU, tests/test_gpu.py runs it against its float64 references.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from pdprof import cupy_bench, variants


def test_flags_are_the_benchmarks():
    p = cupy_bench.parse_args(["--variant", "attention", "--T", "4096", "--profile-layers", "40", "--L", "8"])
    assert (p.variant, p.T, p.L, p.heads, p.kv_heads, p.head_dim) == ("attention", 4096, 8, 32, 8, 128)
    assert p.profile_layers == 8  # capped at L, as the compiled benchmark does


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--T", "0"], "needs a positive integer"),
        (["--variant", "graph"], "invalid choice"),  # graph needs the compiled benchmark's CUDA graphs
        (["--H", "4096", "--heads", "24"], "--H must be divisible by --heads"),
        (["--variant", "attention", "--heads", "32", "--kv-heads", "2"], "heads/kv_heads in {1, 2, 4, 8}"),
        (["--variant", "kv_stream", "--H", "8192", "--heads", "16"], "power of two from 16 to 256"),
    ],
)
def test_bad_flags_are_refused_with_the_reason(argv, message):
    with pytest.raises(cupy_bench.UsageError, match=message):
        cupy_bench.parse_args(argv)


def test_main_exits_2_on_bad_flags_before_touching_cupy(capsys):
    assert cupy_bench.main(["--repeats", "x"]) == 2
    assert "needs a positive integer, got 'x'" in capsys.readouterr().err


def test_the_runners_kernel_constants_are_the_benchmarks():
    # NVRTC instantiates the same templates as nvcc: a drifted constant would time another kernel.
    kernels = Path(cupy_bench.__file__).resolve().parents[2] / "kernels"
    bench = (kernels / "prefill_decode_bench.cu").read_text()
    assert f"#define PDPROF_KV_STREAM_UNROLL {cupy_bench.UNROLL['kv_stream']}\n" in bench
    assert f"constexpr int kUnrollAttention = {cupy_bench.UNROLL['attention']};" in bench
    assert f"#define PDPROF_KV_STREAM_SPLIT_KIB {cupy_bench.STREAM_SPLIT_KIB}\n" in bench
    assert (
        f"#define PDPROF_FMA_CHAINS {cupy_bench.FMA_CHAINS}\n" in (kernels / "prefill_kernels.h").read_text()
    )


def test_fp8_table_is_the_e4m3_format():
    values = cupy_bench.fp8_e4m3_values()
    assert values[0x38] == 1.0 and values[0xB8] == -1.0
    assert values[0x7E] == 448.0  # the largest finite value
    assert values[0x08] == 2.0**-6 and values[0x01] == 2.0**-9  # smallest normal, smallest subnormal
    assert math.isnan(values[0x7F]) and math.isnan(values[0xFF])
    finite = values[~np.isnan(values)]
    assert len(np.unique(finite)) == 253  # 254 finite codes, +0 and -0 compare equal


def test_relative_error_is_normwise_and_nan_never_passes():
    exact = np.array([3.0, 4.0])
    assert cupy_bench.relative_error(np.array([3.0, 4.5]), exact) == pytest.approx(0.1)
    assert not cupy_bench.relative_error(np.array([np.nan, 4.0]), exact) <= 1.0


def test_runner_variants_are_the_registrys():
    runnable = set(cupy_bench.NVRTC_VARIANTS) | {"gemm"}
    assert runnable <= set(variants.VARIANTS)
    assert set(variants.VARIANTS) - runnable == {
        "graph",
        "paged",
    }  # CUDA graphs, page tables: nvcc build only
    assert [v for v, spec in variants.VARIANTS.items() if spec.runner == "cupy"] == ["gemm"]


def test_the_gemm_variant_runs_in_the_runner_everywhere():
    assert variants.program("bin/bench", "gemm")[1:] == ["-m", "pdprof.cupy_bench"]
    assert variants.program("bin/bench", "kv_stream") == ["bin/bench"]


def test_profilers_start_the_runner_for_gemm(tmp_path):
    from pdprof.config import Point
    from pdprof.profilers import ncu, nsys

    point = Point("gemm", 32, 4096, 32, 8, 2048, 256)
    settings = {"metrics": ["gpu__time_duration.sum"], "clock_control": "none", "cache_control": "all",
                "profile_layers": 1}  # fmt: skip
    for argv in (ncu.profile_command(Path("bin/bench"), point, tmp_path / "r", settings, warmup=2),
                 nsys.profile_command(Path("bin/bench"), point, tmp_path / "r", warmup=2, repeats=3)):  # fmt: skip
        start = argv.index("-m") - 1
        assert argv[start : start + 3] == [sys.executable, "-m", "pdprof.cupy_bench"]
        assert "bin/bench" not in argv
