"""Fuzzing every parser through `pdprof parse --tool auto`: a table or the one-line error, nothing else.

Inputs: arbitrary bytes, text built from the tokens real profiler files are made of, and
real samples (tests/data/profiler-samples/) mutated the ways files get damaged: cut
short, lines dropped or repeated, columns swapped, noise lines interleaved, fields
replaced. Whatever comes in, parse_file returns the documented columns and dtypes or
raises ProfilerOutputError with a one-line message, and `pdprof parse` either writes
its Parquet file or exits 2 leaving no file (not even a temporary one) behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdprof.errors import ProfilerOutputError
from pdprof.parse import TIDY_COLUMNS, main, parse_file

SAMPLES = Path(__file__).parent / "data" / "profiler-samples"
# Small real files of every tool and layout (the large ones only cost time here).
SEEDS = [
    SAMPLES / "nsys_stats" / "rtx5090_decode_summary_cuda_gpu_kern_sum.csv",
    SAMPLES / "nsys_h100_pdprof" / "probe_cuda_gpu_trace.csv",
    SAMPLES / "nsys_h100_pdprof" / "probe_console_csv.txt",
    SAMPLES / "nsys_h100_pdprof" / "probe_console_table.txt",
    SAMPLES / "nsys_h100_pdprof" / "bench_console_table.txt",
    SAMPLES / "nsys_h100_pdprof" / "probe_nvtx_pushpop_trace.csv",
    SAMPLES / "nsys_h100_pdprof_nvtx" / "nsys_nvtx_gpu_proj_trace.csv",
    SAMPLES / "rocprof_v1" / "gunrock_mi300_results.stats.csv",
    SAMPLES / "rocprofv2" / "mi300x_omniperf2_SQ_LEVEL_WAVES.csv",
    SAMPLES / "rocprofv3_counter" / "v3_19col_agentstr_counter_collection.csv",
    SAMPLES / "rocprofv3_counter" / "v0_15col_counter_collection.csv",
    SAMPLES / "rocprofv3_kernel_trace" / "v3_22col_ldsvgpr_kernel_trace.csv",
    SAMPLES / "rocprofv3_kernel_trace" / "v0_16col_kernel_trace.csv",
    SAMPLES / "ncu_details" / "rtx5090_cc120_kernel0001_ncu.section_SpeedOfLight.csv",
]
SEED_LINES = {path: path.read_bytes().decode("utf-8").split("\n") for path in SEEDS}
NOISE_LINES = [
    "==PROF== Disconnected from process 1234",
    "==WARNING== Found outstanding GPU clock reset",
    "Processing [r.sqlite] with [cuda_gpu_kern_sum.py]... ",
    "SKIPPED: r.sqlite does not contain CUDA kernel data.",
    "Generating SQLite file r.sqlite from r.nsys-rep",
    " ** CUDA GPU Kernel Summary (cuda_gpu_kern_sum):",
    'ROCProfiler: input from "counters.txt"',
    '{"schema":"pdprof.bench/1"}',
    "+----+----+----+",
    " --------  ---------  ----",
    "",
]
TOKENS = st.sampled_from(
    [
        ",", '"', "\n", "\r\n", " ", "|", "+", "-", "(ns)", "(%)", "n/a", "225,312", "1e309", "-5", "0x0",
        "Name", "Range", "Operation", "Time (%)", "Total Time (ns)", "Instances", "Avg (ns)", "Start (ns)",
        "Duration (ns)", "End (ns)", "Strm", "GrdX", "Projected Start (ns)", "Num Calls", "Count",
        "KernelName", "Kernel_Name", "Index", "BeginNs", "EndNs", "DurationNs", "Dispatch_Id",
        "Start_Timestamp", "End_Timestamp", "Counter_Name", "Counter_Value", "TCC_EA_RDREQ[0]",
        "Calls", "TotalDurationNs", "AverageNs", '"ID",', "Kernel Name", "Metric Name", "Metric Value",
        "\ufeff", "\u2026", "99999999999999999999", "1.5", "",
    ]
)  # fmt: skip


def _check_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert frame["launch"].dtype == np.int64 and frame["value"].dtype == np.float64
    assert len(frame) > 0


def _parse_bytes(data: bytes) -> None:
    """parse_file on data returns the documented frame or raises a one-line ProfilerOutputError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.csv"
        path.write_bytes(data)
        try:
            frame = parse_file(path)
        except ProfilerOutputError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path))
            return
        _check_frame(frame)


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes(data: bytes) -> None:
    _parse_bytes(data)


@FUZZ
@given(st.lists(TOKENS, max_size=120))
def test_text_made_of_profiler_tokens(tokens: list[str]) -> None:
    _parse_bytes("".join(tokens).encode("utf-8"))


# --- mutated real samples ---------------------------------------------------------------


def _swap_columns(lines: list[str], data: st.DataObject) -> list[str]:
    """Swap two comma-separated fields in every line (quoted commas make this messier still)."""
    width = max(line.count(",") for line in lines) + 1
    first = data.draw(st.integers(0, width - 1))
    second = data.draw(st.integers(0, width - 1))
    swapped = []
    for line in lines:
        fields = line.split(",")
        if max(first, second) < len(fields):
            fields[first], fields[second] = fields[second], fields[first]
        swapped.append(",".join(fields))
    return swapped


def _mutate(lines: list[str], data: st.DataObject) -> list[str]:
    kind = data.draw(st.sampled_from(["drop", "repeat", "noise", "field", "swap", "shuffle"]))
    index = data.draw(st.integers(0, len(lines) - 1))
    if kind == "drop":
        return lines[:index] + lines[index + 1 :]
    if kind == "repeat":
        return lines[: index + 1] + lines[index:]
    if kind == "noise":
        return lines[:index] + [data.draw(st.sampled_from(NOISE_LINES))] + lines[index:]
    if kind == "field":
        line = lines[index]
        start = data.draw(st.integers(0, len(line)))
        stop = data.draw(st.integers(start, len(line)))
        replacement = data.draw(st.one_of(TOKENS, st.text(max_size=6)))
        return [*lines[:index], line[:start] + replacement + line[stop:], *lines[index + 1 :]]
    if kind == "swap":
        return _swap_columns(lines, data)
    return [lines[0], *data.draw(st.permutations(lines[1:]))]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), mutations=st.integers(1, 4), data=st.data())
def test_mutated_samples(seed: Path, mutations: int, data: st.DataObject) -> None:
    lines = SEED_LINES[seed]
    for _ in range(mutations):
        lines = _mutate(lines, data) or [""]
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    bom = data.draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    _parse_bytes(bom + newline.join(lines).encode("utf-8", errors="surrogatepass"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_truncated_samples(seed: Path, data: st.DataObject) -> None:
    raw = seed.read_bytes()
    _parse_bytes(raw[: data.draw(st.integers(0, len(raw)))])


# --- the command line never leaves a partial file ----------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), cut=st.floats(0.0, 1.0), data=st.data())
def test_pdprof_parse_writes_all_or_nothing(seed: Path, cut: float, data: st.DataObject) -> None:
    raw = seed.read_bytes()
    damaged = raw[: int(len(raw) * cut)] + data.draw(st.binary(max_size=40))
    with tempfile.TemporaryDirectory() as folder:
        good = Path(folder) / "good.csv"
        good.write_bytes(raw)
        bad = Path(folder) / "damaged.csv"
        bad.write_bytes(damaged)
        out = Path(folder) / "out" / "parsed.parquet"
        code = main([str(good), str(bad), "--out", str(out)])
        written = sorted(path.name for path in out.parent.iterdir()) if out.parent.exists() else []
        if code == 0:
            assert written == ["parsed.parquet"]
            assert list(pd.read_parquet(out).columns) == list(TIDY_COLUMNS)
        else:
            assert code == 2 and written == []
