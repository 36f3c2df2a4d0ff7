// Prefill vs decode microbenchmark, single source for CUDA (nvcc) and HIP (hipcc).
//
//   nvcc  -O3 -std=c++17 -arch=sm_90 -lineinfo prefill_decode_bench.cu -o prefill_decode_bench
//   hipcc -O3 -std=c++17 --offload-arch=gfx90a prefill_decode_bench.cu -o prefill_decode_bench
//
// Prints human-readable progress on stderr and exactly one JSON result line on
// stdout (schema "pdprof.bench/1"). Exit codes: 0 ok, 2 bad arguments,
// 3 GPU API error, 4 output check failed (unwritten or non-finite results).
//
// Variant "seed" keeps the kernels of the seed note unchanged so that its
// numbers can be reproduced; later variants are added beside it.
#include "gpu_compat.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Params {
  int L = 32;           // layers
  int H = 4096;         // hidden size
  int heads = 32;       // attention heads
  int kv_heads = 8;     // KV heads (GQA)
  int T = 2048;         // prompt length for prefill, past length for decode
  int iters_fma = 256;  // FMA iterations per element in the prefill kernel
  int warmup = 2;       // untimed launches of each phase before timing
  int repeats = 10;     // timed repetitions of each phase
  int profile_layers = 1;  // layers launched inside the profiler range (--mode profile)
  unsigned seed = 1234;
  std::string variant = "seed";
  std::string mode = "time";  // time | profile
};

// ---------------------------------------------------------------------------
// Seed kernels (verbatim from the seed note apart from formatting).

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

// ---------------------------------------------------------------------------

int div_up(long long a, int b) { return static_cast<int>((a + b - 1) / b); }

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr,
               "error: %s\n"
               "usage: prefill_decode_bench [--variant seed] [--L N] [--H N] [--heads N]\n"
               "         [--kv-heads N] [--T N] [--iters-fma N] [--warmup N] [--repeats N]\n"
               "         [--mode time|profile] [--profile-layers N] [--seed N]\n",
               msg.c_str());
  std::exit(2);
}

int parse_positive(const char* flag, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0 || v > (1L << 30))
    usage_error(std::string(flag) + " needs a positive integer, got '" + text + "'");
  return static_cast<int>(v);
}

Params parse_args(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage_error("help requested");
    if (i + 1 >= argc) usage_error("missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--L") p.L = parse_positive("--L", value);
    else if (flag == "--H") p.H = parse_positive("--H", value);
    else if (flag == "--heads") p.heads = parse_positive("--heads", value);
    else if (flag == "--kv-heads") p.kv_heads = parse_positive("--kv-heads", value);
    else if (flag == "--T") p.T = parse_positive("--T", value);
    else if (flag == "--iters-fma") p.iters_fma = parse_positive("--iters-fma", value);
    else if (flag == "--warmup") p.warmup = parse_positive("--warmup", value);
    else if (flag == "--repeats") p.repeats = parse_positive("--repeats", value);
    else if (flag == "--profile-layers") p.profile_layers = parse_positive("--profile-layers", value);
    else if (flag == "--seed") p.seed = static_cast<unsigned>(parse_positive("--seed", value));
    else if (flag == "--variant") p.variant = value;
    else if (flag == "--mode") p.mode = value;
    else usage_error("unknown flag " + flag);
  }
  if (p.variant != "seed") usage_error("unknown --variant '" + p.variant + "' (known: seed)");
  if (p.mode != "time" && p.mode != "profile")
    usage_error("--mode must be 'time' or 'profile', got '" + p.mode + "'");
  if (p.H % p.heads != 0) usage_error("--H must be divisible by --heads");
  if (p.heads % p.kv_heads != 0) usage_error("--heads must be divisible by --kv-heads");
  if (static_cast<long long>(p.T) * p.H > INT32_MAX)
    usage_error("--T * --H exceeds the seed prefill kernel's int index range");
  if (p.profile_layers > p.L) p.profile_layers = p.L;
  return p;
}

// Deterministic, non-trivial inputs: zeros or constants hide unwritten
// outputs and wrong indexing.
void fill_uniform(std::vector<float>& v, unsigned seed, float lo, float hi) {
  uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
  for (auto& x : v) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    x = lo + (hi - lo) * static_cast<float>((s >> 40) & 0xFFFFFF) / 16777216.0f;
  }
}

struct Stats { double median, min, max; std::vector<float> all; };

Stats summarize(std::vector<float> ms) {
  Stats s{0, 0, 0, ms};
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  s.median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  s.min = ms.front();
  s.max = ms.back();
  return s;
}

// snprintf into a std::string of the right size: the JSON line grows with --repeats.
template <typename... Args>
std::string strprintf(const char* fmt, Args... args) {
  int n = std::snprintf(nullptr, 0, fmt, args...);
  std::string out(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(&out[0], out.size(), fmt, args...);
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string json_list(const std::vector<float>& v) {
  std::string out = "[";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.6f", i ? "," : "", v[i]);
    out += buf;
  }
  return out + "]";
}

// A poisoned buffer (all bits set: NaN) that is still NaN afterwards was never
// written; a finite check then covers both "unwritten" and "overflowed".
bool all_finite(const float* dev, size_t n, size_t* bad_index) {
  std::vector<float> host(n);
  GPU_CHECK(gpuMemcpy(host.data(), dev, n * sizeof(float), gpuMemcpyDeviceToHost));
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(host[i])) { *bad_index = i; return false; }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Params p = parse_args(argc, argv);
  const int d = p.H / p.heads;
  const size_t n_prefill = static_cast<size_t>(p.T) * p.H;
  const size_t n_kv = static_cast<size_t>(p.T) * d * p.kv_heads;
  const size_t n_lanes = static_cast<size_t>(p.kv_heads) * d;

  int dev = 0;
  gpuDeviceProp prop;
  GPU_CHECK(gpuGetDevice(&dev));
  GPU_CHECK(gpuGetDeviceProperties(&prop, dev));
  int mem_clock_khz = 0, sm_clock_khz = 0, driver = 0, runtime = 0;
  GPU_CHECK(gpuDeviceGetAttribute(&mem_clock_khz, gpuDevAttrMemoryClockRate, dev));
  GPU_CHECK(gpuDeviceGetAttribute(&sm_clock_khz, gpuDevAttrClockRate, dev));
  GPU_CHECK(gpuDriverGetVersion(&driver));
  GPU_CHECK(gpuRuntimeGetVersion(&runtime));
  // Datasheet-style peak: double data rate x bus width. A fallback only;
  // validation prefers measured peaks where it has them.
  const double peak_dram_Bps = 2.0 * mem_clock_khz * 1e3 * (prop.memoryBusWidth / 8.0);

  const size_t buffer_bytes = (2 * n_prefill + 1024 + 2 * n_kv + 2 * n_lanes) * sizeof(float);
  size_t free_bytes = 0, total_bytes = 0;
  GPU_CHECK(gpuMemGetInfo(&free_bytes, &total_bytes));
  if (buffer_bytes > free_bytes) {
    std::fprintf(stderr, "error: needs %zu bytes of device memory, %zu free; lower --T or --H\n",
                 buffer_bytes, free_bytes);
    return 2;
  }

  std::vector<float> hX(n_prefill), hW(1024), hK(n_kv), hV(n_kv), hq(n_lanes);
  fill_uniform(hX, p.seed, -1.f, 1.f);
  fill_uniform(hW, p.seed + 1, -1.f, 1.f);
  fill_uniform(hK, p.seed + 2, -1.f, 1.f);
  fill_uniform(hV, p.seed + 3, -1.f, 1.f);
  fill_uniform(hq, p.seed + 4, -1.f, 1.f);

  float *X, *W, *Y, *K, *V, *q, *out;
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&X), n_prefill * sizeof(float)));
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&W), 1024 * sizeof(float)));
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&Y), n_prefill * sizeof(float)));
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&K), n_kv * sizeof(float)));
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&V), n_kv * sizeof(float)));
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&q), n_lanes * sizeof(float)));
  GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&out), n_lanes * sizeof(float)));
  GPU_CHECK(gpuMemcpy(X, hX.data(), n_prefill * sizeof(float), gpuMemcpyHostToDevice));
  GPU_CHECK(gpuMemcpy(W, hW.data(), 1024 * sizeof(float), gpuMemcpyHostToDevice));
  GPU_CHECK(gpuMemcpy(K, hK.data(), n_kv * sizeof(float), gpuMemcpyHostToDevice));
  GPU_CHECK(gpuMemcpy(V, hV.data(), n_kv * sizeof(float), gpuMemcpyHostToDevice));
  GPU_CHECK(gpuMemcpy(q, hq.data(), n_lanes * sizeof(float), gpuMemcpyHostToDevice));

  gpuStream_t stream;
  GPU_CHECK(gpuStreamCreate(&stream));
  const int threads = 256;
  const int prefill_blocks = div_up(static_cast<long long>(n_prefill), threads);
  const int decode_blocks = div_up(static_cast<long long>(n_lanes), threads);

  auto prefill_step = [&](int layers) {
    for (int l = 0; l < layers; ++l) {
      prefill_fma_kernel<<<prefill_blocks, threads, 0, stream>>>(X, W, Y, static_cast<int>(n_prefill),
                                                                p.iters_fma);
      GPU_CHECK_LAUNCH();
    }
  };
  auto decode_step = [&](int layers) {
    for (int l = 0; l < layers; ++l) {
      decode_kv_scan_kernel<<<decode_blocks, threads, 0, stream>>>(K, V, q, out, p.T, d, p.kv_heads);
      GPU_CHECK_LAUNCH();
    }
  };
  gpuEvent_t start, stop;
  GPU_CHECK(gpuEventCreate(&start));
  GPU_CHECK(gpuEventCreate(&stop));
  // One phase step (all L layers) inside its NVTX range, timed with events.
  auto timed_step = [&](auto&& step, const char* phase) {
    phase_range_push(phase);
    GPU_CHECK(gpuEventRecord(start, stream));
    step(p.L);
    GPU_CHECK(gpuEventRecord(stop, stream));
    GPU_CHECK(gpuStreamSynchronize(stream));
    phase_range_pop();
    float ms = 0.f;
    GPU_CHECK(gpuEventElapsedTime(&ms, start, stop));
    return ms;
  };

  // Poison outputs so that an unwritten element fails the finite check.
  GPU_CHECK(gpuMemset(Y, 0xFF, n_prefill * sizeof(float)));
  GPU_CHECK(gpuMemset(out, 0xFF, n_lanes * sizeof(float)));

  // Warm-up: module load, first-launch costs and clock ramp stay out of the
  // numbers; its steps are still timed, so the report can show the cold start.
  std::vector<float> prefill_warmup_ms, decode_warmup_ms;
  for (int w = 0; w < p.warmup; ++w) {
    prefill_warmup_ms.push_back(timed_step(prefill_step, "prefill"));
    decode_warmup_ms.push_back(timed_step(decode_step, "decode"));
  }

  Stats prefill{}, decode{};
  const bool timing = p.mode == "time";
  if (timing) {
    std::fprintf(stderr, "timing %d repeats of each phase (L=%d, T=%d)\n", p.repeats, p.L, p.T);
    std::vector<float> prefill_ms, decode_ms;
    for (int r = 0; r < p.repeats; ++r) prefill_ms.push_back(timed_step(prefill_step, "prefill"));
    for (int r = 0; r < p.repeats; ++r) decode_ms.push_back(timed_step(decode_step, "decode"));
    prefill = summarize(prefill_ms);
    decode = summarize(decode_ms);
  } else {
    // Only this range is profiled (ncu --profile-from-start off): warm-up excluded.
    GPU_CHECK(gpuStreamSynchronize(stream));
    GPU_CHECK(gpuProfilerStart());
    prefill_step(p.profile_layers);
    decode_step(p.profile_layers);
    GPU_CHECK(gpuStreamSynchronize(stream));
    GPU_CHECK(gpuProfilerStop());
  }

  size_t bad = 0;
  const bool prefill_ok = all_finite(Y, n_prefill, &bad);
  if (!prefill_ok) std::fprintf(stderr, "error: prefill output Y[%zu] is not finite or was not written\n", bad);
  const bool decode_ok = all_finite(out, n_lanes, &bad);
  if (!decode_ok) std::fprintf(stderr, "error: decode output out[%zu] is not finite or was not written\n", bad);

  // Bytes the seed decode kernel reads per step: K and V, fp32, every layer.
  // The seed reuses one K/V buffer for all layers, so distinct bytes are 1/L of it.
  const double kv_bytes_per_step = static_cast<double>(p.L) * n_kv * 2 * sizeof(float);
  const double kv_distinct_bytes = static_cast<double>(n_kv) * 2 * sizeof(float);
  // 2 FMAs = 4 FLOP per element and iteration; decode: 1 MUL + 1 FMA per element.
  const double prefill_kernel_flops = 4.0 * n_prefill * p.iters_fma * p.L;
  const double decode_kernel_flops = 3.0 * n_kv * p.L;

  std::string line = strprintf(
      "{\"schema\":\"pdprof.bench/1\",\"backend\":\"%s\",\"variant\":\"%s\",\"mode\":\"%s\","
      "\"device\":{\"name\":\"%s\",\"compute_capability\":\"%d.%d\",\"sm_count\":%d,"
      "\"l2_bytes\":%d,\"memory_bytes\":%zu,\"memory_bus_bits\":%d,\"memory_clock_khz\":%d,"
      "\"sm_clock_khz\":%d,\"peak_dram_bytes_per_s\":%.6e,\"driver_version\":%d,"
      "\"runtime_version\":%d},"
      "\"params\":{\"L\":%d,\"H\":%d,\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"T\":%d,"
      "\"iters_fma\":%d,\"warmup\":%d,\"repeats\":%d,\"profile_layers\":%d,\"seed\":%u},"
      "\"checks\":{\"prefill_output_finite\":%s,\"decode_output_finite\":%s},",
      PDPROF_BACKEND, p.variant.c_str(), p.mode.c_str(), prop.name, prop.major, prop.minor,
      prop.multiProcessorCount, prop.l2CacheSize, static_cast<size_t>(prop.totalGlobalMem),
      prop.memoryBusWidth, mem_clock_khz, sm_clock_khz, peak_dram_Bps, driver, runtime, p.L,
      p.H, p.heads, p.kv_heads, d, p.T, p.iters_fma, p.warmup, p.repeats, p.profile_layers,
      p.seed, prefill_ok ? "true" : "false", decode_ok ? "true" : "false");
  if (timing) {
    line += strprintf(
      "\"prefill\":{\"ms_median\":%.6f,\"ms_min\":%.6f,\"ms_max\":%.6f,\"ms_all\":%s,"
      "\"warmup_ms_all\":%s,\"tokens_per_s\":%.3f,\"kernel_flops\":%.0f,"
      "\"flops_per_s\":%.6e},",
      prefill.median, prefill.min, prefill.max, json_list(prefill.all).c_str(),
      json_list(prefill_warmup_ms).c_str(),
      p.T / (prefill.median / 1e3), prefill_kernel_flops,
      prefill_kernel_flops / (prefill.median / 1e3));
    line += strprintf(
      "\"decode\":{\"ms_median\":%.6f,\"ms_min\":%.6f,\"ms_max\":%.6f,\"ms_all\":%s,"
      "\"warmup_ms_all\":%s,\"tokens_per_s\":%.3f,\"kv_bytes_per_step\":%.0f,"
      "\"kv_distinct_bytes\":%.0f,\"bytes_per_s\":%.6e,\"kernel_flops\":%.0f}}",
      decode.median, decode.min, decode.max, json_list(decode.all).c_str(),
      json_list(decode_warmup_ms).c_str(),
      1e3 / decode.median, kv_bytes_per_step, kv_distinct_bytes,
      kv_bytes_per_step / (decode.median / 1e3), decode_kernel_flops);
  } else {
    line += "\"prefill\":null,\"decode\":null}";
  }
  std::printf("%s\n", line.c_str());
  if (timing)
    std::fprintf(stderr, "prefill %.3f ms (%.0f tokens/s) | decode %.3f ms/token, %.1f GB/s\n",
                 prefill.median, p.T / (prefill.median / 1e3), decode.median,
                 kv_bytes_per_step / (decode.median / 1e3) / 1e9);

  GPU_CHECK(gpuFree(X)); GPU_CHECK(gpuFree(W)); GPU_CHECK(gpuFree(Y));
  GPU_CHECK(gpuFree(K)); GPU_CHECK(gpuFree(V)); GPU_CHECK(gpuFree(q)); GPU_CHECK(gpuFree(out));
  GPU_CHECK(gpuEventDestroy(start));
  GPU_CHECK(gpuEventDestroy(stop));
  GPU_CHECK(gpuStreamDestroy(stream));
  return prefill_ok && decode_ok ? 0 : 4;
}
