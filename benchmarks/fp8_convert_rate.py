"""How fast an SM turns fp8 e4m3 into f16 pairs: the hardware conversion against integer operations.

fp8 attention converts every K and V byte to f16 before its mma (64 `F2FP.F16.E4M3.UNPACK_B` per
16-row tile, benchmarks/NOTES.md v9). This script asked whether that conversion's rate is what
fp8 attention loses after each layer's wait. On an H100 it is not: F2FP converts 49 pairs per
clock per SM, the integer form 21 (benchmarks/results/kernels-h100-v9/s12-4045c9b/).

Three kernels, each 8 independent chains per thread and 32 warps per SM, timed with CUDA events:
- f2fp: the kernels' `cvt.rn.f16x2.e4m3x2` (`f16x2_pairs_of_e4m3x4`), one instruction per pair;
- intcvt: an exact integer form of a pair (`scaled_f16x2_of_e4m3x2` below): PRMT, SHF, AND and
  ADD, giving the pair's f16 values times 2^-8 (every e4m3 code, subnormals included);
- lop3: one LOP3 per step, the integer pipe's reference.

Before timing, every 16-bit pattern goes through f2fp and intcvt once; intcvt must give f2fp's
values times 2^-8 for all of them but the two NaN codes, or the script exits 1.
Run on a GPU with CuPy:  python benchmarks/fp8_convert_rate.py
"""

from __future__ import annotations

import sys

from pdprof.cupy_bench import KERNELS, NVRTC_PRELUDE

# The kernels' own hardware conversion (kernels/decode_kernels.h, as NVRTC compiles it for the CuPy
# runner) and the integer form, each step timed as one chain per register.
SOURCE = (
    NVRTC_PRELUDE
    + r"""
__device__ __forceinline__ unsigned hardware_pair(unsigned word) { return f16x2_pairs_of_e4m3x4(word).x; }
// Bytes 0 and 1 of `word` (fp8 e4m3) as an f16 pair times 2^-8, by integer operations: each
// byte in the high byte of its half, shifted right by one (magnitude to f16 bits 13..7, sign to
// bit 14), then bit 14 added onto itself (the sign to bit 15). Exact for every code but NaN.
__device__ __forceinline__ unsigned scaled_f16x2_of_e4m3x2(unsigned word) {
  unsigned placed, shifted, sign;
  asm("prmt.b32 %0, %1, 0, 0x1404;" : "=r"(placed) : "r"(word));
  asm("shr.b32 %0, %1, 1;" : "=r"(shifted) : "r"(placed));
  asm("and.b32 %0, %1, 0x40004000;" : "=r"(sign) : "r"(shifted));
  return shifted + sign;
}
__device__ __forceinline__ unsigned lop3_step(unsigned x, unsigned y) {
  asm volatile("lop3.b32 %0, %0, %1, 0x5a5a5a5a, 0x96;" : "+r"(x) : "r"(y));
  return x;
}
#define RATE_KERNEL(name, step)                                                  \
  extern "C" __global__ void name(const unsigned* in, unsigned* out, int iters) { \
    const int thread = blockIdx.x * blockDim.x + threadIdx.x;                    \
    unsigned x[8];                                                               \
    for (int i = 0; i < 8; ++i) x[i] = in[thread * 8 + i];                       \
    for (int it = 0; it < iters; ++it) {                                         \
      _Pragma("unroll") for (int i = 0; i < 8; ++i) x[i] = step;                 \
    }                                                                            \
    unsigned folded = 0;                                                         \
    for (int i = 0; i < 8; ++i) folded ^= x[i];                                  \
    out[thread] = folded;                                                        \
  }
RATE_KERNEL(f2fp, hardware_pair(x[i]))
RATE_KERNEL(intcvt, scaled_f16x2_of_e4m3x2(x[i]))
RATE_KERNEL(lop3, lop3_step(x[i], it))

extern "C" __global__ void both_forms(unsigned* hardware, unsigned* integer) {
  const unsigned word = blockIdx.x * blockDim.x + threadIdx.x;  // bytes 0 and 1: every pattern
  hardware[word] = hardware_pair(word);
  integer[word] = scaled_f16x2_of_e4m3x2(word);
}
"""
)
OPTIONS = ("-std=c++17", f"-I{KERNELS}")  # as the CuPy runner compiles them

# name, instructions per step, e4m3 pairs converted per step (the helper's second F2FP, whose
# pair no chain uses, is dropped by ptxas: sm_90 SASS of f2fp holds one per step)
RATE_KERNELS = (("f2fp", 1, 1), ("intcvt", 4, 1), ("lop3", 1, 0))
E4M3_NAN = 0x7F  # with or without the sign bit


def check_integer_form(cp, module) -> int:
    """Mismatches of intcvt against f2fp x 2^-8 over all 16-bit patterns (NaN codes left out)."""
    both_forms = module.get_function("both_forms")
    hardware, integer = cp.zeros(65536, dtype=cp.uint32), cp.zeros(65536, dtype=cp.uint32)
    both_forms((256,), (256,), (hardware, integer))
    hw = hardware.view(cp.float16).astype(cp.float32)
    scaled = integer.view(cp.float16).astype(cp.float32) * 256.0
    codes = cp.arange(65536, dtype=cp.uint32)
    lanes = cp.stack([codes & 0xFF, (codes >> 8) & 0xFF], axis=1).reshape(-1)
    numeric = (lanes & 0x7F) != E4M3_NAN
    return int(cp.count_nonzero((hw != scaled) & numeric))


def main() -> int:
    import cupy as cp

    module = cp.RawModule(code=SOURCE, options=OPTIONS)
    mismatches = check_integer_form(cp, module)
    if mismatches:
        print(
            f"fp8_convert_rate.py: error: the integer form differs from cvt.rn.f16x2.e4m3x2 in {mismatches} values"
        )
        return 1
    print("integer form: f2fp's value x 2^-8 for all 65,536 patterns (NaN codes aside)")
    props = cp.cuda.runtime.getDeviceProperties(0)
    sms, clock_hz = props["multiProcessorCount"], props["clockRate"] * 1e3
    blocks, threads, iters = sms * 4, 256, 4096
    data = cp.random.randint(0, 2**32, size=blocks * threads * 8, dtype=cp.uint64).astype(cp.uint32)
    out = cp.zeros(blocks * threads, dtype=cp.uint32)
    print(f"{props['name'].decode()}: {sms} SMs, rates at the {clock_hz / 1e6:.0f} MHz maximum clock")
    print(f"{'kernel':8s} {'ms':>8s} {'instr/clk/SM':>13s} {'pairs/clk/SM':>13s}")
    start, end = cp.cuda.Event(), cp.cuda.Event()
    for name, instructions, pairs in RATE_KERNELS:
        kernel = module.get_function(name)
        kernel((blocks,), (threads,), (data, out, cp.int32(iters)))  # warm-up
        times = []
        for _ in range(5):
            start.record()
            kernel((blocks,), (threads,), (data, out, cp.int32(iters)))
            end.record()
            end.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, end) * 1e-3)
        steps_per_clock = blocks * threads * iters * 8 / (min(times) * sms * clock_hz)
        print(
            f"{name:8s} {min(times) * 1e3:8.3f} {instructions * steps_per_clock:13.2f} "
            f"{pairs * steps_per_clock:13.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
