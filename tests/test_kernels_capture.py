"""The optimized kernels as captured on the lent H100 (captures/nvidia-h100-80gb-hbm3-kernels).

GPU-free: the bundle's raw tool outputs go through the same parse and validation as a live
run, and what benchmarks/NOTES.md states about them is asserted here from the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pdprof import dataset, validate, variants

BUNDLE = Path(__file__).resolve().parents[1] / "captures" / "nvidia-h100-80gb-hbm3-kernels"
POINTS = sorted(path.name for path in (BUNDLE / "runs").iterdir())


@pytest.fixture(scope="module")
def checks() -> dict[str, dict]:
    rows = dataset.tidy_runs(BUNDLE, POINTS, BUNDLE.name, timelines=True)
    calibration = json.loads((BUNDLE / "calibration.json").read_text())
    result = validate.validate(rows, calibration=calibration)
    return {check["id"]: check for check in result["checks"]}


def bench(point: str) -> dict:
    return json.loads((BUNDLE / "runs" / point / "bench.json").read_text())


def test_the_bundle_holds_every_variant_and_each_run_matched_its_reference():
    binary_variants = {name for name, spec in variants.VARIANTS.items() if spec.runner == "binary"}
    assert {point.split("-")[0] for point in POINTS} == binary_variants  # gemm came after this capture
    for point in POINTS:
        result = bench(point)
        assert result["phases"] == list(variants.VARIANTS[result["variant"]].phases)
        for phase in ("prefill", "decode"):
            assert result["checks"][f"{phase}_reference_rel_error"] < result["checks"]["reference_tolerance"]


def test_optimized_decode_is_bandwidth_bound_where_the_seed_is_not(checks):
    for variant in ("kv_stream", "graph"):
        assert checks[f"decode_memory_bound[{variant}]"]["status"] == "PASS"
    assert checks["decode_bandwidth_fraction[seed]"]["status"] == "FAIL"
    assert checks["decode_bandwidth_fraction[seed]"]["measured"] < 5  # % of the measured read bandwidth
    assert checks["decode_bandwidth_fraction[kv_stream_fp8]"]["status"] == "PASS"
    fractions = {
        p["T"]: p["fraction"] for p in checks["decode_bandwidth_fraction[kv_stream]"]["details"]["points"]
    }
    assert fractions[32768] > 0.7 > 0.3 > fractions[2048]  # per-layer launch cost dominates short contexts


def test_attention_is_diagnosed_with_too_little_parallelism(checks):
    check = checks["decode_memory_bound[attention]"]
    assert check["status"] == "FAIL"
    assert check["diagnosis"].startswith("Too little parallelism")


def test_fma_ilp_prefill_is_compute_bound_and_linear(checks):
    assert checks["prefill_compute_bound[fma_ilp]"]["status"] == "PASS"
    assert checks["prefill_linear_in_iters_fma[fma_ilp]"]["status"] == "PASS"
    ilp = bench("fma_ilp-L32-H4096-h32-kv8-T2048-f256")["prefill"]["flops_per_s"]
    seed = bench("seed-L32-H4096-h32-kv8-T2048-f256")["prefill"]["flops_per_s"]
    assert ilp > 1.2 * seed


def test_the_graph_removes_the_launch_gaps_nsys_sees():
    def gap_ns(point: str) -> float:
        rows = dataset.timeline_frame(BUNDLE / "runs" / point / "nsys")
        return float(
            rows.loc[(rows["phase"] == "decode") & (rows["metric"] == "gap_mean_ns"), "value"].iloc[0]
        )

    for T in (2048, 8192, 32768):
        per_kernel = gap_ns(f"kv_stream-L32-H4096-h32-kv8-T{T}-f256")
        graphed = gap_ns(f"graph-L32-H4096-h32-kv8-T{T}-f256")
        assert per_kernel > 500  # ns: a launch per layer
        assert graphed * 5 <= per_kernel
