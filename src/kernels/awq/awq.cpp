// AWQ scalar reference: interleaved nibble unpacking and f16 dequantisation.
#include "kernels/awq/awq.hpp"

#include "kernels/scaled_int.hpp"

namespace amn::kernels::awq {

void dequant_window_ref(const Window& window, float* dst) {
  const uint64_t first_word = window.first / kPerWord;
  float values[kLevels];  // this (feature, group)'s value of every code
  for (uint64_t feature_idx = 0; feature_idx < window.count; ++feature_idx) {
    const uint64_t feature = window.first + feature_idx;
    const uint64_t word_idx = feature / kPerWord - first_word;
    const auto column = static_cast<unsigned>(feature % kPerWord);
    float* out = dst + feature_idx * window.in_features;
    for (uint64_t group = 0; group < window.in_features / window.group_size; ++group) {
      const auto zero = static_cast<int32_t>(code_at(window.qzeros[group * window.words + word_idx], column));
      const float scale = window.scales[group * window.count + feature_idx];
      // |code - zero| < 16: for f16 and bf16 scales the f32 product is exact, so one rounding
      // to the scales' type gives torch's result; for f32 scales it is torch's one rounding.
      for (int32_t code = 0; code < static_cast<int32_t>(kLevels); ++code) {
        values[code] = round_to_scale_type(window.scale_type, static_cast<float>(code - zero) * scale);
      }
      const uint64_t group_end = (group + 1) * window.group_size;
      for (uint64_t in_idx = group * window.group_size; in_idx < group_end; ++in_idx) {
        out[in_idx] = values[code_at(window.qweight[in_idx * window.words + word_idx], column)];
      }
    }
  }
}

}  // namespace amn::kernels::awq
