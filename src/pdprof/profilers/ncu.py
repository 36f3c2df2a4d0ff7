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

Two readers lead to the same Arrow columns, and from there the same code makes the
rows: parse_ncu_file, the fast path for a clean details page as ncu exports it
(pyarrow's multi-threaded CSV reader on the mapped file, no Python object per
field), and parse_ncu, the general path for any text (Python's csv module on the
lines that are records), which takes every file the fast path turns down.
"""

from __future__ import annotations

import codecs
import csv
import mmap
import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from pdprof import tools, variants
from pdprof.config import Point
from pdprof.errors import PointFailed, ProfilerOutputError, ToolError
from pdprof.fsutil import atomic_output, write_json
from pdprof.kernel_names import short_kernel_name
from pdprof.units import (
    as_numpy,
    is_missing_array,
    parse_number_array,
    to_base_arrays,
)

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

# Columns every profiler parser returns; pdprof.parse adds tool, source_file and, unless the
# parser gave it (ncu does), kernel_short.
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

# A page's rows before canonical rows are added: the page is one for all.
_ROW_COLUMNS = [name for name in NCU_COLUMNS if name != "page"]

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


# A table's records as Arrow string columns of equal length, by header name (a repeated
# name keeps its first column): what both the fast reader and parse_table lead to. Columns
# whose few texts repeat on every row are dictionary-encoded (_DICTIONARY_COLUMNS).
_Columns = dict[str, pa.ChunkedArray]
_DICTIONARY_COLUMNS = frozenset({*KERNEL_COLUMNS, "Section Name", "Metric Name", "Metric Unit"})


def _first_indexes(header: list[str]) -> dict[str, int]:
    first: dict[str, int] = {}
    for index, name in enumerate(header):
        first.setdefault(name, index)
    return first


def _columns_of_rows(table: _Table, min_fields: int, encoded: frozenset[str]) -> _Columns:
    """Records with at least `min_fields` fields as string columns (the general path).

    Short records are padded with "", long ones cut to the header's width; the columns
    named in `encoded` are dictionary-encoded.
    """
    width = len(table.header)
    padding = [""] * width
    rows = [
        row if len(row) >= width else row + padding[len(row) :]
        for row in table.rows
        if len(row) >= min_fields
    ]
    # One Arrow list per record, converted in one C pass; a column is then each list's field.
    records = pa.array(rows, type=pa.list_(pa.large_string()))
    columns = {}
    for name, index in _first_indexes(table.header).items():
        texts = pc.list_element(records, index)
        columns[name] = pa.chunked_array([texts.dictionary_encode() if name in encoded else texts])
    return columns


def _dictionary(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A dictionary column's distinct texts (large strings) and, per row, the index of its text."""
    combined = column.combine_chunks()  # one dictionary for all chunks
    return combined.dictionary.cast(pa.large_string()), combined.indices.to_numpy()


def _repeated(text: str, rows: int) -> pa.Array:
    return pa.repeat(pa.scalar(text, pa.large_string()), rows)


def _column_or_blank(columns: _Columns, name: str, rows: int) -> pa.ChunkedArray:
    """A column, or "" in every row when the page lacks it."""
    if name in columns:
        return columns[name]
    blank = _repeated("", rows)
    return pa.chunked_array([blank.dictionary_encode() if name in _DICTIONARY_COLUMNS else blank])


def _launch_ids(texts: pa.ChunkedArray) -> pa.ChunkedArray:
    """Launch IDs as int64 (null where the field is not an ID: junk or the units row)."""
    # IDs are plain digits as a rule: only other texts need trimming and the regular expression.
    plain = pc.and_(pc.ascii_is_decimal(texts), pc.less_equal(pc.binary_length(texts), 18))
    if pc.all(plain).as_py():
        return pc.cast(texts, pa.int64())
    stripped = pc.utf8_trim_whitespace(texts)
    valid = pc.match_substring_regex(stripped, f"^(?:{_LAUNCH_ID.pattern})$")
    return pc.cast(pc.replace_substring(pc.if_else(valid, stripped, None), ",", ""), pa.int64())


def _identity(columns: _Columns, kernel_column: str) -> dict[str, pa.ChunkedArray]:
    """The per-row launch identity columns (kernel, launch, block_size, ...)."""
    rows = len(columns[kernel_column])
    identity = {"kernel": columns[kernel_column], "launch": _launch_ids(columns[ID_COLUMN])}
    for ncu_name, column in IDENTITY_COLUMNS.items():
        identity[column] = _column_or_blank(columns, ncu_name, rows)
    return identity


def _blank(texts: pa.Array) -> np.ndarray:
    """True where the text is empty or only whitespace."""
    return as_numpy(pc.or_(pc.equal(pc.binary_length(texts), 0), pc.utf8_is_space(texts)))


def _details_rows(columns: _Columns, kernel_column: str) -> pa.Table:
    """Tidy rows (_ROW_COLUMNS) of the details page; rule-only lines (no metric name) are dropped."""
    rows = len(columns[kernel_column])
    details = {
        column: _column_or_blank(columns, ncu_name, rows) for ncu_name, column in DETAILS_COLUMNS.items()
    }
    # Parsing the numbers costs most: chunk by chunk on all threads, mostly outside the GIL,
    # while this thread reads the launch IDs and the metric names.
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        parsed = pool.map(parse_number_array, details["raw_value"].chunks)
        tidy = {**_identity(columns, kernel_column), **details}
        metrics, metric_codes = _dictionary(tidy["metric"])
        keep = as_numpy(pc.is_valid(tidy["launch"])) & ~_blank(metrics)[metric_codes]
        numbers = np.concatenate([np.empty(0), *parsed])
    tidy["value"], tidy["unit"] = to_base_arrays(numbers, tidy["raw_unit"])
    table = pa.table(tidy).select(_ROW_COLUMNS)
    return table if keep.all() else table.filter(keep)


def parse_details_page(table: _Table) -> pa.Table:
    """Tidy rows (_ROW_COLUMNS) of a details page split out of text; rule-only lines are dropped."""
    header = table.header
    kernel_column = _kernel_column(header)
    required = (ID_COLUMN, kernel_column, *DETAILS_REQUIRED_COLUMNS)
    columns = _columns_of_rows(table, max(header.index(name) for name in required) + 1, _DICTIONARY_COLUMNS)
    return _details_rows(columns, kernel_column)


def _raw_units(columns: _Columns) -> dict[str, str]:
    """Unit per column, from the units line (the first record without an ID); "" if none."""
    blank_ids = np.flatnonzero(_blank(columns[ID_COLUMN].combine_chunks()))
    if not len(blank_ids):
        return dict.fromkeys(columns, "")
    return {name: texts[int(blank_ids[0])].as_py() for name, texts in columns.items()}


def parse_raw_page(table: _Table) -> pa.Table:
    """Tidy rows (_ROW_COLUMNS) of the raw page: one row per launch x numeric metric column.

    A column is numeric when every value is a number or n/a, and it has a unit or
    at least one number (an all-n/a column with a unit is a metric this GPU lacks);
    attribute strings drop out.
    """
    kernel_column = _kernel_column(table.header)
    columns = _columns_of_rows(table, table.header.index(kernel_column) + 1, frozenset(KERNEL_COLUMNS))
    units = _raw_units(columns)
    is_launch = pc.is_valid(_launch_ids(columns[ID_COLUMN]))
    columns = {name: texts.filter(is_launch) for name, texts in columns.items()}
    launches = len(columns[ID_COLUMN])
    metrics, values = [], []
    for name, texts in columns.items():
        if name in RAW_NON_METRIC_COLUMNS:
            continue
        numbers = parse_number_array(texts)
        has_number = ~np.isnan(numbers)
        if (has_number | is_missing_array(texts)).all() and (has_number.any() or units[name].strip()):
            metrics.append(name)
            values.append(numbers)
    # Launch-major: each launch's metrics in column order.
    launch_of_row = np.repeat(np.arange(launches), len(metrics))
    metric_of_row = pa.array(np.tile(np.arange(len(metrics), dtype=np.int32), launches))
    tidy = {name: texts.take(launch_of_row) for name, texts in _identity(columns, kernel_column).items()}
    tidy["metric"] = pa.DictionaryArray.from_arrays(metric_of_row, pa.array(metrics, type=pa.large_string()))
    raw_units = pa.DictionaryArray.from_arrays(
        metric_of_row, pa.array([units[name] for name in metrics], type=pa.large_string())
    )
    numbers = np.column_stack(values).ravel() if values else np.empty(0)
    tidy["value"], tidy["unit"] = to_base_arrays(numbers, raw_units)
    raw_texts = pa.chunked_array(
        [chunk for name in metrics for chunk in columns[name].chunks], pa.large_string()
    )
    tidy["raw_value"] = raw_texts.take(metric_of_row.to_numpy() * launches + launch_of_row)
    tidy["raw_unit"] = raw_units
    tidy["section"] = _repeated("", len(launch_of_row)).dictionary_encode()
    return pa.table(tidy).select(_ROW_COLUMNS)


# The (source, unit) pairs the canonical metrics read: the columns of the launch x source grid.
_SOURCES = list(
    dict.fromkeys(
        (name, spec.unit)
        for spec in CANONICAL_METRICS.values()
        for alternative in spec.alternatives
        for name in alternative
    )
)
_SOURCE_COLUMN = {source: index for index, source in enumerate(_SOURCES)}
_FRIENDLY_METRICS = {name.split(_SECTION_SEPARATOR)[-1] for name, _ in _SOURCES if _SECTION_SEPARATOR in name}


def _source_columns(
    keys: list[str], key_codes: np.ndarray, units: list[str], unit_codes: np.ndarray
) -> np.ndarray:
    """Per row, its column in the source grid (-1 if its key and unit feed no canonical metric)."""
    by_key_and_unit = np.full((len(keys), len(units)), -1)
    for key_code, key in enumerate(keys):
        for unit_code, unit in enumerate(units):
            by_key_and_unit[key_code, unit_code] = _SOURCE_COLUMN.get((key, unit), -1)
    return by_key_and_unit[key_codes, unit_codes]


def _source_grid(tidy: pa.Table, launch_codes: np.ndarray, launches: int) -> tuple[np.ndarray, np.ndarray]:
    """launch x source grid of numeric values (NaN where missing) and which sources occur at all.

    Rows are keyed by metric name, then details rows by section and metric name; where
    a launch has a source twice (a metric in two sections) the first counts.
    """
    value = as_numpy(tidy["value"])
    metric_texts, metric_codes = _dictionary(tidy["metric"])
    unit_texts, unit_codes = _dictionary(tidy["unit"])
    section_texts, section_codes = _dictionary(tidy["section"])
    metrics, units, sections = metric_texts.to_pylist(), unit_texts.to_pylist(), section_texts.to_pylist()
    by_name = _source_columns(metrics, metric_codes, units, unit_codes)
    friendly_codes = [code for code, name in enumerate(metrics) if name in _FRIENDLY_METRICS]
    friendly = np.flatnonzero(np.isin(metric_codes, friendly_codes))
    pairs, pair_codes = np.unique(
        section_codes[friendly] * len(metrics) + metric_codes[friendly], return_inverse=True
    )
    pair_keys = [in_section(sections[pair // len(metrics)], metrics[pair % len(metrics)]) for pair in pairs]
    by_section = _source_columns(pair_keys, pair_codes, units, unit_codes[friendly])
    rows = np.concatenate([np.arange(len(value)), friendly])
    columns = np.concatenate([by_name, by_section])
    usable = (columns >= 0) & ~np.isnan(value[rows])
    rows, columns = rows[usable], columns[usable]
    _, first = np.unique(launch_codes[rows] * len(_SOURCES) + columns, return_index=True)
    grid = np.full((launches, len(_SOURCES)), np.nan)
    grid[launch_codes[rows[first]], columns[first]] = value[rows[first]]
    present = np.zeros(len(_SOURCES), dtype=bool)
    present[columns] = True
    return grid, present


class _CanonicalRows(NamedTuple):
    """Canonical rows by launch (index in first-appearance order) and metric (CANONICAL_METRICS order)."""

    launch: np.ndarray
    metric: np.ndarray
    value: np.ndarray


def _canonical_rows(grid: np.ndarray, present: np.ndarray) -> _CanonicalRows:
    """The canonical metrics found per launch, metric by metric.

    Per launch the first alternative whose sources are all present wins; sources are summed.
    """
    launches, metrics, values = [], [], []
    for index, spec in enumerate(CANONICAL_METRICS.values()):
        found = np.full(len(grid), np.nan)
        for alternative in spec.alternatives:
            columns = [_SOURCE_COLUMN[(name, spec.unit)] for name in alternative]
            if present[columns].all():
                summed = grid[:, columns[0]]
                for column in columns[1:]:
                    summed = summed + grid[:, column]
                found = np.where(np.isnan(found), summed, found)
        launches.append(np.flatnonzero(~np.isnan(found)))
        metrics.append(np.full(len(launches[-1]), index))
        values.append(found[launches[-1]])
    return _CanonicalRows(np.concatenate(launches), np.concatenate(metrics), np.concatenate(values))


# What canonical rows hold in the text columns, each a dictionary: texts and row -> text.
_CANONICAL_NAMES = pa.array(list(CANONICAL_METRICS), type=pa.large_string())
_CANONICAL_UNITS = pa.array([spec.unit for spec in CANONICAL_METRICS.values()], type=pa.large_string())
_CANONICAL_SECTION = pa.array([CANONICAL_SECTION], type=pa.large_string())
_NO_TEXT = pa.array([""], type=pa.large_string())


def _strings(texts: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    return pd.array(texts, dtype="str")


def _texts_at(column: pa.ChunkedArray, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The column's texts at `rows`, as a pandas "str" array."""
    if pa.types.is_dictionary(column.type):
        texts, codes = _dictionary(column)
        return _strings(texts.take(codes[rows]))
    return _strings(column.take(rows))


def _appended(column: pa.ChunkedArray, texts: pa.Array, codes: np.ndarray) -> pa.ChunkedArray:
    """The column followed by texts[codes]."""
    if pa.types.is_dictionary(column.type):
        own_texts, own_codes = _dictionary(column)
        combined = pa.DictionaryArray.from_arrays(
            np.concatenate([own_codes, len(own_texts) + codes], dtype=np.int32, casting="same_kind"),
            pa.concat_arrays([own_texts, texts]),
        )
        return pa.chunked_array([combined])
    return pa.chunked_array([*column.chunks, texts.take(codes)])


def _appended_at(
    column: pa.ChunkedArray, texts: pa.Array, codes: np.ndarray, rows: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """The column followed by texts[codes], at `rows`."""
    return _texts_at(_appended(column, texts, codes), rows)


def _with_canonical_rows(tidy: pa.Table, page: str) -> pd.DataFrame:
    """NCU_COLUMNS and kernel_short: the tidy rows (all of one page) and canonical rows, by launch.

    The sort is stable, so each launch's canonical rows follow its own rows; they carry
    the identity of the launch's first row.
    """
    launch = as_numpy(tidy["launch"])
    launch_codes, launch_ids = pd.factorize(launch)
    canonical = _canonical_rows(*_source_grid(tidy, launch_codes, len(launch_ids)))
    first_row = np.flatnonzero(
        launch_codes > np.maximum.accumulate(np.concatenate([[-1], launch_codes[:-1]]))
    )
    launch = np.concatenate([launch, launch_ids[canonical.launch]])
    order = np.argsort(launch, kind="stable")
    # The row whose identity each row carries: its own, or for a canonical row its launch's first.
    identity_row = order.copy()
    is_canonical = order >= tidy.num_rows
    identity_row[is_canonical] = first_row[canonical.launch[order[is_canonical] - tidy.num_rows]]
    blank = np.zeros(len(canonical.launch), dtype=np.int32)
    kernels, kernel_codes = _dictionary(tidy["kernel"])
    short_names = pa.array([short_kernel_name(name) for name in kernels.to_pylist()], type=pa.large_string())
    short = pa.chunked_array([pa.DictionaryArray.from_arrays(kernel_codes, short_names)])
    # What makes each column: a copy of its own (a take, or a few), done outside the GIL.
    makers: dict[str, Callable[[], object]] = {
        name: partial(_texts_at, tidy[name], identity_row) for name in ("kernel", *IDENTITY_COLUMNS.values())
    }
    makers["kernel_short"] = partial(_texts_at, short, identity_row)
    for name, texts, codes in (
        ("metric", _CANONICAL_NAMES, canonical.metric),
        ("unit", _CANONICAL_UNITS, canonical.metric),
        ("raw_value", _NO_TEXT, blank),
        ("raw_unit", _NO_TEXT, blank),
        ("section", _CANONICAL_SECTION, blank),
    ):
        makers[name] = partial(_appended_at, tidy[name], texts, codes, order)
    makers["page"] = lambda: _strings(_repeated(page, len(launch)))
    makers["launch"] = lambda: launch[order]
    makers["value"] = lambda: np.concatenate([as_numpy(tidy["value"]), canonical.value])[order]
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        frame = dict(zip(makers, pool.map(lambda make: make(), makers.values()), strict=True))
    # The columns are new: no copy into the frame.
    return pd.DataFrame({name: frame[name] for name in [*NCU_COLUMNS, "kernel_short"]}, copy=False)


def parse_ncu(text: str, source: str) -> pd.DataFrame:
    """Parse ncu CSV output (details or raw page, file or captured stdout) into tidy rows.

    Returns NCU_COLUMNS and kernel_short; raises ProfilerOutputError when the text is
    not ncu CSV or holds no data rows. The general path: any text, read line by line.
    """
    table = parse_table(text, source)
    page = parse_page_kind(table.header)
    if page is None:
        raise ProfilerOutputError(source, f"not ncu output (expected {DESCRIPTION})")
    tidy = parse_details_page(table) if page == DETAILS_PAGE else parse_raw_page(table)
    if not tidy.num_rows:
        raise ProfilerOutputError(source, "ncu CSV header found but no data rows")
    return _with_canonical_rows(tidy, page)


# --- the fast path: a clean details page straight from the file ----------------------------

# Bytes per task of the scan, which threads share: 1 MiB, so that numpy's temporaries stay in cache.
_SCAN_BLOCK = 1 << 20
# Bytes per block of pyarrow's CSV reader (its unit of work per thread); None: about
# _CSV_BLOCKS_PER_THREAD blocks per thread, 1 to 16 MiB each.
_CSV_BLOCK: int | None = None
_CSV_BLOCKS_PER_THREAD = 4
_CSV_BLOCK_BYTES = (1 << 20, 1 << 24)
_HEADER_LINE_BYTES = re.compile(_HEADER_LINE.pattern.encode(), re.MULTILINE)
_NEWLINE = ord("\n")
# A newline followed by a quote (a line that starts a record), as one 16-bit number.
_LINE_START = np.frombuffer(b'\n"', dtype=np.uint16)[0]


def _threads() -> int:
    """Threads for the fast path's parallel steps: as many as pyarrow's CPU pool has."""
    return max(1, pa.cpu_count())


def _scan_block(data: mmap.mmap, scanned: np.ndarray, offset: int) -> tuple[int, int] | None:
    """(newlines, newlines followed by a quote) in one block of `scanned`; None unless clean.

    Clean bytes: ASCII without NUL or CR. A newline at the block's end is matched with the
    next block's first byte; pairs are counted as 16-bit numbers at even and odd offsets.
    """
    block = scanned[offset : offset + _SCAN_BLOCK]
    if block.max() >= 0x80 or block.min() == 0:
        return None
    at = len(data) - len(scanned) + offset  # where the block is in `data`
    if data.find(b"\r", at, at + len(block)) >= 0:
        return None
    pairs = scanned[offset : offset + _SCAN_BLOCK + 1]
    even = pairs[: len(pairs) // 2 * 2].view(np.uint16)
    odd = pairs[1 : 1 + (len(pairs) - 1) // 2 * 2].view(np.uint16)
    starts = np.count_nonzero(even == _LINE_START) + np.count_nonzero(odd == _LINE_START)
    return int(np.count_nonzero(block == _NEWLINE)), int(starts)


def _newlines_if_clean(data: mmap.mmap, start: int) -> int | None:
    """The number of newlines from `start` on, or None unless the bytes are clean.

    Clean: no NUL or CR in the file; from `start` on ASCII, and every newline but a
    final one followed by a quote. numpy passes over the mapped file, no copy, a block
    per task on all threads (numpy lets go of the GIL).
    """
    if data.find(b"\0", 0, start) >= 0 or data.find(b"\r", 0, start) >= 0:
        return None
    scanned = np.frombuffer(data, dtype=np.uint8)[start:]
    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        counts = list(
            pool.map(lambda offset: _scan_block(data, scanned, offset), range(0, len(scanned), _SCAN_BLOCK))
        )
    if None in counts:
        return None
    newlines = sum(newlines for newlines, _ in counts)
    line_starts = sum(starts for _, starts in counts)
    # Every newline but a final one is followed by a quote.
    return newlines if line_starts == newlines - (data[-1] == _NEWLINE) else None


def _read_records(body: memoryview, header: list[str], included: dict[str, int]) -> pa.Table | None:
    """The included columns (named by index) as pyarrow's multi-threaded reader reads them.

    None if a record is not of the header's width. Texts are not checked for UTF-8: only
    for a page that _newlines_if_clean finds ASCII may the table be used.
    """
    types = {
        str(index): pa.dictionary(pa.int32(), pa.string())
        if name in _DICTIONARY_COLUMNS
        else pa.large_string()
        for name, index in included.items()
    }
    names = [str(index) for index in range(len(header))]
    smallest, largest = _CSV_BLOCK_BYTES
    block_size = _CSV_BLOCK or min(largest, max(smallest, len(body) // (_CSV_BLOCKS_PER_THREAD * _threads())))
    try:
        return pcsv.read_csv(
            pa.py_buffer(body),
            read_options=pcsv.ReadOptions(column_names=names, block_size=block_size),
            # No UTF-8 check: the table counts only if the byte scan finds the page ASCII.
            convert_options=pcsv.ConvertOptions(
                include_columns=list(types), column_types=types, check_utf8=False
            ),
        )
    except pa.ArrowInvalid:
        return None


def _clean_details_columns(data: mmap.mmap) -> tuple[_Columns, str] | None:
    """The records of a clean details page, read by pyarrow; None if the page is not clean.

    Clean: the header first (after a byte order mark), then only quoted records of the
    header's width, one per line; ASCII without NUL or CR. Every line then starts with a
    quote, so parse_table would keep them all and split them exactly as pyarrow does.
    """
    start = len(codecs.BOM_UTF8) if data[: len(codecs.BOM_UTF8)] == codecs.BOM_UTF8 else 0
    header_end = data.find(b"\n", start)
    if not _HEADER_LINE_BYTES.match(data, start) or header_end < 0:
        return None
    try:
        header = next(csv.reader([data[start:header_end].decode("ascii") + "\n"]))
    except (UnicodeDecodeError, csv.Error):
        return None
    # A header whose last quoted field is left open would run on into the next line.
    if parse_page_kind(header) != DETAILS_PAGE or any("\n" in name for name in header):
        return None
    kernel_column = _kernel_column(header)
    first = _first_indexes(header)
    wanted = [
        name for name in (ID_COLUMN, kernel_column, *IDENTITY_COLUMNS, *DETAILS_COLUMNS) if name in first
    ]
    # The scan runs beside pyarrow's reader, whose threads leave a core idle part of the time
    # (10 % less time for both on 2 cores); a page the scan turns down costs a wasted read.
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanned = pool.submit(_newlines_if_clean, data, header_end)
        body = memoryview(data)[header_end + 1 :]
        table = _read_records(body, header, {name: first[name] for name in wanted})
        newlines = scanned.result()
    if table is None or newlines is None:
        return None
    # Fewer rows than lines: a quoted field ran over a line end, which the reader may split.
    if table.num_rows != newlines - (data[-1] == _NEWLINE) or not table.num_rows:
        return None
    return {name: table[str(first[name])] for name in wanted}, kernel_column


def parse_ncu_file(path: str | Path) -> pd.DataFrame | None:
    """parse_ncu's rows of a clean details page, read straight from the file; else None.

    The fast path for the common case (an exported details page): no text decoding, no
    Python object per field. A file that is not clean, or not there, gives None and is
    left to read_text and parse_ncu, which say what is wrong with it.
    """
    try:
        with open(path, "rb") as file:
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, a directory, empty (nothing to map)
        return None
    # Unmapped with its last reference, not closed here: pyarrow may not have let go of it yet.
    found = _clean_details_columns(data)
    if found is None:
        return None
    tidy = _details_rows(*found)
    return _with_canonical_rows(tidy, DETAILS_PAGE) if tidy.num_rows else None


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
        *variants.program(binary, point.variant), *point.bench_args(),
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
        output = done.stdout + done.stderr
        _diagnose(output, what)
        if done.returncode != 0 or not partial.is_file():
            raise PointFailed(f"{what} failed with exit code {done.returncode}")
        for name, page_flags in EXPORT_PAGES.items():
            with atomic_output(out_dir / name) as tmp, open(tmp, "w") as sink:
                exported = subprocess.run(export_command(partial, page_flags), stdout=sink, timeout=timeout_s)
                if exported.returncode != 0:
                    raise PointFailed(
                        f"ncu --import failed exporting {name} (exit code {exported.returncode})"
                    )
        with atomic_output(out_dir / "ncu_stdout.txt") as tmp:
            tmp.write_text(output)
        write_json(out_dir / "ncu_command.json", {"argv": argv, "exports": list(EXPORT_PAGES)})
        os.replace(partial, out_dir / "ncu.ncu-rep")
    finally:  # a failed or interrupted profile leaves no report a rerun could mistake for whole
        partial.unlink(missing_ok=True)
