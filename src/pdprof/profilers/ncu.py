"""Nsight Compute (ncu): run a sweep point under it, recognize its CSV output, parse it.

Running: `profile()` profiles only the benchmark's profiler range (warm-up
launches excluded) with a targeted metric list, keeps the .ncu-rep report and
exports its details and raw pages as CSV.

Parsing:

Two ncu CSV layouts exist, both led by a header line starting with "ID",:

- the details page (`ncu --csv`, `ncu --import r.ncu-rep --csv`): one line per
  launch x section x metric, with "Metric Name", "Metric Unit", "Metric Value";
- the raw page (`--page raw`): one column per metric, a units line under the
  header, then one line per launch.

When ncu writes to stdout the table is mixed with its own `==PROF==` lines and
the profiled program's output, so only quoted CSV records after the header are
read. Values are converted to base units (pdprof.units), and vendor-neutral
canonical rows (CANONICAL_METRICS) are appended per launch.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from pdprof import tools
from pdprof.config import Point
from pdprof.errors import PointFailed, ProfilerOutputError, ToolError
from pdprof.fsutil import atomic_output, write_json
from pdprof.units import is_missing_text, parse_numbers, to_base_series

TOOL = "ncu"
DESCRIPTION = "ncu --csv details or raw page"

DETAILS_PAGE = "details"
RAW_PAGE = "raw"
CANONICAL_SECTION = "pdprof canonical"
SPEED_OF_LIGHT = "GPU Speed Of Light Throughput"

ID_COLUMN = "ID"
# Older ncu versions print "Function Name" where newer ones print "Kernel Name".
KERNEL_COLUMNS = ("Kernel Name", "Function Name")
# Launch identity columns as ncu names them -> tidy column; absent ones become "".
IDENTITY_COLUMNS = {
    "Block Size": "block_size",
    "Grid Size": "grid_size",
    "Device": "device",
    "CC": "cc",
    "Stream": "stream",
}
# The details page is recognized by these; its other columns may be missing.
DETAILS_REQUIRED_COLUMNS = ("Metric Name", "Metric Value")
DETAILS_COLUMNS = {
    "Section Name": "section",
    "Metric Name": "metric",
    "Metric Unit": "raw_unit",
    "Metric Value": "raw_value",
}
# Columns of the raw page that describe the launch rather than hold a metric.
RAW_NON_METRIC_COLUMNS = frozenset(
    {ID_COLUMN, *KERNEL_COLUMNS, *IDENTITY_COLUMNS, "Process ID", "Process Name", "Host Name", "Context"}
)

# Columns every ncu parser returns; pdprof.parse adds kernel_short, tool, source_file.
NCU_COLUMNS = (
    "kernel",
    "launch",
    "metric",
    "value",
    "unit",
    "raw_value",
    "raw_unit",
    "block_size",
    "grid_size",
    "device",
    "cc",
    "stream",
    "section",
    "page",
)

_HEADER_LINE = re.compile(r'^"ID",', re.MULTILINE)
# ncu prints IDs as plain integers; separators are accepted in case a version groups them.
_LAUNCH_ID = re.compile(r"\d{1,3}(?:,\d{3}){0,5}|\d{1,18}")
# Canonical sources may name a metric alone or qualified by its details-page section.
_SECTION_SEPARATOR = " :: "


def in_section(section: str, metric: str) -> str:
    """Name a details-page metric within one section (friendly names repeat across sections)."""
    return f"{section}{_SECTION_SEPARATOR}{metric}"


class CanonicalMetric(NamedTuple):
    """A vendor-neutral metric: its base unit and where to take it from.

    Each alternative is a tuple of source metrics that are summed; per launch the
    first alternative whose sources are all present (numeric, in `unit`) wins.
    """

    unit: str
    alternatives: tuple[tuple[str, ...], ...]


CANONICAL_METRICS: dict[str, CanonicalMetric] = {
    "duration": CanonicalMetric(
        "ns", (("gpu__time_duration.sum",), (in_section(SPEED_OF_LIGHT, "Duration"),))
    ),
    "sm_throughput": CanonicalMetric(
        "%",
        (
            ("sm__throughput.avg.pct_of_peak_sustained_elapsed",),
            (in_section(SPEED_OF_LIGHT, "Compute (SM) Throughput"),),
        ),
    ),
    "dram_throughput": CanonicalMetric(
        "%",
        (
            ("dram__throughput.avg.pct_of_peak_sustained_elapsed",),
            (in_section(SPEED_OF_LIGHT, "DRAM Throughput"),),
        ),
    ),
    "dram_bytes_read": CanonicalMetric("byte", (("dram__bytes_read.sum",),)),
    "dram_bytes_write": CanonicalMetric("byte", (("dram__bytes_write.sum",),)),
    "dram_bytes": CanonicalMetric(
        "byte", (("dram__bytes_read.sum", "dram__bytes_write.sum"), ("dram__bytes.sum",))
    ),
    "l2_read_sectors": CanonicalMetric("sector", (("lts__t_sectors_srcunit_tex_op_read.sum",),)),
    "l2_hit_rate": CanonicalMetric("%", (("lts__t_sector_hit_rate.pct",),)),
    "achieved_occupancy": CanonicalMetric(
        "%",
        (
            ("sm__warps_active.avg.pct_of_peak_sustained_active",),
            (in_section("Occupancy", "Achieved Occupancy"),),
        ),
    ),
    "sm_frequency": CanonicalMetric(
        "hz", (("sm__cycles_elapsed.avg.per_second",), (in_section(SPEED_OF_LIGHT, "SM Frequency"),))
    ),
    "dram_frequency": CanonicalMetric(
        "hz",
        (("dram__cycles_elapsed.avg.per_second",), (in_section(SPEED_OF_LIGHT, "DRAM Frequency"),)),
    ),
}


class _Table(NamedTuple):
    header: list[str]
    rows: list[list[str]]


def _find_header(text: str) -> int | None:
    match = _HEADER_LINE.search(text)
    return match.start() if match else None


def _read_header(text: str) -> list[str] | None:
    start = _find_header(text)
    if start is None:
        return None
    line = text[start:].split("\n", 1)[0].rstrip("\r")
    try:
        return next(csv.reader([line]), None)
    except csv.Error:
        return None


def _kernel_column(header: list[str]) -> str | None:
    return next((name for name in KERNEL_COLUMNS if name in header), None)


def parse_page_kind(header: list[str]) -> str | None:
    """Which ncu page a CSV header belongs to: "details", "raw" or None."""
    if not header or header[0] != ID_COLUMN or _kernel_column(header) is None:
        return None
    if set(DETAILS_REQUIRED_COLUMNS) <= set(header):
        return DETAILS_PAGE
    if any(name not in RAW_NON_METRIC_COLUMNS for name in header):
        return RAW_PAGE
    return None


def parse_sniff(text: str) -> bool:
    """True when the text holds an ncu details or raw page CSV table."""
    header = _read_header(text)
    return header is not None and parse_page_kind(header) is not None


def _record_lines(lines: list[str]) -> list[str]:
    """Keep the table's records, dropping ncu's ==PROF== lines and program output.

    ncu quotes every field, so a record starts with a quote; a line with an odd
    number of quotes opens (or closes) a quoted field that spans lines.
    """
    kept = []
    inside_quoted_field = False
    for line in lines:
        if inside_quoted_field or line.startswith('"'):
            kept.append(line)
            if line.count('"') % 2:
                inside_quoted_field = not inside_quoted_field
    return kept


def parse_table(text: str, source: str) -> _Table:
    """Split the CSV table (header and records) out of an ncu output text."""
    start = _find_header(text)
    if start is None:
        raise ProfilerOutputError(source, 'no ncu CSV header (a line starting with "ID",)')
    # Line ends stay on, so a quoted field spanning lines keeps its newline (and CRLF parses).
    lines = [line + "\n" for line in text[start:].split("\n")]
    try:
        rows = list(csv.reader(_record_lines(lines)))
    except csv.Error as exc:
        # Drop the csv module's hint about open(newline=''): it is about code, not the file.
        raise ProfilerOutputError(source, f"malformed CSV: {str(exc).split(' - ')[0]}") from None
    return _Table(header=rows[0], rows=rows[1:])


def _frame_of_rows(table: _Table, min_fields: int) -> pd.DataFrame:
    """Records with at least `min_fields` fields, as string columns named by the header.

    Short records are padded with "", long ones cut to the header's width; a
    repeated column name keeps its first column.
    """
    width = len(table.header)
    lengths = pd.Series(list(map(len, table.rows)), dtype="int64")
    rows = table.rows
    if (lengths != width).any():
        padding = [""] * width
        rows = [row if len(row) == width else (row + padding)[:width] for row in rows]
    # pandas builds the columns in one C-level pass (not one Python zip and Series per
    # column): this step 2x faster on 200k records (benchmarks/parse_bench.py).
    grid = pd.DataFrame(rows, columns=range(width)) if rows else pd.DataFrame(columns=range(width))
    grid = grid[(lengths >= min_fields).to_numpy()].reset_index(drop=True)
    first_index: dict[str, int] = {}
    for index, name in enumerate(table.header):
        first_index.setdefault(name, index)
    return pd.DataFrame({name: grid[index].astype(str) for name, index in first_index.items()})


def _launch_ids(texts: pd.Series) -> pd.Series:
    """Launch IDs as float (NaN where the field is not an ID: junk or the units row)."""
    stripped = texts.str.strip()
    digits = stripped.where(stripped.str.fullmatch(_LAUNCH_ID.pattern)).str.replace(",", "", regex=False)
    return pd.to_numeric(digits, errors="coerce")


def _identity(frame: pd.DataFrame, kernel_column: str) -> pd.DataFrame:
    """The per-row launch identity columns (kernel, launch, block_size, ...)."""
    identity = pd.DataFrame(
        {"kernel": frame[kernel_column], "launch": _launch_ids(frame[ID_COLUMN])}, index=frame.index
    )
    for ncu_name, column in IDENTITY_COLUMNS.items():
        identity[column] = frame[ncu_name] if ncu_name in frame.columns else ""
    return identity


def _with_values(tidy: pd.DataFrame) -> pd.DataFrame:
    """Fill value/unit from raw_value/raw_unit, converted to base units."""
    parsed = parse_numbers(tidy["raw_value"])
    tidy["value"], tidy["unit"] = to_base_series(parsed, tidy["raw_unit"])
    return tidy


def parse_details_page(table: _Table) -> pd.DataFrame:
    """Tidy rows from the details page; rule-only lines (no metric name) are dropped."""
    header = table.header
    kernel_column = _kernel_column(header)
    required = (ID_COLUMN, kernel_column, *DETAILS_REQUIRED_COLUMNS)
    frame = _frame_of_rows(table, min_fields=max(header.index(name) for name in required) + 1)
    tidy = _identity(frame, kernel_column)
    for ncu_name, column in DETAILS_COLUMNS.items():
        tidy[column] = frame[ncu_name] if ncu_name in frame.columns else ""
    tidy["page"] = DETAILS_PAGE
    keep = tidy["launch"].notna() & (tidy["metric"].str.strip() != "")
    return _with_values(tidy[keep].reset_index(drop=True))


def _raw_units(frame: pd.DataFrame) -> pd.Series:
    """Unit per metric column, from the units line (the record without an ID)."""
    units_rows = frame[frame[ID_COLUMN].str.strip() == ""]
    if units_rows.empty:
        return pd.Series("", index=frame.columns)
    return units_rows.iloc[0]


def _numeric_metrics(long: pd.DataFrame) -> pd.Series:
    """True per row whose metric column is numeric, so attribute strings drop out.

    A column is numeric when every value is a number or n/a, and it has a unit or
    at least one number (an all-n/a column with a unit is a metric this GPU lacks).
    """
    has_number = long["value"].notna()
    by_metric = pd.DataFrame(
        {
            "metric": long["metric"],
            "acceptable": has_number | is_missing_text(long["raw_value"]),
            "evidence": has_number | (long["raw_unit"].str.strip() != ""),
        }
    )
    per_column = by_metric.groupby("metric", sort=False).agg(
        acceptable=("acceptable", "all"), evidence=("evidence", "any")
    )
    numeric = per_column.index[per_column["acceptable"] & per_column["evidence"]]
    return long["metric"].isin(numeric)


def parse_raw_page(table: _Table) -> pd.DataFrame:
    """Tidy rows from the raw page: one row per launch x numeric metric column."""
    kernel_column = _kernel_column(table.header)
    frame = _frame_of_rows(table, min_fields=table.header.index(kernel_column) + 1)
    units = _raw_units(frame)
    frame = frame[_launch_ids(frame[ID_COLUMN]).notna()].reset_index(drop=True)
    metrics = [name for name in frame.columns if name not in RAW_NON_METRIC_COLUMNS]
    identity = _identity(frame, kernel_column)
    long = (
        frame[metrics]
        .assign(_row=frame.index)
        .melt(id_vars="_row", var_name="metric", value_name="raw_value")
        .sort_values("_row", kind="stable")
    )
    long["raw_unit"] = long["metric"].map(units).fillna("").astype(str)
    long = _with_values(long)
    long = long[_numeric_metrics(long)]
    tidy = identity.loc[long["_row"]].reset_index(drop=True)
    for column in ("metric", "value", "unit", "raw_value", "raw_unit"):
        tidy[column] = long[column].to_numpy()
    tidy["section"] = ""
    tidy["page"] = RAW_PAGE
    return tidy


def _canonical_candidates(tidy: pd.DataFrame) -> pd.DataFrame:
    """Numeric rows that a canonical metric may use, keyed by metric or by section + metric."""
    wanted = {name for spec in CANONICAL_METRICS.values() for alt in spec.alternatives for name in alt}
    friendly_metrics = {name.split(_SECTION_SEPARATOR)[-1] for name in wanted if _SECTION_SEPARATOR in name}
    numeric = tidy[tidy["value"].notna()]
    by_metric = numeric[numeric["metric"].isin(wanted)]
    friendly = numeric[numeric["metric"].isin(friendly_metrics)]
    keyed = pd.concat(
        [
            by_metric.assign(key=by_metric["metric"]),
            friendly.assign(key=friendly["section"] + _SECTION_SEPARATOR + friendly["metric"]),
        ]
    )
    keyed = keyed[keyed["key"].isin(wanted)]
    # A metric repeated for one launch (it is in two sections) counts once: the first.
    return keyed.drop_duplicates(["launch", "key", "unit"])[["launch", "key", "unit", "value"]]


def _canonical_values(candidates: pd.DataFrame, launches: pd.Index) -> pd.DataFrame:
    """Long frame (launch, metric, value, unit) of the canonical metrics found per launch."""
    wide = candidates.pivot(index="launch", columns=["key", "unit"], values="value").reindex(launches)
    found = []
    for name, spec in CANONICAL_METRICS.items():
        values = pd.Series(float("nan"), index=launches)
        for alternative in spec.alternatives:
            columns = [(key, spec.unit) for key in alternative]
            if all(column in wide.columns for column in columns):
                summed = wide[columns].sum(axis=1, min_count=len(columns))
                values = values.fillna(summed)
        values = values.dropna()
        found.append(
            pd.DataFrame(
                {"launch": values.index, "metric": name, "value": values.to_numpy(), "unit": spec.unit}
            )
        )
    return pd.concat(found, ignore_index=True)


def parse_canonical_rows(tidy: pd.DataFrame) -> pd.DataFrame:
    """Canonical (vendor-neutral) rows for every launch, with that launch's identity."""
    identity_columns = ["kernel", "launch", *IDENTITY_COLUMNS.values(), "page"]
    identity = tidy.drop_duplicates("launch")[identity_columns]
    candidates = _canonical_candidates(tidy)
    if candidates.empty:
        return tidy.iloc[0:0]
    values = _canonical_values(candidates, pd.Index(identity["launch"]))
    rows = values.merge(identity, on="launch", how="left")
    rows["raw_value"] = ""
    rows["raw_unit"] = ""
    rows["section"] = CANONICAL_SECTION
    return rows[list(NCU_COLUMNS)]


def parse_ncu(text: str, source: str) -> pd.DataFrame:
    """Parse ncu CSV output (details or raw page, file or captured stdout) into tidy rows.

    Returns NCU_COLUMNS; raises ProfilerOutputError when the text is not ncu CSV
    or holds no data rows.
    """
    table = parse_table(text, source)
    page = parse_page_kind(table.header)
    if page is None:
        raise ProfilerOutputError(source, f"not ncu output (expected {DESCRIPTION})")
    tidy = parse_details_page(table) if page == DETAILS_PAGE else parse_raw_page(table)
    if tidy.empty:
        raise ProfilerOutputError(source, "ncu CSV header found but no data rows")
    tidy["launch"] = tidy["launch"].astype("int64")
    tidy = tidy[list(NCU_COLUMNS)]
    combined = pd.concat([tidy, parse_canonical_rows(tidy)], ignore_index=True)
    # Each launch's canonical rows follow its own metric rows.
    return combined.sort_values("launch", kind="stable").reset_index(drop=True)


# --- running ncu ---------------------------------------------------------------

NCU_HOW_TO_GET = "install Nsight Compute (2023.1 or newer) or set profilers.ncu.enabled: false"
NCU_MINIMUM = "2023.1"
PERMISSION_FIX = (
    "ncu may not read the GPU performance counters (ERR_NVGPUCTRPERM): load the driver with "
    "NVreg_RestrictProfilingToAdminUsers=0 (modprobe option, then reboot) or run with CAP_SYS_ADMIN; "
    "see https://developer.nvidia.com/ERR_NVGPUCTRPERM"
)
EXPORT_PAGES = {"ncu_details.csv": [], "ncu_raw.csv": ["--page", "raw"]}


def profile_command(binary: Path, point: Point, report: Path, settings: dict, warmup: int) -> list[str]:
    """ncu argv: only the benchmark's profiler range is profiled, so warm-up launches are skipped."""
    return [
        "ncu",
        "--clock-control", settings["clock_control"],
        "--cache-control", settings["cache_control"],
        "--profile-from-start", "off",
        "--metrics", ",".join(settings["metrics"]),
        "--export", str(report), "--force-overwrite",
        str(binary), *point.bench_args(),
        "--warmup", str(warmup), "--mode", "profile",
        "--profile-layers", str(settings["profile_layers"]),
    ]  # fmt: skip


def export_command(report: Path, page_flags: list[str]) -> list[str]:
    return ["ncu", "--import", str(report), "--csv", *page_flags]


def _diagnose(output: str, what: str) -> None:
    if "ERR_NVGPUCTRPERM" in output:
        raise ToolError(PERMISSION_FIX)
    errors = [line for line in output.splitlines() if line.startswith("==ERROR==")]
    if errors:
        raise PointFailed(f"{what}: {errors[0]}")
    if "No kernels were profiled" in output:
        raise PointFailed(f"{what}: ncu profiled no kernels (is the profiler range empty?)")


def profile(binary: Path, point: Point, out_dir: Path, settings: dict, warmup: int, timeout_s: float) -> None:
    """Write ncu.ncu-rep, the details and raw CSV pages and ncu_stdout.txt into out_dir."""
    tools.require("ncu", NCU_HOW_TO_GET, pattern=r"Version ([0-9.]+)", minimum=NCU_MINIMUM)
    out_dir.mkdir(parents=True, exist_ok=True)
    # ncu appends .ncu-rep itself, so the temporary report keeps that suffix.
    partial = out_dir / ".partial.ncu-rep"
    argv = profile_command(binary, point, partial, settings, warmup)
    what = f"ncu on point {point.id}"
    try:
        done = tools.run_tool(argv, timeout_s, what, NCU_HOW_TO_GET)
    except PointFailed:
        partial.unlink(missing_ok=True)
        raise
    output = done.stdout + done.stderr
    _diagnose(output, what)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise PointFailed(f"{what} failed with exit code {done.returncode}")
    for name, page_flags in EXPORT_PAGES.items():
        with atomic_output(out_dir / name) as tmp, open(tmp, "w") as sink:
            exported = subprocess.run(export_command(partial, page_flags), stdout=sink, timeout=timeout_s)
            if exported.returncode != 0:
                raise PointFailed(f"ncu --import failed exporting {name} (exit code {exported.returncode})")
    with atomic_output(out_dir / "ncu_stdout.txt") as tmp:
        tmp.write_text(output)
    write_json(out_dir / "ncu_command.json", {"argv": argv, "exports": list(EXPORT_PAGES)})
    os.replace(partial, out_dir / "ncu.ncu-rep")
