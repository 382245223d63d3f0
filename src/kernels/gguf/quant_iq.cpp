// Quantisers for the non-linear 4-bit types IQ4_NL and IQ4_XS, equal byte for byte to ggml's
// quantize_iq4_nl / quantize_iq4_xs (ggml-quants.c) with and without importance weights.
// The grid (i-quant) types are not implemented yet.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/quant_common.hpp"
#include "kernels/gguf/quant_kernels.hpp"
#include "kernels/gguf/tables.hpp"

namespace amn::kernels::gguf {
namespace {

using quant::nearest_int;
using quant::store_block;
using quant::to_half;

// ---- IQ4_NL / IQ4_XS -------------------------------------------------------------------------

constexpr size_t kIq4SubElems = 32;  // elements per fitted scale
constexpr int kIq4LastCode = static_cast<int>(kValuesIq4nl.size()) - 1;
/// The scale search tries the inverse scales (kValuesIq4nl[0] + step) / max, |step| ≤ this.
constexpr int kIq4ScaleSteps = 7;

float iq4_value(int code) { return static_cast<float>(kValuesIq4nl[static_cast<size_t>(code)]); }

/// The code whose IQ4_NL value is nearest to `x` (ggml best_index_int8): a binary search of the
/// ascending value table; a tie between two neighbours goes to the upper one, and a NaN ends
/// on the last code.
uint8_t nearest_iq4_code(float x) {
  if (x <= iq4_value(0)) return 0;
  if (x >= iq4_value(kIq4LastCode)) return kIq4LastCode;
  int below = 0;
  int above = kIq4LastCode;
  while (above - below > 1) {
    const int middle = (below + above) / 2;
    if (x < iq4_value(middle)) {
      above = middle;
    } else {
      below = middle;
    }
  }
  return static_cast<uint8_t>(x - iq4_value(below) < iq4_value(above) - x ? below : above);
}

/// σ²-like spread of a super-block used by the imatrix weights: 2 · Σx² / n.
float iq4_spread(const float* x, size_t count) {
  float sum_x2 = 0.0f;
  for (size_t elem = 0; elem < count; ++elem) sum_x2 += x[elem] * x[elem];
  return sum_x2 * (2.0f / static_cast<float>(count));
}

/// Fit weights of one sub-block: imatrix · √(spread + x²), or x² without an imatrix.
void iq4_weights(const float* x, const float* importance, float spread, float* weight) {
  for (size_t elem = 0; elem < kIq4SubElems; ++elem) {
    weight[elem] = importance ? importance[elem] * std::sqrt(spread + x[elem] * x[elem]) : x[elem] * x[elem];
  }
}

/// Σ w·q·x and Σ w·q² over a sub-block for the codes nearest to x · inverse_scale (q the code's
/// value): the numerator and denominator of the least-squares scale for those codes.
struct FitSums {
  float qx = 0.0f;
  float q2 = 0.0f;
};

FitSums iq4_fit_sums(const float* x, const float* weight, float inverse_scale) {
  FitSums sums;
  for (size_t elem = 0; elem < kIq4SubElems; ++elem) {
    const float value = iq4_value(nearest_iq4_code(inverse_scale * x[elem]));
    sums.qx += weight[elem] * value * x[elem];
    sums.q2 += weight[elem] * value * value;
  }
  return sums;
}

/// The scale of one sub-block (0 when every |x| is negligible). Starts from the scale that maps
/// the element of largest magnitude onto the table's extreme value −127, then tries the inverse
/// scales (−127 + step) / max for |step| ≤ 7, keeping the least-squares scale of whichever code
/// set explains the most weighted energy ((Σ w·q·x)² / Σ w·q²).
float fit_iq4_scale(const float* x, const float* weight) {
  float amax = 0.0f;
  float max = 0.0f;  // the signed element of largest magnitude (the first on ties)
  for (size_t elem = 0; elem < kIq4SubElems; ++elem) {
    const float magnitude = std::fabs(x[elem]);
    if (magnitude > amax) {
      amax = magnitude;
      max = x[elem];
    }
  }
  if (amax < quant::kGroupMaxEps) return 0.0f;
  const float start_scale = -max / iq4_value(0);
  FitSums sums = iq4_fit_sums(x, weight, 1 / start_scale);
  float scale = sums.q2 > 0 ? sums.qx / sums.q2 : 0.0f;
  float best = scale * sums.qx;
  for (int step = -kIq4ScaleSteps; step <= kIq4ScaleSteps; ++step) {
    const float inverse_scale = static_cast<float>(step + kValuesIq4nl[0]) / max;
    sums = iq4_fit_sums(x, weight, inverse_scale);
    if (sums.q2 > 0 && sums.qx * sums.qx > best * sums.q2) {
      scale = sums.qx / sums.q2;
      best = scale * sums.qx;
    }
  }
  return scale;
}

/// Packs the codes of a sub-block for x · inverse_scale: element j in the low nibble of byte j,
/// element j + 16 in the high nibble.
void pack_iq4_codes(const float* x, float inverse_scale, uint8_t* out) {
  constexpr size_t kHalf = kIq4SubElems / 2;
  for (size_t elem = 0; elem < kHalf; ++elem) {
    const uint8_t low = nearest_iq4_code(inverse_scale * x[elem]);
    const uint8_t high = nearest_iq4_code(inverse_scale * x[elem + kHalf]);
    out[elem] = static_cast<uint8_t>(low | (high << 4));
  }
}

BlockIq4Nl quantize_iq4_nl_block(const float* x, const float* importance) {
  float weight[kIq4SubElems];
  iq4_weights(x, importance, iq4_spread(x, BlockIq4Nl::kElems), weight);
  const float scale = fit_iq4_scale(x, weight);
  BlockIq4Nl block{};
  block.d = to_half(scale);
  pack_iq4_codes(x, scale != 0.0f ? 1 / scale : 0.0f, block.qs);
  return block;
}

/// IQ4_XS: each sub-block's fitted scale is stored as a 6-bit multiple l − 32 of the super-block
/// scale d = −(fitted scale of largest magnitude) / 32, and the codes are chosen again for the
/// stored scale d · (l − 32).
BlockIq4Xs quantize_iq4_xs_block(const float* x, const float* importance) {
  constexpr size_t kSubBlocks = BlockIq4Xs::kElems / kIq4SubElems;
  constexpr int kScaleBias = 32;
  constexpr int kScaleMax = 31;
  const float spread = iq4_spread(x, BlockIq4Xs::kElems);
  float sub_scales[kSubBlocks];
  float max_scale = 0.0f;  // the signed sub-block scale of largest magnitude
  float amax_scale = 0.0f;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    float weight[kIq4SubElems];
    const float* sub_x = x + sub * kIq4SubElems;
    iq4_weights(sub_x, importance ? importance + sub * kIq4SubElems : nullptr, spread, weight);
    sub_scales[sub] = fit_iq4_scale(sub_x, weight);
    if (std::fabs(sub_scales[sub]) > amax_scale) {
      amax_scale = std::fabs(sub_scales[sub]);
      max_scale = sub_scales[sub];
    }
  }
  BlockIq4Xs block{};
  const float scale = -max_scale / static_cast<float>(kScaleBias);
  block.d = to_half(scale);
  const float inverse_scale = scale != 0.0f ? 1 / scale : 0.0f;
  unsigned scales_high = 0;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    const int level = std::clamp(nearest_int(inverse_scale * sub_scales[sub]), -kScaleBias, kScaleMax);
    const float sub_scale = scale * static_cast<float>(level);
    pack_iq4_codes(x + sub * kIq4SubElems, sub_scale != 0.0f ? 1 / sub_scale : 0.0f,
                   block.qs + sub * (kIq4SubElems / 2));
    // 6-bit biased scale: low nibble in nibble sub % 2 of scales_l[sub / 2], top 2 bits in
    // field sub of scales_h
    const auto biased = static_cast<unsigned>(level + kScaleBias);
    block.scales_l[sub / 2] |= static_cast<uint8_t>((biased & 0xf) << (4 * (sub % 2)));
    scales_high |= (biased >> 4) << (2 * sub);
  }
  block.scales_h = LeU16{{static_cast<uint8_t>(scales_high), static_cast<uint8_t>(scales_high >> 8)}};
  return block;
}

/// Runs `quantize_block(x, importance)` over every block of every row; the imatrix holds one
/// weight per column, so block b of each row uses entries b · kElems onwards.
template <class Block, class QuantizeBlock>
void quantize_blocks(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix,
                     QuantizeBlock quantize_block) {
  const size_t blocks_per_row = n_per_row / Block::kElems;
  for (size_t row = 0; row < rows; ++row) {
    for (size_t col_block = 0; col_block < blocks_per_row; ++col_block) {
      const size_t offset = col_block * Block::kElems;
      const Block block = quantize_block(src + row * n_per_row + offset, imatrix ? imatrix + offset : nullptr);
      store_block(dst, row * blocks_per_row + col_block, block);
    }
  }
}

}  // namespace

void quantize_iq4_nl(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq4Nl>(src, dst, rows, n_per_row, imatrix, quantize_iq4_nl_block);
}

void quantize_iq4_xs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq4Xs>(src, dst, rows, n_per_row, imatrix, quantize_iq4_xs_block);
}

void quantize_iq3_s(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq3_s: not implemented"); }
void quantize_iq3_xxs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq3_xxs: not implemented"); }
void quantize_iq2_s(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq2_s: not implemented"); }
void quantize_iq2_xs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq2_xs: not implemented"); }
void quantize_iq2_xxs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq2_xxs: not implemented"); }
void quantize_iq1_s(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq1_s: not implemented"); }
void quantize_iq1_m(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq1_m: not implemented"); }

}  // namespace amn::kernels::gguf
