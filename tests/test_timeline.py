"""Launch statistics per phase (pdprof.timeline): exact numbers on small timelines, then real traces.

The small timelines are written here so every number can be worked out by hand (the
arithmetic is in the comments). The real ones are nsys captures from the lent H100
(tests/data/profiler-samples/nsys_h100_pdprof*/, see SOURCE.txt): nvtx_probe.cu with
2 prefill and 3 decode NVTX steps of 4 kernels, and our benchmark with NVTX ranges.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pdprof import timeline
from pdprof.parse import parse_files

SAMPLES = Path(__file__).parent / "data" / "profiler-samples"
PROBE = SAMPLES / "nsys_h100_pdprof"
BENCH = SAMPLES / "nsys_h100_pdprof_nvtx"


def _kernels(rows: list[tuple[str, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["kernel", "start", "end", "stream"])


def _ranges(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["name", "start", "end"])


def test_phases_from_kernel_names() -> None:
    kernels = _kernels(
        [
            ("prefill_fma_kernel", 0, 10, "7"),
            ("prefill_fma_kernel", 12, 22, "7"),
            ("prefill_fma_kernel", 25, 35, "7"),
            ("decode_kv_scan_kernel", 40, 60, "7"),
            ("decode_kv_scan_kernel", 61, 66, "7"),
            ("decode_kv_scan_kernel", 70, 75, "7"),
            ("decode_kv_scan_kernel", 76, 81, "7"),
        ]
    )
    stats = timeline.phase_stats(kernels, steps={"prefill": 1, "decode": 2})
    assert list(stats.index) == ["prefill", "decode"]
    # prefill: one run 0..35, kernels cover 30, gaps 2 and 3, first 10 vs median(10, 10).
    assert stats.loc["prefill"].to_dict() == {
        "launches": 3,
        "steps": 1.0,
        "span_ns": 35.0,
        "busy_ns": 30.0,
        "busy_fraction": 30 / 35,
        "gap_mean_ns": 2.5,
        "gap_max_ns": 3.0,
        "first_launch_ns": 10.0,
        "steady_median_ns": 10.0,
        "cold_start_ratio": 1.0,
        "kernels_per_step": 3.0,
    }
    # decode: run 40..81 (41), busy 20+5+5+5, gaps 1, 4, 1; first 20 vs median(5, 5, 5): 4x cold.
    decode = stats.loc["decode"]
    assert (decode["span_ns"], decode["busy_ns"], decode["busy_fraction"]) == (41.0, 35.0, 35 / 41)
    assert (decode["gap_mean_ns"], decode["gap_max_ns"]) == (2.0, 4.0)
    assert (decode["first_launch_ns"], decode["steady_median_ns"], decode["cold_start_ratio"]) == (
        20.0,
        5.0,
        4.0,
    )
    assert decode["kernels_per_step"] == 2.0


def test_nvtx_ranges_win_over_names_and_overlaps_count_once() -> None:
    kernels = _kernels(
        [
            ("attn", 110, 150, "1"),  # decode range 1
            ("attn", 140, 170, "2"),  # overlaps the first on another stream
            ("attn", 180, 210, "1"),  # runs past the range end: clipped at 200
            ("attn", 250, 260, "1"),  # between ranges: no phase
            ("attn", 300, 320, "1"),  # decode range 2
            ("attn", 330, 345, "1"),
        ]
    )
    ranges = _ranges([("other", 0, 1000), ("pdprof:decode", 100, 200), ("decode", 300, 350)])
    stats = timeline.phase_stats(kernels, ranges)
    assert list(stats.index) == ["decode"]
    decode = stats.loc["decode"]
    # Range 1: 40 + (170-150) + (200-180) = 80 busy; range 2: 20 + 15 = 35. Span 100 + 50.
    assert (decode["launches"], decode["steps"], decode["kernels_per_step"]) == (5, 2.0, 2.5)
    assert (decode["busy_ns"], decode["span_ns"], decode["busy_fraction"]) == (115.0, 150.0, 115 / 150)
    # Gaps: 0 (the overlap), 180-170 = 10, 330-320 = 10.
    assert decode["gap_mean_ns"] == pytest.approx(20 / 3) and decode["gap_max_ns"] == 10.0
    # First launch 40 against median(30, 30, 20, 15) = 25.
    assert (decode["first_launch_ns"], decode["steady_median_ns"], decode["cold_start_ratio"]) == (
        40.0,
        25.0,
        1.6,
    )


def test_ranges_without_phase_names_fall_back_to_kernel_names() -> None:
    kernels = _kernels([("decode_kernel", 0, 5, "1"), ("decode_kernel", 6, 9, "1")])
    stats = timeline.phase_stats(kernels, _ranges([("warmup", 0, 100)]))
    assert (stats.loc["decode", "span_ns"], stats.loc["decode", "gap_max_ns"]) == (9.0, 1.0)
    assert np.isnan(stats.loc["decode", "steps"]) and np.isnan(stats.loc["decode", "kernels_per_step"])


def test_single_launch_has_no_gap_and_no_steady_state() -> None:
    stats = timeline.phase_stats(_kernels([("prefill_x", 0, 10, "1")]), steps={"prefill": 1})
    row = stats.loc["prefill"]
    assert row["busy_fraction"] == 1.0 and row["first_launch_ns"] == 10.0
    assert (
        np.isnan(row["gap_mean_ns"])
        and np.isnan(row["steady_median_ns"])
        and np.isnan(row["cold_start_ratio"])
    )
    empty = timeline.phase_stats(_kernels([("gemm", 0, 10, "1")]))
    assert empty.empty and list(empty.columns) == list(timeline.STATS_COLUMNS)


@pytest.mark.parametrize(
    ("name", "phase"),
    [
        ("decode", "decode"),
        (":prefill", "prefill"),
        ("dom:decode", "decode"),
        ("decode_step", None),
        ("", None),
    ],
)
def test_range_phase(name: str, phase: str | None) -> None:
    assert timeline.range_phase(name) == phase


def test_stats_rows_are_long_without_nan() -> None:
    stats = timeline.phase_stats(_kernels([("prefill_x", 0, 10, "1")]), steps={"prefill": 2})
    rows = timeline.stats_rows(stats)
    assert list(rows.columns) == ["phase", "metric", "value", "unit"]
    values = dict(zip(rows["metric"], rows["value"], strict=False))
    assert values["kernels_per_step"] == 0.5 and "gap_mean_ns" not in values
    assert dict(zip(rows["metric"], rows["unit"], strict=False))["span_ns"] == "ns"


# --- real nsys captures -----------------------------------------------------------------------


def test_probe_with_gpu_projected_nvtx_steps() -> None:
    tidy = parse_files([PROBE / "probe_cuda_gpu_trace.csv", PROBE / "probe_nvtx_gpu_proj_trace.csv"])
    kernels = timeline.kernel_trace(tidy)
    assert len(kernels) == 20, "the two memory copies are not kernels"
    assert timeline.nvtx_ranges(tidy)["name"].tolist() == [":prefill"] * 2 + [":decode"] * 3
    stats = timeline.phase_stats(kernels, timeline.nvtx_ranges(tidy))
    decode = stats.loc["decode"]
    assert (decode["launches"], decode["steps"], decode["kernels_per_step"]) == (12, 3.0, 4.0)
    # Projected range durations 50529 + 50465 + 50017; kernels never overlap: busy = their sum,
    # the total of cuda_gpu_kern_sum (141315).
    assert (decode["span_ns"], decode["busy_ns"]) == (50529 + 50465 + 50017, 141_315.0)
    # First decode launch 11616 (477721800); median of the 11 later ones: 11809.
    assert (decode["first_launch_ns"], decode["steady_median_ns"]) == (11_616.0, 11_809.0)
    # Largest gap: 477734664 - (477721800 + 11616).
    assert decode["gap_max_ns"] == 1248.0
    prefill = stats.loc["prefill"]
    assert (prefill["first_launch_ns"], prefill["steady_median_ns"]) == (46_625.0, 46_177.0)


def test_push_pop_ranges_when_no_projection() -> None:
    tidy = parse_files([PROBE / "probe_console_table.txt"])
    assert timeline.nvtx_ranges(tidy)["start"].iloc[0] == 477_108_872.0
    stats = timeline.timeline_stats(tidy)
    # CPU push/pop spans: 388853 + 198699 for the two prefill steps.
    assert stats.loc["prefill", "span_ns"] == 388_853.0 + 198_699.0
    assert stats.loc["prefill", "busy_ns"] == 370_088.0


def test_our_benchmark_shows_the_decode_cold_start() -> None:
    tidy = parse_files([BENCH / "nsys_cuda_gpu_trace.csv", BENCH / "nsys_nvtx_gpu_proj_trace.csv"])
    stats = timeline.timeline_stats(tidy)
    decode = stats.loc["decode"]
    assert (decode["launches"], decode["steps"], decode["kernels_per_step"]) == (160, 5.0, 32.0)
    with (BENCH / "nsys_cuda_gpu_trace.csv").open(newline="") as source:
        durations = [float(row["Duration (ns)"]) for row in csv.DictReader(source) if "decode" in row["Name"]]
    assert decode["first_launch_ns"] == durations[0] == 431_846.0
    assert decode["steady_median_ns"] == float(np.median(durations[1:]))
    assert decode["cold_start_ratio"] > 2.5
    assert 0.99 < decode["busy_fraction"] < 1.0


def test_kernel_names_give_phases_without_nvtx() -> None:
    tidy = parse_files([PROBE / "bench_cuda_gpu_trace.csv"])
    stats = timeline.timeline_stats(tidy, steps={"prefill": 5, "decode": 5})
    assert stats["launches"].to_dict() == {"prefill": 160, "decode": 160}
    assert stats["kernels_per_step"].to_dict() == {"prefill": 32.0, "decode": 32.0}


def test_rocprof_trace_is_a_timeline_too() -> None:
    tidy = parse_files([SAMPLES / "rocprofv3_kernel_trace" / "v3_22col_ldsvgpr_kernel_trace.csv"])
    kernels = timeline.kernel_trace(tidy)
    assert len(kernels) == 9 and kernels["start"].is_monotonic_increasing
    assert kernels["stream"].tolist() == ["1", "1", "1", "1", "2", "2", "3", "3", "4"]
