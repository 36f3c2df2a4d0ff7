"""Compile kernels/prefill_decode_bench.cu with nvcc (CUDA) or hipcc (ROCm)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pdprof import gpu, tools
from pdprof.errors import ToolError
from pdprof.fsutil import atomic_output

# backend: (compiler, how to get it, version regex, oldest version known to build the benchmark)
COMPILERS = {
    "cuda": ("nvcc", "install the CUDA toolkit (nvcc 12 or newer) or use backend: replay",
             r"release ([0-9.]+)", "12.0"),
    "hip": ("hipcc", "install ROCm's hipcc (Debian: apt-get install hipcc libamdhip64-dev)",
            r"HIP version: ([0-9.]+)", "5.2"),
}  # fmt: skip


def resolve_arch(backend: str, configured: str) -> str:
    if configured != "auto":
        return configured
    return gpu.cuda_arch() if backend == "cuda" else gpu.hip_arch()


def compile_command(backend: str, source: Path, output: Path, arch: str, flags: list[str]) -> list[str]:
    """The compiler's argv; an argument list, so no config value meets a shell."""
    compiler = COMPILERS[backend][0]
    arch_flag = f"-arch={arch}" if backend == "cuda" else f"--offload-arch={arch}"
    return [compiler, *flags, arch_flag, f"-I{source.parent}", str(source), "-o", str(output)]


def build(backend: str, source: Path, output: Path, arch: str, flags: list[str]) -> list[str]:
    """Compile to a temporary name and move it into place; returns the command run."""
    compiler, how_to_get, pattern, minimum = COMPILERS[backend]
    tools.require(compiler, how_to_get, pattern=pattern, minimum=minimum)
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
