// FP8 E4M3 encoder as compressed-tensors quantises a weight for llm-compressor's FP8 schemes
// (symmetric float, 8 bits): scale = max|x| / 448 and q = e4m3(clamp(x / scale + 0, -448, 448)),
// every operation rounded to the weight's own dtype (torch computes bf16/f16 ops in f32 and rounds
// each result back).
#pragma once

#include <cstddef>
#include <cstdint>

#include "amn/dtype.hpp"

namespace amn::kernels::fp8 {

/// `value` rounded to nearest even in `dtype` (F32, F16 or BF16) and widened back to f32.
[[nodiscard]] float round_to(DType dtype, float value);

/// OCP E4M3 (torch float8_e4m3fn) nearest-even encoding of a finite value within ±448.
[[nodiscard]] uint8_t e4m3_from_f32(float value);

/// The scale of a group whose largest magnitude is `absmax` (already exact in `dtype`):
/// round_to(dtype, absmax / 448), or `dtype`'s epsilon when that is 0 (calculate_qparams).
[[nodiscard]] float group_scale(DType dtype, float absmax);

/// Encodes `cols` values of one row: dst[col] = e4m3 of the value over scales[col / group_cols].
/// Values are exact in `dtype`; scales come from group_scale.
void quantize_row(DType dtype, const float* src, size_t cols, const float* scales, size_t group_cols, uint8_t* dst);

}  // namespace amn::kernels::fp8
