// Bandwidth-optimal decode kernels: one launch per layer reads that layer's K and V
// exactly once. The past length T is split over many blocks (kv_stream: long splits,
// as consecutive layers overlap); each thread issues wide vector loads; the last block
// to finish a KV head reduces the per-split partials (no second launch).
#pragma once

#include "kv_formats.h"

// Programmatic dependent launch (sm_90 and newer, launched with the programmatic
// stream-serialization attribute): the next layer's kernel starts while this one
// drains, and waits in griddep_wait() until this grid has finished and its writes
// are visible. Without the attribute, or on other targets, both are no-ops.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ inline void griddep_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }
__device__ inline void griddep_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
#else
__device__ inline void griddep_launch_dependents() {}
__device__ inline void griddep_wait() {}
#endif

constexpr int kDecodeThreads = 256;

// Each thread loads a row's elements in 16-byte vectors (kv_stream), or 8 elements
// at a time (attention: its per-thread state grows with the elements it owns, so
// fp8 rows are read 8 bytes at a time there to keep enough blocks resident).
template <class F, class Raw>
__host__ __device__ constexpr int elements_in() { return static_cast<int>(sizeof(Raw) / sizeof(typename F::Storage)); }

template <class F>
using StreamLoad = uint4;
template <bool kFirst, class A, class B>
struct Choose { using type = A; };
template <class A, class B>
struct Choose<false, A, B> { using type = B; };
template <class F>
using AttentionLoad = typename Choose<sizeof(typename F::Storage) == 1, uint2, uint4>::type;

// Word i of a 16- or 8-byte load (i known at compile time after unrolling).
__device__ inline uint32_t word_of(const uint4& raw, int i) { return i == 0 ? raw.x : i == 1 ? raw.y : i == 2 ? raw.z : raw.w; }
__device__ inline uint32_t word_of(const uint2& raw, int i) { return i == 0 ? raw.x : raw.y; }

// The elements of one 32-bit word of K/V as floats, by the format's own decode.
template <class F>
struct WordDecoder {
  static constexpr int per_word = 4 / static_cast<int>(sizeof(typename F::Storage));
  __device__ static void decode(uint32_t word, float* out) {
    constexpr int bits = 32 / per_word;
    constexpr uint32_t mask = bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1u;
#pragma unroll
    for (int j = 0; j < per_word; ++j) out[j] = F::decode((word >> (j * bits)) & mask);
  }
};
#if !defined(PDPROF_HIP)
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
// Four fp8 e4m3 (bytes 0..3 of a word) as two f16 pairs, {bytes 0, 1} and {bytes 2, 3}, by
// the hardware's conversion: exact, as Fp8E4M3::decode (every e4m3 value, subnormals
// included, is an f16 one). Compute capability 8.9 and newer.
__device__ inline uint2 f16x2_pairs_of_e4m3x4(uint32_t word) {
  uint2 pairs;
  asm("{\n.reg .b16 a, b;\nmov.b32 {a, b}, %2;\ncvt.rn.f16x2.e4m3x2 %0, a;\ncvt.rn.f16x2.e4m3x2 %1, b;\n}"
      : "=r"(pairs.x), "=r"(pairs.y)
      : "r"(word));
  return pairs;
}
#endif
// Four fp8 e4m3: from compute capability 8.9 two hardware conversions to f16 pairs and four
// widenings instead of about forty integer operations, which bounded kv_stream_fp8 at 0.37x
// copy on an H200 (benchmarks/NOTES.md, v7).
template <>
struct WordDecoder<Fp8E4M3> {
  static constexpr int per_word = 4;
  __device__ static void decode(uint32_t word, float* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    const uint2 two_pairs = f16x2_pairs_of_e4m3x4(word);
    const uint32_t pairs[2] = {two_pairs.x, two_pairs.y};
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      asm("{\n.reg .b16 lo, hi;\nmov.b32 {lo, hi}, %2;\ncvt.f32.f16 %0, lo;\ncvt.f32.f16 %1, hi;\n}"
          : "=f"(out[2 * i]), "=f"(out[2 * i + 1])
          : "r"(pairs[i]));
    }
#else
#pragma unroll
    for (int j = 0; j < 4; ++j) out[j] = Fp8E4M3::decode((word >> (8 * j)) & 0xFFu);
#endif
  }
};
#endif

template <class F, class Raw>
__device__ inline void decode_vector(const Raw& raw, float* out) {
  constexpr int n_words = sizeof(Raw) / 4, per_word = WordDecoder<F>::per_word;
#pragma unroll
  for (int w = 0; w < n_words; ++w) WordDecoder<F>::decode(word_of(raw, w), out + w * per_word);
}

template <class F>
__global__ void init_kv_kernel(typename F::Storage* dst, size_t n, uint32_t stream, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    dst[i] = F::encode(uniform_at(i, stream, seed));
}

__global__ void init_float_kernel(float* dst, size_t n, uint32_t stream, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    dst[i] = uniform_at(i, stream, seed);
}

// Which split of the past this block scans, and where its thread sits in a row.
struct SplitGeometry {
  int lanes;  // threads per KV row (d / elements per thread)
  int rows;   // rows scanned side by side by one block
  int row, lane;
  int t_begin, t_end;
};

__device__ inline SplitGeometry split_geometry(int elements, int T, int d, int tokens_per_split) {
  SplitGeometry g;
  g.lanes = d / elements;
  g.rows = blockDim.x / g.lanes;
  g.row = threadIdx.x / g.lanes;
  g.lane = threadIdx.x % g.lanes;
  g.t_begin = blockIdx.x * tokens_per_split;
  g.t_end = min(T, g.t_begin + tokens_per_split);
  return g;
}

// A barrier over the threads that take part in a merge: the whole block here; the
// persistent attention kernel's scanning warps only (attention_persistent.h).
struct BlockSync {
  __device__ void operator()() const { __syncthreads(); }
};

// Count this block in; true for the last block of its KV head, which then sees
// every other block's partials. CUDA: after the barrier, thread 0's acquire-release add
// publishes the whole block's writes (as CUTLASS's semaphores do) and, for the last
// block, acquires everyone's: one fence at GPU scope instead of a sequentially
// consistent __threadfence() in every warp.
template <class Sync = BlockSync>
__device__ inline bool last_block_of_head(unsigned* arrivals, int head, int splits, Sync sync = {}) {
  __shared__ bool last;
#if defined(PDPROF_HIP)
  __threadfence();
  sync();
  if (threadIdx.x == 0) last = atomicAdd(&arrivals[head], 1u) == static_cast<unsigned>(splits - 1);
  sync();
  if (last) __threadfence();
#else
  sync();
  if (threadIdx.x == 0) {
    unsigned before;
    asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], 1;" : "=r"(before) : "l"(arrivals + head) : "memory");
    last = before == static_cast<unsigned>(splits - 1);
  }
  sync();
#endif
  return last;
}

// Most splits of T: bounds the partial buffers and the serial work of the last block's merge.
constexpr int kMaxSplits = 1024;

// out[dim] = sum_s partial[s][dim], by the whole block: thread t sums every
// (blockDim/d)-th split for dim t % d with independent L2 loads (the merge runs while
// the rest of the GPU idles, so it must not be one serial chain per dim).
__device__ inline void merge_splits(const float* partial, int splits, int d, float* out, float* scratch) {
  const int groups = blockDim.x / d, group = threadIdx.x / d, dim = threadIdx.x % d;
  float sum = 0.f;
  if (group < groups)
    for (int s = group; s < splits; s += groups) sum += load_from_l2(partial + static_cast<size_t>(s) * d + dim);
  scratch[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x < d) {
    float total = 0.f;
    for (int g = 0; g < groups; ++g) total += scratch[g * d + threadIdx.x];
    out[threadIdx.x] = total;
  }
  __syncthreads();
}

// Where K/V live. blockIdx.y numbers (sequence, KV head) pairs: batch * kv_heads of them.
// page_table == nullptr: each pair's T rows are contiguous, [sequence][kv_head][T][d] per
// layer. Otherwise a paged cache, [page][kv_head][page_size][d] per layer, where row t of
// a sequence lies in page page_table[sequence * pages_per_sequence + t / page_size]
// (page_size = 1 << page_shift), as in vLLM's block tables.
struct KvLayout {
  const int* page_table;
  int page_shift, pages_per_sequence, kv_heads;
};

// Element offset of row t of this block's (sequence, KV head), at this thread's columns.
template <bool kPaged>
struct KvRows {  // contiguous
  size_t first;  // the pair's row 0
  int d;
  __device__ KvRows(const KvLayout&, int pair, int T, int d_, size_t column)
      : first(static_cast<size_t>(pair) * T * d_ + column), d(d_) {}
  __device__ size_t at(int t) const { return first + static_cast<size_t>(t) * d; }
  __device__ int contiguous_from(int) const { return 1 << 30; }  // rows from t on that lie back to back
};

template <>
struct KvRows<true> {
  const int* pages;  // this sequence's page table
  size_t first;  // the KV head's slot in a page, at this thread's columns
  size_t page_stride;  // elements per page (all KV heads)
  int page_shift, d;
  __device__ KvRows(const KvLayout& layout, int pair, int, int d_, size_t column)
      : pages(layout.page_table + static_cast<size_t>(pair / layout.kv_heads) * layout.pages_per_sequence),
        first((static_cast<size_t>(pair % layout.kv_heads) * d_ << layout.page_shift) + column),
        page_stride((static_cast<size_t>(layout.kv_heads) * d_) << layout.page_shift),
        page_shift(layout.page_shift),
        d(d_) {}
  __device__ size_t at(int t) const {
    const size_t in_page = static_cast<size_t>(t & ((1 << page_shift) - 1));
    return static_cast<size_t>(__ldg(pages + (t >> page_shift))) * page_stride + first + in_page * d;
  }
  __device__ int contiguous_from(int t) const { return (1 << page_shift) - (t & ((1 << page_shift) - 1)); }
};

// kUnroll rows t, t + rows, ... of K and V for this thread's columns; rows at or past
// t_end read as zeros (no load issued).
template <class Raw, class Storage, int kUnroll, class Rows>
__device__ inline void load_rows(const Storage* K, const Storage* V, const Rows& at, int t, int rows, int t_end,
                                 Raw (&k)[kUnroll], Raw (&v)[kUnroll]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int row = t + u * rows;
    const bool inside = row < t_end;
    k[u] = inside ? *reinterpret_cast<const Raw*>(K + at.at(row)) : Raw{};
    v[u] = inside ? *reinterpret_cast<const Raw*>(V + at.at(row)) : Raw{};
  }
}

// acc[i] += k[u][i] * v[u][i] over a pass's rows (a zero row adds nothing).
template <class F, class Raw, int kUnroll, int n>
__device__ inline void sum_products(const Raw (&k)[kUnroll], const Raw (&v)[kUnroll], float (&acc)[n]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    float kf[n], vf[n];
    decode_vector<F, Raw>(k[u], kf);
    decode_vector<F, Raw>(v[u], vf);
#pragma unroll
    for (int i = 0; i < n; ++i) acc[i] = fmaf(kf[i], vf[i], acc[i]);
  }
}

// The seed's decode arithmetic (out = sum_t q * k_t * v_t per KV lane), made
// bandwidth-optimal: K and V are [kv_head][T][d] per layer. q multiplies the whole
// sum, so the scan runs before this layer's q exists: only the partials wait for
// the previous layer (griddep_wait), and consecutive layers' scans overlap.
template <class F, int kUnroll, bool kPaged>
__global__ void __launch_bounds__(kDecodeThreads)
decode_kv_stream_kernel(const typename F::Storage* __restrict__ K,
                        const typename F::Storage* __restrict__ V, const float* __restrict__ q,
                        float* __restrict__ partial, unsigned* __restrict__ arrivals,
                        float* __restrict__ out, int T, int d, int tokens_per_split, const int* __restrict__ page_table,
                        int page_shift, int pages_per_sequence, int kv_heads) {
  using Raw = StreamLoad<F>;
  constexpr int n = elements_in<F, Raw>();
  __shared__ float rows_sum[kDecodeThreads * n];
  griddep_launch_dependents();
  const int head = blockIdx.y, split = blockIdx.x, splits = gridDim.x;
  const SplitGeometry g = split_geometry(n, T, d, tokens_per_split);
  const KvRows<kPaged> rows_at({page_table, page_shift, pages_per_sequence, kv_heads}, head, T, d, static_cast<size_t>(g.lane) * n);
  float acc[n];
#pragma unroll
  for (int i = 0; i < n; ++i) acc[i] = 0.f;
  // A pass reads kUnroll rows of K and V per thread; a split is a whole number of
  // passes, so kUnroll also sets how few and long the splits are (benchmarks/NOTES.md, v3).
  for (int t0 = g.t_begin + g.row; t0 < g.t_end; t0 += g.rows * kUnroll) {
    Raw k[kUnroll], v[kUnroll];
    load_rows<Raw>(K, V, rows_at, t0, g.rows, g.t_end, k, v);
    sum_products<F>(k, v, acc);
  }
  griddep_wait();  // q, partial and arrivals belong to the previous layer until it ends
#pragma unroll
  for (int i = 0; i < n; ++i) rows_sum[g.row * d + g.lane * n + i] = q[head * d + g.lane * n + i] * acc[i];
  __syncthreads();
  for (int dim = threadIdx.x; dim < d; dim += blockDim.x) {
    float sum = 0.f;
    for (int r = 0; r < g.rows; ++r) sum += rows_sum[r * d + dim];
    partial[(static_cast<size_t>(head) * splits + split) * d + dim] = sum;
  }
  if (!last_block_of_head(arrivals, head, splits)) return;
  // Fixed order over splits: the result does not depend on which block came last.
  merge_splits(partial + static_cast<size_t>(head) * splits * d, splits, d, out + head * d,
               rows_sum);
  if (threadIdx.x == 0) arrivals[head] = 0;  // ready for the next layer's launch
}

// The last block of a KV head merges every split's partial (acc[d], max, sum) into the
// output of the head's kG query heads in one pass over the splits: each thread takes 4
// consecutive dims of one query head and keeps a running maximum, rescaling what it has
// summed when the maximum grows (as the kernels do over rows), with kBatch splits' loads
// in flight at a time: the merge runs while the rest of the GPU waits for this layer to
// end. Fixed order over splits: the result does not depend on which block came last.
// `acc` and `max_sum` point at the KV head's first split slot; threads 0 .. threads - 1 take part.
template <int kG>
__device__ void merge_attention_splits(const float* acc, const float* max_sum, int splits, int d, float* out,
                                       int threads) {
  constexpr int kBatch = 16;
  const int quads = d / 4;
  for (int at = threadIdx.x; at < kG * quads; at += threads) {
    const int h = at / quads, dim = 4 * (at % quads);
    const float* slots = max_sum + 2 * static_cast<size_t>(h) * splits;
    const float* partial = acc + static_cast<size_t>(h) * splits * d + dim;
    float top = -INFINITY, denominator = 0.f;
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s0 = 0; s0 < splits; s0 += kBatch) {
      float split_max[kBatch], split_sum[kBatch];
      float4 part[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const bool inside = s0 + u < splits;
        split_max[u] = inside ? load_from_l2(slots + 2 * (s0 + u)) : -INFINITY;
        split_sum[u] = inside ? load_from_l2(slots + 2 * (s0 + u) + 1) : 0.f;
        part[u] = inside ? load4_from_l2(partial + static_cast<size_t>(s0 + u) * d) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      float batch_top = top;
#pragma unroll
      for (int u = 0; u < kBatch; ++u) batch_top = fmaxf(batch_top, split_max[u]);
      const float reference = batch_top == -INFINITY ? 0.f : batch_top;  // nothing yet: weights 0, not NaN
      const float rescale = exp2f(top - reference);
      denominator *= rescale;
      sum = make_float4(sum.x * rescale, sum.y * rescale, sum.z * rescale, sum.w * rescale);
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const float weight = exp2f(split_max[u] - reference);
        denominator = fmaf(weight, split_sum[u], denominator);
        sum = make_float4(fmaf(weight, part[u].x, sum.x), fmaf(weight, part[u].y, sum.y),
                          fmaf(weight, part[u].z, sum.z), fmaf(weight, part[u].w, sum.w));
      }
      top = batch_top;
    }
    const float inverse = 1.f / denominator;
    *reinterpret_cast<float4*>(out + h * d + dim) =
        make_float4(sum.x * inverse, sum.y * inverse, sum.z * inverse, sum.w * inverse);
  }
}

// GQA decode attention for one new token, flash-decoding style: block (split, kv_head)
// scores its slice of the past against the kG query heads sharing that KV head
// (each K/V row is read once for all of them), keeps an online softmax in fp32,
// and the last block merges the splits with the max-rescaled sums.
// q is pre-multiplied by log2(e)/sqrt(d), so exp2 gives the softmax weights.
template <class F, int kG, int kUnroll, bool kPaged>
__global__ void __launch_bounds__(kDecodeThreads)
decode_attention_kernel(const typename F::Storage* __restrict__ K,
                        const typename F::Storage* __restrict__ V, const float* __restrict__ q,
                        float* __restrict__ partial_acc, float* __restrict__ partial_max_sum,
                        unsigned* __restrict__ arrivals, float* __restrict__ out, int T, int d,
                        int tokens_per_split, float score_scale, const int* __restrict__ page_table,
                        int page_shift, int pages_per_sequence, int kv_heads) {
  using Raw = AttentionLoad<F>;
  constexpr int n = elements_in<F, Raw>();
  __shared__ float rows_sum[kDecodeThreads * n];
  __shared__ float row_max[kDecodeThreads], row_sum[kDecodeThreads];
  griddep_launch_dependents();
  const int head = blockIdx.y, split = blockIdx.x, splits = gridDim.x;
  const SplitGeometry g = split_geometry(n, T, d, tokens_per_split);
  const KvRows<kPaged> rows_at({page_table, page_shift, pages_per_sequence, kv_heads}, head, T, d, static_cast<size_t>(g.lane) * n);
  // The first rows are loaded while the previous layer drains; the scores need this
  // layer's q, which exists only once that layer has ended.
  const int stride = g.rows * kUnroll;
  Raw k_next[kUnroll], v_next[kUnroll];
  load_rows<Raw>(K, V, rows_at, g.t_begin + g.row, g.rows, g.t_end, k_next, v_next);
  griddep_wait();
  float qv[kG][n], acc[kG][n], running_max[kG], running_sum[kG];
#pragma unroll
  for (int h = 0; h < kG; ++h) {
    running_max[h] = -INFINITY;
    running_sum[h] = 0.f;
#pragma unroll
    for (int i = 0; i < n; ++i) {
      qv[h][i] = q[(head * kG + h) * d + g.lane * n + i] * score_scale;
      acc[h][i] = 0.f;
    }
  }
  // Every row of the block runs every pass (rows past t_end masked): the score's shuffles
  // need all lanes of the warp, and a warp may hold a row inside the split and one past it.
  for (int pass = g.t_begin; pass < g.t_end; pass += stride) {
    const int t0 = pass + g.row;
    Raw k[kUnroll], v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      k[u] = k_next[u];
      v[u] = v_next[u];
    }
    load_rows<Raw>(K, V, rows_at, t0 + stride, g.rows, g.t_end, k_next, v_next);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[n], score[kG];
      decode_vector<F, Raw>(k[u], kf);
#pragma unroll
      for (int h = 0; h < kG; ++h) {
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < n; ++i) s = fmaf(qv[h][i], kf[i], s);
        for (int offset = g.lanes / 2; offset > 0; offset /= 2) s += lane_shfl_xor(s, offset, g.lanes);
        score[h] = s;  // every lane of the row holds the full dot product
      }
      if (t0 + u * g.rows >= g.t_end) continue;  // masked: past the sequence end
      float vf[n];
      decode_vector<F, Raw>(v[u], vf);
#pragma unroll
      for (int h = 0; h < kG; ++h) {
        float weight;
        if (score[h] > running_max[h]) {  // new maximum: rescale what was summed so far
          const float rescale = exp2f(running_max[h] - score[h]);
          running_max[h] = score[h];
          running_sum[h] *= rescale;
#pragma unroll
          for (int i = 0; i < n; ++i) acc[h][i] *= rescale;
          weight = 1.f;
        } else {
          weight = exp2f(score[h] - running_max[h]);
        }
        running_sum[h] += weight;
#pragma unroll
        for (int i = 0; i < n; ++i) acc[h][i] = fmaf(weight, vf[i], acc[h][i]);
      }
    }
  }
  // Merge the block's rows, one query head at a time, into this split's partial.
  for (int h = 0; h < kG; ++h) {
    if (g.lane == 0) {
      row_max[g.row] = running_max[h];
      row_sum[g.row] = running_sum[h];
    }
    __syncthreads();
    float block_max = -INFINITY;
    for (int r = 0; r < g.rows; ++r) block_max = fmaxf(block_max, row_max[r]);
    const float weight = running_max[h] == -INFINITY ? 0.f : exp2f(running_max[h] - block_max);
#pragma unroll
    for (int i = 0; i < n; ++i) rows_sum[g.row * d + g.lane * n + i] = acc[h][i] * weight;
    __syncthreads();
    const size_t slot = (static_cast<size_t>(head) * kG + h) * splits + split;
    for (int dim = threadIdx.x; dim < d; dim += blockDim.x) {
      float sum = 0.f;
      for (int r = 0; r < g.rows; ++r) sum += rows_sum[r * d + dim];
      partial_acc[slot * d + dim] = sum;
    }
    if (threadIdx.x == 0) {
      float total = 0.f;
      for (int r = 0; r < g.rows; ++r)
        if (row_max[r] != -INFINITY) total += row_sum[r] * exp2f(row_max[r] - block_max);
      partial_max_sum[2 * slot] = block_max;
      partial_max_sum[2 * slot + 1] = total;
    }
    __syncthreads();
  }
  if (!last_block_of_head(arrivals, head, splits)) return;
  const size_t first = static_cast<size_t>(head) * kG * splits;
  merge_attention_splits<kG>(partial_acc + first * d, partial_max_sum + 2 * first, splits, d,
                             out + static_cast<size_t>(head) * kG * d, blockDim.x);
  if (threadIdx.x == 0) arrivals[head] = 0;
}
