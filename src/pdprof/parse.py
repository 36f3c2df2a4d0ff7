"""Profiler output files -> one tidy frame (one row per kernel launch x metric).

The tool that wrote a file is recognized by content, never by file name, through
PARSERS: a registry of {tool: ProfilerFormat(sniff, parse, description)}, so a
new profiler (nsys, rocprof) is one more entry. Tool parsers return their rows;
this module adds the columns common to all tools, fixes order and dtypes, and
turns every failure to read a file into a one-line ProfilerOutputError. Before
the file is read as text, ncu.parse_ncu_file may take it: the fast path for a
clean ncu details page, with the same rows.

Command line: `pdprof parse INPUT... [--tool auto|ncu|nsys|rocprof] --out FILE.parquet`.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa

from pdprof.errors import ProfilerOutputError
from pdprof.fsutil import atomic_output
from pdprof.kernel_names import short_kernel_name
from pdprof.profilers import ncu, nsys, rocprof

# Output columns in order, with their dtypes ("str" is pandas' string dtype).
TIDY_COLUMNS: dict[str, str] = {
    "kernel": "str",
    "kernel_short": "str",
    "launch": "int64",
    "metric": "str",
    "value": "float64",
    "unit": "str",
    "raw_value": "str",
    "raw_unit": "str",
    "block_size": "str",
    "grid_size": "str",
    "device": "str",
    "cc": "str",
    "stream": "str",
    "section": "str",
    "tool": "str",
    "page": "str",
    "source_file": "str",
}


class ProfilerFormat(NamedTuple):
    """How to recognize one tool's output and parse it (text, source path) into rows.

    sniff must not raise: it answers False for text it cannot make sense of.
    """

    sniff: Callable[[str], bool]
    parse: Callable[[str, str], pd.DataFrame]
    description: str


PARSERS: dict[str, ProfilerFormat] = {
    ncu.TOOL: ProfilerFormat(sniff=ncu.parse_sniff, parse=ncu.parse_ncu, description=ncu.DESCRIPTION),
    nsys.TOOL: ProfilerFormat(sniff=nsys.parse_sniff, parse=nsys.parse_nsys, description=nsys.DESCRIPTION),
    rocprof.TOOL: ProfilerFormat(
        sniff=rocprof.parse_sniff, parse=rocprof.parse_rocprof, description=rocprof.DESCRIPTION
    ),
}

AUTO = "auto"


def _unrecognized_reason() -> str:
    expected = " or ".join(entry.description for entry in PARSERS.values())
    return f"not a recognized profiler output (expected {expected})"


def _one_line(message: object) -> str:
    """Reasons end up on one stderr line; library messages may span several."""
    return " ".join(str(message).split())


def read_text(path: str | Path) -> str:
    """The file's text, or ProfilerOutputError if it is missing, empty or binary."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProfilerOutputError(path, "no such file") from None
    except IsADirectoryError:
        raise ProfilerOutputError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise ProfilerOutputError(path, f"cannot read: {_one_line(exc.strerror or exc)}") from None
    if not data.strip():
        raise ProfilerOutputError(path, "empty file")
    if b"\x00" in data:
        raise ProfilerOutputError(path, "binary file (contains NUL bytes), not profiler text output")
    try:
        # utf-8-sig drops a byte order mark that Windows tools put first.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProfilerOutputError(path, "not UTF-8 text (binary file?)") from None


def _tool_of_text(text: str) -> str | None:
    return next((tool for tool, entry in PARSERS.items() if entry.sniff(text)), None)


def _choose_tool(text: str, tool: str, source: str) -> str:
    """The forced tool if its sniffer agrees, else the first tool whose sniffer accepts the text."""
    chosen = _tool_of_text(text) if tool == AUTO else tool
    if chosen is None:
        raise ProfilerOutputError(source, _unrecognized_reason())
    entry = PARSERS[chosen]
    if tool != AUTO and not entry.sniff(text):
        raise ProfilerOutputError(source, f"not {chosen} output (expected {entry.description})")
    return chosen


def detect_tool(path: str | Path) -> str:
    """Name of the tool that wrote the file, judged by its content."""
    return _choose_tool(read_text(path), AUTO, str(path))


def _repeated(text: str, rows: int) -> pd.api.extensions.ExtensionArray:
    """One text in every row, as a "str" column made without a Python object per row."""
    return pd.array(pa.repeat(pa.scalar(text, pa.large_string()), rows), dtype="str")


def _finish(rows: pd.DataFrame, tool: str, source: str) -> pd.DataFrame:
    """Add the tool-independent columns; fix column order and dtypes.

    A parser may give kernel_short itself (ncu does, from the few distinct kernel names).
    """
    if "kernel_short" not in rows:
        kernel_codes, kernels = pd.factorize(rows["kernel"])
        short_names = pd.array([short_kernel_name(kernel) for kernel in kernels], dtype="str")
        rows = rows.assign(kernel_short=short_names.take(kernel_codes, allow_fill=True))
    # Two copies of a text into every row, side by side (pyarrow lets go of the GIL).
    with ThreadPoolExecutor(max_workers=2) as pool:
        tools, sources = pool.map(lambda text: _repeated(text, len(rows)), (tool, source))
    rows = rows.assign(tool=tools, source_file=sources)
    rows = rows[list(TIDY_COLUMNS)]
    # The ncu parser gives the dtypes already: then no cast, which copies. Resolved dtypes, as
    # "str" compares equal to a string dtype of any storage, the resolved one to the default.
    if any(rows[name].dtype != pd.api.types.pandas_dtype(dtype) for name, dtype in TIDY_COLUMNS.items()):
        rows = rows.astype(TIDY_COLUMNS)
    return rows


def empty_frame() -> pd.DataFrame:
    """A frame with the tidy columns and no rows."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in TIDY_COLUMNS.items()})


def _check_tool(tool: str) -> None:
    if tool != AUTO and tool not in PARSERS:
        raise ValueError(f"unknown tool {tool!r}; choose from {', '.join([AUTO, *PARSERS])}")


def parse_file(path: str | Path, tool: str = AUTO) -> pd.DataFrame:
    """Parse one profiler output file into the tidy frame (columns TIDY_COLUMNS)."""
    _check_tool(tool)
    source = str(path)
    try:
        # ncu is the first format sniffed, so a clean ncu details page is ncu's under auto too.
        rows = ncu.parse_ncu_file(path) if tool in (AUTO, ncu.TOOL) else None
        if rows is not None:
            return _finish(rows, ncu.TOOL, source)
        text = read_text(path)
        chosen = _choose_tool(text, tool, source)
        rows = PARSERS[chosen].parse(text, source)
    except ProfilerOutputError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, csv.Error) as exc:
        # A file can be malformed in more ways than the parsers check; never leak a traceback.
        raise ProfilerOutputError(source, f"malformed profiler output: {_one_line(exc)}") from None
    return _finish(rows, chosen, source)


def parse_files(paths: Sequence[str | Path], tool: str = AUTO) -> pd.DataFrame:
    """Parse several files and concatenate their tidy frames, in the order given."""
    frames = [parse_file(path, tool) for path in paths]
    if not frames:
        return empty_frame()
    return pd.concat(frames, ignore_index=True)


def write_parquet(frame: pd.DataFrame, out_path: str | Path) -> None:
    """Write the frame as Parquet atomically: a failure leaves no output file."""
    with atomic_output(out_path) as tmp:
        frame.to_parquet(tmp, index=False)


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdprof parse",
        description="Parse profiler output files into one tidy Parquet table (launch x metric).",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="profiler output (ncu, nsys, rocprof)")
    parser.add_argument(
        "--tool",
        choices=[AUTO, *PARSERS],
        default=AUTO,
        help="tool that wrote the inputs (default: by content)",
    )
    parser.add_argument("--out", required=True, metavar="FILE.parquet", help="Parquet file to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`pdprof parse`: exit 0 on success, 2 (one stderr line, no output file) on bad input."""
    args = build_arg_parser().parse_args(argv)
    try:
        frame = parse_files(args.inputs, tool=args.tool)
        write_parquet(frame, args.out)
    except ProfilerOutputError as exc:
        print(f"pdprof parse: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"pdprof parse: error: {args.out}: cannot write: {_one_line(exc.strerror or exc)}",
            file=sys.stderr,
        )
        return 2
    launches = frame.groupby("source_file")["launch"].nunique().sum()
    print(f"pdprof parse: {len(args.inputs)} file(s), {launches} launch(es), {len(frame)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
