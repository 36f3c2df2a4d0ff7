"""The pipeline on a real SLURM: slurmctld + slurmd + munge on this machine, jobs through the plugin.

tools/slurm/start-local-slurm.sh starts a one-node cluster (2 fake GPUs, partitions `gpu` and
`cpu`; Debian's SLURM 22.05, installed when missing). The replay pipeline is submitted through
snakemake-executor-plugin-slurm with profiles/slurm, and its results must equal a local run's.
Runs as root with PDPROF_SLURM_TEST=1 or CI=true (.ci/run sets it); otherwise it skips. Every
wait is bounded: a hung scheduler fails this test, it does not hang CI.
Jobs are checked without sacct (no slurmdbd here): the snakemake log says what was submitted,
and slurmctld's job completion log (jobcomp/filetxt) says how each job ended and where.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pdprof.config import load_config, sweep_points

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[1]
SLUG = "nvidia-h100-80gb-hbm3"
PREFIX = Path(os.environ.get("PDPROF_SLURM_PREFIX", "/tmp/pdprof-slurm"))
ENABLED = os.environ.get("PDPROF_SLURM_TEST") == "1" or os.environ.get("CI") == "true"
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
FINISHED = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")
STARTUP: list[str] = []  # start-local-slurm.sh's last line, for the log
RUN_LIMIT_S = 420  # the whole submitted run; it takes about 2 minutes on 2 cores


def bounded(argv: list[str], limit_s: int, **kwargs) -> subprocess.CompletedProcess:
    """argv under `timeout -k 10 LIMIT` (SIGTERM does not always stop snakemake), output kept."""
    return subprocess.run(
        ["timeout", "-k", "10", str(limit_s), *argv], capture_output=True, text=True, **kwargs
    )


@pytest.fixture(scope="module")
def cluster():
    """The running one-node SLURM; stopped at the end if this fixture started it."""
    if not ENABLED:
        pytest.skip("real-SLURM test: runs with PDPROF_SLURM_TEST=1 or CI=true (starts daemons as root)")
    if os.geteuid() != 0:
        pytest.skip("real-SLURM test: needs root to start slurmctld, slurmd and munged")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        pytest.skip("real-SLURM test: no SLURM and no apt-get to install it")
    env = {**os.environ, "PDPROF_SLURM_PREFIX": str(PREFIX)}
    started = time.monotonic()
    done = bounded(["bash", str(REPO / "tools/slurm/start-local-slurm.sh")], 900, env=env)
    assert done.returncode == 0, f"start-local-slurm.sh failed:\n{done.stdout}\n{done.stderr}"
    reused = "already running" in done.stderr
    STARTUP.append(f"{done.stderr.strip().splitlines()[-1]} ({time.monotonic() - started:.1f} s)")
    env["SLURM_CONF"] = str(PREFIX / "etc" / "slurm.conf")
    yield env
    if not reused:
        bounded(["bash", str(REPO / "tools/slurm/stop-local-slurm.sh")], 120, env=env)


def snakemake(workdir: Path, *args: str, env: dict | None = None, limit_s: int = 600):
    argv = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return bounded([*argv, *args], limit_s, env=env)


def scratch(root: Path) -> Path:
    root.mkdir()
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(REPO / "captures", root / "captures")
    return root


def jobcomp() -> dict[str, dict[str, str]]:
    """slurmctld's record of each finished job: JobId -> {JobState, Partition, ExitCode, ...}."""
    records = {}
    path = PREFIX / "log" / "jobcomp.txt"
    for line in path.read_text().splitlines() if path.exists() else []:
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        records[fields.get("JobId", "")] = fields
    return records


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    columns = sorted(frame.columns)
    frame = frame[columns].astype({c: "string" for c in columns if frame[c].dtype == object})
    return frame.sort_values([c for c in columns if c != "value"] + ["value"]).reset_index(drop=True)


def test_replay_pipeline_through_the_slurm_plugin_equals_a_local_run(cluster, tmp_path, capsys):
    t0 = time.monotonic()
    local = scratch(tmp_path / "local")
    done = snakemake(local, "--cores", "2", "--config", "backend=replay")
    assert done.returncode == 0, done.stderr[-3000:]
    t_local = time.monotonic() - t0

    remote = scratch(tmp_path / "slurm")
    env = {**cluster, "PDPROF_SLURM_CPU_PARTITION": "cpu"}  # submit parse/report jobs too
    t1 = time.monotonic()
    done = snakemake(
        remote,
        "--workflow-profile", str(REPO / "profiles" / "slurm"),
        "--jobs", "4",
        "--slurm-init-seconds-before-status-checks", "2",
        "--config", "backend=replay",
        env=env, limit_s=RUN_LIMIT_S,
    )  # fmt: skip
    t_slurm = time.monotonic() - t1
    log = done.stdout + done.stderr
    (tmp_path / "slurm.log").write_text(log)
    queue = bounded(["squeue", "-h", "-o", "%i %P %T %j %R"], 30, env=cluster).stdout
    assert done.returncode == 0, (
        f"exit {done.returncode} after {t_slurm:.0f} s (124/137: timed out)\n{log[-4000:]}\nsqueue:\n{queue}"
    )

    submitted = {m.group(1): m.group(2) for m in SUBMITTED.finditer(log)}
    finished = {m.group(1): m.group(2) for m in FINISHED.finditer(log)}
    records = jobcomp()
    # every job but the `all` target went through SLURM and completed there, on the cpu partition
    jobs = {job: rule for job, rule in finished.items() if rule != "all"}
    assert jobs and set(jobs) <= set(submitted), f"finished locally: {set(jobs) - set(submitted)}"
    points = sweep_points(load_config(REPO / "config" / "config.yaml"))
    assert sorted(jobs.values()).count("tidy_point") == len(points)
    assert {"tidy_point", "dataset", "validate"} <= set(jobs.values())
    states = {slurm_id: records.get(slurm_id, {}) for slurm_id in submitted.values()}
    assert all(r.get("JobState") == "COMPLETED" and r.get("ExitCode") == "0:0" for r in states.values()), (
        states
    )
    assert {r["Partition"] for r in states.values()} == {"cpu"}
    assert not queue.strip(), f"jobs left in the queue:\n{queue}"

    # the same results as the local run
    local_report = json.loads((local / "results" / SLUG / "report" / "validation.json").read_text())
    slurm_report = json.loads((remote / "results" / SLUG / "report" / "validation.json").read_text())
    assert slurm_report["checks"] == local_report["checks"]
    assert slurm_report["verdict"] == local_report["verdict"]
    local_rows = pd.read_parquet(local / "results" / "dataset")
    slurm_rows = pd.read_parquet(remote / "results" / "dataset")
    assert len(slurm_rows) == len(local_rows) > 0
    pd.testing.assert_frame_equal(tidy(slurm_rows), tidy(local_rows))

    with capsys.disabled():
        print(f"\n[slurm] {' '.join(STARTUP)}")
        print(f"[slurm] plugin run: {len(submitted)} jobs submitted, {len(finished)} finished, exit 0")
        for line in log.splitlines():
            if SUBMITTED.search(line) or FINISHED.search(line):
                print(f"[slurm] {line.split(' (log: ')[0]}")
        counts = pd.Series(list(jobs.values())).value_counts().to_dict()
        print(
            f"[slurm] jobcomp: {len(states)} SLURM jobs COMPLETED, exit 0:0, partition cpu; by rule {counts}"
        )
        print(
            f"[slurm] results equal: validation.json ({len(slurm_report['checks'])} checks, verdict "
            f"{slurm_report['verdict']}) and dataset ({len(slurm_rows)} rows) match the local run"
        )
        print(f"[slurm] local run {t_local:.0f} s, SLURM run {t_slurm:.0f} s")


GPU_PROBE = "import json, os; from pdprof import gpuslots\nwith gpuslots.claim('{locks}') as s: print(json.dumps(s.tag()))"


def test_gpu_jobs_get_their_allocations_gpu(cluster, tmp_path, capsys):
    """Two --gpus=1 jobs at once: each sees one distinct GPU, and pdprof keeps it as it is."""
    probe = tmp_path / "probe.py"
    probe.write_text(GPU_PROBE.format(locks=tmp_path / "locks"))
    env = {**cluster, "PYTHONPATH": str(REPO / "src")}
    outs = [tmp_path / f"gpu{i}.out" for i in range(2)]
    ids = []
    for out in outs:
        argv = ["sbatch", "--parsable", "-p", "gpu", "--gpus=1", "--cpus-per-gpu=1", "--mem=500", "-t", "2"]
        argv += ["-o", str(out), "--wrap", f"sleep 2; {sys.executable} {probe}"]
        done = bounded(argv, 30, env=env)
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.strip().split(";")[0])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(jobcomp().get(i) for i in ids):
        time.sleep(1)
    records = jobcomp()
    assert all(records.get(i, {}).get("JobState") == "COMPLETED" for i in ids), records
    tags = [json.loads(out.read_text().strip().splitlines()[-1]) for out in outs]
    assert sorted(t["visible_devices"] for t in tags) == ["0", "1"]
    assert all(t["source"] == "slurm" and t["lock"] is None for t in tags)
    assert sorted(t["slurm"]["SLURM_JOB_ID"] for t in tags) == sorted(ids)
    start = [records[i]["StartTime"] for i in ids]
    with capsys.disabled():
        print(
            f"\n[slurm] --gpus=1 jobs {ids[0]} and {ids[1]} (started {start[0]}, {start[1]}) got "
            f"CUDA_VISIBLE_DEVICES {tags[0]['visible_devices']} and {tags[1]['visible_devices']}; "
            "pdprof used them as given (source slurm)"
        )


# Without a cluster: what the profile asks SLURM for.


def render_profile(monkeypatch, **env: str) -> dict:
    from snakemake.profiles import ProfileConfigFileParser

    for name in ("PDPROF_SLURM_PARTITION", "PDPROF_SLURM_ACCOUNT", "PDPROF_SLURM_GPU_MODEL",
                 "PDPROF_SLURM_CPU_PARTITION"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with open(REPO / "profiles" / "slurm" / "config.yaml") as stream:
        return dict(ProfileConfigFileParser().parse(stream))


def test_profile_defaults_and_site_settings(monkeypatch):
    plain = render_profile(monkeypatch)
    assert plain["executor"] == "slurm" and plain["slurm-status-command"] == "squeue"
    assert plain["keep-going"] == "True" and int(plain["retries"]) >= 1  # as on the command line
    assert "slurm_partition=gpu" in plain["default-resources"]
    assert not any(r.startswith("slurm_account=") for r in plain["default-resources"])
    assert not any("gpu_model" in r for r in plain["set-resources"])
    site = render_profile(
        monkeypatch, PDPROF_SLURM_PARTITION="h100", PDPROF_SLURM_ACCOUNT="proj42",
        PDPROF_SLURM_GPU_MODEL="h100", PDPROF_SLURM_CPU_PARTITION="cpu",
    )  # fmt: skip
    assert {"slurm_partition=cpu", "slurm_account=proj42"} <= set(site["default-resources"])
    for rule in ("build_bench", "provenance", "bench", "profile_ncu", "profile_nsys"):
        assert {f"{rule}:slurm_partition=h100", f"{rule}:gpu_model=h100"} <= set(site["set-resources"])


def test_cuda_dag_under_the_slurm_profile(tmp_path, monkeypatch):
    """Planned from a login node (no GPU): one build per GPU slug, GPU requests on GPU rules only."""
    monkeypatch.delenv("PDPROF_SLURM_CPU_PARTITION", raising=False)
    shutil.copytree(REPO / "config", tmp_path / "config")
    done = snakemake(
        tmp_path, "-n", "--workflow-profile", str(REPO / "profiles" / "slurm"),
        "--config", "backend=cuda", f"gpu_slug={SLUG}", limit_s=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", done.stdout, re.M)
    by_rule: dict[str, list[str]] = {}
    for rule, resources in jobs:
        by_rule.setdefault(rule, []).append(resources)
    points = len(sweep_points(load_config(REPO / "config" / "config.yaml")))
    assert len(by_rule["build_bench"]) == 1  # once per GPU slug, not per point
    assert len(by_rule["bench"]) == len(by_rule["profile_ncu"]) == points
    gpu_rules = ["build_bench", "provenance", "bench", "profile_ncu"] + ["profile_nsys"] * (
        "profile_nsys" in by_rule
    )
    for rule in gpu_rules:
        assert all(
            "gpu=1" in r and "slurm_partition=gpu" in r and "cpus_per_gpu=" in r for r in by_rule[rule]
        )
        assert all("cpus_per_task" not in r for r in by_rule[rule])  # it would override cpus_per_gpu
    for rule in ("tidy_point", "dataset", "validate"):
        assert all("gpu=" not in r for r in by_rule[rule])
