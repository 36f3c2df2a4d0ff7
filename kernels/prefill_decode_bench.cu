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
// numbers can be reproduced; the other variants (see kVariants) replace one
// phase's kernel each. Every variant's output is compared with a float64 host
// reference before anything is timed: a wrong kernel exits 4 and is never timed.
#include "gpu_compat.h"
#include "attention_mma.h"
#include "attention_persistent.h"
#include "decode_kernels.h"
#include "prefill_kernels.h"
#include "seed_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>
#if !defined(PDPROF_HIP)
#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled
#endif

namespace {

struct Params {
  int L = 32;           // layers
  int H = 4096;         // hidden size
  int heads = 32;       // attention heads
  int kv_heads = 8;     // KV heads (GQA)
  int T = 2048;         // prompt length for prefill, past length for decode
  int batch = 1;        // sequences decoded together (each its own K/V and q)
  int page_size = 0;    // tokens per page of a paged K/V cache (variant paged), 0: contiguous
  int iters_fma = 256;  // FMA iterations per element in the prefill kernel
  int warmup = 2;       // untimed launches of each phase before timing
  int repeats = 10;     // timed repetitions of each phase
  int profile_layers = 1;  // layers launched inside the profiler range (--mode profile)
  bool layer_overlap = true;  // programmatic dependent launch between layers (sm_90+)
  bool persistent = true;  // attention: one persistent launch per step where it runs (attention_persistent.h)
  unsigned seed = 1234;
  std::string variant = "seed";
  std::string mode = "time";  // time | profile
};

// ---------------------------------------------------------------------------
// Variants: which kernel each phase runs. A variant without a kernel for a phase
// does not run that phase (its JSON entry is null).

enum class PrefillKernel { none, seed, fma_ilp };
enum class DecodeKernel { none, seed, kv_stream, attention };

struct Variant {
  const char* name;
  PrefillKernel prefill;
  DecodeKernel decode;
  const char* kv_format;  // storage of K and V: fp32 (seed), bf16 or fp8_e4m3
  bool graph;             // decode step replayed as one CUDA/HIP graph
  bool paged;             // K/V in pages reached through a page table
};

constexpr Variant kVariants[] = {
    {"seed", PrefillKernel::seed, DecodeKernel::seed, "fp32", false, false},
    {"fma_ilp", PrefillKernel::fma_ilp, DecodeKernel::none, "", false, false},
    {"kv_stream", PrefillKernel::none, DecodeKernel::kv_stream, "bf16", false, false},
    {"kv_stream_fp8", PrefillKernel::none, DecodeKernel::kv_stream, "fp8_e4m3", false, false},
    {"attention", PrefillKernel::none, DecodeKernel::attention, "bf16", false, false},
    {"attention_fp8", PrefillKernel::none, DecodeKernel::attention, "fp8_e4m3", false, false},
    {"graph", PrefillKernel::none, DecodeKernel::kv_stream, "bf16", true, false},
    {"paged", PrefillKernel::none, DecodeKernel::attention, "bf16", false, true},
};

// Page size of variant paged when --page-size is not given (vLLM's default block size).
constexpr int kDefaultPageSize = 16;

std::string known_variants() {
  std::string names;
  for (const Variant& v : kVariants) names += std::string(names.empty() ? "" : ", ") + v.name;
  return names;
}

// fp32 accumulation over inputs the reference decodes identically lands far
// below this (device METHOD.md: float32 arithmetic << 1e-3).
constexpr double kReferenceTolerance = 1e-3;
// Counter-based input streams of the non-seed variants (kv_formats.h).
enum InputStream : uint32_t { kStreamK = 1, kStreamV = 2, kStreamQ = 3 };
// Rows of K and V one kv_stream thread loads per pass (benchmarks/constants_sweep.py
// rebuilds with -DPDPROF_KV_STREAM_UNROLL=N to compare).
#ifndef PDPROF_KV_STREAM_UNROLL
#define PDPROF_KV_STREAM_UNROLL 16
#endif
constexpr int kUnrollStream = PDPROF_KV_STREAM_UNROLL;
// Least K+V bytes one kv_stream split reads. Consecutive layers' scans overlap, so one
// layer need not fill the GPU by itself, and fewer, longer splits stream faster
// (benchmarks/NOTES.md, v3; -DPDPROF_KV_STREAM_SPLIT_KIB=N to compare).
#ifndef PDPROF_KV_STREAM_SPLIT_KIB
#define PDPROF_KV_STREAM_SPLIT_KIB 512
#endif
constexpr size_t kStreamSplitBytes = static_cast<size_t>(PDPROF_KV_STREAM_SPLIT_KIB) * 1024;
constexpr int kUnrollAttention = 2;

int div_up(long long a, int b) { return static_cast<int>((a + b - 1) / b); }

// A decode layer's launch. With `overlap` (CUDA, sm_90+), the launch carries the
// programmatic stream-serialization attribute: the kernel may start before the
// previous one on the stream has ended, and orders itself with griddep_wait().
template <class... Params, class... Args>
void launch_layer_kernel(bool overlap, void (*kernel)(Params...), dim3 grid, int threads, gpuStream_t stream,
                         Args... args) {
#if defined(PDPROF_HIP)
  (void)overlap;
  kernel<<<grid, threads, 0, stream>>>(args...);
  GPU_CHECK_LAUNCH();
#else
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = overlap ? 1 : 0;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = dim3(threads);
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = 1;
  GPU_CHECK(cudaLaunchKernelEx(&config, kernel, args...));
#endif
}

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr,
               "error: %s\n"
               "usage: prefill_decode_bench [--variant NAME] [--L N] [--H N] [--heads N]\n"
               "         [--kv-heads N] [--T N] [--iters-fma N] [--warmup N] [--repeats N]\n"
               "         [--mode time|profile] [--profile-layers N] [--seed N]\n"
               "         [--layer-overlap on|off] [--persistent on|off] [--batch N] [--page-size N]\n"
               "variants: %s\n",
               msg.c_str(), known_variants().c_str());
  std::exit(2);
}

int parse_positive(const char* flag, const char* text) {
  char* end = nullptr;
  long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0 || v > (1L << 30))
    usage_error(std::string(flag) + " needs a positive integer, got '" + text + "'");
  return static_cast<int>(v);
}

bool parse_switch(const char* flag, const char* text) {
  if (std::strcmp(text, "on") != 0 && std::strcmp(text, "off") != 0)
    usage_error(std::string(flag) + " must be 'on' or 'off', got '" + text + "'");
  return std::strcmp(text, "on") == 0;
}

const Variant* find_variant(const std::string& name) {
  for (const Variant& v : kVariants)
    if (name == v.name) return &v;
  return nullptr;
}

int kv_element_bytes(const Variant& v) {
  return std::strcmp(v.kv_format, "fp8_e4m3") == 0 ? 1 : std::strcmp(v.kv_format, "bf16") == 0 ? 2 : 4;
}

// KV elements one thread owns per row: decode_kernels.h's StreamLoad / AttentionLoad.
int elements_per_thread(const Variant& v) {
  return v.decode == DecodeKernel::attention ? 8 : 16 / kv_element_bytes(v);
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
    else if (flag == "--batch") p.batch = parse_positive("--batch", value);
    else if (flag == "--page-size") p.page_size = parse_positive("--page-size", value);
    else if (flag == "--iters-fma") p.iters_fma = parse_positive("--iters-fma", value);
    else if (flag == "--warmup") p.warmup = parse_positive("--warmup", value);
    else if (flag == "--repeats") p.repeats = parse_positive("--repeats", value);
    else if (flag == "--profile-layers") p.profile_layers = parse_positive("--profile-layers", value);
    else if (flag == "--seed") p.seed = static_cast<unsigned>(parse_positive("--seed", value));
    else if (flag == "--variant") p.variant = value;
    else if (flag == "--mode") p.mode = value;
    else if (flag == "--layer-overlap") p.layer_overlap = parse_switch("--layer-overlap", value);
    else if (flag == "--persistent") p.persistent = parse_switch("--persistent", value);
    else usage_error("unknown flag " + flag);
  }
  const Variant* variant = find_variant(p.variant);
  if (!variant) usage_error("unknown --variant '" + p.variant + "'");
  if (p.mode != "time" && p.mode != "profile")
    usage_error("--mode must be 'time' or 'profile', got '" + p.mode + "'");
  if (p.H % p.heads != 0) usage_error("--H must be divisible by --heads");
  if (p.heads % p.kv_heads != 0) usage_error("--heads must be divisible by --kv-heads");
  if (static_cast<long long>(p.T) * p.H > INT32_MAX)
    usage_error("--T * --H exceeds the prefill kernels' int index range");
  const int d = p.H / p.heads;
  if (variant->decode == DecodeKernel::kv_stream || variant->decode == DecodeKernel::attention) {
    const int per_load = elements_per_thread(*variant);
    // A row spans 2..32 lanes of one warp; the merge gives each of the block's threads one dim.
    const int lanes = d / per_load, largest = std::min(32 * per_load, kDecodeThreads);
    if (d % per_load != 0 || lanes < 2 || d > largest || (lanes & (lanes - 1)) != 0)
      usage_error("variant " + p.variant + " needs a head dim (--H / --heads) that is a power of two from " +
                  std::to_string(2 * per_load) + " to " + std::to_string(largest) + ", got " +
                  std::to_string(d));
  }
  if (variant->decode == DecodeKernel::attention) {
    const int group = p.heads / p.kv_heads;
    if (group != 1 && group != 2 && group != 4 && group != 8)
      usage_error("variant " + p.variant + " needs --heads / --kv-heads in {1, 2, 4, 8}, got " +
                  std::to_string(group));
  }
  if (p.batch > 1 && (variant->decode == DecodeKernel::none || variant->decode == DecodeKernel::seed))
    usage_error("--batch applies to the optimized decode variants, not to " + p.variant);
  if (p.page_size != 0 && !variant->paged) usage_error("--page-size applies to variant paged only");
  if (variant->paged && p.page_size == 0) p.page_size = kDefaultPageSize;
  if (variant->paged && (p.page_size < 8 || p.page_size > 4096 || (p.page_size & (p.page_size - 1)) != 0))
    usage_error("--page-size must be a power of two from 8 to 4096, got " + std::to_string(p.page_size));
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

std::vector<float> to_host(const float* dev, size_t n) {
  std::vector<float> host(n);
  GPU_CHECK(gpuMemcpy(host.data(), dev, n * sizeof(float), gpuMemcpyDeviceToHost));
  return host;
}

// A poisoned buffer (all bits set: NaN) that is still NaN afterwards was never
// written; a finite check then covers both "unwritten" and "overflowed".
bool all_finite(const float* dev, size_t n, size_t* bad_index) {
  const std::vector<float> host = to_host(dev, n);
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(host[i])) { *bad_index = i; return false; }
  return true;
}

// ||out - ref|| / ||ref||; NaN (never passes the tolerance) when out holds a NaN.
double relative_error(const std::vector<float>& out, const std::vector<double>& ref) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return std::sqrt(diff / norm);
}

// The reference's copy of a counter-generated KV tensor: the values the kernel decodes.
template <class F>
std::vector<float> kv_values(size_t first, size_t count, uint32_t stream, unsigned seed) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = F::decode(F::encode(uniform_at(first + i, stream, seed)));
  return values;
}

// ---------------------------------------------------------------------------
// Prefill: the seed's dependent FMA chain or fma_ilp, on X[T*H] with a 1024-float tile W.

struct Prefill {
  PrefillKernel kernel;
  size_t n;  // T * H elements
  int iters, blocks;
  std::vector<float> hX, hW;
  float *X = nullptr, *W = nullptr, *Y = nullptr;
  unsigned long long* clock_probe = nullptr;  // fma_ilp: SM cycles and ns summed over blocks

  static constexpr int threads = 256;
  static constexpr size_t checked_elements = 4096;

  Prefill(PrefillKernel k, const Params& p)
      : kernel(k), n(static_cast<size_t>(p.T) * p.H), iters(p.iters_fma),
        blocks(div_up(static_cast<long long>(n), threads)), hX(n), hW(1024) {
    fill_uniform(hX, p.seed, -1.f, 1.f);
    fill_uniform(hW, p.seed + 1, -1.f, 1.f);
    GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&X), n * sizeof(float)));
    GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&W), 1024 * sizeof(float)));
    GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&Y), n * sizeof(float)));
#if !defined(PDPROF_HIP)
    if (kernel == PrefillKernel::fma_ilp)
      GPU_CHECK(gpuMalloc(reinterpret_cast<void**>(&clock_probe), 2 * sizeof(unsigned long long)));
#endif
    GPU_CHECK(gpuMemcpy(X, hX.data(), n * sizeof(float), gpuMemcpyHostToDevice));
    GPU_CHECK(gpuMemcpy(W, hW.data(), 1024 * sizeof(float), gpuMemcpyHostToDevice));
  }
  // Teardown at exit: a failing free has nothing left to protect, so it is not checked.
  ~Prefill() { (void)gpuFree(X); (void)gpuFree(W); (void)gpuFree(Y); (void)gpuFree(clock_probe); }

  void reset_clock_probe() const {
    if (clock_probe) GPU_CHECK(gpuMemset(clock_probe, 0, 2 * sizeof(unsigned long long)));
  }
  // Mean SM clock of the launches since the last reset, in MHz; negative without a probe.
  double probed_clock_mhz() const {
    if (!clock_probe) return -1;
    unsigned long long probe[2];
    GPU_CHECK(gpuMemcpy(probe, clock_probe, sizeof probe, gpuMemcpyDeviceToHost));
    return probe[1] ? 1e3 * static_cast<double>(probe[0]) / static_cast<double>(probe[1]) : -1;
  }

  void launch(gpuStream_t stream) const {
    if (kernel == PrefillKernel::seed)
      prefill_fma_kernel<<<blocks, threads, 0, stream>>>(X, W, Y, static_cast<int>(n), iters);
    else
      prefill_fma_ilp_kernel<<<blocks, threads, 0, stream>>>(X, W, Y, static_cast<int>(n), iters, clock_probe);
    GPU_CHECK_LAUNCH();
  }

  // FLOP per element and iteration: the seed's two chained FMAs, or one FMA per chain.
  double flops_per_step(int layers) const {
    const double per_iteration = kernel == PrefillKernel::seed ? 4.0 : 2.0 * kFmaChains;
    return per_iteration * n * iters * layers;
  }

  // Every layer computes the same function of X and W, so a sample of Y checks them all.
  double reference_error() const {
    const std::vector<float> out = to_host(Y, n);
    std::vector<float> sampled;
    std::vector<double> ref;
    for (size_t i = 0; i < n; i += std::max<size_t>(1, n / checked_elements)) {
      const double x = hX[i];
      double value = 0;
      if (kernel == PrefillKernel::seed) {
        double w = hW[i % 1024];
        for (int k = 0; k < iters; ++k) {
          value += x * w;
          w = w * 1.00001 + 0.0001;
        }
      } else {
        for (int c = 0; c < kFmaChains; ++c) {
          const double w = fma_ilp_weight(hW.data(), static_cast<int>(i), c);
          double acc = x;
          for (int k = 0; k < iters; ++k) acc = acc * w + x;
          value += acc;
        }
      }
      sampled.push_back(out[i]);
      ref.push_back(value);
    }
    return relative_error(sampled, ref);
  }
};

// ---------------------------------------------------------------------------
// Decode: the seed's strided fp32 scan of one shared K/V, or the optimized kernels
// over a distinct K/V per layer ([L][kv_head][T][d]) in bf16 or fp8.

// pick(std::integral_constant<int, G>) for the GQA group G = query heads per KV head: 1, 2, 4
// or 8 (parse_args checks), so that each kernel template is instantiated for those only.
template <class Pick>
auto for_group(int group, Pick pick) {
  switch (group) {
    case 1: return pick(std::integral_constant<int, 1>{});
    case 2: return pick(std::integral_constant<int, 2>{});
    case 4: return pick(std::integral_constant<int, 4>{});
    default: return pick(std::integral_constant<int, 8>{});
  }
}

#if !defined(PDPROF_HIP)
// A [rows][d] matrix of bf16 or fp8 (S) as TMA reads it: boxes of one 128-byte swizzle span
// (64 or 128 dims) by box_rows rows, 128-byte swizzle (attention_persistent.h). The encoder
// is the driver's, reached through the runtime: nothing links libcuda.
template <class S>
CUtensorMap kv_rows_map(const S* base, size_t rows, int d, int box_rows) {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* function = nullptr;
    cudaDriverEntryPointQueryResult found{};
    GPU_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || function == nullptr) {
      std::fprintf(stderr, "error: the driver has no cuTensorMapEncodeTiled (CUDA 12 or newer needed); run with "
                   "--persistent off\n");
      std::exit(3);
    }
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function);
  }();
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(d), rows};
  const cuuint64_t row_stride[1] = {static_cast<cuuint64_t>(d) * sizeof(S)};
  const cuuint32_t box[2] = {kSwizzleSpanBytes / sizeof(S), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  // The copy moves raw bits: fp8 is read as bytes.
  const CUtensorMapDataType type = sizeof(S) == 2 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_UINT8;
  CUtensorMap map;
  const CUresult status = encode(&map, type, 2, const_cast<S*>(base), dims, row_stride,
                                 box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                 CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (status != CUDA_SUCCESS) {
    std::fprintf(stderr, "error: cuTensorMapEncodeTiled failed (CUresult %d) for %zu rows of %d dims\n",
                 static_cast<int>(status), rows, d);
    std::exit(3);
  }
  return map;
}
#endif

struct Decode {
  DecodeKernel kernel;
  const Params& p;
  int d;
  size_t out_per_layer;  // floats of output (and q) per layer
  size_t bytes_per_step = 0, distinct_bytes = 0;
  double flops_per_layer = 0;
  int splits = 1, tokens_per_split = 0;
  bool uses_tensor_cores = false;  // attention on the tensor cores (attention_mma.h)
  bool persistent = false;  // attention in one persistent launch per step (attention_persistent.h)
  std::function<void(int, gpuStream_t)> launch_layer;
  std::function<void(int, gpuStream_t)> launch_step;  // layers 0 .. n - 1 of a step
  std::function<double()> reference_error;
  std::vector<void*> allocations;
  std::vector<float> seed_K, seed_V, seed_q;  // host copies of the seed's inputs
  float* out = nullptr;
  bool paged;
  int pages_per_sequence = 0;
  std::vector<int> page_table;  // [sequence][page of the sequence] -> page of the pool

  // cuda_cc: the CUDA compute capability as 10 major + minor, 0 under HIP (mma.sync on bf16
  // from 80, the fp8 -> f16 conversion from 89, TMA from 90).
  Decode(const Variant& v, const Params& params, int sm_count, bool overlap, int cuda_cc)
      : kernel(v.decode), p(params), d(params.H / params.heads), paged(v.paged) {
    if (kernel == DecodeKernel::seed) setup_seed();
    else if (std::strcmp(v.kv_format, "fp8_e4m3") == 0) setup_fast<Fp8E4M3>(sm_count, overlap, cuda_cc);
    else setup_fast<Bf16>(sm_count, overlap, cuda_cc);
    if (!launch_step)
      launch_step = [this](int layers, gpuStream_t stream) {
        for (int l = 0; l < layers; ++l) launch_layer(l, stream);
      };
  }
  ~Decode() { for (void* ptr : allocations) (void)gpuFree(ptr); }

  template <class T>
  T* allocate(size_t count) {
    void* ptr = nullptr;
    GPU_CHECK(gpuMalloc(&ptr, count * sizeof(T)));
    allocations.push_back(ptr);
    return static_cast<T*>(ptr);
  }

  void setup_seed() {
    const size_t n_kv = static_cast<size_t>(p.T) * d * p.kv_heads;
    out_per_layer = static_cast<size_t>(p.kv_heads) * d;
    seed_K.resize(n_kv); seed_V.resize(n_kv); seed_q.resize(out_per_layer);
    fill_uniform(seed_K, p.seed + 2, -1.f, 1.f);
    fill_uniform(seed_V, p.seed + 3, -1.f, 1.f);
    fill_uniform(seed_q, p.seed + 4, -1.f, 1.f);
    float* K = allocate<float>(n_kv);
    float* V = allocate<float>(n_kv);
    float* q = allocate<float>(out_per_layer);
    out = allocate<float>(out_per_layer);  // every layer writes the same output
    GPU_CHECK(gpuMemcpy(K, seed_K.data(), n_kv * sizeof(float), gpuMemcpyHostToDevice));
    GPU_CHECK(gpuMemcpy(V, seed_V.data(), n_kv * sizeof(float), gpuMemcpyHostToDevice));
    GPU_CHECK(gpuMemcpy(q, seed_q.data(), out_per_layer * sizeof(float), gpuMemcpyHostToDevice));
    // The seed reuses one K/V buffer for all layers: distinct bytes are 1/L of the traffic.
    distinct_bytes = n_kv * 2 * sizeof(float);
    bytes_per_step = distinct_bytes * p.L;
    flops_per_layer = 3.0 * n_kv;  // 1 MUL + 1 FMA per element
    const int blocks = div_up(static_cast<long long>(out_per_layer), 256);
    launch_layer = [=](int, gpuStream_t stream) {
      decode_kv_scan_kernel<<<blocks, 256, 0, stream>>>(K, V, q, out, p.T, d, p.kv_heads);
      GPU_CHECK_LAUNCH();
    };
    reference_error = [=]() {
      std::vector<double> ref(out_per_layer, 0.0);
      for (int h = 0; h < p.kv_heads; ++h)
        for (int t = 0; t < p.T; ++t)
          for (int i = 0; i < d; ++i) {
            const size_t at = (static_cast<size_t>(h) * p.T + t) * d + i;
            ref[h * d + i] += static_cast<double>(seed_q[h * d + i]) * seed_K[at] * seed_V[at];
          }
      return relative_error(to_host(out, out_per_layer), ref);
    };
  }

  // Where row t of (sequence, KV head) pair `pair` starts in a layer's K or V: KvRows on the host.
  size_t row_offset(int pair, int t) const {
    if (!paged) return (static_cast<size_t>(pair) * p.T + t) * d;
    const int sequence = pair / p.kv_heads, kv_head = pair % p.kv_heads;
    const size_t page = static_cast<size_t>(page_table[static_cast<size_t>(sequence) * pages_per_sequence + t / p.page_size]);
    return ((page * p.kv_heads + kv_head) * p.page_size + t % p.page_size) * d;
  }

  template <class F>
  void setup_fast(int sm_count, bool overlap, int cuda_cc) {
    using S = typename F::Storage;
    const bool attention = kernel == DecodeKernel::attention;
    const int group = p.heads / p.kv_heads, pairs = p.batch * p.kv_heads;
    // A paged cache holds whole pages, handed to the sequences in a shuffled order (a
    // fragmented pool); its last page per sequence is partly empty and never read.
    size_t kv_per_layer = static_cast<size_t>(pairs) * p.T * d;
    int page_shift = 0;
    int* device_page_table = nullptr;
    if (paged) {
      pages_per_sequence = div_up(p.T, p.page_size);
      const int pages = p.batch * pages_per_sequence;
      page_table.resize(pages);
      for (int i = 0; i < pages; ++i) page_table[i] = i;
      uint64_t state = 0x2545F4914F6CDD1Dull ^ p.seed;
      for (int i = pages - 1; i > 0; --i) {  // Fisher-Yates with a xorshift generator
        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
        std::swap(page_table[i], page_table[state % static_cast<uint64_t>(i + 1)]);
      }
      device_page_table = allocate<int>(pages);
      GPU_CHECK(gpuMemcpy(device_page_table, page_table.data(), pages * sizeof(int), gpuMemcpyHostToDevice));
      while ((1 << page_shift) < p.page_size) ++page_shift;
      kv_per_layer = static_cast<size_t>(pages) * p.kv_heads * p.page_size * d;
    }
    const size_t kv_total = kv_per_layer * p.L;
    out_per_layer = static_cast<size_t>(p.batch) * (attention ? p.heads : p.kv_heads) * d;
    S* K = allocate<S>(kv_total);
    S* V = allocate<S>(kv_total);
    float* q = allocate<float>(out_per_layer * p.L);
    out = allocate<float>(out_per_layer * p.L);
    init_kv_kernel<F><<<4096, 256>>>(K, kv_total, kStreamK, p.seed);
    init_kv_kernel<F><<<4096, 256>>>(V, kv_total, kStreamV, p.seed);
    init_float_kernel<<<256, 256>>>(q, out_per_layer * p.L, kStreamQ, p.seed);
    GPU_CHECK_LAUNCH();
    GPU_CHECK(gpuDeviceSynchronize());
    // The bytes a step must read: every sequence's T rows of K and V in every layer.
    distinct_bytes = bytes_per_step = 2 * static_cast<size_t>(pairs) * p.T * d * sizeof(S) * p.L;
    flops_per_layer = p.batch * (attention ? 4.0 * p.heads * p.T * d : 3.0 * p.kv_heads * p.T * d);

    const AttentionKernel<F> attention_kernel = attention ? attention_kernel_for<F>(group, d, cuda_cc) : nullptr;
    const float score_scale = static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(d)));
    const int T = p.T, dim = d;
    const size_t out_layer = out_per_layer;
#if !defined(PDPROF_HIP)
    persistent = uses_tensor_cores && cuda_cc >= 90 && p.persistent && rows_fill_swizzle_spans<S>(d) &&
                 (!paged || p.page_size >= kPersistentLeastPageSize);
    if (persistent) setup_persistent<F>(K, V, q, kv_per_layer, device_page_table, page_shift, sm_count, score_scale);
#endif
    if (!persistent) {
      // Enough splits of T that every SM is full in one wave (kv_stream: each split at
      // least kStreamSplitBytes); a split is a whole number of the kernel's row passes.
      const StreamKernel<F> stream_kernel =
          paged ? decode_kv_stream_kernel<F, kUnrollStream, true> : decode_kv_stream_kernel<F, kUnrollStream, false>;
      const int threads = uses_tensor_cores ? kAttentionMmaThreads : kDecodeThreads;
      int granule = 0, blocks_per_sm = 0;
      if (uses_tensor_cores) {
        granule = kAttentionMmaGranule;
      } else {
        const int lanes = d / (attention ? elements_in<F, AttentionLoad<F>>() : elements_in<F, StreamLoad<F>>());
        granule = kDecodeThreads / lanes * (attention ? kUnrollAttention : kUnrollStream);
      }
      if (attention)
        GPU_CHECK(gpuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, attention_kernel, threads, 0));
      else
        GPU_CHECK(gpuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, stream_kernel, kDecodeThreads, 0));
      const int wanted = std::min(kMaxSplits, std::max(1, sm_count * std::max(1, blocks_per_sm) / pairs));
      const int least_tokens = uses_tensor_cores ? kAttentionSplitRows
                               : attention       ? 1
                                                 : static_cast<int>(kStreamSplitBytes / (2 * d * sizeof(S)));
      tokens_per_split = div_up(std::max(div_up(p.T, wanted), least_tokens), granule) * granule;
      splits = div_up(p.T, tokens_per_split);
      float* partial = allocate<float>(static_cast<size_t>(p.batch) * p.heads * splits * d);
      float* partial_max_sum = allocate<float>(static_cast<size_t>(p.batch) * p.heads * splits * 2);
      unsigned* arrivals = allocate<unsigned>(pairs);
      GPU_CHECK(gpuMemset(arrivals, 0, pairs * sizeof(unsigned)));
      const dim3 grid(splits, pairs);
      const int tps = tokens_per_split, per_sequence = pages_per_sequence, kv_heads = p.kv_heads;
      launch_layer = [=](int layer, gpuStream_t stream) {
        const S* Kl = K + kv_per_layer * layer;
        const S* Vl = V + kv_per_layer * layer;
        const float* ql = q + out_layer * layer;
        float* ol = out + out_layer * layer;
        if (attention)
          launch_layer_kernel(overlap, attention_kernel, grid, threads, stream, Kl, Vl, ql, partial, partial_max_sum,
                              arrivals, ol, T, dim, tps, score_scale, device_page_table, page_shift, per_sequence,
                              kv_heads);
        else
          launch_layer_kernel(overlap, stream_kernel, grid, kDecodeThreads, stream, Kl, Vl, ql, partial, arrivals, ol,
                              T, dim, tps, device_page_table, page_shift, per_sequence, kv_heads);
      };
    }
    // float64 reference of the first and the last layer, for the first and the last
    // sequence of the batch (every layer and sequence has its own inputs).
    reference_error = [=]() {
      const std::vector<float> got = to_host(out, out_layer * p.L);
      const size_t out_per_sequence = out_layer / p.batch;
      std::vector<float> checked;
      std::vector<double> ref;
      for (int layer : {0, p.L - 1}) {
        const std::vector<float> Kh = kv_values<F>(kv_per_layer * layer, kv_per_layer, kStreamK, p.seed);
        const std::vector<float> Vh = kv_values<F>(kv_per_layer * layer, kv_per_layer, kStreamV, p.seed);
        for (int sequence : {0, p.batch - 1}) {
          const size_t out_first = out_layer * layer + out_per_sequence * sequence;
          std::vector<double> qh(out_per_sequence), sequence_ref(out_per_sequence, 0.0);
          for (size_t i = 0; i < out_per_sequence; ++i) qh[i] = uniform_at(out_first + i, kStreamQ, p.seed);
          for (int kv_head = 0; kv_head < p.kv_heads; ++kv_head) {
            const int pair = sequence * p.kv_heads + kv_head;
            if (!attention) {
              for (int t = 0; t < T; ++t) {
                const size_t row = row_offset(pair, t);
                for (int i = 0; i < dim; ++i)
                  sequence_ref[kv_head * dim + i] += qh[kv_head * dim + i] * Kh[row + i] * Vh[row + i];
              }
              continue;
            }
            std::vector<double> score(T);
            for (int h = kv_head * group; h < (kv_head + 1) * group; ++h) {
              double top = -INFINITY;
              for (int t = 0; t < T; ++t) {
                const size_t row = row_offset(pair, t);
                double s = 0;
                for (int i = 0; i < dim; ++i) s += qh[h * dim + i] * Kh[row + i];
                score[t] = s / std::sqrt(static_cast<double>(dim));
                top = std::max(top, score[t]);
              }
              double total = 0;
              for (int t = 0; t < T; ++t) total += score[t] = std::exp(score[t] - top);
              for (int t = 0; t < T; ++t) {
                const size_t row = row_offset(pair, t);
                for (int i = 0; i < dim; ++i) sequence_ref[h * dim + i] += score[t] / total * Vh[row + i];
              }
            }
          }
          checked.insert(checked.end(), got.begin() + out_first, got.begin() + out_first + out_per_sequence);
          ref.insert(ref.end(), sequence_ref.begin(), sequence_ref.end());
          if (p.batch == 1) break;  // the first sequence is also the last
        }
      }
      return relative_error(checked, ref);
    };
  }

#if !defined(PDPROF_HIP)
  // attention_persistent.h: one cooperative launch per step, one block per SM, whose K/V
  // stages fill the shared memory the block has left.
  template <class F, class S = typename F::Storage>
  void setup_persistent(const S* K, const S* V, const float* q, size_t kv_per_layer, const int* device_page_table,
                        int page_shift, int sm_count, float score_scale) {
    const int group = p.heads / p.kv_heads, pairs = p.batch * p.kv_heads;
    const PersistentKernel kernel_fn =
        d == 64 ? persistent_kernel_for<F, 64>(group) : persistent_kernel_for<F, 128>(group);
    const size_t rows_per_layer = kv_per_layer / d;
    if (rows_per_layer * p.L > static_cast<size_t>(INT32_MAX)) {
      std::fprintf(stderr, "error: %zu K rows exceed TMA's int32 row coordinates; lower --T, --L or --batch, or run "
                   "with --persistent off\n", rows_per_layer * p.L);
      std::exit(2);
    }
    cudaFuncAttributes attributes;
    GPU_CHECK(cudaFuncGetAttributes(&attributes, kernel_fn));
    int device = 0, shared_optin = 0;
    GPU_CHECK(cudaGetDevice(&device));
    GPU_CHECK(cudaDeviceGetAttribute(&shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    const int stage_bytes = 2 * kPersistentStageRows * d * static_cast<int>(sizeof(S));
    const int stages = std::min(kPersistentMaxStages,
                                (shared_optin - static_cast<int>(attributes.sharedSizeBytes) - 1024) / stage_bytes);
    const size_t ring_bytes = static_cast<size_t>(stages) * stage_bytes + 1024;  // + the ring's 1 KiB alignment
    int blocks_per_sm = 0;  // stays 0 where not even two stages fit
    if (stages >= 2) {
      GPU_CHECK(cudaFuncSetAttribute(kernel_fn, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(ring_bytes)));
      GPU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel_fn, persistent_threads<F>(),
                                                              ring_bytes));
    }
    if (blocks_per_sm < 1) {
      std::fprintf(stderr, "error: the persistent attention kernel does not fit an SM (%d B of shared memory per "
                   "block); run with --persistent off\n", shared_optin);
      std::exit(3);
    }
    // About one item (a pair's split) per block and layer, whole stages each.
    // (Two per block and layer measured slower: a block's second item waits on its first's merge.)
    tokens_per_split = div_up(div_up(p.T, std::max(1, sm_count / pairs)), kPersistentStageRows) * kPersistentStageRows;
    splits = div_up(p.T, tokens_per_split);
    unsigned* arrivals = allocate<unsigned>(pairs);
    unsigned* merged = allocate<unsigned>(1);
    GPU_CHECK(gpuMemset(arrivals, 0, pairs * sizeof(unsigned)));
    // A page holds a power of two of rows, at least a stage's: boxes never cross a page.
    const CUtensorMap K_map = kv_rows_map(K, rows_per_layer * p.L, d, kPersistentBoxRows);
    const CUtensorMap V_map = kv_rows_map(V, rows_per_layer * p.L, d, kPersistentBoxRows);
    const PersistentAttentionArgs args{q, allocate<float>(static_cast<size_t>(p.batch) * p.heads * splits * d),
                                       allocate<float>(static_cast<size_t>(p.batch) * p.heads * splits * 2), arrivals,
                                       merged, out, {device_page_table, page_shift, pages_per_sequence, p.kv_heads},
                                       p.T, p.L, pairs, splits, tokens_per_split, stages,
                                       static_cast<int>(rows_per_layer), out_per_layer, score_scale};
    launch_step = [=](int layers, gpuStream_t stream) {
      PersistentAttentionArgs step = args;
      step.layers = layers;
      GPU_CHECK(cudaMemsetAsync(merged, 0, sizeof(unsigned), stream));
      // Cooperative: the launch fails rather than leave a block waiting on one that cannot start.
      cudaLaunchAttribute attribute{};
      attribute.id = cudaLaunchAttributeCooperative;
      attribute.val.cooperative = 1;
      cudaLaunchConfig_t config{};
      config.gridDim = dim3(sm_count);
      config.blockDim = dim3(persistent_threads<F>());
      config.dynamicSmemBytes = ring_bytes;
      config.stream = stream;
      config.attrs = &attribute;
      config.numAttrs = 1;
      GPU_CHECK(cudaLaunchKernelEx(&config, kernel_fn, K_map, V_map, step));
    };
  }

  using PersistentKernel = void (*)(CUtensorMap, CUtensorMap, PersistentAttentionArgs);
  template <class F, int kD>
  PersistentKernel persistent_kernel_for(int group) const {
    if (paged) return persistent_kernel_for<F, kD, true>(group);
    return persistent_kernel_for<F, kD, false>(group);
  }
  template <class F, int kD, bool kPaged>
  static PersistentKernel persistent_kernel_for(int group) {
    if constexpr (rows_fill_swizzle_spans<typename F::Storage>(kD))
      return for_group(group, [](auto g) { return decode_attention_persistent_kernel<decltype(g)::value, kD, kPaged, F>; });
    return nullptr;  // never asked for: such rows take the per-layer kernel
  }
#endif

  template <class F>
  using AttentionKernel = void (*)(const typename F::Storage*, const typename F::Storage*, const float*, float*,
                                   float*, unsigned*, float*, int, int, int, float, const int*, int, int, int);
  template <class F>
  using StreamKernel = void (*)(const typename F::Storage*, const typename F::Storage*, const float*, float*,
                                unsigned*, float*, int, int, int, const int*, int, int, int);

  // The tensor-core kernel (attention_mma.h) where it applies, else the CUDA-core one; for
  // the member `paged`'s K/V layout. Tensor cores: bf16 from compute capability 8.0, fp8 from
  // 8.9 (its e4m3 -> f16 conversion).
  template <class F>
  AttentionKernel<F> attention_kernel_for(int group, int dim, int cuda_cc) {
#if !defined(PDPROF_HIP)
    uses_tensor_cores = cuda_cc >= (std::is_same<F, Bf16>::value ? 80 : 89) && (dim == 64 || dim == 128);
    if (uses_tensor_cores && dim == 64) return paged ? attention_mma_kernel_for<F, 64, true>(group)
                                                     : attention_mma_kernel_for<F, 64, false>(group);
    if (uses_tensor_cores) return paged ? attention_mma_kernel_for<F, 128, true>(group)
                                        : attention_mma_kernel_for<F, 128, false>(group);
#endif
    (void)dim, (void)cuda_cc;
    return paged ? cuda_core_attention_kernel_for<F, true>(group) : cuda_core_attention_kernel_for<F, false>(group);
  }

  template <class F, bool kPaged>
  static AttentionKernel<F> cuda_core_attention_kernel_for(int group) {
    return for_group(group, [](auto g) { return decode_attention_kernel<F, decltype(g)::value, kUnrollAttention, kPaged>; });
  }

#if !defined(PDPROF_HIP)
  template <class F, int kD, bool kPaged>
  static AttentionKernel<F> attention_mma_kernel_for(int group) {
    return for_group(group, [](auto g) { return decode_attention_mma_kernel<decltype(g)::value, kD, kPaged, F>; });
  }
#endif

  size_t out_elements() const { return kernel == DecodeKernel::seed ? out_per_layer : out_per_layer * p.L; }
};

// The decode step as one graph launch: the same kernels, captured once.
struct GraphedSteps {
  std::map<int, gpuGraphExec_t> by_layers;
  ~GraphedSteps() { for (auto& entry : by_layers) (void)gpuGraphExecDestroy(entry.second); }

  void capture(int layers, const Decode& decode, gpuStream_t stream) {
    gpuGraph_t graph;
    GPU_CHECK(gpuStreamBeginCapture(stream, gpuStreamCaptureModeThreadLocal));
    decode.launch_step(layers, stream);
    GPU_CHECK(gpuStreamEndCapture(stream, &graph));
    GPU_CHECK(gpuGraphInstantiate(&by_layers[layers], graph));
    GPU_CHECK(gpuGraphDestroy(graph));
  }
  void launch(int layers, gpuStream_t stream) { GPU_CHECK(gpuGraphLaunch(by_layers.at(layers), stream)); }
};

size_t free_device_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  GPU_CHECK(gpuMemGetInfo(&free_bytes, &total_bytes));
  return free_bytes;
}

// Device memory a variant allocates, checked before allocating anything.
size_t needed_bytes(const Variant& v, const Params& p) {
  const size_t d = p.H / p.heads;
  const size_t prefill = v.prefill == PrefillKernel::none ? 0 : (2 * static_cast<size_t>(p.T) * p.H + 1024) * 4;
  size_t decode = 0;
  if (v.decode == DecodeKernel::seed) decode = (2 * static_cast<size_t>(p.T) * d * p.kv_heads + 2 * p.kv_heads * d) * 4;
  else if (v.decode != DecodeKernel::none) {
    // A paged cache stores whole pages: T rounded up to the page size, plus the page table.
    const size_t stored_T = v.paged ? static_cast<size_t>(div_up(p.T, p.page_size)) * p.page_size : p.T;
    decode = 2 * static_cast<size_t>(p.L) * p.batch * p.kv_heads * stored_T * d * kv_element_bytes(v) +
             (2 * static_cast<size_t>(p.L) + 2 * p.T) * p.batch * p.heads * d * 4 +
             (v.paged ? stored_T / p.page_size * p.batch * sizeof(int) : 0);
  }
  return prefill + decode;
}

}  // namespace

int main(int argc, char** argv) {
  const Params p = parse_args(argc, argv);
  const Variant& variant = *find_variant(p.variant);
  const int d = p.H / p.heads;

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

  const size_t buffer_bytes = needed_bytes(variant, p), free_bytes = free_device_bytes();
  if (buffer_bytes > free_bytes) {
    std::fprintf(stderr, "error: needs %zu bytes of device memory, %zu free; lower --T, --L or --H\n",
                 buffer_bytes, free_bytes);
    return 2;
  }

  gpuStream_t stream;
  GPU_CHECK(gpuStreamCreate(&stream));
  const bool has_prefill = variant.prefill != PrefillKernel::none;
  const bool has_decode = variant.decode != DecodeKernel::none;
  std::unique_ptr<Prefill> prefill_phase;
  std::unique_ptr<Decode> decode_phase;
  GraphedSteps graphs;
  if (has_prefill) prefill_phase = std::make_unique<Prefill>(variant.prefill, p);
  // Programmatic dependent launch exists from compute capability 9.0 (Hopper) on.
  const bool layer_overlap = p.layer_overlap && std::strcmp(PDPROF_BACKEND, "cuda") == 0 && prop.major >= 9;
  if (has_decode) decode_phase = std::make_unique<Decode>(variant, p, prop.multiProcessorCount, layer_overlap,
                                                          std::strcmp(PDPROF_BACKEND, "cuda") == 0 ? 10 * prop.major + prop.minor : 0);

  auto prefill_step = [&](int layers) {
    for (int l = 0; l < layers; ++l) prefill_phase->launch(stream);
  };
  auto decode_step = [&](int layers) {
    if (variant.graph) return graphs.launch(layers, stream);
    decode_phase->launch_step(layers, stream);
  };
  if (variant.graph) {
    graphs.capture(p.L, *decode_phase, stream);
    if (p.profile_layers != p.L) graphs.capture(p.profile_layers, *decode_phase, stream);
  }
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

  // Correct first: one poisoned, untimed step per phase against the float64 reference.
  double prefill_error = 0, decode_error = 0;
  bool reference_ok = true;
  if (has_prefill) {
    GPU_CHECK(gpuMemset(prefill_phase->Y, 0xFF, prefill_phase->n * sizeof(float)));
    prefill_step(1);
    GPU_CHECK(gpuStreamSynchronize(stream));
    prefill_error = prefill_phase->reference_error();
    if (!(prefill_error <= kReferenceTolerance)) {
      std::fprintf(stderr, "error: prefill output differs from the float64 reference: relative error %.3g > %.0e\n",
                   prefill_error, kReferenceTolerance);
      reference_ok = false;
    }
  }
  if (has_decode) {
    GPU_CHECK(gpuMemset(decode_phase->out, 0xFF, decode_phase->out_elements() * sizeof(float)));
    decode_step(p.L);
    GPU_CHECK(gpuStreamSynchronize(stream));
    decode_error = decode_phase->reference_error();
    if (!(decode_error <= kReferenceTolerance)) {
      std::fprintf(stderr, "error: decode output differs from the float64 reference: relative error %.3g > %.0e\n",
                   decode_error, kReferenceTolerance);
      reference_ok = false;
    }
  }
  if (!reference_ok) return 4;  // a wrong kernel is never timed

  // Poison outputs again so that an unwritten element fails the finite check.
  if (has_prefill) GPU_CHECK(gpuMemset(prefill_phase->Y, 0xFF, prefill_phase->n * sizeof(float)));
  if (has_decode) GPU_CHECK(gpuMemset(decode_phase->out, 0xFF, decode_phase->out_elements() * sizeof(float)));

  // Warm-up: module load, first-launch costs and clock ramp stay out of the
  // numbers; its steps are still timed, so the report can show the cold start.
  std::vector<float> prefill_warmup_ms, decode_warmup_ms;
  for (int w = 0; w < p.warmup; ++w) {
    if (has_prefill) prefill_warmup_ms.push_back(timed_step(prefill_step, "prefill"));
    if (has_decode) decode_warmup_ms.push_back(timed_step(decode_step, "decode"));
  }

  Stats prefill{}, decode{};
  const bool timing = p.mode == "time";
  if (timing) {
    std::fprintf(stderr, "timing %d repeats of each phase (variant %s, L=%d, T=%d)\n", p.repeats,
                 variant.name, p.L, p.T);
    std::vector<float> prefill_ms, decode_ms;
    if (has_prefill) {
      prefill_phase->reset_clock_probe();
      for (int r = 0; r < p.repeats; ++r) prefill_ms.push_back(timed_step(prefill_step, "prefill"));
    }
    if (has_decode)
      for (int r = 0; r < p.repeats; ++r) decode_ms.push_back(timed_step(decode_step, "decode"));
    if (has_prefill) prefill = summarize(prefill_ms);
    if (has_decode) decode = summarize(decode_ms);
  } else {
    // Only this range is profiled (ncu --profile-from-start off): warm-up excluded.
    GPU_CHECK(gpuStreamSynchronize(stream));
    GPU_CHECK(gpuProfilerStart());
    if (has_prefill) prefill_step(p.profile_layers);
    if (has_decode) decode_step(p.profile_layers);
    GPU_CHECK(gpuStreamSynchronize(stream));
    GPU_CHECK(gpuProfilerStop());
  }

  size_t bad = 0;
  const bool prefill_ok = !has_prefill || all_finite(prefill_phase->Y, prefill_phase->n, &bad);
  if (!prefill_ok) std::fprintf(stderr, "error: prefill output Y[%zu] is not finite or was not written\n", bad);
  const bool decode_ok = !has_decode || all_finite(decode_phase->out, decode_phase->out_elements(), &bad);
  if (!decode_ok) std::fprintf(stderr, "error: decode output out[%zu] is not finite or was not written\n", bad);

  std::string phases = has_prefill && has_decode ? "\"prefill\",\"decode\"" : has_prefill ? "\"prefill\"" : "\"decode\"";
  std::string line = strprintf(
      "{\"schema\":\"pdprof.bench/1\",\"backend\":\"%s\",\"variant\":\"%s\",\"mode\":\"%s\","
      "\"phases\":[%s],"
      "\"device\":{\"name\":\"%s\",\"compute_capability\":\"%d.%d\",\"sm_count\":%d,"
      "\"l2_bytes\":%d,\"memory_bytes\":%zu,\"memory_bus_bits\":%d,\"memory_clock_khz\":%d,"
      "\"sm_clock_khz\":%d,\"peak_dram_bytes_per_s\":%.6e,\"driver_version\":%d,"
      "\"runtime_version\":%d},"
      "\"params\":{\"L\":%d,\"H\":%d,\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"T\":%d,"
      "\"iters_fma\":%d,\"warmup\":%d,\"repeats\":%d,\"profile_layers\":%d,\"seed\":%u,"
      "\"kv_format\":\"%s\",\"layer_overlap\":%s,\"batch\":%d,\"page_size\":%d},"
      "\"checks\":{\"prefill_output_finite\":%s,\"decode_output_finite\":%s,"
      "\"reference_tolerance\":%.0e,\"prefill_reference_rel_error\":%.3e,"
      "\"decode_reference_rel_error\":%.3e},",
      PDPROF_BACKEND, variant.name, p.mode.c_str(), phases.c_str(), prop.name, prop.major,
      prop.minor, prop.multiProcessorCount, prop.l2CacheSize,
      static_cast<size_t>(prop.totalGlobalMem), prop.memoryBusWidth, mem_clock_khz,
      sm_clock_khz, peak_dram_Bps, driver, runtime, p.L, p.H, p.heads, p.kv_heads, d, p.T,
      p.iters_fma, p.warmup, p.repeats, p.profile_layers, p.seed, variant.kv_format,
      has_decode && layer_overlap ? "true" : "false", p.batch, p.page_size,
      prefill_ok ? "true" : "false", decode_ok ? "true" : "false", kReferenceTolerance,
      prefill_error, decode_error);
  if (timing && has_prefill) {
    const double flops = prefill_phase->flops_per_step(p.L), clock_mhz = prefill_phase->probed_clock_mhz();
    line += strprintf(
        "\"prefill\":{\"ms_median\":%.6f,\"ms_min\":%.6f,\"ms_max\":%.6f,\"ms_all\":%s,"
        "\"warmup_ms_all\":%s,\"tokens_per_s\":%.3f,\"kernel_flops\":%.0f,"
        "\"flops_per_s\":%.6e,\"sm_clock_mhz\":%s},",
        prefill.median, prefill.min, prefill.max, json_list(prefill.all).c_str(),
        json_list(prefill_warmup_ms).c_str(), p.T / (prefill.median / 1e3), flops,
        flops / (prefill.median / 1e3), clock_mhz > 0 ? strprintf("%.1f", clock_mhz).c_str() : "null");
  } else {
    line += "\"prefill\":null,";
  }
  if (timing && has_decode) {
    const double bytes = static_cast<double>(decode_phase->bytes_per_step);
    line += strprintf(
        "\"decode\":{\"ms_median\":%.6f,\"ms_min\":%.6f,\"ms_max\":%.6f,\"ms_all\":%s,"
        "\"warmup_ms_all\":%s,\"tokens_per_s\":%.3f,\"kv_bytes_per_step\":%.0f,"
        "\"kv_distinct_bytes\":%.0f,\"bytes_per_s\":%.6e,\"kernel_flops\":%.0f,"
        "\"splits\":%d,\"tokens_per_split\":%d,\"tensor_cores\":%s,\"persistent\":%s}}",
        decode.median, decode.min, decode.max, json_list(decode.all).c_str(),
        json_list(decode_warmup_ms).c_str(), 1e3 / decode.median, bytes,
        static_cast<double>(decode_phase->distinct_bytes), bytes / (decode.median / 1e3),
        decode_phase->flops_per_layer * p.L, decode_phase->splits, decode_phase->tokens_per_split,
        decode_phase->uses_tensor_cores ? "true" : "false", decode_phase->persistent ? "true" : "false");
  } else {
    line += "\"decode\":null}";
  }
  std::printf("%s\n", line.c_str());
  if (timing && has_prefill)
    std::fprintf(stderr, "prefill %.3f ms (%.0f tokens/s, %.1f TFLOP/s)\n", prefill.median,
                 p.T / (prefill.median / 1e3),
                 prefill_phase->flops_per_step(p.L) / (prefill.median / 1e3) / 1e12);
  if (timing && has_decode)
    std::fprintf(stderr, "decode %.3f ms/token, %.1f GB/s\n", decode.median,
                 decode_phase->bytes_per_step / (decode.median / 1e3) / 1e9);

  GPU_CHECK(gpuEventDestroy(start));
  GPU_CHECK(gpuEventDestroy(stop));
  GPU_CHECK(gpuStreamDestroy(stream));
  return prefill_ok && decode_ok ? 0 : 4;
}
