"""benchmarks/side_by_side.py: builds of the benchmark that differ in -D knobs, timed in rounds
against the same reference; end to end on the fake GPU toolchain (tests/fake_gpu/)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pdprof.errors import PdprofError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "side_by_side.py"
spec = importlib.util.spec_from_file_location("side_by_side", SCRIPT)
side_by_side = importlib.util.module_from_spec(spec)
spec.loader.exec_module(side_by_side)


def test_a_build_is_a_name_and_defines_only():
    assert side_by_side.parse_build("w4=-DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4 -DX") == (
        "w4",
        ["-DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4", "-DX"],
    )
    for bad in ("w4", "base=-DX=1", "a b=-DX", "w4=-O0", "w4=-DX=1 -arch=sm_80", "w4=-DX;rm"):
        with pytest.raises(PdprofError, match="--build"):
            side_by_side.parse_build(bad)
    with pytest.raises(PdprofError, match="VARIANT:REFERENCE"):
        side_by_side.parse_pair("attention_fp8")


def test_each_round_times_the_reference_then_every_build_and_the_table_gives_mean_and_range():
    calls = []

    def bench(name, point, round_):
        calls.append((round_, point.T, point.variant, name))
        if point.variant == "kv_stream":
            return 2.0e12
        return {("base", 0): 1.6e12, ("base", 1): 1.7e12, ("w4", 0): 1.8e12, ("w4", 1): 1.8e12}[name, round_]

    shape = {"L": 32, "H": 4096, "heads": 32, "kv_heads": 8, "iters_fma": 256}
    rows = side_by_side.measure(["base", "w4"], [("attention", "kv_stream")], [4096], shape, 2, bench)
    assert calls == [
        (r, 4096, variant, name)
        for r in (0, 1)
        for variant, name in (("kv_stream", "base"), ("attention", "base"), ("attention", "w4"))
    ]
    table = side_by_side.summarize(rows)
    assert table[1].split()[:4] == ["attention", "4096", "base", "1.650"]
    assert table[1].endswith("82.5 % of kv_stream (80.0-85.0)")
    assert table[2].split()[-5:] == ["90.0", "%", "of", "kv_stream", "(90.0-90.0)"]


def test_end_to_end_on_the_fake_toolchain_gives_the_bundles_own_ratio(tmp_path):
    bundle = REPO / "captures" / "nvidia-h100-80gb-hbm3-decode_attention_fp8"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(REPO / "tests" / "fake_gpu"), os.environ["PATH"]]),
        "PDPROF_FAKE_CAPTURES": str(bundle),
        "PDPROF_FAKE_FAULT": "",
    }
    argv = [sys.executable, str(SCRIPT), "--out", str(tmp_path / "out"), "--build", "w4=-DPDPROF_X=4"]
    argv += ["--pair", "attention_fp8:kv_stream_fp8", "--T", "8192", "--rounds", "2"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # The fake benchmark answers every build with the bundle's line: 1.849 / 2.285 TB/s at 8k.
    table = done.stdout.splitlines()[-2:]
    assert [line.split()[2] for line in table] == ["base", "w4"]
    assert all("80.9 % of kv_stream_fp8 (80.9-80.9)" in line for line in table)
    rows = json.loads((tmp_path / "out" / "rows.json").read_text())
    assert [(r["round"], r["build"]) for r in rows] == [(0, "base"), (0, "w4"), (1, "base"), (1, "w4")]
    assert (tmp_path / "out" / "round1" / "attention_fp8-L32-H4096-h32-kv8-T8192-f256-w4.json").is_file()


def test_a_bad_build_is_one_message_and_exit_2(tmp_path):
    argv = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--build", "w4=-O0"]
    argv += ["--pair", "a:b", "--T", "8"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("side_by_side.py: error: --build 'w4=-O0': only -DNAME")


def test_two_builds_of_one_name_are_refused(tmp_path):
    argv = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--build", "w=-DA=1", "--build", "w=-DA=2"]
    argv += ["--pair", "a:b", "--T", "8"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "each --build needs a name of its own" in done.stderr
