// FP8 E4M3 encoder (scalar reference): compressed-tensors' symmetric float quantisation.
#include "kernels/fp8/encode.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

#include "kernels/convert.hpp"

namespace amn::kernels::fp8 {
namespace {

constexpr float kE4m3Max = 448.0f;
constexpr uint32_t kF32MantissaBits = 23;
constexpr uint32_t kE4m3MantissaBits = 3;
constexpr uint32_t kDropBits = kF32MantissaBits - kE4m3MantissaBits;
/// Smallest normal E4M3 value (2^-6); below it the codes are multiples of 2^-9.
constexpr float kE4m3MinNormal = 0x1p-6f;
constexpr float kE4m3Subnormal = 0x1p-9f;
/// f32 exponent bias minus E4M3's (127 - 7), in place above the kept mantissa bits.
constexpr uint32_t kRebias = (127u - 7u) << kE4m3MantissaBits;
constexpr uint8_t kSignBit = 0x80;

}  // namespace

float round_to(DType dtype, float value) {
  switch (dtype) {
    case DType::F32:
      return value;
    case DType::F16:
      return f16_to_f32(f32_to_f16(value));  // round to nearest even, as a float16 cast
    case DType::BF16: {
      uint32_t bits = std::bit_cast<uint32_t>(value);
      bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
      return std::bit_cast<float>(bits);
    }
    default:
      throw std::logic_error("fp8::round_to: not a 16/32-bit float type");
  }
}

uint8_t e4m3_from_f32(float value) {
  const uint8_t sign = std::signbit(value) ? kSignBit : 0;
  const float magnitude = std::fabs(value);
  if (magnitude < kE4m3MinNormal) {
    // Subnormal codes count 2^-9 steps; nearbyint rounds half to even (a result of 8 is the
    // smallest normal, whose code is 8 too).
    return static_cast<uint8_t>(sign | static_cast<uint8_t>(std::nearbyint(magnitude / kE4m3Subnormal)));
  }
  uint32_t bits = std::bit_cast<uint32_t>(magnitude);
  bits += (1u << (kDropBits - 1)) - 1u + ((bits >> kDropBits) & 1u);
  return static_cast<uint8_t>(sign | static_cast<uint8_t>((bits >> kDropBits) - kRebias));
}

float group_scale(DType dtype, float absmax) {
  const float scale = round_to(dtype, absmax / round_to(dtype, kE4m3Max));
  if (scale != 0.0f) return scale;
  switch (dtype) {
    case DType::F32:
      return 0x1p-23f;
    case DType::F16:
      return 0x1p-10f;
    case DType::BF16:
      return 0x1p-7f;
    default:
      throw std::logic_error("fp8::group_scale: not a 16/32-bit float type");
  }
}

void quantize_row(DType dtype, const float* src, size_t cols, const float* scales, size_t group_cols, uint8_t* dst) {
  for (size_t col = 0; col < cols; ++col) {
    // x / scale in the weight's dtype, then + zero_point (0): turns -0 into +0.
    float scaled = round_to(dtype, src[col] / scales[col / group_cols]) + 0.0f;
    scaled = std::clamp(scaled, -kE4m3Max, kE4m3Max);
    dst[col] = e4m3_from_f32(scaled);
  }
}

}  // namespace amn::kernels::fp8
