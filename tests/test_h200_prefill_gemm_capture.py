"""The prefill projections through cuBLAS as captured on a lent H200 (captures/nvidia-h200-prefill_gemm).

GPU-free: the first capture of the `gemm` variant (the CuPy runner) under Nsight Compute and
Nsight Systems in the pipeline; parse and validation run on its raw outputs as on a live run.
"""

from __future__ import annotations

import json

from bundles import CAPTURES, checks_by_id, points

from pdprof import plots

BUNDLE = CAPTURES / "nvidia-h200-prefill_gemm"
POINTS = points(BUNDLE)
CALIBRATION = json.loads((BUNDLE / "calibration.json").read_text())


def bench(point: str) -> dict:
    return json.loads((BUNDLE / "runs" / point / "bench.json").read_text())


def test_gemm_ran_in_the_cupy_runner_at_over_90_percent_of_the_square_gemm_rate():
    gemm = [point for point in POINTS if point.startswith("gemm-")]
    assert len(gemm) == 4
    for point in gemm:
        result = bench(point)
        assert result["backend"] == "cuda-nvrtc"
        assert result["checks"]["prefill_reference_rel_error"] < result["checks"]["reference_tolerance"]
        assert result["prefill"]["flops_per_s"] >= 0.9 * CALIBRATION["fp16_gemm_flops"]


def test_ncu_profiled_cublas_and_validation_finds_it_compute_bound(rows):
    kernels = set(rows[(rows.profiler == "ncu") & (rows.variant == "gemm")]["kernel"])
    assert kernels and all(kernel.startswith("nvjet_sm90") for kernel in kernels)  # cuBLAS's Hopper GEMMs
    checks = checks_by_id(BUNDLE, rows)
    assert checks["prefill_compute_bound[gemm]"]["status"] == "PASS"
    assert checks["prefill_compute_bound[gemm]"]["measured"] > 2
    assert set(rows[(rows.profiler == "nsys") & (rows.variant == "gemm")]["phase"]) == {"prefill"}


def test_the_fp32_roofline_holds_fma_ilp_and_leaves_the_tensor_core_gemms_out(rows):
    data = plots.figure_data(rows, "roofline")
    assert set(data["variant"]) == {"fma_ilp"}
