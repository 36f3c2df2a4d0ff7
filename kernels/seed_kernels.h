// The seed note's kernels, verbatim apart from formatting (variant "seed"), so that its
// numbers can be reproduced. Device code only: the benchmark and the NVRTC runner
// (pdprof.cupy_bench) both compile it.
#pragma once

// Compute-heavy "prefill" kernel: per element performs many FMAs to raise intensity.
__global__ void prefill_fma_kernel(const float* __restrict__ X, const float* __restrict__ W,
                                   float* __restrict__ Y, int n_elems, int iters_fma) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n_elems) return;
  float x = X[i];
  float w = W[i % 1024];  // small weight tile to simulate reuse
  float acc = 0.f;
#pragma unroll 4
  for (int k = 0; k < iters_fma; ++k) {
    acc = fmaf(x, w, acc);
    w = fmaf(w, 1.00001f, 0.0001f);  // light dependency so the loop is not folded
  }
  Y[i] = acc;
}

// Bandwidth-heavy "decode" kernel: stream through K and V once per layer.
// One thread per (kv head, dim) lane: only kv_heads*d threads in flight.
__global__ void decode_kv_scan_kernel(const float* __restrict__ K, const float* __restrict__ V,
                                      const float* __restrict__ q, float* __restrict__ out, int T,
                                      int d, int h_kv) {
  int lane = blockIdx.x * blockDim.x + threadIdx.x;
  int lanes = h_kv * d;
  if (lane >= lanes) return;
  int head = lane / d;
  int dim = lane % d;
  const float* K_base = K + head * (size_t)T * d + dim;
  const float* V_base = V + head * (size_t)T * d + dim;
  float qv = q[head * d + dim];
  float acc = 0.f;
  for (int t = 0; t < T; ++t) {
    float k = K_base[(size_t)t * d];
    float v = V_base[(size_t)t * d];
    float score = qv * k;
    acc = fmaf(score, v, acc);
  }
  out[head * d + dim] = acc;
}
