"""nsys: `nsys stats` output in every layout parsed into the tidy frame, and the nsys runner.

Fixtures (tests/data/profiler-samples/, see each folder's SOURCE.txt):
- nsys_stats/: cuda_gpu_kern_sum CSVs of an RTX 5090 from a public repository;
- nsys_h100_pdprof/: our benchmark and nvtx_probe.cu under nsys 2025.3.1 on the lent H100,
  as separate CSVs, concatenated console CSV, "column" and "table" layouts;
- nsys_h100_pdprof_nvtx/: `pdprof profile-nsys` on the lent H100 (benchmark with NVTX ranges).
Expected values are read from those files. Only the old-nsys spelling test writes its own
input (no real sample of nsys 2021 output was available); it says so.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from pdprof import cli
from pdprof.config import Point
from pdprof.errors import PointFailed, ProfilerOutputError, ToolError
from pdprof.parse import TIDY_COLUMNS, detect_tool, parse_file
from pdprof.profilers import nsys
from pdprof.profilers.ncu import CANONICAL_SECTION

SAMPLES = Path(__file__).parent / "data" / "profiler-samples"
RTX = SAMPLES / "nsys_stats"
RTX_PREFILL = RTX / "rtx5090_prefill_summary_cuda_gpu_kern_sum.csv"
RTX_DECODE = RTX / "rtx5090_decode_summary_cuda_gpu_kern_sum.csv"
H100 = SAMPLES / "nsys_h100_pdprof"
NVTX_RUN = SAMPLES / "nsys_h100_pdprof_nvtx"
PREFILL = "<unnamed>::prefill_fma_kernel(const float *, const float *, float *, int, int)"
DECODE = (
    "<unnamed>::decode_kv_scan_kernel(const float *, const float *, const float *, float *, int, int, int)"
)
POINT = Point.from_id("seed-L32-H4096-h32-kv8-T2048-f256")

NSYS_FILES = sorted(
    path for folder in (RTX, H100, NVTX_RUN) for path in folder.iterdir() if path.suffix in (".csv", ".txt")
)
# Files in the sample folders that are not report tables: refused in one line.
NEGATIVE = {
    "SOURCE.txt": "not a recognized profiler output",
    "rtx5090_prefill_cmd.txt": "not a recognized profiler output",
    "bench_nvtx_sum.csv": "empty file",  # nsys wrote it empty: "SKIPPED: ... does not contain NVTX data"
    "bench_profile.txt": "not a recognized profiler output",
    "bench_stats.txt": "not a recognized profiler output",
    "nsys_stdout.txt": "not a recognized profiler output",
}


def _rows(
    frame: pd.DataFrame, metric: str, page: str | None = None, section: str | None = None
) -> pd.DataFrame:
    rows = frame[frame["metric"] == metric]
    if page is not None:
        rows = rows[rows["page"] == page]
    if section is not None:
        rows = rows[rows["section"] == section]
    return rows


def _value(frame: pd.DataFrame, kernel: str, metric: str, page: str | None = None) -> float:
    rows = _rows(frame, metric, page)
    rows = rows[rows["kernel"] == kernel]
    assert len(rows) == 1, f"{len(rows)} rows of {kernel} {metric}"
    return float(rows["value"].iloc[0])


@pytest.mark.parametrize("path", NSYS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_parses_or_is_refused_in_one_line(path: Path) -> None:
    if path.name in NEGATIVE:
        with pytest.raises(ProfilerOutputError) as caught:
            parse_file(path)
        assert NEGATIVE[path.name] in str(caught.value) and "\n" not in str(caught.value)
        return
    frame = parse_file(path)
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert set(frame["tool"]) == {"nsys"} and len(frame) > 0
    assert frame["value"].notna().any()


def test_env_json_is_refused() -> None:
    with pytest.raises(ProfilerOutputError, match="not a recognized profiler output"):
        parse_file(RTX / "rtx5090_prefill_env.json")


# --- cuda_gpu_kern_sum ------------------------------------------------------------------


def test_rtx5090_kernel_summary_values() -> None:
    frame = parse_file(RTX_DECODE)
    assert frame["launch"].nunique() == 46
    first = frame[frame["launch"] == 0]
    values = dict(zip(first["metric"], first["value"], strict=False))
    # First record: 34.4,61602133,16448,3745.3,3744.0,2080,5728,417.2,"std::enable_if<!T7, void>::type ..."
    assert values == {
        "time_percent": 34.4,
        "total_time": 61602133.0,
        "instances": 16448.0,
        "avg": 3745.3,
        "med": 3744.0,
        "min": 2080.0,
        "max": 5728.0,
        "stddev": 417.2,
        "duration": 3745.3,
    }
    assert first["kernel"].iloc[0].startswith("std::enable_if<!T7, void>::type internal::gemvx::kernel<int")
    assert set(first["kernel_short"]) == {"kernel"}
    assert set(first["page"]) == {"cuda_gpu_kern_sum"}
    assert set(_rows(first, "duration")["section"]) == {CANONICAL_SECTION}
    units = dict(zip(first["metric"], first["unit"], strict=False))
    assert units["time_percent"] == "%" and units["avg"] == "ns" and units["instances"] == ""


def test_rtx5090_prefill_summary_has_a_row_per_kernel() -> None:
    frame = parse_file(RTX_PREFILL)
    assert frame["launch"].nunique() == 97
    cutlass = "void cutlass::Kernel2<cutlass_80_wmma_tensorop_bf16_s161616gemm_bf16_32x32_128x2_tn_align8>(T1::Params)"
    assert _value(frame, cutlass, "instances") == 2035.0
    assert _value(frame, cutlass, "max") == 27008.0


# --- the three layouts of one report agree ---------------------------------------------


def _by_kernel(frame: pd.DataFrame, page: str) -> pd.DataFrame:
    rows = frame[(frame["page"] == page) & (frame["section"] == "")]
    return rows.pivot_table(index="kernel", columns="metric", values="value").sort_index()


def test_column_layout_equals_csv_and_keeps_the_truncated_name() -> None:
    column = parse_file(H100 / "bench_console_table.txt")
    csv_file = parse_file(H100 / "bench_cuda_gpu_kern_sum.csv")
    truncated = "<unnamed>::decode_kv_scan_kernel(const float *, const float *, const float *, float *, int, int, in\u2026"
    assert set(column[column["page"] == "cuda_gpu_kern_sum"]["kernel"]) == {PREFILL, truncated}
    assert set(column["kernel_short"]) >= {"prefill_fma_kernel", "decode_kv_scan_kernel"}
    table_values = _by_kernel(column, "cuda_gpu_kern_sum").rename(index={truncated: DECODE})
    pd.testing.assert_frame_equal(table_values, _by_kernel(csv_file, "cuda_gpu_kern_sum"))
    # "36,133,392" in the column layout.
    assert _value(column, PREFILL, "total_time", "cuda_gpu_kern_sum") == 36_133_392.0
    api = _by_kernel(column, "cuda_api_sum")
    pd.testing.assert_frame_equal(
        api, _by_kernel(parse_file(H100 / "bench_cuda_api_sum.csv"), "cuda_api_sum")
    )
    assert api.loc["cudaLaunchKernel", "calls"] == 320.0


def test_table_layout_equals_csv_for_trace_and_nvtx() -> None:
    table = parse_file(H100 / "probe_console_table.txt")
    for page, csv_name in (
        ("cuda_gpu_trace", "probe_cuda_gpu_trace.csv"),
        ("nvtx_pushpop_trace", "probe_nvtx_pushpop_trace.csv"),
        ("nvtx_sum", "probe_nvtx_sum.csv"),
        ("cuda_gpu_kern_sum", "probe_cuda_gpu_kern_sum.csv"),
    ):
        ours = table[table["page"] == page].drop(columns=["launch", "raw_value", "source_file"])
        expected = parse_file(H100 / csv_name).drop(columns=["launch", "raw_value", "source_file"])
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), expected, check_dtype=False)


def test_console_csv_skips_progress_and_skipped_lines() -> None:
    console = parse_file(H100 / "bench_console_csv.txt")
    assert list(console["page"].unique()) == ["cuda_gpu_trace", "cuda_api_sum", "cuda_gpu_kern_sum"]
    # 329 trace records, 17 API calls, 2 kernels; launches numbered across the reports.
    assert console["launch"].nunique() == 329 + 17 + 2
    trace = console[console["page"] == "cuda_gpu_trace"].drop(columns=["source_file"])
    alone = parse_file(H100 / "bench_cuda_gpu_trace.csv").drop(columns=["source_file"])
    pd.testing.assert_frame_equal(trace.reset_index(drop=True), alone)


# --- cuda_gpu_trace ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_trace() -> pd.DataFrame:
    return parse_file(H100 / "probe_cuda_gpu_trace.csv")


def test_trace_launch_has_start_end_duration_stream_grid_block(probe_trace: pd.DataFrame) -> None:
    # Second record: 477304928,46625,125,16384,1,1,256,1,1,16,0.000,0.000,,,,,NVIDIA H100 80GB HBM3 (0),1,,13,prefill...
    launch = probe_trace[probe_trace["launch"] == 1]
    values = dict(zip(launch["metric"], launch["value"], strict=False))
    assert values["start"] == 477_304_928.0
    assert values["duration"] == 46_625.0
    assert values["end"] == 477_304_928.0 + 46_625.0
    assert values["registers_per_thread"] == 16.0
    first = launch.iloc[0]
    assert first["kernel"] == "prefill_probe_kernel(float *, int, int)"
    assert (first["stream"], first["grid_size"], first["block_size"]) == (
        "13",
        "(16384, 1, 1)",
        "(256, 1, 1)",
    )
    assert first["device"] == "NVIDIA H100 80GB HBM3 (0)"
    duration = _rows(launch, "duration")
    assert set(duration["section"]) == {CANONICAL_SECTION}


def test_memory_copies_have_bytes_but_no_canonical_duration(probe_trace: pd.DataFrame) -> None:
    copy = probe_trace[probe_trace["launch"] == 0]
    assert set(copy["kernel"]) == {"[CUDA memcpy Host-to-Device]"}
    values = dict(zip(copy["metric"], copy["value"], strict=False))
    # 472310182,4617492,120,,,...,16.777,3623.879 (MB, MB/s)
    assert values["bytes"] == pytest.approx(16.777e6)
    assert values["throughput"] == pytest.approx(3623.879e6)
    assert set(copy["section"]) == {""}
    assert "registers_per_thread" not in values, "empty fields are not rows"
    assert set(copy["grid_size"]) == {""}


def test_trace_rows_out_of_time_order_are_sorted(tmp_path: Path, probe_trace: pd.DataFrame) -> None:
    header, *records = (H100 / "probe_cuda_gpu_trace.csv").read_text().splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([header, *reversed(records)]) + "\n")
    frame = parse_file(shuffled)
    starts = _rows(frame, "start").sort_values("launch")["value"]
    assert starts.is_monotonic_increasing
    pd.testing.assert_frame_equal(frame.drop(columns="source_file"), probe_trace.drop(columns="source_file"))


def test_bench_trace_counts_kernels_and_copies() -> None:
    frame = parse_file(H100 / "bench_cuda_gpu_trace.csv")
    kernels = _rows(frame, "duration", section=CANONICAL_SECTION)
    assert kernels["kernel"].value_counts().to_dict() == {PREFILL: 160, DECODE: 160}
    assert set(kernels["grid_size"]) == {"(32768, 1, 1)", "(4, 1, 1)"}
    memsets = frame[frame["kernel"] == "[CUDA memset]"]
    assert memsets["launch"].nunique() == 2


# --- NVTX -------------------------------------------------------------------------------


def test_nvtx_push_pop_ranges() -> None:
    frame = parse_file(H100 / "probe_nvtx_pushpop_trace.csv")
    first = frame[frame["launch"] == 0]
    values = dict(zip(first["metric"], first["value"], strict=False))
    # 477108872,477497725,388853,0,388853,:prefill,628,628,0,0,1,,:1,:prefill
    assert values == {
        "start": 477_108_872.0,
        "end": 477_497_725.0,
        "duration": 388_853.0,
        "children_duration": 0.0,
        "self_duration": 388_853.0,
    }
    assert set(first["kernel"]) == {":prefill"}
    assert list(frame.drop_duplicates("launch")["kernel"]) == [":prefill"] * 2 + [":decode"] * 3


def test_nvtx_gpu_projection_takes_the_projected_times() -> None:
    frame = parse_file(NVTX_RUN / "nsys_nvtx_gpu_proj_trace.csv")
    first = frame[frame["launch"] == 0]
    values = dict(zip(first["metric"], first["value"], strict=False))
    # :prefill,615234523,7276093,614894898,7651492,PushPop,746,746,32,...
    assert values["start"] == 615_234_523.0 and values["duration"] == 7_276_093.0
    assert values["end"] == 615_234_523.0 + 7_276_093.0
    assert values["cpu_start"] == 614_894_898.0 and values["gpu_ops"] == 32.0
    assert frame["launch"].nunique() == 10


def test_nvtx_summary_of_our_benchmark() -> None:
    frame = parse_file(NVTX_RUN / "nsys_nvtx_sum.csv")
    assert _value(frame, ":prefill", "instances") == 5.0
    assert _value(frame, ":decode", "med") == 5_615_401.0


# --- encodings and other spellings --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["probe_console_table.txt", "bench_console_table.txt", "probe_console_csv.txt"]
)
def test_bom_and_crlf_do_not_change_the_result(tmp_path: Path, name: str) -> None:
    windows = tmp_path / name
    text = (H100 / name).read_text(encoding="utf-8")
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    expected = parse_file(H100 / name).drop(columns="source_file")
    pd.testing.assert_frame_equal(parse_file(windows).drop(columns="source_file"), expected)


def test_tool_lines_inside_a_csv_report_are_dropped(tmp_path: Path, probe_trace: pd.DataFrame) -> None:
    header, *records = (H100 / "probe_cuda_gpu_trace.csv").read_text().splitlines()
    noisy = tmp_path / "noisy.csv"
    noise = ["==PROF== Connected to process 628", "==WARNING== a warning, with a comma"]
    noisy.write_text("\n".join([noise[0], header, *records[:5], *noise, *records[5:]]) + "\n")
    pd.testing.assert_frame_equal(
        parse_file(noisy).drop(columns="source_file"), probe_trace.drop(columns="source_file")
    )


def test_n_a_value_is_a_nan_row(tmp_path: Path) -> None:
    header, first, *rest = (H100 / "probe_cuda_gpu_kern_sum.csv").read_text().splitlines()
    path = tmp_path / "n_a.csv"
    path.write_text("\n".join([header, first.replace(",152.9,", ",n/a,"), *rest]) + "\n")
    frame = parse_file(path)
    stddev = frame[(frame["metric"] == "stddev") & (frame["launch"] == 0)].iloc[0]
    assert stddev["raw_value"] == "n/a" and pd.isna(stddev["value"])
    assert _value(frame, "prefill_probe_kernel(float *, int, int)", "avg") == 46261.0


def test_old_nsys_spelling_without_units(tmp_path: Path) -> None:
    # Written here, in the layout of nsys 2021's gpukernsum: no real sample of it was available.
    old = tmp_path / "gpukernsum.csv"
    old.write_text(
        "Time(%),Total Time (ns),Instances,Average,Minimum,Maximum,StdDev,Name\n"
        '60.5,1200,3,400.0,390,410,10.0,"prefill_kernel(float*, int)"\n'
    )
    frame = parse_file(old)
    values = dict(zip(frame["metric"], frame["value"], strict=False))
    units = dict(zip(frame["metric"], frame["unit"], strict=False))
    assert values["avg"] == 400.0 and units["avg"] == "ns" and units["time_percent"] == "%"
    assert _value(frame, "prefill_kernel(float*, int)", "duration") == 400.0


def test_detection_by_content(tmp_path: Path) -> None:
    renamed = tmp_path / "whatever.log"
    renamed.write_bytes((H100 / "probe_console_table.txt").read_bytes())
    assert detect_tool(renamed) == "nsys"
    assert detect_tool(RTX_PREFILL) == "nsys"


def test_header_without_records_is_refused(tmp_path: Path) -> None:
    header_only = tmp_path / "empty_report.csv"
    header_only.write_text((RTX_DECODE.read_text().splitlines()[0]) + "\n")
    with pytest.raises(ProfilerOutputError, match="no data rows"):
        parse_file(header_only)


def test_forcing_nsys_on_ncu_output_fails() -> None:
    ncu_file = SAMPLES / "ncu_details" / "rtx5090_cc120_kernel0001_ncu.details.csv"
    with pytest.raises(ProfilerOutputError, match="not nsys output"):
        parse_file(ncu_file, tool="nsys")


# --- running nsys ----------------------------------------------------------------------------


def test_profile_and_stats_commands_are_argv_lists(tmp_path: Path) -> None:
    report = tmp_path / "nsys"
    assert nsys.profile_command(Path("bench"), POINT, report, warmup=2, repeats=10) == [
        "nsys", "profile", "-t", "cuda,nvtx", "--cuda-graph-trace=node",
        "--force-overwrite", "true", "-o", str(report), "bench",
        *POINT.bench_args(), "--warmup", "2", "--mode", "time", "--repeats", "10",
    ]  # fmt: skip
    assert nsys.stats_command(tmp_path / "r.nsys-rep", tmp_path / "nsys") == [
        "nsys", "stats", "--report", "cuda_gpu_trace,cuda_api_sum,cuda_gpu_kern_sum,nvtx_sum,nvtx_gpu_proj_trace",
        "--format", "csv", "--output", str(tmp_path / "nsys"), "--force-export=true", str(tmp_path / "r.nsys-rep"),
    ]  # fmt: skip


# A stand-in for nsys: `profile -o X ...` writes X.nsys-rep (unless FAKE_NSYS_NO_REPORT) and exits
# with FAKE_NSYS_EXIT; `stats ... --output P ...` copies the real exports to P_<report>.csv.
FAKE_NSYS = """#!/bin/sh
if [ "$1" = profile ]; then
  while [ $# -gt 0 ] && [ "$1" != -o ]; do shift; done
  [ -z "$FAKE_NSYS_NO_REPORT" ] && echo report > "$2.nsys-rep"
  echo "fake nsys profile"
  exit "${FAKE_NSYS_EXIT:-0}"
fi
[ -n "$FAKE_STATS_FAIL" ] && { echo "ERROR: stats broke" >&2; exit 1; }
while [ $# -gt 0 ] && [ "$1" != --output ]; do shift; done
for r in cuda_gpu_trace cuda_api_sum cuda_gpu_kern_sum nvtx_sum nvtx_gpu_proj_trace; do
  cp "$FAKE_EXPORTS/nsys_$r.csv" "$2_$r.csv"
done
: > "$2_nvtx_sum.csv"
echo "SKIPPED: no NVTX data"
"""


@pytest.fixture
def fake_nsys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tools = tmp_path / "tools"
    tools.mkdir()
    script = tools / "nsys"
    script.write_text(FAKE_NSYS)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_EXPORTS", str(NVTX_RUN))
    return tmp_path / "out"


def test_profile_keeps_the_exports_exactly(fake_nsys: Path) -> None:
    empty = nsys.profile(Path("bench"), POINT, fake_nsys, warmup=1, repeats=2, timeout_s=60)
    assert empty == ["nsys_nvtx_sum.csv"]
    names = sorted(path.name for path in fake_nsys.iterdir())
    assert names == sorted([*nsys.export_names(), "nsys.nsys-rep", "nsys_stdout.txt", "nsys_command.json"])
    trace = fake_nsys / "nsys_cuda_gpu_trace.csv"
    assert trace.read_bytes() == (NVTX_RUN / "nsys_cuda_gpu_trace.csv").read_bytes()
    record = json.loads((fake_nsys / "nsys_command.json").read_text())
    assert record["argv"][:4] == ["nsys", "profile", "-t", "cuda,nvtx"] and record["empty"] == empty
    assert "SKIPPED" in (fake_nsys / "nsys_stdout.txt").read_text()


@pytest.mark.parametrize(
    ("variable", "error", "message"),
    [
        ("FAKE_NSYS_NO_REPORT", ToolError, "nsys profile wrote no report"),
        ("FAKE_NSYS_EXIT", PointFailed, "benchmark under nsys failed"),
        ("FAKE_STATS_FAIL", ToolError, "nsys stats failed .*: ERROR: stats broke"),
    ],
)
def test_failures_leave_no_files(
    fake_nsys: Path, monkeypatch: pytest.MonkeyPatch, variable: str, error: type, message: str
) -> None:
    monkeypatch.setenv(variable, "3")
    with pytest.raises(error, match=message) as caught:
        nsys.profile(Path("bench"), POINT, fake_nsys, warmup=1, repeats=2, timeout_s=60)
    assert "\n" not in str(caught.value)
    assert list(fake_nsys.iterdir()) == []


def test_missing_nsys_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="nsys not found on PATH") as caught:
        nsys.profile(Path("bench"), POINT, tmp_path / "out", warmup=1, repeats=2, timeout_s=60)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_cli_optional_nsys_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    argv = ["profile-nsys", "bench", "--point", POINT.id, "--out-dir", str(tmp_path / "out")]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pdprof profile-nsys: error: nsys not found")
    assert cli.main([*argv, "--optional"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pdprof profile-nsys: skipped: nsys not found")
    assert (tmp_path / "out" / "nsys_skipped.txt").read_text().startswith("nsys not found")


def test_cli_profile_nsys_runs_the_tool(fake_nsys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["profile-nsys", "bench", "--point", POINT.id, "--out-dir", str(fake_nsys), "--repeats", "3"]
    assert cli.main(argv) == 0
    assert "no data in nsys_nvtx_sum.csv" in capsys.readouterr().out
    frame = parse_file(fake_nsys / "nsys_cuda_gpu_trace.csv")
    assert len(_rows(frame, "duration", section=CANONICAL_SECTION)) == 320
