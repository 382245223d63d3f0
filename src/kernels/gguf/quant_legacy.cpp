// Quantisers for the GGUF block types with one scale (and offset) per block: Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0 and the 1-/2-bit Q1_0, Q2_0, byte-identical to ggml's quantize_<type>.
//
// Without an importance matrix ggml runs its reference quantisers (quantize_row_<type>_ref):
// the scale comes from the block's extreme value and every code is rounded independently. With
// one, Q4_0/Q5_0 fit a symmetric scale and Q4_1/Q5_1 a scale and min by weighted least squares
// (quant_common.hpp), each element weighted by imatrix[column] · √(σ² + x²), σ² the mean square
// of the row. Q8_0, Q1_0 and Q2_0 ignore the importance matrix.
#include <cfloat>

#include "kernels/gguf/quant_common.hpp"
#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels::gguf::AMN_QUANT_LEVEL {
namespace {

using quant::round_to_int;
using quant::store_block;
using quant::to_half;
using quant::truncate_to_int;

/// All legacy 4/5-bit types and Q8_0 hold 32 elements per block.
constexpr size_t kBlockElems = 32;
constexpr size_t kHalfBlock = kBlockElems / 2;
constexpr uint8_t kLowNibble = 0x0f;

/// Nibble packing of Q4_0/Q4_1: element j in the low nibble of qs[j], element j+16 in the high
/// one. ggml ORs the codes unmasked; they are at most 15.
void pack_q4_codes(const uint8_t* codes, uint8_t* qs) {
  for (size_t j = 0; j < kHalfBlock; ++j) qs[j] = static_cast<uint8_t>(codes[j] | (codes[j + kHalfBlock] << 4));
}

/// Q5_0/Q5_1 packing: the low 4 bits as pack_q4_codes, bit 4 of element j in bit j of qh
/// (a little-endian uint32).
void pack_q5_codes(const uint8_t* codes, uint8_t* qs, uint8_t* qh) {
  constexpr unsigned kFifthBit = 0x10;
  uint32_t high_bits = 0;
  for (size_t j = 0; j < kHalfBlock; ++j) {
    const uint8_t low = codes[j];
    const uint8_t high = codes[j + kHalfBlock];
    qs[j] = static_cast<uint8_t>((low & kLowNibble) | ((high & kLowNibble) << 4));
    high_bits |= ((low & kFifthBit) >> 4) << j;
    high_bits |= ((high & kFifthBit) >> 4) << (j + kHalfBlock);
  }
  for (size_t byte = 0; byte < 4; ++byte) qh[byte] = static_cast<uint8_t>(high_bits >> (8 * byte));
}

void pack_codes(const uint8_t* codes, BlockQ4_0& block) { pack_q4_codes(codes, block.qs); }
void pack_codes(const uint8_t* codes, BlockQ4_1& block) { pack_q4_codes(codes, block.qs); }
void pack_codes(const uint8_t* codes, BlockQ5_0& block) { pack_q5_codes(codes, block.qs, block.qh); }
void pack_codes(const uint8_t* codes, BlockQ5_1& block) { pack_q5_codes(codes, block.qs, block.qh); }

/// Code ranges: Q4 codes 0..15, Q5 codes 0..31; the symmetric types subtract the midpoint.
constexpr int kQ4MaxCode = 15;
constexpr int kQ4Zero = 8;
constexpr int kQ5MaxCode = 31;
constexpr int kQ5Zero = 16;

// ---- reference quantisers (no importance matrix) ------------------------------------------

/// The value of largest magnitude in the block, with its sign (the first one on ties).
float signed_absmax(const float* x, size_t count) {
  float amax = 0.0f;
  float max = 0.0f;
  for (size_t j = 0; j < count; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

/// Q4_0 / Q5_0 reference codes: d = max / −zero maps the extreme value to code 0, and
/// q = min(max_code, trunc(x · (1/d) + zero + ½)) through int8_t, as ggml casts it. Returns d.
float symmetric_codes(const float* x, int zero, int max_code, uint8_t* codes) {
  const quant::SignedMax extreme = quant::signed_max(x, kBlockElems);
  const bool finite = extreme.finite;
  const float max = finite ? extreme.max : signed_absmax(x, kBlockElems);
  const float scale = max / static_cast<float>(-zero);
  const float inv_scale = scale != 0.0f ? 1.0f / scale : 0.0f;
  const float rounding_offset = static_cast<float>(zero) + 0.5f;
  if (finite && std::fabs(inv_scale) <= FLT_MAX) {
    // 0 < x · (1/d) + zero + ½ < 2·zero + 1: min and truncation commute, no int8 wrap
    const auto max_code_f = static_cast<float>(max_code);
    for (size_t j = 0; j < kBlockElems; ++j) {
      codes[j] = static_cast<uint8_t>(static_cast<int32_t>(std::min(max_code_f, x[j] * inv_scale + rounding_offset)));
    }
    return scale;
  }
  for (size_t j = 0; j < kBlockElems; ++j) {
    const auto truncated = static_cast<int8_t>(truncate_to_int(x[j] * inv_scale + rounding_offset));
    codes[j] = static_cast<uint8_t>(std::min(max_code, static_cast<int>(truncated)));
  }
  return scale;
}

/// Smallest and largest value of a block (ggml starts from ±FLT_MAX).
struct Range {
  float min;
  float max;
};
Range block_range(const float* x, size_t count) {
  Range range{FLT_MAX, -FLT_MAX};
  for (size_t j = 0; j < count; ++j) {
    if (x[j] < range.min) range.min = x[j];
    if (x[j] > range.max) range.max = x[j];
  }
  return range;
}

template <class Block>
Block symmetric_reference(const float* x, int zero, int max_code) {
  uint8_t codes[kBlockElems];
  Block block{};
  block.d = to_half(symmetric_codes(x, zero, max_code, codes));
  pack_codes(codes, block);
  return block;
}

/// Q4_1/Q5_1: codes (x − min)/scale + 0.5 truncated, scale = (max − min)/max code. ggml
/// clamps Q4_1 codes to 15 after an int8 cast (MIN(15, (int8_t)(v + 0.5f))) and casts Q5_1 codes
/// to uint8 unclamped; both are kept as written.
template <class Block, int kMaxCode, bool kClampInt8>
Block asymmetric_reference(const float* x) {
  const Range range = block_range(x, kBlockElems);
  const float scale = (range.max - range.min) / kMaxCode;
  const float inv_scale = scale != 0.0f ? 1.0f / scale : 0.0f;
  uint8_t codes[kBlockElems];
  for (size_t j = 0; j < kBlockElems; ++j) {
    const int32_t truncated = truncate_to_int((x[j] - range.min) * inv_scale + 0.5f);
    codes[j] = kClampInt8 ? static_cast<uint8_t>(std::min(kMaxCode, static_cast<int>(static_cast<int8_t>(truncated))))
                          : static_cast<uint8_t>(truncated);
  }
  Block block{};
  block.d = to_half(scale);
  block.m = to_half(range.min);
  pack_codes(codes, block);
  return block;
}

BlockQ4_1 q4_1_reference(const float* x) { return asymmetric_reference<BlockQ4_1, kQ4MaxCode, true>(x); }

BlockQ5_1 q5_1_reference(const float* x) { return asymmetric_reference<BlockQ5_1, kQ5MaxCode, false>(x); }

BlockQ8_0 q8_0_reference(const float* x) {
  constexpr float kMaxCode = 127.0f;
  const int32_t max_bits = quant::max_magnitude_bits(x, kBlockElems);
  const bool finite = max_bits < quant::kInfinityBits;
  float amax = 0.0f;
  if (finite) {
    amax = std::bit_cast<float>(max_bits);  // exact in any order without NaN
  } else {
    for (size_t j = 0; j < kBlockElems; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);  // ggml MAX
  }
  const float scale = amax / kMaxCode;
  const float inv_scale = scale != 0.0f ? 1.0f / scale : 0.0f;
  BlockQ8_0 block{};
  block.d = to_half(scale);
  if (finite && inv_scale <= FLT_MAX) {
    // |x · (1/d)| ≤ 127.0…: rounded without the libm call
    for (size_t j = 0; j < kBlockElems; ++j) {
      block.qs[j] = static_cast<int8_t>(quant::round_small_to_int(x[j] * inv_scale));
    }
  } else {
    for (size_t j = 0; j < kBlockElems; ++j) block.qs[j] = static_cast<int8_t>(round_to_int(x[j] * inv_scale));
  }
  return block;
}

/// Q1_0: d is the mean magnitude, each bit the sign (set for x ≥ 0, so also for −0).
BlockQ1_0 q1_0_reference(const float* x) {
  float sum_abs = 0.0f;
  for (size_t j = 0; j < BlockQ1_0::kElems; ++j) sum_abs += std::fabs(x[j]);
  BlockQ1_0 block{};
  block.d = to_half(sum_abs / static_cast<float>(BlockQ1_0::kElems));
  for (size_t j = 0; j < BlockQ1_0::kElems; ++j) {
    if (x[j] >= 0.0f) block.qs[j / 8] = static_cast<uint8_t>(block.qs[j / 8] | (1u << (j % 8)));
  }
  return block;
}

/// Q2_0: d is the largest magnitude; code = clamp(round(x/d), −1, 2) + 1 (round halves away
/// from zero), 2 bits per element LSB first.
BlockQ2_0 q2_0_reference(const float* x) {
  constexpr int kZero = 1;
  constexpr int kMaxCode = 3;
  float amax = 0.0f;
  for (size_t j = 0; j < BlockQ2_0::kElems; ++j) {
    if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]);
  }
  const float inv_scale = amax > 0.0f ? 1.0f / amax : 0.0f;
  BlockQ2_0 block{};
  block.d = to_half(amax);
  for (size_t j = 0; j < BlockQ2_0::kElems; ++j) {
    // ggml adds 1 to the int, where INT32_MIN cannot overflow
    const int code = std::clamp(round_to_int(x[j] * inv_scale) + kZero, 0, kMaxCode);
    block.qs[j / 4] = static_cast<uint8_t>(block.qs[j / 4] | (code << (2 * (j % 4))));
  }
  return block;
}

// ---- weighted quantisers (importance matrix given) ----------------------------------------

/// Q4_0 / Q5_0 with weights: make_qx_quants's symmetric fit, codes l + zero in [0, 2·zero).
template <class Block>
Block symmetric_weighted(const float* x, const float* weights, int zero) {
  int8_t fitted[kBlockElems];
  const float scale = quant::make_qx_quants(kBlockElems, zero, x, fitted, weights);
  uint8_t codes[kBlockElems];
  for (size_t j = 0; j < kBlockElems; ++j) codes[j] = static_cast<uint8_t>(fitted[j]);
  Block block{};
  block.d = to_half(scale);
  pack_codes(codes, block);
  return block;
}

/// Q4_1 / Q5_1 with weights: make_qkx3_quants's scale-and-min fit; m stores −min.
template <class Block>
Block offset_weighted(const float* x, const float* weights, int max_code) {
  constexpr quant::ScaleSearch kSearch{-0.9f, 0.05f, 36};
  uint8_t codes[kBlockElems];
  float min;
  const float scale = quant::make_qkx_quants(kBlockElems, max_code, x, weights, codes, &min, kSearch,
                                             quant::FitError::Squared);
  Block block{};
  block.d = to_half(scale);
  block.m = to_half(-min);
  pack_codes(codes, block);
  return block;
}

// ---- row drivers ---------------------------------------------------------------------------

/// Quantises `rows` × `n_per_row` values with `reference(x) → Block` (the importance matrix
/// unused). Blocks never straddle rows, so the rows are one run of blocks.
template <class Block, class Reference>
void quantize_reference(const float* src, std::byte* dst, size_t rows, size_t n_per_row, Reference reference) {
  const size_t blocks = rows * n_per_row / Block::kElems;
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    store_block(dst, block_idx, reference(src + block_idx * Block::kElems));
  }
}

/// As quantize_reference without an importance matrix; with one, each row's blocks go through
/// `weighted(x, weights) → Block` with weights[j] = imatrix[column] · √(σ² + x[j]²), σ² the mean
/// of x² over the row.
template <class Block, class Reference, class Weighted>
void quantize_rows_of(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix,
                      Reference reference, Weighted weighted) {
  if (!imatrix) {
    quantize_reference<Block>(src, dst, rows, n_per_row, reference);
    return;
  }
  const size_t blocks_per_row = n_per_row / Block::kElems;
  float weights[Block::kElems];
  for (size_t row = 0; row < rows; ++row) {
    const float* x = src + row * n_per_row;
    float sum_x2 = 0.0f;
    for (size_t j = 0; j < n_per_row; ++j) sum_x2 += x[j] * x[j];
    const float mean_square = sum_x2 / static_cast<float>(static_cast<int64_t>(n_per_row));
    for (size_t block_idx = 0; block_idx < blocks_per_row; ++block_idx) {
      const float* block_x = x + block_idx * Block::kElems;
      const float* importance = imatrix + block_idx * Block::kElems;
      for (size_t j = 0; j < Block::kElems; ++j) {
        weights[j] = importance[j] * std::sqrt(mean_square + block_x[j] * block_x[j]);
      }
      store_block(dst, row * blocks_per_row + block_idx, weighted(block_x, weights));
    }
  }
}

}  // namespace

void quantize_q4_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_rows_of<BlockQ4_0>(
      src, dst, rows, n_per_row, imatrix,
      [](const float* x) { return symmetric_reference<BlockQ4_0>(x, kQ4Zero, kQ4MaxCode); },
      [](const float* x, const float* weights) { return symmetric_weighted<BlockQ4_0>(x, weights, kQ4Zero); });
}

void quantize_q4_1(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_rows_of<BlockQ4_1>(
      src, dst, rows, n_per_row, imatrix, q4_1_reference,
      [](const float* x, const float* weights) { return offset_weighted<BlockQ4_1>(x, weights, kQ4MaxCode); });
}

void quantize_q5_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_rows_of<BlockQ5_0>(
      src, dst, rows, n_per_row, imatrix,
      [](const float* x) { return symmetric_reference<BlockQ5_0>(x, kQ5Zero, kQ5MaxCode); },
      [](const float* x, const float* weights) { return symmetric_weighted<BlockQ5_0>(x, weights, kQ5Zero); });
}

void quantize_q5_1(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_rows_of<BlockQ5_1>(
      src, dst, rows, n_per_row, imatrix, q5_1_reference,
      [](const float* x, const float* weights) { return offset_weighted<BlockQ5_1>(x, weights, kQ5MaxCode); });
}

void quantize_q8_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  quantize_reference<BlockQ8_0>(src, dst, rows, n_per_row, q8_0_reference);
}

void quantize_q1_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  quantize_reference<BlockQ1_0>(src, dst, rows, n_per_row, q1_0_reference);
}

void quantize_q2_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float*) {
  quantize_reference<BlockQ2_0>(src, dst, rows, n_per_row, q2_0_reference);
}

}  // namespace amn::kernels::gguf::AMN_QUANT_LEVEL
