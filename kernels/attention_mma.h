// GQA decode attention on the tensor cores (CUDA: bf16 K/V from sm_80; fp8 e4m3 K/V from
// sm_89, converted exactly to f16 in registers and multiplied as f16).
//
// Per 16-row tile of the past, one warp computes the scores of its KV head's kG query
// heads with mma.m16n8k16 as K·qᵀ (M = the tile's 16 rows; N = 8 columns, two per query
// head: q's hi and lo terms below; K = head dim), keeps an online softmax in fp32, and
// accumulates P·V on the same 8 columns (M = head dim; K = the tile's 16 rows). With kG <= 4
// one n-tile holds every head and both terms: 2 d / 16 mma per tile (16 at d = 128, where
// q as the M side took 48), and a lane's score, softmax state and output columns all
// belong to one head (4 c + tq), so the rescale needs no shuffle. P leaves the scores as a
// C fragment and enters P·V as a B fragment: one movmatrix transposes each 8-row half.
//  - K and V go from global memory straight into the mma operand registers in 16-byte
//    loads, the next tile's while this one computes. A dot product does not depend on
//    the order of its terms, so each thread's K chunks are given the head-dim positions
//    its B fragment needs, and q is laid out to match; a thread's V rows are the rows its
//    P fragment holds, and two rows' bf16 pairs are regrouped with one byte permute each.
//  - The registers hold one tile ahead. Before griddep_wait(), while the previous layer
//    drains, each warp also asks L2 for its first kAttentionPrefetchTiles tiles (bulk
//    prefetch, sm_90). Prefetching ahead inside the loop as well measured slower at long
//    T (benchmarks/NOTES.md, v4).
//  - The block reads q once, through shared memory, and lets the next layer launch only
//    once its own scan is done: every split of a KV head reads the same q lines, and the
//    next layer's early loads compete with this layer's merge (benchmarks/NOTES.md, v5).
//  - q and P enter the mma as a bf16 pair hi + lo (hi = bf16(x), lo = bf16(x - hi)) in two
//    columns that the result adds, so the products keep about 16 bits of q and P (bf16
//    alone would leave errors near the benchmark's 1e-3 tolerance) at no extra mma.
//    With fp8 K/V the operands are f16 (every e4m3 value is an f16 one, subnormals included)
//    and q and P an f16 pair.
#pragma once

#include "decode_kernels.h"

constexpr int kAttentionMmaThreads = 128;
constexpr int kAttentionMmaWarps = kAttentionMmaThreads / 32;
constexpr int kAttentionTileRows = 16;
// Rows one block's warps scan side by side: a split is a whole number of these.
constexpr int kAttentionMmaGranule = kAttentionMmaWarps * kAttentionTileRows;
// Fewest rows of a split: more, shorter splits fill the GPU at small T, but the last
// block merges every split (-DPDPROF_ATTENTION_SPLIT_ROWS=N to compare).
#ifndef PDPROF_ATTENTION_SPLIT_ROWS
#define PDPROF_ATTENTION_SPLIT_ROWS 128
#endif
constexpr int kAttentionSplitRows = PDPROF_ATTENTION_SPLIT_ROWS;
// Blocks per SM ptxas must fit in registers (-DPDPROF_ATTENTION_MIN_BLOCKS=N to compare).
#ifndef PDPROF_ATTENTION_MIN_BLOCKS
#define PDPROF_ATTENTION_MIN_BLOCKS 2
#endif
// Tiles each warp asks L2 for before griddep_wait() (benchmarks/constants_sweep.py:
// -DPDPROF_ATTENTION_PREFETCH_TILES=N; 0 turns the prefetch off).
#ifndef PDPROF_ATTENTION_PREFETCH_TILES
#define PDPROF_ATTENTION_PREFETCH_TILES 2
#endif
constexpr int kAttentionPrefetchTiles = PDPROF_ATTENTION_PREFETCH_TILES;

#if !defined(PDPROF_HIP)

// The mma operand type of a K/V format.

// bf16 operands (bf16 K/V).
struct MmaBf16 {
  // Two floats as bf16x2, `low` in the lower half (the operand's first element).
  __device__ static uint32_t pair(float low, float high) {
    uint32_t packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(high), "f"(low));
    return packed;
  }
  __device__ static float low_of(uint32_t pair) { return __uint_as_float(pair << 16); }
  __device__ static float high_of(uint32_t pair) { return __uint_as_float(pair & 0xFFFF0000u); }
  // c += a · b over one m16n8k16 tile, fp32 accumulation.
  __device__ static void mma(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                             uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
};

// f16 operands (fp8 K/V, converted in registers).
struct MmaF16 {
  __device__ static uint32_t pair(float low, float high) {
    uint32_t packed;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(high), "f"(low));
    return packed;
  }
  __device__ static float half_of(uint32_t bits) {
    float value;
    asm("cvt.f32.f16 %0, %1;" : "=f"(value) : "h"(static_cast<unsigned short>(bits)));
    return value;
  }
  __device__ static float low_of(uint32_t pair) { return half_of(pair & 0xFFFFu); }
  __device__ static float high_of(uint32_t pair) { return half_of(pair >> 16); }
  __device__ static void mma(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                             uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
};

template <class Kv>
struct MmaOf;
template <>
struct MmaOf<Bf16> {
  using type = MmaBf16;
};
template <>
struct MmaOf<Fp8E4M3> {
  using type = MmaF16;
};

// Two consecutive operand elements as one term of their split: term 0 the rounded values
// (hi), term 1 the rounding of what that left (lo).
template <class Mma>
__device__ inline uint32_t term_pair(float low, float high, int term) {
  const uint32_t hi = Mma::pair(low, high);
  return term == 0 ? hi : Mma::pair(low - Mma::low_of(hi), high - Mma::high_of(hi));
}

// x's two terms as one pair: hi in the low half (the even column), lo in the high half.
template <class Mma>
__device__ inline uint32_t hi_lo_pair(float x) {
  return Mma::pair(x, x - Mma::low_of(Mma::pair(x, 0.f)));
}

// The 8 x 8 matrix of 16-bit elements whose row g holds lane (g, tq)'s word at columns
// 2 tq, 2 tq + 1, transposed: lane (g, tq) gets row g of the transpose (a C fragment's
// half becomes a B fragment's half).
__device__ inline uint32_t transpose_8x8(uint32_t word) {
  uint32_t transposed;
  asm("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(transposed) : "r"(word));
  return transposed;
}

// 2^x on the special-function unit alone; results below 2^-126 flush to 0 (softmax weights).
__device__ inline float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// n-tiles of 8 columns for kG query heads (two columns each): four heads per n-tile.
template <int kG>
constexpr int kHeadTiles = (kG + 3) / 4;

// Asks L2 for the 128-byte line at p (no registers, no wait).
__device__ inline void prefetch_line_to_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

// One warp's share of a 16-row tile (lane = 4 g + tq, rows relative to the tile):
//  k[nt][i]: K row 8 nt + g, 16-byte chunk 4 i + tq (the A operand of the scores);
//  v[r][j]:  V row (r / 2) 8 + 2 tq + r % 2, chunk g + 8 j (the A operand of P·V).
// Each load instruction of the warp reads whole 32-byte sectors.
template <int kD>
struct AttentionTile {
  static constexpr int kKChunks = kD / 32, kVChunks = kD / 64;
  uint4 k[2][kKChunks];
  uint4 v[4][kVChunks];
  // Where each chunk lies: its row n within its 8-row half, and its first element.
  __device__ static constexpr int k_row(int g) { return g; }  // in half nt of k[nt][i]
  __device__ static constexpr int k_element(int i, int tq) { return 8 * (4 * i + tq); }
  __device__ static constexpr int v_row(int r, int tq) { return 2 * tq + r % 2; }  // in half r / 2 of v[r][j]
  __device__ static constexpr int v_element(int j, int g) { return 8 * (g + 8 * j); }
};

// Eight K/V elements as four operand pairs: bf16 as stored; fp8 e4m3 converted to f16x2.
__device__ inline uint4 load_chunk(const uint16_t* p) { return *reinterpret_cast<const uint4*>(p); }
__device__ inline uint4 load_chunk(const uint8_t* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const uint2 low = f16x2_pairs_of_e4m3x4(raw.x), high = f16x2_pairs_of_e4m3x4(raw.y);
  return {low.x, low.y, high.x, high.y};
#else
  (void)p;
  __trap();  // the host launches the fp8 tensor-core kernels from compute capability 8.9 only
  return {};
#endif
}

// Each 8-row half of a tile lies in one page of a paged cache (pages hold a power of two
// from 8 rows, tiles start at multiples of 16): two row lookups per tile.
template <int kD, class Rows, class S>
__device__ inline void load_attention_tile(const S* K, const S* V, const Rows& rows, int row0, int t_end, int g,
                                           int tq, AttentionTile<kD>& tile) {
  using Tile = AttentionTile<kD>;
  const size_t half_first[2] = {row0 < t_end ? rows.at(row0) : 0, row0 + 8 < t_end ? rows.at(row0 + 8) : 0};
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
    const bool inside = row0 + 8 * nt + Tile::k_row(g) < t_end;
    const S* row_k = K + half_first[nt] + static_cast<size_t>(Tile::k_row(g)) * kD;
#pragma unroll
    for (int i = 0; i < Tile::kKChunks; ++i) tile.k[nt][i] = inside ? load_chunk(row_k + Tile::k_element(i, tq)) : uint4{};
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int in_half = Tile::v_row(r, tq);
    const bool inside = row0 + (r / 2) * 8 + in_half < t_end;
    const S* row_v = V + half_first[r / 2] + static_cast<size_t>(in_half) * kD;
#pragma unroll
    for (int j = 0; j < Tile::kVChunks; ++j) tile.v[r][j] = inside ? load_chunk(row_v + Tile::v_element(j, g)) : uint4{};
  }
}

// Asks L2 for the K and V rows of the 16-row tile at row0, up to t_end and as far as they
// lie contiguous (a page ends them in a paged cache): one instruction each, no registers;
// sm_90 and newer, elsewhere nothing.
template <int kD, class Rows, class S>
__device__ inline void prefetch_tile_to_l2(const S* K, const S* V, const Rows& rows, int row0, int t_end) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  const int count = min(min(kAttentionTileRows, t_end - row0), rows.contiguous_from(row0));
  if (count <= 0) return;
  const unsigned bytes = static_cast<unsigned>(count) * kD * sizeof(S);  // a multiple of 16, as the instruction needs
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(K + rows.at(row0)), "r"(bytes) : "memory");
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(V + rows.at(row0)), "r"(bytes) : "memory");
#endif
}

// Where row n (0..7) of a tile's 8-row half lies. The layered kernel reads K and V from
// global memory in order; the persistent kernel (attention_persistent.h) reads them from
// shared memory in TMA's 128-byte swizzle, where this order keeps every 8-lane phase of
// its loads on distinct banks: the two rows of a K load differ in bit 2, the four rows of
// a V load in bits 1 and 2 (the tile's math is the same for any order of its rows).
struct RowsInOrder {
  __device__ static constexpr int at(int n) { return n; }
};
struct RowsForSwizzle {
  __device__ static constexpr int at(int n) { return ((n ^ (n >> 2)) & 1) << 2 | (n & 2) | ((n >> 2) & 1); }
};

// The B operand of the scores: column g of n-tile c is term g % 2 of query head 4 c + g / 2
// (zero past kG), at the head-dim positions of this thread's K chunks (k-step j: chunk
// 4 (j / 2) + tq, its words 2 (j % 2) in b[c][j][0] and 2 (j % 2) + 1 in b[c][j][1]),
// pre-scaled by log2(e)/sqrt(d) for exp2.
template <int kG, int kD>
struct QueryOperand {
  uint32_t b[kHeadTiles<kG>][kD / 16][2];
};

template <int kG, int kD, class Mma = MmaBf16>
__device__ inline void load_query_operand(const float4* q_block, int g, int tq, float score_scale,
                                          QueryOperand<kG, kD>& q) {
#pragma unroll
  for (int c = 0; c < kHeadTiles<kG>; ++c) {
    const int head = 4 * c + g / 2, term = g % 2;
#pragma unroll
    for (int j = 0; j < kD / 16; ++j) {
      const int element = AttentionTile<kD>::k_element(j / 2, tq) + 4 * (j % 2);
      const float4 x = head < kG ? q_block[(head * kD + element) / 4] : float4{};
      q.b[c][j][0] = term_pair<Mma>(x.x * score_scale, x.y * score_scale, term);
      q.b[c][j][1] = term_pair<Mma>(x.z * score_scale, x.w * score_scale, term);
    }
  }
}

// One warp's running softmax state over the rows it has scanned, per n-tile c for query
// head 4 c + tq: acc = outᵀ in mma C fragments (m-tile mt, dims D = 8 (g + 8 (mt / 4)) +
// 2 (mt % 4) in [0], [1] and D + 1 in [2], [3]; hi term in [0], [2], lo in [1], [3]), the
// head's running maximum and this lane's share of its running sum.
template <int kG, int kD>
struct AttentionState {
  float acc[kHeadTiles<kG>][kD / 16][4];
  float running_max[kHeadTiles<kG>], running_sum[kHeadTiles<kG>];
  __device__ AttentionState() {
#pragma unroll
    for (int c = 0; c < kHeadTiles<kG>; ++c) {
      running_max[c] = -INFINITY;
      running_sum[c] = 0.f;
#pragma unroll
      for (int mt = 0; mt < kD / 16; ++mt) acc[c][mt][0] = acc[c][mt][1] = acc[c][mt][2] = acc[c][mt][3] = 0.f;
    }
  }
};

// Scores, online softmax and P·V of one 16-row tile; rows from rows_left on are past the
// sequence end (masked). Order: where row n of each 8-row half lies (RowsInOrder, RowsForSwizzle).
template <int kG, int kD, class Order, class Mma = MmaBf16>
__device__ inline void attend_tile(const AttentionTile<kD>& tile, const QueryOperand<kG, kD>& q, int rows_left, int g,
                                   int tq, AttentionState<kG, kD>& state) {
  // This lane's C rows: its K rows, row g of each 8-row half.
  const int row = Order::at(AttentionTile<kD>::k_row(g));
  const bool row_inside[2] = {row < rows_left, 8 + row < rows_left};
#pragma unroll
  for (int c = 0; c < kHeadTiles<kG>; ++c) {
    // Scores of head 4 c + tq at rows g and g + 8: each the sum of its hi and lo columns.
    // Even and odd k-steps accumulate apart: chains of d / 32 mma.
    float even[4] = {}, odd[4] = {};
#pragma unroll
    for (int j = 0; j < kD / 16; ++j) {
      const uint4 &upper = tile.k[0][j / 2], &lower = tile.k[1][j / 2];
      const int w = 2 * (j % 2);
      Mma::mma(j % 2 ? odd : even, word_of(upper, w), word_of(lower, w), word_of(upper, w + 1),
               word_of(lower, w + 1), q.b[c][j][0], q.b[c][j][1]);
    }
    float score[2] = {(even[0] + odd[0]) + (even[1] + odd[1]), (even[2] + odd[2]) + (even[3] + odd[3])};
    float tile_max = -INFINITY;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      if (!row_inside[half]) score[half] = -INFINITY;  // masked: past the sequence end
      tile_max = fmaxf(tile_max, score[half]);
    }
    tile_max = fmaxf(tile_max, lane_shfl_xor(tile_max, 4, 32));
    tile_max = fmaxf(tile_max, lane_shfl_xor(tile_max, 8, 32));
    tile_max = fmaxf(tile_max, lane_shfl_xor(tile_max, 16, 32));
    float& running_max = state.running_max[c];
    const float new_max = fmaxf(running_max, tile_max);
    const float reference = new_max == -INFINITY ? 0.f : new_max;
    // Past the first tiles a head's maximum seldom moves: rescale only when one did.
    if (__any_sync(0xffffffffu, new_max > running_max)) {
      const float rescale = exp2_approx(running_max - reference);
      state.running_sum[c] *= rescale;
#pragma unroll
      for (int mt = 0; mt < kD / 16; ++mt)
#pragma unroll
        for (int e = 0; e < 4; ++e) state.acc[c][mt][e] *= rescale;
      running_max = new_max;
    }
    const bool head_inside = 4 * c + tq < kG;
    const float p_upper = head_inside ? exp2_approx(score[0] - reference) : 0.f;
    const float p_lower = head_inside ? exp2_approx(score[1] - reference) : 0.f;
    state.running_sum[c] += p_upper + p_lower;
    // B operand of P·V: rows 2 tq, 2 tq + 1 (b0) and 8 + 2 tq, 9 + 2 tq (b1) of column g.
    const uint32_t b0 = transpose_8x8(hi_lo_pair<Mma>(p_upper)), b1 = transpose_8x8(hi_lo_pair<Mma>(p_lower));
#pragma unroll
    for (int mt = 0; mt < kD / 16; ++mt) {
      // Word mt of this thread's V chunks holds dims 8 (g + 8 (mt / 4)) + 2 (mt % 4) (low half) and + 1.
      const uint32_t r0 = word_of(tile.v[0][mt / 4], mt % 4), r1 = word_of(tile.v[1][mt / 4], mt % 4);
      const uint32_t r2 = word_of(tile.v[2][mt / 4], mt % 4), r3 = word_of(tile.v[3][mt / 4], mt % 4);
      const uint32_t a0 = __byte_perm(r0, r1, 0x5410), a1 = __byte_perm(r0, r1, 0x7632);
      const uint32_t a2 = __byte_perm(r2, r3, 0x5410), a3 = __byte_perm(r2, r3, 0x7632);
      Mma::mma(state.acc[c][mt], a0, a1, a2, a3, b0, b1);
    }
  }
}

// Shared memory where a block's kWarps scanning warps meet to merge. A lane stores two dims
// of acc at once (8 bytes, hence the alignment), at dims XOR 2 h: unswizzled, the four heads
// of a store instruction lie kD floats apart, on the same banks.
template <int kG, int kD, int kWarps = kAttentionMmaWarps>
struct alignas(16) WarpPartials {
  float max[kWarps][kG], sum[kWarps][kG];
  float acc[kWarps][kG][kD];
  __device__ static int swizzled(int dim, int head) { return dim ^ (2 * head); }
};

// The scanning warps (warps 0 .. kWarps - 1) merge their states into split `split`'s partial
// (acc[d], max, sum) of the pair's kG query heads; `sync` is a barrier over exactly those warps.
template <int kG, int kD, int kWarps, class Sync>
__device__ inline void write_split_partial(AttentionState<kG, kD>& state, WarpPartials<kG, kD, kWarps>& shared,
                                           int pair, int split, int splits, float* partial_acc, float* partial_max_sum,
                                           Sync sync) {
  using Partials = WarpPartials<kG, kD, kWarps>;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, tq = lane % 4;
#pragma unroll
  for (int c = 0; c < kHeadTiles<kG>; ++c) {
    const int h = 4 * c + tq;
    float sum = state.running_sum[c];
    sum += lane_shfl_xor(sum, 4, 32);
    sum += lane_shfl_xor(sum, 8, 32);
    sum += lane_shfl_xor(sum, 16, 32);
    if (h >= kG) continue;
    if (g == 0) {
      shared.max[warp][h] = state.running_max[c];
      shared.sum[warp][h] = sum;
    }
#pragma unroll
    for (int mt = 0; mt < kD / 16; ++mt) {
      const float(&acc)[4] = state.acc[c][mt];
      // Word mt % 4 of V chunk mt / 4 (see attend_tile): dim and dim + 1; the hi and lo columns add up.
      const int dim = AttentionTile<kD>::v_element(mt / 4, g) + 2 * (mt % 4);
      *reinterpret_cast<float2*>(&shared.acc[warp][h][Partials::swizzled(dim, h)]) =
          make_float2(acc[0] + acc[1], acc[2] + acc[3]);
    }
  }
  sync();
  for (int at = threadIdx.x; at < kG * kD; at += 32 * kWarps) {
    const int h = at / kD, dim = at % kD;
    float top = -INFINITY;
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, shared.max[w][h]);
    const float reference = top == -INFINITY ? 0.f : top;
    float sum = 0.f, total = 0.f;
    for (int w = 0; w < kWarps; ++w) {
      const float weight = exp2f(shared.max[w][h] - reference);
      sum = fmaf(weight, shared.acc[w][h][Partials::swizzled(dim, h)], sum);
      total = fmaf(weight, shared.sum[w][h], total);
    }
    const size_t slot = (static_cast<size_t>(pair) * kG + h) * splits + split;
    partial_acc[slot * kD + dim] = sum;
    if (dim == 0) {
      partial_max_sum[2 * slot] = top;
      partial_max_sum[2 * slot + 1] = total;
    }
  }
}

// Block (split, (sequence, kv_head) pair), kAttentionMmaThreads threads: warp w scans tiles
// w, w + warps, ... of the split. Same arguments and partial layout as decode_attention_kernel
// (d == kD), K/V contiguous or paged (KvLayout), bf16 or (Kv = Fp8E4M3, launched from compute
// capability 8.9) fp8 e4m3.
template <int kG, int kD, bool kPaged, class Kv = Bf16>
__global__ void __launch_bounds__(kAttentionMmaThreads, PDPROF_ATTENTION_MIN_BLOCKS)
decode_attention_mma_kernel(const typename Kv::Storage* __restrict__ K, const typename Kv::Storage* __restrict__ V,
                            const float* q, float* __restrict__ partial_acc,
                            float* __restrict__ partial_max_sum, unsigned* __restrict__ arrivals,
                            float* __restrict__ out, int T, int d, int tokens_per_split, float score_scale,
                            const int* __restrict__ page_table, int page_shift, int pages_per_sequence,
                            int kv_heads) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800  // launched on compute capability 8.0+ only
  static_assert(kG >= 1 && kG <= 8, "a KV head's query heads fill at most the 8 columns of P·V");
  static_assert(kD == 64 || kD == 128, "head dim 64 or 128");
  using Tile = AttentionTile<kD>;
  __shared__ WarpPartials<kG, kD> warp_partials;
  __shared__ float4 q_block[kG * kD / 4];
  (void)d;
  const int head = blockIdx.y, split = blockIdx.x, splits = gridDim.x;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, tq = lane % 4;
  const int t_begin = split * tokens_per_split, t_end = min(T, t_begin + tokens_per_split);
  const KvRows<kPaged> rows({page_table, page_shift, pages_per_sequence, kv_heads}, head, T, kD, 0);
  constexpr int stride = kAttentionMmaWarps * kAttentionTileRows;
  int row0 = t_begin + warp * kAttentionTileRows;
  const float* q_head = q + static_cast<size_t>(head) * kG * kD;
  // While the previous layer drains, the first tiles head for L2 and the registers. q is that
  // layer's to write: its lines are only asked for here (as if just written, as in a model),
  // and read after the wait.
  if (lane == 0)
    for (int n = 0; n < kAttentionPrefetchTiles; ++n)
      prefetch_tile_to_l2<kD>(K, V, rows, row0 + n * stride, t_end);
  if (warp == 0 && lane * 32 < kG * kD) prefetch_line_to_l2(q_head + lane * 32);
  Tile tile;
  load_attention_tile<kD>(K, V, rows, row0, t_end, g, tq, tile);
  griddep_wait();

  // q once per block in 16-byte loads: each warp loading it element by element made the
  // few lines every split of a KV head reads an L2 hot spot (up to 7 us per layer on an H200).
  for (int i = threadIdx.x; i < kG * kD / 4; i += kAttentionMmaThreads) q_block[i] = load4_from_l2(q_head + 4 * i);
  __syncthreads();
  using Mma = typename MmaOf<Kv>::type;
  QueryOperand<kG, kD> query;
  load_query_operand<kG, kD, Mma>(q_block, g, tq, score_scale, query);
  AttentionState<kG, kD> state;
  for (; row0 < t_end; row0 += stride) {
    Tile next;
    load_attention_tile<kD>(K, V, rows, row0 + stride, t_end, g, tq, next);
    attend_tile<kG, kD, RowsInOrder, Mma>(tile, query, t_end - row0, g, tq, state);
    tile = next;
  }
  // The next layer's blocks start only now: started with this layer, their loads slowed its
  // scan and merge (benchmarks/NOTES.md, v5).
  griddep_launch_dependents();

  write_split_partial<kG, kD>(state, warp_partials, head, split, splits, partial_acc, partial_max_sum, BlockSync{});
  if (!last_block_of_head(arrivals, head, splits)) return;
  const size_t first = static_cast<size_t>(head) * kG * splits;
  merge_attention_splits<kG>(partial_acc + first * kD, partial_max_sum + 2 * first, splits, kD,
                             out + static_cast<size_t>(head) * kG * kD, kAttentionMmaThreads);
  if (threadIdx.x == 0) arrivals[head] = 0;  // ready for the next layer's launch
#endif
}

#endif  // !PDPROF_HIP
