"""Benchmark result lines become tidy bench rows in base units."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pdprof import dataset
from pdprof.config import Point

BUNDLE = Path(__file__).resolve().parents[1] / "captures" / "nvidia-h100-80gb-hbm3"


@pytest.fixture
def result() -> dict:
    return json.loads((BUNDLE / "runs" / "seed-L32-H4096-h32-kv8-T2048-f256" / "bench.json").read_text())


def test_bench_rows_carry_times_in_ns_and_the_device_limits(result):
    frame = dataset.bench_frame(result).set_index(["phase", "metric"])["value"]
    assert frame["decode", "step_time"] == pytest.approx(result["decode"]["ms_median"] * 1e6)
    assert frame["prefill", "step_time_max"] == pytest.approx(result["prefill"]["ms_max"] * 1e6)
    assert frame["decode", "effective_bandwidth"] == result["decode"]["bytes_per_s"]
    assert frame["decode", "kv_distinct_bytes"] == 2048 * 128 * 8 * 2 * 4  # one fp32 K/V buffer, exact
    assert frame["decode", "l2_bytes"] == 52_428_800  # H100 L2, as the device reported it
    assert frame["decode", "step_time_first"] == pytest.approx(result["decode"]["warmup_ms_all"][0] * 1e6)


def test_results_from_before_warmup_timing_have_no_cold_start_row(result):
    del result["decode"]["warmup_ms_all"]
    frame = dataset.bench_frame(result).set_index(["phase", "metric"])["value"]
    assert ("decode", "step_time_first") not in frame


def test_first_warmup_step_becomes_the_cold_start_row(result):
    result["decode"]["warmup_ms_all"] = [9.5, 5.3]
    frame = dataset.bench_frame(result).set_index(["phase", "metric"])["value"]
    assert frame["decode", "step_time_first"] == pytest.approx(9.5e6)


def test_a_persistent_step_becomes_a_decode_row_where_the_benchmark_says(result):
    assert "persistent_step" not in set(dataset.bench_frame(result)["metric"])  # from before the field
    result["decode"]["persistent"] = True
    frame = dataset.bench_frame(result).set_index(["phase", "metric"])["value"]
    assert frame["decode", "persistent_step"] == 1.0
    assert ("prefill", "persistent_step") not in frame


def test_phase_of_kernel_names():
    assert dataset.phase_of("prefill_fma_kernel") == "prefill"
    assert dataset.phase_of("<unnamed>::decode_kv_scan_kernel(const float *)") == "decode"
    assert dataset.phase_of("elementwise_add") == "other"


NSYS_H100 = Path(__file__).resolve().parent / "data" / "profiler-samples" / "nsys_h100_pdprof_nvtx"


def test_timeline_rows_from_real_h100_nsys_exports():
    rows = dataset.timeline_frame(NSYS_H100).set_index(["phase", "metric"])["value"]
    # 2 warm-up + 3 timed steps per phase, 32 layer launches each (SOURCE.txt)
    assert rows["decode", "steps"] == 5 and rows["prefill", "steps"] == 5
    assert rows["decode", "kernels_per_step"] == 32
    assert 0 < rows["decode", "busy_fraction"] <= 1
    assert rows["decode", "cold_start_ratio"] == pytest.approx(
        rows["decode", "first_launch_ns"] / rows["decode", "steady_median_ns"]
    )
    assert set(dataset.timeline_frame(NSYS_H100)["profiler"]) == {"nsys"}


def test_no_nsys_exports_give_no_rows(tmp_path):
    (tmp_path / "nsys_skipped.txt").write_text("nsys not found on PATH\n")
    assert dataset.timeline_frame(tmp_path).empty


def test_missing_or_broken_dataset_is_one_clear_error(tmp_path):
    from pdprof.errors import DatasetError

    with pytest.raises(DatasetError, match="no such dataset"):
        dataset.read_dataset([tmp_path / "nothing"])
    broken = tmp_path / "part-0.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match="not a readable Parquet file"):
        dataset.read_dataset([broken])


def test_library_kernels_of_a_one_phase_variant_belong_to_its_phase(monkeypatch, tmp_path):
    """cuBLAS names no phase: gemm's kernels are prefill because gemm runs nothing else."""
    capture = BUNDLE.parent / "nvidia-h100-80gb-hbm3-kernels"
    kernel = "sm90_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize128x256x64"
    parsed = pd.DataFrame({"kernel": [kernel], "kernel_short": [kernel], "launch": [0],
                           "metric": ["duration"], "value": [1.0e5], "unit": ["ns"]})  # fmt: skip
    monkeypatch.setattr(dataset.parse, "parse_file", lambda path, tool: parsed)
    bench = capture / "runs" / "fma_ilp-L32-H4096-h32-kv8-T2048-f256" / "bench.json"
    rows = dataset.tidy_point(Point.from_id("gemm-L32-H4096-h32-kv8-T2048-f256"), "gpu", bench,
                              capture / "provenance.json", tmp_path / "ncu_raw.csv")  # fmt: skip
    assert set(rows.loc[rows["profiler"] == "ncu", "phase"]) == {"prefill"}
    seed = dataset.tidy_point(Point.from_id("seed-L32-H4096-h32-kv8-T2048-f256"), "gpu", bench,
                              capture / "provenance.json", tmp_path / "ncu_raw.csv")  # fmt: skip
    assert set(seed.loc[seed["profiler"] == "ncu", "phase"]) == {"other"}  # two phases: no guess
