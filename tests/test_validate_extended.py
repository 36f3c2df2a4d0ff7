"""The checks beyond the seed's criteria: L2 residency, noise, first launch, clocks, model slopes, diagnoses."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_validate import checks_by_id, make_dataset

from pdprof import config, dataset
from pdprof.validate import DEFAULT_THRESHOLDS, Check, merge_thresholds, validate

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "captures" / "nvidia-h100-80gb-hbm3"
MIB = 2**20
NEW_THRESHOLDS = (
    "peak_fp32_flops",
    "l2_bytes",
    "timing_noise_max_pct",
    "first_launch_max_ratio",
    "clock_variation_max_pct",
    "low_occupancy_pct",
    "l2_hit_rate_high_pct",
    "launch_gap_max_fraction",
)


@functools.cache
def _capture_rows() -> pd.DataFrame:
    """The committed H100 capture as tidy rows, built as the pipeline's tidy step builds them."""
    slug = json.loads((BUNDLE / "provenance.json").read_text())["gpu"]["slug"]
    points = sorted(run.name for run in (BUNDLE / "runs").iterdir())
    return dataset.tidy_runs(BUNDLE, points, slug, timelines=True)


def capture_frame() -> pd.DataFrame:
    """The committed H100 capture as tidy rows, built as the pipeline's tidy step builds them."""
    return _capture_rows().copy()


def with_rows(
    df: pd.DataFrame,
    profiler: str,
    phase: str,
    metric: str,
    value: float | Callable[[pd.Series], float],
    unit: str = "",
    launches: tuple[int, ...] = (0,),
) -> pd.DataFrame:
    """*df* plus one *metric* row per point and launch; *value* may depend on the point's row."""
    rows = []
    for _, point in df.drop_duplicates("point").iterrows():
        for launch in launches:
            number = value(point) if callable(value) else value
            rows.append(
                {
                    **point.to_dict(),
                    "profiler": profiler,
                    "phase": phase,
                    "kernel": phase,
                    "launch": launch,
                    "metric": metric,
                    "value": float(number),
                    "unit": unit,
                }
            )
    return pd.concat([df, pd.DataFrame(rows)], ignore_index=True)


def scaled(df: pd.DataFrame, phase: str, metric: str, factor: float) -> pd.DataFrame:
    out = df.copy()
    mask = (out["phase"] == phase) & (out["metric"] == metric)
    out.loc[mask, "value"] *= factor
    return out


def check_of(df: pd.DataFrame, check_id: str, thresholds: dict | None = None) -> dict:
    return checks_by_id(validate(df, thresholds))[check_id]


# --------------------------------------------------------------------------- Check and thresholds


def test_check_gains_a_diagnosis_field_after_the_existing_ones():
    names = [f.name for f in dataclasses.fields(Check)]
    assert names == [
        "id",
        "phase",
        "status",
        "measured",
        "unit",
        "threshold",
        "explanation",
        "details",
        "diagnosis",
    ]
    assert Check("x", "decode", "PASS", 1.0, "", "", "").diagnosis == ""


def test_new_thresholds_are_in_defaults_config_and_schema_alike():
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["validation"]
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    properties = schema["properties"]["validation"]["properties"]
    assert set(cfg) == set(DEFAULT_THRESHOLDS) == set(properties)
    for key in NEW_THRESHOLDS:
        assert {"type", "default", "description"} <= set(properties[key]), key
        assert properties[key]["default"] == DEFAULT_THRESHOLDS[key] == cfg[key], key
    merged = merge_thresholds({"l2_bytes": 1024, "timing_noise_max_pct": 2.5})
    assert merged["l2_bytes"] == 1024 and merged["timing_noise_max_pct"] == 2.5


def test_config_refuses_out_of_range_new_thresholds(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["validation"]["first_launch_max_ratio"] = 0.5
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(config.ConfigError, match="first_launch_max_ratio"):
        config.load_config(path)


# --------------------------------------------------------------------------- L2 residency


def test_working_sets_that_fit_in_l2_warn_with_per_point_details():
    check = check_of(make_dataset(), "decode_l2_resident", {"l2_bytes": 40 * MIB})
    assert check["status"] == "WARN" and check["phase"] == "decode"
    assert check["measured"] == pytest.approx(16 / 40 * 100)  # the reference point T=2048: one 16 MiB buffer
    points = {p["T"]: p for p in check["details"]["points"]}
    assert points[4096]["working_set_bytes"] == 32 * MIB and points[4096]["fits_l2"]
    assert not points[8192]["fits_l2"]
    assert "T ≤ 4,096" in check["explanation"] and "measure L2, not HBM" in check["explanation"]
    assert "reuses one K/V buffer for all 32 layers" in check["diagnosis"]
    assert "per token of context" in check["diagnosis"]  # bench evidence: resident vs spilled


def test_working_set_equal_to_l2_fits_and_larger_passes():
    assert check_of(make_dataset(), "decode_l2_resident", {"l2_bytes": 8 * MIB})["status"] == "WARN"
    passed = check_of(make_dataset(), "decode_l2_resident", {"l2_bytes": 8 * MIB - 1})
    assert passed["status"] == "PASS" and passed["diagnosis"] == ""


def test_l2_size_comes_from_bench_rows_then_ncu_attribute():
    bench = with_rows(make_dataset(), "bench", "decode", "l2_bytes", 50 * MIB, "byte")
    assert check_of(bench, "decode_l2_resident")["details"]["l2_source"] == "bench l2_bytes"
    ncu = with_rows(make_dataset(), "ncu", "decode", "device__attribute_l2_cache_size", 50 * MIB)
    check = check_of(ncu, "decode_l2_resident")
    assert check["details"]["l2_source"] == "ncu device__attribute_l2_cache_size"
    assert check["details"]["l2_bytes"] == 50 * MIB
    skipped = check_of(make_dataset(), "decode_l2_resident")
    assert skipped["status"] == "SKIP" and "L2 size" in skipped["explanation"]


def test_other_variants_need_the_bench_distinct_bytes():
    other = make_dataset(variant="fast")
    assert check_of(other, "decode_l2_resident", {"l2_bytes": MIB})["status"] == "SKIP"
    reported = with_rows(other, "bench", "decode", "kv_distinct_bytes", lambda p: 1024 * p["T"], "byte")
    check = check_of(reported, "decode_l2_resident", {"l2_bytes": MIB - 1})
    assert check["status"] == "PASS"  # 1 KiB per token: 1 MiB already at the smallest T = 1024
    assert {p["T"]: p["working_set_bytes"] for p in check["details"]["points"]}[2048] == 2 * MIB
    assert check_of(reported, "decode_l2_resident", {"l2_bytes": MIB})["status"] == "WARN"


# --------------------------------------------------------------------------- noise and first launch


def test_timing_noise_passes_at_three_percent_and_warns_above_the_threshold():
    assert check_of(make_dataset(), "decode_timing_noise")["status"] == "PASS"  # 0.99 … 1.02
    noisy = scaled(make_dataset(), "decode", "step_time_max", 1.06 / 1.02)
    check = check_of(noisy, "decode_timing_noise")
    assert check["status"] == "WARN" and check["measured"] == pytest.approx(7.0)
    assert check_of(noisy, "decode_timing_noise", {"timing_noise_max_pct": 8.0})["status"] == "PASS"
    assert check_of(noisy, "prefill_timing_noise")["status"] == "PASS"


def test_one_sided_noise_at_l2_resident_points_is_diagnosed_as_a_cold_first_repeat():
    noisy = scaled(make_dataset(), "decode", "step_time_max", 1.06 / 1.02)
    noisy = scaled(noisy, "decode", "step_time_min", 0.999 / 0.99)
    diagnosis = check_of(noisy, "decode_timing_noise")["diagnosis"]
    assert "one slow repeat, not jitter" in diagnosis and "cold L2" not in diagnosis  # L2 size unknown
    resident = check_of(noisy, "decode_timing_noise", {"l2_bytes": 1024 * MIB})["diagnosis"]
    assert "cold L2" in resident


def test_two_sided_noise_points_at_clocks_or_contention():
    noisy = scaled(make_dataset(), "decode", "step_time_max", 1.05 / 1.02)
    noisy = scaled(noisy, "decode", "step_time_min", 0.95 / 0.99)
    assert "contention" in check_of(noisy, "decode_timing_noise")["diagnosis"]
    clocks = with_rows(
        noisy, "ncu", "decode", "sm_frequency", lambda p: 1.98e9 - 20e6 * (p["T"] // 1024), "hz"
    )
    assert "throttling" in check_of(clocks, "decode_timing_noise")["diagnosis"]


def test_cold_start_step_against_the_median():
    df = with_rows(
        make_dataset(), "bench", "decode", "step_time_first", lambda p: 2 * (20_000 + 80.0 * p["T"])
    )
    check = check_of(df, "decode_first_launch_outlier")
    assert check["status"] == "WARN" and check["measured"] == pytest.approx(2.0)
    assert "one-time costs" in check["diagnosis"]
    assert check_of(df, "decode_first_launch_outlier", {"first_launch_max_ratio": 2.5})["status"] == "PASS"
    assert check_of(df, "prefill_first_launch_outlier")["status"] == "PASS"  # ncu launches 0 and 1 agree


def test_first_profiled_launch_outlier_from_ncu_launches():
    df = make_dataset(launches=3)
    mask = (df["profiler"] == "ncu") & (df["metric"] == "duration") & (df["launch"] == 0)
    df.loc[mask & (df["phase"] == "prefill"), "value"] *= 1.8
    check = check_of(df, "prefill_first_launch_outlier")
    assert check["status"] == "WARN" and check["measured"] == pytest.approx(1.8)
    assert {p["source"] for p in check["details"]["points"]} == {"ncu"}
    assert "raise run.warmup" in check["diagnosis"]


def test_first_launch_skips_without_cold_start_rows_or_repeated_launches():
    check = check_of(make_dataset(launches=1), "decode_first_launch_outlier")
    assert check["status"] == "SKIP" and "step_time_first" in check["explanation"]


# --------------------------------------------------------------------------- clocks


def test_clocks_pass_when_steady_and_warn_when_throttled():
    steady = with_rows(make_dataset(), "ncu", "decode", "sm_frequency", lambda p: 1.98e9 - p["T"] * 1e3, "hz")
    steady = with_rows(steady, "ncu", "decode", "dram_frequency", 2.619e9, "hz")
    check = check_of(steady, "clocks_recorded")
    assert check["status"] == "PASS" and check["phase"] == "all"
    assert check["details"]["dram_hz_median"] == pytest.approx(2.619e9)
    assert "no throttling" in check["explanation"]
    throttled = with_rows(
        make_dataset(), "ncu", "prefill", "sm_frequency", lambda p: 2e9 - p["T"] * 2e4, "hz"
    )
    check = check_of(throttled, "clocks_recorded")
    assert check["status"] == "WARN" and check["measured"] > 10
    assert "seed-L32-H4096-h32-kv8-T16384-f256" in check["diagnosis"]
    assert check_of(make_dataset(), "clocks_recorded")["status"] == "SKIP"


# --------------------------------------------------------------------------- model slopes


def test_linearity_reports_the_model_slope_exactly():
    # 262,144 KV bytes per token of context at 3.2768 TB/s is 80 ns per token, the data's slope
    checks = checks_by_id(validate(make_dataset(peak=3.2768e12), {"peak_fp32_flops": 1_073_741_824 * 1e6}))
    decode = checks["decode_linear_in_T"]["details"]["model"]
    assert decode["work_per_unit"] == 262_144 and decode["work_unit"] == "byte"
    assert decode["slope"] == pytest.approx(80.0) and decode["slope_ratio"] == pytest.approx(1.0)
    assert decode["implied_rate_per_s"] == pytest.approx(3.2768e12)
    prefill = checks["prefill_linear_in_iters_fma"]["details"]["model"]
    assert prefill["work_per_unit"] == 1_073_741_824  # 2 FMAs × T·H × L
    assert prefill["slope"] == pytest.approx(1000.0) and prefill["slope_ratio"] == pytest.approx(1.0)
    assert "The model predicts 80 ns per token of context" in checks["decode_linear_in_T"]["explanation"]


def test_prefill_model_falls_back_to_the_datasheet_fp32_peak():
    prefill = check_of(make_dataset(), "prefill_linear_in_iters_fma")["details"]["model"]
    assert prefill["slope"] == pytest.approx(1_073_741_824 / 67e12 * 1e9)
    assert "NVIDIA H100 SXM5 datasheet" in prefill["basis"]


def test_no_model_slope_for_kernels_pdprof_does_not_model():
    assert "model" not in check_of(make_dataset(variant="fast"), "decode_linear_in_T")["details"]


# --------------------------------------------------------------------------- diagnoses


def _launch_config(df: pd.DataFrame, occupancy: float) -> pd.DataFrame:
    df = df[~((df["metric"] == "achieved_occupancy") & (df["phase"] == "decode"))]
    for metric, value in (
        ("achieved_occupancy", occupancy),
        ("launch__grid_size", 4),
        ("launch__block_size", 256),
        ("launch__sm_count", 132),
        ("device__attribute_max_warps_per_multiprocessor", 64),
    ):
        df = with_rows(df, "ncu", "decode", metric, value)
    return df


def test_too_little_parallelism_counts_warps_launched_against_warp_slots():
    check = check_of(_launch_config(make_dataset(), 12.4), "decode_bandwidth_fraction")
    assert check["status"] == "FAIL"
    assert (
        "Too little parallelism: 32 warps launched (4 blocks × 256 threads) for 8,448 warp slots"
        in check["diagnosis"]
    )
    assert "achieved occupancy 12.4 %" in check["diagnosis"]


def test_few_launched_warps_count_as_too_little_parallelism_even_at_high_occupancy():
    assert (
        "Too little parallelism"
        in check_of(_launch_config(make_dataset(), 90.0), "decode_memory_bound")["diagnosis"]
    )


def test_adequate_occupancy_with_idle_dram_is_latency_bound():
    check = check_of(make_dataset(), "decode_memory_bound")  # occupancy 50 %, DRAM 1.27 %
    assert check["status"] == "WARN"
    assert check["diagnosis"].startswith("Latency bound: achieved occupancy 50 %")


def test_high_l2_hit_rate_means_the_working_set_is_cached():
    df = make_dataset()
    df.loc[(df["metric"] == "l2_hit_rate") & (df["phase"] == "decode"), "value"] = 95.0
    assert "L2 hit rate 95 %" in check_of(df, "decode_bandwidth_fraction")["diagnosis"]


def test_nsys_launch_gaps_make_a_phase_launch_bound():
    # timeline statistics as pdprof.timeline gives them: 3 µs kernels separated by 4 µs gaps
    df = with_rows(make_dataset(), "nsys", "decode", "busy_fraction", 3 / 7)
    df = with_rows(df, "nsys", "decode", "gap_mean_ns", 4_000.0, "ns")
    diagnosis = check_of(df, "decode_bandwidth_fraction")["diagnosis"]
    assert "Launch bound" in diagnosis and "idles 57.1 %" in diagnosis and "graph" in diagnosis
    quiet = check_of(df, "decode_bandwidth_fraction", {"launch_gap_max_fraction": 0.6})["diagnosis"]
    assert "Launch bound" not in quiet


def test_one_kernel_per_step_is_launch_bound_outside_its_kernel_not_between_kernels():
    df = with_rows(make_dataset(), "nsys", "decode", "busy_fraction", 0.5)
    df = with_rows(df, "nsys", "decode", "kernels_per_step", 1.0)
    check = check_of(df, "decode_launch_overhead")
    assert check["status"] == "WARN" and check["explanation"].startswith("With one kernel per decode step")
    diagnosis = check_of(df, "decode_bandwidth_fraction")["diagnosis"]
    assert "outside its one kernel" in diagnosis and "graph" not in diagnosis


def test_a_persistent_step_is_diagnosed_by_its_layer_chain_instead_of_its_occupancy():
    df = _launch_config(make_dataset(), 7.5)
    persistent = with_rows(df, "bench", "decode", "persistent_step", 1.0)
    diagnosis = check_of(persistent, "decode_bandwidth_fraction")["diagnosis"]
    assert "one block per SM by design" in diagnosis and "Too little parallelism" not in diagnosis
    # where only some steps are persistent, the occupancy finding stays beside it
    first = persistent["point"].drop_duplicates().iloc[0]
    mixed = persistent[~((persistent["metric"] == "persistent_step") & (persistent["point"] != first))]
    both = check_of(mixed, "decode_bandwidth_fraction")["diagnosis"]
    assert "one block per SM by design" in both and "Too little parallelism" in both


def _persistent_steps(step_ns_per_token: float) -> pd.DataFrame:
    # 2048 bytes of K/V per layer and token (32 layers); each layer 625 ns plus its tokens' time
    df = make_dataset(
        t_values=(8192, 16384, 32768),
        decode_ns=lambda T: 20_000 + step_ns_per_token * T,
        decode_bw=lambda T: 65_536 * T / ((20_000 + step_ns_per_token * T) * 1e-9),
    )
    return with_rows(df, "bench", "decode", "persistent_step", 1.0)


def test_a_persistent_step_whose_extra_bytes_stream_slowly_is_diagnosed_per_byte():
    # 2.5 ns per token and layer for 2048 bytes: 819 GB/s, a quarter of the 3352 GB/s peak
    diagnosis = check_of(_persistent_steps(80.0), "decode_bandwidth_fraction")["diagnosis"]
    assert (
        "T16384-f256 to seed-L32-H4096-h32-kv8-T32768-f256 a layer's extra 32 MiB took 41 µs more"
        in diagnosis
    )
    assert "819 GB/s (24.4 % of the" in diagnosis and "the scan itself falls behind the stream" in diagnosis


def test_a_persistent_step_whose_extra_bytes_stream_at_the_peak_loses_per_layer():
    # 19.55 ns per token over 32 layers: 2048 bytes per 0.611 ns, the 3352 GB/s peak (the step's
    # bandwidth passes; the counters of one launch, DRAM 1.27 %, do not)
    diagnosis = check_of(_persistent_steps(19.55), "decode_memory_bound")["diagnosis"]
    assert "(100 % of the" in diagnosis and "the loss is per layer, not per byte" in diagnosis


def test_a_persistent_step_whose_extra_bytes_cost_less_than_the_peak_allows_shrank_per_layer():
    # 12 ns per token over 32 layers: 2048 bytes per 0.375 ns, 5.46 TB/s, above what 3352 GB/s can stream
    diagnosis = check_of(_persistent_steps(12.0), "decode_memory_bound")["diagnosis"]
    assert "(163 % of the" in diagnosis and "the per-layer part shrank at the longer context" in diagnosis
    assert "stream at the peak" not in diagnosis


def test_passing_checks_carry_no_diagnosis():
    result = validate(make_dataset())
    assert all(c["diagnosis"] == "" for c in result["checks"] if c["status"] in ("PASS", "SKIP"))


# --------------------------------------------------------------------------- the H100 capture


def test_h100_capture_new_checks():
    checks = checks_by_id(validate(capture_frame()))
    resident = checks["decode_l2_resident"]
    assert resident["status"] == "WARN" and resident["measured"] == pytest.approx(32.0)  # 16 MiB of 50 MiB
    assert resident["details"]["l2_bytes"] == 52_428_800
    assert [p["T"] for p in resident["details"]["points"] if p["fits_l2"]][-1] == 4096
    assert checks["clocks_recorded"]["status"] == "PASS" and checks["clocks_recorded"]["measured"] < 2
    noise = checks["decode_timing_noise"]
    assert noise["status"] == "WARN" and "cold L2" in noise["diagnosis"]
    assert checks["prefill_timing_noise"]["status"] == "PASS"
    # the first decode step (cold L2, first launch) is 2.66x the steady state in the nsys timeline
    first = checks["decode_first_launch_outlier"]
    worst = max(first["details"]["points"], key=lambda row: row["ratio"])
    assert first["status"] == "WARN" and first["measured"] == worst["ratio"] > 2.5
    assert worst["source"] == "nsys"
    assert (
        "32 warps launched (4 blocks × 256 threads) for 8,448 warp slots on 132 SMs"
        in (checks["decode_bandwidth_fraction"]["diagnosis"])
    )
    decode_model = checks["decode_linear_in_T"]["details"]["model"]
    # 6.5 µs per token of context against 78 ns at the device-reported 3,352 GB/s: ~84x
    assert 80 < decode_model["slope_ratio"] < 88
    assert decode_model["implied_rate_per_s"] == pytest.approx(40e9, rel=0.01)
    prefill_model = checks["prefill_linear_in_iters_fma"]["details"]["model"]
    assert 1.6 < prefill_model["slope_ratio"] < 1.7  # 40.6 of the 67 TFLOP/s FP32 datasheet peak


def test_calibrated_read_bandwidth_is_the_peak_unless_the_config_sets_one():
    calibration = {"read_bandwidth": 3.0e12, "fp32_fma_flops": 50e12}
    result = validate(make_dataset(decode_bw=1.5e12), calibration=calibration)
    bandwidth = {c["id"]: c for c in result["checks"]}["decode_bandwidth_fraction"]
    assert bandwidth["measured"] == pytest.approx(50.0)  # 1.5 of the measured 3.0 TB/s
    assert bandwidth["status"] == "PASS"
    assert bandwidth["details"]["peak_source"] == "measured read bandwidth (calibration)"
    configured = validate(make_dataset(decode_bw=1.5e12), {"peak_dram_bandwidth": 6.0e12}, calibration)
    assert {c["id"]: c for c in configured["checks"]}["decode_bandwidth_fraction"][
        "measured"
    ] == pytest.approx(25.0)
