"""The benchmark where CuPy is installed but nvcc is not, and the cuBLAS prefill (variant gemm).

Takes the same flags as kernels/prefill_decode_bench.cu and prints the same JSON result line
(schema pdprof.bench/1, backend "cuda-nvrtc"), so the pipeline, ncu and nsys treat it alike:

- the device code of kernels/*.h (seed, fma_ilp, kv_stream, attention and their fp8 forms) is
  compiled at run time by NVRTC through cupy.RawModule, and driven here as the C++ host code
  drives it (one launch per layer, event timing, NVTX ranges, a profiler range);
- ``gemm`` runs the prefill's projections of one layer, L times, as cuBLAS GEMMs through
  cupy.matmul: QKV (h query heads, h_kv KV heads), O, and the MLP (up H→4H, down 4H→H) on T
  tokens, fp16 operands with fp32 accumulation (CuPy has no bf16 dtype; Hopper's tensor cores
  run fp16 and bf16 at one rate).

Every variant's output is compared with a float64 reference (CuPy on the GPU) before anything is
timed: a wrong kernel exits 4 and is never timed. Exit codes as the compiled benchmark: 2 bad
arguments, 3 GPU error, 4 output check failed.

    python -m pdprof.cupy_bench --variant kv_stream --T 16384 [--repeats 10] [--mode time|profile]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pdprof import variants
from pdprof.config import Point

KERNELS = Path(__file__).resolve().parents[2] / "kernels"
SCHEMA = "pdprof.bench/1"
REFERENCE_TOLERANCE = 1e-3  # fp32 accumulation over inputs the reference decodes identically
GEMM_TOLERANCE = 1e-2  # fp16 operands and output (device METHOD.md: 1e-3 to 1e-2)
THREADS = 256  # kDecodeThreads and the prefill kernels' block size
MMA_THREADS, MMA_GRANULE = 128, 64  # kAttentionMmaThreads, kAttentionMmaGranule (attention_mma.h)
MMA_HEAD_DIMS = (64, 128)
MMA_SPLIT_ROWS = 128  # kAttentionSplitRows
UNROLL = {"kv_stream": 16, "attention": 2}  # kUnrollStream, kUnrollAttention
STREAM_SPLIT_KIB = 512  # PDPROF_KV_STREAM_SPLIT_KIB
MAX_SPLITS = 1024  # kMaxSplits
STREAM_K, STREAM_V, STREAM_Q = 1, 2, 3  # counter-generator streams (kv_formats.h)
FMA_CHAINS = 32  # kFmaChains
NVRTC_VARIANTS = ("seed", "fma_ilp", "kv_stream", "kv_stream_fp8", "attention", "attention_fp8")
# What the device code needs from gpu_compat.h, which NVRTC cannot include (it pulls in host headers).
NVRTC_PRELUDE = """
#define lane_shfl_xor(value, mask, width) __shfl_xor_sync(0xffffffffu, (value), (mask), (width))
#define load_from_l2(p) __ldcg(p)
#define load4_from_l2(p) __ldcg(reinterpret_cast<const float4*>(p))
#include "seed_kernels.h"
#include "prefill_kernels.h"
#include "decode_kernels.h"
#include "attention_mma.h"
"""


class UsageError(Exception):
    """Bad arguments: exit 2 with the message, as the compiled benchmark does."""


@dataclass(frozen=True, kw_only=True)
class Params(Point):
    """A point and how the benchmark runs it (its flags beyond the point's axes)."""

    warmup: int
    repeats: int
    profile_layers: int
    seed: int
    mode: str

    @property
    def head_dim(self) -> int:
        return self.H // self.heads


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value <= 1 << 30:
        raise argparse.ArgumentTypeError(f"needs a positive integer, got '{text}'")
    return value


def parse_args(argv: list[str]) -> Params:
    known = sorted(set(NVRTC_VARIANTS) | {"gemm"})

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # argparse would exit 2 too, but print usage noise
            raise UsageError(message)

    parser = Parser(prog="python -m pdprof.cupy_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="seed", choices=known)
    for flag, default in (("--L", 32), ("--H", 4096), ("--heads", 32), ("--kv-heads", 8), ("--T", 2048),
                          ("--iters-fma", 256), ("--warmup", 2), ("--repeats", 10), ("--profile-layers", 1),
                          ("--seed", 1234), ("--batch", 1)):  # fmt: skip
        parser.add_argument(flag, type=positive, default=default)
    parser.add_argument("--mode", choices=("time", "profile"), default="time")
    args = parser.parse_args(argv)
    if args.H % args.heads:
        raise UsageError("--H must be divisible by --heads")
    if args.heads % args.kv_heads:
        raise UsageError("--heads must be divisible by --kv-heads")
    if args.T * args.H > 2**31 - 1:
        raise UsageError("--T * --H exceeds the prefill kernels' int index range")
    problem = variants.shape_problem(args.variant, args.H, args.heads, args.kv_heads)
    if problem:
        raise UsageError(problem)
    if args.batch != 1:
        raise UsageError(
            "--batch: this runner decodes one sequence; the nvcc build of the benchmark runs batches"
        )
    return Params(args.variant, args.L, args.H, args.heads, args.kv_heads, args.T, args.iters_fma,
                  warmup=args.warmup, repeats=args.repeats, profile_layers=min(args.profile_layers, args.L),
                  seed=args.seed, mode=args.mode)  # fmt: skip


# --------------------------------------------------------------------------- host-side formats


def fp8_e4m3_values():
    """The float value of every fp8 e4m3 code (kv_formats.h Fp8E4M3::decode; 0x7F/0xFF are NaN)."""
    import numpy as np

    codes = np.arange(256)
    exponent, mantissa = (codes >> 3) & 0xF, codes & 0x7
    magnitude = np.where(exponent == 0, mantissa / 8 * 2.0**-6, (1 + mantissa / 8) * 2.0 ** (exponent - 7))
    values = np.where(codes & 0x80, -magnitude, magnitude)
    values[(codes & 0x7F) == 0x7F] = np.nan
    return values


def decoded(cp, raw, kv_format: str):
    """K or V storage as the float64 values the kernels decode."""
    if kv_format == "bf16":
        return (raw.astype(cp.uint32) << 16).view(cp.float32).astype(cp.float64)
    return cp.asarray(fp8_e4m3_values())[raw]


# --------------------------------------------------------------------------- runs


@dataclass
class Phase:
    """One phase's launches: step(layers) enqueues them; reference() checks the last step."""

    step: Callable[[int], None]
    reference: Callable[[], float]
    outputs: object  # device array(s), or a dict of them, poisoned before the check and checked after
    flops_per_step: float
    bytes_per_step: float = 0.0
    distinct_bytes: float = 0.0
    splits: int = 1
    tokens_per_split: int = 0
    tensor_cores: bool = False  # decode attention on the tensor cores (attention_mma.h)
    tolerance: float = REFERENCE_TOLERANCE
    clock_probe: object = None  # fma_ilp: device uint64[2], SM cycles and ns summed over blocks

    def probed_clock_mhz(self) -> float | None:
        """Mean SM clock of the launches since the probe was zeroed (MHz), if the phase has a probe."""
        if self.clock_probe is None:
            return None
        cycles, ns = (int(value) for value in self.clock_probe.get())
        return 1e3 * cycles / ns if ns else None

    def arrays(self) -> list:
        return list(self.outputs.values()) if isinstance(self.outputs, dict) else [self.outputs]


def module(cp):
    """Every kernel of kernels/*.h, compiled once by NVRTC (templates by their instantiations)."""
    names = ["prefill_fma_kernel", "prefill_fma_ilp_kernel", "decode_kv_scan_kernel", "init_float_kernel"]
    for fmt in ("Bf16", "Fp8E4M3"):
        names += [f"init_kv_kernel<{fmt}>", f"decode_kv_stream_kernel<{fmt}, {UNROLL['kv_stream']}, false>"]
        names += [f"decode_attention_kernel<{fmt}, {g}, {UNROLL['attention']}, false>" for g in (1, 2, 4, 8)]
    names += [f"decode_attention_mma_kernel<{g}, {d}, false>" for g in (1, 2, 4, 8) for d in MMA_HEAD_DIMS]
    options = ("-std=c++17", f"-I{KERNELS}")
    # CuPy caches compiled modules by their source text: the headers' hash makes an edit recompile.
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sorted(KERNELS.glob("*.h")))).hexdigest()
    return cp.RawModule(
        code=f"// kernels/*.h {digest}\n{NVRTC_PRELUDE}", options=options, name_expressions=names
    )


def blocks_per_sm(cp, kernel, threads: int = THREADS) -> int:
    """Resident blocks of *threads* threads per SM for *kernel* (the CUDA occupancy calculator)."""
    try:
        return max(1, cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(kernel.ptr, threads, 0))
    except AttributeError:  # older CuPy: the register file bounds it (64K registers, 2048 threads)
        return max(1, min(65536 // (max(kernel.num_regs, 1) * threads), 2048 // threads))


def prefill_phase(cp, mod, p: Params) -> Phase:
    import numpy as np

    n = p.T * p.H
    rng = np.random.default_rng(p.seed)
    X = cp.asarray(rng.uniform(-1, 1, n).astype(np.float32))
    W = cp.asarray(rng.uniform(-1, 1, 1024).astype(np.float32))
    Y = cp.empty(n, dtype=cp.float32)
    seed = p.variant == "seed"
    kernel = mod.get_function("prefill_fma_kernel" if seed else "prefill_fma_ilp_kernel")
    blocks = (n + THREADS - 1) // THREADS

    # fma_ilp's blocks sum their SM cycles and nanoseconds here (prefill_kernels.h: ClockProbe).
    clock_probe = None if seed else cp.zeros(2, dtype=cp.uint64)
    probe_arg = () if seed else (clock_probe,)

    def step(layers: int) -> None:
        for _ in range(layers):
            kernel((blocks,), (THREADS,), (X, W, Y, np.int32(n), np.int32(p.iters_fma), *probe_arg))

    def reference() -> float:
        index = np.arange(0, n, max(1, n // 4096))
        x, w_tile = X.get()[index].astype(np.float64), W.get().astype(np.float64)
        if seed:
            w, acc = w_tile[index % 1024], np.zeros_like(x)
            for _ in range(p.iters_fma):
                acc, w = acc + x * w, w * 1.00001 + 0.0001
        else:
            acc = np.zeros_like(x)
            for chain in range(FMA_CHAINS):
                w, value = 0.9 * w_tile[(index + chain * 127) & 1023], x.copy()
                for _ in range(p.iters_fma):
                    value = value * w + x
                acc += value
        return relative_error(Y.get()[index], acc)

    per_iteration = 4.0 if seed else 2.0 * FMA_CHAINS
    return Phase(step, reference, Y, per_iteration * n * p.iters_fma * p.L, clock_probe=clock_probe)


def gemm_phase(cp, p: Params) -> Phase:
    """The prefill's linear layers as cuBLAS GEMMs on T tokens; one set of weights for all L layers."""
    d, ffn = p.head_dim, 4 * p.H
    rng = cp.random.default_rng(p.seed)

    def matrix(rows: int, cols: int):
        return (rng.standard_normal((rows, cols), dtype=cp.float32) / math.sqrt(rows)).astype(cp.float16)

    X = rng.standard_normal((p.T, p.H), dtype=cp.float32).astype(cp.float16)
    weights = {"qkv": matrix(p.H, p.H + 2 * p.kv_heads * d), "o": matrix(p.H, p.H),
               "up": matrix(p.H, ffn), "down": matrix(ffn, p.H)}  # fmt: skip
    outputs = {}

    def layer() -> None:
        outputs["qkv"] = cp.matmul(X, weights["qkv"])
        outputs["o"] = cp.matmul(X, weights["o"])  # the attention output stands in as X
        outputs["up"] = cp.matmul(X, weights["up"])
        outputs["down"] = cp.matmul(outputs["up"], weights["down"])

    def step(layers: int) -> None:
        for _ in range(layers):
            layer()

    def reference() -> float:
        rows = slice(0, min(p.T, 64))
        errors = []
        for name, operand in (("qkv", X), ("o", X), ("up", X), ("down", outputs["up"])):
            exact = operand[rows].astype(cp.float64) @ weights[name].astype(cp.float64)
            errors.append(relative_error(outputs[name][rows].astype(cp.float64), exact))
        return max(errors)

    per_token = 2 * p.H * (p.H + 2 * p.kv_heads * d) + 2 * p.H * p.H + 2 * 2 * p.H * ffn
    return Phase(step, reference, outputs, float(per_token) * p.T * p.L, tolerance=GEMM_TOLERANCE)


def decode_phase(cp, mod, p: Params, device: dict) -> Phase:
    import numpy as np

    spec = variants.VARIANTS[p.variant]
    kv_format = kv_format_of(p.variant)
    fmt = {"bf16": "Bf16", "fp8_e4m3": "Fp8E4M3"}[kv_format]  # the kv_formats.h struct
    attention = p.variant.startswith("attention")
    d, group = p.head_dim, p.heads // p.kv_heads
    kv_per_layer = p.kv_heads * p.T * d
    rows_q = p.heads if attention else p.kv_heads
    storage = cp.uint8 if spec.kv_bytes == 1 else cp.uint16
    K, V = cp.empty(kv_per_layer * p.L, dtype=storage), cp.empty(kv_per_layer * p.L, dtype=storage)
    q, out = cp.empty(rows_q * d * p.L, dtype=cp.float32), cp.empty(rows_q * d * p.L, dtype=cp.float32)
    init_kv = mod.get_function(f"init_kv_kernel<{fmt}>")
    for tensor, stream in ((K, STREAM_K), (V, STREAM_V)):
        init_kv((4096,), (256,), (tensor, np.uint64(tensor.size), np.uint32(stream), np.uint32(p.seed)))
    mod.get_function("init_float_kernel")(
        (256,), (256,), (q, np.uint64(q.size), np.uint32(STREAM_Q), np.uint32(p.seed))
    )

    # As the compiled benchmark: bf16 attention runs on the tensor cores where mma.sync exists.
    # (The compiled benchmark also runs fp8 attention there from compute capability 8.9; this
    # runner keeps fp8 on the CUDA cores.)
    tensor_cores = (attention and kv_format == "bf16" and d in MMA_HEAD_DIMS
                    and int(device["compute_capability"].split(".")[0]) >= 8)  # fmt: skip
    threads = MMA_THREADS if tensor_cores else THREADS
    if tensor_cores:
        name, granule = f"decode_attention_mma_kernel<{group}, {d}, false>", MMA_GRANULE
    else:  # a pass: THREADS / (threads per row) rows, UNROLL times
        kind = "attention" if attention else "kv_stream"
        name = (f"decode_attention_kernel<{fmt}, {group}, {UNROLL[kind]}, false>" if attention
                else f"decode_kv_stream_kernel<{fmt}, {UNROLL[kind]}, false>")  # fmt: skip
        granule = THREADS // (d // spec.elements_per_thread) * UNROLL[kind]
    kernel = mod.get_function(name)
    wanted = min(
        MAX_SPLITS,
        max(1, device["sm_count"] * blocks_per_sm(cp, kernel, threads) // p.kv_heads),
    )
    least_tokens = (
        (MMA_SPLIT_ROWS if tensor_cores else 1)
        if attention
        else STREAM_SPLIT_KIB * 1024 // (2 * d * spec.kv_bytes)
    )
    tokens_per_split = div_up(max(div_up(p.T, wanted), least_tokens), granule) * granule
    splits = div_up(p.T, tokens_per_split)
    partial = cp.empty(p.heads * splits * d, dtype=cp.float32)
    partial_max_sum = cp.empty(p.heads * splits * 2, dtype=cp.float32)
    arrivals = cp.zeros(p.kv_heads, dtype=cp.uint32)
    score_scale = np.float32(1.4426950408889634 / math.sqrt(d))
    item = K.itemsize

    def step(layers: int) -> None:
        for layer in range(layers):
            Kl = K[kv_per_layer * layer :]
            Vl = V[kv_per_layer * layer :]
            ql, ol = q[rows_q * d * layer :], out[rows_q * d * layer :]
            common = (np.int32(p.T), np.int32(d), np.int32(tokens_per_split))
            # KvLayout of one contiguous sequence: no page table (kernels/decode_kernels.h).
            contiguous = (np.uint64(0), np.int32(0), np.int32(0), np.int32(p.kv_heads))
            if attention:
                args = (Kl, Vl, ql, partial, partial_max_sum, arrivals, ol, *common, score_scale, *contiguous)
            else:
                args = (Kl, Vl, ql, partial, arrivals, ol, *common, *contiguous)
            kernel((splits, p.kv_heads), (threads,), args)

    def reference() -> float:
        errors = []
        for layer in sorted({0, p.L - 1}):
            window = slice(kv_per_layer * layer, kv_per_layer * (layer + 1))
            k = decoded(cp, K[window], kv_format).reshape(p.kv_heads, p.T, d)
            v = decoded(cp, V[window], kv_format).reshape(p.kv_heads, p.T, d)
            ql = q[rows_q * d * layer : rows_q * d * (layer + 1)].astype(cp.float64).reshape(rows_q, d)
            if attention:
                qg = ql.reshape(p.kv_heads, group, d)
                scores = cp.einsum("hgd,htd->hgt", qg, k) / math.sqrt(d)
                weights = cp.exp(scores - scores.max(axis=-1, keepdims=True))
                weights /= weights.sum(axis=-1, keepdims=True)
                exact = cp.einsum("hgt,htd->hgd", weights, v).reshape(rows_q, d)
            else:
                exact = ql * (k * v).sum(axis=1)
            got = out[rows_q * d * layer : rows_q * d * (layer + 1)].astype(cp.float64).reshape(rows_q, d)
            errors.append(relative_error(got, exact))
        return max(errors)

    kv_bytes = 2.0 * kv_per_layer * p.L * item
    flops = (4.0 * p.heads * p.T * d if attention else 3.0 * kv_per_layer) * p.L
    return Phase(
        step, reference, out, flops, kv_bytes, kv_bytes, splits, tokens_per_split, tensor_cores=tensor_cores
    )


def seed_decode_phase(cp, mod, p: Params) -> Phase:
    import numpy as np

    d, lanes = p.head_dim, p.kv_heads * p.head_dim
    rng = np.random.default_rng(p.seed + 2)
    K = cp.asarray(rng.uniform(-1, 1, p.kv_heads * p.T * d).astype(np.float32))
    V = cp.asarray(rng.uniform(-1, 1, p.kv_heads * p.T * d).astype(np.float32))
    q = cp.asarray(rng.uniform(-1, 1, lanes).astype(np.float32))
    out = cp.empty(lanes, dtype=cp.float32)
    kernel = mod.get_function("decode_kv_scan_kernel")
    blocks = (lanes + THREADS - 1) // THREADS

    def step(layers: int) -> None:
        for _ in range(layers):
            kernel((blocks,), (THREADS,), (K, V, q, out, np.int32(p.T), np.int32(d), np.int32(p.kv_heads)))

    def reference() -> float:
        k = K.astype(cp.float64).reshape(p.kv_heads, p.T, d)
        v = V.astype(cp.float64).reshape(p.kv_heads, p.T, d)
        exact = q.astype(cp.float64).reshape(p.kv_heads, d) * (k * v).sum(axis=1)
        return relative_error(out.astype(cp.float64).reshape(p.kv_heads, d), exact)

    distinct = 2.0 * K.size * 4
    return Phase(step, reference, out, 3.0 * K.size * p.L, distinct * p.L, distinct)


def div_up(a: int, b: int) -> int:
    return -(-a // b)


def relative_error(got, exact) -> float:
    """||got - exact|| / ||exact||; NaN when got holds a NaN (then no tolerance passes)."""
    xp = sys.modules["cupy"] if type(got).__module__.startswith("cupy") else sys.modules["numpy"]
    return float(xp.linalg.norm(got - exact) / xp.linalg.norm(exact))


# --------------------------------------------------------------------------- driver


def device_info(cp) -> dict:
    runtime = cp.cuda.runtime
    dev = cp.cuda.Device().id
    props = runtime.getDeviceProperties(dev)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    memory_clock_khz = runtime.deviceGetAttribute(runtime.cudaDevAttrMemoryClockRate, dev)
    bus_bits = runtime.deviceGetAttribute(runtime.cudaDevAttrGlobalMemoryBusWidth, dev)
    return {
        "name": name,
        "compute_capability": f"{props['major']}.{props['minor']}",
        "sm_count": int(props["multiProcessorCount"]),
        "l2_bytes": int(props["l2CacheSize"]),
        "memory_bytes": int(props["totalGlobalMem"]),
        "memory_bus_bits": int(bus_bits),
        "memory_clock_khz": int(memory_clock_khz),
        "sm_clock_khz": int(runtime.deviceGetAttribute(runtime.cudaDevAttrClockRate, dev)),
        "peak_dram_bytes_per_s": 2.0 * memory_clock_khz * 1e3 * bus_bits / 8,
        "driver_version": int(runtime.driverGetVersion()),
        "runtime_version": int(runtime.runtimeGetVersion()),
    }


def timed(cp, step: Callable[[int], None], layers: int, name: str) -> float:
    """One step of *layers* inside its NVTX range, in milliseconds by device events."""
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    cp.cuda.nvtx.RangePush(name)
    start.record()
    step(layers)
    stop.record()
    stop.synchronize()
    cp.cuda.nvtx.RangePop()
    return cp.cuda.get_elapsed_time(start, stop)


def outputs_finite(cp, phase: Phase) -> bool:
    return all(bool(cp.isfinite(array).all()) for array in phase.arrays())


def run(p: Params) -> tuple[dict, int]:
    import cupy as cp

    device = device_info(cp)
    spec_phases = variants.VARIANTS[p.variant].phases
    mod = None if p.variant == "gemm" else module(cp)
    phases: dict[str, Phase] = {}
    if "prefill" in spec_phases:
        phases["prefill"] = gemm_phase(cp, p) if p.variant == "gemm" else prefill_phase(cp, mod, p)
    if "decode" in spec_phases:
        seed = p.variant == "seed"
        phases["decode"] = seed_decode_phase(cp, mod, p) if seed else decode_phase(cp, mod, p, device)
    cp.cuda.Device().synchronize()

    errors = {"prefill": 0.0, "decode": 0.0}
    for name, phase in phases.items():  # correct first: one untimed step against float64
        for array in phase.arrays():
            array.fill(float("nan"))
        phase.step(1 if name == "prefill" else p.L)
        cp.cuda.Device().synchronize()
        errors[name] = phase.reference()
        if not errors[name] <= phase.tolerance:
            print(f"error: {name} output differs from the float64 reference: relative error "
                  f"{errors[name]:.3g} > {phase.tolerance:.0e}", file=sys.stderr)  # fmt: skip
            return {}, 4

    warmups = {name: [timed(cp, ph.step, p.L, name) for _ in range(p.warmup)] for name, ph in phases.items()}
    times: dict[str, list[float]] = {}
    for phase in phases.values():
        if phase.clock_probe is not None:
            phase.clock_probe.fill(0)
    if p.mode == "time":
        print(
            f"timing {p.repeats} repeats of each phase (variant {p.variant}, L={p.L}, T={p.T})",
            file=sys.stderr,
        )
        times = {
            name: [timed(cp, ph.step, p.L, name) for _ in range(p.repeats)] for name, ph in phases.items()
        }
    else:  # only this range is profiled (ncu --profile-from-start off): warm-up excluded
        cp.cuda.Device().synchronize()
        cp.cuda.profiler.start()
        for phase in phases.values():
            phase.step(p.profile_layers)
        cp.cuda.Device().synchronize()
        cp.cuda.profiler.stop()
    finite = {name: outputs_finite(cp, phase) for name, phase in phases.items()}

    result = {
        "schema": SCHEMA,
        "backend": "cuda-nvrtc",
        "variant": p.variant,
        "mode": p.mode,
        "phases": list(phases),
        "device": device,
        "params": {
            "L": p.L,
            "H": p.H,
            "heads": p.heads,
            "kv_heads": p.kv_heads,
            "head_dim": p.head_dim,
            "T": p.T,
            "iters_fma": p.iters_fma,
            "warmup": p.warmup,
            "repeats": p.repeats,
            "profile_layers": p.profile_layers,
            "seed": p.seed,
            "kv_format": kv_format_of(p.variant),
            "batch": p.batch,
            "page_size": p.page_size,
        },  # fmt: skip
        "checks": {
            "prefill_output_finite": finite.get("prefill", True),
            "decode_output_finite": finite.get("decode", True),
            "reference_tolerance": max((ph.tolerance for ph in phases.values()), default=REFERENCE_TOLERANCE),
            "prefill_reference_rel_error": errors["prefill"],
            "decode_reference_rel_error": errors["decode"],
        },
        "prefill": None,
        "decode": None,
    }
    for name, phase in phases.items():
        if name not in times:
            continue
        ms = times[name]
        median = statistics.median(ms)
        timing = {"ms_median": median, "ms_min": min(ms), "ms_max": max(ms), "ms_all": ms,
                  "warmup_ms_all": warmups[name]}  # fmt: skip
        if name == "prefill":
            timing |= {"tokens_per_s": p.T / (median / 1e3), "kernel_flops": phase.flops_per_step,
                       "flops_per_s": phase.flops_per_step / (median / 1e3),
                       "sm_clock_mhz": phase.probed_clock_mhz()}  # fmt: skip
        else:
            # Attention runs one launch per layer here: the persistent kernel's TMA descriptors
            # come from the nvcc build's host code.
            timing |= {"tokens_per_s": 1e3 / median, "kv_bytes_per_step": phase.bytes_per_step,
                       "kv_distinct_bytes": phase.distinct_bytes,
                       "bytes_per_s": phase.bytes_per_step / (median / 1e3), "kernel_flops": phase.flops_per_step,
                       "splits": phase.splits, "tokens_per_split": phase.tokens_per_split,
                       "tensor_cores": phase.tensor_cores,
                       "persistent": False}  # fmt: skip
        result[name] = timing
    return result, 0 if all(finite.values()) else 4


def kv_format_of(variant: str) -> str:
    if variant in ("gemm", "fma_ilp"):
        return ""
    return {4: "fp32", 2: "bf16", 1: "fp8_e4m3"}[variants.VARIANTS[variant].kv_bytes]


def main(argv: list[str] | None = None) -> int:
    try:
        params = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import cupy  # noqa: F401
    except ImportError:
        print("error: the NVRTC runner needs CuPy: pip install cupy-cuda13x (or the build for your CUDA)",
              file=sys.stderr)  # fmt: skip
        return 3
    try:
        result, status = run(params)
    except Exception as exc:  # CUDA, NVRTC and cuBLAS errors: one line, as the benchmark's GPU_CHECK
        if type(exc).__module__.split(".")[0] not in ("cupy", "cupy_backends"):
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    if result:
        print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
