"""Where a measurement came from: card, driver, toolchain, profiler, code revision, time."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path

from pdprof import __version__, gpu, tools

VERSION_QUERIES = {
    # name: (argv, regex whose first group is the version)
    "cuda_version": (["nvcc", "--version"], r"release ([0-9.]+)"),
    "ncu_version": (["ncu", "--version"], r"Version ([0-9.]+)"),
    "nsys_version": (["nsys", "--version"], r"([0-9]{4}\.[0-9.]+)"),
    "hip_version": (["hipcc", "--version"], r"HIP version: ([0-9.]+)"),
}


def git_revision(repo: Path) -> str:
    """HEAD's hash, with '-dirty' when tracked files differ from it.

    A copy of the work tree without .git (a GPU node's scratch copy) gets it from
    PDPROF_GIT_REV, set by whoever made the copy; '' where neither is known.
    """
    if os.environ.get("PDPROF_GIT_REV"):
        return os.environ["PDPROF_GIT_REV"]
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if rev.returncode != 0:
        return ""
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def collect(backend: str, repo: Path) -> dict:
    finder = gpu.nvidia_gpus if backend == "cuda" else gpu.amd_gpus
    gpus = finder()
    card = gpus[0] if gpus else None
    record = {
        "schema": "pdprof.provenance/1",
        "backend": backend,
        "gpu": {
            "name": card.name if card else "",
            "slug": card.slug if card else "",
            "compute_capability": card.compute_capability if card else "",
            "driver_version": card.driver_version if card else "",
            "visible_gpus": len(gpus),
        },
        "git_rev": git_revision(repo),
        "host": platform.node(),
        "python": platform.python_version(),
        "pdprof_version": __version__,
        "captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    for key, (argv, pattern) in VERSION_QUERIES.items():
        record[key] = tools.version(argv, pattern)
    return record
