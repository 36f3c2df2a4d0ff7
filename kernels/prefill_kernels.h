// Compute-bound prefill stand-ins beyond the seed's single dependent FMA chain.
#pragma once

// Independent FMA chains per thread: enough instruction-level parallelism to keep
// the FP32 pipes busy through the FMA latency, where the seed's one chain stalls.
// (benchmarks/constants_sweep.py rebuilds with -DPDPROF_FMA_CHAINS=N to compare.)
#ifndef PDPROF_FMA_CHAINS
#define PDPROF_FMA_CHAINS 32
#endif
constexpr int kFmaChains = PDPROF_FMA_CHAINS;

// Chain c of element i: acc <- acc * w_c + x, iters_fma times, |w_c| < 1 so the
// value stays bounded; the chains' sum is stored. 2 * kFmaChains FLOP per iteration.
__host__ __device__ inline float fma_ilp_weight(const float* W, int i, int chain) {
  return 0.9f * W[(i + chain * 127) & 1023];
}

// The SM clock a kernel actually ran at: every block's first thread adds the SM cycles
// and the nanoseconds of its run to clock_probe[0] and [1] (their ratio is the mean
// clock). A peak computed from the nominal boost clock misjudges a throttled card.
struct ClockProbe {
  long long cycles;
  unsigned long long ns;
};

__device__ inline unsigned long long global_ns() {
#if defined(__CUDA_ARCH__)
  unsigned long long ns;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
  return ns;
#else
  return 0;  // HIP: no probe (the host reports no clock)
#endif
}

__device__ inline ClockProbe clock_probe_start() { return {clock64(), global_ns()}; }

__device__ inline void clock_probe_add(const ClockProbe& start, unsigned long long* clock_probe) {
  atomicAdd(&clock_probe[0], static_cast<unsigned long long>(clock64() - start.cycles));
  atomicAdd(&clock_probe[1], global_ns() - start.ns);
}

__global__ void prefill_fma_ilp_kernel(const float* __restrict__ X, const float* __restrict__ W,
                                       float* __restrict__ Y, int n_elems, int iters_fma,
                                       unsigned long long* __restrict__ clock_probe) {
  const ClockProbe started = clock_probe_start();
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_elems) return;
  const float x = X[i];
  float acc[kFmaChains], w[kFmaChains];
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) {
    acc[c] = x;
    w[c] = fma_ilp_weight(W, i, c);
  }
// 16 iterations of kFmaChains FMAs per loop branch: the counter and the branch take a
// negligible share of the issue slots.
#pragma unroll 16
  for (int k = 0; k < iters_fma; ++k)
#pragma unroll
    for (int c = 0; c < kFmaChains; ++c) acc[c] = fmaf(acc[c], w[c], x);
  float sum = 0.f;
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) sum += acc[c];
  Y[i] = sum;
  if (clock_probe && threadIdx.x == 0) clock_probe_add(started, clock_probe);
}
