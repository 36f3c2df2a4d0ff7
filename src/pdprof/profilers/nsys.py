"""Nsight Systems (nsys): run a sweep point under it, recognize `nsys stats` output, parse it.

Running: `profile()` wraps the benchmark in `nsys profile -t cuda,nvtx`, keeps the
.nsys-rep report and exports it with `nsys stats --format csv --output PREFIX`,
which writes one CSV per report (PREFIX_<report>.csv). A missing or failing
nsys raises ToolError (one line); the caller decides whether the run goes on.

Parsing: `nsys stats` prints each report in one of three layouts, alone in a
file or several concatenated on the console between "Generating SQLite
file", "Processing [...]" and "SKIPPED:" lines:

- csv: a header line ("Start (ns),Duration (ns),...") and records;
- column (the default): header, a ruler of dash runs, right-aligned rows
  with thousands separators and long names truncated with "…";
- table: the same framed by "+---+" rulers and "|" separators.

A block is recognized by its header's column names (REPORTS), so files are
recognized by content and old nsys spellings ("Average", "Time(%)") parse too.
Every numeric column becomes a metric in base units; trace rows are sorted by
start and get `start`, `end` and `duration` [ns] per launch. Kernel durations
are the canonical `duration` rows (per launch in traces, the mean launch in
cuda_gpu_kern_sum).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from pdprof import tools, variants
from pdprof.config import Point
from pdprof.errors import PointFailed, ProfilerOutputError, ToolError
from pdprof.fsutil import atomic_output, write_json
from pdprof.profilers.ncu import CANONICAL_SECTION, NCU_COLUMNS
from pdprof.units import is_missing_text, parse_numbers, to_base_series

TOOL = "nsys"
DESCRIPTION = "nsys stats report (csv, column or table format)"


class Report(NamedTuple):
    """An `nsys stats` report: the column keys that identify it and the one naming each row."""

    name: str
    required: frozenset[str]
    label: str


# Most specific first: the first report whose columns are all in a header wins.
REPORTS = (
    Report("nvtx_gpu_proj_trace", frozenset({"projected start", "projected duration", "name"}), "name"),
    Report("nvtx_pushpop_trace", frozenset({"start", "end", "name"}), "name"),
    Report("cuda_gpu_trace", frozenset({"start", "duration", "strm", "name"}), "name"),
    Report("cuda_api_trace", frozenset({"start", "duration", "result", "name"}), "name"),
    Report("nvtx_sum", frozenset({"time", "total time", "instances", "range"}), "range"),
    Report("cuda_gpu_kern_sum", frozenset({"time", "total time", "instances", "name"}), "name"),
    Report("cuda_api_sum", frozenset({"time", "total time", "num calls", "name"}), "name"),
    Report("cuda_gpu_mem_time_sum", frozenset({"time", "total time", "count", "operation"}), "operation"),
    Report("cuda_gpu_mem_size_sum", frozenset({"total", "count", "operation"}), "operation"),
)
NVTX_REPORTS = frozenset({"nvtx_gpu_proj_trace", "nvtx_pushpop_trace"})
# Reports with one row per event (start time), as opposed to per-name summaries.
TRACE_REPORTS = frozenset({*NVTX_REPORTS, "cuda_gpu_trace", "cuda_api_trace"})
# Column key -> tidy metric name where the snake-cased key says too little or is an old spelling.
METRIC_ALIASES = {
    "time": "time_percent",
    "average": "avg",
    "minimum": "min",
    "maximum": "max",
    "median": "med",
    "reg_trd": "registers_per_thread",
    "stcsmem": "static_shared_memory",
    "dymsmem": "dynamic_shared_memory",
    "projected_start": "start",
    "projected_duration": "duration",
    "orig_start": "cpu_start",
    "orig_duration": "cpu_duration",
    "durchild": "children_duration",
    "durnonchild": "self_duration",
    "numgpuops": "gpu_ops",
    "num_calls": "calls",
}
# Numeric columns that identify rather than measure (ids, nesting), never metrics.
NON_METRIC_KEYS = frozenset(
    {"corrid", "ctx", "greenctx", "pid", "tid", "lvl", "numchild", "rangeid", "parentid", "t-pri"}
)
GRID_KEYS = ("grdx", "grdy", "grdz")
BLOCK_KEYS = ("blkx", "blky", "blkz")
IDENTITY_KEYS = {"strm": "stream", "device": "device"}
# nsys spells some units its own way.
UNIT_SPELLINGS = {"MBps": "MB/s"}
# Memory operations share the kernel trace; only kernels have a canonical duration.
MEMORY_OPERATION_PREFIX = "[CUDA "

_HEADER_UNIT = re.compile(r"^(.*?)\s*\(([^()]*)\)$")
_DASH_RULER = re.compile(r"^\s*-+(?:\s+-+)+\s*$")
_TABLE_RULER = re.compile(r"^\+(?:-+\+){2,}$")
_DASH_RUN = re.compile(r"-+")
# Lines that end a block of records on the console.
# Other stray lines (==PROF==, program output) are dropped by their field count.
_CONSOLE_NOISE = ("Processing [", "SKIPPED:", "Generating SQLite", " ** ", "WARNING:")


class Column(NamedTuple):
    key: str
    unit: str


class Block(NamedTuple):
    """One report's table found in a text: its kind, header and records (strings)."""

    report: Report
    header: list[str]
    rows: list[list[str]]


def column_of(header_field: str) -> Column:
    """ "Total Time (ns)" -> ("total time", "ns"); "Time(%)" -> ("time", "%")."""
    text = " ".join(header_field.split())
    match = _HEADER_UNIT.match(text)
    base, unit = (match.group(1), match.group(2)) if match else (text, "")
    return Column(base.lower(), UNIT_SPELLINGS.get(unit, unit))


def report_of(header: list[str]) -> Report | None:
    """The report whose columns a header holds, or None."""
    keys = {column_of(field).key for field in header}
    return next((report for report in REPORTS if report.required <= keys), None)


# --- finding report blocks in a text -------------------------------------------------


def _csv_fields(line: str) -> list[str] | None:
    try:
        return next(csv.reader([line]), None)
    except csv.Error:
        return None


def _is_record_end(line: str) -> bool:
    return not line.strip() or line.startswith(_CONSOLE_NOISE)


def _csv_block(lines: list[str], index: int, with_rows: bool = True) -> tuple[Block, int] | None:
    """A CSV header at lines[index] and its records up to the next blank or console line."""
    line = lines[index]
    # Every report names its rows; the cheap test spares csv parsing of program output.
    if not any(word in line for word in ("Name", "Range", "Operation")):
        return None
    header = _csv_fields(line)
    report = report_of(header) if header else None
    if report is None or not with_rows:
        return (Block(report, header, []), index + 1) if report else None
    end = index + 1
    while end < len(lines) and not _is_record_end(lines[end]):
        end += 1
    try:
        records = list(csv.reader(lines[index + 1 : end]))
    except csv.Error:
        return None
    rows = [row for row in records if len(row) == len(header)]
    return Block(report, header, rows), end


def _sliced(line: str, spans: list[tuple[int, int]]) -> list[str]:
    return [line[start:stop].strip() for start, stop in spans]


def _column_block(lines: list[str], index: int, with_rows: bool = True) -> tuple[Block, int] | None:
    """Default "column" layout: header at lines[index], dash ruler under it, rows to a blank line."""
    if index + 1 >= len(lines) or not _DASH_RULER.match(lines[index + 1]):
        return None
    starts = [run.start() for run in _DASH_RUN.finditer(lines[index + 1])]
    # A field runs from its ruler start to the next one; the last one to the line end.
    spans = list(zip(starts, [*starts[1:], None], strict=True))
    header = _sliced(lines[index], spans)
    report = report_of(header)
    if report is None or not with_rows:
        return (Block(report, header, []), index + 2) if report else None
    end = index + 2
    while end < len(lines) and not _is_record_end(lines[end]):
        end += 1
    return Block(report, header, [_sliced(line, spans) for line in lines[index + 2 : end]]), end


def _table_block(lines: list[str], index: int, with_rows: bool = True) -> tuple[Block, int] | None:
    """ "table" layout: ruler, "| header |", ruler, "| row |"..., ruler."""
    if index + 2 >= len(lines) or not _TABLE_RULER.match(lines[index]):
        return None
    if lines[index + 2] != lines[index]:
        return None
    plus = [position for position, char in enumerate(lines[index]) if char == "+"]
    spans = [(start + 1, stop) for start, stop in zip(plus, plus[1:], strict=False)]
    header = _sliced(lines[index + 1], spans)
    report = report_of(header)
    if report is None or not with_rows:
        return (Block(report, header, []), index + 3) if report else None
    end = index + 3
    rows = []
    while end < len(lines) and lines[end].startswith("|"):
        rows.append(_sliced(lines[end], spans))
        end += 1
    return Block(report, header, rows), end


_BLOCK_FINDERS: tuple[Callable[[list[str], int, bool], tuple[Block, int] | None], ...] = (
    _table_block,
    _column_block,
    _csv_block,
)


def _lines(text: str) -> list[str]:
    # splitlines() would also break at form feeds and U+2028 inside names; only CR/LF end a line.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def find_blocks(text: str, first_header_only: bool = False) -> list[Block]:
    """Every report table in the text, in order (rows possibly empty).

    first_header_only: stop at the first report header, without reading its rows.
    """
    lines = _lines(text)
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        hits = (finder(lines, index, not first_header_only) for finder in _BLOCK_FINDERS)
        found = next((hit for hit in hits if hit), None)
        if found is None:
            index += 1
            continue
        block, index = found
        blocks.append(block)
        if first_header_only:
            break
    return blocks


def parse_sniff(text: str) -> bool:
    """True when the text holds at least one `nsys stats` report header."""
    return bool(find_blocks(text, first_header_only=True))


# --- one block -> tidy rows ----------------------------------------------------------


def _frame(block: Block) -> tuple[pd.DataFrame, list[Column]]:
    """Records as string columns named by position, and each column's key and unit."""
    columns = [column_of(field) for field in block.header]
    # Every record has the header's width here; pandas builds the columns in one pass.
    frame = pd.DataFrame(block.rows, columns=range(len(columns)), dtype=object).astype(str)
    return frame, columns


def _first_index(columns: list[Column], key: str) -> int | None:
    return next((index for index, column in enumerate(columns) if column.key == key), None)


def _metric_name(key: str) -> str:
    snake = re.sub(r"[^a-z0-9]+", "_", key).strip("_")
    return METRIC_ALIASES.get(snake, snake)


def _dimensions(frame: pd.DataFrame, columns: list[Column], keys: tuple[str, ...]) -> pd.Series:
    """ "(x, y, z)" like ncu prints grid and block sizes; "" where nsys left them empty (memcpy)."""
    indices = [_first_index(columns, key) for key in keys]
    if None in indices:
        return pd.Series("", index=frame.index, dtype=str)
    parts = [frame[index].str.replace(",", "", regex=False).str.strip() for index in indices]
    joined = "(" + parts[0] + ", " + parts[1] + ", " + parts[2] + ")"
    return joined.where(parts[0] != "", "")


def _inherited_units(columns: list[Column]) -> list[Column]:
    """Old nsys printed "Average", "Minimum" without a unit: they share the Total column's unit."""
    total_unit = next((c.unit for c in columns if c.key.startswith("total") and c.unit), "")
    stats = {"average", "minimum", "maximum", "median", "stddev", "avg", "min", "max", "med"}
    return [Column(c.key, total_unit) if c.key in stats and not c.unit else c for c in columns]


def _metric_columns(frame: pd.DataFrame, columns: list[Column], report: Report) -> dict[int, pd.Series]:
    """Parsed numbers of the columns whose every value is a number (or missing) and that measure something."""
    skipped = {report.label, *GRID_KEYS, *BLOCK_KEYS, *IDENTITY_KEYS, *NON_METRIC_KEYS}
    kept = {}
    for index, column in enumerate(columns):
        if column.key in skipped:
            continue
        numbers = parse_numbers(frame[index])
        if numbers.notna().any() and (numbers.notna() | is_missing_text(frame[index])).all():
            kept[index] = numbers
    return kept


class Metric(NamedTuple):
    """One measured quantity per launch: values in `unit`, the text as printed, its section.

    raw is "" where nothing was printed or the value is derived; section may vary per launch.
    """

    name: str
    values: pd.Series
    unit: str
    raw: pd.Series
    raw_unit: str = ""
    section: str | pd.Series = ""


IDENTITY_COLUMNS = ("kernel", "block_size", "grid_size", "device", "cc", "stream")


def _metric_grid(per_metric: list[object], launches: int) -> np.ndarray:
    """launch x metric grid of per-launch arrays or scalars, raveled launch-major."""
    columns = [np.broadcast_to(np.asarray(item, dtype=object), launches) for item in per_metric]
    return np.column_stack(columns).ravel()


def tidy_rows(identity: pd.DataFrame, launches: pd.Series, metrics: list[Metric], page: str) -> pd.DataFrame:
    """Tidy rows (NCU_COLUMNS), launch-major: each launch's metrics in the order given.

    Built from numpy repeats of the identity and a raveled launch x metric grid, so large
    traces need no sort and no row lookups. A value that is missing and was not printed
    gives no row; a printed "n/a" stays as a NaN row, as in the ncu parser.
    """
    count, size = len(metrics), len(identity)
    if not count or not size:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in NCU_COLUMNS})
    values = np.column_stack([metric.values.to_numpy(dtype="float64") for metric in metrics]).ravel()
    raw = _metric_grid(
        [metric.raw.astype(str).str.strip().to_numpy(dtype=object) for metric in metrics], size
    )
    keep = ~np.isnan(values) | (raw != "")
    rows = {
        column: np.repeat(identity[column].to_numpy(dtype=object), count)[keep] for column in IDENTITY_COLUMNS
    }
    rows["launch"] = np.repeat(launches.to_numpy(dtype="int64"), count)[keep]
    for column, attribute in (("metric", "name"), ("unit", "unit"), ("raw_unit", "raw_unit")):
        rows[column] = np.tile(np.array([getattr(m, attribute) for m in metrics], dtype=object), size)[keep]
    rows["value"] = values[keep]
    rows["raw_value"] = raw[keep]
    rows["section"] = _metric_grid([metric.section for metric in metrics], size)[keep]
    rows["page"] = page
    return pd.DataFrame(rows)[list(NCU_COLUMNS)]


def _empty(frame: pd.DataFrame) -> pd.Series:
    return pd.Series("", index=frame.index, dtype=object)


def _metrics(frame: pd.DataFrame, columns: list[Column], report: Report) -> list[Metric]:
    """The block's metric columns in base units; traces get `end` = start + duration if not printed."""
    metrics = []
    for index, numbers in _metric_columns(frame, columns, report).items():
        raw_unit = columns[index].unit
        values, units = to_base_series(numbers, pd.Series(raw_unit, index=frame.index, dtype=str))
        unit = units.iloc[0] if len(units) else raw_unit
        metrics.append(Metric(_metric_name(columns[index].key), values, unit, frame[index], raw_unit))
    names = [metric.name for metric in metrics]
    if report.name in TRACE_REPORTS and "end" not in names and {"start", "duration"} <= set(names):
        start, duration = (metrics[names.index(name)].values for name in ("start", "duration"))
        metrics.insert(names.index("duration") + 1, Metric("end", start + duration, "ns", _empty(frame)))
    return metrics


def _identity(frame: pd.DataFrame, columns: list[Column], report: Report) -> pd.DataFrame:
    label = _first_index(columns, report.label)
    identity = pd.DataFrame({"kernel": frame[label]}, index=frame.index)
    for key, tidy_column in IDENTITY_KEYS.items():
        index = _first_index(columns, key)
        identity[tidy_column] = frame[index] if index is not None else ""
    identity["grid_size"] = _dimensions(frame, columns, GRID_KEYS)
    identity["block_size"] = _dimensions(frame, columns, BLOCK_KEYS)
    identity["cc"] = ""
    return identity


def _time_order(frame: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """Trace records sorted by start time (exports and merged files need not be in order)."""
    start = _first_index(columns, "start")
    if start is None:
        start = _first_index(columns, "projected start")
    if start is None:
        return frame
    order = parse_numbers(frame[start]).sort_values(kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _with_canonical(metrics: list[Metric], identity: pd.DataFrame, report: Report) -> list[Metric]:
    """Kernel durations are canonical rows: per launch in cuda_gpu_trace (memory operations
    excluded), the mean launch of each kernel in cuda_gpu_kern_sum."""
    names = [metric.name for metric in metrics]
    if report.name == "cuda_gpu_trace" and "duration" in names:
        kernels = ~identity["kernel"].str.startswith(MEMORY_OPERATION_PREFIX)
        index = names.index("duration")
        metrics[index] = metrics[index]._replace(section=kernels.map({True: CANONICAL_SECTION, False: ""}))
    if report.name == "cuda_gpu_kern_sum" and "avg" in names and metrics[names.index("avg")].unit == "ns":
        mean = metrics[names.index("avg")]
        metrics.append(Metric("duration", mean.values, "ns", _empty(identity), section=CANONICAL_SECTION))
    return metrics


def parse_block(block: Block, first_launch: int) -> pd.DataFrame:
    """Tidy rows (NCU_COLUMNS) of one report; launches numbered from first_launch in time order."""
    frame, columns = _frame(block)
    columns = _inherited_units(columns)
    frame = _time_order(frame, columns)
    identity = _identity(frame, columns, block.report)
    metrics = _with_canonical(_metrics(frame, columns, block.report), identity, block.report)
    launches = pd.Series(range(first_launch, first_launch + len(frame)), dtype="int64")
    return tidy_rows(identity, launches, metrics, block.report.name)


def parse_nsys(text: str, source: str) -> pd.DataFrame:
    """Parse `nsys stats` output (one or several reports, any layout) into tidy rows.

    Returns NCU_COLUMNS; launches are numbered across the file's reports so that
    (source_file, launch) stays unique. Raises ProfilerOutputError when the text
    holds no report or no report has rows.
    """
    blocks = [block for block in find_blocks(text) if block.rows]
    if not blocks:
        raise ProfilerOutputError(source, "nsys report header found but no data rows")
    frames = []
    first_launch = 0
    for block in blocks:
        frames.append(parse_block(block, first_launch))
        first_launch += len(block.rows)
    tidy = pd.concat(frames, ignore_index=True)
    if tidy.empty:
        raise ProfilerOutputError(source, "nsys report has no numeric values")
    return tidy


# --- running nsys ----------------------------------------------------------------------

NSYS_HOW_TO_GET = (
    "install Nsight Systems (on the lent H100, `source .carry/activate.sh` puts the copy inside "
    "Nsight Compute on PATH) or set profilers.nsys.enabled: false"
)
# nvtx_gpu_proj_trace: the benchmark's phase ranges projected onto the GPU, for timeline steps.
STATS_REPORTS = ("cuda_gpu_trace", "cuda_api_sum", "cuda_gpu_kern_sum", "nvtx_sum", "nvtx_gpu_proj_trace")
REPORT_NAME = "nsys.nsys-rep"
EXPORT_PREFIX = "nsys"
STDOUT_NAME = "nsys_stdout.txt"


def profile_command(
    binary: Path, point: Point, report: Path, warmup: int, repeats: int, bench_flags: Sequence[str] = ()
) -> list[str]:
    """nsys argv: CUDA API and NVTX tracing of one timed benchmark run (bench_flags: more benchmark flags)."""
    return [
        "nsys", "profile", "-t", "cuda,nvtx", "--cuda-graph-trace=node",  # graph kernels, not one graph bar
        "--force-overwrite", "true", "-o", str(report),
        *variants.program(binary, point.variant), *point.bench_args(),
        "--warmup", str(warmup), "--mode", "time", "--repeats", str(repeats), *bench_flags,
    ]  # fmt: skip


def stats_command(report: Path, prefix: Path) -> list[str]:
    """nsys stats argv: one CSV per report, written as <prefix>_<report>.csv."""
    return [
        "nsys", "stats", "--report", ",".join(STATS_REPORTS), "--format", "csv",
        "--output", str(prefix), "--force-export=true", str(report),
    ]  # fmt: skip


def export_names() -> list[str]:
    return [f"{EXPORT_PREFIX}_{report}.csv" for report in STATS_REPORTS]


def _first_error(output: str) -> str:
    """The line of nsys output that best says what went wrong (nsys errors span many lines)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    flagged = [line for line in lines if re.match(r"(?i)(error|fatal|\*\*\*)", line)]
    return (flagged or lines or ["no output"])[0]


def _run(argv: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess[str]:
    return tools.run_tool(argv, timeout_s, what, NSYS_HOW_TO_GET)


def _record(work: Path, report: Path, what: str, timeout_s: float) -> str:
    """Run `nsys stats` on the report in work/; return its console output."""
    done = _run(stats_command(report, work / EXPORT_PREFIX), timeout_s, f"nsys stats on {what}")
    output = done.stdout + done.stderr
    missing = [name for name in export_names() if not (work / name).is_file()]
    if done.returncode != 0 or missing:
        raise ToolError(f"nsys stats failed on {what} (exit code {done.returncode}): {_first_error(output)}")
    return output


def profile(
    binary: Path,
    point: Point,
    out_dir: Path,
    warmup: int,
    repeats: int,
    timeout_s: float,
    bench_flags: Sequence[str] = (),
) -> list[str]:
    """Write nsys.nsys-rep, the nsys_<report>.csv exports, nsys_stdout.txt and nsys_command.json.

    Every file appears complete or not at all: the tools write into a temporary
    folder inside out_dir, and files are moved into place only once all succeeded.
    Returns the names of exports that came out empty (a report without data, e.g.
    nvtx_sum when the program pushed no NVTX range).
    """
    tools.require("nsys", NSYS_HOW_TO_GET)
    out_dir.mkdir(parents=True, exist_ok=True)
    what = f"point {point.id}"
    with tempfile.TemporaryDirectory(prefix=".nsys-partial-", dir=out_dir) as folder:
        work = Path(folder)
        argv = profile_command(binary, point, work / "nsys", warmup, repeats, bench_flags)
        done = _run(argv, timeout_s, f"nsys on {what}")
        output = done.stdout + done.stderr
        report = work / REPORT_NAME
        if not report.is_file():
            raise ToolError(f"nsys profile wrote no report for {what}: {_first_error(output)}")
        if done.returncode != 0:
            raise PointFailed(f"benchmark under nsys failed on {what} with exit code {done.returncode}")
        output += _record(work, report, what, timeout_s)
        empty = [name for name in export_names() if (work / name).stat().st_size == 0]
        with atomic_output(out_dir / STDOUT_NAME) as tmp:
            tmp.write_text(output)
        write_json(out_dir / "nsys_command.json", {"argv": argv, "exports": export_names(), "empty": empty})
        for name in [*export_names(), REPORT_NAME]:
            os.replace(work / name, out_dir / name)
    return empty
