// Quantisers for the ternary (TQ1_0, TQ2_0) and FP4 (MXFP4, NVFP4) GGUF block types, equal byte
// for byte to ggml's quantize_row_<type>_ref. ggml ignores importance weights for all four, so
// the imatrix argument is unused; blocks run on across rows (a row is a whole number of blocks).
#include <cmath>
#include <cstdint>

#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/quant_common.hpp"
#include "kernels/gguf/quant_kernels.hpp"
#include "kernels/gguf/scales.hpp"
#include "kernels/gguf/tables.hpp"

namespace amn::kernels::gguf::AMN_QUANT_LEVEL {
namespace {

using quant::store_block;
using quant::to_half;

/// The largest |x| of `count` elements as ggml's MAX(amax, |x|) macro finds it: a NaN is kept
/// only until the next element replaces it.
float ternary_absmax(const float* src, size_t count) {
  float amax = 0.0f;
  for (size_t elem = 0; elem < count; ++elem) {
    const float magnitude = std::fabs(src[elem]);
    amax = amax > magnitude ? amax : magnitude;
  }
  return amax;
}

// ---- ternary -------------------------------------------------------------------------------

/// Trit count of a full TQ1_0 byte (3^5 = 243 ≤ 256).
constexpr unsigned kTritsPerByte = 5;
constexpr unsigned kTritBase = 3;
constexpr unsigned kPow3TritsPerByte = 243;

/// The trit (0, 1, 2) of x ≈ d · (t − 1): ggml's lroundf(x / d) + 1, with ggml's C integer
/// conversions (long → int, then modulo 256 when added into a byte).
int ternary_trit(float value, float inverse_scale) {
  return static_cast<int>(std::lround(value * inverse_scale) + 1);
}

/// Packs `count` (≤ 5) trits of elements src[0], src[stride], … most significant first into
/// one TQ1_0 byte: the base-3 number, padded with zero trits to 5 digits, as the fixed-point
/// fraction ⌈v · 256 / 243⌉ (so that the decoder can pull out trits with multiplications).
uint8_t pack_trits(const float* src, size_t stride, unsigned count, float inverse_scale) {
  uint8_t number = 0;
  for (unsigned digit = 0; digit < kTritsPerByte; ++digit) {
    number = static_cast<uint8_t>(number * kTritBase);
    if (digit < count) number = static_cast<uint8_t>(number + ternary_trit(src[digit * stride], inverse_scale));
  }
  return static_cast<uint8_t>((number * 256u + (kPow3TritsPerByte - 1)) / kPow3TritsPerByte);
}

/// Fills `bytes` consecutive bytes, byte b holding the `count` trits of elements
/// src[b + digit · bytes]; returns the element after the group.
const float* pack_trit_group(const float* src, uint8_t* out, size_t bytes, unsigned count, float inverse_scale) {
  for (size_t byte_idx = 0; byte_idx < bytes; ++byte_idx) {
    out[byte_idx] = pack_trits(src + byte_idx, bytes, count, inverse_scale);
  }
  return src + bytes * count;
}

/// The ternary scale d = max |x| and its inverse (0 for an all-zero block).
struct TernaryScale {
  float scale;
  float inverse;
};

TernaryScale ternary_scale(const float* src, size_t count) {
  const float amax = ternary_absmax(src, count);
  return {amax, amax != 0.0f ? 1.0f / amax : 0.0f};
}

// ---- FP4 -----------------------------------------------------------------------------------

constexpr uint8_t kLowNibble = 0x0f;

/// The E2M1 code whose (doubled) value times `half_scale` is nearest to `value`; the first
/// code wins ties, so +0 beats −0 (ggml's best_index_mxfp4).
uint8_t nearest_fp4_code(float value, float half_scale) {
  uint8_t best_code = 0;
  float best_error = std::fabs(static_cast<float>(kValuesFp4[0]) * half_scale - value);
  for (uint8_t code = 1; code < kValuesFp4.size(); ++code) {
    const float error = std::fabs(static_cast<float>(kValuesFp4[code]) * half_scale - value);
    if (error < best_error) {
      best_code = code;
      best_error = error;
    }
  }
  return best_code;
}

/// Largest |x| of `count` elements; NaNs never compare larger, so they are skipped.
float fp4_absmax(const float* src, size_t count) {
  float amax = 0.0f;
  for (size_t elem = 0; elem < count; ++elem) {
    if (amax < std::fabs(src[elem])) amax = std::fabs(src[elem]);
  }
  return amax;
}

/// Codes of `count` elements as nibbles: element j low, element j + count/2 high.
void pack_fp4_nibbles(const float* src, size_t count, float half_scale, uint8_t* out) {
  const size_t half = count / 2;
  for (size_t elem = 0; elem < half; ++elem) {
    const uint8_t low = nearest_fp4_code(src[elem], half_scale);
    const uint8_t high = nearest_fp4_code(src[elem + half], half_scale);
    out[elem] = static_cast<uint8_t>((low & kLowNibble) | (high << 4));
  }
}

/// MXFP4's E8M0 exponent for a block with largest magnitude `amax`: ⌊log2 amax⌋ − 2 + 127, so
/// that amax lands in the top binade of E2M1 (4..6, times the scale); 0 for an all-zero block.
/// ggml narrows the float to uint8_t through a 32-bit integer, so exponents below 0
/// (amax < 2^-125) wrap modulo 256 and an infinite amax gives 0.
uint8_t mxfp4_exponent(float amax) {
  constexpr float kExponentOffset = 127.0f - 2.0f;
  if (!(amax > 0.0f)) return 0;
  return static_cast<uint8_t>(quant::truncate_to_int(std::floor(std::log2(amax)) + kExponentOffset));
}

/// UE4M3 code (4 exponent bits with bias 7, 3 mantissa bits) of a scale, as ggml_fp32_to_ue4m3
/// rounds it: values above 448 saturate, the mantissa rounds half up (on its first dropped bit),
/// and a value that overflows the largest exponent saturates to 0x7e (448).
uint8_t scale_to_ue4m3(float value) {
  constexpr float kMaxValue = 448.0f;
  constexpr uint8_t kMaxCode = 0x7e;
  constexpr int kBias = 7;
  constexpr int kMaxExponent = 15;
  constexpr int kMantissaMax = 7;
  constexpr float kSubnormalInverseUnit = 512.0f;  // 1 / 2^-9
  if (!(value > 0.0f)) return 0;
  if (value > kMaxValue) value = kMaxValue;
  const auto bits = std::bit_cast<uint32_t>(value);
  int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + kBias;
  if (exponent <= 0) {
    // subnormal: mantissa · 2^-9 with the mantissa rounded half up and capped at 7
    int mantissa = static_cast<int>(value * kSubnormalInverseUnit + 0.5f);
    if (mantissa > kMantissaMax) mantissa = kMantissaMax;
    return mantissa < 1 ? 0 : static_cast<uint8_t>(mantissa);
  }
  if (exponent >= kMaxExponent) return kMaxCode;
  int mantissa = static_cast<int>((bits >> 20) & 0x7) + static_cast<int>((bits >> 19) & 1u);
  if (mantissa > kMantissaMax) {
    mantissa = 0;
    if (++exponent >= kMaxExponent) return kMaxCode;
  }
  return static_cast<uint8_t>((exponent << 3) | mantissa);
}

}  // namespace

void quantize_tq1_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  // qs: a 32-byte group of elements 0..159 then a 16-byte group of 160..239, 5 trits per byte
  // (byte b, digit k = element b + k · group bytes); qh: elements 240..255, 4 trits per byte.
  constexpr size_t kWideGroup = 32;
  constexpr size_t kNarrowGroup = sizeof(BlockTq1_0::qs) - kWideGroup;
  constexpr unsigned kTritsPerQh = 4;
  const size_t blocks = rows * n_per_row / BlockTq1_0::kElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const float* x = src + block_idx * BlockTq1_0::kElems;
    const TernaryScale scale = ternary_scale(x, BlockTq1_0::kElems);
    BlockTq1_0 block{};
    block.d = to_half(scale.scale);
    x = pack_trit_group(x, block.qs, kWideGroup, kTritsPerByte, scale.inverse);
    x = pack_trit_group(x, block.qs + kWideGroup, kNarrowGroup, kTritsPerByte, scale.inverse);
    pack_trit_group(x, block.qh, sizeof(block.qh), kTritsPerQh, scale.inverse);
    store_block(dst, block_idx, block);
  }
}

void quantize_tq2_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  // Each 32-byte group holds 128 elements: 2-bit field k of byte b is element 32k + b.
  constexpr size_t kGroupBytes = 32;
  constexpr unsigned kFieldsPerByte = 4;
  const size_t blocks = rows * n_per_row / BlockTq2_0::kElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const float* x = src + block_idx * BlockTq2_0::kElems;
    const TernaryScale scale = ternary_scale(x, BlockTq2_0::kElems);
    BlockTq2_0 block{};
    block.d = to_half(scale.scale);
    for (size_t group = 0; group < sizeof(block.qs); group += kGroupBytes) {
      for (size_t byte_idx = 0; byte_idx < kGroupBytes; ++byte_idx) {
        unsigned packed = 0;
        for (unsigned field = 0; field < kFieldsPerByte; ++field) {
          const int trit = ternary_trit(x[byte_idx + field * kGroupBytes], scale.inverse);
          packed += static_cast<unsigned>(trit & 3) << (2 * field);
        }
        block.qs[group + byte_idx] = static_cast<uint8_t>(packed);
      }
      x += kFieldsPerByte * kGroupBytes;
    }
    store_block(dst, block_idx, block);
  }
}

void quantize_mxfp4(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  const size_t blocks = rows * n_per_row / BlockMxfp4::kElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const float* x = src + block_idx * BlockMxfp4::kElems;
    BlockMxfp4 block{};
    block.e = mxfp4_exponent(fp4_absmax(x, BlockMxfp4::kElems));
    pack_fp4_nibbles(x, BlockMxfp4::kElems, e8m0_half_to_f32(block.e), block.qs);
    store_block(dst, block_idx, block);
  }
}

void quantize_nvfp4(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  constexpr size_t kSubElems = BlockNvfp4::kSubElems;
  constexpr size_t kSubBlocks = BlockNvfp4::kElems / kSubElems;
  constexpr float kMaxFp4 = 6.0f;  // largest E2M1 magnitude: the scale maps it onto amax
  const size_t blocks = rows * n_per_row / BlockNvfp4::kElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    BlockNvfp4 block{};
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      const float* x = src + block_idx * BlockNvfp4::kElems + sub * kSubElems;
      block.d[sub] = scale_to_ue4m3(fp4_absmax(x, kSubElems) / kMaxFp4);
      pack_fp4_nibbles(x, kSubElems, ue4m3_half_to_f32(block.d[sub]), block.qs + sub * (kSubElems / 2));
    }
    store_block(dst, block_idx, block);
  }
}

}  // namespace amn::kernels::gguf::AMN_QUANT_LEVEL
