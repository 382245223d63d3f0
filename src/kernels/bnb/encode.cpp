// BitsAndBytes encoders (scalar references): NF4/FP4 blocks, LLM.int8 rows.
#include "kernels/bnb/encode.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <vector>

#include "kernels/convert.hpp"

namespace amn::kernels::bnb {
namespace {

constexpr unsigned kHighShift = 4;
/// bitsandbytes clamps the partial last block's absmax to this before dividing by it.
constexpr float kMinAbsmax = 1e-38f;
constexpr float kInt8Max = 127.0f;

/// A code book sorted by value, with each sorted entry's code and the midpoints between
/// neighbours (torch: (code[order[:-1]] + code[order[1:]]) / 2 in f32).
struct SortedCode {
  std::array<uint8_t, kCode4Entries> code_of{};
  std::array<float, kCode4Entries - 1> midpoints{};
};

SortedCode sort_code(Code4 code) {
  // bitsandbytes' argsort of the code book (FP4 keeps +0.0 (code 0) before -0.0 (code 8)).
  static constexpr std::array<uint8_t, kCode4Entries> kNf4Order = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  static constexpr std::array<uint8_t, kCode4Entries> kFp4Order = {11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3};
  const auto& table = code4_table(code);
  SortedCode sorted;
  sorted.code_of = code == Code4::Nf4 ? kNf4Order : kFp4Order;
  for (size_t idx = 0; idx + 1 < kCode4Entries; ++idx) {
    sorted.midpoints[idx] = (table[sorted.code_of[idx]] + table[sorted.code_of[idx + 1]]) / 2.0f;
  }
  return sorted;
}

const SortedCode& sorted_code(Code4 code) {
  static const SortedCode kNf4 = sort_code(Code4::Nf4);
  static const SortedCode kFp4 = sort_code(Code4::Fp4);
  return code == Code4::Nf4 ? kNf4 : kFp4;
}

/// torch.bucketize(value, midpoints, right=False): the number of midpoints strictly below value
/// (counted branch-free, which vectorises across a block).
uint8_t code_for(const SortedCode& sorted, float value) {
  uint8_t below = 0;
  for (float midpoint : sorted.midpoints) below = static_cast<uint8_t>(below + (midpoint < value));
  return sorted.code_of[below];
}

float max_abs(const float* src, uint64_t count) {
  float largest = 0.0f;
  for (uint64_t idx = 0; idx < count; ++idx) largest = std::max(largest, std::fabs(src[idx]));
  return largest;
}

// torch's cascade sum (ATen's SumKernel): a row of items (vectors of kLanes floats, or single
// floats) is read as rows of four interleaved items whose partial sums climb through four levels
// of accumulators every `step` groups, so only sums of similar size meet.
constexpr uint64_t kLanes = 8;     // Vectorized<float> on x86: 256 bits, also on AVX-512 CPUs
constexpr uint64_t kRows = 4;      // the ILP factor
constexpr unsigned kLevels = 4;
constexpr unsigned kMinLevelPower = 4;
/// Inputs at least this long are split across threads (at::internal::GRAIN_SIZE).
constexpr uint64_t kGrainSize = 32768;

/// `items` consecutive items of `lanes` floats each, summed lane by lane into `out`.
void cascade_rows(const float* src, uint64_t items, uint64_t lanes, float* out) {
  const uint64_t groups = items / kRows;
  const unsigned ceil_log2 = groups <= 2 ? 1 : static_cast<unsigned>(std::bit_width(groups - 1));
  const unsigned power = std::max(kMinLevelPower, ceil_log2 / kLevels);
  const uint64_t step = uint64_t{1} << power;
  std::vector<float> acc(kLevels * kRows * lanes, 0.0f);  // [level][row][lane]
  const uint64_t level_size = kRows * lanes;
  auto add_group = [&](uint64_t group) {
    for (uint64_t idx = 0; idx < level_size; ++idx) acc[idx] += src[group * level_size + idx];
  };
  uint64_t group = 0;
  for (; group + step <= groups;) {
    for (uint64_t end = group + step; group < end; ++group) add_group(group);
    for (unsigned level = 1; level < kLevels; ++level) {
      for (uint64_t idx = 0; idx < level_size; ++idx) {
        acc[level * level_size + idx] += acc[(level - 1) * level_size + idx];
        acc[(level - 1) * level_size + idx] = 0.0f;
      }
      if ((group & ((step - 1) << (level * power))) != 0) break;
    }
  }
  for (; group < groups; ++group) add_group(group);
  for (unsigned level = 1; level < kLevels; ++level) {
    for (uint64_t idx = 0; idx < level_size; ++idx) acc[idx] += acc[level * level_size + idx];
  }
  // Items left over after the groups join row 0; then rows 1..3 join row 0.
  for (uint64_t item = groups * kRows; item < items; ++item) {
    for (uint64_t lane = 0; lane < lanes; ++lane) acc[lane] += src[item * lanes + lane];
  }
  for (uint64_t row = 1; row < kRows; ++row) {
    for (uint64_t lane = 0; lane < lanes; ++lane) acc[lane] += acc[row * lanes + lane];
  }
  std::copy_n(acc.begin(), lanes, out);
}

/// One thread's sum of a contiguous range: whole vectors lane-wise, then the scalar tail, then
/// the lanes in order; a range shorter than a vector is summed as single floats.
float cascade_sum(const float* src, uint64_t count) {
  if (count < kLanes) {
    float sum = 0.0f;
    cascade_rows(src, count, 1, &sum);
    return sum;
  }
  const uint64_t vectors = count / kLanes;
  std::array<float, kLanes> lanes{};
  cascade_rows(src, vectors, kLanes, lanes.data());
  float sum = 0.0f;
  for (uint64_t idx = vectors * kLanes; idx < count; ++idx) sum += src[idx];
  for (float lane : lanes) sum += lane;
  return sum;
}

std::array<float, kCode8Entries> make_dynamic_map() {
  // Seven exponents; exponent i holds the midpoints of torch.linspace(0.1, 1, 2^i + 1) times 10^(i-6),
  // with both signs; then 0 and 1.
  constexpr int kExponents = 7;
  constexpr float kStart = 0.1f;
  constexpr float kEnd = 1.0f;
  std::array<float, kCode8Entries> map{};
  size_t filled = 0;
  for (int exponent = 0; exponent < kExponents; ++exponent) {
    const int points = (1 << exponent) + 1;
    const float step = (kEnd - kStart) / static_cast<float>(points - 1);
    std::vector<float> bounds(points);
    for (int idx = 0; idx < points; ++idx) {
      bounds[idx] = idx < points / 2 ? std::fma(step, static_cast<float>(idx), kStart)
                                     : std::fma(-step, static_cast<float>(points - 1 - idx), kEnd);
    }
    const auto scale = static_cast<float>(std::pow(10.0, exponent - (kExponents - 1)));
    for (int idx = 0; idx + 1 < points; ++idx) {
      const float value = scale * ((bounds[idx] + bounds[idx + 1]) / 2.0f);
      map[filled++] = value;
      map[filled++] = -value;
    }
  }
  map[filled++] = 0.0f;
  map[filled++] = 1.0f;
  std::sort(map.begin(), map.end());
  return map;
}

/// bitsandbytes' CPU quantize_blockwise finds codes through a table over [-1, 1] in 65536 steps:
/// step i (value -1 + 2i / 65535) takes the first code whose upper midpoint is not below it.
constexpr uint32_t kLutSteps = 65536;
using Lut8 = std::array<uint8_t, kLutSteps>;

Lut8 make_lut(const std::array<float, kCode8Entries>& map) {
  std::array<float, kCode8Entries - 1> midpoints{};
  for (size_t idx = 0; idx + 1 < kCode8Entries; ++idx) midpoints[idx] = 0.5f * (map[idx] + map[idx + 1]);
  Lut8 lut{};
  size_t code = 0;
  for (uint32_t step = 0; step < kLutSteps; ++step) {
    const float value = -1.0f + (2.0f * static_cast<float>(step)) / static_cast<float>(kLutSteps - 1);
    while (code + 1 < kCode8Entries && midpoints[code] < value) ++code;
    lut[step] = static_cast<uint8_t>(code);
  }
  return lut;
}

/// The table step of x * (1 / absmax): clamped to [-1, 1], then (v + 1) * 0.5 * 65535 + 0.5 with
/// the last multiply-add fused (as the library's x86-64 build computes it), truncated.
uint32_t lut_step(float normed) {
  const float half = (std::clamp(normed, -1.0f, 1.0f) + 1.0f) * 0.5f;
  return static_cast<uint16_t>(static_cast<int32_t>(std::fma(half, static_cast<float>(kLutSteps - 1), 0.5f)));
}

}  // namespace

const std::array<float, kCode8Entries>& dynamic_map() {
  static const std::array<float, kCode8Entries> kMap = make_dynamic_map();
  return kMap;
}

float torch_mean(const float* values, uint64_t count, unsigned threads) {
  float sum = 0.0f;
  if (count < kGrainSize || threads <= 1) {
    sum = cascade_sum(values, count);
  } else {
    // at::parallel_for: min(threads, ceil(count / grain)) equal chunks, one sum per thread slot,
    // then those slots (unused ones 0) summed again.
    const uint64_t chunks = std::min<uint64_t>(threads, (count + kGrainSize - 1) / kGrainSize);
    const uint64_t chunk = (count + chunks - 1) / chunks;
    std::vector<float> slots(threads, 0.0f);
    for (uint64_t idx = 0; idx < chunks && idx * chunk < count; ++idx) {
      slots[idx] = cascade_sum(values + idx * chunk, std::min(chunk, count - idx * chunk));
    }
    sum = cascade_sum(slots.data(), slots.size());
  }
  return sum / static_cast<float>(count);
}

void quantize_blockwise_8bit_ref(const float* src, uint64_t count, uint64_t blocksize, uint8_t* codes, float* absmax) {
  static const Lut8 kLut = make_lut(dynamic_map());
  for (uint64_t begin = 0, block = 0; begin < count; begin += blocksize, ++block) {
    const uint64_t end = std::min(count, begin + blocksize);
    const float largest = max_abs(src + begin, end - begin);
    absmax[block] = largest;
    const float reciprocal = 1.0f / largest;
    for (uint64_t idx = begin; idx < end; ++idx) codes[idx] = largest == 0.0f ? 0 : kLut[lut_step(src[idx] * reciprocal)];
  }
}

void absmax_4bit_ref(const float* src, uint64_t count, uint64_t blocksize, float* absmax) {
  for (uint64_t begin = 0, block = 0; begin < count; begin += blocksize, ++block) {
    const uint64_t len = std::min(blocksize, count - begin);
    const float largest = max_abs(src + begin, len);
    absmax[block] = len < blocksize ? std::max(largest, kMinAbsmax) : largest;
  }
}

void quantize_4bit_ref(Code4 code, const float* src, uint64_t count, uint64_t blocksize, uint8_t* packed, float* absmax) {
  const SortedCode& sorted = sorted_code(code);
  const uint8_t pad_code = code_for(sorted, 0.0f);
  absmax_4bit_ref(src, count, blocksize, absmax);
  for (uint64_t begin = 0, block = 0; begin < count; begin += blocksize, ++block) {
    const uint64_t len = std::min(blocksize, count - begin);
    const bool partial = len < blocksize;
    // Full blocks multiply by the reciprocal of max(absmax, 1e-38); the tail divides.
    const float scale = absmax[block];
    const float reciprocal = 1.0f / std::max(scale, kMinAbsmax);
    for (uint64_t idx = begin; idx < begin + len; idx += 2) {
      // Two elements a byte; an odd tail pads the low nibble with the code of 0.
      const float high = std::clamp(partial ? src[idx] / scale : src[idx] * reciprocal, -1.0f, 1.0f);
      const uint8_t low_code = idx + 1 < begin + len
                                   ? code_for(sorted, std::clamp(partial ? src[idx + 1] / scale : src[idx + 1] * reciprocal, -1.0f, 1.0f))
                                   : pad_code;
      packed[idx / 2] = static_cast<uint8_t>(code_for(sorted, high) << kHighShift | low_code);
    }
  }
}

void quantize_int8_rows_ref(const float* src, uint64_t rows, uint64_t cols, int8_t* quantised, float* row_scale) {
  // The row rounded to f16 and widened back, through the vectorised narrowing kernels.
  thread_local std::vector<std::byte> halves;
  thread_local std::vector<float> rounded;
  halves.resize(cols * sizeof(uint16_t));
  rounded.resize(cols);
  for (uint64_t row = 0; row < rows; ++row) {
    store_f32(src + row * cols, cols, DType::F16, halves.data());
    convert_elements(DType::F16, halves.data(), cols, DType::F32, reinterpret_cast<std::byte*>(rounded.data()));
    const float* values = rounded.data();
    const float largest = max_abs(values, cols);
    row_scale[row] = largest;
    // torch evaluates `127.0 / row_stats` as reciprocal(row_stats) * 127 (Tensor.__rtruediv__).
    const float factor = (1.0f / largest) * kInt8Max;
    for (uint64_t col = 0; col < cols; ++col) {
      const float scaled = largest == 0.0f ? 0.0f : std::nearbyint(values[col] * factor);
      quantised[row * cols + col] = static_cast<int8_t>(scaled);
    }
  }
}

}  // namespace amn::kernels::bnb
