"""Run the benchmark binary for one sweep point and keep its JSON result line."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from pathlib import Path

from pdprof import variants
from pdprof.config import Point
from pdprof.errors import ConfigError, PointFailed, ToolError
from pdprof.fsutil import write_json

RESULT_SCHEMA = "pdprof.bench/1"
# The benchmark's own exit codes (kernels/prefill_decode_bench.cu).
BENCH_EXIT_REASONS = {2: "bad arguments", 3: "GPU API error", 4: "output check failed"}


def device_bytes(point: Point) -> int:
    """Device memory the benchmark allocates for a point (needed_bytes in kernels/prefill_decode_bench.cu)."""
    spec = variants.VARIANTS[point.variant]
    head_dim = point.H // point.heads
    if point.variant == "gemm":  # fp16 weights of one layer (QKV, O, MLP 4H) and the activations
        qkv, ffn = point.H + 2 * point.kv_heads * head_dim, 4 * point.H
        return 2 * (point.H * (qkv + point.H + 2 * ffn) + point.T * (point.H + qkv + point.H + ffn + point.H))
    prefill = 4 * (2 * point.T * point.H + 1024) if "prefill" in spec.phases else 0  # X, Y, weight tile
    decode = 0
    if "decode" in spec.phases and not spec.per_layer_kv:  # one fp32 K, V, q, out
        decode = 4 * (2 * point.T * head_dim * point.kv_heads + 2 * point.kv_heads * head_dim)
    elif "decode" in spec.phases:  # K and V per layer, plus q, out and the per-split partials
        # A paged cache stores whole pages (T rounded up to the page size) and a page table.
        pages = -(-point.T // point.page_size) if spec.paged else 0
        stored_T = pages * point.page_size if spec.paged else point.T
        decode = 2 * point.L * point.batch * point.kv_heads * stored_T * head_dim * spec.kv_bytes
        decode += 4 * (2 * point.L + 2 * point.T) * point.batch * point.heads * head_dim
        decode += 4 * pages * point.batch
    return prefill + decode


def check_points_fit(points: list[Point], free_bytes: int) -> None:
    """Refuse, before any job runs, a sweep whose largest point would not fit the GPU."""
    largest = max(points, key=device_bytes)
    needed = device_bytes(largest)
    if needed > free_bytes:
        raise ConfigError(
            f"config: point {largest.id} needs {needed / 2**30:.2f} GiB of device memory, "
            f"the GPU has {free_bytes / 2**30:.2f} GiB free; lower T or H in the sweep"
        )


def run_checked(argv: list[str], timeout_s: float, what: str) -> str:
    """Run argv (no shell), stream stderr to ours, return stdout; raise PointFailed on any fault."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise ToolError(f"{argv[0]} not found: build it first or check PATH") from None
    except subprocess.TimeoutExpired:
        raise PointFailed(f"{what} timed out after {timeout_s:g} s (run.timeout_s)") from None
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        reason = BENCH_EXIT_REASONS.get(done.returncode, f"exit code {done.returncode}")
        if done.returncode < 0:
            reason = f"killed by signal {-done.returncode}"
        raise PointFailed(f"{what} failed: {reason}")
    return done.stdout


def result_line(stdout: str) -> dict:
    """The benchmark's JSON result line among whatever else it printed."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{") and RESULT_SCHEMA in line:
            try:
                return json.loads(line)
            except ValueError:
                break
    raise PointFailed(f"benchmark printed no valid {RESULT_SCHEMA} JSON line")


def check_result(result: dict) -> None:
    """A result whose outputs were unwritten or non-finite must never be timed."""
    failed = [name for name, ok in result.get("checks", {}).items() if ok is False]
    if failed:
        raise PointFailed(f"benchmark output check failed: {', '.join(failed)}")
    for phase in result.get("phases", ("prefill", "decode")):
        times = (result.get(phase) or {}).get("ms_all", [])
        if not times or not all(math.isfinite(t) and t > 0 for t in times):
            raise PointFailed(f"benchmark reported no valid {phase} times")


def bench_command(
    binary: Path, point: Point, warmup: int, repeats: int, bench_flags: Sequence[str] = ()
) -> list[str]:
    """The timing run's argv; bench_flags: benchmark flags beyond the point's (e.g. --layer-overlap off)."""
    return [
        *variants.program(binary, point.variant), *point.bench_args(), "--warmup", str(warmup),
        "--repeats", str(repeats), "--mode", "time", *bench_flags,
    ]  # fmt: skip


def run_bench(
    binary: Path,
    point: Point,
    out: Path,
    warmup: int,
    repeats: int,
    timeout_s: float,
    bench_flags: Sequence[str] = (),
) -> dict:
    argv = bench_command(binary, point, warmup, repeats, bench_flags)
    print("+ " + " ".join(argv), flush=True)
    result = result_line(run_checked(argv, timeout_s, f"point {point.id}"))
    check_result(result)
    result["command"] = argv
    write_json(out, result)
    return result
