"""Capture bundles: the raw outputs of a real GPU run, shipped for GPU-free replay.

`pdprof capture results/<gpu> captures/<gpu>` copies the files exactly as the
tools wrote them and records beside them the command, card, driver and tool
versions. Nothing in a bundle is ever edited by hand.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from pdprof.errors import ConfigError, PdprofError
from pdprof.fsutil import write_text

POINT_FILES = (
    "bench.json",
    "ncu.ncu-rep",
    "ncu_details.csv",
    "ncu_raw.csv",
    "ncu_stdout.txt",
    "ncu_command.json",
)
POINT_FOLDERS = ("nsys",)  # pdprof profile-nsys output: report, stats CSVs, console output
RUN_FILES = ("provenance.json",)
OPTIONAL_RUN_FILES = ("calibration.json",)  # where calibration ran
# sha256sum's format, so `sha256sum -c MANIFEST.sha256` in the bundle checks it too.
MANIFEST = "MANIFEST.sha256"


def point_file(root: Path, point_id: str, name: str) -> Path:
    """Where a raw output of a point lives, in results/<gpu>/ and in a bundle alike."""
    return root / "runs" / point_id / name


def create(results: Path, bundle: Path, command: str, point_ids: list[str] | None = None) -> list[Path]:
    """Copy the run's files into a new bundle: every point in results/<gpu>/runs, or only *point_ids*.

    results/<gpu> keeps every point ever run there, so a bundle of one sweep names its points;
    an existing bundle is refused rather than merged into, so no bundle mixes two runs.
    """
    if not (results / "provenance.json").is_file():
        raise ConfigError(f"{results} holds no finished run (no provenance.json): run the pipeline first")
    _refuse_existing(bundle)
    run_dirs = _point_dirs(results, point_ids)
    copied = []
    for name in RUN_FILES:
        copied.append(_copy(results / name, bundle / name))
    for name in OPTIONAL_RUN_FILES:
        if (results / name).is_file():
            copied.append(_copy(results / name, bundle / name))
    for run_dir in run_dirs:
        for name in POINT_FILES:
            source = point_file(results, run_dir.name, name)
            if source.is_file():
                copied.append(_copy(source, point_file(bundle, run_dir.name, name)))
        for name in POINT_FOLDERS:
            folder = point_file(results, run_dir.name, name)
            for source in sorted(folder.glob("*")) if folder.is_dir() else []:
                copied.append(_copy(source, point_file(bundle, run_dir.name, name) / source.name))
    write_text(
        bundle / "CAPTURE.md", describe(json.loads((results / "provenance.json").read_text()), command)
    )
    write_text(
        bundle / MANIFEST, "".join(f"{_sha256(path)}  {path.relative_to(bundle)}\n" for path in copied)
    )
    return copied


def verify(bundle: Path) -> int:
    """Check the bundle's files against its manifest; the number checked (0: a bundle made before manifests).

    A file edited, removed or added under runs/ after the capture is a PdprofError naming it.
    """
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        return 0
    lines = manifest.read_text().splitlines()
    recorded = {name: digest for digest, name in (line.split("  ", 1) for line in lines if line)}
    for name, digest in recorded.items():
        path = bundle / name
        if not path.is_file() or _sha256(path) != digest:
            state = "is missing" if not path.is_file() else "differs from its sha256"
            raise PdprofError(
                f"{path} {state} in {manifest}: the bundle changed after capture; restore it from git"
            )
    present = {str(path.relative_to(bundle)) for path in (bundle / "runs").rglob("*") if path.is_file()}
    unrecorded = sorted(present - set(recorded))
    if unrecorded:
        raise PdprofError(f"{bundle / unrecorded[0]} is not in {manifest}: the bundle changed after capture")
    return len(recorded)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse_existing(bundle: Path) -> None:
    if bundle.exists() and not bundle.is_dir():
        raise ConfigError(f"{bundle} is a file, not a bundle folder: name a new folder for the bundle")
    if bundle.is_dir() and any(bundle.iterdir()):
        raise ConfigError(
            f"{bundle} already holds files: a bundle is never merged into; "
            "remove it first (git rm -r) or name a new folder"
        )


def _point_dirs(results: Path, point_ids: list[str] | None) -> list[Path]:
    runs = results / "runs"
    if point_ids is None:
        return sorted(path for path in runs.iterdir() if path.is_dir()) if runs.is_dir() else []
    missing = [point for point in point_ids if not (runs / point).is_dir()]
    if missing:
        raise ConfigError(
            f"{runs} lacks {len(missing)} of the sweep's {len(point_ids)} points ({', '.join(missing)}): "
            "run the sweep to the end first"
        )
    return [runs / point for point in point_ids]


def size_bytes(paths: list[Path]) -> int:
    return sum(path.stat().st_size for path in paths)


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def describe(provenance: dict, command: str) -> str:
    card = provenance["gpu"]
    lines = [
        "# Capture bundle",
        "",
        "Raw outputs of a real pipeline run, copied by `pdprof capture` exactly as the tools wrote",
        "them. Replayed by `backend: replay`; never edit these files by hand.",
        "",
        f"- command: `{command}`",
        f"- card: {card['name']} (compute capability {card['compute_capability']})",
        f"- driver: {card['driver_version']}",
        f"- CUDA toolkit (nvcc): {provenance.get('cuda_version') or 'n/a'}",
        f"- Nsight Compute: {provenance.get('ncu_version') or 'n/a'}",
        f"- git revision: {provenance.get('git_rev') or 'n/a'}",
        f"- host: {provenance.get('host') or 'n/a'}",
        f"- captured at: {provenance.get('captured_at')}",
        "",
        "Per point, under `runs/<point>/`: `bench.json` (the benchmark's JSON result line from the",
        "unprofiled timing run), `ncu.ncu-rep` (the Nsight Compute report), its exports",
        "`ncu_details.csv` (`ncu --import ncu.ncu-rep --csv`) and `ncu_raw.csv` (`--page raw`),",
        "`ncu_stdout.txt` (ncu's console output) and `ncu_command.json` (the exact argv); under",
        "`nsys/` the Nsight Systems report `nsys.nsys-rep`, its `nsys stats` CSV exports, console",
        "output and argv (or `nsys_skipped.txt` where nsys was missing).",
        f"`{MANIFEST}` holds each file's sha256 (`sha256sum -c {MANIFEST}` here, or `pdprof reproduce`).",
        "",
    ]
    return "\n".join(lines)
