// Element conversions between plain float types (widening exact, narrowing round-to-nearest-even).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "amn/dtype.hpp"
#include "kernels/isa.hpp"

namespace amn::kernels {

/// IEEE half → float as ggml and torch convert it: exact for every finite value and infinity;
/// a NaN keeps its payload and gains the quiet bit (ggml's conversion goes through a float
/// multiply, which quiets signalling NaNs).
[[nodiscard]] inline float f16_to_f32(uint16_t half) {
  constexpr uint32_t kHalfExponentMask = 0x1f;
  constexpr uint32_t kHalfMantissaBits = 10;
  constexpr uint32_t kMantissaShift = 23 - kHalfMantissaBits;
  constexpr uint32_t kExponentRebias = 127 - 15;
  constexpr uint32_t kFloatQuietBit = 0x00400000;
  constexpr float kSubnormalUnit = 0x1p-24f;  // value of the lowest half mantissa bit

  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> kHalfMantissaBits) & kHalfExponentMask;
  const uint32_t mantissa = half & ((1u << kHalfMantissaBits) - 1);
  uint32_t magnitude;
  if (exponent == kHalfExponentMask) {
    magnitude = 0x7f800000u | (mantissa << kMantissaShift) | (mantissa != 0 ? kFloatQuietBit : 0);
  } else if (exponent == 0) {
    magnitude = std::bit_cast<uint32_t>(static_cast<float>(mantissa) * kSubnormalUnit);
  } else {
    magnitude = ((exponent + kExponentRebias) << 23) | (mantissa << kMantissaShift);
  }
  return std::bit_cast<float>(sign | magnitude);
}

/// bfloat16 → float (exact).
[[nodiscard]] inline float bf16_to_f32(uint16_t bf16) {
  uint32_t bits = static_cast<uint32_t>(bf16) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}
/// float → bfloat16, round to nearest even; NaN stays NaN with the quiet bit set (ggml's rule).
[[nodiscard]] inline uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
/// float → IEEE half, round to nearest even, overflow to ±inf, NaN kept quiet.
[[nodiscard]] uint16_t f32_to_f16(float value);

/// True when elements of `from` can be converted to `to` by convert_elements: `from` a plain
/// float type (F64, F32, F16, BF16, F8_E4M3, F8_E5M2) and `to` one of F32, F16, BF16.
[[nodiscard]] bool can_convert(DType from, DType to);

/// Converts `count` elements from `src` (type `from`) to `dst` (type `to`); the float value is
/// decoded exactly to f32 (F64 rounds to nearest even) and then narrowed.
void convert_elements(DType from, const std::byte* src, size_t count, DType to, std::byte* dst);

/// Dequantises `blocks` blocks of GGUF block type `from` into `to` (F32, F16 or BF16): ggml's
/// f32 values, narrowed round-to-nearest-even; dequant_with (kernels/dequant.hpp) on the active
/// ISA level.
void dequant_elements(DType from, const std::byte* src, size_t blocks, DType to, std::byte* dst);

/// Narrows `count` floats into `to` (F32 copies, F16/BF16 round to nearest even) with the
/// active ISA level's kernels.
void store_f32(const float* src, size_t count, DType to, std::byte* dst);
/// store_f32 with the kernels of ISA level `isa` (Isa::Scalar: the per-element functions above);
/// every level gives the same bytes. Precondition: isa_supported(isa).
void store_f32_with(Isa isa, const float* src, size_t count, DType to, std::byte* dst);

}  // namespace amn::kernels
