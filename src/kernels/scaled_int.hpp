// A scale × small-integer product rounded to the scales' own type, as torch computes
// `scales * (codes - zeros)` for GPTQ and AWQ (int8/int16 codes promoted to the scales' type).
#pragma once

#include <cstdint>
#include <cstring>

#include "amn/dtype.hpp"
#include "kernels/convert.hpp"

namespace amn::kernels {

/// `value` rounded to nearest even at f16 precision, widened back to f32. For f16 normals
/// (biased f32 exponent 113..141, i.e. 2^-14 <= |value| < 2^15, where no rounding can overflow)
/// the f32 significand is rounded to f16's 10 bits in place; zeros keep their sign; subnormals,
/// large values, infinities and NaN take the full conversion.
[[nodiscard]] inline float round_to_f16(float value) {
  constexpr uint32_t kMantissaShift = 23;
  constexpr uint32_t kExponentMask = 0xff;
  constexpr uint32_t kF16MinNormal = 113;   // 2^-14
  constexpr uint32_t kF16NoOverflow = 141;  // below 2^15
  constexpr uint32_t kDroppedBits = 13;     // f32 keeps 23 significand bits, f16 10
  constexpr uint32_t kHalfUlpMinusOne = (1u << (kDroppedBits - 1)) - 1;
  constexpr uint32_t kDroppedMask = (1u << kDroppedBits) - 1;
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint32_t exponent = (bits >> kMantissaShift) & kExponentMask;
  if (exponent < kF16MinNormal || exponent > kF16NoOverflow) {
    return value == 0.0f ? value : f16_to_f32(f32_to_f16(value));
  }
  bits = (bits + kHalfUlpMinusOne + ((bits >> kDroppedBits) & 1u)) & ~kDroppedMask;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/// `product` (a scale times a code difference, computed in f32) rounded once to `scale_type`
/// (F16, BF16 or F32) and widened back: the f32 product of an f16 or bf16 scale and an integer
/// of magnitude below 256 is exact, so this single rounding gives torch's result in that type.
[[nodiscard]] inline float round_to_scale_type(DType scale_type, float product) {
  switch (scale_type) {
    case DType::F16: return round_to_f16(product);
    case DType::BF16: return bf16_to_f32(f32_to_bf16(product));
    default: return product;
  }
}

}  // namespace amn::kernels
