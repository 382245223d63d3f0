// Scalar decoders of GGUF block and sub-block scales, shared by the reference kernels and the
// SIMD variants so both evaluate exactly the same float expressions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace amn::kernels::gguf {

/// A 6-bit scale and min of a Q4_K/Q5_K sub-block.
struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};

/// Scale and min of Q4_K/Q5_K sub-block `sub` (0..7) from the 12 packed bytes: bytes 0..3 hold
/// scales 0..3, bytes 4..7 mins 0..3 (low 6 bits each); bytes 8..11 hold the low nibbles of
/// scale (low) and min (high) 4..7, whose top 2 bits are the top bits of bytes 0..7.
[[nodiscard]] inline ScaleMin k4_scale_min(const uint8_t* packed, size_t sub) {
  constexpr uint8_t kSixBits = 0x3f;
  constexpr uint8_t kLowNibble = 0x0f;
  if (sub < 4) {
    return {static_cast<uint8_t>(packed[sub] & kSixBits), static_cast<uint8_t>(packed[sub + 4] & kSixBits)};
  }
  return {static_cast<uint8_t>((packed[sub + 4] & kLowNibble) | ((packed[sub - 4] >> 6) << 4)),
          static_cast<uint8_t>((packed[sub + 4] >> 4) | ((packed[sub] >> 6) << 4))};
}

/// The 6-bit scale of Q3_K sub-block `sub` (0..15), stored with bias 32: the low 4 bits are
/// the low (sub < 8) or high nibble of byte sub % 8; the top 2 bits are field sub / 4 of
/// byte 8 + sub % 4.
[[nodiscard]] inline int q3_scale(const uint8_t* packed, size_t sub) {
  constexpr int kBias = 32;
  constexpr uint8_t kLowNibble = 0x0f;
  const int low = sub < 8 ? packed[sub] & kLowNibble : packed[sub - 8] >> 4;
  const int high = (packed[8 + sub % 4] >> (2 * (sub / 4))) & 3;
  return (low | (high << 4)) - kBias;
}

/// The 4-bit IQ2 sub-block scale s gives (s + ½) · ¼ · d.
[[nodiscard]] inline float iq2_scale(float scale, unsigned scale_code) {
  constexpr float kQuarter = 0.25f;
  return scale * (0.5f + static_cast<float>(scale_code)) * kQuarter;
}

/// The 4-bit IQ3_XXS sub-block scale s gives (s + ½) · ½ · d.
[[nodiscard]] inline float iq3xxs_scale(float scale, unsigned scale_code) {
  constexpr float kHalf = 0.5f;
  return scale * (0.5f + static_cast<float>(scale_code)) * kHalf;
}

/// IQ1_S / IQ1_M shift magnitude (ggml IQ1S_DELTA, IQ1M_DELTA).
inline constexpr float kIq1Shift = 0.125f;

/// Half of the E8M0 scale 2^(e − 127), i.e. 2^(e − 128); e = 0 and 1 give float subnormals.
/// E8M0's NaN code 0xff is not special-cased (ggml decodes it as 2^127).
[[nodiscard]] inline float e8m0_half_to_f32(uint8_t exponent) {
  constexpr uint32_t kTwoToMinus128 = 0x00200000;  // 2^-128
  const uint32_t bits = exponent < 2 ? kTwoToMinus128 << exponent
                                     : static_cast<uint32_t>(exponent - 1) << 23;
  return std::bit_cast<float>(bits);
}

/// Half of an unsigned E4M3 scale (4 exponent bits, bias 7, 3 mantissa bits; bit 7 ignored).
/// The E4M3 NaN code 0x7f decodes to 0, as does 0.
[[nodiscard]] inline float ue4m3_half_to_f32(uint8_t code) {
  constexpr uint8_t kNanCode = 0x7f;
  constexpr uint32_t kHalvedRebias = 127 - 7 - 1;  // float exponent = E4M3 exponent + this
  if (code == 0 || code == kNanCode) return 0.0f;
  const uint32_t exponent = (code >> 3) & 0xf;
  const uint32_t mantissa = code & 0x7;
  // subnormal: mantissa · 2^-9, halved; normal: (1 + mantissa/8) · 2^(exponent − 7), halved
  if (exponent == 0) return static_cast<float>(mantissa) * 0x1p-10f;
  return std::bit_cast<float>(((exponent + kHalvedRebias) << 23) | (mantissa << 20));
}

}  // namespace amn::kernels::gguf
