// Compute-bound prefill stand-ins beyond the seed's single dependent FMA chain.
#pragma once

// Independent FMA chains per thread: enough instruction-level parallelism to keep
// the FP32 pipes busy through the FMA latency, where the seed's one chain stalls.
constexpr int kFmaChains = 8;

// Chain c of element i: acc <- acc * w_c + x, iters_fma times, |w_c| < 1 so the
// value stays bounded; the chains' sum is stored. 2 * kFmaChains FLOP per iteration.
__host__ __device__ inline float fma_ilp_weight(const float* W, int i, int chain) {
  return 0.9f * W[(i + chain * 127) & 1023];
}

__global__ void prefill_fma_ilp_kernel(const float* __restrict__ X, const float* __restrict__ W,
                                       float* __restrict__ Y, int n_elems, int iters_fma) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_elems) return;
  const float x = X[i];
  float acc[kFmaChains], w[kFmaChains];
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) {
    acc[c] = x;
    w[c] = fma_ilp_weight(W, i, c);
  }
#pragma unroll 4
  for (int k = 0; k < iters_fma; ++k)
#pragma unroll
    for (int c = 0; c < kFmaChains; ++c) acc[c] = fmaf(acc[c], w[c], x);
  float sum = 0.f;
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) sum += acc[c];
  Y[i] = sum;
}
