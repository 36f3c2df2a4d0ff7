"""Run a sweep point under Nsight Compute and export its report as CSV pages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pdprof.config import Point
from pdprof.errors import PointFailed, ToolError
from pdprof.fsutil import atomic_output, write_json

NCU_MISSING = "ncu not found on PATH: install Nsight Compute (2023.1 or newer) or set profilers.ncu.enabled: false"
PERMISSION_FIX = (
    "ncu may not read the GPU performance counters (ERR_NVGPUCTRPERM): load the driver with "
    "NVreg_RestrictProfilingToAdminUsers=0 (modprobe option, then reboot) or run with CAP_SYS_ADMIN; "
    "see https://developer.nvidia.com/ERR_NVGPUCTRPERM"
)
EXPORT_PAGES = {"ncu_details.csv": [], "ncu_raw.csv": ["--page", "raw"]}


def profile_command(binary: Path, point: Point, report: Path, settings: dict, warmup: int) -> list[str]:
    """ncu argv: only the benchmark's profiler range is profiled, so warm-up launches are skipped."""
    return [
        "ncu",
        "--clock-control", settings["clock_control"],
        "--cache-control", settings["cache_control"],
        "--profile-from-start", "off",
        "--metrics", ",".join(settings["metrics"]),
        "--export", str(report), "--force-overwrite",
        str(binary), *point.bench_args(),
        "--warmup", str(warmup), "--mode", "profile",
        "--profile-layers", str(settings["profile_layers"]),
    ]  # fmt: skip


def export_command(report: Path, page_flags: list[str]) -> list[str]:
    return ["ncu", "--import", str(report), "--csv", *page_flags]


def _diagnose(output: str, what: str) -> None:
    if "ERR_NVGPUCTRPERM" in output:
        raise ToolError(PERMISSION_FIX)
    errors = [line for line in output.splitlines() if line.startswith("==ERROR==")]
    if errors:
        raise PointFailed(f"{what}: {errors[0]}")
    if "No kernels were profiled" in output:
        raise PointFailed(f"{what}: ncu profiled no kernels (is the profiler range empty?)")


def profile(binary: Path, point: Point, out_dir: Path, settings: dict, warmup: int, timeout_s: float) -> None:
    """Write ncu.ncu-rep, the details and raw CSV pages and ncu_stdout.txt into out_dir."""
    if shutil.which("ncu") is None:
        raise ToolError(NCU_MISSING)
    out_dir.mkdir(parents=True, exist_ok=True)
    # ncu appends .ncu-rep itself, so the temporary report keeps that suffix.
    partial = out_dir / ".partial.ncu-rep"
    argv = profile_command(binary, point, partial, settings, warmup)
    print("+ " + " ".join(argv), flush=True)
    what = f"ncu on point {point.id}"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise PointFailed(f"{what} timed out after {timeout_s:g} s (run.timeout_s)") from None
    output = done.stdout + done.stderr
    print(output, end="", flush=True)
    _diagnose(output, what)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise PointFailed(f"{what} failed with exit code {done.returncode}")
    for name, page_flags in EXPORT_PAGES.items():
        with atomic_output(out_dir / name) as tmp, open(tmp, "w") as sink:
            exported = subprocess.run(export_command(partial, page_flags), stdout=sink, timeout=timeout_s)
            if exported.returncode != 0:
                raise PointFailed(f"ncu --import failed exporting {name} (exit code {exported.returncode})")
    with atomic_output(out_dir / "ncu_stdout.txt") as tmp:
        tmp.write_text(output)
    write_json(out_dir / "ncu_command.json", {"argv": argv, "exports": list(EXPORT_PAGES)})
    os.replace(partial, out_dir / "ncu.ncu-rep")
