// GPTQ dequantisation: 2-, 3-, 4- or 8-bit codes packed into int32 words as one little-endian
// bit string (qweight along the input dimension, qzeros along the output dimension; 3-bit codes
// straddle words), one scale and zero-point per (group, output feature), and g_idx naming each
// input feature's group. Scalar reference, bit for bit equal to GPTQModel's
// TorchLinear.dequantize_weight after its loader's GPTQ v1 → v2 zero-point conversion, with the
// product in the scales' own type (f16 in every GPTQ checkpoint; bf16 or f32 when so stored).
#pragma once

#include <cstddef>
#include <cstdint>

#include "amn/dtype.hpp"

namespace amn::kernels::gptq {

/// Bits in one packed word (GPTQ checkpoints pack int32).
inline constexpr unsigned kWordBits = 32;

/// True for the code widths GPTQ packs contiguously: 2, 3, 4 and 8.
[[nodiscard]] bool supported_bits(unsigned bits);

/// Words holding `codes` codes of `bits` bits: ceil(codes × bits / 32).
[[nodiscard]] constexpr uint64_t words_for(uint64_t codes, unsigned bits) {
  return (codes * bits + kWordBits - 1) / kWordBits;
}

/// Decodes the zero-points of output features [first, first + count) from one qzeros row.
/// `words` starts at the word holding feature `first`'s lowest bit (word first × bits / 32).
/// `v1`: the checkpoint stores zero - 1 (checkpoint_format "gptq"); the +1 is applied as
/// GPTQModel's loader does: for 2, 4 and 8 bits by adding 0x55555555 / 0x11111111 / 0x01010101
/// to each whole int32 word (so a field that wrapped to all ones carries into the next field,
/// undoing the borrow GPTQModel's v2 → v1 export made), for 3 bits field by field mod 8.
void zero_points(const uint32_t* words, uint64_t first, uint64_t count, unsigned bits, bool v1, int32_t* dst);

/// `count` consecutive output features of one GPTQ layer, as the row source gathers them.
struct Window {
  const uint32_t* qweight = nullptr;  ///< [count][qweight_rows]: each feature's qweight column
  const int32_t* zeros = nullptr;     ///< [groups][count]: decoded zero-points
  const float* scales = nullptr;      ///< [groups][count], decoded exactly from `scale_type`
  const int32_t* g_idx = nullptr;     ///< [in_features]: each input feature's group (< groups)
  uint64_t groups = 0;
  uint64_t count = 0;                 ///< output features in the window
  uint64_t in_features = 0;
  uint64_t qweight_rows = 0;          ///< words per feature: words_for(in_features, bits)
  unsigned bits = 0;
  DType scale_type = DType::F16;      ///< the stored scales' type: F16, BF16 or F32
};

/// Writes the window's rows of the [out, in] weight: dst[f × in + i] =
/// scale[g][f] × (code(i, f) - zero[g][f]) with g = g_idx[i] and code(i, f) the i-th code of
/// feature f's qweight column. The difference is exact; the product is rounded once to `scale_type`
/// (torch's scales × int8/int16 codes keeps the scales' type) and widened to f32.
void dequant_window_ref(const Window& window, float* dst);

}  // namespace amn::kernels::gptq
