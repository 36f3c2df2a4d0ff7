"""rocprof v1/v2/v3: CSV outputs parsed into the tidy frame, counter formulas, argv, runner.

Fixtures: tests/data/profiler-samples/rocprof_v1, rocprofv2, rocprofv3_counter,
rocprofv3_kernel_trace (real outputs from public repositories, see each SOURCE.txt).
Expected values are read from those files: durations are checked against EndNs - BeginNs
(or DurationNs) of the very row, read here with the csv module. No AMD GPU is lent, so
the commands are checked as argv lists and the runner against a stand-in script. Inputs
this file writes itself (unquoted kernel names, per-instance TCC counters, rocminfo) say so.
"""

from __future__ import annotations

import csv
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
from pdprof.profilers import rocprof
from pdprof.profilers.ncu import CANONICAL_SECTION

SAMPLES = Path(__file__).parent / "data" / "profiler-samples"
V1 = SAMPLES / "rocprof_v1"
GUNROCK = V1 / "gunrock_mi300_results.csv"
GUNROCK_STATS = V1 / "gunrock_mi300_results.stats.csv"
LAPLACIAN = V1 / "hpctraining_laplacian_results.csv"
MI100 = V1 / "mi100_omniperf1_timestamps.csv"
V2_WAVES = SAMPLES / "rocprofv2" / "mi300x_omniperf2_SQ_LEVEL_WAVES.csv"
V3_TRACE_16 = SAMPLES / "rocprofv3_kernel_trace" / "v0_16col_kernel_trace.csv"
V3_TRACE_22 = SAMPLES / "rocprofv3_kernel_trace" / "v3_22col_ldsvgpr_kernel_trace.csv"
V3_COUNTER_15 = SAMPLES / "rocprofv3_counter" / "v0_15col_counter_collection.csv"
V3_COUNTER_19 = SAMPLES / "rocprofv3_counter" / "v3_19col_agentstr_counter_collection.csv"
ALL = [
    GUNROCK,
    GUNROCK_STATS,
    LAPLACIAN,
    MI100,
    V2_WAVES,
    V3_TRACE_16,
    V3_TRACE_22,
    V3_COUNTER_15,
    V3_COUNTER_19,
]
POINT = Point.from_id("seed-L32-H4096-h32-kv8-T2048-f256")

# rocminfo's layout, written here (no AMD machine): the fields the parser reads.
MI300X_ROCMINFO = """\
*******
Agent 1
*******
  Name:                    AMD EPYC 9534 64-Core Processor
  Device Type:             CPU
  Compute Unit:            128
*******
Agent 2
*******
  Name:                    gfx942
  Uuid:                    GPU-1234
  Marketing Name:          AMD Instinct MI300X
  Vendor Name:             AMD
  Device Type:             GPU
  Compute Unit:            304
  ISA Info:
    ISA 1
      Name:                    amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-
"""


def _launch(frame: pd.DataFrame, launch: int) -> dict[str, float]:
    rows = frame[frame["launch"] == launch]
    return dict(zip(rows["metric"], rows["value"], strict=False))


def _records(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


def _canonical(frame: pd.DataFrame, metric: str) -> pd.Series:
    rows = frame[(frame["metric"] == metric) & (frame["section"] == CANONICAL_SECTION)]
    return rows.set_index("launch")["value"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_sample_parses_as_rocprof(path: Path) -> None:
    frame = parse_file(path)
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert set(frame["tool"]) == {"rocprof"} and len(frame) > 0
    assert detect_tool(path) == "rocprof"


@pytest.mark.parametrize("folder", ["rocprof_v1", "rocprofv2", "rocprofv3_counter", "rocprofv3_kernel_trace"])
def test_source_notes_are_refused(folder: str) -> None:
    with pytest.raises(ProfilerOutputError, match="not a recognized profiler output") as caught:
        parse_file(SAMPLES / folder / "SOURCE.txt")
    assert "\n" not in str(caught.value)


# --- rocprof v1 ----------------------------------------------------------------------------


def test_v1_durations_are_the_files_duration_column() -> None:
    frame = parse_file(GUNROCK)
    durations = _canonical(frame, "duration")
    expected = {int(row["Index"]): float(row["DurationNs"]) for row in _records(GUNROCK)}
    assert durations.to_dict() == expected
    # Index 1: BeginNs 3599977333897610, EndNs 3599977334094740, DurationNs 197130.
    one = _launch(frame, 1)
    assert one["duration"] == 197_130.0 == one["end"] - one["start"]
    first = frame[frame["launch"] == 1].iloc[0]
    assert (first["kernel"], first["grid_size"], first["block_size"]) == (
        "__amd_rocclr_copyBuffer.kd",
        "155648",
        "512",
    )
    assert (first["device"], first["stream"], first["page"]) == ("2", "0", "kernel_trace")
    assert (one["vgpr"], one["accum_vgpr"], one["sgpr"], one["wave_size"]) == (16.0, 0.0, 32.0, 64.0)


def test_v1_laplacian_trace() -> None:
    frame = parse_file(LAPLACIAN)
    assert frame["launch"].nunique() == 1004
    # Index 1: "laplacian_kernel", BeginNs 2001401021036510, EndNs 2001401023684049.
    assert _launch(frame, 1)["duration"] == 2001401023684049 - 2001401021036510
    launches = frame.drop_duplicates("launch")["kernel"].value_counts().to_dict()
    file_counts: dict[str, int] = {}
    for row in _records(LAPLACIAN):
        file_counts[row["KernelName"]] = file_counts.get(row["KernelName"], 0) + 1
    assert launches == file_counts and launches["laplacian_kernel"] == 1001


def test_v1_without_duration_column_is_exact_past_2_to_the_53() -> None:
    # Since-boot timestamps of 1.2e16 ns: float64 would be off by up to 2 ns.
    frame = parse_file(MI100)
    durations = _canonical(frame, "duration")
    for row in _records(MI100):
        assert durations[int(row["Index"])] == int(row["EndNs"]) - int(row["BeginNs"]), row["Index"]
    assert durations[49] == 12075944740026852 - 12075944739783335
    assert frame[frame["launch"] == 49]["kernel_short"].iloc[0] == "benchmark_func"


def test_v1_stats() -> None:
    frame = parse_file(GUNROCK_STATS)
    assert set(frame["page"]) == {"kernel_stats"} and frame["launch"].nunique() == 8
    copy = frame[frame["kernel"] == "__amd_rocclr_copyBuffer.kd"]
    values = dict(zip(copy["metric"], copy["value"], strict=False))
    # "__amd_rocclr_copyBuffer.kd",19,580607,30558,6.43306622654358
    assert values == {
        "calls": 19.0,
        "total_time": 580607.0,
        "avg": 30558.0,
        "time_percent": 6.43306622654358,
        "duration": 30558.0,
    }
    names = set(frame["kernel"])
    assert any(
        name.startswith("void gunrock::operators::advance::merge_path::merge_path_kernel<256, 11,")
        for name in names
    )


def _unquoted(path: Path, tmp_path: Path) -> Path:
    """The file as old rocprof wrote it: kernel names with commas, unquoted (written here)."""
    lines = path.read_text().splitlines()
    out = tmp_path / f"unquoted_{path.name}"
    out.write_text("\n".join([lines[0], *(line.replace('"', "") for line in lines[1:])]) + "\n")
    return out


@pytest.mark.parametrize("path", [GUNROCK, GUNROCK_STATS, MI100], ids=lambda p: p.name)
def test_unquoted_kernel_names_with_commas(tmp_path: Path, path: Path) -> None:
    unquoted = _unquoted(path, tmp_path)
    assert "<256, 11," in unquoted.read_text() or "<short, 256, 8u, 0u>" in unquoted.read_text()
    expected = parse_file(path).drop(columns=["source_file", "raw_value"])
    pd.testing.assert_frame_equal(parse_file(unquoted).drop(columns=["source_file", "raw_value"]), expected)


# --- rocprofv2 -------------------------------------------------------------------------------


def test_v2_counters_and_timestamps() -> None:
    frame = parse_file(V2_WAVES)
    zero = _launch(frame, 0)
    # Dispatch 0: Start 716272603605252, End 716272603621412, GRBM_GUI_ACTIVE 496419.0 ...
    assert zero["duration"] == 716272603621412 - 716272603605252
    assert zero["GRBM_GUI_ACTIVE"] == 496419.0
    assert zero["SQ_ACCUM_PREV_HIRES"] == 155796620.0
    assert zero["SQ_LEVEL_WAVES"] == 0.0 and zero["SQ_WAVES"] == 16384.0
    assert (zero["vgpr"], zero["accum_vgpr"], zero["sgpr"]) == (4.0, 4.0, 16.0)
    row = frame[frame["launch"] == 0].iloc[0]
    assert (row["kernel_short"], row["grid_size"], row["block_size"], row["device"]) == (
        "vecCopy",
        "1048576",
        "256",
        "60633",
    )
    counter = frame[(frame["launch"] == 0) & (frame["metric"] == "GRBM_GUI_ACTIVE")].iloc[0]
    assert (counter["raw_value"], counter["unit"], counter["section"]) == ("496419.0", "", "")


def test_mi300x_occupancy_as_rocprof_compute_derives_it() -> None:
    device = rocprof.parse_rocminfo(MI300X_ROCMINFO)
    assert device == rocprof.RocmDevice("gfx942", "AMD Instinct MI300X", 304, 8, 32, 5.3e12)
    frame = parse_file(V2_WAVES)
    wide = frame.pivot_table(index="launch", columns="metric", values="value")
    totals = rocprof.counter_totals(wide[["GRBM_GUI_ACTIVE", "SQ_ACCUM_PREV_HIRES", "SQ_WAVES"]])
    derived = rocprof.device_metrics(totals, wide["duration"], device)
    waves = 155796620.0 / (496419.0 / 8)
    assert derived.loc[0, "occupancy_waves"] == pytest.approx(waves)
    assert derived.loc[0, "achieved_occupancy"] == pytest.approx(100 * waves / (32 * 304))
    assert "valu_busy" not in derived and "dram_throughput" not in derived


# --- rocprofv3 -------------------------------------------------------------------------------


def test_v3_kernel_trace_22_columns_sorted_by_start() -> None:
    frame = parse_file(V3_TRACE_22)
    starts = frame[frame["metric"] == "start"]
    assert list(starts["launch"]) == [1, 2, 3, 4, 5, 6, 11, 12, 13], "dispatch ids, in time order"
    assert starts["value"].is_monotonic_increasing
    for row in _records(V3_TRACE_22):
        launch = _launch(frame, int(row["Dispatch_Id"]))
        assert launch["duration"] == int(row["End_Timestamp"]) - int(row["Start_Timestamp"])
    divide = frame[frame["launch"] == 4]
    assert divide["kernel"].iloc[0] == "divide_kernel(float*, float const*, float const*, int, int)"
    assert (divide["block_size"].iloc[0], divide["grid_size"].iloc[0]) == ("(64, 1, 1)", "(1024, 1024, 1)")
    assert (divide["device"].iloc[0], divide["stream"].iloc[0]) == ("Agent 4", "1")
    assert _launch(frame, 4)["accum_vgpr"] == 4.0 and _launch(frame, 4)["duration"] == 11_200.0


def test_v3_kernel_trace_16_columns() -> None:
    frame = parse_file(V3_TRACE_16)
    # Correlation_Id 0, Start 671599758568, End 671599825328, Workgroup 4x4x1, Grid 1024x1024x1.
    values = _launch(frame, 0)
    assert values["duration"] == 671599825328 - 671599758568
    assert set(frame["block_size"]) == {"(4, 4, 1)"} and set(frame["grid_size"]) == {"(1024, 1024, 1)"}
    assert "vgpr" not in values, "the old schema has no register columns"


def test_v3_counter_collection_19_columns() -> None:
    frame = parse_file(V3_COUNTER_19)
    assert set(frame["page"]) == {"counter_collection"} and frame["launch"].nunique() == 4
    for row in _records(V3_COUNTER_19):
        launch = _launch(frame, int(row["Dispatch_Id"]))
        assert launch["SQ_WAVES"] == float(row["Counter_Value"])
        assert launch["duration"] == int(row["End_Timestamp"]) - int(row["Start_Timestamp"])
    waves = frame[(frame["launch"] == 1) & (frame["metric"] == "SQ_WAVES")].iloc[0]
    assert (waves["raw_value"], waves["device"], waves["grid_size"]) == ("16384.000000", "Agent 1", "1048576")


def test_v3_counter_collection_15_columns() -> None:
    frame = parse_file(V3_COUNTER_15)
    assert _launch(frame, 1) == {
        "lds_bytes": 0.0,
        "scratch_bytes": 0.0,
        "vgpr": 8.0,
        "sgpr": 16.0,
        "SQ_WAVES": 65536.0,
    }
    assert set(frame["kernel_short"]) == {"matrixTranspose"}


def test_columns_are_mapped_by_name_not_position(tmp_path: Path) -> None:
    records = _records(V3_TRACE_22)
    names = list(records[0])
    reordered = [*reversed(names), "Future_Column"]
    reordered.remove("Accum_VGPR_Count")
    path = tmp_path / "future_kernel_trace.csv"
    with path.open("w", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=reordered, extrasaction="ignore", quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows({**row, "Future_Column": "some text"} for row in records)
    ours = parse_file(path).drop(columns=["source_file"])
    expected = parse_file(V3_TRACE_22).drop(columns=["source_file"])
    expected = expected[expected["metric"] != "accum_vgpr"].reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, expected)


# --- counters and formulas ----------------------------------------------------------------------


def test_counter_totals_prefer_sum_then_instances() -> None:
    counters = pd.DataFrame(
        {
            "TCC_HIT[0]": [1.0],
            "TCC_HIT[1]": [2.0],
            "TCC_EA_RDREQ_sum": [7.0],
            "TCC_EA_RDREQ[0]": [1.0],
            "SQ_WAVES": [4.0],
        }
    )
    totals = rocprof.counter_totals(counters)
    assert totals.iloc[0].to_dict() == {"TCC_HIT": 3.0, "TCC_EA_RDREQ": 7.0, "SQ_WAVES": 4.0}


@pytest.mark.parametrize(
    ("counters", "read", "write"),
    [
        # MI200: 10 x 32 B + 90 x 64 B read; 20 x 64 B + 30 x 32 B written.
        (
            {"TCC_EA_RDREQ": 100, "TCC_EA_RDREQ_32B": 10, "TCC_EA_WRREQ": 50, "TCC_EA_WRREQ_64B": 20},
            6080,
            2240,
        ),
        # MI300: 30 x 128 B (TCC_BUBBLE) + 60 x 64 B + 10 x 32 B read.
        (
            {
                "TCC_EA0_RDREQ": 100,
                "TCC_EA0_RDREQ_32B": 10,
                "TCC_BUBBLE": 30,
                "TCC_EA0_WRREQ": 50,
                "TCC_EA0_WRREQ_64B": 20,
            },
            8000,
            2240,
        ),
    ],
    ids=["MI200", "MI300"],
)
def test_hbm_byte_formulas(counters: dict[str, int], read: int, write: int) -> None:
    frame = rocprof.byte_metrics(pd.DataFrame({name: [float(value)] for name, value in counters.items()}))
    assert frame.iloc[0].to_dict() == {
        "dram_bytes_read": read,
        "dram_bytes_write": write,
        "dram_bytes": read + write,
    }


def test_per_instance_tcc_counters_give_canonical_bytes(tmp_path: Path) -> None:
    # A rocprof v1 results file with TCC counters per instance, written here in v1's layout.
    header = "Index,KernelName,gpu-id,queue-id,queue-index,pid,tid,grd,wgr,lds,scr,arch_vgpr,accum_vgpr,sgpr,wave_size,sig,obj"
    counters = "TCC_EA_RDREQ[0],TCC_EA_RDREQ[1],TCC_EA_RDREQ_32B[0],TCC_EA_RDREQ_32B[1],TCC_EA_WRREQ_sum,TCC_EA_WRREQ_64B_sum"
    times = "DispatchNs,BeginNs,EndNs,CompleteNs"
    record = '0,"decode_kv_scan_kernel(float const*, int)",0,0,0,1,1,1024,256,0,0,8,0,16,64,0x0,0x1,60,40,5,5,50,20,100,200,1200,1300'
    path = tmp_path / "results.csv"
    path.write_text(f"{header},{counters},{times}\n{record}\n")
    frame = parse_file(path)
    assert _launch(frame, 0)["TCC_EA_RDREQ[1]"] == 40.0
    assert _canonical(frame, "dram_bytes_read")[0] == 10 * 32 + 90 * 64
    assert _canonical(frame, "dram_bytes_write")[0] == 20 * 64 + 30 * 32
    assert _canonical(frame, "dram_bytes")[0] == 6080 + 2240
    assert _canonical(frame, "duration")[0] == 1000.0
    assert frame[frame["metric"] == "dram_bytes"]["unit"].iloc[0] == "byte"


def test_valu_busy_and_dram_throughput() -> None:
    device = rocprof.RocmDevice("gfx90a", "AMD Instinct MI250X", 110, 1, 32, 1.6384e12)
    totals = pd.DataFrame(
        {
            "GRBM_GUI_ACTIVE": [1000.0],
            "SQ_ACTIVE_INST_VALU": [55_000.0],
            "TCC_EA_RDREQ": [1e6],
            "TCC_EA_RDREQ_32B": [0.0],
            "TCC_EA_WRREQ": [0.0],
            "TCC_EA_WRREQ_64B": [0.0],
        }
    )
    derived = rocprof.device_metrics(totals, pd.Series([100_000.0]), device)
    assert derived.loc[0, "valu_busy"] == pytest.approx(100 * 55_000 / (1000 * 110))
    assert derived.loc[0, "dram_throughput"] == pytest.approx(100 * 64e6 / 1e-4 / 1.6384e12)


def test_rocminfo_and_peak_bandwidth() -> None:
    mi250x = MI300X_ROCMINFO.replace("gfx942", "gfx90a").replace("MI300X", "MI250X").replace("304", "110")
    device = rocprof.parse_rocminfo(mi250x)
    assert (device.gfx, device.compute_units, device.num_xcd, device.peak_bandwidth) == (
        "gfx90a",
        110,
        1,
        1.6384e12,
    )
    assert rocprof.FAMILY_OF_GFX[device.gfx] == "MI200"
    assert rocprof.peak_bandwidth(2.0e12, device) == 2.0e12
    assert rocprof.peak_bandwidth(None, device) == 1.6384e12
    assert rocprof.peak_bandwidth(None, None) is None
    with pytest.raises(ToolError, match="no GPU agent"):
        rocprof.parse_rocminfo(MI300X_ROCMINFO.split("Agent 2")[0])


# --- generations and command lines --------------------------------------------------------------


def test_detect_prefers_the_newest_generation() -> None:
    installed = {"rocprof": "/opt/rocm/bin/rocprof", "rocprofv3": "/opt/rocm/bin/rocprofv3"}
    asked = []

    def version_of(argv: list[str]) -> str:
        asked.append(argv)
        return "rocprofv3 version 0.4.0"

    tool = rocprof.detect_tool(installed.get, version_of)
    assert tool == rocprof.RocprofTool("v3", "/opt/rocm/bin/rocprofv3", "rocprofv3 version 0.4.0")
    assert asked == [["/opt/rocm/bin/rocprofv3", "--version"]]
    only_v2 = rocprof.detect_tool({"rocprofv2": "/r/rocprofv2"}.get, version_of)
    assert only_v2 == rocprof.RocprofTool("v2", "/r/rocprofv2", "")
    only_v1 = rocprof.detect_tool({"rocprof": "/r/rocprof"}.get, lambda argv: "ROCProfiler: 1.0")
    assert (only_v1.generation, only_v1.version) == ("v1", "ROCProfiler: 1.0")
    with pytest.raises(ToolError, match="no rocprof found on PATH") as caught:
        rocprof.detect_tool(lambda name: None, version_of)
    assert "\n" not in str(caught.value)


def test_argv_of_each_generation(tmp_path: Path) -> None:
    program = ["./bench", "--T", "1024"]
    passes = rocprof.COUNTER_PASSES["MI300"]
    assert rocprof.profile_commands("v1", program, passes, tmp_path) == [
        ["rocprof", "--stats", "--timestamp", "on", "-i", str(tmp_path / "counters.txt"),
         "-o", str(tmp_path / "results.csv"), *program],
    ]  # fmt: skip
    assert rocprof.profile_commands("v2", program, passes, tmp_path) == [
        ["rocprofv2", "--kernel-trace", "-i", str(tmp_path / "counters.txt"), "-d", str(tmp_path), "-o", "results",
         *program],
    ]  # fmt: skip
    v3 = rocprof.profile_commands("v3", program, passes, tmp_path)
    assert len(v3) == len(passes)
    assert v3[0] == [
        "rocprofv3", "--kernel-trace", "--pmc", *passes[0], "--stats", "--output-format", "csv",
        "-d", str(tmp_path), "-o", "pass0", "--", *program,
    ]  # fmt: skip
    assert rocprof.profile_commands("v3", program, (), tmp_path) == [
        ["rocprofv3", "--kernel-trace", "--stats", "--output-format", "csv", "-d", str(tmp_path), "-o", "pass0",
         "--", *program],
    ]  # fmt: skip
    assert "-i" not in rocprof.profile_commands("v1", program, (), tmp_path)[0]
    with pytest.raises(ValueError, match="unknown rocprof generation"):
        rocprof.profile_commands("v9", program, passes, tmp_path)


def test_counter_input_and_pass_limits() -> None:
    passes = rocprof.COUNTER_PASSES["MI200"]
    assert rocprof.counter_input(passes).splitlines()[0] == (
        "pmc: TCC_EA_RDREQ_sum TCC_EA_RDREQ_32B_sum TCC_EA_WRREQ_sum TCC_EA_WRREQ_64B_sum"
    )
    for family_passes in rocprof.COUNTER_PASSES.values():
        for counters in family_passes:
            assert sum(name.startswith("TCC") for name in counters) <= 4
            assert sum(name.startswith("GRBM") for name in counters) <= 2
            if "SQ_ACCUM_PREV_HIRES" in counters:
                assert counters[counters.index("SQ_ACCUM_PREV_HIRES") - 1] == "SQ_LEVEL_WAVES"
        needed = {c for formulas in rocprof.BYTE_FORMULAS.values() for f in formulas for c in f.counters}
        collected = {name.removesuffix("_sum") for counters in family_passes for name in counters}
        assert any(set(f.counters) <= collected for f in rocprof.BYTE_FORMULAS["dram_bytes_read"])
        assert needed & collected


# --- the runner, against a stand-in rocprofv3 ---------------------------------------------------

FAKE_ROCPROFV3 = """#!/bin/sh
[ "$1" = --version ] && { echo "rocprofv3 (fake) 1.0"; exit 0; }
[ -n "$FAKE_FAIL" ] && { echo "rocprofv3: error" >&2; exit 1; }
while [ $# -gt 0 ] && [ "$1" != -d ]; do shift; done
mkdir -p "$2/host/1234" && cp "$FAKE_TRACE" "$2/host/1234/$4_kernel_trace.csv"
"""


@pytest.fixture
def fake_rocprofv3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> rocprof.RocprofTool:
    script = tmp_path / "rocprofv3"
    script.write_text(FAKE_ROCPROFV3)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_TRACE", str(V3_TRACE_22))
    return rocprof.RocprofTool("v3", str(script), "fake")


def test_profile_moves_complete_outputs(tmp_path: Path, fake_rocprofv3: rocprof.RocprofTool) -> None:
    out = tmp_path / "point"
    final = rocprof.profile(Path("bench"), POINT, out, 1, 2, 60, "MI300", fake_rocprofv3)
    assert final == out / "rocprof" and [p.name for p in out.iterdir()] == ["rocprof"]
    traces = sorted(final.rglob("*_kernel_trace.csv"))
    assert [p.name for p in traces] == [
        "pass0_kernel_trace.csv",
        "pass1_kernel_trace.csv",
        "pass2_kernel_trace.csv",
    ]
    assert traces[0].read_bytes() == V3_TRACE_22.read_bytes()
    record = json.loads((final / "rocprof_command.json").read_text())
    assert record["generation"] == "v3" and record["family"] == "MI300" and len(record["argv"]) == 3
    assert parse_file(traces[0])["launch"].nunique() == 9


def test_failed_pass_leaves_nothing(
    tmp_path: Path, fake_rocprofv3: rocprof.RocprofTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(PointFailed, match="failed with exit code 1"):
        rocprof.profile(Path("bench"), POINT, tmp_path / "point", 1, 2, 60, None, fake_rocprofv3)
    assert list((tmp_path / "point").iterdir()) == []


def test_missing_rocprof_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="no rocprof found") as caught:
        rocprof.profile(Path("bench"), POINT, tmp_path / "point", 1, 2, 60, None)
    assert "\n" not in str(caught.value) and not (tmp_path / "point").exists()


# --- real-world damage ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GUNROCK_STATS, V2_WAVES, V3_TRACE_22, V3_COUNTER_19], ids=lambda p: p.name)
def test_bom_and_crlf_do_not_change_the_result(tmp_path: Path, path: Path) -> None:
    windows = tmp_path / path.name
    windows.write_bytes(b"\xef\xbb\xbf" + path.read_text().replace("\n", "\r\n").encode())
    expected = parse_file(path).drop(columns="source_file")
    pd.testing.assert_frame_equal(parse_file(windows).drop(columns="source_file"), expected)


def test_tool_and_program_lines_around_the_table(tmp_path: Path) -> None:
    header, *records = V3_TRACE_22.read_text().splitlines()
    noisy = tmp_path / "captured.txt"
    noise = ["ROCProfiler: input from counters.txt", "==PROF== Connected", "==WARNING== clocks, not locked"]
    noisy.write_text("\n".join([*noise, header, records[0], *noise, *records[1:], "done: 9 kernels"]) + "\n")
    expected = parse_file(V3_TRACE_22).drop(columns="source_file")
    pd.testing.assert_frame_equal(parse_file(noisy).drop(columns="source_file"), expected)


def test_n_a_counter_is_a_nan_row(tmp_path: Path) -> None:
    lines = V2_WAVES.read_text().splitlines()
    lines[1] = lines[1].replace(",496419.0,496419.0,", ",n/a,496419.0,", 1)
    path = tmp_path / "n_a.csv"
    path.write_text("\n".join(lines) + "\n")
    frame = parse_file(path)
    grbm = frame[(frame["launch"] == 0) & (frame["metric"] == "GRBM_COUNT")].iloc[0]
    assert grbm["raw_value"] == "n/a" and pd.isna(grbm["value"])
    assert _launch(frame, 1)["GRBM_COUNT"] == 455818.0


def test_cli_profile_rocprof(
    tmp_path: Path, fake_rocprofv3: rocprof.RocprofTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{Path(fake_rocprofv3.executable).parent}{os.pathsep}{os.environ['PATH']}")
    argv = [
        "profile-rocprof",
        "bench",
        "--point",
        POINT.id,
        "--out-dir",
        str(tmp_path / "point"),
        "--family",
        "none",
    ]
    assert cli.main(argv) == 0
    record = json.loads((tmp_path / "point" / "rocprof" / "rocprof_command.json").read_text())
    assert (record["generation"], record["version"], record["family"]) == ("v3", "rocprofv3 (fake) 1.0", None)
    assert len(record["argv"]) == 1 and "--pmc" not in record["argv"][0]


def test_cli_optional_rocprof_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    argv = ["profile-rocprof", "bench", "--point", POINT.id, "--out-dir", str(tmp_path / "out"), "--optional"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "pdprof profile-rocprof: skipped: no rocprof found on PATH"
    )
    assert (tmp_path / "out" / "rocprof_skipped.txt").is_file()
