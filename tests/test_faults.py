"""Faults on the live (cuda) path, with a fake GPU toolchain (tests/fake_gpu/) first on PATH.

A point that crashes, hangs or returns non-finite output is marked failed with its log;
every other point finishes (keep-going), a partial report lists the failed ones, and a
rerun redoes only what is missing. An interrupted run leaves nothing a rerun would trust.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.workflow
REPO = Path(__file__).resolve().parents[1]
FAKE_GPU = REPO / "tests" / "fake_gpu"
SLUG = "nvidia-h100-80gb-hbm3"
POINTS = [f"seed-L32-H4096-h32-kv8-T{t}-f256" for t in (1024, 2048, 4096)]
BROKEN = POINTS[2]


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A scratch run directory whose config sweeps three points of the H100 capture."""
    shutil.copytree(REPO / "captures", tmp_path / "captures")
    shutil.copytree(REPO / "config", tmp_path / "config")
    path = tmp_path / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["sweeps"]["faults"] = {
        "base": cfg["sweeps"]["default"]["base"],
        "groups": [{"name": "t", "T": [1024, 2048, 4096]}],
    }
    cfg["sweep"] = "faults"
    path.write_text(yaml.safe_dump(cfg))
    return tmp_path


def environment(fault: str = "") -> dict:
    env = {**os.environ, "PATH": f"{FAKE_GPU}{os.pathsep}{os.environ['PATH']}"}
    env["PDPROF_FAKE_FAULT"] = f"{BROKEN}:{fault}" if fault else ""
    return env


def snakemake_argv(workdir: Path, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return [*argv, "--cores", "2", "--config", "backend=cuda", *extra]


def snakemake(workdir: Path, fault: str = "", *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_argv(workdir, *extra), env=environment(fault), capture_output=True, text=True, timeout=600
    )


def results(workdir: Path) -> Path:
    return workdir / "results" / SLUG


@pytest.mark.parametrize(
    ("fault", "timeout_s", "reason"),
    [
        ("crash", 900, "killed by signal 11"),
        ("gpu-error", 900, "GPU API error"),
        ("nan", 900, "output check failed"),
        ("hang", 3, "timed out after 3 s (run.timeout_s)"),
    ],
)
def test_failed_point_is_reported_and_the_others_finish(workdir, fault, timeout_s, reason):
    path = workdir / "config" / "config.yaml"
    path.write_text(path.read_text().replace("timeout_s: 900", f"timeout_s: {timeout_s}"))
    done = snakemake(workdir, fault)
    assert done.returncode != 0
    console = done.stdout + done.stderr
    assert "Error in rule bench" in console
    bench_log = results(workdir) / "logs" / "bench" / f"{BROKEN}.log"
    assert reason in bench_log.read_text()
    for point in POINTS[:2]:  # the healthy points finished completely
        assert (results(workdir) / "runs" / point / "bench.json").is_file()
        assert (results(workdir) / "parsed" / f"{point}.parquet").is_file()
    assert not (results(workdir) / "runs" / BROKEN / "bench.json").exists()
    assert not (results(workdir) / "report").exists()  # no full report from a partial run
    partial = json.loads((results(workdir) / "report-partial" / "validation.json").read_text())
    failed = {row["point"]: row for row in partial["failed_points"]}
    assert set(failed) == {BROKEN}
    assert reason in failed[BROKEN]["reason"]
    assert str(bench_log.relative_to(workdir)) in failed[BROKEN]["logs"]
    assert "1 of 3 points failed" in console
    assert f"pdprof: point 3/3 {BROKEN}: timing" in console  # progress, one line per point and tool
    assert BROKEN in (results(workdir) / "report-partial" / "report.md").read_text()


def test_rerun_after_a_fault_redoes_only_what_is_missing(workdir):
    snakemake(workdir, "crash")
    kept = {p: (results(workdir) / "runs" / p / "bench.json").stat().st_mtime_ns for p in POINTS[:2]}
    done = snakemake(workdir, "")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (results(workdir) / "report" / "report.html").is_file()
    for point, mtime in kept.items():  # finished points were not measured again
        assert (results(workdir) / "runs" / point / "bench.json").stat().st_mtime_ns == mtime
    # Snakemake's job stats: the broken point's measurement is the only one redone
    assert re.search(r"^bench\s+1$", done.stderr, re.M), done.stderr
    assert re.search(r"^profile_ncu\s+1$", done.stderr, re.M), done.stderr


def interrupt(workdir: Path, signum: int) -> bool:
    """Start a run in its own process group and signal the whole group once a point is parsed.

    SIGINT is Ctrl-C in a terminal, SIGTERM is scancel or a scheduler's time limit, SIGKILL is
    node loss (no cleanup code runs at all). Every wait is bounded: Snakemake's SIGTERM handler
    takes a lock the interrupted main thread may hold, so a run that is still alive after a
    minute is killed, which is the harshest interruption and must be survived too.
    Returns whether the run ended killed (then Snakemake's lock is left behind).
    """
    proc = subprocess.Popen(
        snakemake_argv(workdir),
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = signum == signal.SIGKILL
    try:
        parsed = results(workdir) / "parsed"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(parsed.glob("*.parquet")):
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, signum)
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        killed = True
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return killed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_interrupted_run_leaves_nothing_a_rerun_would_trust(workdir, signum):
    killed = interrupt(workdir, signum)
    assert not (results(workdir) / "report" / "validation.json").exists()
    if killed:  # a killed Snakemake leaves its lock: the README says to unlock
        unlocked = snakemake(workdir, "", "--unlock")
        assert unlocked.returncode == 0, unlocked.stderr[-2000:]
    done = snakemake(workdir, "")
    assert done.returncode == 0, done.stderr[-2000:]
    leftovers = [
        p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp") or ".partial" in p.name
    ]
    assert leftovers == []
    for path in (workdir / "results" / "dataset").rglob("*.parquet"):
        frame = pd.read_parquet(path)  # every file whole; nsys is absent here, so its part is empty
        assert len(frame) > 0 or "profiler=nsys" in str(path)
    assert json.loads((results(workdir) / "report" / "validation.json").read_text())["checks"]


def test_sigterm_while_an_output_is_written_leaves_no_temporary_file(tmp_path):
    """Python's default SIGTERM ends a process without its clean-up; a pdprof command unwinds (exit 143)."""
    script = (
        "import sys, time\n"
        "from pdprof.cli import sigterm_unwinds\n"
        "from pdprof.fsutil import atomic_output\n"
        "with sigterm_unwinds(), atomic_output(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half of a page')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    argv = [sys.executable, "-c", script, str(tmp_path / "ncu_details.csv")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO / "src")
    try:
        assert proc.stdout.readline() == "writing\n"
        assert [p.name.endswith(".tmp") for p in tmp_path.iterdir()] == [True]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.stdout.close()
    assert list(tmp_path.iterdir()) == []


def test_counter_permission_error_is_the_fix_not_a_stack_dump(tmp_path):
    env = {**environment(), "PDPROF_FAKE_NCU": "no-permission"}
    argv = [
        sys.executable,
        "-m",
        "pdprof.cli",
        "profile-ncu",
        str(FAKE_GPU / "fake_bench.py"),
        "--point",
        POINTS[0],
    ]
    argv += ["--out-dir", str(tmp_path / "out"), "--metrics", "gpu__time_duration.sum"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("pdprof profile-ncu: error:")]
    assert len(errors) == 1 and "NVreg_RestrictProfilingToAdminUsers=0" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "ncu_raw.csv").exists()
