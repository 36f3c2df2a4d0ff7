"""ROCm profilers (rocprof v1, rocprofv2, rocprofv3): pick one, build its argv, parse its CSV output.

Running: `detect_tool()` finds the newest generation installed (rocprofv3, then
rocprofv2, then rocprof) and records its version text; `profile_commands()`
builds the argv for it (no shell), with the counter passes of COUNTER_PASSES for
the GPU family. No AMD GPU is lent to this project, so the commands are tested
as argv lists only.

Parsing: every generation writes one CSV per output kind, with columns that
were renamed and added across releases (rocprofv3 kernel_trace went from 16 to
22 columns, counter_collection from 15 to 19), so columns are mapped by NAME
(COLUMN_KEYS, spelling-insensitive) and missing or extra ones are tolerated:

- per dispatch ("kernel_trace" page): v1 results.csv (Index, KernelName,
  BeginNs/EndNs, one column per counter), rocprofv2 results, rocprofv3
  kernel_trace.csv (Start_Timestamp/End_Timestamp);
- rocprofv3 counter_collection.csv ("counter_collection" page): one line per
  dispatch x counter (Counter_Name, Counter_Value), pivoted to one per dispatch;
- v1 results.stats.csv / rocprofv3 kernel_stats.csv ("kernel_stats" page).

Old rocprof wrote kernel names containing commas unquoted; a record with more
fields than its header gets the surplus joined back into the name.

Canonical rows: `duration` per dispatch (EndNs - BeginNs, or DurationNs) and
HBM bytes from the TCC counters with the formulas rocprof-compute uses
(BYTE_FORMULAS). Rates that need the device (VALU busy, occupancy, DRAM
throughput) come from `device_metrics()` with a RocmDevice from rocminfo.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from pdprof import tools
from pdprof.config import Point
from pdprof.errors import PointFailed, ProfilerOutputError, ToolError
from pdprof.fsutil import write_json
from pdprof.profilers.ncu import CANONICAL_SECTION
from pdprof.profilers.nsys import Metric, tidy_rows
from pdprof.units import is_missing_text, parse_numbers

TOOL = "rocprof"
DESCRIPTION = "rocprof/rocprofv2/rocprofv3 CSV (results, stats, kernel_trace, counter_collection)"

TRACE_PAGE = "kernel_trace"
COUNTER_PAGE = "counter_collection"
STATS_PAGE = "kernel_stats"

# --- generations and command lines -----------------------------------------------------


class Generation(NamedTuple):
    """One rocprof generation: its executable and how to ask its version (None: presence only)."""

    name: str
    executable: str
    version_flags: tuple[str, ...] | None


# Newest first: v1 and v2 are deprecated since ROCm 6.2 in favour of rocprofv3.
GENERATIONS = (
    Generation("v3", "rocprofv3", ("--version",)),
    Generation("v2", "rocprofv2", None),
    Generation("v1", "rocprof", ("--version",)),
)
ROCPROF_HOW_TO_GET = (
    "install ROCm's rocprofiler-sdk (rocprofv3) or rocprofiler, or leave rocprof out of the run"
)
ROCPROF_MISSING = f"no rocprof found on PATH (looked for rocprofv3, rocprofv2, rocprof): {ROCPROF_HOW_TO_GET}"


class RocprofTool(NamedTuple):
    generation: str
    executable: str
    version: str


def _version_text(argv: list[str]) -> str:
    """First line of the tool's version output ("" when it prints none or fails)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0] if lines else ""


def detect_tool(
    which: Callable[[str], str | None] = shutil.which,
    version_of: Callable[[list[str]], str] = _version_text,
) -> RocprofTool:
    """The newest rocprof generation on PATH, with its version text; ToolError when none is."""
    for generation in GENERATIONS:
        path = which(generation.executable)
        if path is None:
            continue
        flags = generation.version_flags
        version = version_of([path, *flags]) if flags is not None else ""
        return RocprofTool(generation.name, path, version)
    raise ToolError(ROCPROF_MISSING)


def counter_input(passes: tuple[tuple[str, ...], ...]) -> str:
    """The `-i` input file of rocprof v1/v2: one "pmc:" line per pass (one program run each)."""
    return "".join(f"pmc: {' '.join(counters)}\n" for counters in passes)


def _input_flags(input_file: Path | None) -> list[str]:
    return ["-i", str(input_file)] if input_file is not None else []


def v1_command(program: list[str], input_file: Path | None, results_csv: Path) -> list[str]:
    """rocprof v1: kernel stats, timestamps and the counters of input_file, into results_csv."""
    return [
        "rocprof", "--stats", "--timestamp", "on", *_input_flags(input_file), "-o", str(results_csv), *program,
    ]  # fmt: skip


def v2_command(program: list[str], input_file: Path | None, out_dir: Path, name: str) -> list[str]:
    """rocprofv2: kernel trace and the counters of input_file, into out_dir/name*."""
    return [
        "rocprofv2", "--kernel-trace", *_input_flags(input_file), "-d", str(out_dir), "-o", name, *program,
    ]  # fmt: skip


def v3_command(program: list[str], counters: tuple[str, ...], out_dir: Path, name: str) -> list[str]:
    """rocprofv3: kernel trace, stats and one pass of counters as CSV in out_dir."""
    pmc = ["--pmc", *counters] if counters else []
    return [
        "rocprofv3", "--kernel-trace", *pmc, "--stats", "--output-format", "csv",
        "-d", str(out_dir), "-o", name, "--", *program,
    ]  # fmt: skip


INPUT_FILE = "counters.txt"


def profile_commands(
    generation: str, program: list[str], passes: tuple[tuple[str, ...], ...], out_dir: Path
) -> list[list[str]]:
    """Every argv one point needs: v1/v2 run all passes from one input file, v3 runs once per pass."""
    input_file = out_dir / INPUT_FILE if passes else None
    if generation == "v1":
        return [v1_command(program, input_file, out_dir / "results.csv")]
    if generation == "v2":
        return [v2_command(program, input_file, out_dir, "results")]
    if generation == "v3":
        return [
            v3_command(program, counters, out_dir, f"pass{n}") for n, counters in enumerate(passes or ((),))
        ]
    raise ValueError(f"unknown rocprof generation {generation!r}; choose from v1, v2, v3")


# --- counters and formulas ---------------------------------------------------------------

# gfx target -> family whose counters and formulas apply.
FAMILY_OF_GFX = {"gfx90a": "MI200", "gfx940": "MI300", "gfx941": "MI300", "gfx942": "MI300"}

# Counters per pass, within the per-block limits of one pass (TCC 4, GRBM 2, SQ 8:
# rocprof-compute soc_gfx942.py set_perfmon_config). SQ_ACCUM_PREV_HIRES accumulates
# the counter before it, so it follows SQ_LEVEL_WAVES in its pass, as rocprof-compute
# collects "Wavefront Occupancy" (coll_level: SQ_LEVEL_WAVES).
COUNTER_PASSES: dict[str, tuple[tuple[str, ...], ...]] = {
    "MI200": (
        ("TCC_EA_RDREQ_sum", "TCC_EA_RDREQ_32B_sum", "TCC_EA_WRREQ_sum", "TCC_EA_WRREQ_64B_sum"),
        ("GRBM_GUI_ACTIVE", "SQ_ACTIVE_INST_VALU", "SQ_WAVES", "SQ_BUSY_CYCLES"),
        ("SQ_LEVEL_WAVES", "SQ_ACCUM_PREV_HIRES", "GRBM_GUI_ACTIVE"),
    ),
    "MI300": (
        ("TCC_EA0_RDREQ_sum", "TCC_EA0_RDREQ_32B_sum", "TCC_BUBBLE_sum", "TCC_EA0_WRREQ_sum"),
        ("TCC_EA0_WRREQ_64B_sum", "GRBM_GUI_ACTIVE", "SQ_ACTIVE_INST_VALU", "SQ_WAVES"),
        ("SQ_LEVEL_WAVES", "SQ_ACCUM_PREV_HIRES", "GRBM_GUI_ACTIVE"),
    ),
}


class Formula(NamedTuple):
    """A canonical quantity from counter totals (per dispatch, summed over TCC instances)."""

    counters: tuple[str, ...]
    compute: Callable[[pd.DataFrame], pd.Series]


# HBM (L2-fabric) bytes per dispatch. Source: ROCm/rocprofiler-compute,
# src/rocprof_compute_soc/analysis_configs/gfx90a/0200_system-speed-of-light.yaml
# ("L2-Fabric Read BW" / "L2-Fabric Write BW", MI200) and .../gfx942/0200_...yaml (MI300),
# with the division by (End_Timestamp - Start_Timestamp) left out: these are bytes.
# MI300 counts 128-byte reads in TCC_BUBBLE and 32-byte ones in TCC_EA0_RDREQ_32B; the rest
# are 64-byte. MI200 has no 128-byte reads. Writes are 64 bytes (the _64B count) or 32.
BYTE_FORMULAS: dict[str, tuple[Formula, ...]] = {
    "dram_bytes_read": (
        Formula(
            ("TCC_EA0_RDREQ", "TCC_EA0_RDREQ_32B", "TCC_BUBBLE"),
            lambda c: (
                128 * c["TCC_BUBBLE"]
                + 64 * (c["TCC_EA0_RDREQ"] - c["TCC_BUBBLE"] - c["TCC_EA0_RDREQ_32B"])
                + 32 * c["TCC_EA0_RDREQ_32B"]
            ),
        ),
        Formula(
            ("TCC_EA_RDREQ", "TCC_EA_RDREQ_32B"),
            lambda c: 32 * c["TCC_EA_RDREQ_32B"] + 64 * (c["TCC_EA_RDREQ"] - c["TCC_EA_RDREQ_32B"]),
        ),
    ),
    "dram_bytes_write": (
        Formula(
            ("TCC_EA0_WRREQ", "TCC_EA0_WRREQ_64B"),
            lambda c: 64 * c["TCC_EA0_WRREQ_64B"] + 32 * (c["TCC_EA0_WRREQ"] - c["TCC_EA0_WRREQ_64B"]),
        ),
        Formula(
            ("TCC_EA_WRREQ", "TCC_EA_WRREQ_64B"),
            lambda c: 64 * c["TCC_EA_WRREQ_64B"] + 32 * (c["TCC_EA_WRREQ"] - c["TCC_EA_WRREQ_64B"]),
        ),
    ),
}

# A counter requested as X_sum (rocprof's sum over instances) or X[i] (one instance).
_COUNTER_INSTANCE = re.compile(r"^(?P<base>.+?)(?:_sum|\[(?P<instance>\d+)\])$")


def counter_totals(counters: pd.DataFrame) -> pd.DataFrame:
    """Counter columns summed over instances: X_sum if collected, else the sum of X[i], else X."""
    totals: dict[str, pd.Series] = {}
    instances: dict[str, list[str]] = {}
    for name in counters.columns:
        match = _COUNTER_INSTANCE.match(name)
        if match is None:
            totals.setdefault(name, counters[name])
        elif match.group("instance") is None:
            totals[match.group("base")] = counters[name]
        else:
            instances.setdefault(match.group("base"), []).append(name)
    for base, names in instances.items():
        totals.setdefault(base, counters[names].sum(axis=1, min_count=len(names)))
    return pd.DataFrame(totals, index=counters.index)


def byte_metrics(totals: pd.DataFrame) -> pd.DataFrame:
    """dram_bytes_read/_write/dram_bytes per dispatch, from the first formula whose counters exist."""
    found = {}
    for metric, formulas in BYTE_FORMULAS.items():
        usable = next((f for f in formulas if set(f.counters) <= set(totals.columns)), None)
        if usable is not None:
            found[metric] = usable.compute(totals)
    frame = pd.DataFrame(found, index=totals.index)
    if {"dram_bytes_read", "dram_bytes_write"} <= set(frame.columns):
        frame["dram_bytes"] = frame["dram_bytes_read"] + frame["dram_bytes_write"]
    return frame


# --- the device: rocminfo, peaks ---------------------------------------------------------


class RocmDevice(NamedTuple):
    gfx: str
    marketing_name: str
    compute_units: int
    num_xcd: int
    max_waves_per_cu: int
    peak_bandwidth: float | None  # byte/second


# HBM peak per device as rocminfo lists it (one agent per GCD on MI250/MI250X), from
# AMD's product data sheets: MI100 1.2288 TB/s, MI210 1.6384, MI250/MI250X 3.2768 for two
# GCDs, MI300X/MI300A 5.3, MI325X 6.0. Longest name first, so "MI250X" wins over "MI250".
PEAK_BANDWIDTH_BY_NAME = {
    "MI325X": 6.0e12,
    "MI300X": 5.3e12,
    "MI300A": 5.3e12,
    "MI250X": 1.6384e12,
    "MI250": 1.6384e12,
    "MI210": 1.6384e12,
    "MI100": 1.2288e12,
}
# Accelerator complex dies per device (SPX mode); rocprof-compute divides GRBM_GUI_ACTIVE by
# it ($GRBM_GUI_ACTIVE_PER_XCD = GRBM_GUI_ACTIVE / $num_xcd, utils/parser.py build_in_vars).
XCD_BY_NAME = {"MI325X": 8, "MI300X": 8, "MI300A": 6}
# Wave slots per CU on CDNA2/CDNA3: 4 SIMDs x 8 waves.
MAX_WAVES_PER_CU = 32

_ROCMINFO_FIELD = re.compile(r"^\s*(?P<key>[A-Za-z][\w .()-]*?):\s*(?P<value>.*?)\s*$")


def _agents(text: str) -> list[dict[str, str]]:
    """rocminfo's agents as {field: value} (first occurrence of each field per agent)."""
    agents: list[dict[str, str]] = []
    for line in text.splitlines():
        if re.match(r"^\s*Agent \d+\s*$", line):
            agents.append({})
            continue
        match = _ROCMINFO_FIELD.match(line)
        if agents and match:
            agents[-1].setdefault(match.group("key"), match.group("value"))
    return agents


def _by_name(table: dict[str, float], marketing_name: str) -> float | None:
    return next((value for name, value in table.items() if name in marketing_name), None)


def parse_rocminfo(text: str) -> RocmDevice:
    """The first GPU agent of `rocminfo` output; ToolError when there is none."""
    gpu = next((agent for agent in _agents(text) if agent.get("Device Type") == "GPU"), None)
    if gpu is None:
        raise ToolError("rocminfo lists no GPU agent")
    name = gpu.get("Marketing Name", "")
    units = re.match(r"\d+", gpu.get("Compute Unit", ""))
    return RocmDevice(
        gfx=gpu.get("Name", ""),
        marketing_name=name,
        compute_units=int(units.group()) if units else 0,
        num_xcd=int(_by_name(XCD_BY_NAME, name) or 1),
        max_waves_per_cu=MAX_WAVES_PER_CU,
        peak_bandwidth=_by_name(PEAK_BANDWIDTH_BY_NAME, name),
    )


def peak_bandwidth(configured: float | None, device: RocmDevice | None) -> float | None:
    """Peak HBM bandwidth [byte/s]: the configured value wins over the rocminfo-derived one."""
    if configured is not None:
        return configured
    return device.peak_bandwidth if device is not None else None


def device_metrics(totals: pd.DataFrame, duration_ns: pd.Series, device: RocmDevice) -> pd.DataFrame:
    """Device-relative canonical metrics per dispatch, as rocprof-compute derives them.

    Source: rocprof-compute .../gfx90a|gfx942/0200_system-speed-of-light.yaml:
    VALU Utilization = 100 * SQ_ACTIVE_INST_VALU / ($GRBM_GUI_ACTIVE_PER_XCD * $cu_per_gpu);
    Wavefront Occupancy = SQ_ACCUM_PREV_HIRES / $GRBM_GUI_ACTIVE_PER_XCD [waves], whose
    percent of peak divides by ($max_waves_per_cu * $cu_per_gpu). DRAM throughput is the
    HBM bytes over the dispatch duration, in percent of the device's peak bandwidth.
    """
    found = {}
    if "GRBM_GUI_ACTIVE" in totals.columns and device.compute_units:
        active_per_xcd = totals["GRBM_GUI_ACTIVE"] / device.num_xcd
        if "SQ_ACTIVE_INST_VALU" in totals.columns:
            found["valu_busy"] = 100 * totals["SQ_ACTIVE_INST_VALU"] / (active_per_xcd * device.compute_units)
        if "SQ_ACCUM_PREV_HIRES" in totals.columns:
            waves = totals["SQ_ACCUM_PREV_HIRES"] / active_per_xcd
            found["occupancy_waves"] = waves
            found["achieved_occupancy"] = 100 * waves / (device.max_waves_per_cu * device.compute_units)
    dram_bytes = byte_metrics(totals).get("dram_bytes")
    if dram_bytes is not None and device.peak_bandwidth:
        found["dram_throughput"] = 100 * dram_bytes / (duration_ns * 1e-9) / device.peak_bandwidth
    return pd.DataFrame(found, index=totals.index)


# --- parsing: columns --------------------------------------------------------------------


def column_key(name: str) -> str:
    """Spelling-insensitive column key: "Kernel_Name", "KernelName", "kernel-name" -> "kernelname"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Role -> column keys, preferred first.
COLUMN_KEYS = {
    "kernel": ("kernelname",),
    "launch": ("dispatchid", "index", "correlationid"),
    "start": ("beginns", "starttimestamp"),
    "end": ("endns", "endtimestamp"),
    "duration": ("durationns",),
    "stream": ("streamid", "queueid"),
    "device": ("gpuid", "agentid"),
    "grid": ("grd", "gridsize"),
    "block": ("wgr", "workgroupsize"),
}
GRID_XYZ = ("gridsizex", "gridsizey", "gridsizez")
BLOCK_XYZ = ("workgroupsizex", "workgroupsizey", "workgroupsizez")
COUNTER_NAME_KEY, COUNTER_VALUE_KEY = "countername", "countervalue"
# Launch attributes -> (metric, unit).
ATTRIBUTE_METRICS = {
    **dict.fromkeys(("lds", "ldsperworkgroup", "ldsblocksize", "groupsegmentsize"), ("lds_bytes", "byte")),
    **dict.fromkeys(
        ("scr", "scratchperworkitem", "scratchsize", "privatesegmentsize"), ("scratch_bytes", "byte")
    ),
    **dict.fromkeys(("vgpr", "archvgpr", "vgprcount"), ("vgpr", "register")),
    **dict.fromkeys(("accumvgpr", "accumvgprcount"), ("accum_vgpr", "register")),
    **dict.fromkeys(("sgpr", "sgprcount"), ("sgpr", "register")),
    "wavesize": ("wave_size", "thread"),
}
# Bookkeeping columns: neither identity nor measurement (everything else numeric is a counter).
IGNORED_KEYS = frozenset(
    {
        "pid", "tid", "processid", "threadid", "queueindex", "sig", "obj",
        "dispatchns", "completens", "kind", "kernelid", "fbar",
    }
)  # fmt: skip
NON_COUNTER_KEYS = frozenset(
    {
        *IGNORED_KEYS,
        *ATTRIBUTE_METRICS,
        *GRID_XYZ,
        *BLOCK_XYZ,
        *(k for keys in COLUMN_KEYS.values() for k in keys),
    }
)
# rocprof v1 results.stats.csv and rocprofv3 kernel_stats.csv: column key -> (metric, unit),
# named like the nsys summaries.
STATS_METRICS = {
    "calls": ("calls", ""),
    "totaldurationns": ("total_time", "ns"),
    "averagens": ("avg", "ns"),
    "percentage": ("time_percent", "%"),
    "minns": ("min", "ns"),
    "maxns": ("max", "ns"),
    "stddev": ("stddev", "ns"),
}
STATS_REQUIRED = frozenset({"name", "calls", "totaldurationns"})


def _is_dispatch_header(keys: set[str]) -> bool:
    has_identity = any(key in keys for key in (*COLUMN_KEYS["launch"], *COLUMN_KEYS["start"]))
    return "kernelname" in keys and has_identity


def _is_stats_header(keys: set[str]) -> bool:
    return STATS_REQUIRED <= keys


class _Table(NamedTuple):
    header: list[str]
    rows: list[list[str]]


def _header_fields(line: str) -> list[str] | None:
    # Every rocprof header names the kernel (KernelName, Kernel_Name, Name): a cheap test
    # that spares csv parsing of program output lines.
    if "name" not in line.lower():
        return None
    try:
        fields = next(csv.reader([line]), None)
    except csv.Error:
        return None
    keys = {column_key(field) for field in fields or ()}
    return fields if _is_dispatch_header(keys) or _is_stats_header(keys) else None


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _find_header(lines: list[str]) -> tuple[int, list[str]] | None:
    for index, line in enumerate(lines):
        fields = _header_fields(line)
        if fields is not None:
            return index, fields
    return None


def parse_sniff(text: str) -> bool:
    """True when the text holds a rocprof CSV header (dispatches, counters or kernel stats)."""
    return _find_header(_lines(text)) is not None


def _rejoined(row: list[str], width: int, name_index: int) -> list[str]:
    """A record with unquoted commas in the kernel name, back to the header's width."""
    surplus = len(row) - width
    if surplus <= 0:
        return row
    name = ",".join(row[name_index : name_index + surplus + 1])
    return [*row[:name_index], name, *row[name_index + surplus + 1 :]]


def read_table(text: str, source: str) -> _Table:
    """Header and records (kernel names rejoined); records shorter than the header are dropped."""
    lines = _lines(text)
    found = _find_header(lines)
    if found is None:
        raise ProfilerOutputError(source, f"no rocprof CSV header (expected {DESCRIPTION})")
    index, header = found
    keys = [column_key(field) for field in header]
    name_index = keys.index("kernelname") if "kernelname" in keys else keys.index("name")
    try:
        records = list(csv.reader(line for line in lines[index + 1 :] if line.strip()))
    except csv.Error as exc:
        raise ProfilerOutputError(source, f"malformed CSV: {str(exc).split(' - ')[0]}") from None
    rows = [_rejoined(row, len(header), name_index) for row in records if len(row) >= len(header)]
    return _Table(header, rows)


def _string_frame(table: _Table) -> pd.DataFrame:
    """Records as string columns named as in the header; a repeated name keeps its first column."""
    width = len(table.header)
    # Every record has the header's width here; pandas builds the columns in one pass.
    grid = pd.DataFrame(table.rows, columns=range(width), dtype=object).astype(str)
    first_index: dict[str, int] = {}
    for index, name in enumerate(table.header):
        first_index.setdefault(name, index)
    return pd.DataFrame({name: grid[index] for name, index in first_index.items()})


def _find(frame: pd.DataFrame, keys: tuple[str, ...]) -> str | None:
    """The frame's column whose key comes first in keys."""
    by_key: dict[str, str] = {}
    for name in frame.columns:
        by_key.setdefault(column_key(name), name)
    return next((by_key[key] for key in keys if key in by_key), None)


def _numeric(texts: pd.Series) -> pd.Series | None:
    """The column's numbers when every value is a number or missing, and one is a number."""
    numbers = parse_numbers(texts)
    if numbers.notna().any() and (numbers.notna() | is_missing_text(texts)).all():
        return numbers
    return None


# --- parsing: per-dispatch tables --------------------------------------------------------


def _pivot_counters(frame: pd.DataFrame) -> pd.DataFrame:
    """counter_collection: one line per dispatch x counter -> one per dispatch, a column per counter.

    rocprofv3 writes each counter once per dispatch (summed over its dimensions); a
    repeated line keeps its first value.
    """
    name_column = _find(frame, (COUNTER_NAME_KEY,))
    value_column = _find(frame, (COUNTER_VALUE_KEY,))
    identity = [name for name in frame.columns if name not in (name_column, value_column)]
    launch = _find(frame, COLUMN_KEYS["launch"])
    group = frame[launch] if launch else frame[identity].agg("\x1f".join, axis=1)
    lines = frame.assign(_dispatch=group)
    counters = lines.pivot_table(
        index="_dispatch", columns=name_column, values=value_column, aggfunc="first", sort=False
    )
    dispatches = lines.drop_duplicates("_dispatch").set_index("_dispatch")[identity]
    counters = counters.reindex(dispatches.index).fillna("")
    return pd.concat([dispatches, counters], axis=1).reset_index(drop=True)


def _sorted_by_start(frame: pd.DataFrame) -> pd.DataFrame:
    """Dispatches in time order (rocprofv3 writes them as they complete, across queues)."""
    start = _find(frame, COLUMN_KEYS["start"])
    if start is None:
        return frame
    order = parse_numbers(frame[start]).sort_values(kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _dimensions(frame: pd.DataFrame, role: str, xyz: tuple[str, ...]) -> pd.Series:
    """Grid or block size: "(x, y, z)" from rocprofv3's _X/_Y/_Z columns, else the total as printed."""
    columns = [_find(frame, (key,)) for key in xyz]
    if None not in columns:
        x, y, z = (frame[column] for column in columns)
        return "(" + x + ", " + y + ", " + z + ")"
    column = _find(frame, COLUMN_KEYS[role])
    return frame[column] if column else pd.Series("", index=frame.index, dtype=str)


def _launch_ids(frame: pd.DataFrame) -> pd.Series:
    """Dispatch ids where they are distinct non-negative integers, else positions in time order."""
    column = _find(frame, COLUMN_KEYS["launch"])
    if column is not None:
        ids = parse_numbers(frame[column])
        if ids.notna().all() and (ids >= 0).all() and (ids % 1 == 0).all() and ids.is_unique:
            return ids.astype("int64")
    return pd.Series(range(len(frame)), index=frame.index, dtype="int64")


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    identity = pd.DataFrame({"kernel": frame[_find(frame, COLUMN_KEYS["kernel"])]}, index=frame.index)
    for role in ("stream", "device"):
        column = _find(frame, COLUMN_KEYS[role])
        identity[role] = frame[column] if column else ""
    identity["grid_size"] = _dimensions(frame, "grid", GRID_XYZ)
    identity["block_size"] = _dimensions(frame, "block", BLOCK_XYZ)
    return identity.assign(cc="")


def _exact(texts: pd.Series) -> pd.Series:
    """Integer timestamps as int64: since-boot nanoseconds pass 2**53, where float64 drops digits."""
    stripped = texts.str.strip()
    if stripped.str.fullmatch(r"\d{1,18}").all():
        return stripped.astype("int64")
    return parse_numbers(texts)


def _time_metrics(frame: pd.DataFrame) -> list[Metric]:
    """start, end [ns] and the canonical duration: DurationNs where printed, else end - start."""
    found = {}
    for role in ("start", "end", "duration"):
        column = _find(frame, COLUMN_KEYS[role])
        if column is not None:
            found[role] = Metric(role, parse_numbers(frame[column]), "ns", frame[column])
    if "duration" not in found and {"start", "end"} <= set(found):
        difference = _exact(found["end"].raw) - _exact(found["start"].raw)
        found["duration"] = Metric(
            "duration", difference.astype("float64"), "ns", pd.Series("", index=frame.index)
        )
    if "duration" in found:
        found["duration"] = found["duration"]._replace(section=CANONICAL_SECTION)
    return list(found.values())


def _attribute_metrics(frame: pd.DataFrame) -> list[Metric]:
    """Launch attributes in ATTRIBUTE_METRICS order, whatever the file's column order."""
    found: dict[str, Metric] = {}
    for column in frame.columns:
        spec = ATTRIBUTE_METRICS.get(column_key(column))
        if spec is not None and spec[0] not in found and (numbers := _numeric(frame[column])) is not None:
            found[spec[0]] = Metric(spec[0], numbers, spec[1], frame[column])
    order = list(dict.fromkeys(metric for metric, _ in ATTRIBUTE_METRICS.values()))
    return sorted(found.values(), key=lambda metric: order.index(metric.name))


def _counter_metrics(frame: pd.DataFrame) -> list[Metric]:
    """Every other numeric column is a hardware counter, named as rocprof printed it."""
    found = []
    for column in frame.columns:
        if column_key(column) not in NON_COUNTER_KEYS and (numbers := _numeric(frame[column])) is not None:
            found.append(Metric(column, numbers, "", frame[column]))
    return found


def _byte_metrics(counters: list[Metric], index: pd.Index) -> list[Metric]:
    totals = counter_totals(pd.DataFrame({metric.name: metric.values for metric in counters}, index=index))
    derived = byte_metrics(totals)
    empty = pd.Series("", index=index)
    return [Metric(name, derived[name], "byte", empty, section=CANONICAL_SECTION) for name in derived.columns]


def parse_dispatches(table: _Table, page: str) -> pd.DataFrame:
    """Tidy rows from a per-dispatch table (trace, counters as columns or as lines)."""
    frame = _string_frame(table)
    if page == COUNTER_PAGE:
        frame = _pivot_counters(frame)
    frame = _sorted_by_start(frame)
    counters = _counter_metrics(frame)
    metrics = [
        *_time_metrics(frame),
        *_attribute_metrics(frame),
        *counters,
        *_byte_metrics(counters, frame.index),
    ]
    return tidy_rows(_identity(frame), _launch_ids(frame), metrics, page)


def parse_stats(table: _Table) -> pd.DataFrame:
    """Tidy rows from kernel stats: one "launch" per kernel name, its mean as canonical duration."""
    frame = _string_frame(table)
    identity = pd.DataFrame({"kernel": frame[_find(frame, ("name",))]}, index=frame.index)
    identity = identity.assign(stream="", device="", grid_size="", block_size="", cc="")
    launches = pd.Series(range(len(frame)), index=frame.index, dtype="int64")
    metrics = [
        Metric(metric, numbers, unit, frame[column])
        for key, (metric, unit) in STATS_METRICS.items()
        if (column := _find(frame, (key,))) is not None and (numbers := _numeric(frame[column])) is not None
    ]
    mean = next((metric for metric in metrics if metric.name == "avg"), None)
    if mean is not None:
        empty = pd.Series("", index=frame.index)
        metrics.append(Metric("duration", mean.values, "ns", empty, section=CANONICAL_SECTION))
    return tidy_rows(identity, launches, metrics, STATS_PAGE)


def parse_rocprof(text: str, source: str) -> pd.DataFrame:
    """Parse rocprof v1/v2/v3 CSV output into tidy rows (NCU_COLUMNS).

    Raises ProfilerOutputError when the text has no rocprof header or no usable records.
    """
    table = read_table(text, source)
    keys = {column_key(field) for field in table.header}
    if _is_dispatch_header(keys):
        page = COUNTER_PAGE if {COUNTER_NAME_KEY, COUNTER_VALUE_KEY} <= keys else TRACE_PAGE
        tidy = parse_dispatches(table, page)
    else:
        tidy = parse_stats(table)
    if tidy.empty:
        raise ProfilerOutputError(source, "rocprof CSV header found but no data rows")
    return tidy


# --- running rocprof ---------------------------------------------------------------------

OUTPUT_DIR = "rocprof"


def read_device() -> RocmDevice | None:
    """The GPU as `rocminfo` describes it; None where rocminfo is missing or lists no GPU."""
    try:
        done = subprocess.run(["rocminfo"], capture_output=True, text=True, timeout=120)
        return parse_rocminfo(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ToolError):
        return None


def _run_pass(argv: list[str], timeout_s: float, what: str) -> None:
    done = tools.run_tool(argv, timeout_s, what, ROCPROF_HOW_TO_GET)
    if done.returncode != 0:
        raise PointFailed(f"{what} failed with exit code {done.returncode}")


def profile(
    binary: Path,
    point: Point,
    out_dir: Path,
    warmup: int,
    repeats: int,
    timeout_s: float,
    family: str | None,
    tool: RocprofTool | None = None,
) -> Path:
    """Run one point under rocprof; its outputs land in out_dir/rocprof/ complete or not at all.

    family ("MI200", "MI300", or None for a kernel trace without counters) picks the
    counter passes. Returns the output folder.
    """
    tool = tool or detect_tool()
    passes = COUNTER_PASSES[family] if family else ()
    program = [
        str(binary),
        *point.bench_args(),
        "--warmup",
        str(warmup),
        "--mode",
        "time",
        "--repeats",
        str(repeats),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / OUTPUT_DIR
    work = Path(tempfile.mkdtemp(prefix=".rocprof-partial-", dir=out_dir))
    try:
        if passes and tool.generation != "v3":
            (work / INPUT_FILE).write_text(counter_input(passes))
        commands = profile_commands(tool.generation, program, passes, work)
        for argv in commands:
            _run_pass([tool.executable, *argv[1:]], timeout_s, f"{tool.executable} on point {point.id}")
        write_json(work / "rocprof_command.json", {**tool._asdict(), "family": family, "argv": commands})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
