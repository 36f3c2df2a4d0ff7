"""On a real NVIDIA GPU: the benchmark runs, checks its outputs, and ncu profiles only its range.

Marked `gpu`; every test skips cleanly where nvidia-smi finds no GPU.
Run on the lent device with `python3 -m pytest -m gpu`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pdprof import build, config, cupy_bench, gpu, parse, run, variants
from pdprof.profilers import ncu

pytestmark = pytest.mark.gpu
SOURCE = Path(__file__).resolve().parents[1] / "kernels" / "prefill_decode_bench.cu"
SMALL = config.Point("seed", 2, 1024, 8, 2, 512, 64)


@pytest.fixture(scope="module")
def bench_binary(tmp_path_factory) -> Path:
    if not gpu.nvidia_gpus() or shutil.which("nvcc") is None:
        pytest.skip("no NVIDIA GPU with nvcc here")
    out = tmp_path_factory.mktemp("bin") / "prefill_decode_bench"
    build.build("cuda", SOURCE, out, gpu.cuda_arch(), ["-O3", "-std=c++17", "-lineinfo"])
    return out


def test_timing_run_reports_finite_times_and_the_decode_byte_count(bench_binary, tmp_path):
    result = run.run_bench(bench_binary, SMALL, tmp_path / "bench.json", warmup=2, repeats=5, timeout_s=120)
    checks = result["checks"]
    assert checks["prefill_output_finite"] is True and checks["decode_output_finite"] is True
    assert checks["prefill_reference_rel_error"] < checks["reference_tolerance"]
    assert checks["decode_reference_rel_error"] < checks["reference_tolerance"]
    assert len(result["decode"]["ms_all"]) == 5
    d = SMALL.H // SMALL.heads
    assert result["decode"]["kv_bytes_per_step"] == SMALL.L * SMALL.T * d * SMALL.kv_heads * 2 * 4
    assert result["prefill"]["ms_min"] <= result["prefill"]["ms_median"] <= result["prefill"]["ms_max"]
    assert json.loads((tmp_path / "bench.json").read_text())["params"]["T"] == SMALL.T


@pytest.mark.parametrize("variant", sorted(set(variants.VARIANTS) - {"seed"}))
def test_every_variant_matches_its_float64_reference(bench_binary, tmp_path, variant):
    # T = 1000 is no multiple of any split: the masked tail of the last split is exercised.
    point = config.Point(variant, 3, 1024, 8, 2, 1000, 64)
    result = run.run_bench(bench_binary, point, tmp_path / "bench.json", warmup=1, repeats=3, timeout_s=120)
    spec = variants.VARIANTS[variant]
    assert result["phases"] == list(spec.phases)
    checks = result["checks"]
    for phase in ("prefill", "decode"):
        assert checks[f"{phase}_output_finite"] is True
        assert checks[f"{phase}_reference_rel_error"] < checks["reference_tolerance"]
        assert (result[phase] is None) == (phase not in spec.phases)
    if "decode" in spec.phases:  # every layer's own K and V, read once per step
        assert result["decode"]["kv_bytes_per_step"] == 3 * 2 * 2 * 1000 * 128 * spec.kv_bytes


@pytest.mark.parametrize(
    ("H", "heads", "kv_heads"),
    [(1024, 8, 2), (512, 8, 1), (1024, 8, 8), (2048, 16, 8), (2048, 16, 2)],
    ids=["d128-group4", "d64-group8", "d128-group1", "d128-group2", "d128-group8"],
)
@pytest.mark.parametrize("variant", ["attention", "attention_fp8"])
def test_attention_matches_the_reference_for_every_head_dim_and_group(
    bench_binary, tmp_path, variant, H, heads, kv_heads
):
    # bf16 runs on the tensor cores (attention_mma.h) from compute capability 8.0, fp8 from
    # 8.9 (converted to f16 in registers); both in one persistent launch per step from 9.0
    # (attention_persistent.h) where a K/V row fills whole 128-byte swizzle spans: every bf16
    # head dim, fp8 with d = 128 (d = 64 takes one launch per layer). Groups of 8 (70B-class
    # shapes) take two n-tiles of the scores' and P·V's 8 columns.
    point = config.Point(variant, 2, H, heads, kv_heads, 777, 64)
    result = run.run_bench(bench_binary, point, tmp_path / "bench.json", warmup=1, repeats=3, timeout_s=120)
    assert result["checks"]["decode_reference_rel_error"] < result["checks"]["reference_tolerance"]
    major, minor = (int(part) for part in result["device"]["compute_capability"].split("."))
    tensor_core_from = (8, 0) if variant == "attention" else (8, 9)
    assert result["decode"]["tensor_cores"] is ((major, minor) >= tensor_core_from)
    row_bytes = H // heads * (2 if variant == "attention" else 1)
    assert result["decode"]["persistent"] is (major >= 9 and row_bytes % 128 == 0)
    assert result["decode"]["tokens_per_split"] % (64 if result["decode"]["tensor_cores"] else 1) == 0


@pytest.mark.parametrize("overlap", ["on", "off"])
@pytest.mark.parametrize("variant", ["kv_stream", "attention", "graph"])
def test_overlapping_layers_still_match_the_reference(bench_binary, tmp_path, variant, overlap):
    # Consecutive layers share the split partials and arrival counters: with programmatic
    # dependent launch a layer that wrote them before the previous one ended would corrupt it.
    point = config.Point(variant, 8, 2048, 16, 4, 3000, 64)
    flags = ("--layer-overlap", overlap)
    result = run.run_bench(bench_binary, point, tmp_path / "bench.json", 1, 3, 120, bench_flags=flags)
    assert result["checks"]["decode_reference_rel_error"] < result["checks"]["reference_tolerance"]
    assert result["checks"]["decode_output_finite"] is True
    hopper_or_newer = int(result["device"]["compute_capability"].split(".")[0]) >= 9
    assert result["params"]["layer_overlap"] is (overlap == "on" and hopper_or_newer)


@pytest.mark.parametrize(
    ("variant", "batch", "page_size"),
    [("kv_stream", 3, 0), ("attention", 3, 0), ("graph", 2, 0), ("paged", 1, 8), ("paged", 3, 64)],
)
def test_batches_and_pages_match_the_reference(bench_binary, tmp_path, variant, batch, page_size):
    # T = 1000 fills no whole page of 64 and no whole split: the masked tails are exercised; the
    # reference checks the first and the last sequence of the first and the last layer.
    point = config.Point(variant, 4, 1024, 8, 2, 1000, 64, batch=batch, page_size=page_size)
    result = run.run_bench(bench_binary, point, tmp_path / "bench.json", warmup=1, repeats=3, timeout_s=120)
    assert result["checks"]["decode_reference_rel_error"] < result["checks"]["reference_tolerance"]
    assert result["params"]["batch"] == batch and result["params"]["page_size"] == page_size
    assert result["decode"]["kv_bytes_per_step"] == 4 * batch * 2 * 2 * 1000 * 128 * 2


@pytest.mark.parametrize("persistent", ["on", "off"])
@pytest.mark.parametrize(
    ("variant", "L", "batch", "page_size"),
    [
        ("attention", 8, 1, 0),
        ("attention", 3, 3, 0),
        ("attention_fp8", 8, 1, 0),
        ("attention_fp8", 3, 3, 0),
        ("paged", 3, 2, 8),
        ("paged", 3, 1, 128),
    ],
)
def test_persistent_and_per_layer_attention_both_match_the_reference(
    bench_binary, tmp_path, variant, L, batch, page_size, persistent
):
    # One launch for all layers waits, per layer, on a counter the previous layer's merges
    # release; T = 1000 ends inside a ring stage and, with 128-token pages, inside a page.
    # Pages under 64 tokens (a ring stage) take the per-layer kernel (attention_persistent.h).
    point = config.Point(variant, L, 1024, 8, 2, 1000, 64, batch=batch, page_size=page_size)
    flags = ("--persistent", persistent)
    result = run.run_bench(bench_binary, point, tmp_path / "bench.json", 1, 3, 120, bench_flags=flags)
    assert result["checks"]["decode_reference_rel_error"] < result["checks"]["reference_tolerance"]
    assert result["checks"]["decode_output_finite"] is True
    hopper_or_newer = int(result["device"]["compute_capability"].split(".")[0]) >= 9
    runs_persistent = persistent == "on" and hopper_or_newer and (page_size == 0 or page_size >= 64)
    assert result["decode"]["persistent"] is runs_persistent


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--T", "-1"], "--T needs a positive integer"),
        (["--layer-overlap", "maybe"], "--layer-overlap must be"),
        (["--persistent", "yes"], "--persistent must be 'on' or 'off'"),
        (["--variant", "paged", "--page-size", "24"], "--page-size must be a power of two from 8 to 4096"),
        (["--variant", "kv_stream", "--page-size", "16"], "--page-size applies to variant paged only"),
        (["--variant", "seed", "--batch", "2"], "--batch applies to the optimized decode variants"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(bench_binary, argv, message):
    done = subprocess.run([str(bench_binary), *argv], capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr


def test_ncu_profiles_exactly_the_profiler_range(bench_binary, tmp_path):
    if shutil.which("ncu") is None:
        pytest.skip("ncu not installed")
    settings = {
        "metrics": ["gpu__time_duration.sum", "sm__throughput.avg.pct_of_peak_sustained_elapsed",
                    "dram__throughput.avg.pct_of_peak_sustained_elapsed", "dram__bytes_read.sum",
                    "dram__bytes_write.sum"],
        "clock_control": "none", "cache_control": "all", "profile_layers": 2,
    }  # fmt: skip
    ncu.profile(bench_binary, SMALL, tmp_path, settings, warmup=3, timeout_s=300)
    frame = parse.parse_file(tmp_path / "ncu_raw.csv")
    launches = frame.groupby("kernel_short")["launch"].nunique().to_dict()
    # warm-up launches (3 x L per kernel) are outside the range; 2 layers of each are inside
    assert launches == {"prefill_fma_kernel": 2, "decode_kv_scan_kernel": 2}
    canonical = set(frame["metric"])
    assert {"duration", "sm_throughput", "dram_throughput", "dram_bytes"} <= canonical


def test_ncu_profiles_the_persistent_attention_once_per_step(bench_binary, tmp_path):
    if shutil.which("ncu") is None:
        pytest.skip("ncu not installed")
    settings = {
        "metrics": ["gpu__time_duration.sum", "dram__throughput.avg.pct_of_peak_sustained_elapsed"],
        "clock_control": "none", "cache_control": "all", "profile_layers": 3,
    }  # fmt: skip
    point = config.Point("attention", 4, 1024, 8, 2, 4096, 64)
    ncu.profile(bench_binary, point, tmp_path, settings, warmup=2, timeout_s=300)
    frame = parse.parse_file(tmp_path / "ncu_raw.csv")
    launches = frame.groupby("kernel_short")["launch"].nunique().to_dict()
    hopper_or_newer = int(gpu.nvidia_gpus()[0].compute_capability.split(".")[0]) >= 9
    # the profiled range's 3 layers: one persistent launch on Hopper, one launch per layer before it
    expected = (
        {"decode_attention_persistent_kernel": 1} if hopper_or_newer else {"decode_attention_mma_kernel": 3}
    )
    assert launches == expected


def test_calibration_measures_ceilings_of_this_gpu():
    pytest.importorskip("cupy")
    from pdprof import calibrate

    if not gpu.nvidia_gpus():
        pytest.skip("no NVIDIA GPU (nvidia-smi found none)")
    result = calibrate.measure()
    # a copy reads and writes: it can never beat twice the read-only rate, and a read beats 0
    assert 0 < result["copy_bandwidth"] < 2.2 * result["read_bandwidth"]
    assert result["fp16_gemm_flops"] > result["fp32_fma_flops"] > 0  # tensor cores beat the FMA pipes
    assert result["device"]["l2_bytes"] > 0 and result["device"]["sm_count"] > 0


@pytest.mark.parametrize("variant", [*cupy_bench.NVRTC_VARIANTS, "gemm"])
def test_the_cupy_runner_matches_its_float64_reference_and_the_benchmarks_result(
    bench_binary, tmp_path, variant
):
    pytest.importorskip("cupy")
    point = config.Point(variant, 3, 1024, 8, 2, 1000, 64)
    argv = [sys.executable, "-m", "pdprof.cupy_bench", *point.bench_args(), "--warmup", "1", "--repeats", "3"]
    result = run.result_line(run.run_checked(argv, 300, f"cupy runner {variant}"))
    run.check_result(result)
    assert result["backend"] == "cuda-nvrtc" and result["phases"] == list(variants.VARIANTS[variant].phases)
    checks = result["checks"]
    for phase in result["phases"]:
        assert checks[f"{phase}_reference_rel_error"] < checks["reference_tolerance"]
    if variant != "gemm":  # the compiled benchmark counts the same bytes and FLOPs
        compiled = run.run_bench(
            bench_binary, point, tmp_path / "bench.json", warmup=1, repeats=3, timeout_s=120
        )
        for phase in result["phases"]:
            assert result[phase]["kernel_flops"] == compiled[phase]["kernel_flops"]
        if "decode" in result["phases"]:
            assert result["decode"]["kv_bytes_per_step"] == compiled["decode"]["kv_bytes_per_step"]
