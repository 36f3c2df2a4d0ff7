// Host-side check of kernels/kv_formats.h (no GPU needed): every fp8 e4m3 code
// decodes to its OCP value and encodes back to itself; bf16 rounds to nearest
// even; the counter generator is in [-1, 1). Prints "ok" and exits 0, else 1.
#include <cstdio>

#include "kv_formats.h"

static int failures = 0;
#define EXPECT(cond, ...)                        \
  do {                                           \
    if (!(cond)) {                               \
      std::printf("FAIL: " __VA_ARGS__);         \
      std::printf("\n");                         \
      ++failures;                                \
    }                                            \
  } while (0)

int main() {
  for (uint32_t code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F) continue;  // NaN codes
    const uint32_t exponent = (code >> 3) & 0xF, mantissa = code & 0x7;
    const double magnitude = exponent == 0 ? mantissa / 8.0 * std::ldexp(1.0, -6)
                                           : (1 + mantissa / 8.0) * std::ldexp(1.0, int(exponent) - 7);
    const double expected = (code & 0x80) ? -magnitude : magnitude;
    const float decoded = Fp8E4M3::decode(code);
    EXPECT(decoded == expected, "fp8 0x%02x decodes to %g, expected %g", code, decoded, expected);
    if (code != 0x80)  // -0 encodes as +0: the sign of zero is not kept
      EXPECT(Fp8E4M3::encode(decoded) == code, "fp8 0x%02x round trip gives 0x%02x", code,
             Fp8E4M3::encode(decoded));
  }
  EXPECT(Fp8E4M3::decode(Fp8E4M3::encode(1000.f)) == 448.f, "fp8 saturates at 448");
  EXPECT(Fp8E4M3::decode(Fp8E4M3::encode(-1000.f)) == -448.f, "fp8 saturates at -448");
  EXPECT(Bf16::decode(Bf16::encode(1.f)) == 1.f, "bf16 1.0");
  EXPECT(Bf16::encode(1.f + 0x1p-8f) == 0x3F80, "bf16 ties round to even (down)");
  EXPECT(Bf16::encode(1.f + 3 * 0x1p-8f) == 0x3F82, "bf16 ties round to even (up)");
  EXPECT(Bf16::decode(Bf16::encode(-2.5f)) == -2.5f, "bf16 -2.5");
  double lo = 1, hi = -1;
  for (uint64_t i = 0; i < 100000; ++i) {
    const float u = uniform_at(i, 1, 1234);
    lo = u < lo ? u : lo;
    hi = u > hi ? u : hi;
  }
  EXPECT(lo >= -1.0 && lo < -0.999 && hi < 1.0 && hi > 0.999, "uniform_at spans [-1, 1): %g..%g", lo, hi);
  EXPECT(uniform_at(7, 1, 1234) != uniform_at(7, 2, 1234), "streams differ");
  if (failures == 0) std::printf("ok\n");
  return failures == 0 ? 0 : 1;
}
