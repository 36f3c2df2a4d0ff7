"""Figures of the committed H100 capture: the CSVs hold the plotted numbers, reruns give the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pdprof import dataset, plots, validate
from pdprof.cli import main
from pdprof.reproduce import replay_dataset

REPO = Path(__file__).resolve().parents[1]
SLUG = "nvidia-h100-80gb-hbm3"
REFERENCE_POINT = "seed-L32-H4096-h32-kv8-T2048-f256"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return replay_dataset(REPO / "captures" / SLUG)


@pytest.fixture(scope="module")
def figures(frame, tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("figures")
    plots.write_figures(frame, out_dir)
    return out_dir


def csv(figures: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(figures / f"{name}.csv")


def bench_medians(frame: pd.DataFrame, phase: str, metric: str) -> pd.Series:
    rows = frame[(frame.profiler == "bench") & (frame.phase == phase) & (frame.metric == metric)]
    return rows.groupby("point")["value"].median()


# The H100 capture sweeps neither batch nor page size: those figures are drawn empty, saying so.
WITHOUT_DATA_HERE = {"decode_bandwidth_vs_batch", "paged_vs_page_size"}


def test_every_figure_is_written_as_png_svg_and_csv(figures):
    for name in plots.FIGURES:
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (figures / f"{name}.svg").read_bytes()[:1000]
        assert (len(csv(figures, name)) > 0) is (name not in WITHOUT_DATA_HERE)


def test_decode_time_csv_holds_the_bench_medians_and_the_checked_fit(frame, figures):
    data = csv(figures, "decode_time_vs_T").set_index("point")
    medians = bench_medians(frame, "decode", "step_time")
    assert set(data.index) == set(medians.index)  # all 10 points: iters_fma does not shape decode
    assert (data["step_time_ns"] == medians[data.index]).all()
    slope, intercept = np.polyfit(data["T"], data["step_time_ns"], 1)
    assert data["fit_slope_ns_per_T"].iloc[0] == pytest.approx(slope, rel=1e-12)
    assert data["fit_step_time_ns"].to_numpy() == pytest.approx(intercept + slope * data["T"].to_numpy())
    # the figure shows the fit the decode_linear_in_T check judges
    checks = {c["id"]: c for c in validate.validate(frame)["checks"]}
    assert data["fit_r2"].iloc[0] == pytest.approx(checks["decode_linear_in_T"]["measured"], rel=1e-9)
    assert slope == pytest.approx(checks["decode_linear_in_T"]["details"]["slope"], rel=1e-9)


def test_prefill_time_csv_is_the_iters_fma_sweep_at_fixed_T(frame, figures):
    data = csv(figures, "prefill_time_vs_iters_fma").set_index("point")
    assert data["iters_fma"].tolist() == [64, 128, 256, 512, 1024]
    assert set(data["T"]) == {2048}  # the T sweep's points (iters_fma 256) belong to another group
    assert (data["step_time_ns"] == bench_medians(frame, "prefill", "step_time")[data.index]).all()
    assert (data["step_time_min_ns"] <= data["step_time_ns"]).all()
    assert (data["step_time_ns"] <= data["step_time_max_ns"]).all()


def test_sm_vs_dram_has_one_row_per_profiled_launch_with_the_ncu_values(frame, figures):
    data = csv(figures, "sm_vs_dram")
    ncu = frame[(frame.profiler == "ncu") & (frame.metric == "sm_throughput")]
    assert len(data) == len(ncu) == 20  # 10 points x (prefill, decode)
    assert set(data["kernel"]) == {"prefill_fma_kernel", "decode_kv_scan_kernel"}
    row = data[(data.point == REFERENCE_POINT) & (data.phase == "prefill")].iloc[0]
    raw = ncu[(ncu.point == REFERENCE_POINT) & (ncu.phase == "prefill")]["value"].iloc[0]
    assert row["sm_throughput_pct"] == raw


def test_roofline_takes_flops_from_the_ffma_counter_and_the_ceilings_from_device_and_datasheet(
    frame, figures
):
    data = csv(figures, "roofline")
    assert set(data["flops_source"]) == {"ncu ffma x2"}
    assert (data["arithmetic_intensity_flop_per_byte"] == data["flops"] / data["dram_bytes"]).all()
    assert data["achieved_flop_per_s"].to_numpy() == pytest.approx(
        (data["flops"] / (data["duration_ns"] * 1e-9)).to_numpy(), rel=1e-15
    )
    # for the seed prefill the hardware count is the benchmark's own count per layer launch
    # (bench.json prints kernel_flops to 7 significant digits)
    prefill = data[data.phase == "prefill"].set_index("point")["flops"]
    per_launch = bench_medians(frame, "prefill", "kernel_flops") / 32
    assert prefill.to_numpy() == pytest.approx(per_launch[prefill.index].to_numpy(), rel=1e-6)
    peak = bench_medians(frame, "prefill", "peak_dram_bandwidth").iloc[0]
    assert set(data["peak_dram_bandwidth_bytes_per_s"]) == {peak}
    assert set(data["peak_flop_per_s"]) == {67e12}


def test_roofline_falls_back_to_bench_flops_without_the_counter(frame):
    without = frame[frame.metric != plots.FFMA_METRIC]
    data = plots.figure_data(without, "roofline")
    assert set(data["flops_source"]) == {"bench kernel_flops / L"}
    decode = data[(data.phase == "decode") & (data.point == REFERENCE_POINT)]["flops"].iloc[0]
    assert decode == bench_medians(frame, "decode", "kernel_flops")[REFERENCE_POINT] / 32


def test_roofline_leaves_out_a_kernel_without_fp32_fmas_and_still_draws(frame, tmp_path):
    # cuBLAS's tensor-core GEMMs execute no FFMA: zero FLOPs have no place on a log-log roof
    # (the figure used to fail on log10(0) for the prefill_gemm sweep).
    zeroed = frame.copy()
    prefill_ffma = (zeroed.metric == plots.FFMA_METRIC) & (zeroed.phase == "prefill")
    zeroed.loc[prefill_ffma, "value"] = 0.0
    data = plots.figure_data(zeroed, "roofline")
    assert set(data["phase"]) == {"decode"} and (data["flops"] > 0).all()
    only_zero = zeroed[(zeroed.profiler != "ncu") | (zeroed.phase == "prefill")]
    assert plots.figure_data(only_zero, "roofline").empty
    paths = plots.write_figures(only_zero, tmp_path, formats=("png",))
    assert (tmp_path / "roofline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(paths) == 2 * len(plots.FIGURES)


def test_ceilings_are_parameters_then_config_then_data(frame):
    given = plots.resolve_limits(frame, peak_dram_bandwidth=2e12, peak_flops=50e12)
    data = plots.figure_data(frame, "roofline", given)
    assert set(data["peak_dram_bandwidth_bytes_per_s"]) == {2e12}
    assert set(data["peak_flop_per_s"]) == {50e12}
    configured = plots.resolve_limits(frame, {"peak_dram_bandwidth": 3e12, "dominance_ratio": 3})
    assert (configured.peak_dram_bandwidth, configured.peak_dram_source) == (3e12, "config")
    assert configured.dominance_ratio == 3
    assert plots.resolve_limits(frame).peak_dram_source == "device-reported theoretical"


def test_bandwidth_fraction_is_the_checked_fraction(frame, figures):
    data = csv(figures, "decode_bandwidth_fraction_vs_T")
    bench = data[data.source == "bench"].set_index("point")
    expected = bench_medians(frame, "decode", "effective_bandwidth") / 3.35232e12
    assert bench["fraction"].to_numpy() == pytest.approx(expected[bench.index].to_numpy(), rel=1e-12)
    checks = {c["id"]: c for c in validate.validate(frame)["checks"]}
    measured = checks["decode_bandwidth_fraction"]["measured"] / 100
    assert bench.loc[REFERENCE_POINT, "fraction"] == pytest.approx(measured, rel=1e-12)
    assert len(data[data.source == "ncu"]) == 10


def test_missing_rows_still_give_every_figure(frame, tmp_path):
    paths = plots.write_figures(frame[frame.profiler == "bench"], tmp_path, formats=("png",))
    assert {p.name for p in paths} == {f"{n}.{e}" for n in plots.FIGURES for e in ("png", "csv")}
    assert pd.read_csv(tmp_path / "sm_vs_dram.csv").empty


def test_pdprof_figures_reruns_give_identical_bytes(frame, figures, tmp_path):
    parquet = tmp_path / "dataset.parquet"
    dataset.write_frame(frame, parquet)
    assert main(["figures", str(parquet), "--out-dir", str(tmp_path / "{gpu}")]) == 0
    for name in plots.FIGURES:
        for ext in ("png", "svg", "csv"):
            rerun = (tmp_path / SLUG / f"{name}.{ext}").read_bytes()
            assert rerun == (figures / f"{name}.{ext}").read_bytes(), f"{name}.{ext} differs on rerun"
