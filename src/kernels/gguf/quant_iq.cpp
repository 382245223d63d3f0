// Quantisers for the i-quant GGUF types, equal byte for byte to ggml's quantize_<type>
// (ggml-quants.c) with and without importance weights:
//  - IQ4_NL, IQ4_XS: 4-bit codes into the non-linear table kValuesIq4nl under fitted scales;
//  - IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M: groups of 4 or 8 elements coded as
//    points of a grid (tables.hpp). Each sub-block's scale is searched over trial scales; a
//    group that rounds off the grid takes the best of its precomputed candidates, listed in
//    ggml's order (built here once per process) so that ties resolve as in ggml.
//
// ggml requires importance weights for IQ2_XXS, IQ2_XS and IQ1_S; without them these
// quantisers use the weights x², as the other types do. For inputs whose squares overflow
// ggml aborts in most grid types (a failed assertion); these quantisers still write blocks.
#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/quant_common.hpp"
#include "kernels/gguf/quant_kernels.hpp"
#include "kernels/gguf/scales.hpp"
#include "kernels/gguf/tables.hpp"

namespace amn::kernels::gguf::AMN_QUANT_LEVEL {
namespace {

using quant::nearest_int;
using quant::store_block;
using quant::to_half;

// ---- shared pieces -------------------------------------------------------------------------

/// Σ w·q·x and Σ w·q² of a set of codes with values q: the least-squares scale of the codes is
/// qx / q2, and qx² / q2 is the weighted energy it explains.
struct FitSums {
  float qx = 0.0f;
  float q2 = 0.0f;
};

/// ggml's MAX(a, b): a NaN `a` is replaced by `b`, a NaN `b` is kept.
float ggml_max(float a, float b) { return a > b ? a : b; }

/// Σ x² over `count` elements.
float sum_squares(const float* x, size_t count) {
  float sum = 0.0f;
  for (size_t elem = 0; elem < count; ++elem) sum += x[elem] * x[elem];
  return sum;
}

/// Fit weights: importance · √(spread + x²), or x² without importance weights.
void fit_weights(const float* x, const float* importance, float spread, size_t count, float* weight) {
  for (size_t elem = 0; elem < count; ++elem) {
    weight[elem] = importance ? importance[elem] * std::sqrt(spread + x[elem] * x[elem]) : x[elem] * x[elem];
  }
}

/// The largest |x| of `count` elements, by ggml_max.
float max_magnitude(const float* x, size_t count) {
  float max = std::fabs(x[0]);
  for (size_t elem = 1; elem < count; ++elem) max = ggml_max(max, std::fabs(x[elem]));
  return max;
}

LeU16 to_le16(unsigned value) { return LeU16{{static_cast<uint8_t>(value), static_cast<uint8_t>(value >> 8)}}; }

void store_le32(uint32_t value, uint8_t* out) {
  for (size_t byte = 0; byte < 4; ++byte) out[byte] = static_cast<uint8_t>(value >> (8 * byte));
}

// ---- IQ4_NL / IQ4_XS -------------------------------------------------------------------------

constexpr size_t kIq4SubElems = 32;  // elements per fitted scale
constexpr int kIq4LastCode = static_cast<int>(kValuesIq4nl.size()) - 1;
/// The scale search tries the inverse scales (kValuesIq4nl[0] + step) / max, |step| ≤ this.
constexpr int kIq4ScaleSteps = 7;

/// kValuesIq4nl as floats (the conversions are exact), so the code searches compare floats.
const std::array<float, kValuesIq4nl.size()> kIq4Values = [] {
  std::array<float, kValuesIq4nl.size()> values{};
  for (size_t code = 0; code < values.size(); ++code) values[code] = static_cast<float>(kValuesIq4nl[code]);
  return values;
}();

float iq4_value(int code) { return kIq4Values[static_cast<size_t>(code)]; }

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

/// The spread term of the IQ4 importance weights: Σx² · (2 / n) over the whole block.
float iq4_spread(const float* x, size_t count) {
  return sum_squares(x, count) * (2.0f / static_cast<float>(count));
}

/// kIq4Thresholds[k − 1], k = 1 … 15: the least float that nearest_iq4_code maps to code k or
/// above. nearest_iq4_code is monotone (its last comparison, x − below < above − x, flips once
/// between two neighbouring values), so for every float x it equals the number of thresholds t
/// with !(x < t): NaN counts all 15, as nearest_iq4_code ends a NaN on the last code. Found by
/// bisection over the floats between neighbouring values, with nearest_iq4_code itself (checked
/// against nearest_iq4_code for all 2^32 floats).
const std::array<float, kIq4LastCode> kIq4Thresholds = [] {
  // floats in order ↔ ints in order (−0 and +0 both 0)
  const auto key = [](float value) {
    const auto bits = std::bit_cast<int32_t>(value);
    return bits >= 0 ? bits : -(bits & std::numeric_limits<int32_t>::max());
  };
  const auto from_key = [](int32_t k) {
    return std::bit_cast<float>(k >= 0 ? k : (-k) | std::numeric_limits<int32_t>::min());
  };
  std::array<float, kIq4LastCode> thresholds{};
  for (int code = 1; code <= kIq4LastCode; ++code) {
    int64_t below = key(iq4_value(code - 1));  // maps below `code` (int64: keys span 2^32)
    int64_t at = key(iq4_value(code));         // maps to `code`
    while (at - below > 1) {
      const auto middle = static_cast<int32_t>((below + at) / 2);
      if (nearest_iq4_code(from_key(middle)) >= code) {
        at = middle;
      } else {
        below = middle;
      }
    }
    thresholds[static_cast<size_t>(code - 1)] = from_key(static_cast<int32_t>(at));
  }
  return thresholds;
}();

/// kValuesIq4nl[k] − kValuesIq4nl[k − 1] for k = 1 … 15: iq4_value(nearest_iq4_code(x)) is
/// iq4_value(0) plus the steps of the thresholds x reaches (whole numbers: exact in any order).
const std::array<float, kIq4LastCode> kIq4Steps = [] {
  std::array<float, kIq4LastCode> steps{};
  for (int code = 1; code <= kIq4LastCode; ++code) {
    steps[static_cast<size_t>(code - 1)] = iq4_value(code) - iq4_value(code - 1);
  }
  return steps;
}();

/// iq4_value(nearest_iq4_code(x)) without branches (so loops of it vectorise).
float nearest_iq4_value(float x, const float* thresholds, const float* steps) {
  float value = iq4_value(0);
#pragma GCC unroll 16
  for (int k = 0; k < kIq4LastCode; ++k) value += x < thresholds[k] ? 0.0f : steps[k];
  return value;
}

/// nearest_iq4_code(x) without branches.
uint8_t nearest_iq4_code_counted(float x, const float* thresholds) {
  int code = 0;
#pragma GCC unroll 16
  for (int k = 0; k < kIq4LastCode; ++k) code += x < thresholds[k] ? 0 : 1;
  return static_cast<uint8_t>(code);
}

/// FitSums of a sub-block for the codes nearest to x · inverse_scale.
FitSums iq4_fit_sums(const float* x, const float* weight, float inverse_scale) {
  FitSums sums;
  for (size_t elem = 0; elem < kIq4SubElems; ++elem) {
    const float value = iq4_value(nearest_iq4_code(inverse_scale * x[elem]));
    sums.qx += weight[elem] * value * x[elem];
    sums.q2 += weight[elem] * value * value;
  }
  return sums;
}

/// fit_iq4_scale (below) one trial after the other, as ggml: for sub-blocks holding an infinity
/// or NaN.
float fit_iq4_scale_sequential(const float* x, const float* weight) {
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

/// The scale of one sub-block (0 when every |x| is negligible). Starts from the scale that maps
/// the element of largest magnitude onto the table's extreme value −127, then tries the inverse
/// scales (−127 + step) / max for |step| ≤ 7, keeping the least-squares scale of whichever code
/// set explains the most weighted energy.
///
/// The 16 trials are independent until they are compared, so their sums are formed side by side
/// (one trial per lane, each still adding in element order) with the branch-free code search;
/// then compared in ggml's order.
float fit_iq4_scale(const float* x, const float* weight) {
  constexpr int kTrials = 2 * kIq4ScaleSteps + 2;  // the start, then steps −7 … 7
  const quant::SignedMax extreme = quant::signed_max(x, kIq4SubElems);
  if (!extreme.finite) return fit_iq4_scale_sequential(x, weight);
  if (extreme.amax < quant::kGroupMaxEps) return 0.0f;
  const float max = extreme.max;
  float inverse_scales[kTrials];
  inverse_scales[0] = 1 / (-max / iq4_value(0));
  for (int step = -kIq4ScaleSteps; step <= kIq4ScaleSteps; ++step) {
    inverse_scales[step + kIq4ScaleSteps + 1] = static_cast<float>(step + kValuesIq4nl[0]) / max;
  }
  const float* thresholds = kIq4Thresholds.data();
  const float* steps = kIq4Steps.data();
  float qx[kTrials] = {};
  float q2[kTrials] = {};
  for (size_t elem = 0; elem < kIq4SubElems; ++elem) {
    AMN_LANE_LOOP
    for (int trial = 0; trial < kTrials; ++trial) {
      const float value = nearest_iq4_value(inverse_scales[trial] * x[elem], thresholds, steps);
      qx[trial] += weight[elem] * value * x[elem];
      q2[trial] += weight[elem] * value * value;
    }
  }
  float scale = q2[0] > 0 ? qx[0] / q2[0] : 0.0f;
  float best = scale * qx[0];
  for (int trial = 1; trial < kTrials; ++trial) {
    if (q2[trial] > 0 && qx[trial] * qx[trial] > best * q2[trial]) {
      scale = qx[trial] / q2[trial];
      best = scale * qx[trial];
    }
  }
  return scale;
}

/// Packs the codes of a sub-block for x · inverse_scale: element j in the low nibble of byte j,
/// element j + 16 in the high nibble.
void pack_iq4_codes(const float* x, float inverse_scale, uint8_t* out) {
  constexpr size_t kHalf = kIq4SubElems / 2;
  const float* thresholds = kIq4Thresholds.data();
  for (size_t elem = 0; elem < kHalf; ++elem) {
    const uint8_t low = nearest_iq4_code_counted(inverse_scale * x[elem], thresholds);
    const uint8_t high = nearest_iq4_code_counted(inverse_scale * x[elem + kHalf], thresholds);
    out[elem] = static_cast<uint8_t>(low | (high << 4));
  }
}

BlockIq4Nl quantize_iq4_nl_block(const float* x, const float* importance) {
  float weight[kIq4SubElems];
  fit_weights(x, importance, iq4_spread(x, BlockIq4Nl::kElems), kIq4SubElems, weight);
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
    fit_weights(sub_x, importance ? importance + sub * kIq4SubElems : nullptr, spread, kIq4SubElems, weight);
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
    block.scales_l[sub / 2] = static_cast<uint8_t>(block.scales_l[sub / 2] | ((biased & 0xf) << (4 * (sub % 2))));
    scales_high |= (biased >> 4) << (2 * sub);
  }
  block.scales_h = to_le16(scales_high);
  return block;
}

// ---- grid lattices and ggml's candidate lists -----------------------------------------------

/// lookup[] value of a vector of levels that the quantisers never look up (no list is built).
constexpr int32_t kNotListed = INT32_MIN;

/// A grid type's points as vectors of levels l = 0, 1, 2, … (the rank of a stored byte among
/// the grid's distinct bytes; ggml's quantisers work with the odd values 2l + 1), with ggml's
/// lookup from any vector of levels to the point or to the candidates near it
/// (iq2xs_init_impl / iq3xs_init_impl).
///
/// A vector of levels is addressed by its key Σ l_k << (level_bits · k). lookup[key] holds the
/// point's index when the vector is a grid point, and otherwise −1 − start, where
/// neighbours[start] is the length of the vector's list and the point indices follow: every
/// point whose squared distance to the vector is one of the `shells` smallest distances,
/// ordered by (distance, index) as ggml's qsort orders them, so that searches visit candidates
/// in ggml's order and keep ggml's choice on ties. Lists are built for the vectors whose levels
/// are all below the grid's level count, the only ones the quantisers look up.
template <size_t kDims>
struct GridIndex {
  using Levels = std::array<int8_t, kDims>;

  unsigned level_bits = 0;
  std::vector<Levels> points;
  std::vector<int32_t> lookup;
  std::vector<uint16_t> neighbours;

  [[nodiscard]] uint32_t key(const int8_t* levels) const {
    uint32_t key = 0;
    for (size_t dim = 0; dim < kDims; ++dim) key |= static_cast<uint32_t>(levels[dim]) << (level_bits * dim);
    return key;
  }
  /// The candidate list of an off-grid lookup value.
  [[nodiscard]] std::span<const uint16_t> candidates(int32_t off_grid) const {
    assert(off_grid < 0 && off_grid != kNotListed);
    const auto start = static_cast<size_t>(-1 - static_cast<int64_t>(off_grid));
    return {neighbours.data() + start + 1, neighbours[start]};
  }
  /// The index of a vector of levels that is a grid point.
  [[nodiscard]] int point_index(const int8_t* levels) const {
    const int32_t found = lookup[key(levels)];
    assert(found >= 0);
    return found;
  }
};

/// The odd value 2l + 1 of a level, as a float.
float odd_value(int level) { return static_cast<float>(2 * level + 1); }

/// The `count` smallest distinct values of `distances`, ascending.
std::vector<int> smallest_distinct(const std::vector<int>& distances, size_t count) {
  std::vector<int> smallest;
  for (const int distance : distances) {
    const auto pos = std::lower_bound(smallest.begin(), smallest.end(), distance);
    if (pos != smallest.end() && *pos == distance) continue;
    if (smallest.size() == count && pos == smallest.end()) continue;
    smallest.insert(pos, distance);
    if (smallest.size() > count) smallest.pop_back();
  }
  return smallest;
}

/// Appends the candidate list of the off-grid vector `levels` and points its lookup at it.
template <size_t kDims>
void add_candidates(GridIndex<kDims>& grid, uint32_t key, const typename GridIndex<kDims>::Levels& levels,
                    size_t shells, std::vector<int>& distances) {
  for (size_t point = 0; point < grid.points.size(); ++point) {
    int distance = 0;
    for (size_t dim = 0; dim < kDims; ++dim) {
      const int diff = 2 * (grid.points[point][dim] - levels[dim]);
      distance += diff * diff;
    }
    distances[point] = distance;
  }
  const size_t start = grid.neighbours.size();
  grid.neighbours.push_back(0);
  for (const int shell : smallest_distinct(distances, shells)) {
    for (size_t point = 0; point < grid.points.size(); ++point) {
      if (distances[point] == shell) grid.neighbours.push_back(static_cast<uint16_t>(point));
    }
  }
  grid.neighbours[start] = static_cast<uint16_t>(grid.neighbours.size() - start - 1);
  grid.lookup[key] = -1 - static_cast<int32_t>(start);
}

/// Builds the GridIndex of a grid table (kDims bytes per entry, read as int8 when
/// `signed_bytes`), keyed with `level_bits` bits per level, lists spanning `shells` distances
/// (ggml's nwant).
template <class Entry, size_t kCount>
GridIndex<sizeof(Entry)> build_grid_index(const std::array<Entry, kCount>& table, unsigned level_bits,
                                          bool signed_bytes, size_t shells) {
  constexpr size_t kDims = sizeof(Entry);
  GridIndex<kDims> grid;
  grid.level_bits = level_bits;
  const auto byte_value = [&](Entry entry, size_t dim) {
    const uint8_t byte = grid_byte(entry, static_cast<unsigned>(dim));
    return signed_bytes ? static_cast<int>(static_cast<int8_t>(byte)) : static_cast<int>(byte);
  };
  std::vector<int> values;
  for (const Entry entry : table) {
    for (size_t dim = 0; dim < kDims; ++dim) values.push_back(byte_value(entry, dim));
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());

  grid.lookup.assign(size_t{1} << (level_bits * kDims), kNotListed);
  grid.points.resize(kCount);
  for (size_t point = 0; point < kCount; ++point) {
    for (size_t dim = 0; dim < kDims; ++dim) {
      const auto rank = std::lower_bound(values.begin(), values.end(), byte_value(table[point], dim)) - values.begin();
      grid.points[point][dim] = static_cast<int8_t>(rank);
    }
    grid.lookup[grid.key(grid.points[point].data())] = static_cast<int32_t>(point);
  }

  const auto level_count = static_cast<uint32_t>(values.size());
  const uint32_t level_mask = (1u << level_bits) - 1;
  std::vector<int> distances(kCount);
  for (uint32_t key = 0; key < grid.lookup.size(); ++key) {
    if (grid.lookup[key] != kNotListed) continue;  // a grid point
    typename GridIndex<kDims>::Levels levels;
    bool reachable = true;
    for (size_t dim = 0; dim < kDims; ++dim) {
      const uint32_t level = (key >> (level_bits * dim)) & level_mask;
      reachable = reachable && level < level_count;
      levels[dim] = static_cast<int8_t>(level);
    }
    if (reachable) add_candidates(grid, key, levels, shells, distances);
  }
  return grid;
}

// The lattices, built on first use (thread-safe static initialisation).
constexpr unsigned kIq2LevelBits = 2;
constexpr unsigned kIq3LevelBits = 3;

const GridIndex<8>& iq2xxs_grid() {
  static const auto grid = build_grid_index(kIq2xxsGrid, kIq2LevelBits, false, 2);
  return grid;
}
const GridIndex<8>& iq2xs_grid() {
  static const auto grid = build_grid_index(kIq2xsGrid, kIq2LevelBits, false, 2);
  return grid;
}
const GridIndex<8>& iq2s_grid() {
  static const auto grid = build_grid_index(kIq2sGrid, kIq2LevelBits, false, 1);
  return grid;
}
const GridIndex<8>& iq1s_grid() {  // shared by IQ1_S and IQ1_M
  static const auto grid = build_grid_index(kIq1sGrid, kIq2LevelBits, true, 3);
  return grid;
}
const GridIndex<4>& iq3xxs_grid() {
  static const auto grid = build_grid_index(kIq3xxsGrid, kIq3LevelBits, false, 2);
  return grid;
}
const GridIndex<4>& iq3s_grid() {
  static const auto grid = build_grid_index(kIq3sGrid, kIq3LevelBits, false, 3);
  return grid;
}

// ---- IQ2 / IQ3: signs, magnitudes and the grid scale search --------------------------------

constexpr size_t kSignGroup = 8;  // elements per sign byte
constexpr uint8_t kStoredSignBits = 0x7f;
constexpr int kSubScaleMax = 15;             // 4-bit sub-block scale codes
constexpr float kSuperScaleDivisor = 31.0f;  // super-block scale = largest sub-block scale / 31

/// How a type stores signs.
enum class SignBits {
  Explicit,    ///< one bit per element
  EvenParity,  ///< 7 bits per 8 elements; the eighth makes the count of negatives even
};

/// One sub-block prepared for the grid fit: the fit weights (set by the caller) and their
/// square roots, magnitudes, and one sign byte per 8 elements.
template <size_t kElems>
struct SignedSubBlock {
  float weight[kElems];
  float weight_sqrt[kElems];
  float magnitude[kElems];
  uint8_t signs[kElems / kSignGroup];
};

/// Magnitudes and sign bits of 8 elements: magnitude = x when x ≥ 0 (so −0 stays −0), else −x
/// with the element's bit set.
uint8_t split_signs(const float* x, float* magnitude) {
  uint8_t signs = 0;
  for (size_t elem = 0; elem < kSignGroup; ++elem) {
    if (x[elem] >= 0) {
      magnitude[elem] = x[elem];
    } else {
      magnitude[elem] = -x[elem];
      signs = static_cast<uint8_t>(signs | (1u << elem));
    }
  }
  return signs;
}

/// split_signs with an even count of negatives: with an odd count, the element cheapest to get
/// wrong (least w·x², the first on ties) keeps the wrong sign — its magnitude is negated and its
/// bit toggled. Returns the 7 stored bits.
uint8_t split_signs_even(const float* x, const float* weight, float* magnitude) {
  uint8_t signs = split_signs(x, magnitude);
  if (std::popcount(signs) % 2 != 0) {
    size_t cheapest = 0;
    float least_cost = weight[0] * x[0] * x[0];
    for (size_t elem = 1; elem < kSignGroup; ++elem) {
      const float cost = weight[elem] * x[elem] * x[elem];
      if (cost < least_cost) {
        least_cost = cost;
        cheapest = elem;
      }
    }
    magnitude[cheapest] = -magnitude[cheapest];
    signs = static_cast<uint8_t>(signs ^ (1u << cheapest));
  }
  return signs & kStoredSignBits;
}

/// Fills the weight square roots, magnitudes and signs of a sub-block whose weights are set;
/// returns the largest magnitude (by ggml_max, so a parity-flipped element may count).
template <size_t kElems>
float prepare_sub_block(const float* x, SignBits sign_bits, SignedSubBlock<kElems>& sub) {
  for (size_t elem = 0; elem < kElems; ++elem) sub.weight_sqrt[elem] = std::sqrt(sub.weight[elem]);
  for (size_t group = 0; group < kElems / kSignGroup; ++group) {
    const size_t first = group * kSignGroup;
    sub.signs[group] = sign_bits == SignBits::Explicit
                           ? split_signs(x + first, sub.magnitude + first)
                           : split_signs_even(x + first, sub.weight + first, sub.magnitude + first);
  }
  float max = sub.magnitude[0];
  for (size_t elem = 1; elem < kElems; ++elem) max = ggml_max(max, sub.magnitude[elem]);
  return max;
}

/// The 4-bit (IQ1: 3-bit) code of a sub-block scale relative to the super-block scale
/// 1 / inverse: sub_scale ≈ (2l + 1) / inverse, l clamped to [0, max_code].
int sub_scale_code(float inverse, float sub_scale, int max_code) {
  return std::clamp(nearest_int(0.5f * (inverse * sub_scale - 1)), 0, max_code);
}

/// Among the candidates of an off-grid vector, the point nearest to the magnitudes x in
/// Σ w·(scale·(2l + 1) − x)², the first on ties (ggml iq2_/iq3_find_best_neighbour). Writes the
/// point's levels and returns its index. ggml aborts when no distance is below FLT_MAX (only
/// overflowing inputs get there); this keeps the first candidate.
template <size_t kDims>
int nearest_candidate(const GridIndex<kDims>& grid, int32_t off_grid, const float* x, const float* weight, float scale,
                      int8_t* levels) {
  const auto candidates = grid.candidates(off_grid);
  float best_distance = std::numeric_limits<float>::max();
  int best = candidates[0];
  for (const uint16_t candidate : candidates) {
    const auto& point = grid.points[candidate];
    float distance = 0.0f;
    for (size_t dim = 0; dim < kDims; ++dim) {
      const float diff = scale * odd_value(point[dim]) - x[dim];
      distance += weight[dim] * diff * diff;
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  std::copy(grid.points[best].begin(), grid.points[best].end(), levels);
  return best;
}

/// Rounds one group of magnitudes at `inverse_scale` to levels l = ⌊(x·inverse − 1) / 2⌉ in
/// [0, level_count − 1]; an off-grid vector is replaced by its nearest candidate at `scale`,
/// weighted by `weight_sqrt`. Returns whether the rounded vector was on the grid.
template <size_t kDims>
bool round_group(const GridIndex<kDims>& grid, int level_count, const float* x, const float* weight_sqrt,
                 float inverse_scale, float scale, int8_t* levels) {
  for (size_t dim = 0; dim < kDims; ++dim) {
    levels[dim] = static_cast<int8_t>(std::clamp(nearest_int(0.5f * (inverse_scale * x[dim] - 1)), 0, level_count - 1));
  }
  const int32_t found = grid.lookup[grid.key(levels)];
  if (found >= 0) return true;
  nearest_candidate(grid, found, x, weight_sqrt, scale, levels);
  return false;
}

/// FitSums of levels (values q = 2l + 1), each term evaluated as ggml's w·x·q.
FitSums level_fit_sums(const float* x, const float* weight, const int8_t* levels, size_t count) {
  FitSums sums;
  for (size_t elem = 0; elem < count; ++elem) {
    const float value = odd_value(levels[elem]);
    sums.qx += weight[elem] * x[elem] * value;
    sums.q2 += weight[elem] * value * value;
  }
  return sums;
}

/// Which groups are re-rounded at the fitted scale.
enum class Refit {
  OffGridGroups,          ///< the groups that needed a candidate in the kept trial
  AllGroupsIfAnyOffGrid,  ///< every group, when any needed a candidate
  AllGroups,              ///< every group, always
};

/// The constants that distinguish the IQ2 / IQ3 scale searches.
struct GridSearch {
  int level_count;     ///< ggml kMaxQ: levels 0 … kMaxQ − 1, values 1 … 2·kMaxQ − 1
  int steps;           ///< trial inverse scales (2·kMaxQ − 1 + step·step_size) / reference, |step| ≤ steps
  float step_size;
  bool start_on_grid;  ///< whether groups count as on the grid when no trial is kept
  Refit refit;
};

constexpr int kIq2Levels = 3;
constexpr int kIq3Levels = 8;
constexpr GridSearch kIq2xxsSearch{kIq2Levels, 6, 0.1f, true, Refit::AllGroups};
constexpr GridSearch kIq2xsSearch{kIq2Levels, 9, 0.1f, true, Refit::OffGridGroups};
constexpr GridSearch kIq2sSearch{kIq2Levels, 9, 0.1f, true, Refit::OffGridGroups};
constexpr GridSearch kIq3xxsSearch{kIq3Levels, 15, 0.2f, true, Refit::OffGridGroups};
constexpr GridSearch kIq3sSearch{kIq3Levels, 9, 0.2f, false, Refit::AllGroupsIfAnyOffGrid};

/// Fits grid levels (one grid point per group of kDims) and a scale s to the magnitudes of a
/// prepared sub-block, x ≈ s·(2l + 1) (ggml's quantize_row_iq2_*/iq3_*_impl):
///  1. for every trial inverse scale, rounds each group (off-grid groups take their best
///     candidate at that scale) and keeps the trial whose least-squares scale explains the most
///     weighted energy;
///  2. re-rounds groups at the kept scale as `search.refit` says and solves the scale again;
///  3. a negative scale (possible only with negative weights) is negated with every sign.
/// `scale` is kept when no trial is; the levels then stay zero.
template <size_t kDims, size_t kElems>
float fit_grid_levels(const GridIndex<kDims>& grid, const GridSearch& search, SignBits sign_bits, float reference,
                      float scale, SignedSubBlock<kElems>& sub, int8_t* levels) {
  constexpr size_t kGroups = kElems / kDims;
  std::fill(levels, levels + kElems, int8_t{0});
  bool on_grid[kGroups];
  std::fill(on_grid, on_grid + kGroups, search.start_on_grid);
  const auto top_value = static_cast<float>(2 * search.level_count - 1);
  float best = 0.0f;
  for (int step = -search.steps; step <= search.steps; ++step) {
    const float inverse_scale = (top_value + static_cast<float>(step) * search.step_size) / reference;
    const float trial_scale = 1 / inverse_scale;
    int8_t trial[kElems];
    bool trial_on_grid[kGroups];
    for (size_t group = 0; group < kGroups; ++group) {
      const size_t first = group * kDims;
      trial_on_grid[group] = round_group(grid, search.level_count, sub.magnitude + first, sub.weight_sqrt + first,
                                         inverse_scale, trial_scale, trial + first);
    }
    const FitSums sums = level_fit_sums(sub.magnitude, sub.weight, trial, kElems);
    if (sums.q2 > 0 && sums.qx * sums.qx > best * sums.q2) {
      scale = sums.qx / sums.q2;
      best = scale * sums.qx;
      std::copy(trial, trial + kElems, levels);
      std::copy(trial_on_grid, trial_on_grid + kGroups, on_grid);
    }
  }
  const bool any_off_grid = std::find(on_grid, on_grid + kGroups, false) != on_grid + kGroups;
  if (scale > 0 && (search.refit == Refit::AllGroups || any_off_grid)) {
    const float inverse_scale = 1 / scale;
    for (size_t group = 0; group < kGroups; ++group) {
      if (search.refit == Refit::OffGridGroups && on_grid[group]) continue;
      const size_t first = group * kDims;
      round_group(grid, search.level_count, sub.magnitude + first, sub.weight_sqrt + first, inverse_scale, scale,
                  levels + first);
    }
    const FitSums sums = level_fit_sums(sub.magnitude, sub.weight, levels, kElems);
    if (sums.q2 > 0) scale = sums.qx / sums.q2;
  }
  if (scale < 0) {
    scale = -scale;
    const uint8_t mask = sign_bits == SignBits::Explicit ? uint8_t{0xff} : kStoredSignBits;
    for (uint8_t& signs : sub.signs) signs = static_cast<uint8_t>(~signs & mask);
  }
  return scale;
}

// ---- IQ3_XXS / IQ3_S -------------------------------------------------------------------------

constexpr size_t kIq3SubElems = 32;
constexpr size_t kIq3SubBlocks = kSuperBlockElems / kIq3SubElems;
constexpr size_t kIq3Dims = 4;
constexpr size_t kIq3Groups = kIq3SubElems / kIq3Dims;  // grid points per sub-block
constexpr size_t kIq3SignBytes = kIq3SubElems / kSignGroup;

BlockIq3Xxs quantize_iq3_xxs_block(const float* x, const float* importance) {
  constexpr float kNegligible = 1e-8f;    // ggml GROUP_MAX_EPS_IQ3_XXS
  constexpr float kScaleFudge = 1.0125f;  // ggml's factor on the stored super-block scale
  constexpr size_t kSignWordsOffset = kSuperBlockElems / kIq3Dims;  // after the 64 grid indices
  const auto& grid = iq3xxs_grid();
  const float spread = 2 * sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  BlockIq3Xxs block{};
  float sub_scales[kIq3SubBlocks];
  uint32_t sign_words[kIq3SubBlocks] = {};
  float max_scale = 0.0f;
  for (size_t sub = 0; sub < kIq3SubBlocks; ++sub) {
    const float* sub_x = x + sub * kIq3SubElems;
    SignedSubBlock<kIq3SubElems> data;
    fit_weights(sub_x, importance ? importance + sub * kIq3SubElems : nullptr, spread, kIq3SubElems, data.weight);
    const float max = prepare_sub_block(sub_x, SignBits::EvenParity, data);
    sub_scales[sub] = 0.0f;
    if (max < kNegligible) continue;
    int8_t levels[kIq3SubElems];
    const float scale = fit_grid_levels<kIq3Dims>(grid, kIq3xxsSearch, SignBits::EvenParity, max,
                                                  max / (2 * kIq3Levels - 1), data, levels);
    for (size_t group = 0; group < kIq3Groups; ++group) {
      block.qs[sub * kIq3Groups + group] = static_cast<uint8_t>(grid.point_index(levels + kIq3Dims * group));
    }
    for (size_t group = 0; group < kIq3SignBytes; ++group) {
      sign_words[sub] |= static_cast<uint32_t>(data.signs[group]) << (7 * group);
    }
    sub_scales[sub] = scale;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale == 0.0f) return BlockIq3Xxs{};
  const float scale = max_scale / kSuperScaleDivisor;
  block.d = to_half(scale * kScaleFudge);
  const float inverse = 1 / scale;
  for (size_t sub = 0; sub < kIq3SubBlocks; ++sub) {
    // per sub-block LE uint32: 4 × 7 sign bits, then the 4-bit scale in bits 28..31
    const auto code = static_cast<uint32_t>(sub_scale_code(inverse, sub_scales[sub], kSubScaleMax));
    store_le32(sign_words[sub] | (code << 28), block.qs + kSignWordsOffset + 4 * sub);
  }
  return block;
}

/// IQ3_S. ggml advances its cursors into qs and signs only past the sub-blocks it encodes, so
/// after an all-zero sub-block the following ones are written one slot early and the last slot
/// stays zero. That is reproduced, since the bytes must match (qh and the scales are indexed
/// by sub-block, as the decoder expects).
BlockIq3S quantize_iq3_s_block(const float* x, const float* importance) {
  constexpr float kScaleFudge = 1.033f;
  const auto& grid = iq3s_grid();
  const float spread = 2 * sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  BlockIq3S block{};
  float sub_scales[kIq3SubBlocks];
  float max_scale = 0.0f;
  size_t slot = 0;  // ggml's qs / signs cursor, in sub-blocks
  for (size_t sub = 0; sub < kIq3SubBlocks; ++sub) {
    const float* sub_x = x + sub * kIq3SubElems;
    SignedSubBlock<kIq3SubElems> data;
    fit_weights(sub_x, importance ? importance + sub * kIq3SubElems : nullptr, spread, kIq3SubElems, data.weight);
    const float max = prepare_sub_block(sub_x, SignBits::Explicit, data);
    sub_scales[sub] = 0.0f;
    if (max == 0.0f) continue;
    int8_t levels[kIq3SubElems];
    const float scale = fit_grid_levels<kIq3Dims>(grid, kIq3sSearch, SignBits::Explicit, max,
                                                  max / (2 * kIq3Levels - 1), data, levels);
    for (size_t group = 0; group < kIq3Groups; ++group) {
      // 9-bit index: low byte in qs, bit 8 in bit `group` of qh[sub]
      const int index = grid.point_index(levels + kIq3Dims * group);
      block.qs[slot * kIq3Groups + group] = static_cast<uint8_t>(index & 0xff);
      block.qh[sub] = static_cast<uint8_t>(block.qh[sub] | ((index >> 8) << group));
    }
    std::copy(data.signs, data.signs + kIq3SignBytes, block.signs + slot * kIq3SignBytes);
    ++slot;
    sub_scales[sub] = scale;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale == 0.0f) return block;
  const float scale = max_scale / kSuperScaleDivisor;
  block.d = to_half(scale * kScaleFudge);
  const float inverse = 1 / scale;
  for (size_t sub = 0; sub < kIq3SubBlocks; sub += 2) {
    const int low = sub_scale_code(inverse, sub_scales[sub], kSubScaleMax);
    const int high = sub_scale_code(inverse, sub_scales[sub + 1], kSubScaleMax);
    block.scales[sub / 2] = static_cast<uint8_t>(low | (high << 4));
  }
  return block;
}

// ---- IQ2_XXS / IQ2_XS / IQ2_S ----------------------------------------------------------------

constexpr size_t kIq2Dims = 8;

/// Packs 4-bit sub-block scale codes two per byte, even sub-blocks in the low nibble.
void pack_sub_scales(const float* sub_scales, size_t count, float inverse, uint8_t* out) {
  for (size_t sub = 0; sub < count; ++sub) {
    const auto code = static_cast<unsigned>(sub_scale_code(inverse, sub_scales[sub], kSubScaleMax));
    out[sub / 2] = static_cast<uint8_t>(out[sub / 2] | (code << (4 * (sub % 2))));
  }
}

/// IQ2_XXS: sub-blocks of 32 whose start scale comes from make_qp_quants (codes 0..4 of the
/// magnitudes); the trial inverse scales are relative to 3 × that scale.
BlockIq2Xxs quantize_iq2_xxs_block(const float* x, const float* importance) {
  constexpr size_t kSubElems = 32;
  constexpr size_t kSubBlocks = kSuperBlockElems / kSubElems;
  constexpr size_t kGroups = kSubElems / kIq2Dims;
  const auto& grid = iq2xxs_grid();
  const float spread = sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  // per sub-block two LE uint32: four grid indices (a byte each), then 4 × 7 sign bits and the
  // 4-bit scale in bits 28..31
  uint32_t words[2 * kSubBlocks] = {};
  float sub_scales[kSubBlocks];
  float max_scale = 0.0f;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    const float* sub_x = x + sub * kSubElems;
    SignedSubBlock<kSubElems> data;
    fit_weights(sub_x, importance ? importance + sub * kSubElems : nullptr, spread, kSubElems, data.weight);
    const float max = prepare_sub_block(sub_x, SignBits::EvenParity, data);
    sub_scales[sub] = 0.0f;
    if (max < quant::kGroupMaxEps) continue;
    uint8_t start_codes[kSubElems];
    const float start_scale =
        quant::make_qp_quants(kSubElems, kIq2Levels + 1, data.magnitude, start_codes, data.weight);
    const float reference = start_scale * kIq2Levels;
    if (reference <= 0) continue;
    int8_t levels[kSubElems];
    const float scale =
        fit_grid_levels<kIq2Dims>(grid, kIq2xxsSearch, SignBits::EvenParity, reference, start_scale, data, levels);
    for (size_t group = 0; group < kGroups; ++group) {
      words[2 * sub] |= static_cast<uint32_t>(grid.point_index(levels + kIq2Dims * group)) << (8 * group);
      words[2 * sub + 1] |= static_cast<uint32_t>(data.signs[group]) << (7 * group);
    }
    sub_scales[sub] = scale;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale == 0.0f) return BlockIq2Xxs{};
  BlockIq2Xxs block{};
  const float scale = max_scale / kSuperScaleDivisor;
  block.d = to_half(scale);
  const float inverse = 1 / scale;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    words[2 * sub + 1] |= static_cast<uint32_t>(sub_scale_code(inverse, sub_scales[sub], kSubScaleMax)) << 28;
  }
  for (size_t word = 0; word < 2 * kSubBlocks; ++word) store_le32(words[word], block.qs + 4 * word);
  return block;
}

/// IQ2_XS: sub-blocks of 16 (two grid points), one LE uint16 per point: 9-bit index, 7 sign bits.
BlockIq2Xs quantize_iq2_xs_block(const float* x, const float* importance) {
  constexpr size_t kSubElems = 16;
  constexpr size_t kSubBlocks = kSuperBlockElems / kSubElems;
  constexpr size_t kGroups = kSubElems / kIq2Dims;
  constexpr unsigned kIndexBits = 9;
  const auto& grid = iq2xs_grid();
  const float spread = sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  BlockIq2Xs block{};
  float sub_scales[kSubBlocks];
  float max_scale = 0.0f;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    const float* sub_x = x + sub * kSubElems;
    SignedSubBlock<kSubElems> data;
    fit_weights(sub_x, importance ? importance + sub * kSubElems : nullptr, spread, kSubElems, data.weight);
    const float max = prepare_sub_block(sub_x, SignBits::EvenParity, data);
    sub_scales[sub] = 0.0f;
    if (max < quant::kGroupMaxEps) continue;
    int8_t levels[kSubElems];
    const float scale = fit_grid_levels<kIq2Dims>(grid, kIq2xsSearch, SignBits::EvenParity, max,
                                                  max / (2 * kIq2Levels - 1), data, levels);
    for (size_t group = 0; group < kGroups; ++group) {
      const auto index = static_cast<unsigned>(grid.point_index(levels + kIq2Dims * group));
      block.qs[sub * kGroups + group] = to_le16(index | (static_cast<unsigned>(data.signs[group]) << kIndexBits));
    }
    sub_scales[sub] = scale;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale == 0.0f) return BlockIq2Xs{};
  const float scale = max_scale / kSuperScaleDivisor;
  block.d = to_half(scale);
  pack_sub_scales(sub_scales, kSubBlocks, 1 / scale, block.scales);
  return block;
}

/// IQ2_S: sub-blocks of 16 with explicit sign bytes and 10-bit indices; without importance
/// weights the fit weights are ¼·spread + x².
BlockIq2S quantize_iq2_s_block(const float* x, const float* importance) {
  constexpr size_t kSubElems = 16;
  constexpr size_t kSubBlocks = kSuperBlockElems / kSubElems;
  constexpr size_t kGroups = kSubElems / kIq2Dims;
  constexpr size_t kSignsOffset = BlockIq2S::kElems / kIq2Dims;  // sign bytes follow the index bytes
  constexpr float kNegligible = 1e-8f;                            // ggml GROUP_MAX_EPS_IQ2_S
  constexpr float kScaleFudge = 0.9875f;
  constexpr float kSpreadShare = 0.25f;
  const auto& grid = iq2s_grid();
  const float spread = 2 * sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  BlockIq2S block{};
  float sub_scales[kSubBlocks];
  float max_scale = 0.0f;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    const float* sub_x = x + sub * kSubElems;
    SignedSubBlock<kSubElems> data;
    if (importance) {
      fit_weights(sub_x, importance + sub * kSubElems, spread, kSubElems, data.weight);
    } else {
      for (size_t elem = 0; elem < kSubElems; ++elem) {
        data.weight[elem] = kSpreadShare * spread + sub_x[elem] * sub_x[elem];
      }
    }
    const float max = prepare_sub_block(sub_x, SignBits::Explicit, data);
    sub_scales[sub] = 0.0f;
    if (max < kNegligible) continue;
    int8_t levels[kSubElems];
    const float scale = fit_grid_levels<kIq2Dims>(grid, kIq2sSearch, SignBits::Explicit, max,
                                                  max / (2 * kIq2Levels - 1), data, levels);
    for (size_t group = 0; group < kGroups; ++group) {
      // 10-bit index: low byte in qs, bits 8..9 in 2-bit field point % 4 of qh[point / 4]
      const size_t point = sub * kGroups + group;
      const int index = grid.point_index(levels + kIq2Dims * group);
      block.qs[point] = static_cast<uint8_t>(index & 0xff);
      block.qh[point / 4] = static_cast<uint8_t>(block.qh[point / 4] | ((index >> 8) << (2 * (point % 4))));
      block.qs[kSignsOffset + point] = data.signs[group];
    }
    sub_scales[sub] = scale;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale == 0.0f) return block;
  const float scale = max_scale / kSuperScaleDivisor;
  block.d = to_half(scale * kScaleFudge);
  pack_sub_scales(sub_scales, kSubBlocks, 1 / scale, block.scales);
  return block;
}

// ---- IQ1_S / IQ1_M ---------------------------------------------------------------------------
//
// Elements are d·(g + δ) with grid values g ∈ {−1, 0, 1} and a shift δ = ±1/8 per group of 8:
// levels 0, 1, 2 stand for the values {−1 + δ, δ, 1 + δ}. With three values the weighted
// least-squares fit can be searched exhaustively: with the elements sorted, every pair of
// boundaries i1 ≤ i2 (level 0 below rank i1, level 2 from rank i2) is scored from prefix sums.

constexpr size_t kIq1Dims = 8;
constexpr float kIq1SubScaleDivisor = 15.0f;
constexpr int kIq1SubScaleMax = 7;  // 3-bit sub-block scale codes

/// The three values of each shift direction (ggml x_p and x_m).
constexpr float kShiftedUp[3] = {-1 + kIq1Shift, kIq1Shift, 1 + kIq1Shift};
constexpr float kShiftedDown[3] = {-1 - kIq1Shift, -kIq1Shift, 1 - kIq1Shift};

/// The best split found for a sub-block: boundaries, shift choice, least-squares scale.
struct Iq1Split {
  int i1 = -1;
  int i2 = -1;
  int shift = -1;  ///< IQ1_S: 0 up, 1 down; IQ1_M: ggml's choice 0..3 (see iq1m_shifted_down)
  float scale = 0.0f;

  [[nodiscard]] bool found() const { return i1 >= 0; }
  /// A negative scale is stored negated, with the levels mirrored and the shifts reversed.
  [[nodiscard]] bool mirrored() const { return scale < 0; }
  [[nodiscard]] float stored_scale() const { return mirrored() ? -scale : scale; }
};

/// Element indices sorted by value, equal values in index order. ggml sorts with qsort, which
/// glibc implements as a stable merge sort for arrays this small, so ties keep index order
/// there too (the order matters: it decides the prefix sums).
template <size_t kElems>
std::array<uint8_t, kElems> sorted_order(const float* x) {
  std::array<uint8_t, kElems> order;
  for (size_t elem = 0; elem < kElems; ++elem) order[elem] = static_cast<uint8_t>(elem);
  std::stable_sort(order.begin(), order.end(), [x](uint8_t a, uint8_t b) { return x[a] < x[b]; });
  return order;
}

/// Keeps the split (i1, i2, shift) when its least-squares scale explains more weighted energy
/// than the best so far; best_score starts at −FLT_MAX, so the first valid split is kept.
void consider_split(float sum_qx, float sum_q2, int i1, int i2, int shift, Iq1Split& best, float& best_score) {
  if (sum_q2 > 0 && sum_qx * sum_qx > best_score * sum_q2) {
    best = {i1, i2, shift, sum_qx / sum_q2};
    best_score = best.scale * sum_qx;
  }
}

/// Levels of a split: 0 below rank i1, 1 below rank i2, 2 from there on; 2 − l when mirrored.
template <size_t kElems>
void split_levels(const std::array<uint8_t, kElems>& order, const Iq1Split& split, int8_t* levels) {
  for (int rank = 0; rank < static_cast<int>(kElems); ++rank) {
    const int level = rank < split.i1 ? 0 : rank < split.i2 ? 1 : 2;
    levels[order[static_cast<size_t>(rank)]] = static_cast<int8_t>(split.mirrored() ? 2 - level : level);
  }
}

/// Among the candidates of an off-grid vector, the point minimising Σ w·(scale·value − x)² for
/// the values of `shifted` (ggml iq1_find_best_neighbour2), the first on ties. When no distance
/// is below FLT_MAX ggml scans the whole grid (reading out of bounds) and then aborts; this
/// keeps the first candidate instead.
int nearest_iq1_candidate(const GridIndex<kIq1Dims>& grid, int32_t off_grid, const float* x, const float* weight,
                          float scale, const float* shifted, int8_t* levels) {
  const auto candidates = grid.candidates(off_grid);
  float best_distance = std::numeric_limits<float>::max();
  int best = candidates[0];
  for (const uint16_t candidate : candidates) {
    const auto& point = grid.points[candidate];
    float distance = 0.0f;
    for (size_t dim = 0; dim < kIq1Dims; ++dim) {
      const float diff = scale * shifted[point[dim]] - x[dim];
      distance += weight[dim] * diff * diff;
    }
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  std::copy(grid.points[best].begin(), grid.points[best].end(), levels);
  return best;
}

/// Adds the FitSums terms of grid point `index` for a group (values shifted[l] · multiplier).
void add_iq1_group_sums(const GridIndex<kIq1Dims>& grid, int index, const float* x, const float* weight,
                        const float* shifted, float multiplier, FitSums& sums) {
  const auto& point = grid.points[static_cast<size_t>(index)];
  for (size_t dim = 0; dim < kIq1Dims; ++dim) {
    const float value = shifted[point[dim]] * multiplier;
    sums.qx += weight[dim] * value * x[dim];
    sums.q2 += weight[dim] * value * value;
  }
}

/// Puts each group's levels on the grid (an off-grid group takes its best candidate for the
/// group's shifted values) and writes the grid indices. When any group moved, the scale is
/// refitted by least squares over the sub-block (and kept only if positive). Returns the scale.
template <size_t kGroups>
float place_iq1_groups(const GridIndex<kIq1Dims>& grid, const float* x, const float* weight,
                       const std::array<const float*, kGroups>& shifted, float scale, int8_t* levels, int* indices) {
  bool all_on_grid = true;
  for (size_t group = 0; group < kGroups; ++group) {
    const size_t first = group * kIq1Dims;
    indices[group] = grid.lookup[grid.key(levels + first)];
    if (indices[group] < 0) {
      all_on_grid = false;
      indices[group] = nearest_iq1_candidate(grid, indices[group], x + first, weight + first, scale, shifted[group],
                                             levels + first);
    }
  }
  if (all_on_grid) return scale;
  FitSums sums;
  for (size_t group = 0; group < kGroups; ++group) {
    const size_t first = group * kIq1Dims;
    add_iq1_group_sums(grid, indices[group], x + first, weight + first, shifted[group], 1.0f, sums);
  }
  return sums.qx > 0 && sums.q2 > 0 ? sums.qx / sums.q2 : scale;
}

constexpr size_t kIq1sSubElems = 32;

/// IQ1_S's best split of a sub-block: for each boundary pair, the upward then the downward
/// shift, Σ w·q·x and Σ w·q² summed per level range in ggml's order.
Iq1Split best_iq1s_split(const float* x, const float* weight, const std::array<uint8_t, kIq1sSubElems>& order) {
  constexpr int kElems = static_cast<int>(kIq1sSubElems);
  float sum_wx[kIq1sSubElems + 1] = {};
  float sum_w[kIq1sSubElems + 1] = {};
  for (size_t rank = 0; rank < kIq1sSubElems; ++rank) {
    const size_t elem = order[rank];
    sum_wx[rank + 1] = sum_wx[rank] + weight[elem] * x[elem];
    sum_w[rank + 1] = sum_w[rank] + weight[elem];
  }
  Iq1Split best;
  float best_score = -std::numeric_limits<float>::max();
  const auto consider = [&](int i1, int i2, const float* values, int shift) {
    const float low_wx = sum_wx[i1] - sum_wx[0];
    const float mid_wx = sum_wx[i2] - sum_wx[i1];
    const float high_wx = sum_wx[kElems] - sum_wx[i2];
    const float low_w = sum_w[i1] - sum_w[0];
    const float mid_w = sum_w[i2] - sum_w[i1];
    const float high_w = sum_w[kElems] - sum_w[i2];
    const float sum_qx = low_wx * values[0] + mid_wx * values[1] + high_wx * values[2];
    const float sum_q2 =
        low_w * values[0] * values[0] + mid_w * values[1] * values[1] + high_w * values[2] * values[2];
    consider_split(sum_qx, sum_q2, i1, i2, shift, best, best_score);
  };
  for (int i1 = 0; i1 <= kElems; ++i1) {
    for (int i2 = i1; i2 <= kElems; ++i2) {
      consider(i1, i2, kShiftedUp, 0);
      consider(i1, i2, kShiftedDown, 1);
    }
  }
  return best;
}

/// IQ1_S: sub-blocks of 32 (four grid points) sharing one shift direction. The block keeps its
/// grid indices even when every sub-block scale is zero (ggml writes them before the scales).
BlockIq1S quantize_iq1_s_block(const float* x, const float* importance) {
  constexpr size_t kSubBlocks = kSuperBlockElems / kIq1sSubElems;
  constexpr size_t kGroups = kIq1sSubElems / kIq1Dims;
  constexpr float kNegligible = 1e-12f;  // ggml GROUP_MAX_EPS_IQ1_S
  constexpr float kScaleFudge = 1.125f;
  constexpr unsigned kShiftDownFlag = 8;  // beside the 3-bit scale in qh bits 12..15
  const auto& grid = iq1s_grid();
  const float spread = 2 * sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  BlockIq1S block{};
  unsigned qh[kSubBlocks] = {};
  float sub_scales[kSubBlocks] = {};
  bool shifted_down[kSubBlocks] = {};
  float max_scale = 0.0f;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    const float* sub_x = x + sub * kIq1sSubElems;
    float weight[kIq1sSubElems];
    fit_weights(sub_x, importance ? importance + sub * kIq1sSubElems : nullptr, spread, kIq1sSubElems, weight);
    if (max_magnitude(sub_x, kIq1sSubElems) < kNegligible) continue;
    const auto order = sorted_order<kIq1sSubElems>(sub_x);
    const Iq1Split split = best_iq1s_split(sub_x, weight, order);
    if (!split.found()) continue;
    int8_t levels[kIq1sSubElems];
    split_levels(order, split, levels);
    const bool down = (split.shift == 1) != split.mirrored();
    const float* shifted = down ? kShiftedDown : kShiftedUp;
    int indices[kGroups];
    const float scale = place_iq1_groups<kGroups>(grid, sub_x, weight, {shifted, shifted, shifted, shifted},
                                                  split.stored_scale(), levels, indices);
    // 11-bit indices: low byte in qs, bits 8..10 in bits 3g..3g+2 of the sub-block's qh word
    for (size_t group = 0; group < kGroups; ++group) {
      block.qs[sub * kGroups + group] = static_cast<uint8_t>(indices[group] & 0xff);
      qh[sub] |= static_cast<unsigned>(indices[group] >> 8) << (3 * group);
    }
    sub_scales[sub] = scale;
    shifted_down[sub] = down;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale != 0.0f) {
    const float scale = max_scale / kIq1SubScaleDivisor;
    block.d = to_half(scale * kScaleFudge);
    const float inverse = 1 / scale;
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      const auto code = static_cast<unsigned>(sub_scale_code(inverse, sub_scales[sub], kIq1SubScaleMax));
      qh[sub] |= (code | (shifted_down[sub] ? kShiftDownFlag : 0u)) << 12;
    }
  }
  for (size_t sub = 0; sub < kSubBlocks; ++sub) block.qh[sub] = to_le16(qh[sub]);
  return block;
}

constexpr size_t kIq1mSubElems = 16;
constexpr size_t kIq1mGroups = kIq1mSubElems / kIq1Dims;
constexpr int kIq1mShiftChoices = 4;

/// Whether group `group` (0, 1) of an IQ1_M sub-block is shifted down under ggml's shift
/// choice: 0 = (up, up), 1 = (up, down), 2 = (down, up), 3 = (down, down).
bool iq1m_shifted_down(int choice, size_t group) { return group == 0 ? choice >= 2 : choice % 2 != 0; }

std::array<const float*, kIq1mGroups> iq1m_shifted_values(int choice) {
  return {iq1m_shifted_down(choice, 0) ? kShiftedDown : kShiftedUp,
          iq1m_shifted_down(choice, 1) ? kShiftedDown : kShiftedUp};
}

/// IQ1_M's best split of a sub-block over all four shift choices. Prefix sums are kept per
/// half (group), whose shifts differ; since the three values step by exactly 1, a split's
/// Σ w·q·x per half collapses to total·v₂ − prefix(i1) − prefix(i2), and Σ w·q² to
/// total_w·v₂² + prefix_w(i1)·(v₀² − v₁²) + prefix_w(i2)·(v₁² − v₂²) (ggml's formulation).
Iq1Split best_iq1m_split(const float* x, const float* weight, const std::array<uint8_t, kIq1mSubElems>& order) {
  constexpr size_t kHalf = kIq1mSubElems / 2;
  float sum_wx[2][kIq1mSubElems + 1] = {};
  float sum_w[2][kIq1mSubElems + 1] = {};
  for (size_t rank = 0; rank < kIq1mSubElems; ++rank) {
    const size_t elem = order[rank];
    const size_t half = elem < kHalf ? 0 : 1;
    sum_wx[half][rank + 1] = sum_wx[half][rank] + weight[elem] * x[elem];
    sum_wx[1 - half][rank + 1] = sum_wx[1 - half][rank];
    sum_w[half][rank + 1] = sum_w[half][rank] + weight[elem];
    sum_w[1 - half][rank + 1] = sum_w[1 - half][rank];
  }
  const float* const directions[2] = {kShiftedUp, kShiftedDown};
  float top[2];
  float low_step[2];
  float high_step[2];
  for (size_t dir = 0; dir < 2; ++dir) {
    const float* values = directions[dir];
    top[dir] = values[2];
    low_step[dir] = values[0] * values[0] - values[1] * values[1];
    high_step[dir] = values[1] * values[1] - values[2] * values[2];
  }
  Iq1Split best;
  float best_score = -std::numeric_limits<float>::max();
  for (size_t i1 = 0; i1 <= kIq1mSubElems; ++i1) {
    for (size_t i2 = i1; i2 <= kIq1mSubElems; ++i2) {
      float half_qx[2][2];  // [half][direction]
      float half_q2[2][2];
      for (size_t half = 0; half < 2; ++half) {
        const float prefix = sum_wx[half][i1] + sum_wx[half][i2];
        const float total_wx = sum_wx[half][kIq1mSubElems];
        const float total_w = sum_w[half][kIq1mSubElems];
        for (size_t dir = 0; dir < 2; ++dir) {
          half_qx[half][dir] = total_wx * top[dir] - prefix;
          half_q2[half][dir] =
              total_w * top[dir] * top[dir] + sum_w[half][i1] * low_step[dir] + sum_w[half][i2] * high_step[dir];
        }
      }
      for (int choice = 0; choice < kIq1mShiftChoices; ++choice) {
        const size_t first = iq1m_shifted_down(choice, 0) ? 1 : 0;
        const size_t second = iq1m_shifted_down(choice, 1) ? 1 : 0;
        consider_split(half_qx[0][first] + half_qx[1][second], half_q2[0][first] + half_q2[1][second],
                       static_cast<int>(i1), static_cast<int>(i2), choice, best, best_score);
      }
    }
  }
  return best;
}

/// The IQ1_M super-block scale: the least-squares fit over every element of the stored grid
/// points, shifts and 3-bit sub-block scales (or `fallback` when that has no weight).
float refit_iq1m_scale(const float* x, const float* importance, float spread, const BlockIq1M& block,
                       const int* shifts, const int* codes, float fallback) {
  const auto& grid = iq1s_grid();
  FitSums sums;
  for (size_t sub = 0; sub < kSuperBlockElems / kIq1mSubElems; ++sub) {
    const float* sub_x = x + sub * kIq1mSubElems;
    float weight[kIq1mSubElems];
    fit_weights(sub_x, importance ? importance + sub * kIq1mSubElems : nullptr, spread, kIq1mSubElems, weight);
    const auto shifted = iq1m_shifted_values(shifts[sub]);
    for (size_t group = 0; group < kIq1mGroups; ++group) {
      const auto index = static_cast<int>(block.qs[2 * sub + group] | ((block.qh[sub] >> (4 * group)) & 7u) << 8);
      const size_t first = group * kIq1Dims;
      add_iq1_group_sums(grid, index, sub_x + first, weight + first, shifted[group],
                         static_cast<float>(2 * codes[sub] + 1), sums);
    }
  }
  return sums.q2 > 0 ? sums.qx / sums.q2 : fallback;
}

/// IQ1_M: sub-blocks of 16 (two grid points), each point with its own shift direction; four
/// 3-bit sub-block scales per LE uint16 word, the fp16 super-block scale spread over the four
/// words' top nibbles.
BlockIq1M quantize_iq1_m_block(const float* x, const float* importance) {
  constexpr size_t kSubBlocks = kSuperBlockElems / kIq1mSubElems;
  constexpr size_t kSubBlocksPerWord = 4;
  constexpr float kNegligible = 1e-7f;  // ggml GROUP_MAX_EPS_IQ1_M
  constexpr float kScaleFudge = 1.1125f;
  /// qh flags of the shift choices: bit 3 of each point's nibble marks a downward shift.
  constexpr uint8_t kShiftFlags[kIq1mShiftChoices] = {0x00, 0x80, 0x08, 0x88};
  const auto& grid = iq1s_grid();
  const float spread = 2 * sum_squares(x, kSuperBlockElems) / static_cast<float>(kSuperBlockElems);
  BlockIq1M block{};
  float sub_scales[kSubBlocks] = {};
  int shifts[kSubBlocks] = {};
  float max_scale = 0.0f;
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    const float* sub_x = x + sub * kIq1mSubElems;
    float weight[kIq1mSubElems];
    fit_weights(sub_x, importance ? importance + sub * kIq1mSubElems : nullptr, spread, kIq1mSubElems, weight);
    if (max_magnitude(sub_x, kIq1mSubElems) < kNegligible) continue;
    const auto order = sorted_order<kIq1mSubElems>(sub_x);
    const Iq1Split split = best_iq1m_split(sub_x, weight, order);
    if (!split.found()) continue;
    int8_t levels[kIq1mSubElems];
    split_levels(order, split, levels);
    const int shift = split.mirrored() ? kIq1mShiftChoices - 1 - split.shift : split.shift;
    int indices[kIq1mGroups];
    const float scale = place_iq1_groups<kIq1mGroups>(grid, sub_x, weight, iq1m_shifted_values(shift),
                                                      split.stored_scale(), levels, indices);
    // 11-bit indices: low byte in qs, bits 8..10 in the low 3 bits of the point's qh nibble
    block.qs[2 * sub] = static_cast<uint8_t>(indices[0] & 0xff);
    block.qs[2 * sub + 1] = static_cast<uint8_t>(indices[1] & 0xff);
    block.qh[sub] = static_cast<uint8_t>((indices[0] >> 8) | ((indices[1] >> 8) << 4));
    sub_scales[sub] = scale;
    shifts[sub] = shift;
    max_scale = ggml_max(max_scale, scale);
  }
  if (max_scale == 0.0f) return block;

  const float scale = max_scale / kIq1SubScaleDivisor;
  const float inverse = 1 / scale;
  unsigned words[kSubBlocks / kSubBlocksPerWord] = {};
  int codes[kSubBlocks];
  for (size_t sub = 0; sub < kSubBlocks; ++sub) {
    codes[sub] = sub_scale_code(inverse, sub_scales[sub], kIq1SubScaleMax);
    words[sub / kSubBlocksPerWord] |= static_cast<unsigned>(codes[sub]) << (3 * (sub % kSubBlocksPerWord));
    block.qh[sub] = static_cast<uint8_t>(block.qh[sub] | kShiftFlags[shifts[sub]]);
  }
  const float fitted = refit_iq1m_scale(x, importance, spread, block, shifts, codes, scale);
  const uint16_t scale_bits = to_half(fitted * kScaleFudge).bits.value();
  for (size_t word = 0; word < kSubBlocks / kSubBlocksPerWord; ++word) {
    words[word] |= ((scale_bits >> (4 * word)) & 0xfu) << 12;  // nibble `word` of the fp16 bits
    block.scales[word] = to_le16(words[word]);
  }
  return block;
}

// ---- rows → blocks -------------------------------------------------------------------------

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

void quantize_iq3_s(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq3S>(src, dst, rows, n_per_row, imatrix, quantize_iq3_s_block);
}

void quantize_iq3_xxs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq3Xxs>(src, dst, rows, n_per_row, imatrix, quantize_iq3_xxs_block);
}

void quantize_iq2_s(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq2S>(src, dst, rows, n_per_row, imatrix, quantize_iq2_s_block);
}

void quantize_iq2_xs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq2Xs>(src, dst, rows, n_per_row, imatrix, quantize_iq2_xs_block);
}

void quantize_iq2_xxs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq2Xxs>(src, dst, rows, n_per_row, imatrix, quantize_iq2_xxs_block);
}

void quantize_iq1_s(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq1S>(src, dst, rows, n_per_row, imatrix, quantize_iq1_s_block);
}

void quantize_iq1_m(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix) {
  quantize_blocks<BlockIq1M>(src, dst, rows, n_per_row, imatrix, quantize_iq1_m_block);
}

}  // namespace amn::kernels::gguf::AMN_QUANT_LEVEL
