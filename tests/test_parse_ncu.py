"""Parsing real ncu CSV output into the tidy frame (pdprof.parse, pdprof.profilers.ncu).

Expected values are the ones printed in the fixture files, read by eye:
tests/data/ncu_h100_probe/ (H100, ncu 2025.3.1, see SOURCE.md) and
tests/data/profiler-samples/ncu_details/ (A100 and RTX 5090 files from public
repositories, see SOURCE.txt).
"""

from __future__ import annotations

import csv
import functools
import json
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parse_fuzz import _parse_bytes

from pdprof.errors import ProfilerOutputError
from pdprof.parse import (
    PARSERS,
    TIDY_COLUMNS,
    detect_tool,
    main,
    parse_file,
    parse_files,
    read_text,
    short_kernel_name,
    write_parquet,
)
from pdprof.profilers import ncu
from pdprof.profilers.ncu import CANONICAL_METRICS, CANONICAL_SECTION

DATA = Path(__file__).parent / "data"
H100 = DATA / "ncu_h100_probe"
H100_DETAILS = H100 / "ncu_details.csv"
H100_RAW = H100 / "ncu_raw.csv"
H100_STDOUT = H100 / "ncu_direct_stdout.csv"
SAMPLES = DATA / "profiler-samples" / "ncu_details"
A100 = SAMPLES / "a100_ncu2025_clima_baseline-details.csv"
RTX_DETAILS = SAMPLES / "rtx5090_cc120_kernel0001_ncu.details.csv"
RTX_SOL = SAMPLES / "rtx5090_cc120_kernel0001_ncu.section_SpeedOfLight.csv"
ALL_FIXTURES = [H100_DETAILS, H100_RAW, H100_STDOUT, A100, RTX_DETAILS, RTX_SOL]

PREFILL = "<unnamed>::prefill_fma_kernel(const float *, const float *, float *, int, int)"
DECODE = (
    "<unnamed>::decode_kv_scan_kernel(const float *, const float *, const float *, float *, int, int, int)"
)
RTX_KERNEL = (
    "enable_if<!T7, void>::type kernel<int, int, __nv_bfloat16, __nv_bfloat16, __nv_bfloat16, float, "
    "0, 1, 1, 0, 7, 0, cublasGemvParamsEx<int, cublasGemvTensorStridedBatched<const __nv_bfloat16>, "
    "cublasGemvTensorStridedBatched<const __nv_bfloat16>, cublasGemvTensorStridedBatched<__nv_bfloat16>, "
    "float>>(T13)"
)
NCU_HEADER = (
    '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
    '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"'
)


def _row(frame: pd.DataFrame, launch: int, metric: str, section: str | None = None) -> pd.Series:
    match = frame[(frame["launch"] == launch) & (frame["metric"] == metric)]
    if section is not None:
        match = match[match["section"] == section]
    assert len(match) == 1, f"{len(match)} rows for launch {launch} {metric}"
    return match.iloc[0]


def _canonical(frame: pd.DataFrame, launch: int, name: str) -> float:
    return float(_row(frame, launch, name, CANONICAL_SECTION)["value"])


def _canonical_names(frame: pd.DataFrame, launch: int) -> set[str]:
    rows = frame[(frame["launch"] == launch) & (frame["section"] == CANONICAL_SECTION)]
    return set(rows["metric"])


@functools.cache
def parsed(path: Path) -> pd.DataFrame:
    """Each fixture file is parsed once per session; tests must not modify the frame."""
    return parse_file(path)


@pytest.fixture
def h100_details() -> pd.DataFrame:
    return parsed(H100_DETAILS)


@pytest.fixture
def h100_raw() -> pd.DataFrame:
    return parsed(H100_RAW)


# --- shape of the frame ---------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_columns_and_dtypes(path: Path) -> None:
    frame = parsed(path)
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert frame["launch"].dtype == np.int64
    assert frame["value"].dtype == np.float64
    for column in TIDY_COLUMNS:
        if column not in ("launch", "value"):
            assert pd.api.types.is_string_dtype(frame[column]), column
            assert frame[column].map(type).eq(str).all(), column
    assert set(frame["tool"]) == {"ncu"}
    assert set(frame["source_file"]) == {str(path)}


@pytest.mark.parametrize(
    ("path", "launches"),
    [(H100_DETAILS, 4), (H100_RAW, 4), (H100_STDOUT, 2), (A100, 6), (RTX_DETAILS, 1), (RTX_SOL, 1)],
    ids=lambda x: getattr(x, "name", str(x)),
)
def test_number_of_launches(path: Path, launches: int) -> None:
    assert parsed(path)["launch"].nunique() == launches


def test_identity_columns_from_the_h100_details(h100_details: pd.DataFrame) -> None:
    first = _row(h100_details, 0, "dram__bytes_read.sum")
    assert first["kernel"] == PREFILL
    assert first["kernel_short"] == "prefill_fma_kernel"
    assert (first["block_size"], first["grid_size"]) == ("(256, 1, 1)", "(524288, 1, 1)")
    assert (first["device"], first["cc"], first["stream"]) == ("0", "9.0", "13")
    assert first["section"] == "Command line profiler metrics"
    assert first["page"] == "details"
    decode = _row(h100_details, 2, "dram__bytes_read.sum")
    assert (decode["kernel"], decode["kernel_short"]) == (DECODE, "decode_kv_scan_kernel")
    assert decode["grid_size"] == "(4, 1, 1)"


# --- values from the details page -------------------------------------------------------


def test_details_values_are_in_base_units(h100_details: pd.DataFrame) -> None:
    read = _row(h100_details, 0, "dram__bytes_read.sum")
    assert (read["raw_value"], read["raw_unit"], read["unit"]) == ("536.93", "Mbyte", "byte")
    assert read["value"] == pytest.approx(536_930_000.0, rel=1e-12)
    duration = _row(h100_details, 0, "gpu__time_duration.sum")
    assert (duration["raw_value"], duration["raw_unit"]) == ("3.55", "ms")
    assert (duration["value"], duration["unit"]) == (pytest.approx(3_550_000.0, rel=1e-12), "ns")
    ffma = _row(h100_details, 0, "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum")
    assert (ffma["raw_value"], ffma["value"], ffma["unit"]) == ("68,719,476,736", 68_719_476_736.0, "inst")
    clock = _row(h100_details, 0, "sm__cycles_elapsed.avg.per_second")
    assert (clock["value"], clock["unit"]) == (pytest.approx(1.98e9), "hz")
    assert _row(h100_details, 2, "lts__t_bytes.sum")["value"] == pytest.approx(405.93e6)
    assert _row(h100_details, 0, "lts__t_bytes.sum")["value"] == pytest.approx(1.61e9)
    registers = _row(h100_details, 0, "launch__registers_per_thread")
    assert (registers["value"], registers["unit"]) == (16.0, "register/thread")


def test_canonical_rows_from_the_h100_details(h100_details: pd.DataFrame) -> None:
    assert _canonical_names(h100_details, 0) == set(CANONICAL_METRICS)
    assert _canonical(h100_details, 0, "duration") == pytest.approx(3.55e6)
    assert _canonical(h100_details, 0, "dram_bytes_read") == pytest.approx(536.93e6)
    assert _canonical(h100_details, 0, "dram_bytes_write") == pytest.approx(521.06e6)
    assert _canonical(h100_details, 0, "dram_bytes") == pytest.approx(536.93e6 + 521.06e6)
    assert _canonical(h100_details, 0, "sm_throughput") == pytest.approx(84.03)
    assert _canonical(h100_details, 0, "dram_throughput") == pytest.approx(8.89)
    assert _canonical(h100_details, 0, "l2_read_sectors") == 16_791_404.0
    assert _canonical(h100_details, 0, "l2_hit_rate") == pytest.approx(50.20)
    assert _canonical(h100_details, 0, "achieved_occupancy") == pytest.approx(94.46)
    assert _canonical(h100_details, 0, "sm_frequency") == pytest.approx(1.98e9)
    assert _canonical(h100_details, 0, "dram_frequency") == pytest.approx(2.62e9)
    assert _canonical(h100_details, 3, "dram_bytes") == pytest.approx(268.51e6 + 2.36e6)
    assert _canonical(h100_details, 3, "duration") == pytest.approx(6.37e6)


def test_canonical_rows_carry_the_launch_identity(h100_details: pd.DataFrame) -> None:
    canonical = h100_details[h100_details["section"] == CANONICAL_SECTION]
    assert len(canonical) == 4 * len(CANONICAL_METRICS)
    assert (canonical["raw_value"] == "").all() and (canonical["raw_unit"] == "").all()
    units = dict(zip(canonical["metric"], canonical["unit"], strict=False))
    assert units == {name: spec.unit for name, spec in CANONICAL_METRICS.items()}
    decode = canonical[canonical["launch"] == 2].iloc[0]
    assert (decode["kernel_short"], decode["grid_size"], decode["page"]) == (
        "decode_kv_scan_kernel",
        "(4, 1, 1)",
        "details",
    )


# --- raw page ---------------------------------------------------------------------------


def test_raw_page_has_the_precise_values(h100_raw: pd.DataFrame) -> None:
    read = _row(h100_raw, 0, "dram__bytes_read.sum")
    assert (read["raw_value"], read["raw_unit"], read["section"], read["page"]) == (
        "536.926720",
        "Mbyte",
        "",
        "raw",
    )
    assert read["value"] == pytest.approx(536_926_720.0, rel=1e-12)
    assert _canonical(h100_raw, 0, "dram_bytes_read") == pytest.approx(536_926_720.0, rel=1e-12)
    assert _canonical(h100_raw, 0, "duration") == pytest.approx(3_548_128.0, rel=1e-12)
    assert _canonical(h100_raw, 1, "dram_bytes") == pytest.approx(536_932_608.0 + 521_127_936.0, rel=1e-12)
    ffma = _row(h100_raw, 0, "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum")
    assert ffma["value"] == 68_719_476_736.0
    assert _row(h100_raw, 0, "device__attribute_total_memory")["value"] == 85_017_493_504.0
    assert _row(h100_raw, 2, "launch__grid_size")["block_size"] == "(256, 1, 1)"


def test_raw_page_skips_attribute_strings(h100_raw: pd.DataFrame) -> None:
    metrics = set(h100_raw["metric"])
    for attribute in ("device__attribute_display_name", "launch__func_cache_config", "launch__kernel_name"):
        assert attribute not in metrics
    assert "ID" not in metrics and "Kernel Name" not in metrics


def test_raw_and_details_pages_agree(h100_details: pd.DataFrame, h100_raw: pd.DataFrame) -> None:
    for launch in range(4):
        assert _canonical_names(h100_raw, launch) == _canonical_names(h100_details, launch)
        for name in CANONICAL_METRICS:
            # The details page rounds to 2 decimals in its display unit.
            assert _canonical(h100_details, launch, name) == pytest.approx(
                _canonical(h100_raw, launch, name), rel=5e-3, abs=5e-3
            ), name


# --- captured stdout, encodings, layouts ------------------------------------------------


def test_direct_stdout_parses_despite_tool_and_program_lines(h100_details: pd.DataFrame) -> None:
    frame = parsed(H100_STDOUT)
    requested = set(h100_details["metric"])
    assert set(frame["metric"]) == requested
    assert len(frame) == 2 * (len(requested))
    # This capture prints base units with separators.
    read = _row(frame, 0, "dram__bytes_read.sum")
    assert (read["raw_value"], read["raw_unit"], read["value"]) == ("16,786,688", "byte", 16_786_688.0)
    assert _canonical(frame, 1, "dram_bytes") == 8_401_152.0


def test_bom_and_crlf_do_not_change_the_result(tmp_path: Path, h100_details: pd.DataFrame) -> None:
    text = H100_DETAILS.read_text(encoding="utf-8")
    windows = tmp_path / "windows.csv"
    windows.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    frame = parse_file(windows)
    expected = h100_details.drop(columns="source_file")
    pd.testing.assert_frame_equal(frame.drop(columns="source_file"), expected)


def test_old_function_name_header_is_accepted(tmp_path: Path) -> None:
    old = tmp_path / "old.csv"
    old.write_text(H100_DETAILS.read_text().replace('"Kernel Name"', '"Function Name"', 1))
    frame = parse_file(old)
    assert set(frame["kernel_short"]) == {"prefill_fma_kernel", "decode_kv_scan_kernel"}


def test_detection_is_by_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "report.json"
    renamed.write_bytes(H100_RAW.read_bytes())
    assert detect_tool(renamed) == "ncu"
    assert set(parse_file(renamed)["page"]) == {"raw"}
    assert detect_tool(H100_STDOUT) == "ncu"


# --- other GPUs and ncu versions ---------------------------------------------------------


def test_rtx5090_n_a_values_are_nan_rows_without_canonical() -> None:
    frame = parsed(RTX_DETAILS)
    flops = _row(frame, 0, "flop_count_sp.sum")
    assert flops["raw_value"] == "n/a" and np.isnan(flops["value"])
    assert _row(frame, 0, "sm__ops_path_tensor_src_bf16_dst_fp32.sum")["value"] == 0.0
    assert frame["metric"].ne("").all(), "rule lines must not become rows"
    assert _canonical(frame, 0, "dram_bytes_read") == pytest.approx(2.33e6)
    assert _canonical(frame, 0, "dram_bytes") == pytest.approx(2.33e6)
    assert _canonical(frame, 0, "duration") == pytest.approx(6750.0)
    # Memory Throughput exists twice (% in Speed Of Light, Gbyte/s in Memory Workload Analysis).
    bandwidth = _row(frame, 0, "Memory Throughput", "Memory Workload Analysis")
    assert (bandwidth["value"], bandwidth["unit"]) == (pytest.approx(345.14e9), "byte/second")


def test_rtx5090_kernel_name_with_commas_is_kept_whole() -> None:
    frame = parsed(RTX_SOL)
    assert set(frame["kernel"]) == {RTX_KERNEL}
    assert set(frame["kernel_short"]) == {"kernel"}
    assert set(frame["block_size"]) == {"(32, 4, 1)"} and set(frame["cc"]) == {"12.0"}


def test_section_names_feed_canonical_rows_when_raw_metrics_are_absent() -> None:
    frame = parsed(RTX_SOL)
    assert _canonical_names(frame, 0) == {
        "duration",
        "sm_throughput",
        "dram_throughput",
        "sm_frequency",
        "dram_frequency",
    }
    assert _canonical(frame, 0, "duration") == pytest.approx(6750.0)
    assert _canonical(frame, 0, "sm_throughput") == pytest.approx(9.15)
    assert _canonical(frame, 0, "dram_throughput") == pytest.approx(19.66)
    assert _canonical(frame, 0, "dram_frequency") == pytest.approx(13.72e9)
    elapsed = _row(frame, 0, "SM Active Cycles")
    assert (elapsed["raw_value"], elapsed["value"], elapsed["unit"]) == ("9,495.42", 9495.42, "cycle")


def test_a100_details_with_rules_and_trailing_commas() -> None:
    frame = parsed(A100)
    assert frame["launch"].nunique() == 6
    assert frame["kernel_short"].str.startswith("set_microphysics_tendency_cache__FILE_").all()
    assert _row(frame, 0, "Elapsed Cycles")["value"] == 63_779.0
    assert _row(frame, 0, "DRAM Frequency")["value"] == pytest.approx(1.59e9)
    cache = _row(frame, 0, "Function Cache Configuration")
    assert cache["raw_value"] == "CachePreferNone" and np.isnan(cache["value"])
    assert _canonical(frame, 0, "sm_frequency") == pytest.approx(1.13e9)
    assert _canonical(frame, 0, "achieved_occupancy") == pytest.approx(46.61)
    assert _canonical(frame, 5, "duration") == pytest.approx(30.86e6)
    assert "dram_bytes" not in _canonical_names(frame, 0)


def test_n_a_source_gives_no_canonical_row(tmp_path: Path) -> None:
    lines = H100_DETAILS.read_text().splitlines()
    edited = [
        line.replace('"ms","3.55"', '"ms","n/a"') if line.startswith('"0",') else line for line in lines
    ]
    path = tmp_path / "na.csv"
    path.write_text("\n".join(edited) + "\n")
    frame = parse_file(path)
    assert np.isnan(_row(frame, 0, "gpu__time_duration.sum")["value"])
    assert "duration" not in _canonical_names(frame, 0)
    assert "duration" in _canonical_names(frame, 1)


def test_parse_files_concatenates_in_order() -> None:
    frame = parse_files([H100_DETAILS, RTX_SOL])
    assert list(frame["source_file"].unique()) == [str(H100_DETAILS), str(RTX_SOL)]
    assert len(frame) == len(parsed(H100_DETAILS)) + len(parsed(RTX_SOL))
    assert list(parse_files([]).columns) == list(TIDY_COLUMNS)


@pytest.mark.parametrize(
    ("name", "short"),
    [
        (PREFILL, "prefill_fma_kernel"),
        ("void foo<int>(float*)", "foo"),
        ("ns::bar", "bar"),
        (RTX_KERNEL, "kernel"),
        ("(anonymous namespace)::scale(float *, int)", "scale"),
        (
            "void at::native::elementwise_kernel<128, 2, void at::native::gpu_kernel_impl<"
            "at::native::AddFunctor<float>>(at::TensorIteratorBase &, const T1 &)"
            "::[lambda(int) (instance 1)]>(int, T3)",
            "elementwise_kernel",
        ),
        (
            "set_microphysics_tendency_cache__FILE_ClimaAtmos_jl_L992",
            "set_microphysics_tendency_cache__FILE_ClimaAtmos_jl_L992",
        ),
        ("", ""),
    ],
)
def test_short_kernel_name(name: str, short: str) -> None:
    assert short_kernel_name(name) == short


# --- speed -------------------------------------------------------------------------------


def test_large_details_input_is_fast(tmp_path: Path) -> None:
    header, *records = H100_DETAILS.read_text().splitlines()
    copies = 1500  # 68 records x 1500 = 102,000 rows
    lines = [header]
    for copy in range(copies):
        for record in records:
            launch, rest = record.split('","', 1)
            lines.append(f'"{copy * 4 + int(launch.strip(chr(34)))}","{rest}')
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    frame = parse_file(big)
    assert time.perf_counter() - started < 10.0
    assert frame["launch"].nunique() == 4 * copies
    assert len(frame) == copies * (len(records) + 4 * len(CANONICAL_METRICS))


# --- the fast path (a clean details page, read by pyarrow) and the general path ------------


def _general_path(path: Path) -> pd.DataFrame | None:
    """parse_ncu's rows of the file (the general path, which every file can take); None if it has none."""
    try:
        return ncu.parse_ncu(read_text(path), str(path))
    except ProfilerOutputError:
        return None


def _quoted_table(rows: list[list[str]]) -> str:
    """CSV as ncu writes it: every field quoted, quotes doubled."""
    return "".join(",".join('"' + field.replace('"', '""') + '"' for field in row) + "\n" for row in rows)


@pytest.mark.parametrize("reports", [1, 2], ids=["exported", "two_reports_concatenated"])
def test_fast_path_reads_a_details_page_as_the_general_path_does(tmp_path: Path, reports: int) -> None:
    # Concatenated reports repeat the header: for pyarrow a record whose ID is no launch.
    page = tmp_path / "details.csv"
    page.write_text(H100_DETAILS.read_text() * reports)
    fast = ncu.parse_ncu_file(page)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, _general_path(page))


def test_fast_path_turns_down_what_it_cannot_read(tmp_path: Path) -> None:
    # Captured stdout, the raw page and ncu 2025's rule columns (records of other widths).
    for path in (H100_STDOUT, H100_RAW, A100, RTX_DETAILS, tmp_path / "missing.csv", tmp_path):
        assert ncu.parse_ncu_file(path) is None, path


_MESSY = {
    "bom_crlf": lambda lines: "\ufeff" + "\r\n".join(lines),
    "tool_lines": lambda lines: "\n".join(
        ["==PROF== Connected to process 573", *lines, "==PROF== Disconnected"]
    ),
    "program_output": lambda lines: "\n".join([*lines[:9], "step 1 done, 2 to go", *lines[9:]]),
    "non_ascii": lambda lines: "\n".join(["# gr\u00f6\u00dfe", *lines]),
}


@pytest.mark.parametrize("mess", _MESSY)
def test_messy_output_takes_the_general_path_to_the_clean_rows(tmp_path: Path, mess: str) -> None:
    messy = tmp_path / "messy.csv"
    messy.write_bytes(_MESSY[mess](H100_DETAILS.read_text().splitlines()).encode())
    assert ncu.parse_ncu_file(messy) is None
    pd.testing.assert_frame_equal(
        parse_file(messy).drop(columns="source_file"), parsed(H100_DETAILS).drop(columns="source_file")
    )


_H100_ROWS = [next(csv.reader([line])) for line in H100_DETAILS.read_text().splitlines()]
_FIELD_TEXTS = st.one_of(
    st.sampled_from(
        ["", " ", "n/a", "N/A", "1,234", "12,34", "1,234.5", "1e5", "-5", "+5", ".5", "5.", " 7 ", "0x10",
         "007", "-0", "99999999999999999999", '"', '""', ",", '","', "a,b", "\t3", "\n", "x\ny", "\r"]
    ),
    st.text(max_size=6),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(st.sampled_from(_H100_ROWS[1:]), min_size=1, max_size=25),
    edits=st.lists(
        st.tuples(st.integers(0, 24), st.sampled_from([0, 4, 6, 7, 10, 11, 12, 13, 14]), _FIELD_TEXTS),
        max_size=6,
    ),
    csv_block=st.sampled_from([300, 1000, ncu._CSV_BLOCK]),
    scan_block=st.sampled_from([1, 2, 7, 64, ncu._SCAN_BLOCK]),
)
def test_fast_and_general_paths_agree_on_any_quoted_table(
    records: list[list[str]], edits: list[tuple[int, int, str]], csv_block: int | None, scan_block: int
) -> None:
    """Whatever the fields hold, the fast path gives the general path's rows or turns the file down.

    Small pyarrow blocks put block boundaries inside the table, and between a record's lines;
    small scan blocks put them between a newline and the quote after it.
    """
    rows = [list(record) for record in records]
    for row, column, text in edits:
        rows[row % len(rows)][column] = text
    table = _quoted_table([_H100_ROWS[0], *rows])
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.object(ncu, "_CSV_BLOCK", csv_block),
        mock.patch.object(ncu, "_SCAN_BLOCK", scan_block),
    ):
        path = Path(folder) / "details.csv"
        path.write_bytes(table.encode("utf-8", errors="surrogatepass"))
        expected = _general_path(path)
        fast = ncu.parse_ncu_file(path)
    if fast is not None:
        pd.testing.assert_frame_equal(fast, expected)
    elif table.isascii() and "\r" not in table and table.count("\n") == len(rows) + 1:
        assert expected is None  # a clean page is only turned down when it has no rows


# --- errors ------------------------------------------------------------------------------


ERROR_CASES = ["empty", "binary", "undecodable", "json", "header_only", "missing", "directory"]


def _error_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "random.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    undecodable = tmp_path / "latin1.csv"
    undecodable.write_bytes(
        '"ID","Kernel Name","Metric Name","Metric Value"\n"0","gr\u00f6\u00dfe","m","1"\n'.encode("latin-1")
    )
    json_file = tmp_path / "bench.json"
    json_file.write_text(json.dumps({"schema": "pdprof.bench/1", "prefill": None}))
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(NCU_HEADER + "\n")
    return {
        "empty": empty,
        "binary": binary,
        "undecodable": undecodable,
        "json": json_file,
        "header_only": header_only,
        "missing": tmp_path / "does_not_exist.csv",
        "directory": tmp_path,
    }


@pytest.mark.parametrize("case", ERROR_CASES)
def test_main_reports_bad_input_in_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _error_inputs(tmp_path)[case]
    out = tmp_path / "out" / "parsed.parquet"
    assert main([str(H100_DETAILS), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith(f"pdprof parse: error: {bad}: ")
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize("case", ERROR_CASES)
def test_parse_file_raises_profiler_output_error(case: str, tmp_path: Path) -> None:
    bad = _error_inputs(tmp_path)[case]
    with pytest.raises(ProfilerOutputError) as caught:
        parse_file(bad)
    assert caught.value.path == str(bad)
    assert "\n" not in str(caught.value)


def test_non_profiler_file_names_what_was_expected(tmp_path: Path) -> None:
    json_file = _error_inputs(tmp_path)["json"]
    expected = f"{json_file}: not a recognized profiler output (expected ncu --csv details or raw page or "
    with pytest.raises(ProfilerOutputError, match="not a recognized") as caught:
        detect_tool(json_file)
    assert str(caught.value).startswith(expected)  # then every other registered format
    assert "\n" not in str(caught.value)


def test_forcing_ncu_on_other_output_fails(tmp_path: Path) -> None:
    json_file = _error_inputs(tmp_path)["json"]
    with pytest.raises(ProfilerOutputError, match="not ncu output"):
        parse_file(json_file, tool="ncu")
    assert len(parse_file(H100_DETAILS, tool="ncu")) == len(parsed(H100_DETAILS))


def test_main_writes_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "parsed.parquet"
    assert main([str(H100_DETAILS), str(H100_RAW), "--tool", "ncu", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""
    written = pd.read_parquet(out)
    expected = parse_files([H100_DETAILS, H100_RAW])
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    assert written["launch"].dtype == np.int64 and written["value"].dtype == np.float64
    assert [p.name for p in tmp_path.iterdir()] == ["parsed.parquet"]


def test_tool_choices_come_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert "ncu" in PARSERS
    with pytest.raises(SystemExit):
        main([str(H100_DETAILS), "--tool", "nsys-not-yet", "--out", "x.parquet"])
    assert "auto" in capsys.readouterr().err


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "broken.parquet"
    unwritable = pd.DataFrame({"column": [object()]})
    with pytest.raises((ValueError, TypeError)):
        write_parquet(unwritable, out)
    assert list(tmp_path.iterdir()) == []


# --- anything else -----------------------------------------------------------------------


# Arbitrary bytes: tests/test_parse_fuzz.py, for every parser. Here: ncu headers over mangled records.


_REAL_LINES = H100_DETAILS.read_text().splitlines()[1:] + H100_RAW.read_text().splitlines()[1:3]
_GARBAGE_LINES = st.one_of(
    st.sampled_from(['"', '"0"', '"1","x"', "==PROF== Disconnected", "{}", '"ID",', "\x00", "n/a", ",,,,"]),
    st.text(max_size=40),
)


def _mangled(line: str, data: st.DataObject) -> str:
    """A real record with a slice replaced by arbitrary text."""
    start = data.draw(st.integers(0, len(line)))
    stop = data.draw(st.integers(start, len(line)))
    return line[:start] + data.draw(st.text(max_size=8)) + line[stop:]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    header=st.sampled_from([NCU_HEADER, H100_RAW.read_text().splitlines()[0]]),
    lines=st.lists(st.one_of(st.sampled_from(_REAL_LINES), _GARBAGE_LINES), max_size=12),
    data=st.data(),
)
def test_ncu_header_with_arbitrary_records_parses_or_raises(
    header: str, lines: list[str], data: st.DataObject
) -> None:
    table = [_mangled(line, data) if data.draw(st.booleans()) else line for line in [header, *lines]]
    _parse_bytes("\n".join(table).encode("utf-8", errors="surrogatepass"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=len(H100_STDOUT.read_bytes())))
def test_truncated_capture_parses_or_raises(cut: int) -> None:
    _parse_bytes(H100_STDOUT.read_bytes()[:cut])
