// GGUF FP4 block types: E2M1 codes scaled by an E8M0 exponent (MXFP4, OCP MX v1.0) or by
// per-16 UE4M3 scales (NVFP4). The code table holds doubled E2M1 values, so both scale
// decoders return half the scale, as ggml's do.
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/kernels.hpp"
#include "kernels/gguf/scales.hpp"
#include "kernels/gguf/tables.hpp"

namespace amn::kernels::gguf {
namespace {

constexpr uint8_t kLowNibble = 0x0f;

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
