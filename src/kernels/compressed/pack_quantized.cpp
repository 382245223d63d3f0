// compressed-tensors pack-quantized: bit-stream unpacking and dequantisation in the scale dtype.
#include "kernels/compressed/pack_quantized.hpp"

#include <algorithm>

#include "kernels/convert.hpp"

namespace amn::kernels::compressed {
namespace {

constexpr unsigned kByteBits = 8;
constexpr size_t kRoundBatch = 1024;  ///< values rounded to F16 per pass through a stack buffer

/// Rounds `count` floats in place to `type` (round to nearest even) and widens them back: the
/// value one torch op in that dtype yields from the exact result. F32 needs no rounding.
void round_in_place(DType type, float* values, size_t count) {
  if (type == DType::BF16) {
    for (size_t idx = 0; idx < count; ++idx) values[idx] = bf16_to_f32(f32_to_bf16(values[idx]));
  } else if (type == DType::F16) {
    uint16_t halves[kRoundBatch];
    for (size_t start = 0; start < count; start += kRoundBatch) {
      const size_t batch = std::min(kRoundBatch, count - start);
      store_f32(values + start, batch, DType::F16, reinterpret_cast<std::byte*>(halves));
      convert_elements(DType::F16, reinterpret_cast<const std::byte*>(halves), batch, DType::F32,
                       reinterpret_cast<std::byte*>(values + start));
    }
  }
}

}  // namespace

void unpack(const std::byte* stream, uint64_t first_bit, size_t count, unsigned bits, int8_t* dst) {
  const unsigned mask = (1u << bits) - 1u;
  const int offset = 1 << (bits - 1);
  for (size_t idx = 0; idx < count; ++idx) {
    // A field spans at most two bytes (bits ≤ 8); little-endian words make the stream bytewise.
    const uint64_t bit = first_bit + idx * bits;
    const uint64_t byte = bit / kByteBits;
    const unsigned shift = static_cast<unsigned>(bit % kByteBits);
    unsigned window = static_cast<unsigned>(stream[byte]);
    if (shift + bits > kByteBits) window |= static_cast<unsigned>(stream[byte + 1]) << kByteBits;
    dst[idx] = static_cast<int8_t>(static_cast<int>((window >> shift) & mask) - offset);
  }
}

void dequant_row(const int8_t* q, size_t cols, const float* scales, const int8_t* zeros, size_t group_cols,
                 DType scale_type, float* dst) {
  // torch rounds each op to the scale dtype. Here both roundings collapse into one:
  // - x_q.to(dtype) - zero_point.to(dtype) is an integer of magnitude ≤ 255 (8 significant
  //   bits), exact in F32, BF16 and F16;
  // - times a BF16 (8-bit) or F16 (11-bit) scale, the product has ≤ 19 significant bits and no
  //   underflow, so the f32 product is exact and rounding it once equals torch's multiply in
  //   that dtype. With an F32 scale the f32 multiply is torch's.
  for (size_t start = 0, group = 0; start < cols; start += group_cols, ++group) {
    const size_t end = std::min(cols, start + group_cols);
    const float scale = scales[group];
    const float zero = zeros ? static_cast<float>(zeros[group]) : 0.0f;
    for (size_t col = start; col < end; ++col) dst[col] = (static_cast<float>(q[col]) - zero) * scale;
  }
  round_in_place(scale_type, dst, cols);
}

}  // namespace amn::kernels::compressed
