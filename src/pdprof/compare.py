"""Compare two pdprof datasets (two GPUs, two commits): a table of metric changes, regressions flagged.

Rows are matched on the point's parameters, the phase, the profiler and the metric; each side
contributes the median over its launches (and repeated captures). A change is a regression when
it is worse by more than the threshold in the metric's direction: longer step times and
durations, lower throughput, bandwidth and tokens/s. Metrics without a known direction are
listed but never flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pdprof import dataset
from pdprof.config import AXES
from pdprof.errors import PdprofError
from pdprof.report import format_number

PARAM_COLUMNS = AXES
KEY_COLUMNS = (*PARAM_COLUMNS, "phase", "profiler", "metric")
LOWER_IS_BETTER = frozenset({"step_time", "step_time_min", "step_time_max", "step_time_first", "duration"})
HIGHER_IS_BETTER = frozenset(
    {"tokens_per_s", "effective_bandwidth", "sm_throughput", "dram_throughput", "flops_per_s"}
)
REGRESSION, IMPROVEMENT = "regression", "improvement"


def direction(metric: str) -> int:
    """-1 when lower is better, +1 when higher is better, 0 when neither is."""
    return -1 if metric in LOWER_IS_BETTER else 1 if metric in HIGHER_IS_BETTER else 0


def load_run(path: str | Path, gpu: str | None = None) -> pd.DataFrame:
    """The rows of one run: a dataset root or Parquet file, holding one GPU or narrowed to *gpu*."""
    if not Path(path).exists():
        raise PdprofError(f"{path}: no such dataset root or Parquet file")
    frame = dataset.read_dataset([path])
    gpus = sorted(frame["gpu"].unique())
    if gpu is not None:
        if gpu not in gpus:
            raise PdprofError(f"{path}: no rows of gpu {gpu!r}; it holds {', '.join(gpus)}")
        return frame[frame["gpu"] == gpu]
    if len(gpus) > 1:
        raise PdprofError(f"{path} holds several GPUs ({', '.join(gpus)}); choose one with --gpu-a/--gpu-b")
    return frame


def metric_medians(frame: pd.DataFrame, all_metrics: bool = False) -> pd.DataFrame:
    """Median value per key; raw profiler counters (names with "__") only when *all_metrics*."""
    if not all_metrics:
        frame = frame[~frame["metric"].str.contains("__", regex=False)]
    grouped = frame.groupby(list(KEY_COLUMNS), dropna=False)
    return grouped.agg(value=("value", "median"), unit=("unit", "first")).reset_index()


@dataclass
class Comparison:
    """Matched metrics (a, b, delta_pct, status) and how many keys only one run has."""

    table: pd.DataFrame
    only_a: int
    only_b: int

    def regressions(self) -> pd.DataFrame:
        return self.table[self.table["status"] == REGRESSION]

    def improvements(self) -> pd.DataFrame:
        return self.table[self.table["status"] == IMPROVEMENT]


def compare(
    run_a: pd.DataFrame, run_b: pd.DataFrame, threshold_pct: float = 5.0, all_metrics: bool = False
) -> Comparison:
    """Match the runs' per-key medians; flag changes beyond *threshold_pct* in each metric's direction."""
    run_a, run_b = dataset.with_axis_defaults(run_a), dataset.with_axis_defaults(run_b)
    medians_a = metric_medians(run_a, all_metrics).rename(columns={"value": "a"})
    medians_b = metric_medians(run_b, all_metrics).rename(columns={"value": "b", "unit": "unit_b"})
    merged = medians_a.merge(medians_b, on=list(KEY_COLUMNS), how="outer", indicator=True)
    table = merged[merged["_merge"] == "both"].drop(columns=["_merge", "unit_b"])
    if table.empty:
        raise PdprofError("the two runs share no (point parameters, phase, profiler, metric) rows")
    table = table.assign(
        delta_pct=[_delta_pct(a, b) for a, b in zip(table["a"], table["b"], strict=True)],
    )
    table["status"] = [
        _status(metric, delta, threshold_pct)
        for metric, delta in zip(table["metric"], table["delta_pct"], strict=True)
    ]
    return Comparison(
        table=table.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True),
        only_a=int((merged["_merge"] == "left_only").sum()),
        only_b=int((merged["_merge"] == "right_only").sum()),
    )


def _delta_pct(a: float, b: float) -> float:
    """Relative change in %; NaN from zero to non-zero (no relative change exists)."""
    if a == 0:
        return 0.0 if b == 0 else math.nan
    return (b - a) / abs(a) * 100


def _status(metric: str, delta_pct: float, threshold_pct: float) -> str:
    sign = direction(metric)
    if sign == 0 or math.isnan(delta_pct) or abs(delta_pct) <= threshold_pct:
        return ""
    return IMPROVEMENT if delta_pct * sign > 0 else REGRESSION


# --------------------------------------------------------------------------- Markdown


def render_markdown(result: Comparison, label_a: str, label_b: str, threshold_pct: float) -> str:
    """Summary line, the regressions, then every matched metric."""
    worse = result.regressions()
    lines = [
        "# pdprof compare",
        "",
        f"A: {label_a}  ",
        f"B: {label_b}",
        "",
        f"{len(result.table)} metrics matched ({result.only_a} only in A, {result.only_b} only in B); "
        f"threshold {format_number(threshold_pct)} %: **{len(worse)} regression(s)**, "
        f"{len(result.improvements())} improvement(s).",
        "",
    ]
    if not worse.empty:
        lines += ["## Regressions", "", *_markdown_rows(worse), ""]
    lines += ["## All metrics", "", *_markdown_rows(result.table)]
    return "\n".join(lines) + "\n"


def run_label(frame: pd.DataFrame, path: str | Path) -> str:
    """Where a run comes from: path, GPU names and git revisions."""
    names = ", ".join(sorted(frame["gpu_name"].dropna().astype(str).unique()))
    revisions = (
        ", ".join(sorted(frame["git_rev"].dropna().astype(str).unique())) if "git_rev" in frame else ""
    )
    return f"`{path}` ({names}; git {revisions or '?'})"


def _markdown_rows(table: pd.DataFrame) -> list[str]:
    header = [
        *PARAM_COLUMNS,
        "phase",
        "profiler",
        "metric",
        "unit",
    ]
    lines = [
        "| " + " | ".join([*header, "A", "B", "Δ %", ""]) + " |",
        "|" + "---|" * (len(header) + 4),
    ]
    for row in table.itertuples(index=False):
        cells = [str(getattr(row, column)) for column in header]
        delta = "—" if math.isnan(row.delta_pct) else f"{row.delta_pct:+.2f}"
        flag = {REGRESSION: "**REGRESSION**", IMPROVEMENT: "improvement"}.get(row.status, "")
        cells += [format_number(row.a), format_number(row.b), delta, flag]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
