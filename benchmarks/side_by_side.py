"""Compile-time variants of the benchmark side by side, in one run on the GPU it runs on.

Builds kernels/prefill_decode_bench.cu once with the pipeline's flags ("base") and once per
--build NAME=FLAGS (-D defines, e.g. the persistent kernel's knobs), all at once. Then, in
rounds, for each T and each --pair VARIANT:REFERENCE, it times REFERENCE from base and VARIANT
from every build, one right after the other, so that drift of the card's clocks hits every
build alike. It prints, per variant and T, each build's bandwidth and share of the reference
(the mean over rounds, and the range), and writes every result line and rows.json under --out.

    python benchmarks/side_by_side.py --out OUT \\
        --build fp8w4=-DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4 \\
        --pair attention_fp8:kv_stream_fp8 --T 8192 32768 --shape 32 8192 64 8 --rounds 2

The default shape is the kernel table's (L = 32, H = 4096, 32 heads, 8 KV heads).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import shlex
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from pdprof import build, config, gpu, run
from pdprof.config import Point
from pdprof.errors import PdprofError

SOURCE = Path(__file__).resolve().parents[1] / "kernels" / "prefill_decode_bench.cu"
BASE = "base"
WARMUP = 3
TIMEOUT_S = 300

Bench = Callable[[str, Point, int], float]  # (build, point, round) -> decode bytes/s


def parse_build(text: str) -> tuple[str, list[str]]:
    """NAME=FLAGS: a name for the table, and compile-time defines only (so that what differs is the kernels' knobs)."""
    name, _, flags = text.partition("=")
    defines = shlex.split(flags)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or name == BASE or not defines:
        raise PdprofError(
            f"--build {text!r}: give NAME=FLAGS, NAME of letters, digits, '_' or '-' (not {BASE!r}), e.g. "
            "fp8w4=-DPDPROF_PERSISTENT_FP8_SCAN_WARPS=4"
        )
    if not all(re.fullmatch(r"-D[A-Za-z_]\w*(=\S+)?", flag) for flag in defines):
        raise PdprofError(f"--build {text!r}: only -DNAME or -DNAME=VALUE flags compare kernels built alike")
    return name, defines


def parse_pair(text: str) -> tuple[str, str]:
    variant, _, reference = text.partition(":")
    if not variant or not reference:
        raise PdprofError(f"--pair {text!r}: give VARIANT:REFERENCE, e.g. attention_fp8:kv_stream_fp8")
    return variant, reference


def measure(
    builds: list[str],
    pairs: list[tuple[str, str]],
    Ts: list[int],
    shape: dict[str, int],
    rounds: int,
    bench: Bench,
) -> list[dict]:
    """One row per round, T, pair and build: the variant's and the reference's decode bandwidth."""
    rows = []
    for round_ in range(rounds):
        for T in Ts:
            for variant, reference in pairs:
                reference_bps = bench(BASE, Point(variant=reference, T=T, **shape), round_)
                for name in builds:
                    bps = bench(name, Point(variant=variant, T=T, **shape), round_)
                    row = {"round": round_, "T": T, "variant": variant, "reference": reference, "build": name}
                    rows.append(row | {"bytes_per_s": bps, "reference_bytes_per_s": reference_bps})
                    print(
                        f"round {round_} {variant} T={T} {name}: {bps / 1e12:.3f} TB/s, "
                        f"{100 * bps / reference_bps:.1f} % of {reference}",
                        flush=True,
                    )
    return rows


def summarize(rows: list[dict]) -> list[str]:
    """The table: per variant, T and build, mean TB/s and mean share of the reference with its range."""
    lines = [f"{'variant':16s} {'T':>6s} {'build':12s} {'TB/s':>7s} {'% of reference (min-max)':>28s}"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["reference"], r["T"], r["build"]), []).append(r)
    for (variant, reference, T, name), mine in groups.items():
        shares = [100 * r["bytes_per_s"] / r["reference_bytes_per_s"] for r in mine]
        tbps = statistics.fmean(r["bytes_per_s"] for r in mine) / 1e12
        spread = f"{statistics.fmean(shares):.1f} % of {reference} ({min(shares):.1f}-{max(shares):.1f})"
        lines.append(f"{variant:16s} {T:6d} {name:12s} {tbps:7.3f} {spread:>28s}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the binaries, result lines and rows.json"
    )
    parser.add_argument("--build", action="append", default=[], help="NAME=-DFLAG[=VALUE] ... (repeatable)")
    parser.add_argument("--pair", action="append", required=True, help="VARIANT:REFERENCE (repeatable)")
    parser.add_argument("--T", type=int, nargs="+", required=True)
    parser.add_argument(
        "--shape", type=int, nargs=4, default=(32, 4096, 32, 8), metavar=("L", "H", "HEADS", "KV_HEADS")
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    try:
        named = [parse_build(text) for text in args.build]
        builds = {BASE: []} | dict(named)
        if len(builds) != len(named) + 1:
            raise PdprofError("each --build needs a name of its own")
        pairs = [parse_pair(text) for text in args.pair]
        shape = dict(zip(("L", "H", "heads", "kv_heads"), args.shape, strict=True)) | {"iters_fma": 256}
        args.out.mkdir(parents=True, exist_ok=True)
        arch = gpu.cuda_arch()
        base_flags = config.load_config()["build"]["nvcc_flags"]  # what the pipeline builds with
        with concurrent.futures.ThreadPoolExecutor(len(builds)) as pool:
            jobs = [
                pool.submit(build.build, "cuda", SOURCE, args.out / f"bench-{name}", arch, base_flags + flags)
                for name, flags in builds.items()
            ]
            for job in jobs:
                job.result()

        def bench(name: str, point: Point, round_: int) -> float:
            result_file = args.out / f"round{round_}" / f"{point.id}-{name}.json"  # kept if a later run fails
            result_file.parent.mkdir(exist_ok=True)
            result = run.run_bench(
                args.out / f"bench-{name}", point, result_file, WARMUP, args.repeats, TIMEOUT_S
            )
            return result["decode"]["bytes_per_s"]

        rows = measure(list(builds), pairs, args.T, shape, args.rounds, bench)
    except PdprofError as error:
        print(f"side_by_side.py: error: {error}", file=sys.stderr)
        return 2
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(summarize(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
