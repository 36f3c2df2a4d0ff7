"""Compile kernels/prefill_decode_bench.cu with nvcc (CUDA) or hipcc (ROCm)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from pdprof import gpu, tools, variants
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
    """Compile to a temporary name and move it into place; returns the command run.

    CUDA without nvcc but with CuPy: *output* becomes a launcher of the NVRTC runner
    (pdprof.cupy_bench), which compiles the same kernels at run time and prints the same result.
    """
    compiler, how_to_get, pattern, minimum = COMPILERS[backend]
    if backend == "cuda" and shutil.which(compiler) is None and importlib.util.find_spec("cupy") is not None:
        return write_nvrtc_launcher(output)
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


def write_nvrtc_launcher(output: Path) -> list[str]:
    """An executable at *output* that runs `python -m pdprof.cupy_bench` with this interpreter."""
    src = Path(__file__).resolve().parents[1]
    argv = list(variants.CUPY_RUNNER)
    print(f"nvcc not found, CuPy is installed: {output} runs the kernels through NVRTC ({' '.join(argv)})")
    with atomic_output(output) as tmp:
        tmp.write_text(
            "#!/bin/sh\n# Written by pdprof build: no nvcc here, so NVRTC (CuPy) compiles the kernels at run time.\n"
            f'PYTHONPATH={shlex.quote(str(src))}${{PYTHONPATH:+:$PYTHONPATH}} exec {shlex.join(argv)} "$@"\n'
        )
        tmp.chmod(0o755)
    return argv
