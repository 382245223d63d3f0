// GGUF ternary block types (values d · {-1, 0, +1}): TQ1_0 (base-3 packing, 1.6875 bits per
// weight) and TQ2_0 (2 bits per weight).
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/kernels.hpp"

namespace amn::kernels::gguf {
namespace {

constexpr uint8_t kPowersOf3[5] = {1, 3, 9, 27, 81};

/// Trit `digit` (0 = most significant) of a TQ1_0 byte. A byte stores ⌈v · 256 / 3^k⌉ for k
/// trits v; multiplying by 3^digit (mod 256) brings that trit to the top, where × 3 / 256
/// reads it.
int tq1_trit(uint8_t packed, size_t digit) {
  const auto shifted = static_cast<uint8_t>(packed * kPowersOf3[digit]);
  return (shifted * 3) >> 8;
}

/// Writes the trits of `bytes` in TQ1_0 order: for each digit, that digit of every byte.
float* tq1_unpack(const uint8_t* bytes, size_t byte_count, size_t digits, float scale, float* out) {
  for (size_t digit = 0; digit < digits; ++digit) {
    for (size_t byte_idx = 0; byte_idx < byte_count; ++byte_idx) {
      *out++ = static_cast<float>(tq1_trit(bytes[byte_idx], digit) - 1) * scale;
    }
  }
  return out;
}

}  // namespace

void dequant_tq1_0_ref(const std::byte* src, size_t blocks, float* dst) {
  // qs: 48 bytes of 5 trits, unpacked as a 32-byte group then a 16-byte group; qh: 4 trits each.
  constexpr size_t kWideGroup = 32;
  constexpr size_t kNarrowGroup = sizeof(BlockTq1_0::qs) - kWideGroup;
  constexpr size_t kTritsPerQs = 5;
  constexpr size_t kTritsPerQh = 4;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockTq1_0>(src, block_idx);
    float* out = dst + block_idx * BlockTq1_0::kElems;
    const float scale = block.d.to_f32();
    out = tq1_unpack(block.qs, kWideGroup, kTritsPerQs, scale, out);
    out = tq1_unpack(block.qs + kWideGroup, kNarrowGroup, kTritsPerQs, scale, out);
    tq1_unpack(block.qh, sizeof(block.qh), kTritsPerQh, scale, out);
  }
}

void dequant_tq2_0_ref(const std::byte* src, size_t blocks, float* dst) {
  // Each group of 32 bytes holds 128 elements: 2-bit field `shift` of byte b is element
  // 32·shift + b of the group.
  constexpr size_t kGroupBytes = 32;
  constexpr size_t kFieldsPerByte = 4;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto block = load_block<BlockTq2_0>(src, block_idx);
    float* out = dst + block_idx * BlockTq2_0::kElems;
    const float scale = block.d.to_f32();
    for (size_t group = 0; group < sizeof(block.qs); group += kGroupBytes) {
      for (size_t field = 0; field < kFieldsPerByte; ++field) {
        for (size_t byte_idx = 0; byte_idx < kGroupBytes; ++byte_idx) {
          const int code = (block.qs[group + byte_idx] >> (2 * field)) & 3;
          *out++ = static_cast<float>(code - 1) * scale;
        }
      }
    }
  }
}

}  // namespace amn::kernels::gguf
