// BitsAndBytes scalar reference kernels: NF4/FP4 (plain and double-quantised absmax), LLM.int8.
#include "kernels/bnb/bnb.hpp"

#include <algorithm>

namespace amn::kernels::bnb {
namespace {

constexpr uint8_t kLowNibble = 0x0f;
constexpr unsigned kHighShift = 4;

/// NF4: the 16 quantiles of N(0, 1) normalised to [-1, 1] (QLoRA), as the f32 values
/// bitsandbytes decodes them with.
constexpr std::array<float, kCode4Entries> kNf4 = {
    -0x1.000000p+0f, -0x1.647362p-1f, -0x1.0cd660p-1f, -0x1.946540p-2f,
    -0x1.23449ap-2f, -0x1.7a6a7ep-3f, -0x1.74f0e2p-4f, 0.0f,
    0x1.45f5fep-4f,  0x1.4995c6p-3f,  0x1.f809bap-3f,  0x1.5a0674p-2f,
    0x1.c34970p-2f,  0x1.200f56p-1f,  0x1.722766p-1f,  0x1.000000p+0f,
};

/// FP4 (sign, 2 exponent bits, 1 mantissa bit, bias 3): magnitudes of codes 0b000..0b111
/// divided by the largest, 12. Bit 3 is the sign.
constexpr float kFp4Max = 12.0f;
constexpr std::array<float, kCode4Entries> kFp4 = {
    0.0f / kFp4Max,  0.0625f / kFp4Max,  8.0f / kFp4Max,  12.0f / kFp4Max,
    4.0f / kFp4Max,  6.0f / kFp4Max,     2.0f / kFp4Max,  3.0f / kFp4Max,
    -0.0f / kFp4Max, -0.0625f / kFp4Max, -8.0f / kFp4Max, -12.0f / kFp4Max,
    -4.0f / kFp4Max, -6.0f / kFp4Max,    -2.0f / kFp4Max, -3.0f / kFp4Max,
};

/// The two code values of each byte (high nibble, low nibble), so whole bytes decode with one load.
struct CodePair {
  float high;
  float low;
};

constexpr std::array<CodePair, 256> pair_table(const std::array<float, kCode4Entries>& table) {
  std::array<CodePair, 256> pairs{};
  for (size_t byte = 0; byte < pairs.size(); ++byte) pairs[byte] = {table[byte >> kHighShift], table[byte & kLowNibble]};
  return pairs;
}

constexpr auto kNf4Pairs = pair_table(kNf4);
constexpr auto kFp4Pairs = pair_table(kFp4);

/// f32(1/127): the reciprocal bitsandbytes multiplies by (written there as 7.874015718698502e-3).
constexpr float kInv127 = 1.0f / 127.0f;

}  // namespace

const std::array<float, kCode4Entries>& code4_table(Code4 code) { return code == Code4::Nf4 ? kNf4 : kFp4; }

void dequant_4bit_ref(Code4 code, const uint8_t* packed, uint64_t first, uint64_t count, const float* absmax,
                      uint64_t blocksize, float* dst) {
  const auto& table = code4_table(code);
  const auto& pairs = code == Code4::Nf4 ? kNf4Pairs : kFp4Pairs;
  const uint64_t first_byte = first / 2;
  const uint64_t first_block = first / blocksize;
  const uint64_t end = first + count;
  // Two codes per byte, the earlier element in the high nibble. A run may start on a byte's low
  // nibble (odd `first`) and end on a high one; whole bytes go in between.
  for (uint64_t elem = first; elem < end;) {
    const uint64_t block = elem / blocksize;
    const uint64_t block_end = std::min(end, (block + 1) * blocksize);
    const float scale = absmax[block - first_block];
    if (elem % 2 == 1) {
      dst[elem - first] = table[packed[elem / 2 - first_byte] & kLowNibble] * scale;
      ++elem;
    }
    const uint8_t* bytes = packed + (elem / 2 - first_byte);
    float* out = dst + (elem - first);
    const uint64_t whole_bytes = (block_end - elem) / 2;
    for (uint64_t byte_idx = 0; byte_idx < whole_bytes; ++byte_idx) {
      const CodePair pair = pairs[bytes[byte_idx]];
      out[2 * byte_idx] = pair.high * scale;
      out[2 * byte_idx + 1] = pair.low * scale;
    }
    elem += 2 * whole_bytes;
    if (elem < block_end) {
      dst[elem - first] = table[packed[elem / 2 - first_byte] >> kHighShift] * scale;
      ++elem;
    }
  }
}

void dequant_nested_absmax_ref(const uint8_t* codes, uint64_t first, uint64_t count, const float* code8,
                               const float* nested_absmax, uint64_t nested_blocksize, float offset, float* dst) {
  const uint64_t first_block = first / nested_blocksize;
  for (uint64_t absmax_idx = 0; absmax_idx < count; ++absmax_idx) {
    const float scaled = code8[codes[absmax_idx]] * nested_absmax[(first + absmax_idx) / nested_blocksize - first_block];
    dst[absmax_idx] = scaled + offset;
  }
}

void dequant_int8_rows_ref(const int8_t* quantised, const float* row_scale, uint64_t rows, uint64_t cols, float* dst) {
  for (uint64_t row_idx = 0; row_idx < rows; ++row_idx) {
    const float scale = row_scale[row_idx];
    for (uint64_t col_idx = 0; col_idx < cols; ++col_idx) {
      const uint64_t elem = row_idx * cols + col_idx;
      const float scaled = static_cast<float>(quantised[elem]) * scale;
      dst[elem] = scaled * kInv127;
    }
  }
}

}  // namespace amn::kernels::bnb
