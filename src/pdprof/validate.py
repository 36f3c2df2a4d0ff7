"""Check a pdprof dataset against the seed note's acceptance criteria.

The input is the tidy DataFrame of one capture (one row per gpu, profiler,
point, kernel, launch and metric). :func:`validate` turns the rows of one GPU
into a JSON-able result: five checks per kernel variant, a per-point summary
table and the provenance of the capture.

Checks (ids get a ``[variant]`` suffix only when the data holds several variants):

- ``prefill_compute_bound``: prefill SM throughput dominates DRAM throughput (ncu).
- ``decode_memory_bound``: decode DRAM throughput dominates SM throughput (ncu).
- ``decode_bandwidth_fraction``: decode effective bandwidth / DRAM peak (bench).
- ``decode_linear_in_T``: decode step time is linear in the context length T (bench).
- ``prefill_linear_in_iters_fma``: prefill step time is linear in iters_fma (bench).

Missing data never raises: the affected check is SKIP with the reason.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pdprof.report import format_number

SCHEMA = "pdprof.validation/1"
STATUSES = ("PASS", "FAIL", "WARN", "SKIP")
SHAPE_COLUMNS = ("L", "H", "heads", "kv_heads", "T", "iters_fma")
PARAM_COLUMNS = ("variant", *SHAPE_COLUMNS)
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
    "bandwidth_fraction_max": 0.80,
    "linearity_min_r2": 0.98,
    "peak_dram_bandwidth": None,
    "reference": {
        "variant": "seed",
        "L": 32,
        "H": 4096,
        "heads": 32,
        "kv_heads": 8,
        "T": 2048,
        "iters_fma": 256,
    },
}

_UNIT_LABELS = {"sm_throughput": "SM", "dram_throughput": "DRAM"}


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


def validate(df: pd.DataFrame, thresholds: dict | None = None) -> dict[str, Any]:
    """Validate the rows of ONE GPU; raise ValueError if *df* holds several (see validate_by_gpu)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"dataset lacks column(s): {', '.join(missing)}")
    gpus = _unique_strings(df["gpu"])
    if len(gpus) > 1:
        raise ValueError(f"dataset holds several GPUs: {', '.join(gpus)}; pass one")
    limits = merge_thresholds(thresholds)
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


def validate_by_gpu(df: pd.DataFrame, thresholds: dict | None = None) -> dict[str, dict[str, Any]]:
    """validate() for each GPU slug in *df*, keyed by slug."""
    return {gpu: validate(df[df["gpu"] == gpu], thresholds) for gpu in _unique_strings(df["gpu"])}


# --------------------------------------------------------------------------- orchestration


def _all_checks(df: pd.DataFrame, limits: dict[str, Any]) -> list[Check]:
    variants = _unique_strings(df["variant"])
    if len(variants) <= 1:
        # Stable ids for the common single-variant case (also yields SKIPs for empty data).
        return _variant_checks(df, limits)
    checks = []
    for variant in variants:
        for check in _variant_checks(df[df["variant"] == variant], limits):
            checks.append(
                dataclasses.replace(
                    check, id=f"{check.id}[{variant}]", details={"variant": variant, **check.details}
                )
            )
    return checks


def _variant_checks(df: pd.DataFrame, limits: dict[str, Any]) -> list[Check]:
    shape_keys = ["variant", "L", "H", "heads", "kv_heads"]
    prefill_bound = dict(
        phase="prefill", busy="sm_throughput", idle="dram_throughput", min_key="prefill_min_sm_pct"
    )
    decode_bound = dict(
        phase="decode", busy="dram_throughput", idle="sm_throughput", min_key="decode_min_dram_pct"
    )
    return [
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
        ),
        _check_linearity(
            df,
            limits,
            "prefill_linear_in_iters_fma",
            phase="prefill",
            x="iters_fma",
            group_keys=[*shape_keys, "T"],
            slope_unit="ns per FMA iteration",
        ),
    ]


def _skip(check_id: str, phase: str, unit: str, threshold: str, reason: str) -> Check:
    return Check(check_id, phase, "SKIP", None, unit, threshold, reason, {})


# --------------------------------------------------------------------------- data access


def _unique_strings(column: pd.Series) -> list[str]:
    return sorted(str(v) for v in column.dropna().unique())


def _bench_series(df: pd.DataFrame, phase: str, metric: str) -> pd.Series:
    """Per-point median of one bench metric (several rows per point are repeated captures)."""
    rows = df[(df["profiler"] == "bench") & (df["phase"] == phase) & (df["metric"] == metric)]
    return rows.groupby("point")["value"].median()


def _ncu_launches(df: pd.DataFrame, phase: str) -> pd.DataFrame:
    """One row per profiled launch of *phase*, with its sm_throughput and dram_throughput columns."""
    metrics = list(_UNIT_LABELS)
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
    peak, peak_source = _dram_peak(df, limits)
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


def _dram_peak(df: pd.DataFrame, limits: dict[str, Any]) -> tuple[float | None, str]:
    """Configured peak if set (the device value is a theoretical figure), else the device-reported one."""
    if limits["peak_dram_bandwidth"] is not None:
        return float(limits["peak_dram_bandwidth"]), "config"
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
) -> Check:
    """Least-squares fit step_time = a + b·x over the largest sweep of *x*; PASS if R² is high and b > 0."""
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
