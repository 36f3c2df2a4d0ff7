"""A kernel's compile-time constant against its speed, on the GPU this runs on.

Builds kernels/prefill_decode_bench.cu once per value of one -D constant (all builds in
parallel), runs a variant at each T with and without extra benchmark flags, and prints one
line per run: value, registers ptxas gave the variant's kernel, T, flags, rate.

    python benchmarks/constants_sweep.py OUT_DIR PDPROF_KV_STREAM_UNROLL 8 16 32 \\
        --variant kv_stream --T 2048 16384 32768 --compare-flags "--layer-overlap off"
    python benchmarks/constants_sweep.py OUT_DIR PDPROF_FMA_CHAINS 4 8 16 --variant fma_ilp --T 2048 --iters-fma 1024
    python benchmarks/constants_sweep.py OUT_DIR PDPROF_ATTENTION_SPLIT_ROWS 64 128 256 --variant attention \\
        --T 2048 4096 32768
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kernels import NVCC_FLAGS, SHAPE, SOURCE  # benchmarks/kernels.py: the table's shapes and build
from pdprof import build as pdprof_build
from pdprof import gpu, run
from pdprof.config import Point

KERNEL_OF = {"kv_stream": "decode_kv_stream_kernelI4Bf16", "attention": "decode_attention_mma_kernelILi4ELi128E",
             "fma_ilp": "prefill_fma_ilp_kernel"}  # fmt: skip


def build(out: Path, constant: str, value: str) -> tuple[Path, str]:
    """Compile with -D<constant>=<value>; the binary and ptxas's report."""
    binary = out / f"bench-{constant}-{value}"
    flags = [*NVCC_FLAGS, f"-D{constant}={value}", "-Xptxas", "-v"]
    argv = pdprof_build.compile_command("cuda", SOURCE, binary, gpu.cuda_arch(), flags)
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return binary, done.stderr


def registers(ptxas: str, variant: str) -> str:
    found = re.search(re.escape(KERNEL_OF.get(variant, variant)) + r".*?Used (\d+) registers", ptxas, re.S)
    return found.group(1) if found else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("constant")
    parser.add_argument("values", nargs="+")
    parser.add_argument("--variant", required=True)
    parser.add_argument("--T", type=int, nargs="+", default=[2048])
    parser.add_argument("--iters-fma", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--compare-flags", default="", help="also run every point with these benchmark flags")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor() as pool:
        builds = dict(
            zip(args.values, pool.map(lambda v: build(args.out, args.constant, v), args.values), strict=True)
        )
    flag_sets = [[], shlex.split(args.compare_flags)] if args.compare_flags else [[]]
    for value, (binary, ptxas) in builds.items():
        for T in args.T:
            p = Point(variant=args.variant, T=T, iters_fma=args.iters_fma, **SHAPE)
            for flags in flag_sets:
                name = "-".join([p.id, f"{args.constant}={value}", *(flag.lstrip("-") for flag in flags)])
                result = run.run_bench(binary, p, args.out / f"{name}.json", 3, args.repeats, 600, flags)
                phase = result["decode"] or result["prefill"]
                rate = (f"{phase['bytes_per_s'] / 1e12:.3f} TB/s" if result["decode"]
                        else f"{phase['flops_per_s'] / 1e12:.1f} TFLOP/s at {phase.get('sm_clock_mhz')} MHz")  # fmt: skip
                extra = f"  splits {phase['splits']}" if result["decode"] else ""
                print(f"{args.constant}={value:<3} ({registers(ptxas, args.variant)} registers)  T={T:<6}"
                      f"{' '.join(flags) or '(default flags)':<24} {rate}  {phase['ms_median']:.4f} ms{extra}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
