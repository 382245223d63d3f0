// GGUF IQ ("importance") quants: codes index shared grids of 4 or 8 values (tables.hpp), with
// explicit or parity-completed sign bits: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M,
// and the non-linear 4-bit IQ4_NL, IQ4_XS.
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/kernels.hpp"
#include "kernels/gguf/scales.hpp"
#include "kernels/gguf/tables.hpp"

namespace amn::kernels::gguf {
namespace {

constexpr uint8_t kLowNibble = 0x0f;
constexpr size_t kSubElems = 32;  // IQ sub-block (one scale) size
constexpr size_t kSubBlocks = kSuperBlockElems / kSubElems;
constexpr size_t kGroupElems = 8;  // elements per 8-wide grid entry or sign byte

/// `value` negated when sign bit `elem` of a sign byte is set. ggml multiplies by ±1.0f, which
/// compilers fold into this negation (GCC does); the two differ only for a NaN, whose sign the
/// negation flips.
float apply_sign(float value, uint8_t signs, size_t elem) { return (signs >> elem) & 1u ? -value : value; }

/// Writes 8 elements from an 8-value grid entry with signs: out[j] = ±(scale · grid[j]).
void write_signed_group(uint64_t grid_entry, uint8_t signs, float scale, float* out) {
  for (size_t elem = 0; elem < kGroupElems; ++elem) {
    out[elem] = apply_sign(scale * static_cast<float>(grid_byte(grid_entry, elem)), signs, elem);
  }
}

/// IQ1 elements: out[j] = scale · (grid[j] + shift), grid values int8 in {-1, 0, 1}.
void write_shifted_group(uint64_t grid_entry, float shift, float scale, float* out) {
  for (size_t elem = 0; elem < kGroupElems; ++elem) {
    const auto grid_value = static_cast<int8_t>(grid_byte(grid_entry, elem));
    out[elem] = scale * (static_cast<float>(grid_value) + shift);
  }
}

}  // namespace

void dequant_iq2_xxs_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kSubBytes = 8;  // 4 grid indices + LE uint32 of signs and scale
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq2Xxs>(src, block_idx);
    float* out = dst + block_idx * BlockIq2Xxs::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      const uint8_t* grid_indices = block.qs + sub * kSubBytes;
      const uint32_t signs_and_scale = load_le32(grid_indices + 4);
      const float sub_scale = iq2_scale(scale, signs_and_scale >> 28);
      for (size_t group = 0; group < kSubElems / kGroupElems; ++group) {
        const uint8_t signs = kSignsIq2xs[(signs_and_scale >> (7 * group)) & 127];
        write_signed_group(kIq2xxsGrid[grid_indices[group]], signs, sub_scale, out);
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq2_xs_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kGroupsPerSub = kSubElems / kGroupElems;
  constexpr unsigned kIndexBits = 9;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq2Xs>(src, block_idx);
    float* out = dst + block_idx * BlockIq2Xs::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      // the first 16 elements use the low scale nibble, the last 16 the high one
      const float sub_scales[2] = {iq2_scale(scale, block.scales[sub] & kLowNibble),
                                   iq2_scale(scale, block.scales[sub] >> 4)};
      for (size_t group = 0; group < kGroupsPerSub; ++group) {
        const uint16_t code = block.qs[sub * kGroupsPerSub + group].value();
        const uint8_t signs = kSignsIq2xs[code >> kIndexBits];
        const uint64_t grid_entry = kIq2xsGrid[code & ((1u << kIndexBits) - 1)];
        write_signed_group(grid_entry, signs, sub_scales[group / 2], out);
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq2_s_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kGroupsPerSub = kSubElems / kGroupElems;
  constexpr size_t kSignsOffset = BlockIq2S::kElems / kGroupElems;  // sign bytes follow indices
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq2S>(src, block_idx);
    float* out = dst + block_idx * BlockIq2S::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      const float sub_scales[2] = {iq2_scale(scale, block.scales[sub] & kLowNibble),
                                   iq2_scale(scale, block.scales[sub] >> 4)};
      for (size_t group = 0; group < kGroupsPerSub; ++group) {
        const size_t group_idx = sub * kGroupsPerSub + group;
        // 10-bit index: low byte from qs, bits 8..9 from 2-bit field `group` of qh[sub]
        const unsigned high = (block.qh[sub] >> (2 * group)) & 3u;
        const unsigned index = block.qs[group_idx] | (high << 8);
        const uint8_t signs = block.qs[kSignsOffset + group_idx];
        write_signed_group(kIq2sGrid[index], signs, sub_scales[group / 2], out);
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq3_xxs_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kIndexBytes = BlockIq3Xxs::kElems / 4;  // one index per 4 elements
  constexpr size_t kHalfGroup = kGroupElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq3Xxs>(src, block_idx);
    float* out = dst + block_idx * BlockIq3Xxs::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      const uint32_t signs_and_scale = load_le32(block.qs + kIndexBytes + 4 * sub);
      const float sub_scale = iq3xxs_scale(scale, signs_and_scale >> 28);
      for (size_t group = 0; group < kSubElems / kGroupElems; ++group) {
        const uint8_t signs = kSignsIq2xs[(signs_and_scale >> (7 * group)) & 127];
        const uint8_t* indices = block.qs + sub * kGroupElems + 2 * group;
        for (size_t elem = 0; elem < kHalfGroup; ++elem) {
          const auto first = static_cast<float>(grid_byte(kIq3xxsGrid[indices[0]], elem));
          const auto second = static_cast<float>(grid_byte(kIq3xxsGrid[indices[1]], elem));
          out[elem] = apply_sign(sub_scale * first, signs, elem);
          out[elem + kHalfGroup] = apply_sign(sub_scale * second, signs, elem + kHalfGroup);
        }
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq3_s_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalfGroup = kGroupElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq3S>(src, block_idx);
    float* out = dst + block_idx * BlockIq3S::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      // 4-bit scale s gives d · (2s + 1); even sub-blocks use the low nibble
      const int scale_code = (block.scales[sub / 2] >> (4 * (sub % 2))) & kLowNibble;
      const float sub_scale = scale * static_cast<float>(1 + 2 * scale_code);
      for (size_t group = 0; group < kSubElems / kGroupElems; ++group) {
        // two 9-bit indices per 8 elements: low bytes from qs, bit 8 from qh[sub]
        const uint8_t* low_bytes = block.qs + sub * kGroupElems + 2 * group;
        const unsigned high_bits = block.qh[sub] >> (2 * group);
        const uint32_t first = kIq3sGrid[low_bytes[0] | ((high_bits & 1u) << 8)];
        const uint32_t second = kIq3sGrid[low_bytes[1] | ((high_bits & 2u) << 7)];
        const uint8_t signs = block.signs[sub * (kSubElems / kGroupElems) + group];
        for (size_t elem = 0; elem < kHalfGroup; ++elem) {
          const auto first_value = static_cast<float>(grid_byte(first, elem));
          const auto second_value = static_cast<float>(grid_byte(second, elem));
          out[elem] = apply_sign(sub_scale * first_value, signs, elem);
          out[elem + kHalfGroup] = apply_sign(sub_scale * second_value, signs, elem + kHalfGroup);
        }
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq1_s_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kGroupsPerSub = kSubElems / kGroupElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq1S>(src, block_idx);
    float* out = dst + block_idx * BlockIq1S::kElems;
    const float scale = block.d.to_f32();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      // qh: bits 3g..3g+2 = index bits 8..10 of group g, bits 12..14 = scale s (d · (2s + 1)),
      // bit 15 = sign of the shift
      const uint16_t high = block.qh[sub].value();
      const float sub_scale = scale * static_cast<float>(2 * ((high >> 12) & 7) + 1);
      const float shift = (high & 0x8000u) ? -kIq1Shift : kIq1Shift;
      for (size_t group = 0; group < kGroupsPerSub; ++group) {
        const unsigned high_index = (high >> (3 * group)) & 7u;
        const unsigned index = block.qs[sub * kGroupsPerSub + group] | (high_index << 8);
        write_shifted_group(kIq1sGrid[index], shift, sub_scale, out);
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq1_m_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kGroupsPerSub = kSubElems / kGroupElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq1M>(src, block_idx);
    float* out = dst + block_idx * BlockIq1M::kElems;
    uint16_t words[4];
    for (size_t word = 0; word < 4; ++word) words[word] = block.scales[word].value();
    // the fp16 scale: top nibble of word w is nibble w of its bits
    const auto scale_bits = static_cast<uint16_t>((words[0] >> 12) | ((words[1] >> 8) & 0x00f0) |
                                                  ((words[2] >> 4) & 0x0f00) | (words[3] & 0xf000));
    const float scale = f16_to_f32(scale_bits);
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      // two 3-bit scales per sub-block (first and second 16 elements), 6 bits per sub-block
      const unsigned scale_field = words[sub / 2] >> (6 * (sub % 2));
      const float sub_scales[2] = {scale * static_cast<float>(2 * (scale_field & 7) + 1),
                                   scale * static_cast<float>(2 * ((scale_field >> 3) & 7) + 1)};
      for (size_t group = 0; group < kGroupsPerSub; ++group) {
        // each qh nibble: bits 0..2 = index bits 8..10, bit 3 = sign of the shift
        const unsigned high = (block.qh[sub * 2 + group / 2] >> (4 * (group % 2))) & kLowNibble;
        const unsigned index = block.qs[sub * kGroupsPerSub + group] | ((high & 7u) << 8);
        const float shift = (high & 8u) ? -kIq1Shift : kIq1Shift;
        write_shifted_group(kIq1sGrid[index], shift, sub_scales[group / 2], out);
        out += kGroupElems;
      }
    }
  }
}

void dequant_iq4_nl_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = BlockIq4Nl::kElems / 2;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq4Nl>(src, block_idx);
    float* out = dst + block_idx * BlockIq4Nl::kElems;
    const float scale = block.d.to_f32();
    for (size_t elem = 0; elem < kHalf; ++elem) {
      out[elem] = scale * static_cast<float>(kValuesIq4nl[block.qs[elem] & kLowNibble]);
      out[elem + kHalf] = scale * static_cast<float>(kValuesIq4nl[block.qs[elem] >> 4]);
    }
  }
}

void dequant_iq4_xs_ref(const std::byte* src, size_t blocks, float* dst) {
  constexpr size_t kHalf = kSubElems / 2;
  constexpr int kBias = 32;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockIq4Xs>(src, block_idx);
    float* out = dst + block_idx * BlockIq4Xs::kElems;
    const float scale = block.d.to_f32();
    const uint16_t scales_high = block.scales_h.value();
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      // 6-bit scale: nibble sub % 2 of scales_l[sub / 2], top 2 bits from field sub of scales_h
      const int low = (block.scales_l[sub / 2] >> (4 * (sub % 2))) & kLowNibble;
      const int high = (scales_high >> (2 * sub)) & 3;
      const float sub_scale = scale * static_cast<float>((low | (high << 4)) - kBias);
      const uint8_t* codes = block.qs + sub * kHalf;
      for (size_t elem = 0; elem < kHalf; ++elem) {
        out[elem] = sub_scale * static_cast<float>(kValuesIq4nl[codes[elem] & kLowNibble]);
        out[elem + kHalf] = sub_scale * static_cast<float>(kValuesIq4nl[codes[elem] >> 4]);
      }
      out += kSubElems;
    }
  }
}

}  // namespace amn::kernels::gguf
