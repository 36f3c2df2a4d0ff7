"""The tidy dataset: one row per kernel launch x metric, with run parameters and provenance.

Per-point frames are merged into a Parquet dataset partitioned by GPU and
profiler (hive layout: <root>/gpu=<slug>/profiler=<tool>/part-0.parquet), so
pandas, pyarrow and DuckDB all read it with its partition columns.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pdprof import parse, variants
from pdprof.config import AXIS_DEFAULTS, Point
from pdprof.errors import DatasetError
from pdprof.fsutil import atomic_output

PARTITIONS = ("gpu", "profiler")
PROVENANCE_COLUMNS = (
    "gpu_name", "compute_capability", "driver_version", "cuda_version",
    "ncu_version", "git_rev", "captured_at",
)  # fmt: skip
PHASE_PATTERNS = {"prefill": re.compile(r"prefill", re.I), "decode": re.compile(r"decode", re.I)}
MS_TO_NS = 1e6


def phase_of(kernel: str) -> str:
    for phase, pattern in PHASE_PATTERNS.items():
        if pattern.search(kernel):
            return phase
    return "other"


def bench_frame(result: dict) -> pd.DataFrame:
    """Rows from the benchmark's JSON result line: one per phase x metric (phases the variant runs)."""
    device = result["device"]
    rows = []
    for phase in ("prefill", "decode"):
        timing = result.get(phase)
        if timing is None:  # the variant has no kernel for this phase
            continue
        metrics = {
            "step_time": (timing["ms_median"] * MS_TO_NS, "ns"),
            "step_time_min": (timing["ms_min"] * MS_TO_NS, "ns"),
            "step_time_max": (timing["ms_max"] * MS_TO_NS, "ns"),
            "tokens_per_s": (timing["tokens_per_s"], "1/second"),
            "kernel_flops": (timing["kernel_flops"], "flop"),
            "peak_dram_bandwidth": (device["peak_dram_bytes_per_s"], "byte/second"),
            "l2_bytes": (device["l2_bytes"], "byte"),
            "sm_count": (device["sm_count"], ""),
        }
        # Results from before the benchmark timed its warm-up steps have no cold start.
        if timing.get("warmup_ms_all"):
            metrics["step_time_first"] = (timing["warmup_ms_all"][0] * MS_TO_NS, "ns")
        if phase == "decode" and "layer_overlap" in result.get("params", {}):
            # 1: consecutive layers' kernels overlapped in the timed steps (programmatic dependent launch)
            metrics["layers_overlapped"] = (float(result["params"]["layer_overlap"]), "")
        if phase == "decode" and "persistent" in timing:
            # 1: every layer of a step in one persistent launch (kernels/attention_persistent.h)
            metrics["persistent_step"] = (float(timing["persistent"]), "")
        if phase == "decode":
            metrics["kv_bytes_per_step"] = (timing["kv_bytes_per_step"], "byte")
            metrics["kv_distinct_bytes"] = (timing["kv_distinct_bytes"], "byte")
            metrics["effective_bandwidth"] = (timing["bytes_per_s"], "byte/second")
        for metric, (value, unit) in metrics.items():
            rows.append({"kernel": phase, "phase": phase, "launch": 0, "metric": metric,
                         "value": float(value), "unit": unit})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["profiler"] = "bench"
    return frame


def profiler_frame(parsed: pd.DataFrame, profiler: str) -> pd.DataFrame:
    """Parsed profiler rows with the phase each kernel belongs to."""
    frame = parsed[["kernel", "launch", "metric", "value", "unit"]].copy()
    frame["phase"] = parsed["kernel_short"].map(phase_of)
    frame["profiler"] = profiler
    return frame


def point_frame(frames: list[pd.DataFrame], point: Point, gpu_slug: str, provenance: dict) -> pd.DataFrame:
    """Stamp rows with the point's parameters and the run's provenance."""
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "gpu", gpu_slug)
    frame.insert(1, "point", point.id)
    for axis, value in point.as_dict().items():
        frame[axis] = value
    frame["gpu_name"] = provenance["gpu"]["name"]
    frame["compute_capability"] = provenance["gpu"]["compute_capability"]
    frame["driver_version"] = provenance["gpu"]["driver_version"]
    for key in ("cuda_version", "ncu_version", "git_rev", "captured_at"):
        frame[key] = provenance.get(key, "")
    frame["launch"] = frame["launch"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    return frame


def nsys_phase_stats(nsys_dir: Path) -> pd.DataFrame | None:
    """Per-phase launch statistics (timeline.timeline_stats: a row per phase) from a point's nsys
    exports; None for a folder without any (nsys missing or failing left only nsys_skipped.txt)."""
    from pdprof import timeline  # needs the nsys parser, which needs this module

    exports = [path for path in sorted(Path(nsys_dir).glob("nsys_*.csv")) if path.stat().st_size > 0]
    return timeline.timeline_stats(parse.parse_files(exports, "nsys")) if exports else None


def timeline_frame(nsys_dir: Path) -> pd.DataFrame:
    """nsys_phase_stats as tidy rows (busy fraction, gaps, cold start per phase); none without exports."""
    from pdprof import timeline

    stats = nsys_phase_stats(nsys_dir)
    if stats is None:
        return pd.DataFrame(columns=["kernel", "phase", "launch", "metric", "value", "unit", "profiler"])
    rows = timeline.stats_rows(stats)
    rows["kernel"] = rows["phase"]
    rows["launch"] = 0
    rows["profiler"] = "nsys"
    return rows


def tidy_point(
    point: Point, gpu_slug: str, bench: Path, provenance: Path, ncu: Path | None, nsys: Path | None = None
) -> pd.DataFrame:
    """One point's raw outputs (bench.json, ncu CSV page, nsys exports) as tidy rows with provenance."""
    frames = [bench_frame(json.loads(Path(bench).read_text()))]
    if ncu is not None:
        profiled = profiler_frame(parse.parse_file(ncu, "ncu"), "ncu")
        phases = variants.VARIANTS[point.variant].phases
        if len(phases) == 1:  # a one-phase variant's library kernels (cuBLAS) name no phase
            profiled["phase"] = profiled["phase"].replace("other", phases[0])
        frames.append(profiled)
    if nsys is not None:
        frames.append(timeline_frame(nsys))
    return point_frame(frames, point, gpu_slug, json.loads(Path(provenance).read_text()))


def tidy_runs(raw_root: Path, point_ids: list[str], gpu_slug: str, timelines: bool = False) -> pd.DataFrame:
    """tidy_point of each named point under <raw_root>/runs/: bench, the ncu page where there is one,
    and, with *timelines*, the nsys exports where there are some.

    raw_root is results/<gpu> or a capture bundle; both lay points out alike.
    """
    provenance = Path(raw_root) / "provenance.json"
    frames = []
    for point_id in point_ids:
        run = Path(raw_root) / "runs" / point_id
        ncu_page, nsys_dir = run / "ncu_raw.csv", run / "nsys"
        frames.append(
            tidy_point(
                Point.from_id(point_id),
                gpu_slug,
                run / "bench.json",
                provenance,
                ncu_page if ncu_page.is_file() else None,
                nsys_dir if timelines and nsys_dir.is_dir() else None,
            )
        )
    return pd.concat(frames, ignore_index=True)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with atomic_output(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_partition(frames: list[pd.DataFrame], root: Path, gpu_slug: str, profiler: str) -> Path:
    """Write the rows of one GPU and profiler as <root>/gpu=<slug>/profiler=<profiler>/part-0.parquet."""
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[(frame["gpu"] == gpu_slug) & (frame["profiler"] == profiler)]
    path = partition_path(root, gpu_slug, profiler)
    # Partition values live in the path; keeping them in the file too would clash on read.
    write_frame(frame.drop(columns=list(PARTITIONS)), path)
    return path


def partition_path(root: Path, gpu_slug: str, profiler: str) -> Path:
    return Path(root) / f"gpu={gpu_slug}" / f"profiler={profiler}" / "part-0.parquet"


def read_dataset(paths: list[str | Path]) -> pd.DataFrame:
    """Read dataset roots or partition files; partition columns come back as plain strings."""
    frames = []
    for path in map(Path, paths):
        if not path.exists():
            raise DatasetError(
                f"{path}: no such dataset (run the pipeline first, or name a Parquet file or folder)"
            )
        if path.is_dir():
            table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
            frames.append(table.to_pandas())
        else:
            frames.append(_read_partition_file(path))
    frame = pd.concat(frames, ignore_index=True)
    for column in PARTITIONS:
        frame[column] = frame[column].astype(str)
    return with_axis_defaults(frame)


def with_axis_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows from before an axis existed (batch, page_size) hold its default: one sequence, no pages."""
    missing = {axis: default for axis, default in AXIS_DEFAULTS.items() if axis not in frame}
    return frame.assign(**missing) if missing else frame


def _read_partition_file(path: Path) -> pd.DataFrame:
    try:
        frame = pq.read_table(path).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DatasetError(
            f"{path}: not a readable Parquet file ({' '.join(str(exc).split())[:200]})"
        ) from None
    for part in path.parts:
        key, sep, value = part.partition("=")
        if sep and key in PARTITIONS and key not in frame:
            frame[key] = value
    return frame
