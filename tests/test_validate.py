"""Tests of pdprof.validate on small synthetic datasets (no GPU, no files)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import pytest

from pdprof.validate import DEFAULT_THRESHOLDS, SCHEMA, merge_thresholds, validate, validate_by_gpu

GPU = "nvidia-h100-80gb-hbm3"
GPU_NAME = "NVIDIA H100 80GB HBM3"
SHAPE = {"L": 32, "H": 4096, "heads": 32, "kv_heads": 8}
T_VALUES = (1024, 2048, 4096, 8192, 16384)
ITERS_VALUES = (64, 128, 256, 512, 1024)
PROVENANCE = {
    "compute_capability": "9.0",
    "driver_version": "580.65",
    "cuda_version": "13.0",
    "ncu_version": "2025.3.1",
    "git_rev": "f680fd0",
    "captured_at": "2026-11-27T12:00:00Z",
}


def _as_fn(value: float | Callable[[int], float]) -> Callable[[int], float]:
    return value if callable(value) else (lambda _: value)


def make_dataset(
    *,
    gpu: str = GPU,
    variant: str = "seed",
    t_values: tuple[int, ...] = T_VALUES,
    iters_values: tuple[int, ...] = ITERS_VALUES,
    prefill_sm: float = 84.0,
    prefill_dram: float = 8.9,
    decode_sm: float = 0.13,
    decode_dram: float = 1.27,
    decode_bw: float | Callable[[int], float] = 102.6e9,
    peak: float = 3352e9,
    decode_ns: Callable[[int], float] = lambda T: 20_000 + 80.0 * T,
    prefill_ns: Callable[[int], float] = lambda it: 50_000 + 1_000.0 * it,
    launches: int = 2,
    ncu: bool = True,
    bench: bool = True,
) -> pd.DataFrame:
    """Tidy dataset shaped like a real capture: a T sweep at iters_fma=256 plus an iters_fma sweep at T=2048.

    Defaults are the seed kernels' numbers on the H100 (prefill compute bound, decode idle, 3 % of peak).
    """
    bandwidth_of = _as_fn(decode_bw)
    shapes = sorted({(T, 256) for T in t_values} | {(2048, it) for it in iters_values})
    rows = []
    for T, iters in shapes:
        point = f"{variant}-L32-H4096-h32-kv8-T{T}-f{iters}"
        base = {
            "gpu": gpu,
            "gpu_name": GPU_NAME,
            "point": point,
            "variant": variant,
            **SHAPE,
            "T": T,
            "iters_fma": iters,
            **PROVENANCE,
        }

        def add(
            profiler: str,
            phase: str,
            kernel: str,
            launch: int,
            metric: str,
            value: float,
            unit: str,
            base: dict = base,  # bound now: add() belongs to this point
        ) -> None:
            rows.append(
                {
                    **base,
                    "profiler": profiler,
                    "phase": phase,
                    "kernel": kernel,
                    "launch": launch,
                    "metric": metric,
                    "value": float(value),
                    "unit": unit,
                }
            )

        if ncu:
            for launch in range(launches):
                for phase, kernel, sm, dram, duration in (
                    ("prefill", "prefill_fma_kernel", prefill_sm, prefill_dram, prefill_ns(iters) / 32),
                    ("decode", "decode_kv_scan_kernel", decode_sm, decode_dram, decode_ns(T) / 32),
                ):
                    add("ncu", phase, kernel, launch, "duration", duration, "ns")
                    add("ncu", phase, kernel, launch, "sm_throughput", sm, "%")
                    add("ncu", phase, kernel, launch, "dram_throughput", dram, "%")
                    add("ncu", phase, kernel, launch, "dram_bytes", 1e6, "byte")
                    add("ncu", phase, kernel, launch, "achieved_occupancy", 50.0, "%")
                    add("ncu", phase, kernel, launch, "l2_hit_rate", 40.0, "%")
                    add("ncu", phase, kernel, launch, "gpu__time_duration.sum", duration, "ns")
        if bench:
            kv_bytes = bandwidth_of(T) * decode_ns(T) / 1e9
            for phase, step in (("prefill", prefill_ns(iters)), ("decode", decode_ns(T))):
                add("bench", phase, phase, 0, "step_time", step, "ns")
                add("bench", phase, phase, 0, "step_time_min", step * 0.99, "ns")
                add("bench", phase, phase, 0, "step_time_max", step * 1.02, "ns")
                add(
                    "bench",
                    phase,
                    phase,
                    0,
                    "tokens_per_s",
                    (T if phase == "prefill" else 1) / step * 1e9,
                    "1/second",
                )
                add("bench", phase, phase, 0, "peak_dram_bandwidth", peak, "byte/second")
            add("bench", "decode", "decode", 0, "kv_bytes_per_step", kv_bytes, "byte")
            add("bench", "decode", "decode", 0, "effective_bandwidth", bandwidth_of(T), "byte/second")
    columns = [
        "gpu",
        "gpu_name",
        "profiler",
        "point",
        "variant",
        *SHAPE,
        "T",
        "iters_fma",
        "phase",
        "kernel",
        "launch",
        "metric",
        "value",
        "unit",
        *PROVENANCE,
    ]
    df = pd.DataFrame(rows, columns=columns)
    return df.astype({c: "int64" for c in ["L", "H", "heads", "kv_heads", "T", "iters_fma", "launch"]})


def checks_by_id(result: dict) -> dict[str, dict]:
    return {check["id"]: check for check in result["checks"]}


# --------------------------------------------------------------------------- whole result


def test_seed_h100_numbers_give_documented_verdicts():
    result = validate(make_dataset())
    checks = checks_by_id(result)
    assert list(checks)[:5] == [
        "prefill_compute_bound",
        "decode_memory_bound",
        "decode_bandwidth_fraction",
        "decode_linear_in_T",
        "prefill_linear_in_iters_fma",
    ]
    assert checks["prefill_compute_bound"]["status"] == "PASS"
    decode = checks["decode_memory_bound"]
    assert decode["status"] == "WARN"
    assert "neither unit is busy" in decode["explanation"]
    assert "1.27 %" in decode["explanation"] and "0.13 %" in decode["explanation"]
    bandwidth = checks["decode_bandwidth_fraction"]
    assert bandwidth["status"] == "FAIL"
    assert bandwidth["measured"] == pytest.approx(102.6 / 3352 * 100)
    assert "103 GB/s" in bandwidth["explanation"] and "3,352 GB/s" in bandwidth["explanation"]
    assert "3.06 %" in bandwidth["explanation"]
    assert bandwidth["details"]["selection"] == "reference"
    assert bandwidth["details"]["T"] == 2048
    assert bandwidth["details"]["peak_source"] == "device-reported theoretical"
    assert result["verdict"] == "FAIL"
    # + timing noise and ncu first-launch PASS; L2 size, step_time_first and clocks absent, and
    # no Nsight Systems timeline for the two launch-overhead checks: SKIP
    assert result["summary"] == {"PASS": 7, "FAIL": 1, "WARN": 1, "SKIP": 4}
    assert result["schema"] == SCHEMA
    assert result["gpu"] == [GPU] and result["gpu_name"] == [GPU_NAME]
    assert result["provenance"]["ncu_version"] == ["2025.3.1"]
    json.dumps(result, allow_nan=False)  # JSON-able, no NaN


def test_points_table_has_one_row_per_point_with_units_converted():
    result = validate(make_dataset())
    rows = {row["point"]: row for row in result["points"]}
    assert len(rows) == len({(T, 256) for T in T_VALUES} | {(2048, it) for it in ITERS_VALUES})
    ref = rows["seed-L32-H4096-h32-kv8-T2048-f256"]
    assert ref["decode_ms"] == pytest.approx((20_000 + 80.0 * 2048) / 1e6)
    assert ref["prefill_ms"] == pytest.approx((50_000 + 1_000.0 * 256) / 1e6)
    assert ref["decode_GBps"] == pytest.approx(102.6)
    assert ref["prefill_sm_pct"] == pytest.approx(84.0)
    assert ref["decode_dram_pct"] == pytest.approx(1.27)
    assert ref["T"] == 2048 and ref["variant"] == "seed"


# --------------------------------------------------------------------------- boundness


@pytest.mark.parametrize(
    ("sm", "dram", "expected"),
    [
        (60.0, 30.0, "PASS"),  # ratio exactly 2
        (60.0, 30.1, "FAIL"),  # ratio just below 2
        (50.0, 10.0, "PASS"),  # SM exactly at the 50 % minimum
        (49.9, 10.0, "WARN"),  # dominates, but SM below the minimum
        (20.0, 40.0, "FAIL"),
    ],
)
def test_prefill_compute_bound_flips_at_thresholds(sm, dram, expected):
    check = checks_by_id(validate(make_dataset(prefill_sm=sm, prefill_dram=dram)))["prefill_compute_bound"]
    assert check["status"] == expected
    assert check["measured"] == pytest.approx(sm / dram)


@pytest.mark.parametrize(
    ("dram", "sm", "expected"),
    [
        (60.0, 30.0, "PASS"),
        (60.0, 30.1, "FAIL"),
        (30.0, 1.0, "PASS"),  # DRAM exactly at the 30 % minimum
        (29.9, 1.0, "WARN"),
    ],
)
def test_decode_memory_bound_flips_at_thresholds(dram, sm, expected):
    check = checks_by_id(validate(make_dataset(decode_dram=dram, decode_sm=sm)))["decode_memory_bound"]
    assert check["status"] == expected


def test_dominance_thresholds_come_from_config():
    df = make_dataset(prefill_sm=60.0, prefill_dram=20.0)  # ratio 3
    assert checks_by_id(validate(df, {"dominance_ratio": 4.0}))["prefill_compute_bound"]["status"] == "FAIL"
    assert (
        checks_by_id(validate(df, {"prefill_min_sm_pct": 70.0}))["prefill_compute_bound"]["status"] == "WARN"
    )


def test_idle_dram_gives_infinite_ratio_without_nan():
    result = validate(make_dataset(prefill_dram=0.0))
    check = checks_by_id(result)["prefill_compute_bound"]
    assert check["status"] == "PASS" and check["measured"] is None
    json.dumps(result, allow_nan=False)


# --------------------------------------------------------------------------- bandwidth fraction


@pytest.mark.parametrize(
    ("bandwidth", "expected"),
    [(299e9, "FAIL"), (300e9, "PASS"), (950e9, "PASS"), (1050e9, "PASS"), (1051e9, "WARN")],
)
def test_bandwidth_fraction_flips_at_band_edges(bandwidth, expected):
    check = checks_by_id(validate(make_dataset(decode_bw=bandwidth, peak=1000e9)))[
        "decode_bandwidth_fraction"
    ]
    assert check["status"] == expected
    assert check["measured"] == pytest.approx(bandwidth / 1000e9 * 100)


def test_bandwidth_fraction_prefers_config_peak_over_device_peak():
    df = make_dataset(decode_bw=500e9, peak=3352e9)
    device = checks_by_id(validate(df))["decode_bandwidth_fraction"]
    assert device["status"] == "FAIL" and device["details"]["peak_source"] == "device-reported theoretical"
    configured = checks_by_id(validate(df, {"peak_dram_bandwidth": 1000e9}))["decode_bandwidth_fraction"]
    assert configured["status"] == "PASS"
    assert configured["details"]["peak_source"] == "config"
    assert configured["details"]["fraction"] == pytest.approx(0.5)
    assert "config DRAM peak" in configured["explanation"]


def test_bandwidth_fraction_lists_every_decode_point():
    check = checks_by_id(validate(make_dataset(decode_bw=lambda T: T * 1e8, peak=4096e9)))[
        "decode_bandwidth_fraction"
    ]
    by_point = {p["point"]: p for p in check["details"]["points"]}
    assert len(by_point) == len(validate(make_dataset())["points"])
    assert by_point["seed-L32-H4096-h32-kv8-T4096-f256"]["fraction"] == pytest.approx(0.1)


def test_bandwidth_fraction_falls_back_to_largest_T_without_reference_point():
    check = checks_by_id(validate(make_dataset(), {"reference": {"T": 999}}))["decode_bandwidth_fraction"]
    assert check["details"]["selection"].startswith("largest-T fallback")
    assert check["details"]["T"] == max(T_VALUES)


def test_bandwidth_fraction_skips_without_any_peak():
    check = checks_by_id(validate(make_dataset(peak=0.0)))["decode_bandwidth_fraction"]
    assert check["status"] == "SKIP" and check["measured"] is None


# --------------------------------------------------------------------------- linearity


def test_exactly_linear_data_fits_with_r2_one_and_exact_slope():
    checks = checks_by_id(
        validate(make_dataset(decode_ns=lambda T: 7_000 + 42.0 * T, prefill_ns=lambda it: 900 + 3.5 * it))
    )
    decode, prefill = checks["decode_linear_in_T"], checks["prefill_linear_in_iters_fma"]
    assert decode["status"] == prefill["status"] == "PASS"
    assert decode["measured"] == pytest.approx(1.0, abs=1e-12)
    assert decode["details"]["slope"] == pytest.approx(42.0)
    assert decode["details"]["intercept_ns"] == pytest.approx(7_000)
    assert decode["details"]["max_rel_residual"] == pytest.approx(0.0, abs=1e-9)
    assert prefill["details"]["slope"] == pytest.approx(3.5)
    assert prefill["details"]["n_points"] == len(ITERS_VALUES)
    assert [p["iters_fma"] for p in prefill["details"]["points"]] == list(ITERS_VALUES)


def test_quadratic_T_dependence_fails_linearity():
    check = checks_by_id(validate(make_dataset(decode_ns=lambda T: 1e-3 * T**2)))["decode_linear_in_T"]
    assert check["status"] == "FAIL"
    assert check["measured"] < DEFAULT_THRESHOLDS["linearity_min_r2"]


def test_decreasing_step_time_fails_linearity_despite_perfect_fit():
    check = checks_by_id(validate(make_dataset(decode_ns=lambda T: 1e7 - 10.0 * T)))["decode_linear_in_T"]
    assert check["status"] == "FAIL" and check["details"]["slope"] == pytest.approx(-10.0)


def test_linearity_uses_the_sweep_with_most_distinct_values():
    # iters_fma only shapes prefill: decode points of the iters sweep are replicates at T=2048.
    check = checks_by_id(validate(make_dataset()))["decode_linear_in_T"]
    assert len({p["T"] for p in check["details"]["points"]}) == len(T_VALUES)
    assert check["details"]["group"] == {"variant": "seed", **SHAPE, "batch": 1, "page_size": 0}


def test_linearity_skips_with_fewer_than_three_distinct_values():
    checks = checks_by_id(validate(make_dataset(t_values=(2048, 4096), iters_values=(256, 512))))
    assert checks["decode_linear_in_T"]["status"] == "SKIP"
    assert checks["prefill_linear_in_iters_fma"]["status"] == "SKIP"
    assert "only 2 distinct" in checks["decode_linear_in_T"]["explanation"]


# --------------------------------------------------------------------------- missing data, GPUs, variants


def test_missing_ncu_rows_skip_boundness_only():
    checks = checks_by_id(validate(make_dataset(ncu=False)))
    assert checks["prefill_compute_bound"]["status"] == "SKIP"
    assert checks["decode_memory_bound"]["status"] == "SKIP"
    assert "No Nsight Compute" in checks["decode_memory_bound"]["explanation"]
    assert checks["decode_linear_in_T"]["status"] == "PASS"


def test_missing_bench_rows_skip_bandwidth_and_linearity():
    result = validate(make_dataset(bench=False))
    statuses = {cid: c["status"] for cid, c in checks_by_id(result).items()}
    assert statuses["decode_bandwidth_fraction"] == "SKIP"
    assert statuses["decode_linear_in_T"] == statuses["prefill_linear_in_iters_fma"] == "SKIP"
    assert all(row["decode_ms"] is None for row in result["points"])


def test_empty_dataset_skips_everything():
    result = validate(make_dataset().iloc[:0])
    assert result["summary"] == {"PASS": 0, "FAIL": 0, "WARN": 0, "SKIP": len(result["checks"])}
    assert result["verdict"] == "PASS" and result["points"] == []


def test_missing_columns_raise():
    with pytest.raises(ValueError, match="lacks column"):
        validate(make_dataset().drop(columns=["metric"]))


def test_several_gpus_raise_and_validate_by_gpu_splits_them():
    df = pd.concat([make_dataset(), make_dataset(gpu="nvidia-a100-sxm4-80gb")], ignore_index=True)
    with pytest.raises(ValueError, match="several GPUs"):
        validate(df)
    results = validate_by_gpu(df)
    assert sorted(results) == ["nvidia-a100-sxm4-80gb", GPU]
    assert results[GPU]["gpu"] == [GPU]


def test_a_calibration_applies_to_its_results_folder_else_to_its_card():
    slug = "nvidia-h100-80gb-hbm3-kernels"
    df = make_dataset(gpu=slug, decode_bw=1500e9)

    def peak(calibrations: dict) -> float:
        check = checks_by_id(validate_by_gpu(df, calibrations=calibrations)[slug])[
            "decode_bandwidth_fraction"
        ]
        return check["details"]["peak_bytes_per_s"]

    def measured(name: str, read: float) -> dict:
        return {"device": {"name": name}, "read_bandwidth": read}

    own, other_run = measured(GPU_NAME, 2000e9), measured(GPU_NAME, 2500e9)
    assert peak({slug: own, "nvidia-h100-80gb-hbm3": other_run}) == 2000e9  # its own folder first
    assert peak({"somewhere": own}) == 2000e9  # else the one calibration of the same card
    assert peak({"a": own, "b": other_run}) == 3352e9  # two of that card: ambiguous, none taken
    assert peak({"a100": measured("NVIDIA A100-SXM4-80GB", 2000e9)}) == 3352e9  # another card


def test_several_variants_suffix_check_ids():
    df = pd.concat([make_dataset(), make_dataset(variant="opt", decode_dram=60.0)], ignore_index=True)
    checks = checks_by_id(validate(df))
    assert len(checks) == 2 * len(validate(make_dataset())["checks"])
    assert checks["decode_memory_bound[seed]"]["status"] == "WARN"
    assert checks["decode_memory_bound[opt]"]["status"] == "PASS"
    assert checks["decode_bandwidth_fraction[opt]"]["details"]["selection"] == "reference"
    assert checks["decode_linear_in_T[opt]"]["details"]["variant"] == "opt"


# --------------------------------------------------------------------------- thresholds


def test_merge_thresholds_overlays_config_and_keeps_defaults_for_none():
    merged = merge_thresholds({"dominance_ratio": 3.0, "peak_dram_bandwidth": None, "reference": {"T": 4096}})
    assert merged["dominance_ratio"] == 3.0
    assert merged["peak_dram_bandwidth"] is None
    assert merged["reference"] == {**DEFAULT_THRESHOLDS["reference"], "T": 4096}
    assert DEFAULT_THRESHOLDS["reference"]["T"] == 2048  # defaults untouched


@pytest.mark.parametrize(
    "overrides",
    [
        {"dominanse_ratio": 2.0},
        {"reference": {"seq": 1}},
        {"bandwidth_fraction_min": 0.9, "bandwidth_fraction_max": 0.5},
    ],
)
def test_merge_thresholds_rejects_bad_config(overrides):
    with pytest.raises(ValueError):
        merge_thresholds(overrides)
