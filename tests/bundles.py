"""Committed capture bundles read as a live run is: tidy rows, then validation with the bundle's
own calibration (the measured peaks of the card that made it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pdprof import dataset, validate
from pdprof.config import Point

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def points(bundle: Path) -> list[str]:
    return sorted(path.name for path in (bundle / "runs").iterdir())


def tidy_rows(bundle: Path) -> pd.DataFrame:
    return dataset.tidy_runs(bundle, points(bundle), bundle.name, timelines=True)


def checks_by_id(bundle: Path, rows: pd.DataFrame) -> dict[str, dict]:
    calibration = json.loads((bundle / "calibration.json").read_text())
    return {check["id"]: check for check in validate.validate(rows, calibration=calibration)["checks"]}


# The attention sweeps' points (decode_attention, decode_attention_fp8): 7B-class, GQA 4:1.
ATTENTION_SHAPE = {"L": 32, "H": 4096, "heads": 32, "kv_heads": 8, "iters_fma": 256}
ATTENTION_TS = (2048, 4096, 8192, 16384, 32768)


def attention_sweep_points(*variants: str) -> list[str]:
    return sorted(Point(variant=v, T=T, **ATTENTION_SHAPE).id for v in variants for T in ATTENTION_TS)


def attention_bench(bundle: Path, variant: str, T: int) -> dict:
    """The benchmark's JSON line of one point of an attention sweep's bundle."""
    point = Point(variant=variant, T=T, **ATTENTION_SHAPE)
    return json.loads((bundle / "runs" / point.id / "bench.json").read_text())


def same_run_ratios(bundle: Path, variant: str, reference: str) -> list[float]:
    """variant's decode bandwidth over reference's at each T, both from the bundle's bench runs."""
    return [
        attention_bench(bundle, variant, T)["decode"]["bytes_per_s"]
        / attention_bench(bundle, reference, T)["decode"]["bytes_per_s"]
        for T in ATTENTION_TS
    ]


def kernels_per_step(rows: pd.DataFrame) -> dict[str, list[float]]:
    """The distinct decode kernels-per-step counts nsys saw, per variant."""
    per_step = rows[(rows["profiler"] == "nsys") & (rows["metric"] == "kernels_per_step")]
    return {
        variant: list(values) for variant, values in per_step.groupby("variant")["value"].unique().items()
    }


def assert_persistent_runs_matched_their_reference(
    bundle: Path, variant: str, kv_format: str, max_rel_error: float
) -> None:
    """Every T of the variant read kv_format K/V in one persistent tensor-core launch per step,
    within max_rel_error of its float64 reference (and of the benchmark's own tolerance)."""
    for T in ATTENTION_TS:
        result = attention_bench(bundle, variant, T)
        assert result["params"]["kv_format"] == kv_format, T
        error = result["checks"]["decode_reference_rel_error"]
        assert error < min(max_rel_error, result["checks"]["reference_tolerance"]), (T, error)
        assert result["decode"]["persistent"] is True and result["decode"]["tensor_cores"] is True, T
