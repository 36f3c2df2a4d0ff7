"""End to end through Snakemake, GPU-free: replay the committed H100 captures into a report.

Each test runs the real `snakemake` in a scratch directory holding copies of config/ and
captures/, so the repository's own results/ is never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pdprof import dataset

pytestmark = pytest.mark.workflow
REPO = Path(__file__).resolve().parents[1]
SLUG = "nvidia-h100-80gb-hbm3"
BUNDLE = REPO / "captures" / SLUG


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> Path:
    """One replay run of the default sweep, shared by the tests that read its outputs."""
    workdir = tmp_path_factory.mktemp("replay")
    shutil.copytree(REPO / "config", workdir / "config")
    shutil.copytree(REPO / "captures", workdir / "captures")
    done = snakemake(workdir, "--cores", "2", "--config", "backend=auto")
    assert done.returncode == 0, done.stderr[-3000:]
    # without a GPU, auto says in one line that it replays, and from which card
    assert f"pdprof: no GPU found (nvidia-smi, rocminfo): replaying captures/{SLUG}" in done.stderr
    return workdir


def test_replay_produces_the_report(replayed):
    report = replayed / "results" / SLUG / "report"
    for name in ("validation.json", "report.md", "report.html"):
        assert (report / name).stat().st_size > 0
    html = (report / "report.html").read_text()
    assert html.index("Checks") < html.index("Provenance")


def test_seed_decode_fails_the_bandwidth_criterion_with_numbers(replayed):
    result = json.loads((replayed / "results" / SLUG / "report" / "validation.json").read_text())
    checks = {c["id"]: c for c in result["checks"]}
    bandwidth = checks["decode_bandwidth_fraction"]
    assert bandwidth["status"] == "FAIL"
    # recompute from the raw benchmark line of the reference point in the bundle
    bench = json.loads((BUNDLE / "runs" / "seed-L32-H4096-h32-kv8-T2048-f256" / "bench.json").read_text())
    # ... against the read bandwidth the bundle's calibration measured on the same card
    calibration = json.loads((BUNDLE / "calibration.json").read_text())
    fraction = bench["decode"]["bytes_per_s"] / calibration["read_bandwidth"]
    assert bandwidth["measured"] == pytest.approx(100 * fraction, rel=1e-6)
    assert bandwidth["details"]["peak_source"] == "measured read bandwidth (calibration)"
    assert fraction < 0.30
    assert "GB/s" in bandwidth["explanation"]
    assert checks["prefill_compute_bound"]["status"] == "PASS"
    assert checks["decode_linear_in_T"]["status"] == "PASS"
    assert checks["prefill_linear_in_iters_fma"]["status"] == "PASS"
    assert result["verdict"] == "FAIL"
    assert result["gpu_name"] == ["NVIDIA H100 80GB HBM3"]


def test_dataset_is_partitioned_by_gpu_and_profiler_and_readable_by_pandas_and_duckdb(replayed):
    root = replayed / "results" / "dataset"
    frame = dataset.read_dataset([root])
    assert set(frame["gpu"]) == {SLUG}
    assert set(frame["profiler"]) == {"bench", "ncu", "nsys"}
    assert frame["value"].dtype == "float64"
    assert {"kernel", "metric", "value", "unit", "driver_version", "ncu_version"} <= set(frame.columns)
    plain = pd.read_parquet(root)
    assert len(plain) == len(frame)
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"select profiler, count(*) from read_parquet('{root}/**/*.parquet', hive_partitioning=1) "
        "group by profiler order by profiler"
    ).fetchall()
    assert [r[0] for r in rows] == ["bench", "ncu", "nsys"]
    assert sum(r[1] for r in rows) == len(frame)


def test_canonical_duration_matches_the_raw_ncu_export(replayed):
    frame = dataset.read_dataset([replayed / "results" / "dataset"])
    point = "seed-L32-H4096-h32-kv8-T32768-f256"
    durations = frame[
        (frame["point"] == point) & (frame["metric"] == "duration") & (frame["phase"] == "decode")
    ]
    raw = pd.read_csv(BUNDLE / "runs" / point / "ncu_raw.csv", skiprows=[1])
    decode = raw[raw["Kernel Name"].str.contains("decode")]
    assert sorted(durations["value"]) == pytest.approx(sorted(decode["gpu__time_duration.sum"] * 1e6))


def test_rerun_redoes_nothing(replayed):
    done = snakemake(replayed, "--cores", "1", "--config", "backend=auto")
    assert done.returncode == 0
    assert "Nothing to be done" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("colour=red", "unknown key 'colour'"),
        ("backend=gpu", "backend: 'gpu' is not one of"),
        ("sweep=nope", "sweep 'nope' is not defined"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, override, named):
    shutil.copytree(REPO / "config", tmp_path / "config")
    done = snakemake(tmp_path, "--cores", "1", "--config", override)
    assert done.returncode != 0
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_negative_T_in_config_file_names_the_key(tmp_path):
    shutil.copytree(REPO / "config", tmp_path / "config")
    path = tmp_path / "config" / "config.yaml"
    path.write_text(path.read_text().replace("T: [1024, 2048,", "T: [-1024, 2048,"))
    done = snakemake(tmp_path, "--cores", "1")
    assert done.returncode != 0
    assert "sweeps.default.groups[1].T[0]: -1024 is less than the minimum of 1" in done.stderr
    assert not (tmp_path / "results").exists()


def test_lint_is_clean():
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-s", str(REPO / "Snakefile"), "--directory", str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_snakemake_report_holds_the_validation_report_and_the_figure_captions(replayed, tmp_path):
    out = tmp_path / "snakemake-report.html"
    done = snakemake(replayed, "--report", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    page = out.read_text(errors="replace")
    assert "Report created" in done.stdout + done.stderr
    assert "Decode step time against the context length T" in page  # a figure caption (workflow/report/)
    assert "the seed note's acceptance criteria as checks" in page  # the validation report's caption
