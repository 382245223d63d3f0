// Quantisers for the GGUF K-quants (super-blocks of 256 with quantised sub-block scales): Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, byte-identical to ggml's quantize_<type>.
//
// Each super-block goes through the same four steps:
//   1. fit a scale (and min) to every sub-block (quant_common.hpp),
//   2. quantise those sub-block scales against one fp16 super-block scale (and min),
//   3. requantise every element with the scale the decoder will actually see (fp16 · code),
//      except in sub-blocks whose effective scale is 0, which keep the codes of step 1,
//   4. pack the codes.
// Without an importance matrix ggml runs its reference quantisers (quantize_row_<type>_ref);
// with one, the `_impl` variants: the fits are weighted by imatrix[column] · √(σ² + x²), σ² a
// multiple of the super-block's mean square, and the sub-block scales are fitted too
// (make_qp_quants / make_qx_quants) instead of scaled by their maximum.
#include <cmath>

#include "kernels/gguf/quant_common.hpp"
#include "kernels/gguf/quant_kernels.hpp"
#include "kernels/gguf/scales.hpp"

namespace amn::kernels::gguf::AMN_QUANT_LEVEL {
namespace {

using quant::FitError;
using quant::nearest_int;
using quant::ScaleSearch;
using quant::to_half;

constexpr size_t kSuperElems = kSuperBlockElems;
constexpr uint8_t kLowNibble = 0x0f;

/// Q2_K, Q3_K and Q6_K: 16 sub-blocks of 16; Q4_K and Q5_K: 8 sub-blocks of 32.
constexpr size_t kSmallSub = 16;
constexpr size_t kSmallSubs = kSuperElems / kSmallSub;
constexpr size_t kLargeSub = 32;
constexpr size_t kLargeSubs = kSuperElems / kLargeSub;

/// The scale search of every weighted min-and-scale fit (make_qkx3_quants in ggml's _impl).
constexpr ScaleSearch kWeightedSearch{-0.9f, 0.05f, 36};

// ---- shared steps ----------------------------------------------------------------------------

/// Σ x² in index order.
float sum_of_squares(const float* x, size_t count) {
  float sum = 0.0f;
  for (size_t i = 0; i < count; ++i) sum += x[i] * x[i];
  return sum;
}

/// Importance weights of the _impl quantisers: importance[i] · √(variance + x[i]²). Returns
/// their sum (in index order).
float importance_weights(const float* x, const float* importance, float variance, size_t count, float* weights) {
  float sum = 0.0f;
  for (size_t i = 0; i < count; ++i) {
    weights[i] = importance[i] * std::sqrt(variance + x[i] * x[i]);
    sum += weights[i];
  }
  return sum;
}

/// Step 3 for the types with a min: code = clamp(round((x + min) / scale), 0, max_code).
void requantize_with_min(const float* x, size_t count, float scale, float min, int max_code, uint8_t* codes) {
  for (size_t i = 0; i < count; ++i) {
    codes[i] = static_cast<uint8_t>(std::clamp(nearest_int((x[i] + min) / scale), 0, max_code));
  }
}

/// Step 3 for the symmetric types: code = clamp(round(x / scale), −bias, bias − 1) + bias.
void requantize_symmetric(const float* x, size_t count, float scale, int bias, int8_t* codes) {
  for (size_t i = 0; i < count; ++i) {
    codes[i] = static_cast<int8_t>(std::clamp(nearest_int(x[i] / scale), -bias, bias - 1) + bias);
  }
}

/// Q2_K / Q3_K code layout: each half (128 elements) fills 32 bytes; element e of a half sits
/// in byte e % 32 at bit 2 · (e / 32).
void pack_2bit_codes(const uint8_t* codes, uint8_t* qs) {
  constexpr size_t kHalfElems = 128;
  constexpr size_t kHalfBytes = 32;
  for (size_t half = 0; half < kSuperElems / kHalfElems; ++half) {
    const uint8_t* in = codes + half * kHalfElems;
    for (size_t byte = 0; byte < kHalfBytes; ++byte) {
      qs[half * kHalfBytes + byte] =
          static_cast<uint8_t>(in[byte] | (in[byte + 32] << 2) | (in[byte + 64] << 4) | (in[byte + 96] << 6));
    }
  }
}

/// Writes a block at `block_idx` for every super-block of every row, from
/// `quantise(x, importance)`; `importance` points at the imatrix entries of the super-block's
/// columns, or is null without an importance matrix.
template <class Block, class QuantiseBlock>
void quantize_superblocks(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix,
                          QuantiseBlock quantise) {
  const size_t blocks_per_row = n_per_row / kSuperElems;
  for (size_t row = 0; row < rows; ++row) {
    for (size_t block_idx = 0; block_idx < blocks_per_row; ++block_idx) {
      const float* x = src + row * n_per_row + block_idx * kSuperElems;
      const float* importance = imatrix ? imatrix + block_idx * kSuperElems : nullptr;
      quant::store_block(dst, row * blocks_per_row + block_idx, quantise(x, importance));
    }
  }
}

// ---- Q2_K ------------------------------------------------------------------------------------

/// Q2_K: 2-bit codes with a 4-bit scale and 4-bit min per sub-block of 16.
BlockQ2_K q2_k_block(const float* x, const float* importance) {
  constexpr int kMaxCode = 3;
  constexpr int kMaxScaleCode = 15;
  constexpr ScaleSearch kReferenceSearch{-0.5f, 0.1f, 15};
  float scales[kSmallSubs];
  float mins[kSmallSubs];
  uint8_t codes[kSuperElems];
  BlockQ2_K block{};
  // the sub-blocks side by side (quant::GroupLanes): every sum below still runs in element order
  quant::GroupLanes<kSmallSubs, kSmallSub> lanes;
  lanes.load_x(x);

  if (!importance) {
    // Fits weighted by |x| minimising the absolute error; the sub-block scales and mins are
    // then scaled so the largest of each gets code 15 (unclamped, as ggml).
    for (size_t i = 0; i < kSmallSub; ++i) {
      for (size_t sub = 0; sub < kSmallSubs; ++sub) lanes.w[i][sub] = std::fabs(lanes.x[i][sub]);
    }
    quant::make_qkx_quants_lanes(lanes, kMaxCode, codes, scales, mins, kReferenceSearch, FitError::Absolute);
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (size_t sub = 0; sub < kSmallSubs; ++sub) {
      if (scales[sub] > max_scale) max_scale = scales[sub];
      if (mins[sub] > max_min) max_min = mins[sub];
    }
    if (max_scale > 0) {
      const float inv_scale = kMaxScaleCode / max_scale;
      for (size_t sub = 0; sub < kSmallSubs; ++sub) {
        block.scales[sub] = static_cast<uint8_t>(nearest_int(inv_scale * scales[sub]));
      }
    }
    block.d = to_half(max_scale > 0 ? max_scale / kMaxScaleCode : 0.0f);
    if (max_min > 0) {
      const float inv_min = kMaxScaleCode / max_min;
      for (size_t sub = 0; sub < kSmallSubs; ++sub) {
        block.scales[sub] = static_cast<uint8_t>(block.scales[sub] | (nearest_int(inv_min * mins[sub]) << 4));
      }
    }
    block.dmin = to_half(max_min > 0 ? max_min / kMaxScaleCode : 0.0f);
  } else {
    const float variance = sum_of_squares(x, kSuperElems) / kSuperElems;
    float weight_sums[kSmallSubs] = {};
    for (size_t i = 0; i < kSmallSub; ++i) {
      for (size_t sub = 0; sub < kSmallSubs; ++sub) {
        const float xi = lanes.x[i][sub];
        lanes.w[i][sub] = importance[sub * kSmallSub + i] * std::sqrt(variance + xi * xi);
        weight_sums[sub] += lanes.w[i][sub];
      }
    }
    quant::make_qkx_quants_lanes(lanes, kMaxCode, codes, scales, mins, kWeightedSearch, FitError::Squared);
    uint8_t scale_codes[kSmallSubs];
    uint8_t min_codes[kSmallSubs];
    block.d = to_half(quant::make_qp_quants(kSmallSubs, kMaxScaleCode, scales, scale_codes, weight_sums));
    block.dmin = to_half(quant::make_qp_quants(kSmallSubs, kMaxScaleCode, mins, min_codes, weight_sums));
    for (size_t sub = 0; sub < kSmallSubs; ++sub) {
      block.scales[sub] = static_cast<uint8_t>(scale_codes[sub] | (min_codes[sub] << 4));
    }
  }

  const float d = block.d.to_f32();
  const float dmin = block.dmin.to_f32();
  for (size_t sub = 0; sub < kSmallSubs; ++sub) {
    const float sub_scale = d * static_cast<float>(block.scales[sub] & kLowNibble);
    if (sub_scale == 0.0f) continue;
    const float sub_min = dmin * static_cast<float>(block.scales[sub] >> 4);
    requantize_with_min(x + sub * kSmallSub, kSmallSub, sub_scale, sub_min, kMaxCode, codes + sub * kSmallSub);
  }
  pack_2bit_codes(codes, block.qs);
  return block;
}

// ---- Q3_K ------------------------------------------------------------------------------------

/// Packs 16 six-bit Q3_K scale codes (bias 32 included): low nibbles of codes 0..7 in the low
/// nibbles of bytes 0..7, of codes 8..15 in their high nibbles; the top 2 bits of code j go to
/// field j / 4 of byte 8 + j % 4 (the inverse of q3_scale).
void pack_q3_scales(const uint8_t* scale_codes, uint8_t* packed) {
  constexpr size_t kNibbleBytes = 8;
  std::fill(packed, packed + 12, uint8_t{0});
  for (size_t sub = 0; sub < kSmallSubs; ++sub) {
    const uint8_t code = scale_codes[sub];
    const auto low = static_cast<uint8_t>(code & kLowNibble);
    packed[sub % kNibbleBytes] = static_cast<uint8_t>(packed[sub % kNibbleBytes] | (sub < kNibbleBytes ? low : low << 4));
    packed[kNibbleBytes + sub % 4] = static_cast<uint8_t>(packed[kNibbleBytes + sub % 4] | ((code >> 4) << (2 * (sub / 4))));
  }
}

/// Q3_K: 3-bit codes (2 bits in qs, the third in hmask) with a signed 6-bit scale per
/// sub-block of 16 and no min.
BlockQ3_K q3_k_block(const float* x, const float* importance) {
  constexpr int kCodeBias = 4;    // codes −4..3
  constexpr int kScaleBias = 32;  // scale codes −32..31
  float scales[kSmallSubs];
  int8_t codes[kSuperElems];
  uint8_t scale_codes[kSmallSubs] = {};
  BlockQ3_K block{};

  if (!importance) {
    // The sub-block scale of largest magnitude (first on ties) maps to scale code −32.
    // the sub-blocks side by side (quant::GroupLanes), each fitted in element order
    quant::GroupLanes<kSmallSubs, kSmallSub> lanes;
    lanes.load_x(x);
    quant::make_q3_quants_lanes(lanes, x, kCodeBias, codes, scales);
    float max_scale = 0.0f;
    float amax = 0.0f;
    for (size_t sub = 0; sub < kSmallSubs; ++sub) {
      if (std::fabs(scales[sub]) > amax) {
        amax = std::fabs(scales[sub]);
        max_scale = scales[sub];
      }
    }
    if (max_scale != 0.0f) {
      const float inv_scale = -static_cast<float>(kScaleBias) / max_scale;
      for (size_t sub = 0; sub < kSmallSubs; ++sub) {
        const auto code = static_cast<int8_t>(nearest_int(inv_scale * scales[sub]));  // ggml's int8_t
        scale_codes[sub] = static_cast<uint8_t>(std::clamp<int>(code, -kScaleBias, kScaleBias - 1) + kScaleBias);
      }
      block.d = to_half(1 / inv_scale);
    } else {
      block.d = to_half(0.0f);
    }
  } else {
    const float variance = 2 * sum_of_squares(x, kSuperElems) / kSuperElems;
    float weights[kSmallSub];
    float weight_sums[kSmallSubs];
    for (size_t sub = 0; sub < kSmallSubs; ++sub) {
      const float* sub_x = x + sub * kSmallSub;
      weight_sums[sub] = importance_weights(sub_x, importance + sub * kSmallSub, variance, kSmallSub, weights);
      scales[sub] = quant::make_qx_quants(kSmallSub, kCodeBias, sub_x, codes + sub * kSmallSub, weights);
    }
    int8_t fitted[kSmallSubs];
    block.d = to_half(quant::make_qx_quants(kSmallSubs, kScaleBias, scales, fitted, weight_sums));
    for (size_t sub = 0; sub < kSmallSubs; ++sub) scale_codes[sub] = static_cast<uint8_t>(fitted[sub]);
  }
  pack_q3_scales(scale_codes, block.scales);

  const float d = block.d.to_f32();
  for (size_t sub = 0; sub < kSmallSubs; ++sub) {
    const float sub_scale = d * static_cast<float>(q3_scale(block.scales, sub));
    if (sub_scale == 0.0f) continue;
    requantize_symmetric(x + sub * kSmallSub, kSmallSub, sub_scale, kCodeBias, codes + sub * kSmallSub);
  }

  // Codes 4..7 set bit (e / 32) of hmask[e % 32] and keep their low 2 bits in qs (branch-free:
  // the codes are 0..7).
  constexpr size_t kMaskBytes = sizeof(block.hmask);
  uint8_t low_codes[kSuperElems];
  for (size_t bit = 0; bit < kSuperElems / kMaskBytes; ++bit) {
    for (size_t lane = 0; lane < kMaskBytes; ++lane) {
      const size_t elem = bit * kMaskBytes + lane;
      const int high = codes[elem] > 3 ? 1 : 0;
      block.hmask[lane] = static_cast<uint8_t>(block.hmask[lane] | (high << bit));
      low_codes[elem] = static_cast<uint8_t>(codes[elem] - kCodeBias * high);
    }
  }
  pack_2bit_codes(low_codes, block.qs);
  return block;
}

// ---- Q4_K and Q5_K ---------------------------------------------------------------------------

/// What differs between Q4_K and Q5_K before packing.
struct K4Variant {
  int max_code;                     // 15 or 31
  ScaleSearch reference_search;     // the min-and-scale search without an importance matrix
  bool clamp_weighted_scale_codes;  // ggml's Q5_K _impl caps make_qp_quants's codes at 63 again
};

/// Q4_K/Q5_K after step 3: the fp16 scales, the 12 packed scale/min bytes and the codes.
struct K4Fit {
  Half d;
  Half dmin;
  uint8_t scales[12];
  uint8_t codes[kSuperElems];
};

/// The 12 scale bytes of Q4_K/Q5_K, written with ggml's operations (the inverse of
/// k4_scale_min for codes ≤ 63): scale/min codes 0..3 in bytes 0..3 / 4..7; codes 4..7 as
/// nibbles of bytes 8..11 with their top two bits in bits 6..7 of bytes 0..7.
void pack_k4_scales(const uint8_t* scale_codes, const uint8_t* min_codes, uint8_t* packed) {
  constexpr size_t kDirect = 4;
  for (size_t sub = 0; sub < kLargeSubs; ++sub) {
    const uint8_t scale = scale_codes[sub];
    const uint8_t min = min_codes[sub];
    if (sub < kDirect) {
      packed[sub] = scale;
      packed[sub + kDirect] = min;
    } else {
      packed[sub + kDirect] = static_cast<uint8_t>((scale & kLowNibble) | ((min & kLowNibble) << 4));
      packed[sub - kDirect] = static_cast<uint8_t>(packed[sub - kDirect] | ((scale >> 4) << 6));
      packed[sub] = static_cast<uint8_t>(packed[sub] | ((min >> 4) << 6));
    }
  }
}

/// Steps 1–3 of Q4_K/Q5_K: a scale and min per sub-block of 32, both 6-bit.
K4Fit fit_k4(const float* x, const float* importance, const K4Variant& variant) {
  constexpr int kMaxScaleCode = 63;
  float scales[kLargeSubs];
  float mins[kLargeSubs];
  uint8_t scale_codes[kLargeSubs];
  uint8_t min_codes[kLargeSubs];
  K4Fit fit{};
  // the sub-blocks side by side (quant::GroupLanes): every sum below still runs in element order
  quant::GroupLanes<kLargeSubs, kLargeSub> lanes;
  lanes.load_x(x);

  if (!importance) {
    // Weights rms(sub-block) + |x|; the largest scale and min each get code 63.
    float sums_x2[kLargeSubs] = {};
    for (size_t i = 0; i < kLargeSub; ++i) {
      for (size_t sub = 0; sub < kLargeSubs; ++sub) sums_x2[sub] += lanes.x[i][sub] * lanes.x[i][sub];
    }
    float rms[kLargeSubs];
    for (size_t sub = 0; sub < kLargeSubs; ++sub) rms[sub] = std::sqrt(sums_x2[sub] / kLargeSub);
    for (size_t i = 0; i < kLargeSub; ++i) {
      for (size_t sub = 0; sub < kLargeSubs; ++sub) lanes.w[i][sub] = rms[sub] + std::fabs(lanes.x[i][sub]);
    }
    quant::make_qkx_quants_lanes(lanes, variant.max_code, fit.codes, scales, mins, variant.reference_search,
                                 FitError::Squared);
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (size_t sub = 0; sub < kLargeSubs; ++sub) {
      if (scales[sub] > max_scale) max_scale = scales[sub];
      if (mins[sub] > max_min) max_min = mins[sub];
    }
    const float inv_scale = max_scale > 0 ? kMaxScaleCode / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? kMaxScaleCode / max_min : 0.0f;
    for (size_t sub = 0; sub < kLargeSubs; ++sub) {
      // ggml narrows to uint8_t before capping
      scale_codes[sub] = std::min<uint8_t>(kMaxScaleCode, static_cast<uint8_t>(nearest_int(inv_scale * scales[sub])));
      min_codes[sub] = std::min<uint8_t>(kMaxScaleCode, static_cast<uint8_t>(nearest_int(inv_min * mins[sub])));
    }
    fit.d = to_half(max_scale / kMaxScaleCode);
    fit.dmin = to_half(max_min / kMaxScaleCode);
  } else {
    const float variance = 2 * sum_of_squares(x, kSuperElems) / kSuperElems;
    float weight_sums[kLargeSubs] = {};
    for (size_t i = 0; i < kLargeSub; ++i) {
      for (size_t sub = 0; sub < kLargeSubs; ++sub) {
        const float xi = lanes.x[i][sub];
        lanes.w[i][sub] = importance[sub * kLargeSub + i] * std::sqrt(variance + xi * xi);
        weight_sums[sub] += lanes.w[i][sub];
      }
    }
    quant::make_qkx_quants_lanes(lanes, variant.max_code, fit.codes, scales, mins, kWeightedSearch,
                                 FitError::Squared);
    fit.d = to_half(quant::make_qp_quants(kLargeSubs, kMaxScaleCode, scales, scale_codes, weight_sums));
    fit.dmin = to_half(quant::make_qp_quants(kLargeSubs, kMaxScaleCode, mins, min_codes, weight_sums));
    if (variant.clamp_weighted_scale_codes) {
      for (size_t sub = 0; sub < kLargeSubs; ++sub) {
        scale_codes[sub] = std::min<uint8_t>(kMaxScaleCode, scale_codes[sub]);
        min_codes[sub] = std::min<uint8_t>(kMaxScaleCode, min_codes[sub]);
      }
    }
  }
  pack_k4_scales(scale_codes, min_codes, fit.scales);

  const float d = fit.d.to_f32();
  const float dmin = fit.dmin.to_f32();
  for (size_t sub = 0; sub < kLargeSubs; ++sub) {
    const ScaleMin packed = k4_scale_min(fit.scales, sub);
    const float sub_scale = d * static_cast<float>(packed.scale);
    if (sub_scale == 0.0f) continue;
    const float sub_min = dmin * static_cast<float>(packed.min);
    requantize_with_min(x + sub * kLargeSub, kLargeSub, sub_scale, sub_min, variant.max_code,
                        fit.codes + sub * kLargeSub);
  }
  return fit;
}

constexpr K4Variant kQ4K{15, {-1.0f, 0.1f, 20}, false};
constexpr K4Variant kQ5K{31, {-0.5f, 0.1f, 15}, true};

/// Q4_K codes: sub-blocks 2c and 2c+1 share bytes qs[32c ..], low and high nibble.
BlockQ4_K q4_k_block(const float* x, const float* importance) {
  const K4Fit fit = fit_k4(x, importance, kQ4K);
  BlockQ4_K block{};
  block.d = fit.d;
  block.dmin = fit.dmin;
  std::copy(std::begin(fit.scales), std::end(fit.scales), block.scales);
  for (size_t pair = 0; pair < kLargeSubs / 2; ++pair) {
    const uint8_t* codes = fit.codes + pair * 2 * kLargeSub;
    for (size_t lane = 0; lane < kLargeSub; ++lane) {
      block.qs[pair * kLargeSub + lane] = static_cast<uint8_t>(codes[lane] | (codes[lane + kLargeSub] << 4));
    }
  }
  return block;
}

/// Q5_K codes: the low nibbles as Q4_K; bit 4 of lane l of sub-block s is bit s of qh[l].
BlockQ5_K q5_k_block(const float* x, const float* importance) {
  constexpr int kNibbleMax = 15;
  const K4Fit fit = fit_k4(x, importance, kQ5K);
  BlockQ5_K block{};
  block.d = fit.d;
  block.dmin = fit.dmin;
  std::copy(std::begin(fit.scales), std::end(fit.scales), block.scales);
  for (size_t pair = 0; pair < kLargeSubs / 2; ++pair) {
    const uint8_t* codes = fit.codes + pair * 2 * kLargeSub;
    for (size_t lane = 0; lane < kLargeSub; ++lane) {
      // codes are 0..31: bit 4 is the "> 15" of ggml's branches (which the CPU mispredicts)
      const int low = codes[lane];
      const int high = codes[lane + kLargeSub];
      block.qh[lane] = static_cast<uint8_t>(block.qh[lane] | ((low >> 4) << (2 * pair)) | ((high >> 4) << (2 * pair + 1)));
      block.qs[pair * kLargeSub + lane] = static_cast<uint8_t>((low & kNibbleMax) | ((high & kNibbleMax) << 4));
    }
  }
  return block;
}

// ---- Q6_K ------------------------------------------------------------------------------------

/// Q6_K layout: each half (128 elements) uses 64 bytes of ql and 32 of qh; quarter q (32
/// elements) of a half puts its low nibbles in nibble q / 2 of ql[32·(q % 2) + lane] and its
/// top 2 bits in field q of qh[lane].
void pack_q6_codes(const int8_t* codes, uint8_t* ql, uint8_t* qh) {
  constexpr size_t kHalfElems = 128;
  constexpr size_t kQuarter = 32;
  for (size_t half = 0; half < kSuperElems / kHalfElems; ++half) {
    const int8_t* in = codes + half * kHalfElems;
    uint8_t* low = ql + half * 2 * kQuarter;
    uint8_t* high = qh + half * kQuarter;
    for (size_t lane = 0; lane < kQuarter; ++lane) {
      const int q0 = in[lane];
      const int q1 = in[lane + kQuarter];
      const int q2 = in[lane + 2 * kQuarter];
      const int q3 = in[lane + 3 * kQuarter];
      low[lane] = static_cast<uint8_t>((q0 & kLowNibble) | ((q2 & kLowNibble) << 4));
      low[lane + kQuarter] = static_cast<uint8_t>((q1 & kLowNibble) | ((q3 & kLowNibble) << 4));
      high[lane] = static_cast<uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
    }
  }
}

/// Q6_K: 6-bit codes with a signed 8-bit scale per sub-block of 16. The sub-block fits weigh
/// by x² without an importance matrix, by the raw importance with one.
BlockQ6_K q6_k_block(const float* x, const float* importance) {
  constexpr int kCodeBias = 32;      // codes −32..31
  constexpr float kScaleRange = 128.0f;  // the largest scale gets scale code −128
  constexpr int kMaxScaleCode = 127;
  float scales[kSmallSubs];
  int8_t codes[kSuperElems];
  float max_scale = 0.0f;
  float max_abs_scale = 0.0f;
  for (size_t sub = 0; sub < kSmallSubs; ++sub) {
    const float* weights = importance ? importance + sub * kSmallSub : nullptr;
    scales[sub] = quant::make_qx_quants(kSmallSub, kCodeBias, x + sub * kSmallSub, codes + sub * kSmallSub, weights);
    if (std::fabs(scales[sub]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[sub]);
      max_scale = scales[sub];
    }
  }
  BlockQ6_K block{};
  if (max_abs_scale < quant::kGroupMaxEps) {
    block.d = to_half(0.0f);
    return block;
  }

  const float inv_scale = -kScaleRange / max_scale;
  block.d = to_half(1 / inv_scale);
  for (size_t sub = 0; sub < kSmallSubs; ++sub) {
    block.scales[sub] = static_cast<int8_t>(std::min(kMaxScaleCode, nearest_int(inv_scale * scales[sub])));
  }
  const float d = block.d.to_f32();
  for (size_t sub = 0; sub < kSmallSubs; ++sub) {
    const float sub_scale = d * static_cast<float>(block.scales[sub]);
    if (sub_scale == 0.0f) continue;
    requantize_symmetric(x + sub * kSmallSub, kSmallSub, sub_scale, kCodeBias, codes + sub * kSmallSub);
  }
  pack_q6_codes(codes, block.ql, block.qh);
  return block;
}

}  // namespace

void quantize_q2_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_superblocks<BlockQ2_K>(src, dst, rows, n_per_row, imatrix, q2_k_block);
}

void quantize_q3_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_superblocks<BlockQ3_K>(src, dst, rows, n_per_row, imatrix, q3_k_block);
}

void quantize_q4_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_superblocks<BlockQ4_K>(src, dst, rows, n_per_row, imatrix, q4_k_block);
}

void quantize_q5_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_superblocks<BlockQ5_K>(src, dst, rows, n_per_row, imatrix, q5_k_block);
}

void quantize_q6_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_superblocks<BlockQ6_K>(src, dst, rows, n_per_row, imatrix, q6_k_block);
}

}  // namespace amn::kernels::gguf::AMN_QUANT_LEVEL
