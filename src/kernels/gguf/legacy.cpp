// GGUF "legacy" block types with one scale (and offset) per block: Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q8_1, and the 1-/2-bit Q1_0, Q2_0.
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/kernels.hpp"

namespace amn::kernels::gguf {
namespace {

constexpr uint8_t kLowNibble = 0x0f;

/// Bit 4 of element `elem` of a Q5 block: bit `elem` of the little-endian qh word.
int q5_high_bit(uint32_t high_bits, size_t elem) {
  return static_cast<int>((high_bits >> elem) & 1u) << 4;
}

}  // namespace

void dequant_q4_0_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = BlockQ4_0::kElems / 2;
  constexpr int kZero = 8;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ4_0>(src, block_idx);
    float* out = dst + block_idx * BlockQ4_0::kElems;
    const float scale = block.d.to_f32();
    for (size_t elem = 0; elem < kHalf; ++elem) {
      const int low = (block.qs[elem] & kLowNibble) - kZero;
      const int high = (block.qs[elem] >> 4) - kZero;
      out[elem] = static_cast<float>(low) * scale;
      out[elem + kHalf] = static_cast<float>(high) * scale;
    }
  }
}

void dequant_q4_1_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = BlockQ4_1::kElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ4_1>(src, block_idx);
    float* out = dst + block_idx * BlockQ4_1::kElems;
    const float scale = block.d.to_f32();
    const float offset = block.m.to_f32();
    for (size_t elem = 0; elem < kHalf; ++elem) {
      const int low = block.qs[elem] & kLowNibble;
      const int high = block.qs[elem] >> 4;
      out[elem] = static_cast<float>(low) * scale + offset;
      out[elem + kHalf] = static_cast<float>(high) * scale + offset;
    }
  }
}

void dequant_q5_0_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = BlockQ5_0::kElems / 2;
  constexpr int kZero = 16;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ5_0>(src, block_idx);
    float* out = dst + block_idx * BlockQ5_0::kElems;
    const float scale = block.d.to_f32();
    const uint32_t high_bits = load_le32(block.qh);
    for (size_t elem = 0; elem < kHalf; ++elem) {
      const int low = ((block.qs[elem] & kLowNibble) | q5_high_bit(high_bits, elem)) - kZero;
      const int high = ((block.qs[elem] >> 4) | q5_high_bit(high_bits, elem + kHalf)) - kZero;
      out[elem] = static_cast<float>(low) * scale;
      out[elem + kHalf] = static_cast<float>(high) * scale;
    }
  }
}

void dequant_q5_1_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = BlockQ5_1::kElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ5_1>(src, block_idx);
    float* out = dst + block_idx * BlockQ5_1::kElems;
    const float scale = block.d.to_f32();
    const float offset = block.m.to_f32();
    const uint32_t high_bits = load_le32(block.qh);
    for (size_t elem = 0; elem < kHalf; ++elem) {
      const int low = (block.qs[elem] & kLowNibble) | q5_high_bit(high_bits, elem);
      const int high = (block.qs[elem] >> 4) | q5_high_bit(high_bits, elem + kHalf);
      out[elem] = static_cast<float>(low) * scale + offset;
      out[elem + kHalf] = static_cast<float>(high) * scale + offset;
    }
  }
}

void dequant_q8_0_ref(const std::byte* src, size_t blocks, float* dst) {
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ8_0>(src, block_idx);
    float* out = dst + block_idx * BlockQ8_0::kElems;
    const float scale = block.d.to_f32();
    for (size_t elem = 0; elem < BlockQ8_0::kElems; ++elem) {
      out[elem] = static_cast<float>(block.qs[elem]) * scale;
    }
  }
}

// ggml defines no dequantisation for Q8_1 (its dequantize_row_q8_1 is commented out): Q8_1 is
// the activation format of dot products. The values it stores are d · q, as in Q8_0.
void dequant_q8_1_ref(const std::byte* src, size_t blocks, float* dst) {
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ8_1>(src, block_idx);
    float* out = dst + block_idx * BlockQ8_1::kElems;
    const float scale = block.d.to_f32();
    for (size_t elem = 0; elem < BlockQ8_1::kElems; ++elem) {
      out[elem] = static_cast<float>(block.qs[elem]) * scale;
    }
  }
}

void dequant_q1_0_ref(const std::byte* src, size_t blocks, float* dst) {
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ1_0>(src, block_idx);
    float* out = dst + block_idx * BlockQ1_0::kElems;
    const float scale = block.d.to_f32();
    const float negative_scale = -scale;
    for (size_t elem = 0; elem < BlockQ1_0::kElems; ++elem) {
      const bool bit = (block.qs[elem / 8] >> (elem % 8)) & 1u;
      out[elem] = bit ? scale : negative_scale;
    }
  }
}

void dequant_q2_0_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr int kZero = 1;  // codes 0..3 mean -1, 0, +1, +2
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ2_0>(src, block_idx);
    float* out = dst + block_idx * BlockQ2_0::kElems;
    const float scale = block.d.to_f32();
    for (size_t elem = 0; elem < BlockQ2_0::kElems; ++elem) {
      const int code = (block.qs[elem / 4] >> (2 * (elem % 4))) & 3;
      out[elem] = static_cast<float>(code - kZero) * scale;
    }
  }
}

}  // namespace amn::kernels::gguf
