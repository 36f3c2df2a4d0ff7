"""Kernel performance targets, measured side by side in one run on the GPU it runs on.

Builds kernels/prefill_decode_bench.cu, measures this GPU's ceilings with CuPy
(pdprof.calibrate: copy and read bandwidth, FMA rate, cuBLAS square GEMM), runs each
variant (every run first checks its output against a float64 reference) and, with
--nsys, traces kv_stream and graph to compare launch gaps. kv_stream also runs with
`--layer-overlap off` (no programmatic dependent launch) for the side-by-side effect, and
attention (bf16 and fp8, each against kv_stream of its format) with `--persistent off` (one
launch per layer instead of one persistent launch per step, kernels/attention_persistent.h)
beside the default.
fma_ilp reports the SM clock its blocks ran at (clock64 against the global timer), so
its FP32 peak is given at that clock as well as at the maximum clock. The launch-gap
comparison traces graph and kv_stream without layer overlap (with it, kv_stream's
kernels overlap and show no gap either). paged runs at three page sizes against
contiguous attention, and kv_stream and attention at batch 4 against batch 1 (info rows).
With --baseline DIR (the kernels/ folder of another version, e.g. from
`git archive REV kernels | tar x -C DIR --strip-components=1`), attention and attention_fp8
also run built from DIR, right after the same points of this version: rows of new against
old bandwidth, measured side by side.
Prints one table: kernel, shape, measured, target, PASS/FAIL; writes every result under --out.

    python benchmarks/kernels.py --out OUT_DIR [--nsys] [--repeats 20] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pdprof import build, calibrate, dataset, gpu, run
from pdprof.config import Point
from pdprof.errors import PdprofError

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "kernels" / "prefill_decode_bench.cu"
SHAPE = {"L": 32, "H": 4096, "heads": 32, "kv_heads": 8}  # 7B-class, GQA 4:1
NVCC_FLAGS = ["-O3", "-std=c++17", "-lineinfo"]
FP32_LANES_PER_SM = 128


def point(variant: str, T: int, iters_fma: int = 256, batch: int = 1, page_size: int = 0) -> Point:
    return Point(variant=variant, T=T, iters_fma=iters_fma, batch=batch, page_size=page_size, **SHAPE)


PAGE_SIZES = (8, 16, 128)  # vLLM's smallest and default block sizes, and a large one
BATCH = 4  # sequences decoded together for the batch rows (T = 8192 each)


# Each layer's kernel waits for the previous one to end (no programmatic dependent launch).
NO_OVERLAP = ("--layer-overlap", "off")
# Attention as one launch per layer (attention_mma.h) rather than one persistent launch per step.
LAYERED = ("--persistent", "off")
DECODE_TS = (2048, 4096, 8192, 16384, 32768)
# Attention and the K/V scan it is held against, per K/V format.
ATTENTION_PAIRS = (("attention", "kv_stream", "bf16"), ("attention_fp8", "kv_stream_fp8", "fp8"))


def bench(
    binary: Path, out: Path, p: Point, repeats: int, bench_flags: tuple[str, ...] = (), suffix: str = ""
) -> dict:
    return run.run_bench(binary, p, out / f"{p.id}{suffix}.json", 3, repeats, 600, bench_flags)


def decode_gap_ns(binary: Path, out: Path, p: Point) -> float:
    """Mean idle gap between consecutive decode kernels in nsys's trace of one run without layer overlap."""
    from pdprof.profilers import nsys

    folder = out / "nsys" / p.id
    nsys.profile(binary, p, folder, warmup=2, repeats=5, timeout_s=600, bench_flags=NO_OVERLAP)
    return float(dataset.nsys_phase_stats(folder).loc["decode", "gap_mean_ns"])


def row(kernel: str, shape: str, measured: str, target: str, ok: bool | None) -> dict:
    verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
    return {"kernel": kernel, "shape": shape, "measured": measured, "target": target, "verdict": verdict}


def baseline_rows(results: dict[str, dict], baseline: dict[str, dict]) -> list[dict]:
    """Attention of this version against the baseline's, each also as a share of this run's K/V scan."""
    rows = []
    for attention, stream_variant, kv_format in ATTENTION_PAIRS:
        for T in DECODE_TS:
            new = results[point(attention, T).id]["decode"]["bytes_per_s"]
            old = baseline[point(attention, T).id]["decode"]["bytes_per_s"]
            stream = results[point(stream_variant, T).id]["decode"]["bytes_per_s"]
            rows.append(row(f"{attention} vs baseline", f"{kv_format} T={T}", f"{new / old:.3f}x ({new / 1e12:.3f} vs "
                            f"{old / 1e12:.3f} TB/s; {new / stream:.1%} vs {old / stream:.1%} of {stream_variant})",
                            "(side by side)", None))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for results (default: a temp dir)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--nsys", action="store_true", help="trace kv_stream vs graph launch gaps")
    parser.add_argument(
        "--baseline", type=Path, help="kernels/ folder of another version to run attention beside"
    )
    args = parser.parse_args()
    if args.baseline and not (args.baseline / SOURCE.name).is_file():
        parser.error(
            f"--baseline {args.baseline} holds no {SOURCE.name}: give the kernels/ folder of a version"
        )
    out = args.out or Path(tempfile.mkdtemp(prefix="pdprof-kernels-"))
    out.mkdir(parents=True, exist_ok=True)

    binary = out / "prefill_decode_bench"
    build.build("cuda", SOURCE, binary, gpu.cuda_arch(), NVCC_FLAGS)
    if args.baseline:
        baseline_binary = out / "baseline_bench"
        build.build("cuda", args.baseline / SOURCE.name, baseline_binary, gpu.cuda_arch(), NVCC_FLAGS)
    ceilings = calibrate.measure()
    (out / "calibration.json").write_text(json.dumps(ceilings, indent=2))
    copy_bps, read_bps = ceilings["copy_bandwidth"], ceilings["read_bandwidth"]

    results: dict[str, dict] = {}
    cases = [point("seed", 16384), point("fma_ilp", 2048, 1024), point("seed", 2048, 1024)]
    for T in DECODE_TS:
        cases += [point(variant, T) for pair in ATTENTION_PAIRS for variant in pair[:2]]
    cases += [point("graph", 16384)]
    cases += [point("gemm", 2048)]  # the CuPy runner (cuBLAS), via variants.program
    cases += [point("paged", 32768, page_size=size) for size in PAGE_SIZES]
    cases += [point(variant, 8192, batch=BATCH) for variant in ("kv_stream", "attention")]
    baseline: dict[str, dict] = {}
    for p in cases:
        results[p.id] = bench(binary, out, p, args.repeats)
        if args.baseline and p.variant in {pair[0] for pair in ATTENTION_PAIRS} and p.batch == 1:
            baseline[p.id] = bench(baseline_binary, out, p, args.repeats, suffix="-baseline")
    overlap_cases = [point("kv_stream", T) for T in (2048, 16384, 32768)]
    no_overlap = {p.id: bench(binary, out, p, args.repeats, NO_OVERLAP, "-no-overlap") for p in overlap_cases}
    layered = {
        (variant, T): bench(binary, out, point(variant, T), args.repeats, LAYERED, "-layered")
        for variant, _, _ in ATTENTION_PAIRS
        for T in DECODE_TS
    }
    device = results[cases[0].id]["device"]

    def decode_bps(p: Point) -> float:
        return results[p.id]["decode"]["bytes_per_s"]

    # The card's DRAM peak from its memory clock and bus width (H100 SXM5: 3.35 TB/s, the
    # datasheet's; issue 5's 3.0 TB/s target is 90 % of it).
    peak = device["peak_dram_bytes_per_s"]
    rows = []
    for T in (16384, 32768):
        bps = decode_bps(point("kv_stream", T))
        ok = bps >= 0.9 * peak and bps >= copy_bps
        rows.append(row("kv_stream", f"bf16 T={T}", f"{bps / 1e12:.3f} TB/s = {bps / copy_bps:.3f}x copy, "
                        f"{bps / peak:.1%} of {peak / 1e12:.2f}", f">= {0.9 * peak / 1e12:.2f} TB/s and >= 1.0x copy", ok))  # fmt: skip
    for p in overlap_cases:
        on, off = decode_bps(p), no_overlap[p.id]["decode"]["bytes_per_s"]
        rows.append(row(f"{p.variant} overlap", f"bf16 T={p.T}", f"{on / 1e12:.3f} TB/s with, {off / 1e12:.3f} "
                        f"without layer overlap ({on / off:.2f}x)", "(effect)", None))  # fmt: skip
    for attention, stream_variant, kv_format in ATTENTION_PAIRS:
        for T in DECODE_TS:
            stream = decode_bps(point(stream_variant, T))
            result = results[point(attention, T).id]["decode"]
            ratio = result["bytes_per_s"] / stream
            layered_ratio = layered[attention, T]["decode"]["bytes_per_s"] / stream
            kind = "persistent" if result.get("persistent") else "layered"
            cores = "tensor" if result["tensor_cores"] else "CUDA"
            rows.append(row(attention, f"{kv_format} T={T}", f"{ratio:.1%} of {stream_variant} ({kind}, {cores} cores; "
                            f"one launch per layer: {layered_ratio:.1%})", f">= 85% of {stream_variant}", ratio >= 0.85))  # fmt: skip
    if baseline:
        rows += baseline_rows(results, baseline)
    for size in PAGE_SIZES:
        result = results[point("paged", 32768, page_size=size).id]["decode"]
        ratio = result["bytes_per_s"] / decode_bps(point("attention", 32768))
        kind = "persistent" if result.get("persistent") else "one launch per layer"
        rows.append(row("paged", f"bf16 T=32768, {size}-token pages", f"{ratio:.1%} of contiguous attention ({kind})", "(info)", None))  # fmt: skip
    for variant in ("kv_stream", "attention"):
        bps, single = decode_bps(point(variant, 8192, batch=BATCH)), decode_bps(point(variant, 8192))
        rows.append(row(variant, f"bf16 T=8192, batch {BATCH}", f"{bps / 1e12:.3f} TB/s = {bps / single:.2f}x batch 1", "(info)", None))  # fmt: skip
    for T in (8192, 32768):
        fp8, bf16 = decode_bps(point("kv_stream_fp8", T)), decode_bps(point("kv_stream", T))
        rows.append(row("kv_stream_fp8", f"fp8 T={T}", f"{fp8 / 1e12:.3f} TB/s = {fp8 / copy_bps:.3f}x copy, "
                        f"{fp8 / bf16:.1%} of bf16 kv_stream's bandwidth", "(info)", None))  # fmt: skip
    seed_bps = decode_bps(point("seed", 16384))
    rows.append(row("seed decode", "fp32 T=16384", f"{seed_bps / 1e12:.3f} TB/s = {seed_bps / copy_bps:.1%} of copy",
                    "(baseline)", None))  # fmt: skip

    def fp32_peak(clock_mhz: float) -> float:
        return device["sm_count"] * FP32_LANES_PER_SM * 2 * clock_mhz * 1e6

    max_peak = fp32_peak(device["sm_clock_khz"] / 1e3)
    for variant in ("fma_ilp", "seed"):
        rate = results[point(variant, 2048, 1024).id]["prefill"]["flops_per_s"]
        ok = rate >= 0.9 * max_peak if variant == "fma_ilp" else None
        rows.append(row(f"{variant} prefill", "T=2048 iters=1024", f"{rate / 1e12:.1f} TFLOP/s = "
                        f"{rate / max_peak:.1%} of peak at max clock", f">= 90% of {max_peak / 1e12:.1f}", ok))  # fmt: skip
    fma = results[point("fma_ilp", 2048, 1024).id]["prefill"]
    if fma.get("sm_clock_mhz"):
        clock_peak = fp32_peak(fma["sm_clock_mhz"])
        rows.append(row("fma_ilp prefill", f"SM clock it ran at {fma['sm_clock_mhz']:.0f} MHz", f"{fma['flops_per_s'] / 1e12:.1f} "
                        f"TFLOP/s = {fma['flops_per_s'] / clock_peak:.1%} of peak at that clock",
                        f">= 90% of {clock_peak / 1e12:.1f}", fma["flops_per_s"] >= 0.9 * clock_peak))  # fmt: skip
    gemm = results[point("gemm", 2048).id]["prefill"]["flops_per_s"]
    square = ceilings["fp16_gemm_flops"]
    rows.append(row("gemm prefill", "fp16 T=2048", f"{gemm / 1e12:.0f} TFLOP/s = {gemm / square:.1%} of "
                    f"{square / 1e12:.0f} (8192^3)", ">= 90% of cuBLAS square GEMM", gemm >= 0.9 * square))  # fmt: skip

    if args.nsys:
        stream_gap = decode_gap_ns(binary, out, point("kv_stream", 16384))
        graph_gap = decode_gap_ns(binary, out, point("graph", 16384))
        ratio = stream_gap / graph_gap if graph_gap > 0 else float("inf")
        rows.append(row("graph", "bf16 T=16384, no overlap", f"gap {graph_gap:.0f} ns vs {stream_gap:.0f} ns per layer "
                        f"({ratio:.1f}x lower)", ">= 5x lower than per-kernel launches", ratio >= 5))  # fmt: skip

    (out / "kernels_table.json").write_text(
        json.dumps({"device": device, "ceilings": ceilings, "rows": rows}, indent=2)
    )
    print(f"\ndevice: {device['name']}, {device['sm_count']} SMs, SM clock {device['sm_clock_khz'] / 1e3:.0f} MHz (max), "
          f"driver {device['driver_version']}")  # fmt: skip
    print(f"same-run ceilings (CuPy): copy {copy_bps / 1e12:.3f} TB/s, read {read_bps / 1e12:.3f} TB/s, "
          f"FP32 FMA {ceilings['fp32_fma_flops'] / 1e12:.1f} TFLOP/s, FP16 GEMM {ceilings['fp16_gemm_flops'] / 1e12:.0f} TFLOP/s")  # fmt: skip
    widths = {key: max(len(key), *(len(r[key]) for r in rows)) for key in rows[0]}
    print("  ".join(key.ljust(width) for key, width in widths.items()))
    for r in rows:
        print("  ".join(r[key].ljust(width) for key, width in widths.items()))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except PdprofError as exc:
        raise SystemExit(f"benchmarks/kernels.py: error: {exc}") from None
