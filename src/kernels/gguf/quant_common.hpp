// Numeric building blocks of ggml's quantisers (ggml-quants.c), shared by the quant_*.cpp files:
// the rounding and conversion rules, and the searches that fit a scale (and min) to a group of
// values.
//
// Every function evaluates ggml's float expressions in ggml's order and keeps ggml's integer
// types for the codes (int8_t / uint8_t arrays, wrapped the same way), so the bytes agree with
// ggml's. That needs plain IEEE single-precision arithmetic on both sides: both are compiled
// without -ffast-math (no reassociated sums); the scalar build has no -march, so x86-64 has no
// FMA to contract a · b + c into, and the AVX2 build (quant_avx2.hpp) enables FMA but is compiled
// with -ffp-contract=off (-std=c++20 alone does not prevent contraction in GCC's C++).
//
// Several searches below run independent chains of ggml's sequential sums side by side (trial
// scales, or the sub-blocks of a super-block, as the lanes of an array the compiler vectorises):
// each chain still adds in element order, and only order-free results (integer maxima, exact
// whole-number sums) are formed in another order.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/convert.hpp"
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/quant_kernels.hpp"  // AMN_QUANT_LEVEL

namespace amn::kernels::gguf::AMN_QUANT_LEVEL::quant {

/// Groups whose largest magnitude is below this are all zero (ggml GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

/// Round to nearest, ties to even, for |value| < 2^22 (ggml nearest_int). Adding 1.5 · 2^23
/// moves the value into the binade where the float spacing is 1, so the addition itself rounds
/// and the integer sits in the low 23 mantissa bits, offset by 2^22. Outside that range (and for
/// NaN) the result is the same meaningless number ggml gets.
[[nodiscard]] inline int nearest_int(float value) {
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
  constexpr int32_t kMantissaMask = 0x007fffff;
  constexpr int32_t kOffset = 0x00400000;  // the 0.5 · 2^23 part of kMagic, in mantissa units
  return (std::bit_cast<int32_t>(value + kMagic) & kMantissaMask) - kOffset;
}

/// A C cast float → int as ggml's x86-64 build executes it (cvttss2si): truncates toward zero;
/// NaN and values outside int32 give INT32_MIN. ggml then narrows to int8_t/uint8_t, which keeps
/// the low byte.
[[nodiscard]] inline int32_t truncate_to_int(float value) {
  constexpr float kLimit = 2147483648.0f;  // 2^31
  if (!(value >= -kLimit && value < kLimit)) return INT32_MIN;
  return static_cast<int32_t>(value);
}

/// roundf (halves away from zero) followed by the cast above.
[[nodiscard]] inline int32_t round_to_int(float value) { return truncate_to_int(std::round(value)); }

/// round_to_int for a finite |value| < 2^23, without the libm call: the truncation plus one
/// step away from zero when the (exact) fraction it dropped is at least ½. Branch-free, so loops
/// of it vectorise.
[[nodiscard]] inline int32_t round_small_to_int(float value) {
  const auto truncated = static_cast<float>(static_cast<int32_t>(value));
  const float fraction = value - truncated;
  // whole numbers below 2^23: the float sums are exact (and convert to int once)
  const float step = (fraction >= 0.5f ? 1.0f : 0.0f) - (fraction <= -0.5f ? 1.0f : 0.0f);
  return static_cast<int32_t>(truncated + step);
}

/// The bits of |value| as an int32: for values that are not NaN they order as the magnitudes do;
/// infinity has kInfinityBits, every NaN more.
inline constexpr int32_t kInfinityBits = 0x7f800000;
[[nodiscard]] inline int32_t magnitude_bits(float value) {
  constexpr int32_t kMagnitudeMask = 0x7fffffff;
  return std::bit_cast<int32_t>(value) & kMagnitudeMask;
}

/// The largest magnitude_bits of `count` values. An integer maximum, so it vectorises, where
/// ggml's chain of float comparisons (whose result depends on the order only through NaN) does
/// not: below kInfinityBits the values are finite, and bit_cast<float> of the result is their
/// largest |x| in any order.
[[nodiscard]] inline int32_t max_magnitude_bits(const float* x, size_t count) {
  int32_t max_bits = 0;
  for (size_t i = 0; i < count; ++i) max_bits = std::max(max_bits, magnitude_bits(x[i]));
  return max_bits;
}

/// The value of largest magnitude with its sign, the first one on ties, of `count` finite values
/// whose largest magnitude_bits is `max_bits` (ggml's `if (amax < fabsf(x)) { amax = …; max = x; }`
/// from amax = max = 0).
[[nodiscard]] inline float signed_max_of_finite(const float* x, size_t count, int32_t max_bits) {
  if (max_bits == 0) return 0.0f;  // all ±0: ggml never updates max
  for (size_t i = 0; i < count; ++i) {
    if (magnitude_bits(x[i]) == max_bits) return x[i];
  }
  return 0.0f;
}

/// The extreme value of a group as ggml's `if (amax < fabsf(x)) { amax = fabsf(x); max = x; }`
/// finds it (the first one on ties, from amax = max = 0), when the group is finite.
struct SignedMax {
  bool finite;  // no infinity or NaN in the group; the fields below are meaningless otherwise
  float amax;
  float max;
};

/// SignedMax of `count` values in one pass of integer maxima (which vectorise): the largest bits
/// of the values with the sign clear and, apart, of those with the sign set. Only when the two
/// tie (all zeros, or +m and −m both present) is the first extreme element looked up.
[[nodiscard]] inline SignedMax signed_max(const float* x, size_t count) {
  constexpr int32_t kSignBit = INT32_MIN;
  int32_t positive = 0;  // values with the sign set are negative ints here, never the maximum
  int32_t negative = 0;
  for (size_t i = 0; i < count; ++i) {
    const auto bits = std::bit_cast<int32_t>(x[i]);
    positive = std::max(positive, bits);
    negative = std::max(negative, bits ^ kSignBit);
  }
  const int32_t max_bits = std::max(positive, negative);
  if (max_bits >= kInfinityBits) return {false, 0.0f, 0.0f};
  const float amax = std::bit_cast<float>(max_bits);
  if (positive != negative) return {true, amax, positive > negative ? amax : -amax};
  return {true, amax, signed_max_of_finite(x, count, max_bits)};
}

/// GGML_FP32_TO_FP16. amn's f32_to_f16 gives ggml's bits for every float except NaN (checked
/// over all 2^32 inputs): ggml drops the payload and stores the quiet NaN 0x7e00 with the sign.
[[nodiscard]] inline Half to_half(float value) {
  constexpr uint16_t kQuietNan = 0x7e00;
  uint16_t bits = f32_to_f16(value);
  if (std::isnan(value)) bits = static_cast<uint16_t>((std::signbit(value) ? 0x8000u : 0u) | kQuietNan);
  return Half{{{static_cast<uint8_t>(bits & 0xff), static_cast<uint8_t>(bits >> 8)}}};
}

/// Stores `block` as block `block_idx` of a packed array (any alignment).
template <class Block>
inline void store_block(std::byte* dst, size_t block_idx, const Block& block) {
  std::memcpy(dst + block_idx * sizeof(Block), &block, sizeof(Block));
}

/// The weight of element `i` in the least-squares fits: the given weight, or x² without one.
[[nodiscard]] inline float weight_or_square(const float* weights, const float* x, int i) {
  return weights ? weights[i] : x[i] * x[i];
}

/// The element of largest magnitude (the first one on ties) and that magnitude; {0, 0} for a
/// group of zeros.
struct Largest {
  float value;
  float magnitude;
};
[[nodiscard]] inline Largest largest_magnitude(const float* x, int n) {
  Largest largest{0.0f, 0.0f};
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > largest.magnitude) largest = {x[i], ax};
  }
  return largest;
}

/// make_qx_quants (below) as ggml writes it: one trial scale after the other. Used for groups
/// holding an infinity or NaN.
[[nodiscard]] inline float make_qx_quants_sequential(int n, int nmax, const float* x, int8_t* codes,
                                                     const float* weights) {
  constexpr int kSteps = 9;
  constexpr float kStepSize = 0.1f;
  const auto [max, amax] = largest_magnitude(x, n);
  if (amax < kGroupMaxEps) {
    std::fill(codes, codes + n, int8_t{0});
    return 0.0f;
  }
  const auto code_for = [&](float inv_scale, int i) {
    return std::clamp(nearest_int(inv_scale * x[i]), -nmax, nmax - 1);
  };
  // Σ w·x·l and Σ w·l² for the codes of `inv_scale`; each product evaluated as ggml's w*x[i]*l.
  const auto fit_sums = [&](float inv_scale, float& sum_lx, float& sum_l2) {
    sum_lx = 0.0f;
    sum_l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const auto code = static_cast<float>(code_for(inv_scale, i));
      const float w = weight_or_square(weights, x, i);
      sum_lx += w * x[i] * code;
      sum_l2 += w * code * code;
    }
  };
  const auto store_codes = [&](float inv_scale) {
    for (int i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(nmax + code_for(inv_scale, i));
  };

  const float start_inv_scale = static_cast<float>(-nmax) / max;
  float sum_lx;
  float sum_l2;
  fit_sums(start_inv_scale, sum_lx, sum_l2);
  store_codes(start_inv_scale);
  float scale = sum_l2 != 0.0f ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;  // the weighted error drop Σ w·x·l · d; larger is better
  for (int step = -kSteps; step <= kSteps; ++step) {
    if (step == 0) continue;
    const float inv_scale = -(static_cast<float>(nmax) + kStepSize * static_cast<float>(step)) / max;
    fit_sums(inv_scale, sum_lx, sum_l2);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      store_codes(inv_scale);
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

/// Rounds a float to the nearest whole number, ties to even, for |value| < 2^22 (the float
/// form of nearest_int: equal to it there).
[[nodiscard]] inline float round_even_small(float value) {
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23: the sum has a float spacing of 1
  return (value + kMagic) - kMagic;
}

/// Symmetric codes: finds d so that x[i] ≈ d · l[i], l[i] in [−nmax, nmax − 1], minimising
/// Σ w · (x − d·l)² (ggml make_qx_quants with rmse_type 1, the only kind its quantisers use).
/// The start is d = max / −nmax, where max is the value of largest magnitude (the first one on
/// ties); the search then tries 18 nearby inverse scales (nmax ± 0.1…0.9) / −max and keeps the
/// best weighted fit. Writes codes[i] = l[i] + nmax and returns d; a group with every
/// |x| < kGroupMaxEps gets codes 0 and d = 0. `weights` null means w = x².
///
/// The 19 trials are independent until ggml compares them in order, so their sums are formed
/// side by side (an array the compiler vectorises), each still adding in element order; on a
/// finite group every |inverse scale · x| ≤ nmax + 1, where clamping before rounding to even
/// equals ggml's clamp of nearest_int.
[[nodiscard]] inline float make_qx_quants(int n, int nmax, const float* x, int8_t* codes, const float* weights) {
  constexpr int kSteps = 9;
  constexpr float kStepSize = 0.1f;
  constexpr int kTrials = 2 * kSteps + 1;
  constexpr int kLanes = 20;  // kTrials rounded up to whole vectors; the last lane repeats trial 0
  const SignedMax extreme = signed_max(x, static_cast<size_t>(n));
  if (!extreme.finite) return make_qx_quants_sequential(n, nmax, x, codes, weights);
  if (extreme.amax < kGroupMaxEps) {
    std::fill(codes, codes + n, int8_t{0});
    return 0.0f;
  }
  const float max = extreme.max;

  // trial 0: ggml's start −nmax / max; trial k ≥ 1: its step k − 10 (k ≤ 9) or k − 9
  float inv_scales[kLanes];
  inv_scales[0] = static_cast<float>(-nmax) / max;
  for (int trial = 1; trial < kTrials; ++trial) {
    const int step = trial <= kSteps ? trial - kSteps - 1 : trial - kSteps;
    inv_scales[trial] = -(static_cast<float>(nmax) + kStepSize * static_cast<float>(step)) / max;
  }
  for (int lane = kTrials; lane < kLanes; ++lane) inv_scales[lane] = inv_scales[0];

  const auto low = static_cast<float>(-nmax);
  const auto high = static_cast<float>(nmax - 1);
  float sum_lx[kLanes] = {};
  float sum_l2[kLanes] = {};
  for (int i = 0; i < n; ++i) {
    const float w = weight_or_square(weights, x, i);
    const float wx = w * x[i];  // ggml's w*x[i]*l
    for (int lane = 0; lane < kLanes; ++lane) {
      const float code = round_even_small(std::min(std::max(inv_scales[lane] * x[i], low), high));
      sum_lx[lane] += wx * code;
      sum_l2[lane] += w * code * code;
    }
  }

  float scale = sum_l2[0] != 0.0f ? sum_lx[0] / sum_l2[0] : 0.0f;
  float best = scale * sum_lx[0];  // the weighted error drop Σ w·x·l · d; larger is better
  int best_trial = 0;
  for (int trial = 1; trial < kTrials; ++trial) {
    if (sum_l2[trial] > 0 && sum_lx[trial] * sum_lx[trial] > best * sum_l2[trial]) {
      scale = sum_lx[trial] / sum_l2[trial];
      best = scale * sum_lx[trial];
      best_trial = trial;
    }
  }
  const float inv_scale = inv_scales[best_trial];
  for (int i = 0; i < n; ++i) {
    codes[i] = static_cast<int8_t>(nmax + std::clamp(nearest_int(inv_scale * x[i]), -nmax, nmax - 1));
  }
  return scale;
}

/// Symmetric codes for Q3_K (ggml make_q3_quants with do_rmse, the only variant used): the codes
/// of d = max / −nmax, then up to 5 passes of coordinate descent: each code moves to the value
/// the least-squares scale of the other codes suggests when that raises (Σ w·x·l)² / Σ w·l²,
/// w = x². Writes codes[i] = l[i] + nmax, l in [−nmax, nmax − 1], and returns Σ w·x·l / Σ w·l².
[[nodiscard]] inline float make_q3_quants(int n, int nmax, const float* x, int8_t* codes) {
  constexpr int kPasses = 5;
  const auto [max, amax] = largest_magnitude(x, n);
  if (amax < kGroupMaxEps) {
    std::fill(codes, codes + n, int8_t{0});
    return 0.0f;
  }
  const float inv_scale = static_cast<float>(-nmax) / max;
  float sum_lx = 0.0f;
  float sum_l2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int code = std::clamp(nearest_int(inv_scale * x[i]), -nmax, nmax - 1);
    codes[i] = static_cast<int8_t>(code);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * static_cast<float>(code);
    sum_l2 += w * static_cast<float>(code) * static_cast<float>(code);
  }
  for (int pass = 0; pass < kPasses; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const auto old_code = static_cast<float>(codes[i]);
      float others_lx = sum_lx - w * x[i] * old_code;
      if (!(others_lx > 0)) continue;
      float others_l2 = sum_l2 - w * old_code * old_code;
      const int new_code = std::clamp(nearest_int(x[i] * others_l2 / others_lx), -nmax, nmax - 1);
      if (new_code == codes[i]) continue;
      const auto new_code_f = static_cast<float>(new_code);
      others_lx += w * x[i] * new_code_f;
      others_l2 += w * new_code_f * new_code_f;
      if (others_l2 > 0 && others_lx * others_lx * sum_l2 > sum_lx * sum_lx * others_l2) {
        codes[i] = static_cast<int8_t>(new_code);
        sum_lx = others_lx;
        sum_l2 = others_l2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(codes[i] + nmax);
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

/// The grid of inverse scales make_qkx_quants tries: (rmin + rdelta · step + nmax) / (max − min)
/// for step = 0 … steps.
struct ScaleSearch {
  float rmin;
  float rdelta;
  int steps;
};

/// Which error make_qkx_quants minimises.
enum class FitError { Squared, Absolute };

/// Codes with an offset: finds d, m so that x[i] ≈ d · l[i] − m with l in [0, nmax] and m ≥ 0
/// (ggml make_qkx2_quants and make_qkx3_quants, which differ only in make_qkx3 accepting null
/// weights, meaning w = x²). Starts from min(x) (capped at 0) and the range, then for each
/// inverse scale of `search` solves the weighted least-squares d and min for those codes (d alone
/// when the min comes out positive) and keeps the fit with the smallest Σ w · error. As in ggml,
/// each trial measures the range and the codes from the best min found so far, not the first.
/// Writes the codes, *min_out = m, returns d; a constant group returns 0 with codes 0.
[[nodiscard]] inline float make_qkx_quants(int n, int nmax, const float* x, const float* weights, uint8_t* codes,
                                           float* min_out, ScaleSearch search, FitError error_kind) {
  constexpr int kMaxGroup = 32;
  assert(n <= kMaxGroup);
  const auto error_of = [&](float scale, float min, const uint8_t* trial) {
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      float diff = scale * static_cast<float>(trial[i]) + min - x[i];
      diff = error_kind == FitError::Absolute ? std::fabs(diff) : diff * diff;
      error += weight_or_square(weights, x, i) * diff;
    }
    return error;
  };

  float min = x[0];
  float max = x[0];
  float sum_w = weight_or_square(weights, x, 0);
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weight_or_square(weights, x, i);
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(codes, codes + n, uint8_t{0});
    *min_out = -min;
    return 0.0f;
  }
  const auto code_for = [&](float inv_scale, int i) {
    return static_cast<uint8_t>(std::clamp(nearest_int(inv_scale * (x[i] - min)), 0, nmax));
  };

  float inv_scale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / inv_scale;
  for (int i = 0; i < n; ++i) codes[i] = code_for(inv_scale, i);
  float best_error = error_of(scale, min, codes);
  if (search.steps < 1) {
    *min_out = -min;
    return scale;
  }
  uint8_t trial[kMaxGroup];
  for (int step = 0; step <= search.steps; ++step) {
    // ggml measures the range from the best min found so far, and codes relative to it
    inv_scale = (search.rmin + search.rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0.0f;
    float sum_l2 = 0.0f;
    float sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      trial[i] = code_for(inv_scale, i);
      const auto code = static_cast<float>(trial[i]);
      const float w = weight_or_square(weights, x, i);
      sum_l += w * code;
      sum_l2 += w * code * code;
      sum_xl += w * code * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float trial_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float trial_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (trial_min > 0) {
      trial_min = 0;
      trial_scale = sum_xl / sum_l2;
    }
    const float error = error_of(trial_scale, trial_min, trial);
    if (error < best_error) {
      std::copy(trial, trial + n, codes);
      best_error = error;
      scale = trial_scale;
      min = trial_min;
    }
  }
  *min_out = -min;
  return scale;
}

/// Before the loop over the lanes of GroupLanes inside a loop over elements: keeps GCC from
/// unrolling it before vectorising, which it would then do across elements with shuffles.
#if defined(__GNUC__) && !defined(__clang__)
#define AMN_LANE_LOOP _Pragma("GCC unroll 1")
#else
#define AMN_LANE_LOOP
#endif

/// `kGroups` groups of `kElems` values (and their weights) transposed, so that element i of
/// every group sits side by side: x[i][g] = element i of group g. Loops over g vectorise, one
/// group per lane, while each group's sums still run in element order.
template <size_t kGroups, size_t kElems>
struct GroupLanes {
  float x[kElems][kGroups];
  float w[kElems][kGroups];

  /// Loads x from `src` (group g at src + g · kElems).
  void load_x(const float* src) {
    for (size_t g = 0; g < kGroups; ++g) {
      for (size_t i = 0; i < kElems; ++i) x[i][g] = src[g * kElems + i];
    }
  }
  /// Group g's x and weights back in element order.
  void group(size_t g, float* x_out, float* w_out) const {
    for (size_t i = 0; i < kElems; ++i) {
      x_out[i] = x[i][g];
      w_out[i] = w[i][g];
    }
  }
};

/// make_qkx_quants on every group of `lanes` at once (weights given), the groups in lockstep:
/// group g's codes go to codes + g · kElems, its d to scales[g] and m to mins_out[g]. Each lane
/// performs make_qkx_quants's float operations in its order; the branches become selects. The
/// trial codes are rounded as floats, round to even then clamp (rounding first keeps GCC from
/// folding the clamped ends into branches), which equals ggml's
/// clamp(nearest_int) while |scale · (x − min)| < 2^22; a group where that fails (a constant
/// group, an infinity or NaN somewhere) is redone by make_qkx_quants.
template <size_t kGroups, size_t kElems>
void make_qkx_quants_lanes(const GroupLanes<kGroups, kElems>& lanes, int nmax, uint8_t* codes, float* scales,
                           float* mins_out, ScaleSearch search, FitError error_kind) {
  using Lane = float[kGroups];
  constexpr float kExactLimit = 4194304.0f;  // 2^22
  const auto top = static_cast<float>(nmax);
  const bool absolute = error_kind == FitError::Absolute;
  const auto& x = lanes.x;
  const auto& w = lanes.w;

  Lane min;
  Lane max;
  Lane sum_w;
  Lane sum_x;
  for (size_t g = 0; g < kGroups; ++g) {
    min[g] = x[0][g];
    max[g] = x[0][g];
    sum_w[g] = w[0][g];
    sum_x[g] = sum_w[g] * x[0][g];
  }
  for (size_t i = 1; i < kElems; ++i) {
    AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
      min[g] = x[i][g] < min[g] ? x[i][g] : min[g];
      max[g] = x[i][g] > max[g] ? x[i][g] : max[g];
      sum_w[g] += w[i][g];
      sum_x[g] += w[i][g] * x[i][g];
    }
  }
  Lane inv_scale;
  Lane scale;
  Lane best_error = {};
  Lane best_inv_scale;  // the trial whose codes are kept: its inverse scale and the min it used
  Lane best_code_min;
  int32_t exact[kGroups];  // 1 while every trial value of the group was below 2^22
  for (size_t g = 0; g < kGroups; ++g) {
    min[g] = min[g] > 0 ? 0.0f : min[g];
    inv_scale[g] = top / (max[g] - min[g]);
    scale[g] = 1 / inv_scale[g];
    best_inv_scale[g] = inv_scale[g];
    best_code_min[g] = min[g];
    exact[g] = 1;
  }
  for (size_t i = 0; i < kElems; ++i) {
    AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
      const float value = inv_scale[g] * (x[i][g] - min[g]);
      exact[g] &= static_cast<int32_t>(std::fabs(value) < kExactLimit);
      const float code = std::min(std::max(round_even_small(value), 0.0f), top);
      float diff = scale[g] * code + min[g] - x[i][g];
      diff = absolute ? std::fabs(diff) : diff * diff;
      best_error[g] += w[i][g] * diff;
    }
  }
  float trial[kElems][kGroups];
  for (int step = 0; step <= search.steps; ++step) {
    Lane sum_l = {};
    Lane sum_l2 = {};
    Lane sum_xl = {};
    AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
      inv_scale[g] = (search.rmin + search.rdelta * static_cast<float>(step) + top) / (max[g] - min[g]);
    }
    for (size_t i = 0; i < kElems; ++i) {
      AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
        const float value = inv_scale[g] * (x[i][g] - min[g]);
        exact[g] &= static_cast<int32_t>(std::fabs(value) < kExactLimit);
        const float code = std::min(std::max(round_even_small(value), 0.0f), top);
        trial[i][g] = code;
        sum_l[g] += w[i][g] * code;
        sum_l2[g] += w[i][g] * code * code;
        sum_xl[g] += w[i][g] * code * x[i][g];
      }
    }
    Lane det;
    Lane trial_scale;
    Lane trial_min;
    AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
      // both branches' values computed, then selected (so the loop has no branch to vectorise)
      det[g] = sum_w[g] * sum_l2[g] - sum_l[g] * sum_l[g];
      const float fitted_scale = (sum_w[g] * sum_xl[g] - sum_x[g] * sum_l[g]) / det[g];
      const float fitted_min = (sum_l2[g] * sum_x[g] - sum_l[g] * sum_xl[g]) / det[g];
      const float capped_scale = sum_xl[g] / sum_l2[g];
      const bool capped = fitted_min > 0;
      trial_scale[g] = capped ? capped_scale : fitted_scale;
      trial_min[g] = capped ? 0.0f : fitted_min;
    }
    Lane error = {};
    for (size_t i = 0; i < kElems; ++i) {
      AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
        float diff = trial_scale[g] * trial[i][g] + trial_min[g] - x[i][g];
        diff = absolute ? std::fabs(diff) : diff * diff;
        error[g] += w[i][g] * diff;
      }
    }
    AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
      const bool better = static_cast<int>(det[g] > 0) & static_cast<int>(error[g] < best_error[g]);
      best_error[g] = better ? error[g] : best_error[g];
      scale[g] = better ? trial_scale[g] : scale[g];
      best_inv_scale[g] = better ? inv_scale[g] : best_inv_scale[g];
      best_code_min[g] = better ? min[g] : best_code_min[g];
      min[g] = better ? trial_min[g] : min[g];
    }
  }

  for (size_t g = 0; g < kGroups; ++g) {
    uint8_t* group_codes = codes + g * kElems;
    if (!exact[g]) {
      float group_x[kElems];
      float group_w[kElems];
      lanes.group(g, group_x, group_w);
      scales[g] = make_qkx_quants(static_cast<int>(kElems), nmax, group_x, group_w, group_codes, &mins_out[g], search,
                                  error_kind);
      continue;
    }
    for (size_t i = 0; i < kElems; ++i) {
      group_codes[i] = static_cast<uint8_t>(
          std::clamp(nearest_int(best_inv_scale[g] * (x[i][g] - best_code_min[g])), 0, nmax));
    }
    scales[g] = scale[g];
    mins_out[g] = -min[g];
  }
}

/// make_q3_quants on every group of `lanes` (x only; the weights are x²): group g's codes (bias
/// nmax included) go to codes + g · kElems and its d to scales[g]. The start codes and their sums
/// are formed for all groups at once, side by side (each sum in element order); the passes of
/// coordinate descent, which rarely change a code and so mostly cost predictable branches, then
/// run group by group as in ggml. Groups with an infinity or NaN are redone by make_q3_quants.
template <size_t kGroups, size_t kElems>
void make_q3_quants_lanes(const GroupLanes<kGroups, kElems>& lanes, const float* x_groups, int nmax, int8_t* codes,
                          float* scales) {
  using Lane = float[kGroups];
  constexpr int kPasses = 5;
  const auto& x = lanes.x;
  Lane inv_scale;
  bool finite[kGroups];
  bool negligible[kGroups];
  for (size_t g = 0; g < kGroups; ++g) {
    const SignedMax extreme = signed_max(x_groups + g * kElems, kElems);
    finite[g] = extreme.finite;
    negligible[g] = extreme.finite && extreme.amax < kGroupMaxEps;
    // lanes left out compute with 1 (their results are replaced below)
    inv_scale[g] = extreme.finite && !negligible[g] ? static_cast<float>(-nmax) / extreme.max : 1.0f;
  }
  int32_t code[kElems][kGroups];
  Lane sum_lx = {};
  Lane sum_l2 = {};
  for (size_t i = 0; i < kElems; ++i) {
    AMN_LANE_LOOP
    for (size_t g = 0; g < kGroups; ++g) {
      const float xi = x[i][g];
      const int32_t l = std::clamp(nearest_int(inv_scale[g] * xi), -nmax, nmax - 1);
      code[i][g] = l;
      const float w = xi * xi;
      sum_lx[g] += w * xi * static_cast<float>(l);
      sum_l2[g] += w * static_cast<float>(l) * static_cast<float>(l);
    }
  }
  for (size_t g = 0; g < kGroups; ++g) {
    int8_t* group_codes = codes + g * kElems;
    if (!finite[g]) {
      scales[g] = make_q3_quants(static_cast<int>(kElems), nmax, x_groups + g * kElems, group_codes);
      continue;
    }
    if (negligible[g]) {
      std::fill(group_codes, group_codes + kElems, int8_t{0});
      scales[g] = 0.0f;
      continue;
    }
    float group_lx = sum_lx[g];
    float group_l2 = sum_l2[g];
    for (int pass = 0; pass < kPasses; ++pass) {
      int changed = 0;
      for (size_t i = 0; i < kElems; ++i) {
        const float xi = x[i][g];
        const float w = xi * xi;
        const auto old_code = static_cast<float>(code[i][g]);
        float others_lx = group_lx - w * xi * old_code;
        if (!(others_lx > 0)) continue;
        float others_l2 = group_l2 - w * old_code * old_code;
        const int new_code = std::clamp(nearest_int(xi * others_l2 / others_lx), -nmax, nmax - 1);
        if (new_code == code[i][g]) continue;
        const auto new_code_f = static_cast<float>(new_code);
        others_lx += w * xi * new_code_f;
        others_l2 += w * new_code_f * new_code_f;
        if (others_l2 > 0 && others_lx * others_lx * group_l2 > group_lx * group_lx * others_l2) {
          code[i][g] = new_code;
          group_lx = others_lx;
          group_l2 = others_l2;
          ++changed;
        }
      }
      if (changed == 0) break;
    }
    for (size_t i = 0; i < kElems; ++i) group_codes[i] = static_cast<int8_t>(code[i][g] + nmax);
    scales[g] = group_l2 > 0.0f ? group_lx / group_l2 : 0.0f;
  }
}

/// Codes for non-negative values (sub-block scales and mins) with a single scale: x ≈ d · l,
/// l ≤ nmax, minimising Σ w · (x − d·l)² (ggml make_qp_quants). Picks the best of nine inverse
/// scales (nmax + 0.1·k) / max, k in −4…4, then runs up to 5 passes of coordinate descent on the
/// codes; returns the least-squares d of the final codes. Codes are stored as uint8_t exactly
/// as ggml stores them (a negative code, possible only for a negative x, wraps).
[[nodiscard]] inline float make_qp_quants(int n, int nmax, const float* x, uint8_t* codes, const float* weights) {
  constexpr int kSteps = 4;
  constexpr float kStepSize = 0.1f;
  constexpr int kPasses = 5;
  float max = 0.0f;
  for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
  if (max < kGroupMaxEps) {
    std::fill(codes, codes + n, uint8_t{0});
    return 0.0f;
  }
  const auto weighted_error = [&](float inv_scale, float scale, bool clamp_codes) {
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      int code = nearest_int(inv_scale * x[i]);
      if (clamp_codes) {
        code = std::min(nmax, code);
      } else {
        code = static_cast<uint8_t>(code);  // ggml keeps the first codes in its uint8_t array
      }
      const float diff = x[i] - scale * static_cast<float>(code);
      error += weights[i] * diff * diff;
    }
    return error;
  };

  float inv_scale = static_cast<float>(nmax) / max;
  float best_error = weighted_error(inv_scale, 1 / inv_scale, false);
  for (int step = -kSteps; step <= kSteps; ++step) {
    if (step == 0) continue;
    const float trial_inv_scale = (kStepSize * static_cast<float>(step) + static_cast<float>(nmax)) / max;
    const float error = weighted_error(trial_inv_scale, 1 / trial_inv_scale, true);
    if (error < best_error) {
      best_error = error;
      inv_scale = trial_inv_scale;
    }
  }

  float sum_lx = 0.0f;
  float sum_l2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int code = std::min(nmax, nearest_int(inv_scale * x[i]));
    codes[i] = static_cast<uint8_t>(code);
    const float w = weights[i];
    sum_lx += w * x[i] * static_cast<float>(code);
    sum_l2 += w * static_cast<float>(code) * static_cast<float>(code);
  }
  for (int pass = 0; pass < kPasses; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = weights[i];
      const auto old_code = static_cast<float>(codes[i]);
      float others_lx = sum_lx - w * x[i] * old_code;
      float others_l2 = sum_l2 - w * old_code * old_code;
      if (!(others_lx > 0 && others_l2 > 0)) continue;
      const int new_code = std::min(nmax, nearest_int(x[i] * others_l2 / others_lx));
      if (new_code == codes[i]) continue;
      const auto new_code_f = static_cast<float>(new_code);
      others_lx += w * x[i] * new_code_f;
      others_l2 += w * new_code_f * new_code_f;
      if (others_lx * others_lx * sum_l2 > sum_lx * sum_lx * others_l2) {
        codes[i] = static_cast<uint8_t>(new_code);
        sum_lx = others_lx;
        sum_l2 = others_l2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

}  // namespace amn::kernels::gguf::AMN_QUANT_LEVEL::quant
