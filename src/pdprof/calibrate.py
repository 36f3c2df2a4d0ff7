"""Measured ceilings of the GPU at hand (CuPy): the peaks validation judges against.

Datasheet numbers are leads; a card runs at its own clocks and memory. Per GPU this
measures, with device events, after warm-up, as the median of repeats:

- copy bandwidth: a device-to-device copy, counting bytes read plus bytes written;
- read bandwidth: a 16-byte-load reduction that only reads (what a KV-cache scan needs);
- FP32 FMA rate: independent FMA chains on every SM (FFMA = 2 FLOP);
- FP16 GEMM rate: a square cuBLAS matrix product through CuPy (the tensor cores; CuPy
  has no bfloat16 type, and Hopper runs FP16 and BF16 at the same dense rate), timed after
  GEMM_SUSTAIN_S of back-to-back products: a prefill step runs its GEMMs for tens of
  milliseconds and more, at the clocks the card holds under that load, not at a cold card's;
- L2 size and SM count, as the device reports them.

Buffers are far larger than L2, so the bandwidths are DRAM's.
"""

from __future__ import annotations

import datetime as dt
import statistics

from pdprof.errors import ToolError

SCHEMA = "pdprof.calibration/1"
BUFFER_BYTES = 2 * 2**30
GEMM_N = 8192
FMA_ITERS = 4096
FMA_CHAINS = 32  # independent FMA chains per thread of the FMA-rate kernel
REPEATS = 20
GEMM_SUSTAIN_S = 0.5  # back-to-back GEMMs before the GEMM rate is timed

_KERNELS = r"""
extern "C" __global__ void read_sum(const float4* __restrict__ x, size_t n, float* out) {
  float acc = 0.f;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    float4 v = x[i];
    acc += v.x + v.y + v.z + v.w;
  }
  if (acc == 12345.678f) out[0] = acc;  // keeps the loads; never true for the data used
}

extern "C" __global__ void fma_chains(float* out, int iters, float seed) {
  // 32 independent chains per thread keep the FMA pipes full despite their latency (on the
  // H100, 8 chains reached 84 % of the FP32 peak, 32 reached 90 %: benchmarks/NOTES.md, v3).
  float a[FMA_CHAINS];
#pragma unroll
  for (int j = 0; j < FMA_CHAINS; ++j) a[j] = seed + j;
  const float m = 0.9999f, c = 0.0001f;
#pragma unroll 16
  for (int k = 0; k < iters; ++k)
#pragma unroll
    for (int j = 0; j < FMA_CHAINS; ++j) a[j] = fmaf(a[j], m, c);
  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < FMA_CHAINS; ++j) sum += a[j];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
}
"""


def _cupy():
    try:
        import cupy
    except ImportError:
        raise ToolError(
            "calibration needs CuPy: pip install cupy-cuda13x (or the build for your CUDA), "
            "or set calibration.enabled: false to judge against datasheet peaks"
        ) from None
    return cupy


def _median_ms(cp, launch, repeats: int = REPEATS) -> float:
    """Median time of `launch()` over repeats, after two warm-up calls, with device events."""
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    for _ in range(2):
        launch()
    times = []
    for _ in range(repeats):
        start.record()
        launch()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)


def _sustain(cp, launch, seconds: float) -> None:
    """Run `launch()` back to back until `seconds` of device time have passed."""
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    start.record()
    while True:
        for _ in range(10):
            launch()
        stop.record()
        stop.synchronize()
        if cp.cuda.get_elapsed_time(start, stop) >= seconds * 1e3:
            return


def measure() -> dict:
    """Measure the current device's ceilings; the result is JSON-able."""
    cp = _cupy()
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    sm_count = int(props["multiProcessorCount"])
    module = cp.RawModule(code=f"#define FMA_CHAINS {FMA_CHAINS}\n{_KERNELS}")
    n_floats = BUFFER_BYTES // 4
    rng = cp.random.default_rng(7)
    source = rng.random(n_floats, dtype=cp.float32)  # random data: never time zeros
    target = cp.empty_like(source)

    copy_ms = _median_ms(cp, lambda: cp.copyto(target, source))
    read_kernel = module.get_function("read_sum")
    sink = cp.zeros(1, dtype=cp.float32)
    n_vec = n_floats // 4
    read_ms = _median_ms(cp, lambda: read_kernel((sm_count * 8,), (512,), (source, cp.uint64(n_vec), sink)))

    fma_kernel = module.get_function("fma_chains")
    blocks, threads = sm_count * 16, 256
    fma_out = cp.empty(blocks * threads, dtype=cp.float32)
    fma_ms = _median_ms(
        cp, lambda: fma_kernel((blocks,), (threads,), (fma_out, cp.int32(FMA_ITERS), cp.float32(1.5)))
    )
    fma_flops = 2 * FMA_CHAINS * FMA_ITERS * blocks * threads

    a = rng.standard_normal((GEMM_N, GEMM_N), dtype=cp.float32).astype(cp.float16)
    b = rng.standard_normal((GEMM_N, GEMM_N), dtype=cp.float32).astype(cp.float16)
    _sustain(cp, lambda: cp.matmul(a, b), GEMM_SUSTAIN_S)
    gemm_ms = _median_ms(cp, lambda: cp.matmul(a, b), repeats=10)
    gemm_flops = 2 * GEMM_N**3

    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {
        "schema": SCHEMA,
        "device": {
            "name": name,
            "compute_capability": f"{props['major']}.{props['minor']}",
            "sm_count": sm_count,
            "l2_bytes": int(props["l2CacheSize"]),
            "memory_bytes": int(props["totalGlobalMem"]),
        },
        "copy_bandwidth": 2 * BUFFER_BYTES / (copy_ms / 1e3),
        "read_bandwidth": BUFFER_BYTES / (read_ms / 1e3),
        "fp32_fma_flops": fma_flops / (fma_ms / 1e3),
        "fp16_gemm_flops": gemm_flops / (gemm_ms / 1e3),
        "method": {
            "buffer_bytes": BUFFER_BYTES,
            "gemm_n": GEMM_N,
            "gemm_sustain_s": GEMM_SUSTAIN_S,
            "fma_iters": FMA_ITERS,
            "fma_chains": FMA_CHAINS,
            "repeats": REPEATS,
            "cupy_version": cp.__version__,
        },
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
