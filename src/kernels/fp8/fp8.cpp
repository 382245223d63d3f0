// FP8 × scale: decode each FP8 value exactly to f32 (a 256-entry table of torch's
// `.to(float32)`, built from the shared decoder), then one f32 multiply by its block's scale.
#include "kernels/fp8/fp8.hpp"

#include <algorithm>
#include <array>

#include "kernels/convert.hpp"

namespace amn::kernels::fp8 {
namespace {

constexpr size_t kCodes = 256;

/// f32 value of every code of `type`.
std::array<float, kCodes> decode_table(DType type) {
  std::array<std::byte, kCodes> codes;
  for (size_t code = 0; code < kCodes; ++code) codes[code] = static_cast<std::byte>(code);
  std::array<float, kCodes> values;
  convert_elements(type, codes.data(), kCodes, DType::F32, reinterpret_cast<std::byte*>(values.data()));
  return values;
}

}  // namespace

void dequant_row(DType type, const std::byte* weight, size_t cols, const float* scales, size_t block_cols, float* dst) {
  static const std::array<float, kCodes> kE4M3 = decode_table(DType::F8_E4M3);
  static const std::array<float, kCodes> kE5M2 = decode_table(DType::F8_E5M2);
  const float* values = type == DType::F8_E4M3 ? kE4M3.data() : kE5M2.data();
  for (size_t block_start = 0; block_start < cols; block_start += block_cols) {
    const float scale = scales[block_start / block_cols];
    const size_t block_end = std::min(cols, block_start + block_cols);
    for (size_t col = block_start; col < block_end; ++col) {
      dst[col] = values[static_cast<uint8_t>(weight[col])] * scale;  // weight.to(float32) * scale
    }
  }
}

}  // namespace amn::kernels::fp8
