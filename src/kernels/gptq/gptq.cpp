// GPTQ scalar reference: bit-string unpacking, v1 zero-point correction, f16 dequantisation.
#include "kernels/gptq/gptq.hpp"

#include <vector>

#include "kernels/scaled_int.hpp"

namespace amn::kernels::gptq {
namespace {

/// What GPTQModel adds to each qzeros word to turn v1 (zero - 1) into v2 (zero): a 1 in the
/// lowest bit of every field.
constexpr uint32_t kV1Ones2 = 0x55555555u;
constexpr uint32_t kV1Ones4 = 0x11111111u;
constexpr uint32_t kV1Ones8 = 0x01010101u;
constexpr unsigned kBits3 = 3;

constexpr uint32_t mask_of(unsigned bits) { return (1u << bits) - 1u; }

/// The code whose lowest bit is bit `shift` of `low`; bits past 31 continue in `high`.
constexpr uint32_t extract(uint32_t low, uint32_t high, unsigned shift, unsigned bits) {
  const uint64_t pair = (static_cast<uint64_t>(high) << kWordBits) | low;
  return static_cast<uint32_t>(pair >> shift) & mask_of(bits);
}

uint32_t v1_ones(unsigned bits) {
  switch (bits) {
    case 2: return kV1Ones2;
    case 4: return kV1Ones4;
    case 8: return kV1Ones8;
    default: return 0;
  }
}

}  // namespace

bool supported_bits(unsigned bits) { return bits == 2 || bits == 3 || bits == 4 || bits == 8; }

void zero_points(const uint32_t* words, uint64_t first, uint64_t count, unsigned bits, bool v1, int32_t* dst) {
  // Whole-word add for 2/4/8 bits (carries included), nothing here for 3 bits (per field below).
  const uint32_t word_add = v1 ? v1_ones(bits) : 0;
  auto word = [&](uint64_t word_idx) { return words[word_idx] + word_add; };
  const uint64_t base_bit = first * bits / kWordBits * kWordBits;
  for (uint64_t feature_idx = 0; feature_idx < count; ++feature_idx) {
    const uint64_t bit = (first + feature_idx) * bits - base_bit;
    const uint64_t word_idx = bit / kWordBits;
    const auto shift = static_cast<unsigned>(bit % kWordBits);
    const uint32_t high = shift + bits > kWordBits ? word(word_idx + 1) : 0;
    uint32_t zero = extract(word(word_idx), high, shift, bits);
    if (v1 && bits == kBits3) zero = (zero + 1) & mask_of(bits);
    dst[feature_idx] = static_cast<int32_t>(zero);
  }
}

void dequant_window_ref(const Window& window, float* dst) {
  const uint64_t stride = window.count;
  // Per feature, every (group, code) value once: scale × (code - zero) rounded to the scales'
  // type. |code - zero| < 256: for f16 and bf16 scales the f32 product is exact, so one rounding
  // to the scales' type gives torch's result; for f32 scales it is torch's one rounding.
  const uint64_t levels = uint64_t{1} << window.bits;
  std::vector<float> values(window.groups * levels);
  for (uint64_t feature_idx = 0; feature_idx < window.count; ++feature_idx) {
    for (uint64_t group = 0; group < window.groups; ++group) {
      const float scale = window.scales[group * stride + feature_idx];
      const int32_t zero = window.zeros[group * stride + feature_idx];
      for (uint64_t code = 0; code < levels; ++code) {
        values[group * levels + code] =
            round_to_scale_type(window.scale_type, scale * static_cast<float>(static_cast<int32_t>(code) - zero));
      }
    }
    const uint32_t* column = window.qweight + feature_idx * window.qweight_rows;
    float* out = dst + feature_idx * window.in_features;
    for (uint64_t in_idx = 0; in_idx < window.in_features; ++in_idx) {
      const uint64_t bit = in_idx * window.bits;
      const uint64_t word_idx = bit / kWordBits;
      const auto shift = static_cast<unsigned>(bit % kWordBits);
      const uint32_t high = shift + window.bits > kWordBits ? column[word_idx + 1] : 0;
      const uint32_t code = extract(column[word_idx], high, shift, window.bits);
      out[in_idx] = values[static_cast<uint64_t>(window.g_idx[in_idx]) * levels + code];
    }
  }
}

}  // namespace amn::kernels::gptq
