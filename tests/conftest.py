"""Shared fixtures: toolchain and GPU detection that skip cleanly, or fail where CI requires them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from bundles import checks_by_id, tidy_rows

from pdprof import gpu

REPO = Path(__file__).resolve().parents[1]


def _require(tool: str) -> str:
    """Path of a compiler; skipped when absent, unless CI demands every toolchain."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("PDPROF_REQUIRE_TOOLCHAINS") == "1":
            pytest.fail(f"{tool} is required here (PDPROF_REQUIRE_TOOLCHAINS=1) but not on PATH")
        pytest.skip(f"{tool} not installed")
    return path


@pytest.fixture
def nvcc() -> str:
    return _require("nvcc")


@pytest.fixture
def hipcc() -> str:
    return _require("hipcc")


@pytest.fixture
def nvidia_gpu() -> gpu.Gpu:
    gpus = gpu.nvidia_gpus()
    if not gpus:
        pytest.skip("no NVIDIA GPU (nvidia-smi found none)")
    if shutil.which("nvcc") is None:
        pytest.skip("no nvcc to build the benchmark")
    return gpus[0]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="module")
def rows(request):
    """Tidy rows of the test module's capture bundle (its module-level BUNDLE), read once per module."""
    return tidy_rows(request.module.BUNDLE)


@pytest.fixture(scope="module")
def checks(request, rows) -> dict[str, dict]:
    """Validation of that bundle with its own calibration, by check id."""
    return checks_by_id(request.module.BUNDLE, rows)
