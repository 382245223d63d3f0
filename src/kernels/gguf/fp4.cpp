// GGUF FP4 block types: E2M1 codes scaled by an E8M0 exponent (MXFP4, OCP MX v1.0) or by
// per-16 UE4M3 scales (NVFP4). The code table holds doubled E2M1 values, so both scale
// decoders return half the scale, as ggml's do.
#include <cmath>

#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/kernels.hpp"
#include "kernels/gguf/tables.hpp"

namespace amn::kernels::gguf {
namespace {

constexpr uint8_t kLowNibble = 0x0f;

/// Half of the E8M0 scale 2^(e − 127), i.e. 2^(e − 128); e = 0 and 1 give float subnormals.
/// E8M0's NaN code 0xff is not special-cased (ggml decodes it as 2^127).
float e8m0_half_to_f32(uint8_t exponent) {
  constexpr uint32_t kTwoToMinus128 = 0x00200000;  // 2^-128
  const uint32_t bits = exponent < 2 ? kTwoToMinus128 << exponent
                                     : static_cast<uint32_t>(exponent - 1) << 23;
  return std::bit_cast<float>(bits);
}

/// Half of an unsigned E4M3 scale (4 exponent bits, bias 7, 3 mantissa bits; bit 7 ignored).
/// The E4M3 NaN code 0x7f decodes to 0, as does 0.
float ue4m3_half_to_f32(uint8_t code) {
  constexpr uint8_t kNanCode = 0x7f;
  if (code == 0 || code == kNanCode) return 0.0f;
  const int exponent = (code >> 3) & 0xf;
  const int mantissa = code & 0x7;
  // subnormal: mantissa · 2^-9; normal: (1 + mantissa/8) · 2^(exponent − 7); then halved
  if (exponent == 0) return std::ldexp(static_cast<float>(mantissa), -9 - 1);
  return std::ldexp(static_cast<float>(8 + mantissa), exponent - 7 - 3 - 1);
}

}  // namespace

void dequant_mxfp4_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = BlockMxfp4::kElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockMxfp4>(src, block_idx);
    float* out = dst + block_idx * BlockMxfp4::kElems;
    const float scale = e8m0_half_to_f32(block.e);
    for (size_t elem = 0; elem < kHalf; ++elem) {
      const int low = kValuesFp4[block.qs[elem] & kLowNibble];
      const int high = kValuesFp4[block.qs[elem] >> 4];
      out[elem] = static_cast<float>(low) * scale;
      out[elem + kHalf] = static_cast<float>(high) * scale;
    }
  }
}

void dequant_nvfp4_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kSubElems = BlockNvfp4::kSubElems;
  constexpr size_t kSubBlocks = BlockNvfp4::kElems / kSubElems;
  constexpr size_t kHalf = kSubElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockNvfp4>(src, block_idx);
    for (size_t sub_idx = 0; sub_idx < kSubBlocks; ++sub_idx) {
      float* out = dst + block_idx * BlockNvfp4::kElems + sub_idx * kSubElems;
      const uint8_t* codes = block.qs + sub_idx * kHalf;
      const float scale = ue4m3_half_to_f32(block.d[sub_idx]);
      for (size_t elem = 0; elem < kHalf; ++elem) {
        const int low = kValuesFp4[codes[elem] & kLowNibble];
        const int high = kValuesFp4[codes[elem] >> 4];
        out[elem] = static_cast<float>(low) * scale;
        out[elem + kHalf] = static_cast<float>(high) * scale;
      }
    }
  }
}

}  // namespace amn::kernels::gguf
