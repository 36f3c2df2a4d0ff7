"""Compile kernels/prefill_decode_bench.cu with nvcc (CUDA) or hipcc (ROCm)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pdprof import gpu
from pdprof.errors import ToolError
from pdprof.fsutil import atomic_output

COMPILERS = {
    "cuda": ("nvcc", "install the CUDA toolkit (nvcc 12 or newer) or use backend: replay"),
    "hip": ("hipcc", "install ROCm's hipcc (Debian: apt-get install hipcc libamdhip64-dev)"),
}


def resolve_arch(backend: str, configured: str) -> str:
    if configured != "auto":
        return configured
    return gpu.cuda_arch() if backend == "cuda" else gpu.hip_arch()


def compile_command(backend: str, source: Path, output: Path, arch: str, flags: list[str]) -> list[str]:
    """The compiler's argv; an argument list, so no config value meets a shell."""
    compiler, _ = COMPILERS[backend]
    arch_flag = f"-arch={arch}" if backend == "cuda" else f"--offload-arch={arch}"
    return [compiler, *flags, arch_flag, f"-I{source.parent}", str(source), "-o", str(output)]


def build(backend: str, source: Path, output: Path, arch: str, flags: list[str]) -> list[str]:
    """Compile to a temporary name and move it into place; returns the command run."""
    compiler, how_to_get = COMPILERS[backend]
    if shutil.which(compiler) is None:
        raise ToolError(f"{compiler} not found on PATH: {how_to_get}")
    env = dict(os.environ)
    if backend == "hip":
        env.setdefault("HIP_PLATFORM", "amd")
    with atomic_output(output) as tmp:
        argv = compile_command(backend, source, tmp, arch, flags)
        print("+ " + " ".join(argv), flush=True)
        done = subprocess.run(argv, env=env)
        if done.returncode != 0:
            raise ToolError(f"{compiler} failed with exit code {done.returncode} compiling {source}")
        tmp.chmod(0o755)
    return argv
