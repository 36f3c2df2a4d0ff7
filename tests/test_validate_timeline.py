"""Nsight Systems timeline checks: launch overhead and cold start, from real H100 nsys exports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_validate import make_dataset

from pdprof import dataset
from pdprof.validate import validate

NSYS_H100 = Path(__file__).resolve().parent / "data" / "profiler-samples" / "nsys_h100_pdprof_nvtx"


def with_timeline(frame: pd.DataFrame, busy_fraction: float | None = None) -> pd.DataFrame:
    """The synthetic dataset plus the real H100 timeline statistics at every point."""
    stats = dataset.timeline_frame(NSYS_H100)
    if busy_fraction is not None:
        stats.loc[stats["metric"] == "busy_fraction", "value"] = busy_fraction
    identity = frame.drop_duplicates("point").drop(
        columns=["profiler", "phase", "kernel", "launch", "metric", "value", "unit"]
    )
    return pd.concat([frame, identity.merge(stats, how="cross")], ignore_index=True)


def checks_of(frame: pd.DataFrame) -> dict[str, dict]:
    return {c["id"]: c for c in validate(frame)["checks"]}


def test_real_timeline_passes_launch_overhead_and_flags_the_decode_cold_start():
    checks = checks_of(with_timeline(make_dataset()))
    decode = checks["decode_launch_overhead"]
    assert decode["status"] == "PASS"
    assert decode["measured"] == pytest.approx((1 - 0.9943058) * 100, rel=1e-4)
    assert "32 kernels per step" in decode["explanation"]
    cold = checks["decode_first_launch_outlier"]
    assert cold["status"] == "WARN"  # 431.8 µs first decode launch vs 163.5 µs steady (2.64×)
    assert any(
        row["source"] == "nsys" and row["ratio"] == pytest.approx(2.6414, rel=1e-3)
        for row in cold["details"]["points"]
    )
    assert checks["prefill_first_launch_outlier"]["status"] == "PASS"


def test_idle_gpu_between_kernels_warns_launch_bound():
    checks = checks_of(with_timeline(make_dataset(), busy_fraction=0.6))
    overhead = checks["decode_launch_overhead"]
    assert overhead["status"] == "WARN"
    assert overhead["measured"] == pytest.approx(40.0)


def test_without_nsys_the_timeline_checks_skip():
    checks = checks_of(make_dataset())
    assert checks["decode_launch_overhead"]["status"] == "SKIP"
