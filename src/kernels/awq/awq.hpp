// AWQ (AutoAWQ GEMM) dequantisation: 4-bit codes packed eight to an int32 word along the output
// dimension in AutoAWQ's interleaved nibble order, qzeros packed the same way per group, scales
// [groups, out] (f16 as AutoAWQ writes them). Scalar reference, bit for bit equal to AutoAWQ's
// awq.utils.packing_utils.dequantize_gemm (the product in the scales' own type).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "amn/dtype.hpp"

namespace amn::kernels::awq {

/// Bits per code (AutoAWQ's GEMM layout is 4-bit only).
inline constexpr unsigned kBits = 4;
/// Codes per int32 word.
inline constexpr unsigned kPerWord = 8;
/// Distinct 4-bit codes.
inline constexpr unsigned kLevels = 1u << kBits;
/// The nibble that holds column m of a word's eight columns. AutoAWQ packs column
/// 8w + [0, 2, 4, 6, 1, 3, 5, 7][k] into nibble k (AWQ_ORDER); this is its inverse
/// (AWQ_REVERSE_ORDER).
inline constexpr std::array<unsigned, kPerWord> kNibbleOfColumn = {0, 4, 1, 5, 2, 6, 3, 7};

/// The code of column `column` (0..7 within the word) of a packed word.
[[nodiscard]] constexpr uint32_t code_at(uint32_t word, unsigned column) {
  return (word >> (kBits * kNibbleOfColumn[column])) & ((1u << kBits) - 1u);
}

/// A window of output features [first, first + count) of one AWQ layer, as the row source
/// reads it: the packed words of the columns that hold those features.
struct Window {
  const uint32_t* qweight = nullptr;  ///< [in_features][words]
  const uint32_t* qzeros = nullptr;   ///< [groups][words]
  const float* scales = nullptr;      ///< [groups][count], decoded exactly from `scale_type`
  uint64_t words = 0;                 ///< words per row above; word 0 holds feature first - first % 8
  uint64_t first = 0;
  uint64_t count = 0;
  uint64_t in_features = 0;
  uint64_t group_size = 0;            ///< input features per group
  DType scale_type = DType::F16;      ///< the stored scales' type: F16, BF16 or F32
};

/// Writes the window's rows of the [out, in] weight: dst[f × in + i] =
/// (code(i, f) - zero(i / group_size, f)) × scale[i / group_size][f]; the difference is exact,
/// the product rounded once to `scale_type` (torch's int8 × f16 is f16) and widened to f32.
void dequant_window_ref(const Window& window, float* dst);

}  // namespace amn::kernels::awq
