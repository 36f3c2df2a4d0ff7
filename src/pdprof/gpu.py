"""Find the GPU and toolchain, and pick the backend (cuda, hip or replay)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pdprof import capture
from pdprof.errors import ConfigError, ToolError

QUERY_TIMEOUT_S = 30


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str  # "9.0" on NVIDIA, the gfx target on AMD
    driver_version: str

    @property
    def slug(self) -> str:
        return slugify(self.name)


@dataclass(frozen=True)
class Backend:
    kind: str  # cuda | hip | replay
    gpu_slug: str
    captures: Path | None  # the bundle replayed, for kind == "replay"
    reason: str  # one line saying why this backend was chosen


def slugify(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3' (safe in paths and wildcards)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown-gpu"


def query(argv: list[str]) -> str | None:
    """Output of a query tool, or None where the tool is missing or finds no device."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout.strip() else None


def nvidia_gpus() -> list[Gpu]:
    out = query(["nvidia-smi", "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"])
    if out is None:
        return []
    gpus = []
    for line in out.strip().splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 3:
            gpus.append(Gpu(*fields))
    return gpus


def nvidia_free_memory_bytes() -> int | None:
    """Free memory of the first visible NVIDIA GPU, or None where nvidia-smi cannot tell."""
    out = query(["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"])
    try:
        return int(out.split()[0]) * 2**20 if out else None
    except ValueError:
        return None


def amd_gpus() -> list[Gpu]:
    out = query(["rocminfo"])
    if out is None:
        return []
    # rocminfo lists CPU agents too; GPU agents are the ones with a gfx name.
    names = re.findall(r"^\s*Marketing Name:\s*(.+)$", out, re.M)
    targets = re.findall(r"^\s*Name:\s*(gfx[0-9a-f]+)\s*$", out, re.M)
    driver = query(["cat", "/sys/module/amdgpu/version"]) or "unknown"
    gpu_names = [n.strip() for n in names if not re.search(r"CPU|Processor", n)]
    return [Gpu(n, t, driver.strip()) for n, t in zip(gpu_names, targets, strict=False)]


def cuda_arch() -> str:
    """sm_XX of the first visible NVIDIA GPU."""
    gpus = nvidia_gpus()
    if not gpus:
        raise ToolError(
            "cannot read the GPU's compute capability: nvidia-smi found no GPU; "
            "set build.cuda_arch (e.g. sm_90) to build without one"
        )
    return "sm_" + gpus[0].compute_capability.replace(".", "")


def hip_arch() -> str:
    gpus = amd_gpus()
    if not gpus:
        raise ToolError(
            "cannot read the GPU's gfx target: rocminfo found no GPU; "
            "set build.hip_arch (e.g. gfx90a) to build without one"
        )
    return gpus[0].compute_capability


def capture_gpu_name(captures: Path) -> str:
    provenance = captures / "provenance.json"
    try:
        return json.loads(provenance.read_text())["gpu"]["name"]
    except (OSError, ValueError, KeyError):
        return "an unknown GPU"


def _replay(config: dict, reason: str) -> Backend:
    captures = Path(config["replay"]["captures"])
    if not (captures / "provenance.json").is_file():
        raise ConfigError(
            f"config: replay.captures: {captures} holds no capture bundle (no provenance.json); "
            "point it at a folder under captures/ or run on a GPU with backend: cuda"
        )
    capture.verify(captures)  # a bundle edited after capture would replay numbers no GPU measured
    slug = config["gpu_slug"] or captures.name
    return Backend("replay", slug, captures, reason)


QUERY_TOOLS = {"cuda": ("nvidia-smi", "NVIDIA"), "hip": ("rocminfo", "AMD")}


def find_gpus(kind: str) -> list[Gpu]:
    return nvidia_gpus() if kind == "cuda" else amd_gpus()


def resolve_backend(config: dict) -> Backend:
    """Pick the backend the config asks for; `auto` falls back to replay without a GPU."""
    wanted = config["backend"]
    if wanted == "replay":
        return _replay(config, "backend: replay")
    for kind, (tool, vendor) in QUERY_TOOLS.items():
        if wanted not in ("auto", kind):
            continue
        if wanted == kind and config["gpu_slug"]:
            # Submitting from a login node: the GPU is on the compute node.
            slug = config["gpu_slug"]
            return Backend(kind, slug, None, f"backend: {kind} for {slug}")
        gpus = find_gpus(kind)
        if gpus:
            slug = config["gpu_slug"] or gpus[0].slug
            return Backend(kind, slug, None, f"backend: {kind} on {gpus[0].name}")
        if wanted == kind:
            raise ToolError(
                f"backend: {kind}, but {tool} finds no {vendor} GPU; run on a GPU node, "
                "set gpu_slug to submit from a login node, or use backend: replay"
            )
    captures = Path(config["replay"]["captures"])
    return _replay(
        config,
        f"no GPU found (nvidia-smi, rocminfo): replaying {captures}, "
        f"captured on {capture_gpu_name(captures)}",
    )


def announce(backend: Backend) -> None:
    print(f"pdprof: {backend.reason}", file=sys.stderr)
