"""Check a pdprof dataset against the seed note's acceptance criteria.

The input is the tidy DataFrame of one capture (one row per gpu, profiler,
point, kernel, launch and metric). :func:`validate` turns the rows of one GPU
into a JSON-able result: the checks below per kernel variant, a per-point summary
table and the provenance of the capture.

Checks (ids get a ``[variant]`` suffix only when the data holds several variants):

- ``prefill_compute_bound``: prefill SM throughput dominates DRAM throughput (ncu).
- ``decode_memory_bound``: decode DRAM throughput dominates SM throughput (ncu).
- ``decode_bandwidth_fraction``: decode effective bandwidth / DRAM peak (bench).
- ``decode_linear_in_T``: decode step time is linear in the context length T (bench).
- ``prefill_linear_in_iters_fma``: prefill step time is linear in iters_fma (bench).
  Both linearity checks also compare the fitted slope with pdprof.model's prediction.
- ``decode_l2_resident``: the decode working set exceeds the L2 (else "DRAM" numbers measure L2).
- ``{phase}_timing_noise``: spread (max − min) / median of the timed repeats (bench).
- ``{phase}_first_launch_outlier``: cold start (first warm-up step) or first profiled launch
  against the steady state (bench, ncu).
- ``clocks_recorded``: SM and DRAM clocks recorded, SM clock steady across launches (ncu).

Each FAIL or WARN carries a ``diagnosis`` from the counters (occupancy, launched warps, L2 hit
rate and residency, Nsight Systems launch gaps, clocks): the seed's troubleshooting table, each
row only where the data shows it. Missing data never raises: the affected check is SKIP with the reason.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pdprof import model
from pdprof.config import AXES
from pdprof.dataset import with_axis_defaults
from pdprof.report import format_number
from pdprof.variants import VARIANTS

SCHEMA = "pdprof.validation/1"
STATUSES = ("PASS", "FAIL", "WARN", "SKIP")
PARAM_COLUMNS = AXES
SHAPE_COLUMNS = tuple(axis for axis in AXES if axis != "variant")
PROVENANCE_COLUMNS = (
    "compute_capability",
    "driver_version",
    "cuda_version",
    "ncu_version",
    "git_rev",
    "captured_at",
)
REQUIRED_COLUMNS = (
    "gpu",
    "gpu_name",
    "profiler",
    "point",
    *PARAM_COLUMNS,
    "phase",
    "kernel",
    "launch",
    "metric",
    "value",
)

DEFAULT_THRESHOLDS: dict[str, Any] = {
    "dominance_ratio": 2.0,
    "decode_min_dram_pct": 30.0,
    "prefill_min_sm_pct": 50.0,
    "bandwidth_fraction_min": 0.30,
    "bandwidth_fraction_max": 1.05,
    "linearity_min_r2": 0.98,
    "peak_dram_bandwidth": None,
    "peak_fp32_flops": None,
    "l2_bytes": None,
    "timing_noise_max_pct": 5.0,
    "first_launch_max_ratio": 1.5,
    "clock_variation_max_pct": 10.0,
    "low_occupancy_pct": 25.0,
    "l2_hit_rate_high_pct": 80.0,
    "launch_gap_max_fraction": 0.2,
    "reference": {
        "variant": "seed",
        "L": 32,
        "H": 4096,
        "heads": 32,
        "kv_heads": 8,
        "T": 2048,
        "iters_fma": 256,
        "batch": 1,
        "page_size": 0,
    },
}

_UNIT_LABELS = {"sm_throughput": "SM", "dram_throughput": "DRAM"}
_ONE_SIDED_FACTOR = 4  # (max − median) ≥ 4 × (median − min): one slow repeat rather than jitter


@dataclass
class Check:
    """Outcome of one acceptance check."""

    id: str
    phase: str
    status: str  # one of STATUSES
    measured: float | None
    unit: str
    threshold: str  # human readable, e.g. "SM/DRAM ≥ 2×"
    explanation: str  # one sentence citing the numbers
    details: dict[str, Any] = field(default_factory=dict)
    diagnosis: str = ""  # for FAIL/WARN: the likely cause, backed by counters


# --------------------------------------------------------------------------- public API


def merge_thresholds(overrides: dict | None = None) -> dict[str, Any]:
    """DEFAULT_THRESHOLDS with *overrides* (the config's ``validation:`` section) laid over it.

    ``None`` values keep the default (YAML ``key:`` with no value); unknown keys raise
    ValueError so that a typo cannot silently disable a check.
    """
    merged = copy.deepcopy(DEFAULT_THRESHOLDS)
    for key, value in (overrides or {}).items():
        if key not in merged:
            raise ValueError(f"unknown validation threshold {key!r}; known: {', '.join(merged)}")
        if value is None:
            continue
        if key == "reference":
            unknown = set(value) - set(merged["reference"])
            if unknown:
                raise ValueError(
                    f"unknown reference key(s) {sorted(unknown)}; known: {', '.join(merged['reference'])}"
                )
            merged["reference"].update(value)
        else:
            merged[key] = value
    if merged["bandwidth_fraction_min"] > merged["bandwidth_fraction_max"]:
        raise ValueError("bandwidth_fraction_min must not exceed bandwidth_fraction_max")
    return merged


def validate(
    df: pd.DataFrame, thresholds: dict | None = None, calibration: dict | None = None
) -> dict[str, Any]:
    """Validate the rows of ONE GPU; raise ValueError if *df* holds several (see validate_by_gpu).

    *calibration* (pdprof.calibrate) supplies measured peaks where the config sets none.
    """
    df = with_axis_defaults(df)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"dataset lacks column(s): {', '.join(missing)}")
    gpus = _unique_strings(df["gpu"])
    if len(gpus) > 1:
        raise ValueError(f"dataset holds several GPUs: {', '.join(gpus)}; pass one")
    limits = merge_thresholds(thresholds)
    limits["calibration"] = calibration or {}
    checks = _all_checks(df, limits)
    summary = {status: sum(c.status == status for c in checks) for status in STATUSES}
    return {
        "schema": SCHEMA,
        "gpu": gpus,
        "gpu_name": _unique_strings(df["gpu_name"]),
        "summary": summary,
        "verdict": "FAIL" if summary["FAIL"] else "PASS",
        "thresholds": limits,
        "checks": [dataclasses.asdict(c) for c in checks],
        "points": _points_table(df),
        "provenance": {c: _unique_strings(df[c]) for c in PROVENANCE_COLUMNS if c in df.columns},
    }


def validate_by_gpu(
    df: pd.DataFrame, thresholds: dict | None = None, calibrations: dict[str, dict] | None = None
) -> dict[str, dict[str, Any]]:
    """validate() for each GPU slug in *df*, keyed by slug; see calibration_of for *calibrations*."""
    calibrations = calibrations or {}
    results = {}
    for gpu in _unique_strings(df["gpu"]):
        rows = df[df["gpu"] == gpu]
        results[gpu] = validate(rows, thresholds, calibration_of(gpu, rows, calibrations))
    return results


def calibration_of(slug: str, rows: pd.DataFrame, calibrations: dict[str, dict]) -> dict | None:
    """The calibration for the results *slug*, from *calibrations* keyed by the folder holding them.

    The pipeline writes results/<slug>/calibration.json and bundles keep captures/<slug>/, so
    the folder name is the slug. Otherwise a calibration of the card the rows were measured on
    is taken, if exactly one was given: a results folder may carry any slug (gpu_slug).
    """
    if slug in calibrations:
        return calibrations[slug]
    names = _unique_strings(rows["gpu_name"]) if "gpu_name" in rows else []
    if len(names) != 1:
        return None
    same_card = [c for c in calibrations.values() if c["device"]["name"] == names[0]]
    return same_card[0] if len(same_card) == 1 else None


# --------------------------------------------------------------------------- orchestration


def _all_checks(df: pd.DataFrame, limits: dict[str, Any]) -> list[Check]:
    variants = _unique_strings(df["variant"])
    if len(variants) <= 1:
        # Stable ids for the common single-variant case (also yields SKIPs for empty data).
        return _phases_of(variants[0] if variants else "", _variant_checks(df, limits))
    checks = []
    for variant in variants:
        for check in _phases_of(variant, _variant_checks(df[df["variant"] == variant], limits)):
            checks.append(
                dataclasses.replace(
                    check, id=f"{check.id}[{variant}]", details={"variant": variant, **check.details}
                )
            )
    return checks


def _phases_of(variant: str, checks: list[Check]) -> list[Check]:
    """A variant without a kernel for a phase: that phase's checks say so instead of "no rows"."""
    spec = VARIANTS.get(variant)
    if spec is None:  # no data, or a variant this code does not know: nothing to say
        return checks
    reason = "Variant {variant} has no {phase} kernel (it runs {phases} only), so this check does not apply."
    return [
        dataclasses.replace(
            check,
            status="SKIP",
            measured=None,
            explanation=reason.format(variant=variant, phase=check.phase, phases=" and ".join(spec.phases)),
            details={},
            diagnosis="",
        )
        if check.phase in ("prefill", "decode") and check.phase not in spec.phases
        else check
        for check in checks
    ]


def _variant_checks(df: pd.DataFrame, limits: dict[str, Any]) -> list[Check]:
    shape_keys = ["variant", "L", "H", "heads", "kv_heads", "batch", "page_size"]
    prefill_bound = dict(
        phase="prefill", busy="sm_throughput", idle="dram_throughput", min_key="prefill_min_sm_pct"
    )
    decode_bound = dict(
        phase="decode", busy="dram_throughput", idle="sm_throughput", min_key="decode_min_dram_pct"
    )
    checks = [
        _check_dominance(df, limits, "prefill_compute_bound", **prefill_bound),
        _check_dominance(df, limits, "decode_memory_bound", **decode_bound),
        _check_bandwidth_fraction(df, limits),
        # iters_fma only shapes prefill, so decode points differing in it are replicates.
        _check_linearity(
            df,
            limits,
            "decode_linear_in_T",
            phase="decode",
            x="T",
            group_keys=shape_keys,
            slope_unit="ns per token of context",
            expectation=lambda group: _decode_slope_expectation(df, limits, group),
        ),
        _check_linearity(
            df,
            limits,
            "prefill_linear_in_iters_fma",
            phase="prefill",
            x="iters_fma",
            group_keys=[*shape_keys, "T"],
            slope_unit="ns per FMA iteration",
            expectation=lambda group: _prefill_slope_expectation(df, limits, group),
        ),
        _check_l2_residency(df, limits),
        *(_check_timing_noise(df, limits, phase) for phase in ("prefill", "decode")),
        *(_check_first_launch(df, limits, phase) for phase in ("prefill", "decode")),
        *(_check_launch_overhead(df, limits, phase) for phase in ("prefill", "decode")),
        _check_clocks(df, limits),
    ]
    return [_with_diagnosis(check, df, limits) for check in checks]


def _skip(check_id: str, phase: str, unit: str, threshold: str, reason: str) -> Check:
    return Check(check_id, phase, "SKIP", None, unit, threshold, reason, {})


# --------------------------------------------------------------------------- data access


def _unique_strings(column: pd.Series) -> list[str]:
    return sorted(str(v) for v in column.dropna().unique())


def _bench_series(df: pd.DataFrame, phase: str, metric: str) -> pd.Series:
    """Per-point median of one bench metric (several rows per point are repeated captures)."""
    rows = df[(df["profiler"] == "bench") & (df["phase"] == phase) & (df["metric"] == metric)]
    return rows.groupby("point")["value"].median()


def _ncu_launches(
    df: pd.DataFrame, phase: str, metrics: tuple[str, ...] = tuple(_UNIT_LABELS)
) -> pd.DataFrame:
    """One row per profiled launch of *phase* that has every one of *metrics* (default: SM and DRAM throughput)."""
    metrics = list(metrics)
    rows = df[(df["profiler"] == "ncu") & (df["phase"] == phase) & df["metric"].isin(metrics)]
    if rows.empty:
        return pd.DataFrame(columns=metrics)
    wide = rows.pivot_table(
        index=["point", "kernel", "launch"], columns="metric", values="value", aggfunc="median"
    )
    return wide.reindex(columns=metrics).dropna()


def _ncu_point_median(df: pd.DataFrame, phase: str, metric: str) -> pd.Series:
    rows = df[(df["profiler"] == "ncu") & (df["phase"] == phase) & (df["metric"] == metric)]
    return rows.groupby("point")["value"].median()


def _point_params(df: pd.DataFrame) -> pd.DataFrame:
    """Sweep parameters indexed by point id, sorted by parameters."""
    params = df.drop_duplicates("point").set_index("point")[list(PARAM_COLUMNS)]
    return params.sort_values(list(PARAM_COLUMNS))


def _float_or_none(value: Any) -> float | None:
    """JSON-safe float: NaN and infinities become None."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- checks


def _check_dominance(
    df: pd.DataFrame,
    limits: dict[str, Any],
    check_id: str,
    phase: str,
    busy: str,
    idle: str,
    min_key: str,
) -> Check:
    """Is *busy* (e.g. SM) at least dominance_ratio × *idle* (e.g. DRAM), and busy enough itself?"""
    busy_label, idle_label = _UNIT_LABELS[busy], _UNIT_LABELS[idle]
    ratio_min, busy_min = limits["dominance_ratio"], limits[min_key]
    bound = "compute" if busy == "sm_throughput" else "bandwidth"
    threshold = f"{busy_label}/{idle_label} ≥ {format_number(ratio_min)}× and {busy_label} ≥ {format_number(busy_min)} %"
    launches = _ncu_launches(df, phase)
    if launches.empty:
        reason = f"No Nsight Compute {phase} launches with SM and DRAM throughput in the data, so {bound} boundness cannot be judged."
        return _skip(check_id, phase, "×", threshold, reason)

    # Ratio of the medians (not median of ratios): consistent with the "SM% ≥ r × DRAM%" wording.
    busy_pct, idle_pct = float(launches[busy].median()), float(launches[idle].median())
    ratio = busy_pct / idle_pct if idle_pct > 0 else (math.inf if busy_pct > 0 else math.nan)
    dominates = ratio >= ratio_min  # False for NaN
    facts = (
        f"Median {phase} {busy_label} throughput {format_number(busy_pct)} % is {format_number(ratio)}× "
        f"the {idle_label} throughput {format_number(idle_pct)} % over {len(launches)} launches"
    )
    if dominates and busy_pct >= busy_min:
        status, verdict = "PASS", f", so {phase} is {bound} bound."
    elif dominates:
        status = "WARN"
        verdict = (
            f", but {busy_label} is below the {format_number(busy_min)} % minimum: neither unit is busy, "
            f"so {phase} is latency/parallelism bound, not {bound} bound."
        )
    else:
        status, verdict = (
            "FAIL",
            f", short of the {format_number(ratio_min)}× needed, so {phase} is not {bound} bound.",
        )
    details = {
        f"{busy_label.lower()}_pct_median": busy_pct,
        f"{idle_label.lower()}_pct_median": idle_pct,
        "n_launches": int(len(launches)),
        "n_points": int(launches.index.get_level_values("point").nunique()),
    }
    return Check(check_id, phase, status, _float_or_none(ratio), "×", threshold, facts + verdict, details)


def _check_bandwidth_fraction(df: pd.DataFrame, limits: dict[str, Any]) -> Check:
    """Decode effective bandwidth at the reference point as a fraction of the DRAM peak."""
    check_id, phase = "decode_bandwidth_fraction", "decode"
    low, high = limits["bandwidth_fraction_min"], limits["bandwidth_fraction_max"]
    threshold = f"{format_number(low * 100)} %–{format_number(high * 100)} % of peak"
    bandwidth = _bench_series(df, phase, "effective_bandwidth")
    if bandwidth.empty:
        return _skip(
            check_id,
            phase,
            "% of peak",
            threshold,
            "No decode effective_bandwidth bench rows in the data, so the bandwidth fraction cannot be computed.",
        )
    peak, peak_source = dram_peak(df, limits)
    if peak is None:
        reason = "Neither the config (validation.peak_dram_bandwidth) nor the bench rows give a positive DRAM peak bandwidth, so the fraction cannot be computed."
        return _skip(check_id, phase, "% of peak", threshold, reason)

    params = _point_params(df).loc[bandwidth.index].sort_values(list(PARAM_COLUMNS))
    point, selection = _reference_point(params, limits["reference"])
    fraction = float(bandwidth[point]) / peak
    facts = (
        f"Decode reaches {format_number(bandwidth[point] / 1e9)} GB/s at {point}, {format_number(fraction * 100)} % "
        f"of the {format_number(peak / 1e9)} GB/s {peak_source} DRAM peak"
    )
    if fraction < low:
        status, verdict = "FAIL", f", below the {format_number(low * 100)} % minimum."
    elif fraction > high:
        status = "WARN"
        verdict = f", above the {format_number(high * 100)} % maximum, which is suspicious (the KV working set is probably cache resident)."
    else:
        status, verdict = "PASS", f", inside the {threshold} band."
    details = {
        "point": point,
        "T": int(params.loc[point, "T"]),
        "selection": selection,
        "peak_source": peak_source,
        "peak_bytes_per_s": peak,
        "bandwidth_bytes_per_s": float(bandwidth[point]),
        "fraction": fraction,
        "points": [
            {
                "point": p,
                "T": int(params.loc[p, "T"]),
                "bandwidth": float(bandwidth[p]),
                "fraction": float(bandwidth[p]) / peak,
            }
            for p in params.index
        ],
    }
    return Check(check_id, phase, status, fraction * 100, "% of peak", threshold, facts + verdict, details)


def dram_peak(df: pd.DataFrame, limits: dict[str, Any]) -> tuple[float | None, str]:
    """Configured peak if set, else the calibrated read bandwidth, else the device-reported theoretical one."""
    if limits["peak_dram_bandwidth"] is not None:
        return float(limits["peak_dram_bandwidth"]), "config"
    if limits.get("calibration", {}).get("read_bandwidth"):
        return float(limits["calibration"]["read_bandwidth"]), "measured read bandwidth (calibration)"
    rows = df[(df["profiler"] == "bench") & (df["metric"] == "peak_dram_bandwidth")]
    peak = _float_or_none(rows["value"].median()) if not rows.empty else None
    return (peak if peak and peak > 0 else None), "device-reported theoretical"


def _reference_point(params: pd.DataFrame, reference: dict[str, Any]) -> tuple[str, str]:
    """The point whose shape equals the reference's, else the largest-T point.

    The reference variant is not matched: each variant is judged at the reference shape.
    """
    shape = {k: v for k, v in reference.items() if k in SHAPE_COLUMNS}  # all of them: merged over defaults
    matches = params[np.logical_and.reduce([params[k] == v for k, v in shape.items()])]
    if not matches.empty:
        return str(matches.index[0]), "reference"
    largest = params[params["T"] == params["T"].max()]
    return str(largest.index[0]), "largest-T fallback (reference point absent)"


def _check_linearity(
    df: pd.DataFrame,
    limits: dict[str, Any],
    check_id: str,
    phase: str,
    x: str,
    group_keys: list[str],
    slope_unit: str,
    expectation: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> Check:
    """Least-squares fit step_time = a + b·x over the largest sweep of *x*; PASS if R² is high and b > 0.

    *expectation* gives the model's slope for the fitted group (None: no model), reported beside the fit.
    """
    r2_min = limits["linearity_min_r2"]
    threshold = f"R² ≥ {r2_min} and slope > 0"
    steps = _bench_series(df, phase, "step_time")
    if steps.empty:
        return _skip(
            check_id,
            phase,
            "",
            threshold,
            f"No {phase} step_time bench rows in the data, so linearity in {x} cannot be fitted.",
        )
    table = _point_params(df).loc[steps.index].assign(step_time=steps)
    sweep = _largest_sweep(table, x, group_keys)
    n_distinct = int(sweep[x].nunique())
    if n_distinct < 3:
        reason = f"The largest {phase} sweep of {x} has only {n_distinct} distinct value(s), and a linearity fit needs at least 3."
        return _skip(check_id, phase, "", threshold, reason)

    slope, intercept, r2, max_rel_residual = _linear_fit(
        sweep[x].to_numpy(float), sweep["step_time"].to_numpy(float)
    )
    facts = (
        f"{phase.capitalize()} step time over {len(sweep)} points ({n_distinct} distinct {x}, "
        f"{format_number(int(sweep[x].min()))}–{format_number(int(sweep[x].max()))}) fits R² = {r2:.4f} with slope {format_number(slope)} {slope_unit}"
    )
    if r2 >= r2_min and slope > 0:
        status, verdict = "PASS", f", meeting R² ≥ {r2_min}."
    elif slope <= 0:
        status, verdict = "FAIL", f", but the step time does not grow with {x}."
    else:
        status, verdict = "FAIL", f", below the R² ≥ {r2_min} needed for linear scaling."
    details = {
        "slope": slope,
        "slope_unit": slope_unit,
        "intercept_ns": intercept,
        "n_points": int(len(sweep)),
        "group": {k: _json_scalar(sweep[k].iloc[0]) for k in group_keys},
        "points": [
            {"point": str(p), x: int(row[x]), "step_time_ns": float(row["step_time"])}
            for p, row in sweep.iterrows()
        ],
        "max_rel_residual": max_rel_residual,
    }
    expected = expectation(details["group"])
    if expected is not None:
        details["model"], comparison = _model_comparison(slope, expected, slope_unit)
        verdict += comparison
    return Check(check_id, phase, status, r2, "", threshold, facts + verdict, details)


def _largest_sweep(table: pd.DataFrame, x: str, group_keys: list[str]) -> pd.DataFrame:
    """The group of points differing only in *x* with the most distinct *x* (then most points)."""
    groups = [group for _, group in table.groupby(group_keys, sort=True)]
    best = max(groups, key=lambda g: (g[x].nunique(), len(g)))  # max keeps the first of ties
    return best.sort_values(x)


def _linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(slope, intercept, R², max |residual| / y) of the least-squares line through (x, y)."""
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    ss_res = float(np.sum(residuals**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    # Constant y: a flat line fits exactly; the slope > 0 condition then fails the check.
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        max_rel = _float_or_none(np.max(np.abs(residuals) / np.abs(y)))
    return float(slope), float(intercept), r2, max_rel


def _json_scalar(value: Any) -> Any:
    """numpy scalar -> Python scalar for JSON."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- model expectations


def _decode_slope_expectation(df: pd.DataFrame, limits: dict[str, Any], group: dict[str, Any]) -> dict | None:
    """Seed decode: its KV bytes per token of context streamed at the DRAM peak, in ns per token."""
    peak, source = dram_peak(df, limits)
    if group.get("variant") != "seed" or peak is None:
        return None
    per_token = model.seed_decode_bytes_per_context_token(
        group["L"], group["H"], group["heads"], group["kv_heads"]
    )
    return {
        "slope": per_token / peak * 1e9,
        "work_per_unit": per_token,
        "work_unit": "byte",
        "basis": f"{per_token:,} KV bytes per token of context at the {format_number(peak / 1e9)} GB/s {source} DRAM peak",
        "rate_scale": 1e9,
        "rate_unit": "GB/s",
    }


def _prefill_slope_expectation(
    df: pd.DataFrame, limits: dict[str, Any], group: dict[str, Any]
) -> dict | None:
    """Seed prefill: its FLOPs per FMA iteration at the FP32 peak, in ns per iteration."""
    peak, source = fp32_peak(df, limits)
    if group.get("variant") != "seed" or peak is None:
        return None
    per_iteration = model.seed_prefill_flops_per_iteration(group["L"], group["H"], group["T"])
    return {
        "slope": per_iteration / peak * 1e9,
        "work_per_unit": per_iteration,
        "work_unit": "flop",
        "basis": f"{per_iteration:,} FLOPs per iteration at the {format_number(peak / 1e12)} TFLOP/s {source} FP32 peak",
        "rate_scale": 1e12,
        "rate_unit": "TFLOP/s",
    }


def fp32_peak(df: pd.DataFrame, limits: dict[str, Any]) -> tuple[float | None, str]:
    """Configured FP32 peak if set, else the calibrated FMA rate, else the datasheet value of the GPU."""
    if limits["peak_fp32_flops"] is not None:
        return float(limits["peak_fp32_flops"]), "config"
    if limits.get("calibration", {}).get("fp32_fma_flops"):
        return float(limits["calibration"]["fp32_fma_flops"]), "measured FP32 FMA rate (calibration)"
    keys = {model.datasheet_key(name) for name in _unique_strings(df["gpu_name"])}
    if len(keys) != 1 or None in keys:
        return None, ""
    sheet = model.DATASHEETS[keys.pop()]
    return float(sheet["flops_per_s"]["fp32"]), f"{sheet['name']} datasheet"


def _model_comparison(slope: float, expected: dict[str, Any], slope_unit: str) -> tuple[dict[str, Any], str]:
    """Details and a sentence comparing a fitted slope with the model's."""
    ratio = slope / expected["slope"]
    implied = expected["work_per_unit"] / slope * 1e9 if slope > 0 else None
    details = {k: expected[k] for k in ("slope", "work_per_unit", "work_unit", "basis")}
    details.update(slope_ratio=ratio, implied_rate_per_s=implied)
    sentence = (
        f" The model predicts {format_number(expected['slope'])} {slope_unit} ({expected['basis']}); "
        f"the fitted slope is {format_number(ratio)}× that"
    )
    if implied is not None:
        sentence += (
            f", an effective {format_number(implied / expected['rate_scale'])} {expected['rate_unit']}"
        )
    return details, sentence + "."


# --------------------------------------------------------------------------- L2 residency


def _decode_working_sets(df: pd.DataFrame) -> pd.Series:
    """Distinct bytes each decode point touches (int): the seed kernel's model, else bench kv_distinct_bytes."""
    reported = _bench_series(df, "decode", "kv_distinct_bytes")
    sizes: dict[str, int] = {}
    for point, row in _point_params(df[df["phase"] == "decode"]).iterrows():
        if row["variant"] == "seed":
            sizes[point] = model.seed_decode_working_set(
                int(row["H"]), int(row["heads"]), int(row["kv_heads"]), int(row["T"])
            )
        elif point in reported.index:
            sizes[point] = int(reported[point])
    return pd.Series(sizes, dtype=object)


def _l2_size(df: pd.DataFrame, limits: dict[str, Any]) -> tuple[int | None, str]:
    """L2 bytes: the config's, else the benchmark's device query, else Nsight Compute's device attribute."""
    if limits["l2_bytes"] is not None:
        return int(limits["l2_bytes"]), "config"
    for profiler, metric in (("bench", "l2_bytes"), ("ncu", "device__attribute_l2_cache_size")):
        values = df[(df["profiler"] == profiler) & (df["metric"] == metric)]["value"]
        if not values.empty and values.median() > 0:
            return int(values.median()), f"{profiler} {metric}"
    return None, ""


def _l2_residency(df: pd.DataFrame, limits: dict[str, Any]) -> tuple[pd.DataFrame, int | None, str]:
    """Decode points with their working set, whether it fits in L2, and bench ns per token of context."""
    sets = _decode_working_sets(df)
    l2_bytes, source = _l2_size(df, limits)
    if sets.empty or l2_bytes is None:
        return pd.DataFrame(), l2_bytes, source
    table = _point_params(df).loc[sets.index].assign(working_set=sets)
    table["fits_l2"] = [int(size) <= l2_bytes for size in table["working_set"]]
    table["ns_per_token"] = _bench_series(df, "decode", "step_time").reindex(table.index) / table["T"]
    return table.sort_values("T"), l2_bytes, source


def _check_l2_residency(df: pd.DataFrame, limits: dict[str, Any]) -> Check:
    """WARN when a decode working set fits in L2: its "DRAM" bandwidth then measures L2."""
    check_id, phase, unit = "decode_l2_resident", "decode", "% of L2"
    table, l2_bytes, l2_source = _l2_residency(df, limits)
    threshold = "decode working set > L2" + (f" ({_mib(l2_bytes)})" if l2_bytes else "")
    if l2_bytes is None:
        reason = "Neither the config (validation.l2_bytes), the bench rows nor Nsight Compute give the L2 size, so L2 residency cannot be judged."
        return _skip(check_id, phase, unit, threshold, reason)
    if table.empty:
        reason = "No decode point has a known working set (kernel model or bench kv_distinct_bytes rows), so L2 residency cannot be judged."
        return _skip(check_id, phase, unit, threshold, reason)

    point, selection = _reference_point(table, limits["reference"])
    measured = int(table.loc[point, "working_set"]) / l2_bytes * 100
    resident = table[table["fits_l2"]]
    details = {
        "l2_bytes": l2_bytes,
        "l2_source": l2_source,
        "point": point,
        "selection": selection,
        "points": [
            {
                "point": str(p),
                "T": int(row["T"]),
                "working_set_bytes": int(row["working_set"]),
                "fits_l2": bool(row["fits_l2"]),
                "ns_per_token_of_context": _float_or_none(row["ns_per_token"]),
            }
            for p, row in table.iterrows()
        ],
    }
    if resident.empty:
        facts = (
            f"Every decode working set ({_mib(int(table['working_set'].min()))} at T = {int(table['T'].min()):,} and up) "
            f"exceeds the {_mib(l2_bytes)} L2, so decode reads come from DRAM."
        )
        return Check(check_id, phase, "PASS", measured, unit, threshold, facts, details)
    facts = (
        f"The decode working set fits in the {_mib(l2_bytes)} L2 at {len(resident)} of {len(table)} points "
        f"(T ≤ {int(resident['T'].max()):,}; {_mib(int(table.loc[point, 'working_set']))} at {point}): "
        "DRAM numbers at these T measure L2, not HBM."
    )
    return Check(
        check_id, phase, "WARN", measured, unit, threshold, facts, details, _residency_diagnosis(table)
    )


def _residency_diagnosis(table: pd.DataFrame) -> str:
    """Bench evidence that the resident points run at L2 speed."""
    resident, spilled = table[table["fits_l2"]], table[~table["fits_l2"]]
    text = (
        f"The seed decode reuses one K/V buffer for all {int(table['L'].iloc[0])} layers, so after the first layer "
        "the reads hit L2."
        if (table["variant"] == "seed").all()
        else "Repeated reads of a working set that fits in L2 hit the cache."
    )
    if not spilled.empty and resident["ns_per_token"].notna().any() and spilled["ns_per_token"].notna().any():
        text += (
            f" Bench step time per token of context is {format_number(float(resident['ns_per_token'].median()))} ns "
            f"where it fits against {format_number(float(spilled['ns_per_token'].median()))} ns where it does not."
        )
    return (
        text
        + " Judge bandwidth only at T whose working set exceeds L2, or give each layer its own KV buffer."
    )


def _mib(n_bytes: int) -> str:
    return f"{format_number(n_bytes / 2**20)} MiB"


# --------------------------------------------------------------------------- repeat stability


def _check_timing_noise(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> Check:
    """(max − min) / median of the timed repeats per point; WARN above timing_noise_max_pct."""
    check_id, unit = f"{phase}_timing_noise", "% of median"
    max_pct = limits["timing_noise_max_pct"]
    threshold = f"(max − min) / median ≤ {format_number(max_pct)} %"
    median, low, high = (_bench_series(df, phase, m) for m in ("step_time", "step_time_min", "step_time_max"))
    spread = ((high - low) / median * 100).dropna()
    if spread.empty:
        reason = f"No {phase} step_time, step_time_min and step_time_max bench rows, so the spread of the repeats is unknown."
        return _skip(check_id, phase, unit, threshold, reason)
    worst = str(spread.idxmax())
    noisy = spread[spread > max_pct]
    facts = (
        f"{phase.capitalize()} repeats spread by up to {format_number(float(spread[worst]))} % of the median ({worst}); "
        f"{len(noisy)} of {len(spread)} points exceed {format_number(max_pct)} %."
    )
    details = {
        "worst_point": worst,
        "points": [{"point": str(p), "spread_pct": float(v)} for p, v in spread.items()],
    }
    if noisy.empty:
        return Check(check_id, phase, "PASS", float(spread[worst]), unit, threshold, facts, details)
    diagnosis = _noise_diagnosis(df, limits, phase, list(noisy.index), (median, low, high))
    return Check(check_id, phase, "WARN", float(spread[worst]), unit, threshold, facts, details, diagnosis)


def _noise_diagnosis(
    df: pd.DataFrame,
    limits: dict[str, Any],
    phase: str,
    noisy: list[str],
    timing: tuple[pd.Series, pd.Series, pd.Series],
) -> str:
    """One slow repeat (cold L2 at resident decode points), clock variation, or neither."""
    median, low, high = timing
    # Jitter spreads both ways; one slow repeat puts nearly all of the spread above the median.
    one_sided = [p for p in noisy if high[p] - median[p] >= _ONE_SIDED_FACTOR * (median[p] - low[p])]
    if one_sided:
        worst = max(one_sided, key=lambda p: (high[p] - median[p]) / median[p])
        text = (
            f"At {len(one_sided)} of {len(noisy)} noisy points the spread is one slow repeat, not jitter: at {worst} "
            f"the slowest is {format_number((high[worst] / median[worst] - 1) * 100)} % above the median, the fastest "
            f"{format_number((1 - low[worst] / median[worst]) * 100)} % below."
        )
        if phase == "decode" and set(one_sided) <= _l2_resident_points(df, limits):
            text += (
                " Their working set fits in L2 and the timed decode repeats run right after the prefill repeats, "
                "which evict it, so the first decode repeat starts with a cold L2."
            )
        return text + " An untimed step right before each phase's timed repeats removes it."
    spread = _clock_spread_pct(df)
    if spread is not None and spread > limits["clock_variation_max_pct"]:
        return f"The SM clock varies by {format_number(spread)} % across the profiled launches: power or thermal throttling."
    return (
        "The spread is two-sided and the recorded clocks are steady: suspect contention from other processes "
        "on the GPU; isolate it and rerun."
    )


def _first_launch_ratios(df: pd.DataFrame, phase: str) -> pd.DataFrame:
    """Cold start (first warm-up step) / median of the timed repeats (bench); first / later launches (ncu)."""
    bench = (_bench_series(df, phase, "step_time_first") / _bench_series(df, phase, "step_time")).dropna()
    rows = [{"point": str(p), "source": "bench", "ratio": float(r)} for p, r in bench.items()]
    # nsys: the phase's very first kernel launch against the same kernel's steady-state median
    cold = _nsys_series(df, phase, "cold_start_ratio").dropna()
    rows += [{"point": str(p), "source": "nsys", "ratio": float(r)} for p, r in cold.items()]
    durations = df[(df["profiler"] == "ncu") & (df["phase"] == phase) & (df["metric"] == "duration")]
    for (point, _kernel), launches in durations.groupby(["point", "kernel"]):
        ordered = launches.sort_values("launch")["value"]
        if len(ordered) >= 2:
            rows.append(
                {
                    "point": str(point),
                    "source": "ncu",
                    "ratio": float(ordered.iloc[0] / ordered.iloc[1:].median()),
                }
            )
    return pd.DataFrame(rows, columns=["point", "source", "ratio"])


def _check_first_launch(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> Check:
    """WARN when the first launch is slower than the steady state by more than first_launch_max_ratio."""
    check_id, unit = f"{phase}_first_launch_outlier", "× median"
    max_ratio = limits["first_launch_max_ratio"]
    threshold = f"first / median ≤ {format_number(max_ratio)}×"
    ratios = _first_launch_ratios(df, phase)
    if ratios.empty:
        reason = f"No {phase} step_time_first bench rows and no Nsight Compute kernel with several launches, so the first launch cannot be compared with the steady state."
        return _skip(check_id, phase, unit, threshold, reason)
    worst = ratios.loc[ratios["ratio"].idxmax()]
    outliers = ratios[ratios["ratio"] > max_ratio]
    facts = (
        f"The first {phase} launch takes up to {format_number(float(worst['ratio']))}× the median ({worst['point']}, "
        f"{worst['source']}); {len(outliers)} of {len(ratios)} measurements exceed {format_number(max_ratio)}×."
    )
    details = {"points": ratios.to_dict(orient="records")}
    if outliers.empty:
        return Check(check_id, phase, "PASS", float(worst["ratio"]), unit, threshold, facts, details)
    diagnosis = _first_launch_diagnosis(outliers)
    return Check(check_id, phase, "WARN", float(worst["ratio"]), unit, threshold, facts, details, diagnosis)


def _first_launch_diagnosis(outliers: pd.DataFrame) -> str:
    """Cold start (bench: first warm-up step) or a profiled range that starts before steady state (ncu)."""
    text = []
    if (outliers["source"] == "bench").any():
        text.append(
            "The first step of the process pays one-time costs (lazy module loading, cold caches and TLBs, "
            "clock ramp-up); warm-up keeps it out of the timed repeats, so the medians are unaffected, but a "
            "cold-process latency such as time to first token includes it."
        )
    if (outliers["source"] == "nsys").any():
        text.append(
            "Nsight Systems shows the cost on the very first kernel launch of the phase (module load and "
            "first-touch of its buffers); capture the step in a CUDA graph after a warm-up to keep it out of "
            "the serving path."
        )
    if (outliers["source"] == "ncu").any():
        text.append(
            "The first profiled launch is slower than the later ones despite the warm-up: raise run.warmup."
        )
    return " ".join(text)


def _l2_resident_points(df: pd.DataFrame, limits: dict[str, Any]) -> set[str]:
    table, _, _ = _l2_residency(df, limits)
    return set() if table.empty else {str(p) for p in table.index[table["fits_l2"]]}


# --------------------------------------------------------------------------- clocks


def _clock_spread_pct(df: pd.DataFrame, metric: str = "sm_frequency") -> float | None:
    values = df[(df["profiler"] == "ncu") & (df["metric"] == metric)]["value"]
    if values.empty or values.median() <= 0:
        return None
    return float((values.max() - values.min()) / values.median() * 100)


def _check_clocks(df: pd.DataFrame, limits: dict[str, Any]) -> Check:
    """SM and DRAM clocks recorded by Nsight Compute; WARN when the SM clock varies across launches."""
    check_id, phase, unit = "clocks_recorded", "all", "%"
    max_pct = limits["clock_variation_max_pct"]
    threshold = f"SM clock spread ≤ {format_number(max_pct)} % across launches"
    sm = df[(df["profiler"] == "ncu") & (df["metric"] == "sm_frequency")]
    spread = _clock_spread_pct(df)
    if spread is None:
        reason = "No Nsight Compute sm_frequency rows: the clocks the kernels ran at were not recorded, so throttling cannot be ruled out."
        return _skip(check_id, phase, unit, threshold, reason)
    hz = sm["value"]
    facts = (
        f"SM clock {_ghz(hz.median())} median ({_ghz(hz.min())}–{_ghz(hz.max())}, {format_number(spread)} % spread) "
        f"over {len(hz)} launches"
    )
    details: dict[str, Any] = {
        "sm_hz_median": float(hz.median()),
        "sm_hz_min": float(hz.min()),
        "sm_hz_max": float(hz.max()),
        "sm_spread_pct": spread,
        "n_launches": int(len(hz)),
        "sm_hz_median_by_phase": {str(k): float(v) for k, v in sm.groupby("phase")["value"].median().items()},
    }
    max_clock = df[(df["profiler"] == "ncu") & (df["metric"] == "device__attribute_max_gpu_frequency_khz")][
        "value"
    ]
    if not max_clock.empty:
        details["sm_hz_device_max"] = float(max_clock.median() * 1e3)
        facts += f" ({format_number(hz.median() / details['sm_hz_device_max'] * 100)} % of the {_ghz(details['sm_hz_device_max'])} maximum)"
    dram = df[(df["profiler"] == "ncu") & (df["metric"] == "dram_frequency")]["value"]
    if not dram.empty:
        details.update(
            dram_hz_median=float(dram.median()), dram_spread_pct=_clock_spread_pct(df, "dram_frequency")
        )
        facts += f", DRAM clock {_ghz(dram.median())} ({format_number(details['dram_spread_pct'])} % spread)"
    if spread <= max_pct:
        return Check(
            check_id,
            phase,
            "PASS",
            spread,
            unit,
            threshold,
            facts + ": no throttling between launches.",
            details,
        )
    slowest = sm.loc[sm["value"].idxmin()]
    diagnosis = (
        f"Slowest clock: {slowest['phase']} at {slowest['point']} ran at {_ghz(slowest['value'])}: power or thermal "
        "throttling, or another process on the GPU. Rerun on an idle GPU, or with locked clocks "
        "(profilers.ncu.clock_control: base) where the machine is dedicated."
    )
    verdict = f", above {format_number(max_pct)} %: the clock changed between launches, so their times are not comparable."
    return Check(check_id, phase, "WARN", spread, unit, threshold, facts + verdict, details, diagnosis)


def _ghz(hz: float) -> str:
    return f"{format_number(float(hz) / 1e9)} GHz"


# --------------------------------------------------------------------------- counter-based diagnoses


def _with_diagnosis(check: Check, df: pd.DataFrame, limits: dict[str, Any]) -> Check:
    """A FAIL or WARN of a phase without its own diagnosis gets the phase's counter-based one."""
    if check.status not in ("FAIL", "WARN") or check.diagnosis or check.phase not in ("prefill", "decode"):
        return check
    return dataclasses.replace(check, diagnosis=_phase_diagnosis(df, limits, check.phase))


def _phase_diagnosis(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> str:
    """The seed's troubleshooting table, each row only where the counters show it."""
    persistent = _persistent_finding(df, limits) if phase == "decode" else ""
    findings = [
        _layer_overlap_finding(df, limits) if phase == "decode" else "",
        persistent,
        # One block per SM is the persistent kernel's design, not too little parallelism.
        "" if persistent and _all_steps_persistent(df) else _parallelism_finding(df, limits, phase),
        _l2_hit_finding(df, limits, phase),
        _residency_finding(df, limits) if phase == "decode" else "",
        _launch_gap_finding(df, limits, phase),
    ]
    return " ".join(f for f in findings if f)


def _ncu_phase_medians(df: pd.DataFrame, phase: str) -> dict[str, float]:
    rows = df[(df["profiler"] == "ncu") & (df["phase"] == phase)]
    return rows.groupby("metric")["value"].median().to_dict()


# A step this many times faster than one decode kernel alone moves bytes in overlapping kernels.
OVERLAP_SPEEDUP = 1.5


def ncu_decode_bandwidth(df: pd.DataFrame) -> pd.Series:
    """Per point, the median DRAM bytes / duration of its decode kernels as Nsight Compute replayed them."""
    launches = _ncu_launches(df, "decode", ("dram_bytes", "duration"))
    if launches.empty:
        return pd.Series(dtype=float, index=pd.Index([], name="point"))
    return (launches["dram_bytes"] / (launches["duration"] * 1e-9)).groupby(level="point").median()


def _layer_overlap_finding(df: pd.DataFrame, limits: dict[str, Any]) -> str:
    """Kernels that overlap their neighbours in the timed step look starved when replayed alone."""
    persistent = _bench_series(df, "decode", "persistent_step")
    overlapped = (
        pd.concat([_bench_series(df, "decode", "layers_overlapped"), persistent]).groupby(level=0).max()
    )
    step = _bench_series(df, "decode", "effective_bandwidth")
    alone = ncu_decode_bandwidth(df)
    points = [
        p for p in overlapped[overlapped > 0].index if p in step.index and p in alone.index and alone[p] > 0
    ]
    faster = [p for p in points if step[p] >= OVERLAP_SPEEDUP * alone[p]]
    if not faster:
        return ""
    point = max(faster, key=lambda p: step[p] / alone[p])
    peak, source = dram_peak(df, limits)
    share = f", {format_number(step[point] / peak * 100)} % of the {source} peak" if peak else ""
    how = (
        "one persistent launch per step, the next layer's K/V streaming in while this one merges"
        if persistent.get(point, 0) > 0
        else "programmatic dependent launch"
    )
    return (
        f"Consecutive layers' decode kernels overlap in the timed step ({how}), "
        "while Nsight Compute replays each kernel alone: at "
        f"{point} one kernel alone moves {format_number(alone[point] / 1e9)} GB/s, the step "
        f"{format_number(step[point] / 1e9)} GB/s{share}. The counters show one layer's share; "
        "decode_bandwidth_fraction judges the step."
    )


def _all_steps_persistent(df: pd.DataFrame) -> bool:
    persistent = _bench_series(df, "decode", "persistent_step")
    steps = _bench_series(df, "decode", "step_time")
    return not steps.empty and bool((persistent.reindex(steps.index).fillna(0) > 0).all())


def _persistent_finding(df: pd.DataFrame, limits: dict[str, Any]) -> str:
    """A persistent step's limit is the dependency between its layers: the time a layer takes beyond streaming its K/V."""
    persistent = _bench_series(df, "decode", "persistent_step")
    bandwidth = _bench_series(df, "decode", "effective_bandwidth")
    steps = _bench_series(df, "decode", "step_time")
    kv_bytes = _bench_series(df, "decode", "kv_bytes_per_step")
    points = [
        p
        for p in persistent[persistent > 0].index
        if p in bandwidth.index and p in steps.index and p in kv_bytes.index
    ]
    peak, source = dram_peak(df, limits)
    if not points or peak is None:
        return ""
    point = min(points, key=lambda p: bandwidth[p])
    layers_of = _point_params(df)["L"]
    layers = int(layers_of[point])
    per_layer_ns = steps[point] / layers
    stream_ns = kv_bytes[point] / layers / peak * 1e9
    return (
        "One persistent launch per step, one block per SM by design: it streams K/V into shared memory "
        "(TMA), so occupancy is not its limit. At "
        f"{point} a layer takes {format_number(per_layer_ns / 1e3)} µs, of which streaming its "
        f"{_mib(kv_bytes[point] / layers)} of K/V at the {source} peak would take {format_number(stream_ns / 1e3)} µs; "
        f"the other {format_number(max(per_layer_ns - stream_ns, 0.0) / 1e3)} µs go to the dependency between layers "
        "(the merge of each KV head's splits, the next layer's wait for it and for its q, the stream filling again). "
        "Longer contexts or more sequences per step amortize it."
        + _persistent_per_byte(points, steps, kv_bytes, layers_of, peak, source)
    )


# Extra K/V bytes streaming below this fraction of the peak: the scan itself is slower than the stream.
PER_BYTE_SHORTFALL = 0.9
# Above this fraction no stream delivers them: the fixed part of a layer shrank at the longer context.
PER_BYTE_EXCESS = 1.1


def _persistent_per_byte(
    points: list[str], steps: pd.Series, kv_bytes: pd.Series, layers: pd.Series, peak: float, source: str
) -> str:
    """Between the two largest persistent points, the rate at which a layer's extra K/V bytes cost time.

    A layer's time is a fixed part (the dependency) plus its bytes at some rate: where that rate
    is far below the peak, longer contexts do not amortize the loss, the scan itself falls behind.
    """
    per_layer = {p: (kv_bytes[p] / layers[p], steps[p] / layers[p]) for p in points}
    ordered = sorted(per_layer, key=lambda p: per_layer[p][0])
    if len(ordered) < 2:
        return ""
    shorter, longer = ordered[-2], ordered[-1]
    extra_bytes = per_layer[longer][0] - per_layer[shorter][0]
    extra_ns = per_layer[longer][1] - per_layer[shorter][1]
    if extra_bytes <= 0 or extra_ns <= 0:
        return ""
    rate = extra_bytes / (extra_ns * 1e-9)
    if rate < PER_BYTE_SHORTFALL * peak:
        verdict = (
            "so beyond the dependency the scan itself falls behind the stream: its per-byte work, not only the "
            "chain, limits long contexts."
        )
    elif rate > PER_BYTE_EXCESS * peak:
        verdict = (
            "faster than the peak could stream them, so the per-layer part shrank at the longer context "
            "(more of the dependency hides under the stream): the loss is per layer, not per byte."
        )
    else:
        verdict = "so the extra bytes stream at the peak and the loss is per layer, not per byte."
    return (
        f" From {shorter} to {longer} a layer's extra {_mib(extra_bytes)} took {format_number(extra_ns / 1e3)} µs more, "
        f"{format_number(rate / 1e9)} GB/s ({format_number(rate / peak * 100)} % of the {source} peak), {verdict}"
    )


def _parallelism_finding(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> str:
    """Low achieved occupancy or few launched warps -> too little parallelism; else latency bound."""
    counters = _ncu_phase_medians(df, phase)
    occupancy = counters.get("achieved_occupancy")
    if occupancy is None:
        return ""
    low_pct = limits["low_occupancy_pct"]
    max_warps = counters.get("device__attribute_max_warps_per_multiprocessor")
    launched = _launched_warps(counters)
    per_sm = (
        f" (≈{format_number(occupancy * max_warps / 100)} of {int(max_warps)} warps per SM that has work)"
        if max_warps
        else ""
    )
    if occupancy < low_pct or (launched is not None and launched[0] / launched[1] * 100 < low_pct):
        grid = ""
        if launched is not None:
            warps, slots, sms = launched
            grid = (
                f"{warps:,} warps launched ({int(counters['launch__grid_size']):,} blocks × "
                f"{int(counters['launch__block_size']):,} threads) for {slots:,} warp slots on {sms} SMs "
                f"({format_number(warps / slots * 100)} %); "
            )
        return (
            f"Too little parallelism: {grid}achieved occupancy {format_number(occupancy)} %{per_sm}. "
            "Launch more threads, e.g. split the loop over T across blocks."
        )
    busy_metric, busy_min = (
        ("dram_throughput", limits["decode_min_dram_pct"])
        if phase == "decode"
        else ("sm_throughput", limits["prefill_min_sm_pct"])
    )
    busy = counters.get(busy_metric)
    if busy is None or busy >= busy_min:
        return ""
    remedy = (
        "too few bytes in flight per warp: use wider (vectorized) loads and unroll the loop"
        if phase == "decode"
        else "dependent instruction chains stall the pipes: give each thread independent accumulators"
    )
    return (
        f"Latency bound: achieved occupancy {format_number(occupancy)} % is adequate but "
        f"{_UNIT_LABELS[busy_metric]} throughput is {format_number(busy)} %; {remedy}."
    )


def _launched_warps(counters: dict[str, float]) -> tuple[int, int, int] | None:
    """(warps launched, warp slots of the GPU, SMs) from Nsight Compute launch and device attributes."""
    needed = (
        "launch__grid_size",
        "launch__block_size",
        "launch__sm_count",
        "device__attribute_max_warps_per_multiprocessor",
    )
    if not all(counters.get(k) for k in needed):
        return None
    warp_size = int(counters.get("device__attribute_warp_size") or 32)
    warps = int(counters["launch__grid_size"]) * -(-int(counters["launch__block_size"]) // warp_size)
    sms = int(counters["launch__sm_count"])
    return warps, sms * int(counters["device__attribute_max_warps_per_multiprocessor"]), sms


def _l2_hit_finding(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> str:
    hit_rate = _ncu_phase_medians(df, phase).get("l2_hit_rate")
    if hit_rate is None or hit_rate < limits["l2_hit_rate_high_pct"]:
        return ""
    return (
        f"L2 hit rate {format_number(hit_rate)} %: the working set is served from cache, so DRAM throughput "
        "understates the memory traffic."
    )


def _residency_finding(df: pd.DataFrame, limits: dict[str, Any]) -> str:
    table, l2_bytes, _ = _l2_residency(df, limits)
    if table.empty or not table["fits_l2"].any():
        return ""
    resident = table[table["fits_l2"]]
    return (
        f"The decode working set fits in the {_mib(l2_bytes)} L2 at T ≤ {int(resident['T'].max()):,} "
        "(see decode_l2_resident): bench bandwidth there is L2 bandwidth."
    )


def _nsys_series(df: pd.DataFrame, phase: str, metric: str) -> pd.Series:
    """One Nsight Systems timeline statistic of a phase per point (pdprof.timeline)."""
    rows = df[(df["profiler"] == "nsys") & (df["phase"] == phase) & (df["metric"] == metric)]
    return rows.groupby("point")["value"].median()


def _idle_fractions(df: pd.DataFrame, phase: str) -> pd.Series:
    return 1.0 - _nsys_series(df, phase, "busy_fraction")


def _one_kernel_per_step(df: pd.DataFrame, phase: str) -> bool:
    """Every step of the phase is one kernel (a persistent launch): its idle time is outside it, not between kernels."""
    per_step = _nsys_series(df, phase, "kernels_per_step")
    return not per_step.empty and bool(per_step.max() <= 1)


def _check_launch_overhead(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> Check:
    """Idle GPU time between the kernels of a step (launch overhead), from the nsys timeline."""
    check_id, unit = f"{phase}_launch_overhead", "% idle"
    max_idle = limits["launch_gap_max_fraction"]
    threshold = f"idle ≤ {format_number(max_idle * 100)} % of the step"
    idle = _idle_fractions(df, phase).dropna()
    if idle.empty:
        reason = f"No Nsight Systems timeline for {phase} (profilers.nsys disabled, nsys missing, or a bundle without it)."
        return _skip(check_id, phase, unit, threshold, reason)
    gap_mean = _nsys_series(df, phase, "gap_mean_ns")
    gap_max = _nsys_series(df, phase, "gap_max_ns")
    per_step = _nsys_series(df, phase, "kernels_per_step")
    worst = str(idle.idxmax())
    if not _one_kernel_per_step(df, phase):
        facts = (
            f"Between its {format_number(per_step.median())} kernels per step the GPU idles at most "
            f"{format_number(idle.max() * 100)} % of a {phase} step ({worst}); gaps average "
            f"{format_number(gap_mean.median() / 1e3)} µs, the longest {format_number(gap_max.max() / 1e3)} µs (Nsight Systems)."
        )
    else:
        facts = (
            f"With one kernel per {phase} step (no gaps between kernels), the GPU idles at most "
            f"{format_number(idle.max() * 100)} % of the step ({worst}) outside it: the launch and the step's setup "
            "(Nsight Systems)."
        )
    details = {
        "points": [
            {
                "point": point,
                "idle_fraction": float(idle[point]),
                "gap_mean_ns": _float_or_none(gap_mean.get(point)),
                "gap_max_ns": _float_or_none(gap_max.get(point)),
                "kernels_per_step": _float_or_none(per_step.get(point)),
            }
            for point in idle.index
        ]
    }
    status = "PASS" if idle.max() <= max_idle else "WARN"
    return Check(check_id, phase, status, float(idle.max() * 100), unit, threshold, facts, details)


def _launch_gap_finding(df: pd.DataFrame, limits: dict[str, Any], phase: str) -> str:
    """Nsight Systems timeline: gaps between kernels take a large part of the step -> launch bound."""
    idle = _idle_fractions(df, phase).dropna()
    if idle.empty or idle.max() <= limits["launch_gap_max_fraction"]:
        return ""
    gaps = _nsys_series(df, phase, "gap_mean_ns")
    if _one_kernel_per_step(df, phase):
        return (
            f"Launch bound: the GPU idles {format_number(idle.max() * 100)} % of the {phase} step outside its one "
            "kernel (Nsight Systems): launch latency and the step's setup weigh on a step this short. Longer contexts "
            "or more sequences per step amortize them."
        )
    return (
        f"Launch bound: the GPU idles {format_number(idle.max() * 100)} % of the {phase} step between kernels "
        f"(mean gap {format_number(gaps.median() / 1e3)} µs, Nsight Systems). Capture the step in a CUDA/HIP "
        "graph or use a persistent kernel."
    )


# --------------------------------------------------------------------------- per-point table


def _points_table(df: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per point: parameters, bench step times and bandwidth, median ncu utilisations."""
    if df.empty:
        return []
    metrics = {
        "prefill_ms": _bench_series(df, "prefill", "step_time") / 1e6,
        "decode_ms": _bench_series(df, "decode", "step_time") / 1e6,
        "decode_GBps": _bench_series(df, "decode", "effective_bandwidth") / 1e9,
        "prefill_sm_pct": _ncu_point_median(df, "prefill", "sm_throughput"),
        "prefill_dram_pct": _ncu_point_median(df, "prefill", "dram_throughput"),
        "decode_sm_pct": _ncu_point_median(df, "decode", "sm_throughput"),
        "decode_dram_pct": _ncu_point_median(df, "decode", "dram_throughput"),
    }
    rows = []
    for point, params in _point_params(df).iterrows():
        row: dict[str, Any] = {"point": str(point), "variant": str(params["variant"])}
        row.update({k: int(params[k]) for k in SHAPE_COLUMNS})
        row.update({name: _float_or_none(series.get(point)) for name, series in metrics.items()})
        rows.append(row)
    return rows
