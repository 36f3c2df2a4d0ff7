"""The optimized kernels as captured on the lent H100 (captures/nvidia-h100-80gb-hbm3-kernels).

GPU-free: the bundle's raw tool outputs go through the same parse and validation as a live
run, and what benchmarks/NOTES.md states about them is asserted here from the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from bundles import CAPTURES, checks_by_id, points

from pdprof import dataset, variants

BUNDLE = CAPTURES / "nvidia-h100-80gb-hbm3-kernels"
POINTS = points(BUNDLE)


def bench(point: str) -> dict:
    return json.loads((BUNDLE / "runs" / point / "bench.json").read_text())


def test_the_bundle_holds_every_variant_and_each_run_matched_its_reference():
    binary_variants = {name for name, spec in variants.VARIANTS.items() if spec.runner == "binary"}
    # gemm (the CuPy runner) and paged came after this capture
    assert {point.split("-")[0] for point in POINTS} == binary_variants - {"paged"}
    for point in POINTS:
        result = bench(point)
        assert result["phases"] == list(variants.VARIANTS[result["variant"]].phases)
        for phase in ("prefill", "decode"):
            assert result["checks"][f"{phase}_reference_rel_error"] < result["checks"]["reference_tolerance"]


def test_optimized_decode_reaches_the_bandwidth_band_where_the_seed_does_not(checks):
    for variant in ("kv_stream", "graph", "kv_stream_fp8"):
        assert checks[f"decode_bandwidth_fraction[{variant}]"]["status"] == "PASS"
    assert checks["decode_bandwidth_fraction[seed]"]["status"] == "FAIL"
    assert checks["decode_bandwidth_fraction[seed]"]["measured"] < 5  # % of the measured read bandwidth
    fractions = {
        p["T"]: p["fraction"] for p in checks["decode_bandwidth_fraction[kv_stream]"]["details"]["points"]
    }
    assert fractions[32768] > 0.95 and fractions[2048] > 0.3  # overlapping layers hide the per-layer cost


def test_overlapping_layers_are_named_where_one_kernel_alone_looks_starved(checks):
    # ncu replays one layer's kernel alone: DRAM below the minimum, so WARN; the diagnosis says why
    # and where the step's bandwidth is judged, instead of asking for more threads.
    for variant in ("kv_stream", "graph"):
        check = checks[f"decode_memory_bound[{variant}]"]
        assert check["status"] == "WARN"
        assert check["diagnosis"].startswith("Consecutive layers' decode kernels overlap")
        assert bench(f"{variant}-L32-H4096-h32-kv8-T2048-f256")["params"]["layer_overlap"] is True


def test_a_persistent_step_is_named_in_the_overlap_diagnosis(rows):
    # As if kv_stream had run all layers in one launch: the diagnosis names that, not PDL.
    overlapped = rows[(rows["metric"] == "layers_overlapped") & rows["point"].str.startswith("kv_stream-")]
    persistent = overlapped.assign(metric="persistent_step", value=1.0)
    checks = checks_by_id(BUNDLE, pd.concat([rows, persistent], ignore_index=True))
    assert "(one persistent launch per step," in checks["decode_memory_bound[kv_stream]"]["diagnosis"]
    assert "(programmatic dependent launch)" in checks["decode_memory_bound[graph]"]["diagnosis"]


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


def decode_gap_ns(nsys_folder: Path) -> float:
    return float(dataset.nsys_phase_stats(nsys_folder).loc["decode", "gap_mean_ns"])


def test_the_graph_removes_the_launch_gaps_nsys_sees():
    # benchmarks/kernels.py traced both with --layer-overlap off, on the card of this bundle.
    traces = BUNDLE.parents[1] / "benchmarks" / "results" / "kernels-h100-v3" / "nsys"
    per_kernel = decode_gap_ns(traces / "kv_stream-L32-H4096-h32-kv8-T16384-f256")
    graphed = decode_gap_ns(traces / "graph-L32-H4096-h32-kv8-T16384-f256")
    assert per_kernel > 500  # ns: a launch per layer
    assert graphed * 5 <= per_kernel


def test_overlapping_layers_leave_no_launch_gap_in_the_step():
    for T in (2048, 8192, 32768):
        assert decode_gap_ns(BUNDLE / "runs" / f"kv_stream-L32-H4096-h32-kv8-T{T}-f256" / "nsys") == 0
