// KV-cache storage formats and deterministic inputs, for host and device alike.
//
// bf16 and fp8 (e4m3) are stored as raw bits and decoded by hand: the same code
// then builds with nvcc and with hipcc 5.2 (which has no fp8 type), and the host
// reference decodes exactly the values the kernels read.
#pragma once

#ifdef __CUDACC_RTC__
// NVRTC (the CuPy runner, pdprof.cupy_bench) has no C++ library headers.
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
#define INFINITY __int_as_float(0x7f800000)
#else
#include <cmath>
#include <cstdint>
#include <cstring>
#endif

#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define PDPROF_DEVICE_PASS 1
#endif

__host__ __device__ inline float float_of_bits(uint32_t bits) {
#ifdef PDPROF_DEVICE_PASS
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

__host__ __device__ inline uint32_t bits_of_float(float value) {
#ifdef PDPROF_DEVICE_PASS
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

// bf16 is the upper half of an fp32.
struct Bf16 {
  using Storage = uint16_t;
  static constexpr const char* name = "bf16";
  __host__ __device__ static float decode(uint32_t bits) { return float_of_bits(bits << 16); }
  __host__ __device__ static Storage encode(float value) {  // round to nearest even
    uint32_t bits = bits_of_float(value);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return static_cast<Storage>(bits >> 16);
  }
};

// fp8 e4m3 (OCP "FN" flavour: bias 7, no infinities, 448 largest). Normal codes are
// rebiased into an fp32 (bias 127); subnormal ones are mantissa * 2^-9, computed
// without an fp32 denormal, which a flush-to-zero build (NVRTC's) would lose.
struct Fp8E4M3 {
  using Storage = uint8_t;
  static constexpr const char* name = "fp8_e4m3";
  __host__ __device__ static float decode(uint32_t bits) {
    const uint32_t exponent = (bits >> 3) & 0xFu, mantissa = bits & 0x7u, sign = (bits & 0x80u) << 24;
    if (exponent != 0u) return float_of_bits(sign | (exponent + 120u) << 23 | mantissa << 20);
    return float_of_bits(sign | bits_of_float(static_cast<float>(mantissa) * 0x1p-9f));
  }
  __host__ __device__ static Storage encode(float value) {
    const uint32_t sign = value < 0.f ? 0x80u : 0u;
    const float magnitude = fminf(fabsf(value), 448.f);
    uint32_t code;
    if (magnitude < 0x1p-6f) {  // subnormal: steps of 2^-9
      code = static_cast<uint32_t>(rintf(magnitude * 512.f));
    } else {
      int exponent;
      const float fraction = frexpf(magnitude, &exponent);  // magnitude = fraction * 2^exponent
      uint32_t mantissa = static_cast<uint32_t>(rintf((fraction * 2.f - 1.f) * 8.f));
      int biased = exponent - 1 + 7;
      if (mantissa == 8u) { mantissa = 0u; ++biased; }
      code = static_cast<uint32_t>(biased) << 3 | mantissa;
      if (code > 0x7Eu) code = 0x7Eu;  // 0x7F is NaN
    }
    return static_cast<Storage>(sign | code);
  }
};

// A counter-based generator: element i of tensor `stream` is the same on the host
// and on the device, so inputs of any size are made on the GPU and the host
// reference recomputes only the layers it checks.
__host__ __device__ inline float uniform_at(uint64_t index, uint32_t stream, uint32_t seed) {
  uint64_t z = index + 0x9E3779B97F4A7C15ull * (1ull + stream + (static_cast<uint64_t>(seed) << 32));
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (2.f / 16777216.f) - 1.f;  // [-1, 1)
}
