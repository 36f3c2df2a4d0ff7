"""fp8 decode attention in the persistent launch, captured on a lent H200
(captures/nvidia-h200-decode_attention_fp8).

GPU-free: the bundle's raw tool outputs go through the same parse and validation as a live
run; what benchmarks/NOTES.md (v8) states about fp8 attention in the pipeline is asserted
here from the files.
"""

from __future__ import annotations

from bundles import (
    CAPTURES,
    assert_persistent_runs_matched_their_reference,
    attention_sweep_points,
    kernels_per_step,
    points,
    same_run_ratios,
)

BUNDLE = CAPTURES / "nvidia-h200-decode_attention_fp8"


def test_fp8_attention_ran_one_persistent_launch_per_step_and_matched_its_float64_reference():
    assert points(BUNDLE) == attention_sweep_points("kv_stream_fp8", "attention_fp8")
    # q and P enter the f16 mma as a pair hi + lo: errors near 1e-7, far under the tolerance
    assert_persistent_runs_matched_their_reference(BUNDLE, "attention_fp8", "fp8_e4m3", 1e-6)


def test_fp8_attention_reaches_kv_stream_fp8_only_at_short_contexts():
    # benchmarks/NOTES.md v8: 98 / 81 / 72 / 65 / 73 % in the kernel table of the same session.
    ratios = same_run_ratios(BUNDLE, "attention_fp8", "kv_stream_fp8")
    assert [round(r, 2) for r in ratios] == [0.98, 0.84, 0.72, 0.65, 0.74]


def test_the_timeline_shows_one_fp8_attention_kernel_per_step(rows):
    assert kernels_per_step(rows) == {"attention_fp8": [1.0], "kv_stream_fp8": [32.0]}


def test_validation_finds_fp8_attention_not_bandwidth_bound(checks):
    # The scan's tile math, not DRAM, bounds it at long T (ncu: DRAM 54 %, SM 34 % at 32k), so
    # its DRAM/SM ratio stays near 1 where kv_stream_fp8's exceeds 2.
    assert checks["decode_memory_bound[attention_fp8]"]["status"] == "FAIL"
    assert checks["decode_memory_bound[attention_fp8]"]["measured"] < 2
    assert checks["decode_launch_overhead[attention_fp8]"]["status"] == "PASS"
    bandwidth = checks["decode_bandwidth_fraction[attention_fp8]"]
    assert bandwidth["status"] == "FAIL" and bandwidth["details"]["T"] == 2048
    assert "go to the dependency between layers" in bandwidth["diagnosis"]
    # 16k -> 32k: a layer's extra 32 MiB cost 8.17 µs, 4.1 TB/s, near the read bandwidth
    assert "4,105 GB/s (93.7 % of the" in bandwidth["diagnosis"]
    assert "the loss is per layer, not per byte" in bandwidth["diagnosis"]


def test_the_fp8_persistent_kernel_ran_below_the_maximum_sm_clock(checks):
    # 1.84 GHz median against kv_stream_fp8's 1.97 under ncu, as the bf16 persistent kernel
    # (1.85 GHz in captures/nvidia-h200-decode_attention): the tensor-core scan draws more power.
    fp8_attention = checks["clocks_recorded[attention_fp8]"]["details"]
    stream = checks["clocks_recorded[kv_stream_fp8]"]["details"]
    assert fp8_attention["sm_hz_median"] < 0.95 * stream["sm_hz_median"]
