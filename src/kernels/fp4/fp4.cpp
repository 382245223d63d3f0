// FP4 E2M1 dequantisation (NVFP4, MXFP4): see fp4.hpp.
#include "kernels/fp4/fp4.hpp"

#include <array>
#include <cmath>

namespace amn::kernels::fp4 {
namespace {

constexpr std::array<float, 16> kE2M1 = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                         -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
constexpr int kE8M0Bias = 127;
constexpr uint8_t kLowNibble = 0x0f;

uint8_t code_at(const std::byte* packed, size_t col) {
  const auto byte = static_cast<uint8_t>(packed[col / 2]);
  return col % 2 == 0 ? byte & kLowNibble : byte >> 4;
}

}  // namespace

float e2m1(uint8_t code) { return kE2M1[code & kLowNibble]; }

void nvfp4_row(const std::byte* packed, size_t cols, const float* block_scales, bool negative_zero, float* dst) {
  constexpr uint8_t kNegativeZero = 8;
  for (size_t col = 0; col < cols; ++col) {
    const uint8_t code = code_at(packed, col);
    const float value = code == kNegativeZero && !negative_zero ? 0.0f : kE2M1[code];
    dst[col] = value * block_scales[col / kNvfp4Block];
  }
}

void mxfp4_row(const std::byte* packed, size_t cols, const uint8_t* exponents, float* dst) {
  for (size_t col = 0; col < cols; ++col) {
    dst[col] = std::ldexp(kE2M1[code_at(packed, col)], static_cast<int>(exponents[col / kMxfp4Block]) - kE8M0Bias);
  }
}

}  // namespace amn::kernels::fp4
