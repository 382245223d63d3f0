// BitsAndBytes encoders (scalar references): NF4/FP4 blocks, LLM.int8 rows.
#include "kernels/bnb/encode.hpp"

#include <algorithm>
#include <array>
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

}  // namespace

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
