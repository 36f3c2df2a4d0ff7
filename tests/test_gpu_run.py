"""tools/gpu_run.sh, the one-call device session, on the fake GPU toolchain (tests/fake_gpu/).

It must leave a bundle of exactly the sweep's points with the run's own record, and pieces of
at most 15 MiB in OUT_DIR that unpack to that bundle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.workflow
REPO = Path(__file__).resolve().parents[1]
SLUG = "nvidia-h100-80gb-hbm3"  # what the fake nvidia-smi reports
POINTS = [f"seed-L32-H4096-h32-kv8-T{t}-f256" for t in (1024, 2048)]


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The repository as the device gets it, with a two-point sweep and the H100 bundle the fakes answer from."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Snakefile", "workflow", "kernels", "src", "benchmarks", "tools"):
        (root / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "captures" / SLUG, root / "captures" / SLUG)
    shutil.copytree(REPO / "config", root / "config")
    path = root / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["sweeps"]["pair"] = {
        "base": cfg["sweeps"]["default"]["base"],
        "groups": [{"name": "t", "T": [1024, 2048]}],
    }
    path.write_text(yaml.safe_dump(cfg))
    # A stand-in for tests/test_gpu.py: the fake nvidia-smi would make the real GPU tests run.
    (root / "tests").mkdir()
    (root / "tests" / "test_gpu.py").write_text(
        "import pytest\n\n@pytest.mark.gpu\ndef test_stand_in():\n    pass\n"
    )
    return root


def test_a_device_session_leaves_the_sweeps_bundle_with_its_record(checkout, tmp_path):
    out = tmp_path / "out"
    python_dir = Path(sys.executable).parent  # python3 there is this environment's, with Snakemake
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(REPO / "tests" / "fake_gpu"), str(python_dir), os.environ["PATH"]]),
        "PDPROF_GIT_REV": "0123abc",
        "PDPROF_FAKE_FAULT": "",
    }
    done = subprocess.run(
        ["bash", "tools/gpu_run.sh", str(out), "2", "pair"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "(exit 0)" in (out / "wall_time.txt").read_text()
    assert "1 passed" in (out / "pytest_gpu.log").read_text()

    bundle = checkout / "captures" / f"{SLUG}-pair"
    assert sorted(p.name for p in (bundle / "runs").iterdir()) == POINTS
    assert sorted(p.name for p in (bundle / "session").iterdir()) == [
        "nvidia-smi.txt",
        "snakemake.log",
        "wall_time.txt",
    ]
    assert "tools/gpu_run.sh at 0123abc" in (bundle / "CAPTURE.md").read_text()

    pieces = sorted(out.glob("gpu_run.tgz.part-*"))
    assert pieces and all(piece.stat().st_size <= 15 * 2**20 for piece in pieces)
    whole = tmp_path / "gpu_run.tgz"
    whole.write_bytes(b"".join(piece.read_bytes() for piece in pieces))
    with tarfile.open(whole) as archive:
        names = archive.getnames()
    assert f"captures/{SLUG}-pair/runs/{POINTS[0]}/bench.json" in names
    assert f"results/{SLUG}/report/validation.json" in names
