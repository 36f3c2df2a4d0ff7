"""Launch statistics per phase from a kernel timeline: busy fraction, launch gaps, cold start.

The seed asks to look for "many short kernels in decode; consider CUDA Graphs":
what shows it is the GPU idling between kernels of a step. From a kernel trace
(nsys cuda_gpu_trace, rocprof kernel traces) this module derives, per phase:

- busy_fraction: time covered by at least one kernel / time of the phase's steps;
- gap_mean_ns, gap_max_ns: idle time between consecutive kernels of one step
  (launch overhead), measured from the latest end so far, never negative;
- first_launch_ns vs steady_median_ns: the phase's first launch against the
  median of the later launches of the same kernel (cold_start_ratio);
- kernels_per_step: launches of the phase / its steps.

Steps come from NVTX ranges named exactly "prefill" / "decode" (nsys prints them
with their domain, ":decode"); GPU-projected ranges (nvtx_gpu_proj_trace) are
preferred over CPU push/pop ranges. Without ranges, a step is a run of
consecutive kernels whose names say the phase (dataset.phase_of), and the number
of steps must be given to get kernels_per_step.

All functions are pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from pdprof.dataset import phase_of
from pdprof.profilers.nsys import MEMORY_OPERATION_PREFIX

PHASES = ("prefill", "decode")
# Parsed pages holding NVTX ranges, preferred first (GPU-projected, then CPU push/pop).
RANGE_PAGES = ("nvtx_gpu_proj_trace", "nvtx_pushpop_trace")
STATS_COLUMNS = {
    "launches": "",
    "steps": "",
    "span_ns": "ns",
    "busy_ns": "ns",
    "busy_fraction": "",
    "gap_mean_ns": "ns",
    "gap_max_ns": "ns",
    "first_launch_ns": "ns",
    "steady_median_ns": "ns",
    "cold_start_ratio": "",
    "kernels_per_step": "",
}


def _per_launch(rows: pd.DataFrame) -> pd.DataFrame:
    """Tidy start/end rows -> one row per (file, launch) with name, stream, start, end."""
    keys = [column for column in ("source_file", "launch") if column in rows.columns]
    times = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="first")
    names = rows.drop_duplicates(keys).set_index(keys)[["kernel", "stream"]]
    wide = names.join(times[["start", "end"]], how="inner").dropna(subset=["start", "end"])
    return wide.reset_index(drop=True)


def kernel_trace(tidy: pd.DataFrame) -> pd.DataFrame:
    """Kernel launches (kernel, stream, start, end) in time order from parsed trace rows."""
    timed = tidy[tidy["metric"].isin(["start", "end"]) & ~tidy["page"].isin(RANGE_PAGES)]
    if timed.empty:
        return pd.DataFrame(columns=["kernel", "stream", "start", "end"])
    launches = _per_launch(timed)
    kernels = launches[~launches["kernel"].str.startswith(MEMORY_OPERATION_PREFIX)]
    return kernels.sort_values("start", kind="stable").reset_index(drop=True)


def nvtx_ranges(tidy: pd.DataFrame) -> pd.DataFrame:
    """NVTX ranges (name, start, end) from parsed nsys rows, GPU-projected ones when present."""
    for page in RANGE_PAGES:
        rows = tidy[(tidy["page"] == page) & tidy["metric"].isin(["start", "end"])]
        if not rows.empty:
            ranges = _per_launch(rows).rename(columns={"kernel": "name"})[["name", "start", "end"]]
            return ranges.sort_values("start", kind="stable").reset_index(drop=True)
    return pd.DataFrame(columns=["name", "start", "end"])


def range_phase(name: str) -> str | None:
    """The phase an NVTX range stands for: "decode" and "dom:decode" -> "decode"; else None."""
    bare = name.rsplit(":", 1)[-1].strip()
    return bare if bare in PHASES else None


def _segments_from_ranges(ranges: pd.DataFrame) -> pd.DataFrame:
    phases = ranges["name"].map(range_phase)
    steps = ranges[phases.notna()].assign(phase=phases[phases.notna()])
    return steps[["phase", "start", "end"]].sort_values("start", kind="stable").reset_index(drop=True)


def _segments_from_names(kernels: pd.DataFrame) -> pd.DataFrame:
    """Runs of consecutive kernels of one phase (by name), each from its first start to its last end."""
    phases = kernels["kernel"].map(phase_of)
    run = (phases != phases.shift()).cumsum()
    runs = kernels.assign(phase=phases, run=run)[phases.isin(PHASES)]
    segments = runs.groupby("run", sort=True).agg(
        phase=("phase", "first"), start=("start", "min"), end=("end", "max")
    )
    return segments.reset_index(drop=True)


class Steps(NamedTuple):
    """Time segments (phase, start, end) that stand for steps, and whether NVTX ranges gave them."""

    segments: pd.DataFrame
    from_nvtx: bool


def phase_segments(kernels: pd.DataFrame, ranges: pd.DataFrame | None = None) -> Steps:
    """The phase steps: NVTX phase ranges if any, else runs of kernel names."""
    if ranges is not None and not ranges.empty:
        segments = _segments_from_ranges(ranges)
        if not segments.empty:
            return Steps(segments, from_nvtx=True)
    return Steps(_segments_from_names(kernels), from_nvtx=False)


def assign_segments(kernels: pd.DataFrame, segments: pd.DataFrame) -> pd.Series:
    """Index of the segment each kernel starts in (-1: none), segments sorted by start."""
    if segments.empty:
        return pd.Series(-1, index=kernels.index)
    starts = segments["start"].to_numpy(dtype="float64")
    ends = segments["end"].to_numpy(dtype="float64")
    kernel_starts = kernels["start"].to_numpy(dtype="float64")
    index = np.searchsorted(starts, kernel_starts, side="right") - 1
    inside = (index >= 0) & (kernel_starts <= ends[np.clip(index, 0, None)])
    return pd.Series(np.where(inside, index, -1), index=kernels.index)


def _step_timing(launches: pd.DataFrame) -> pd.DataFrame:
    """Per launch (sorted by segment, start): busy ns it adds and the gap before it.

    Intervals are clipped to their segment; a gap is measured from the latest end so
    far in the segment, so overlapping kernels (several streams) add no idle time.
    """
    start = launches[["start", "seg_start"]].max(axis=1)
    end = launches[["end", "seg_end"]].min(axis=1)
    latest_end = end.groupby(launches["segment"]).cummax()
    previous = latest_end.groupby(launches["segment"]).shift()
    # fmax ignores the NaN "previous" of a segment's first launch.
    busy = (end - np.fmax(start, previous)).clip(lower=0)
    gap = (start - previous).clip(lower=0)
    return pd.DataFrame({"busy": busy, "gap": gap}, index=launches.index)


def _cold_start(launches: pd.DataFrame) -> tuple[float, float]:
    """First launch duration and the median of the later launches of the same kernel."""
    first = launches.iloc[0]
    later = launches.iloc[1:]
    same_kernel = later[later["kernel"] == first["kernel"]]
    durations = same_kernel["end"] - same_kernel["start"]
    return float(first["end"] - first["start"]), float(durations.median()) if len(durations) else np.nan


def _phase_row(launches: pd.DataFrame, segments: pd.DataFrame, steps: float) -> dict[str, float]:
    timing = _step_timing(launches)
    span = float((segments["end"] - segments["start"]).sum())
    busy = float(timing["busy"].sum())
    first, steady = _cold_start(launches)
    gaps = timing["gap"].dropna()
    return {
        "launches": len(launches),
        "steps": steps,
        "span_ns": span,
        "busy_ns": busy,
        "busy_fraction": busy / span if span > 0 else np.nan,
        "gap_mean_ns": float(gaps.mean()) if len(gaps) else np.nan,
        "gap_max_ns": float(gaps.max()) if len(gaps) else np.nan,
        "first_launch_ns": first,
        "steady_median_ns": steady,
        "cold_start_ratio": first / steady if steady > 0 else np.nan,
        "kernels_per_step": len(launches) / steps if steps > 0 else np.nan,
    }


def phase_stats(
    kernels: pd.DataFrame, ranges: pd.DataFrame | None = None, steps: dict[str, int] | None = None
) -> pd.DataFrame:
    """Launch statistics per phase (index: phase, columns: STATS_COLUMNS).

    kernels: columns kernel, start, end [ns]; ranges: NVTX ranges (name, start, end),
    optional. steps: steps per phase, used when no NVTX range marks them (kernel-name
    phases); with NVTX ranges each phase range is one step.
    """
    segments, from_nvtx = phase_segments(kernels, ranges)
    ordered = kernels.sort_values("start", kind="stable")
    segment = assign_segments(ordered, segments)
    launches = ordered[segment >= 0].assign(segment=segment[segment >= 0])
    launches = launches.join(segments.rename(columns={"start": "seg_start", "end": "seg_end"}), on="segment")
    rows = {}
    for phase in PHASES:
        mine = launches[launches["phase"] == phase]
        if mine.empty:
            continue
        own_segments = segments[segments["phase"] == phase]
        count = len(own_segments) if from_nvtx else (steps or {}).get(phase, np.nan)
        rows[phase] = _phase_row(mine, own_segments, float(count))
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(STATS_COLUMNS)).rename_axis("phase")


def stats_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """The statistics as long rows (phase, metric, value, unit), NaN statistics left out."""
    long = stats.reset_index().melt(id_vars="phase", var_name="metric", value_name="value").dropna()
    long["value"] = long["value"].astype("float64")
    long["unit"] = long["metric"].map(STATS_COLUMNS)
    return long.reset_index(drop=True)


def timeline_stats(tidy: pd.DataFrame, steps: dict[str, int] | None = None) -> pd.DataFrame:
    """phase_stats of parsed profiler rows (pdprof.parse output holding a trace, NVTX optional)."""
    return phase_stats(kernel_trace(tidy), nvtx_ranges(tidy), steps)
