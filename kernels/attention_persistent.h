// GQA decode attention for every layer of a step in one persistent launch (CUDA, sm_90 and
// newer; bf16 K/V with head dim 64 or 128, fp8 e4m3 K/V with head dim 128; nvcc only: the
// host builds TMA descriptors).
//
// The layered kernel (attention_mma.h) waits, in every layer, for the previous layer to end
// before its scan can use q, and only a few tiles per warp can be in flight while it waits:
// about 5 us per layer run with DRAM mostly idle (benchmarks/NOTES.md, v5). Here one block
// per SM stays resident for all layers and splits the work between warps:
//  - a producer warp streams the block's K/V tiles, layer after layer, into a ring of
//    shared-memory stages with TMA (cp.async.bulk.tensor, 128-byte swizzle). It needs no q,
//    so it runs ahead of the scan as far as the ring allows (192 KiB per SM, 24 MiB over an
//    H100's or H200's 132 SMs): the next layer's K/V stream in while this layer is merged;
//  - scanning warps wait for layer l's q (every KV head of layer l - 1
//    merged: a counter, released by the last block of each head), then run the tensor-core
//    tile math of attention_mma.h on the stages, merge as the layered kernel does, and free
//    each stage for the producer.
// A block's work items, (sequence, KV head, split of T) per layer, come in layer order; every
// item waits only on items of earlier layers, and the launch is cooperative (every block
// resident), so no block waits on one that cannot run.
#pragma once

#include "attention_mma.h"

#if !defined(PDPROF_HIP) && !defined(__CUDACC_RTC__)
#include <cuda.h>  // CUtensorMap

// Rows per stage: one 16-row tile for each of kAttentionMmaWarps scanning warps.
constexpr int kPersistentStageRows = kAttentionMmaWarps * kAttentionTileRows;
// Scanning warps per block, in groups of kAttentionMmaWarps that take a pair's stages in
// turn. After each layer's wait a block works through the stages that landed during it, and
// one warp per scheduler leaves the tile math's latency exposed there: bf16 and fp8 both run
// two groups (bf16 on the H100: 86 % of kv_stream at T = 4k against 83 % with one group,
// 2-3 points less at 2k; fp8 with three groups: 5 points less; benchmarks/NOTES.md v10).
// -DPDPROF_PERSISTENT_{BF16,FP8}_SCAN_WARPS=N to compare (at most 8 for a group of 8 heads,
// whose warps' partials outgrow static shared memory above that).
#ifndef PDPROF_PERSISTENT_FP8_SCAN_WARPS
#define PDPROF_PERSISTENT_FP8_SCAN_WARPS 8
#endif
#ifndef PDPROF_PERSISTENT_BF16_SCAN_WARPS
#define PDPROF_PERSISTENT_BF16_SCAN_WARPS 8
#endif
template <class Kv>
__host__ __device__ constexpr int persistent_scan_warps() {
  return sizeof(typename Kv::Storage) == 1 ? PDPROF_PERSISTENT_FP8_SCAN_WARPS : PDPROF_PERSISTENT_BF16_SCAN_WARPS;
}
// Scanning warps, then the producer warp.
template <class Kv>
__host__ __device__ constexpr int persistent_threads() {
  return 32 * (persistent_scan_warps<Kv>() + 1);
}
constexpr int kPersistentMaxStages = 16;
// Rows per TMA box (a whole stage, or less: -DPDPROF_PERSISTENT_BOX_ROWS=N).
#ifndef PDPROF_PERSISTENT_BOX_ROWS
#define PDPROF_PERSISTENT_BOX_ROWS 64
#endif
constexpr int kPersistentBoxRows = PDPROF_PERSISTENT_BOX_ROWS;
static_assert(kPersistentStageRows % kPersistentBoxRows == 0 && kPersistentBoxRows % 8 == 0,
              "a stage holds whole boxes of 8n rows");
// Stages the producer lets be in flight (issued, not landed): for the item being scanned, and
// ahead of it. Loads in flight delay the GPU-scope release of a split's arrival: with the
// whole ring in flight (25 MiB on an H200) it took 3.6 us instead of 1.5, so the next items'
// stages stream with fewer in flight (-DPDPROF_PERSISTENT_IN_FLIGHT=N, ..._AHEAD=N). The
// windows count bf16 stages: an fp8 stage holds half the bytes, so fp8 keeps twice as many in
// flight (as many bytes; side by side on the H200, 1-7 % faster than as many stages at
// T = 2k...32k but for -1 % at 8k, benchmarks/NOTES.md v8). -DPDPROF_PERSISTENT_FP8_WINDOW_SCALE=1
// counts fp8 stages instead: on the H100 with v10's kernel, 3.7-4.6 points faster at 4k-16k
// (benchmarks/NOTES.md v11), not yet the default: its GPU tests and table are still to run.
#ifndef PDPROF_PERSISTENT_FP8_WINDOW_SCALE
#define PDPROF_PERSISTENT_FP8_WINDOW_SCALE 2
#endif
#ifndef PDPROF_PERSISTENT_IN_FLIGHT
#define PDPROF_PERSISTENT_IN_FLIGHT 2
#endif
#ifndef PDPROF_PERSISTENT_IN_FLIGHT_AHEAD
#define PDPROF_PERSISTENT_IN_FLIGHT_AHEAD 1
#endif
constexpr int kPersistentInFlight = PDPROF_PERSISTENT_IN_FLIGHT;
constexpr int kPersistentInFlightAhead = PDPROF_PERSISTENT_IN_FLIGHT_AHEAD;
// Least page size of a paged cache read by this kernel: a box never crosses a page, and boxes
// of 8 or 16 rows (1 or 2 KiB) left it at 53 % and 84 % of contiguous attention at T = 32k on
// the H200 (the per-layer kernel: 86 % and 88 %); smaller pages take the per-layer kernel.
constexpr int kPersistentLeastPageSize = kPersistentStageRows;
// A TMA box row: the span of the 128-byte swizzle (64 bf16 or 128 fp8 dims). A K/V row is a
// whole number of spans: fp8 with head dim 64 (64-byte rows) takes the per-layer kernel.
constexpr int kSwizzleSpanBytes = 128;
template <class S>
__host__ __device__ constexpr bool rows_fill_swizzle_spans(int d) {
  return d * static_cast<int>(sizeof(S)) % kSwizzleSpanBytes == 0;
}

// Everything the kernel needs besides the TMA descriptors of K and V, which describe each
// as one [rows][d] matrix over all layers (rows_per_layer rows per layer).
struct PersistentAttentionArgs {
  const float* q;  // [layer][sequence][head][d]
  float* partial_acc;
  float* partial_max_sum;
  unsigned* arrivals;  // per (sequence, KV head) pair
  unsigned* merged;  // pairs merged since the launch; the host zeroes it before each launch
  float* out;  // [layer][sequence][head][d]
  KvLayout layout;  // page_table == nullptr: contiguous
  int T, layers, pairs, splits, tokens_per_split, stages;
  int rows_per_layer;  // rows of K (V) per layer
  size_t out_per_layer;
  float score_scale;
};

__device__ inline uint32_t shared_address(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ inline void mbarrier_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count) : "memory");
}
__device__ inline void mbarrier_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory");
}
__device__ inline void mbarrier_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
               : "memory");
}
// Until the phase of the given parity has completed.
__device__ inline void mbarrier_wait(uint64_t* bar, unsigned parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n"
      "}\n" ::"r"(shared_address(bar)),
      "r"(parity)
      : "memory");
}
// Box (dim, row) of a 2-D tensor into shared memory; its bytes complete a transaction on bar.
__device__ inline void tma_load_box(void* destination, const CUtensorMap& map, int dim, int row, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];" ::
          "r"(shared_address(destination)),
      "l"(&map), "r"(dim), "r"(row), "r"(shared_address(bar))
      : "memory");
}
__device__ inline unsigned load_acquire(const unsigned* p) {
  unsigned value;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(value) : "l"(p) : "memory");
  return value;
}
__device__ inline void add_release(unsigned* p, unsigned value) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(value) : "memory");
}

// Eight K/V elements of a stage's row from `element` on, as load_chunk gives them, where TMA's
// 128-byte swizzle put them: span after span of span_bytes, and within a span row its
// 16-byte units permuted by XOR with row % 8. (For bf16 and fp8 alike, RowsForSwizzle keeps
// every phase of the warp's K and V loads on distinct banks.)
template <class S>
__device__ inline uint4 swizzled_chunk(const unsigned char* spans, int span_bytes, int row, int element) {
  const int byte = element * static_cast<int>(sizeof(S)), in_span = byte % kSwizzleSpanBytes;
  return load_chunk(reinterpret_cast<const S*>(spans + (byte / kSwizzleSpanBytes) * span_bytes +
                                               row * kSwizzleSpanBytes + (((in_span / 16) ^ (row % 8)) << 4) +
                                               in_span % 16));
}

// The scanning warps' own barrier (the producer warp never joins it).
template <int kThreads>
struct ScanWarpsSync {
  __device__ void operator()() const { asm volatile("bar.sync 1, %0;" ::"n"(kThreads) : "memory"); }
};

// The block's work items in the order both roles walk them: item i of layer l (pair i /
// splits, split i % splits) belongs to block (l * items + i) % gridDim.x, so the blocks left
// without an item in one layer change from layer to layer.
template <class Visit>
__device__ inline void for_each_item(const PersistentAttentionArgs& a, Visit visit) {
  const int items = a.pairs * a.splits, blocks = gridDim.x;
  for (int layer = 0; layer < a.layers; ++layer) {
    const int first = static_cast<int>(((blockIdx.x - static_cast<long long>(layer) * items) % blocks + blocks) % blocks);
    for (int item = first; item < items; item += blocks) {
      const int split = item % a.splits, t_begin = split * a.tokens_per_split;
      visit(layer, item / a.splits, split, t_begin, min(a.T, t_begin + a.tokens_per_split));
    }
  }
}

// A ring position: stage index and the parity of its current fill.
struct RingPosition {
  int stage = 0;
  unsigned parity = 0;
  __device__ void advance(int stages) {
    if (++stage == stages) {
      stage = 0;
      parity ^= 1u;
    }
  }
};

template <int kG, int kD, bool kPaged, class Kv = Bf16>
__global__ void __launch_bounds__(persistent_threads<Kv>(), 1)
decode_attention_persistent_kernel(const __grid_constant__ CUtensorMap K_map, const __grid_constant__ CUtensorMap V_map,
                                   const PersistentAttentionArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // launched on compute capability 9.0+ only
  static_assert(kG >= 1 && kG <= 8, "a KV head's query heads fill at most the 8 columns of P·V");
  static_assert(kD == 64 || kD == 128, "head dim 64 or 128");
  using S = typename Kv::Storage;
  using Mma = typename MmaOf<Kv>::type;
  static_assert(rows_fill_swizzle_spans<S>(kD), "K/V rows of whole swizzle spans");
  constexpr int kScanWarps = persistent_scan_warps<Kv>(), kScanThreads = 32 * kScanWarps;
  constexpr int kGroups = kScanWarps / kAttentionMmaWarps;
  static_assert(kScanWarps % kAttentionMmaWarps == 0, "whole groups of scanning warps");
  using ScanSync = ScanWarpsSync<kScanThreads>;
  constexpr int kSpanDims = kSwizzleSpanBytes / sizeof(S);
  constexpr int kWindowScale = sizeof(S) == 1 ? PDPROF_PERSISTENT_FP8_WINDOW_SCALE : 1;  // stages per window unit
  constexpr int kSpans = kD / kSpanDims;
  constexpr int kSpanBytes = kPersistentStageRows * kSwizzleSpanBytes;  // one span of a stage's rows
  constexpr int kStageBytes = 2 * kSpans * kSpanBytes;  // K's spans, then V's
  __shared__ uint64_t filled[kPersistentMaxStages], emptied[kPersistentMaxStages];
  __shared__ WarpPartials<kG, kD, kScanWarps> warp_partials;
  __shared__ float4 q_block[kG * kD / 4];
  __shared__ int scanned_items;  // items the scanning warps have started, for the producer's pace
  extern __shared__ unsigned char dynamic_shared[];
  // The swizzle repeats every 1024 bytes and TMA applies it by shared-memory address: the
  // ring starts on such a boundary (the host allocates 1 KiB extra).
  unsigned char* ring = dynamic_shared + ((1024 - shared_address(dynamic_shared) % 1024) % 1024);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int s = 0; s < a.stages; ++s) {
      mbarrier_init(&filled[s], 1);  // the producer's expect_tx arrival, then the TMA bytes
      mbarrier_init(&emptied[s], kAttentionMmaWarps);  // the warps of the group that scans it
    }
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    scanned_items = 0;
  }
  __syncthreads();

  if (warp == kScanWarps) {  // producer
    if (lane != 0) return;
    RingPosition at, landing;  // the next stage to fill; the oldest fill that may not have landed
    int in_flight = 0, items = 0;
    for_each_item(a, [&](int layer, int pair, int, int t_begin, int t_end) {
      ++items;
      // With d = 1, KvRows gives the row of the [rows][d] matrix TMA reads (within a layer).
      const KvRows<kPaged> rows(a.layout, pair, a.T, 1, 0);
      const int layer_row = layer * a.rows_per_layer;
      for (int t = t_begin; t < t_end; t += kPersistentStageRows) {
        // The stage's first row of each box. A paged cache's page ids are asked for here,
        // before the waits: between the copies, each cost a round trip. A stage lies in one
        // page (pages hold at least kPersistentLeastPageSize rows); a contiguous stage may run
        // past the pair's rows (masked) or the tensor's end (TMA writes zeros).
        constexpr int kBoxes = kPersistentStageRows / kPersistentBoxRows;
        int box_row[kBoxes];
#pragma unroll
        for (int b = 0; b < kBoxes; ++b) box_row[b] = static_cast<int>(rows.at(t + b * kPersistentBoxRows));
        mbarrier_wait(&emptied[at.stage], at.parity ^ 1u);
        const bool ahead = items > *static_cast<volatile int*>(&scanned_items);
        const int window = (ahead ? kPersistentInFlightAhead : kPersistentInFlight) * kWindowScale;
        for (; in_flight >= min(window, a.stages); --in_flight) {
          mbarrier_wait(&filled[landing.stage], landing.parity);
          landing.advance(a.stages);
        }
        ++in_flight;
        mbarrier_arrive_expect_tx(&filled[at.stage], kStageBytes);
        unsigned char* stage = ring + at.stage * kStageBytes;
#pragma unroll
        for (int b = 0; b < kBoxes; ++b)
          for (int span = 0; span < kSpans; ++span) {
            unsigned char* box = stage + span * kSpanBytes + b * kPersistentBoxRows * kSwizzleSpanBytes;
            tma_load_box(box, K_map, span * kSpanDims, layer_row + box_row[b], &filled[at.stage]);
            tma_load_box(box + kSpans * kSpanBytes, V_map, span * kSpanDims, layer_row + box_row[b],
                         &filled[at.stage]);
          }
        at.advance(a.stages);
      }
    });
    return;
  }

  // Scanning warps: group `group` scans stages group, group + kGroups, ... of each item. (With
  // one group every warp is in it; the kGroups tests let that build skip the divisions.)
  const int g = lane / 4, tq = lane % 4;
  const int group = kGroups > 1 ? warp / kAttentionMmaWarps : 0, warp_in_group = warp - group * kAttentionMmaWarps;
  RingPosition at;
  for_each_item(a, [&](int layer, int pair, int split, int t_begin, int t_end) {
    const float* q_pair = a.q + a.out_per_layer * layer + static_cast<size_t>(pair) * kG * kD;
    if (warp == 0 && lane * 32 < kG * kD) prefetch_line_to_l2(q_pair + lane * 32);
    // Layer l's q exists once every pair of layer l - 1 is merged.
    if (threadIdx.x == 0) {
      const unsigned ready = static_cast<unsigned>(layer) * a.pairs;
      while (load_acquire(a.merged) < ready) {
      }
      ++*static_cast<volatile int*>(&scanned_items);
    }
    ScanSync{}();
    for (int i = threadIdx.x; i < kG * kD / 4; i += kScanThreads) q_block[i] = load4_from_l2(q_pair + 4 * i);
    ScanSync{}();
    QueryOperand<kG, kD> query;
    load_query_operand<kG, kD, Mma>(q_block, g, tq, a.score_scale, query);
    AttentionState<kG, kD> state;
    for (int t = t_begin, stage = 0; t < t_end; t += kPersistentStageRows, ++stage) {
      if (kGroups > 1 && stage % kGroups != group) {
        at.advance(a.stages);
        continue;
      }
      mbarrier_wait(&filled[at.stage], at.parity);
      const int tile_first = kAttentionTileRows * warp_in_group, rows_left = t_end - t - tile_first;
      if (rows_left > 0) {
        // This thread's K chunks and V rows (AttentionTile) at their swizzled places.
        const unsigned char* k_spans = ring + at.stage * kStageBytes;
        const unsigned char* v_spans = k_spans + kSpans * kSpanBytes;
        using Tile = AttentionTile<kD>;
        Tile tile;
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
          const int row = tile_first + 8 * nt + RowsForSwizzle::at(Tile::k_row(g));
#pragma unroll
          for (int i = 0; i < Tile::kKChunks; ++i)
            tile.k[nt][i] = swizzled_chunk<S>(k_spans, kSpanBytes, row, Tile::k_element(i, tq));
        }
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int row = tile_first + (r / 2) * 8 + RowsForSwizzle::at(Tile::v_row(r, tq));
#pragma unroll
          for (int j = 0; j < Tile::kVChunks; ++j)
            tile.v[r][j] = swizzled_chunk<S>(v_spans, kSpanBytes, row, Tile::v_element(j, g));
        }
        attend_tile<kG, kD, RowsForSwizzle, Mma>(tile, query, rows_left, g, tq, state);
      }
      __syncwarp();
      if (lane == 0) mbarrier_arrive(&emptied[at.stage]);
      at.advance(a.stages);
    }
    write_split_partial<kG, kD>(state, warp_partials, pair, split, a.splits, a.partial_acc, a.partial_max_sum,
                                ScanSync{});
    if (!last_block_of_head(a.arrivals, pair, a.splits, ScanSync{})) return;
    const size_t first = static_cast<size_t>(pair) * kG * a.splits;
    merge_attention_splits<kG>(a.partial_acc + first * kD, a.partial_max_sum + 2 * first, a.splits, kD,
                               a.out + a.out_per_layer * layer + static_cast<size_t>(pair) * kG * kD,
                               kScanThreads);
    ScanSync{}();  // every thread's share of the output is written
    if (threadIdx.x == 0) {
      a.arrivals[pair] = 0;  // ready for the pair's next layer
      add_release(a.merged, 1);
    }
  });
#endif
}

#endif  // !PDPROF_HIP && !__CUDACC_RTC__
