"""GPU slots: N concurrent jobs get N distinct GPUs, a killed holder leaks nothing, SLURM decides.

A fake `nvidia-smi` on PATH stands for a node with FAKE_NGPU cards; the holders are real
processes (`python -m pdprof.gpuslots --hold`), so the locks are the kernel's, as in a run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from pdprof import cli, gpuslots

REPO = Path(__file__).resolve().parents[1]
FAKE_SMI = """#!/bin/sh
# fake nvidia-smi: FAKE_NGPU cards, whatever the query
i=0
while [ "$i" -lt "${FAKE_NGPU:-0}" ]; do echo "$i, GPU-fake-$i, Fake GPU $i"; i=$((i + 1)); done
"""
CLEARED = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", *gpuslots.SLURM_VARIABLES)


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A fake node: nvidia-smi on PATH, no scheduler variables, a lock folder; returns an env maker."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # gettempdir() caches its answer
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)

    def env(ngpu: int, **extra: str) -> dict:
        monkeypatch.setenv("FAKE_NGPU", str(ngpu))
        return {**os.environ, "FAKE_NGPU": str(ngpu), **extra}

    env.locks = tmp_path / "locks"
    return env


def holder(env: dict, locks: Path, hold: float = 60, wait: float = 0.5) -> subprocess.Popen:
    argv = [sys.executable, "-m", "pdprof.gpuslots", "--lock-dir", str(locks)]
    argv += ["--hold", str(hold), "--wait", str(wait)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    return json.loads(line)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_n_concurrent_holders_get_n_distinct_gpus_and_the_next_one_waits(node):
    env = node(4)
    procs = [holder(env, node.locks) for _ in range(4)]
    try:
        tags = [first_line(p) for p in procs]
        assert sorted(t["visible_devices"] for t in tags) == ["0", "1", "2", "3"]
        for tag in tags:
            assert tag["source"] == "lock"
            assert tag["variable"] == "CUDA_VISIBLE_DEVICES"
            assert tag["uuid"] == f"GPU-fake-{tag['visible_devices']}"  # the physical card, named
            assert tag["index"] == int(tag["visible_devices"])
        # a fifth job finds every card held: it waits, then fails naming the holders
        extra = subprocess.run(
            [sys.executable, "-m", "pdprof.gpuslots", "--lock-dir", str(node.locks), "--wait", "0.5"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert extra.returncode == 1
        assert "no free GPU after 0.5 s: all 4 held" in extra.stderr
        assert "pid " in extra.stderr
    finally:
        stop(procs)


def test_a_killed_holder_leaks_no_slot(node):
    env = node(2)
    procs = [holder(env, node.locks) for _ in range(2)]
    try:
        tags = {first_line(p)["visible_devices"]: p for p in procs}
        victim = tags["1"]
        os.kill(victim.pid, signal.SIGKILL)  # no cleanup code runs
        victim.wait(timeout=10)
        successor = holder(env, node.locks, hold=0, wait=10)
        procs.append(successor)
        assert first_line(successor)["visible_devices"] == "1"
        assert successor.wait(timeout=30) == 0
    finally:
        stop(procs)


def test_slots_are_reused_in_turn_by_more_jobs_than_gpus(node):
    env = node(2)
    procs = [holder(env, node.locks, hold=0.3, wait=30) for _ in range(5)]
    try:
        assert [p.wait(timeout=60) for p in procs] == [0] * 5
        assert {json.loads(p.stdout.readline())["visible_devices"] for p in procs} == {"0", "1"}
    finally:
        stop(procs)


def test_under_slurm_the_allocations_gpu_is_used_as_is(node):
    env = node(4, SLURM_JOB_ID="4242", CUDA_VISIBLE_DEVICES="2", SLURM_JOB_GPUS="2")
    with gpuslots.claim(node.locks, env=env) as slot:
        assert env["CUDA_VISIBLE_DEVICES"] == "2"
        tag = slot.tag()
    assert tag["source"] == "slurm"
    assert tag["visible_devices"] == "2"
    assert tag["uuid"] == "GPU-fake-2"
    assert tag["lock"] is None and tag["slurm"] == {"SLURM_JOB_ID": "4242", "SLURM_JOB_GPUS": "2"}
    assert not node.locks.exists()  # nothing claimed: the scheduler already did
    assert "CUDA_DEVICE_ORDER" not in env


def test_a_preset_uuid_is_named_and_kept(node):
    env = node(2, CUDA_VISIBLE_DEVICES="GPU-fake-1")
    with gpuslots.claim(node.locks, env=env) as slot:
        assert (slot.source, slot.visible, slot.device.index) == ("preset", "GPU-fake-1", 1)
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-fake-1"


def test_several_preset_gpus_are_shared_out_one_per_job(node):
    # e.g. `salloc --gpus=2` on a 4-GPU node, then snakemake --resources gpu=2 inside it
    env = node(4, SLURM_JOB_ID="77", CUDA_VISIBLE_DEVICES="2,3")
    procs = [holder(env, node.locks) for _ in range(2)]
    try:
        tags = [first_line(p) for p in procs]
        assert sorted(t["visible_devices"] for t in tags) == ["2", "3"]
        assert sorted(t["uuid"] for t in tags) == ["GPU-fake-2", "GPU-fake-3"]
        assert all(Path(t["lock"]).parent.name.endswith("-slurm77") for t in tags)
    finally:
        stop(procs)


def test_claim_sets_and_restores_the_environment(node):
    env = node(1)
    tmpdir = env["TMPDIR"]
    with gpuslots.claim(node.locks, env=env) as slot:
        assert env["CUDA_VISIBLE_DEVICES"] == "0"
        assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # CUDA numbers cards as nvidia-smi does
        assert slot.device == gpuslots.Device(0, "GPU-fake-0", "Fake GPU 0")
        assert Path(env["TMPDIR"]).name.endswith("-GPU-fake-0") and Path(env["TMPDIR"]).is_dir()
    assert "CUDA_VISIBLE_DEVICES" not in env and "CUDA_DEVICE_ORDER" not in env
    assert env["TMPDIR"] == tmpdir
    # released: claimed again at once
    with gpuslots.claim(node.locks, wait_s=0, env=env) as again:
        assert again.visible == "0"


def test_each_gpu_gets_its_own_tmpdir_so_nsight_compute_runs_do_not_serialize(node):
    # ncu takes $TMPDIR/nsight-compute-lock for the whole host: one TMPDIR per card
    env_a, env_b = node(2), dict(node(2))
    with gpuslots.claim(node.locks, env=env_a) as a, gpuslots.claim(node.locks, env=env_b) as b:
        assert {a.visible, b.visible} == {"0", "1"}
        assert env_a["TMPDIR"] != env_b["TMPDIR"]
        assert {Path(env_a["TMPDIR"]).name[-10:], Path(env_b["TMPDIR"]).name[-10:]} == {
            "GPU-fake-0",
            "GPU-fake-1",
        }


def test_without_a_gpu_nothing_is_claimed(node):
    env = node(0)
    with gpuslots.claim(node.locks, env=env) as slot:
        assert slot.source == "none" and slot.visible is None
    assert "CUDA_VISIBLE_DEVICES" not in env
    assert not node.locks.exists()


FAKE_BENCH = """#!{python}
import json, os, time
time.sleep({sleep})
print(json.dumps({{"schema": "pdprof.bench/1", "checks": {{"written": True}},
    "prefill": {{"ms_all": [1.0]}}, "decode": {{"ms_all": [2.0]}}, "device": {{"name": "Fake GPU"}},
    "seen": os.environ.get("CUDA_VISIBLE_DEVICES"), "t": time.time()}}))
"""


def test_pdprof_bench_with_gpu_slots_runs_concurrent_points_on_distinct_gpus_and_tags_them(node, tmp_path):
    env = node(2)
    binary = tmp_path / "fake_bench"
    binary.write_text(FAKE_BENCH.format(python=sys.executable, sleep=1.5))
    binary.chmod(0o755)
    point = "seed-L2-H1024-h8-kv2-T256-f32"
    procs = []
    for i in range(2):
        code = textwrap.dedent(f"""
            import sys
            from pdprof.cli import main
            sys.exit(main(["bench", {str(binary)!r}, "--point", {point!r}, "--out", {str(tmp_path / f"b{i}.json")!r},
                           "--gpu-slots", {str(node.locks)!r}]))
        """)  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path))
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    results = [json.loads((tmp_path / f"b{i}.json").read_text()) for i in range(2)]
    assert sorted(r["seen"] for r in results) == ["0", "1"]  # the benchmark saw only its card
    for result in results:
        assert result["gpu_slot"]["visible_devices"] == result["seen"]
        assert result["gpu_slot"]["uuid"] == f"GPU-fake-{result['seen']}"
    # they ran at the same time (each sleeps 1.5 s)
    assert abs(results[0]["t"] - results[1]["t"]) < 1.4


def test_tag_json_adds_the_slot_and_keeps_the_rest(node, tmp_path):
    env = node(1)
    out = tmp_path / "ncu_command.json"
    out.write_text(json.dumps({"argv": ["ncu"], "exports": ["raw"]}))
    with gpuslots.claim(node.locks, env=env) as slot:
        gpuslots.tag_json(out, slot)
    data = json.loads(out.read_text())
    assert data["argv"] == ["ncu"] and data["gpu_slot"]["uuid"] == "GPU-fake-0"
    gpuslots.tag_json(out, None)  # no slot: file unchanged
    assert json.loads(out.read_text()) == data


def test_cli_without_gpu_slots_claims_nothing(node, tmp_path):
    node(2)
    parser = cli.build_parser()
    args = parser.parse_args(["bench", "bin", "--point", "p", "--out", "o"])
    assert args.gpu_slots is None
    with cli._gpu_slot(args):
        assert args.gpu_slot is None
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
