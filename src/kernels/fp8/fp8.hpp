// FP8 weights (OCP E4M3 / E5M2) times their scales: per tensor, per output channel, or per
// block (DeepSeek-V3 `weight_scale_inv`), as HF transformers' Fp8Dequantize computes in f32.
#pragma once

#include <cstddef>

#include "amn/dtype.hpp"

namespace amn::kernels::fp8 {

/// Dequantises one row of an FP8 weight: dst[col] = float(weight[col]) * scales[col / block_cols]
/// for col < cols, i.e. torch's `weight.to(float32) * scale.to(float32)` with the scale broadcast
/// over `block_cols` columns (the block width; `cols` for a per-tensor or per-channel scale).
/// `type` is F8_E4M3 or F8_E5M2; `scales` holds ceil(cols / block_cols) values, already f32.
void dequant_row(DType type, const std::byte* weight, size_t cols, const float* scales, size_t block_cols, float* dst);

}  // namespace amn::kernels::fp8
