// GGUF K-quants: super-blocks of 256 elements split into sub-blocks whose scales (and mins) are
// themselves quantised: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, and the float-scaled Q8_K.
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/kernels.hpp"
#include "kernels/gguf/scales.hpp"

namespace amn::kernels::gguf {
namespace {

constexpr uint8_t kLowNibble = 0x0f;

/// Q2_K / Q3_K code layout: each half (128 elements) uses 32 bytes of qs; its element e sits in
/// byte e % 32 at bit 2 · (e / 32).
constexpr size_t kHalfElems = 128;
constexpr size_t kHalfBytes = 32;

}  // namespace

void dequant_q2_k_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kSubElems = 16;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ2_K>(src, block_idx);
    float* out = dst + block_idx * BlockQ2_K::kElems;
    const float scale = block.d.to_f32();
    const float min_scale = block.dmin.to_f32();
    for (size_t sub = 0; sub < BlockQ2_K::kElems / kSubElems; ++sub) {
      const float sub_scale = scale * static_cast<float>(block.scales[sub] & kLowNibble);
      const float sub_min = min_scale * static_cast<float>(block.scales[sub] >> 4);
      for (size_t lane = 0; lane < kSubElems; ++lane) {
        const size_t elem = sub * kSubElems + lane;
        const uint8_t byte = block.qs[elem / kHalfElems * kHalfBytes + elem % kHalfBytes];
        const int code = (byte >> (2 * (elem % kHalfElems / kHalfBytes))) & 3;
        out[elem] = sub_scale * static_cast<float>(code) - sub_min;
      }
    }
  }
}

void dequant_q3_k_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kSubElems = 16;
  constexpr int kHighBitMissing = 4;  // a clear hmask bit subtracts 4 from the 2-bit code
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ3_K>(src, block_idx);
    float* out = dst + block_idx * BlockQ3_K::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < BlockQ3_K::kElems / kSubElems; ++sub) {
      const float sub_scale = scale * static_cast<float>(q3_scale(block.scales, sub));
      for (size_t lane = 0; lane < kSubElems; ++lane) {
        const size_t elem = sub * kSubElems + lane;
        const uint8_t byte = block.qs[elem / kHalfElems * kHalfBytes + elem % kHalfBytes];
        const int low = (byte >> (2 * (elem % kHalfElems / kHalfBytes))) & 3;
        // hmask bit (elem / 32) of byte elem % 32
        const bool high = (block.hmask[elem % 32] >> (elem / 32)) & 1u;
        out[elem] = sub_scale * static_cast<float>(low - (high ? 0 : kHighBitMissing));
      }
    }
  }
}

void dequant_q4_k_ref(const std::byte* src, size_t blocks, float* dst) {
  // Sub-block s (32 elements) uses the low (s even) or high (s odd) nibbles of qs[32·(s/2) ..].
  constexpr size_t kSubElems = 32;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ4_K>(src, block_idx);
    float* out = dst + block_idx * BlockQ4_K::kElems;
    const float scale = block.d.to_f32();
    const float min_scale = block.dmin.to_f32();
    for (size_t sub = 0; sub < BlockQ4_K::kElems / kSubElems; ++sub) {
      const ScaleMin packed = k4_scale_min(block.scales, sub);
      const float sub_scale = scale * static_cast<float>(packed.scale);
      const float sub_min = min_scale * static_cast<float>(packed.min);
      const uint8_t* codes = block.qs + sub / 2 * kSubElems;
      const int shift = sub % 2 == 0 ? 0 : 4;
      for (size_t lane = 0; lane < kSubElems; ++lane) {
        const int code = (codes[lane] >> shift) & kLowNibble;
        out[sub * kSubElems + lane] = sub_scale * static_cast<float>(code) - sub_min;
      }
    }
  }
}

void dequant_q5_k_ref(const std::byte* src, size_t blocks, float* dst) {
  // As Q4_K; bit 4 of lane l of sub-block s is bit s of qh[l].
  constexpr size_t kSubElems = 32;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ5_K>(src, block_idx);
    float* out = dst + block_idx * BlockQ5_K::kElems;
    const float scale = block.d.to_f32();
    const float min_scale = block.dmin.to_f32();
    for (size_t sub = 0; sub < BlockQ5_K::kElems / kSubElems; ++sub) {
      const ScaleMin packed = k4_scale_min(block.scales, sub);
      const float sub_scale = scale * static_cast<float>(packed.scale);
      const float sub_min = min_scale * static_cast<float>(packed.min);
      const uint8_t* codes = block.qs + sub / 2 * kSubElems;
      const int shift = sub % 2 == 0 ? 0 : 4;
      for (size_t lane = 0; lane < kSubElems; ++lane) {
        const int high = (block.qh[lane] >> sub) & 1;
        const int code = ((codes[lane] >> shift) & kLowNibble) | (high << 4);
        out[sub * kSubElems + lane] = sub_scale * static_cast<float>(code) - sub_min;
      }
    }
  }
}

void dequant_q6_k_ref(const std::byte* src, size_t blocks, float* dst) {
  // Each half (128 elements) uses 64 bytes of ql and 32 of qh. Quarter q (32 elements) of a
  // half takes nibble q / 2 of ql[32·(q % 2) + lane] and 2-bit field q of qh[lane].
  constexpr size_t kSubElems = 16;
  constexpr size_t kQuarterElems = 32;
  constexpr size_t kHalfQlBytes = 64;
  constexpr size_t kHalfQhBytes = 32;
  constexpr int kBias = 32;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ6_K>(src, block_idx);
    float* out = dst + block_idx * BlockQ6_K::kElems;
    const float scale = block.d.to_f32();
    for (size_t elem = 0; elem < BlockQ6_K::kElems; ++elem) {
      const size_t half = elem / kHalfElems;
      const size_t quarter = elem % kHalfElems / kQuarterElems;
      const size_t lane = elem % kQuarterElems;
      const uint8_t low_byte = block.ql[half * kHalfQlBytes + quarter % 2 * kQuarterElems + lane];
      const int low = (low_byte >> (4 * (quarter / 2))) & kLowNibble;
      const int high = (block.qh[half * kHalfQhBytes + lane] >> (2 * quarter)) & 3;
      const int code = (low | (high << 4)) - kBias;
      const float sub_scale = static_cast<float>(block.scales[elem / kSubElems]);
      out[elem] = scale * sub_scale * static_cast<float>(code);
    }
  }
}

void dequant_q8_k_ref(const std::byte* src, size_t blocks, float* dst) {
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockQ8_K>(src, block_idx);
    float* out = dst + block_idx * BlockQ8_K::kElems;
    const float scale = std::bit_cast<float>(load_le32(block.d));
    for (size_t elem = 0; elem < BlockQ8_K::kElems; ++elem) {
      out[elem] = scale * static_cast<float>(block.qs[elem]);
    }
  }
}

}  // namespace amn::kernels::gguf
