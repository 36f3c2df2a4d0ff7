"""pdprof compare: matching, direction-aware regressions, exit codes; synthetic runs and the H100 capture."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from test_validate_extended import capture_frame

from pdprof import cli, compare, dataset

SHAPE = {"variant": "seed", "L": 32, "H": 4096, "heads": 32, "kv_heads": 8, "iters_fma": 256}
METRICS = {  # (profiler, phase, metric): (value at T, unit)
    ("bench", "decode", "step_time"): (lambda T: 1000.0 * T, "ns"),
    ("bench", "decode", "effective_bandwidth"): (lambda T: 100e9, "byte/second"),
    ("bench", "prefill", "tokens_per_s"): (lambda T: 3e5, "1/second"),
    ("bench", "prefill", "kernel_flops"): (lambda T: 2.0e11 * T, "flop"),
    ("ncu", "decode", "dram_throughput"): (lambda T: 1.2, "%"),
    ("ncu", "decode", "dram__bytes_read.sum"): (lambda T: 8192.0 * T, "byte"),
}


def make_run(
    gpu: str = "nvidia-h100-80gb-hbm3",
    t_values: tuple[int, ...] = (1024, 2048),
    scale: dict[str, float] | None = None,
    launches: int = 3,
) -> pd.DataFrame:
    """Rows of one run; *scale* multiplies metrics by name (the candidate's changes)."""
    scale = scale or {}
    rows = []
    for T in t_values:
        for (profiler, phase, metric), (value_of, unit) in METRICS.items():
            for launch in range(launches if profiler == "ncu" else 1):
                jitter = 1 + 0.01 * (launch - 1) if profiler == "ncu" else 1  # median: middle launch
                rows.append(
                    {
                        "gpu": gpu,
                        "gpu_name": gpu.upper(),
                        "git_rev": "abc1234",
                        "profiler": profiler,
                        "point": f"seed-T{T}",
                        **SHAPE,
                        "T": T,
                        "phase": phase,
                        "kernel": phase,
                        "launch": launch,
                        "metric": metric,
                        "value": value_of(T) * scale.get(metric, 1.0) * jitter,
                        "unit": unit,
                    }
                )
    return pd.DataFrame(rows)


def write_run(frame: pd.DataFrame, root: Path) -> Path:
    for gpu in frame["gpu"].unique():
        for profiler in frame["profiler"].unique():
            dataset.write_partition([frame], root, gpu, profiler)
    return root


def by_metric(table: pd.DataFrame, metric: str, T: int = 2048) -> pd.Series:
    return table[(table["metric"] == metric) & (table["T"] == T)].iloc[0]


def test_direction_aware_flags():
    base = make_run()
    changed = make_run(
        scale={"step_time": 1.10, "tokens_per_s": 1.20, "dram_throughput": 0.97, "kernel_flops": 1.5}
    )
    result = compare.compare(base, changed, threshold_pct=5.0)
    table = result.table
    slower = by_metric(table, "step_time")
    assert slower["delta_pct"] == pytest.approx(10.0) and slower["status"] == "regression"
    assert slower["a"] == pytest.approx(2048 * 1000.0)
    assert by_metric(table, "tokens_per_s")["status"] == "improvement"
    assert by_metric(table, "dram_throughput")["status"] == ""  # -3 % is inside the threshold
    assert by_metric(table, "kernel_flops")["status"] == ""  # no direction: listed, never flagged
    assert len(result.regressions()) == 2 and len(result.improvements()) == 2  # per T
    assert "dram__bytes_read.sum" not in set(table["metric"])  # raw counters only on request
    assert "dram__bytes_read.sum" in set(compare.compare(base, changed, all_metrics=True).table["metric"])


@pytest.mark.parametrize(("metric", "factor", "status"), [("effective_bandwidth", 0.8, "regression"),
                                                            ("effective_bandwidth", 1.2, "improvement"),
                                                            ("step_time", 0.8, "improvement"),
                                                            ("step_time", 1.049, "")])  # fmt: skip
def test_higher_bandwidth_is_better_and_lower_time_is_better(metric, factor, status):
    table = compare.compare(make_run(), make_run(scale={metric: factor})).table
    assert by_metric(table, metric)["status"] == status


def test_threshold_and_unmatched_keys():
    base, changed = make_run(t_values=(1024, 2048, 4096)), make_run(scale={"step_time": 1.10})
    result = compare.compare(base, changed, threshold_pct=15.0)
    assert result.regressions().empty
    assert result.only_a == 5 and result.only_b == 0  # the T=4096 point's canonical metrics


def test_zero_baseline_has_no_relative_change():
    base, changed = make_run(scale={"step_time": 0.0}), make_run()
    row = by_metric(compare.compare(base, changed).table, "step_time")
    assert math.isnan(row["delta_pct"]) and row["status"] == ""
    assert math.isnan(compare._delta_pct(0.0, 1.0)) and compare._delta_pct(0.0, 0.0) == 0.0


def test_no_common_rows_is_an_error():
    with pytest.raises(compare.PdprofError, match="share no"):
        compare.compare(make_run(t_values=(1024,)), make_run(t_values=(2048,)))


def test_cli_exit_code_and_markdown(tmp_path, capsys):
    run_a = write_run(make_run(), tmp_path / "a")
    run_b = write_run(make_run(scale={"step_time": 1.10}), tmp_path / "b")
    out = tmp_path / "compare.md"
    assert cli.main(["compare", str(run_a), str(run_b), "--out", str(out)]) == 1
    assert "2 regression(s)" in capsys.readouterr().out
    text = out.read_text()
    assert text.index("## Regressions") < text.index("## All metrics")
    assert "| step_time | ns | 2,048,000 | 2,252,800 | +10.00 | **REGRESSION** |" in text
    assert cli.main(["compare", str(run_a), str(run_b), "--threshold-pct", "20"]) == 0
    assert "## Regressions" not in capsys.readouterr().out


def test_cli_picks_gpus_from_one_root_and_reports_bad_input(tmp_path, capsys):
    both = pd.concat([make_run(), make_run(gpu="nvidia-a100-sxm4-80gb", scale={"step_time": 2.0})])
    root = write_run(both, tmp_path / "dataset")
    assert cli.main(["compare", str(root), str(root)]) == 2
    assert "several GPUs" in capsys.readouterr().err
    argv = [
        "compare",
        str(root),
        str(root),
        "--gpu-a",
        "nvidia-h100-80gb-hbm3",
        "--gpu-b",
        "nvidia-a100-sxm4-80gb",
    ]
    assert cli.main(argv) == 1
    assert "NVIDIA-A100-SXM4-80GB" in capsys.readouterr().out
    assert cli.main(["compare", str(root), str(root), "--gpu-a", "nvidia-v100"]) == 2
    assert cli.main(["compare", str(tmp_path / "missing"), str(root)]) == 2
    assert "no such dataset" in capsys.readouterr().err


def test_h100_capture_against_itself_shows_no_change(tmp_path, capsys):
    root = write_run(capture_frame(), tmp_path / "dataset")
    result = compare.compare(compare.load_run(root), compare.load_run(root))
    assert len(result.table) > 300 and result.only_a == result.only_b == 0
    assert (result.table["delta_pct"] == 0).all() and (result.table["status"] == "").all()
    assert cli.main(["compare", str(root), str(root)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out
