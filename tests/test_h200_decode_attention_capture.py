"""Decode attention as one persistent launch per step, captured on a lent H200
(captures/nvidia-h200-decode_attention).

GPU-free: the bundle's raw tool outputs go through the same parse and validation as a live
run; what benchmarks/NOTES.md (v7) states about the persistent kernel in the pipeline is
asserted here from the files.
"""

from __future__ import annotations

from bundles import (
    ATTENTION_TS,
    CAPTURES,
    assert_persistent_runs_matched_their_reference,
    attention_bench,
    attention_sweep_points,
    kernels_per_step,
    points,
    same_run_ratios,
)

BUNDLE = CAPTURES / "nvidia-h200-decode_attention"


def test_attention_ran_one_persistent_launch_per_step_and_matched_its_float64_reference():
    assert points(BUNDLE) == attention_sweep_points("kv_stream", "attention")
    assert_persistent_runs_matched_their_reference(BUNDLE, "attention", "bf16", 1e-5)
    assert not any(attention_bench(BUNDLE, "kv_stream", T)["decode"]["persistent"] for T in ATTENTION_TS)


def test_attention_streams_within_the_kernel_tables_band_of_kv_stream():
    # benchmarks/NOTES.md v7: 90 / 86 / 84 / 90 / 93 % in the kernel table of the same session.
    ratios = same_run_ratios(BUNDLE, "attention", "kv_stream")
    assert [round(r, 2) for r in ratios] == [0.88, 0.85, 0.83, 0.89, 0.92]


def test_the_timeline_shows_one_attention_kernel_per_step_and_one_per_layer_for_kv_stream(rows):
    assert kernels_per_step(rows) == {"attention": [1.0], "kv_stream": [32.0]}


def test_the_launch_overhead_check_speaks_of_one_kernel_per_step(checks):
    check = checks["decode_launch_overhead[attention]"]
    assert check["status"] == "PASS"
    assert check["explanation"].startswith("With one kernel per decode step (no gaps between kernels)")


def test_the_failing_bandwidth_check_blames_the_layer_chain_not_occupancy(checks):
    # T = 2k, the reference shape: 30 % of the read bandwidth is the band's floor; one block per
    # SM is the persistent kernel's design, so "launch more threads" would be wrong advice.
    check = checks["decode_bandwidth_fraction[attention]"]
    assert check["status"] == "FAIL" and check["details"]["T"] == 2048
    assert "Too little parallelism" not in check["diagnosis"]
    assert "one block per SM by design" in check["diagnosis"]
    assert "go to the dependency between layers" in check["diagnosis"]
    assert checks["decode_bandwidth_fraction[kv_stream]"]["status"] == "PASS"
    assert checks["decode_memory_bound[attention]"]["status"] == "PASS"
