// FP4 E2M1 codes (OCP microscaling element type) with per-block scales: NVFP4 (16 codes per FP8
// E4M3 scale, times a per-tensor factor) and MXFP4 (32 codes per E8M0 power-of-two exponent).
// Two codes per byte, the first in the low nibble.
#pragma once

#include <cstddef>
#include <cstdint>

namespace amn::kernels::fp4 {

/// Codes per NVFP4 scale.
constexpr size_t kNvfp4Block = 16;
/// Codes per MXFP4 scale (gpt-oss `*_scales`).
constexpr size_t kMxfp4Block = 32;

/// The value of E2M1 code `code` (0..15): sign bit 3, magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6.
[[nodiscard]] float e2m1(uint8_t code);

/// One NVFP4 row: dst[col] = e2m1(code col) * block_scales[col / 16] for col < cols (even),
/// `packed` holding cols / 2 bytes. The scales are the effective f32 scales (compressed-tensors:
/// float(weight_scale) / weight_global_scale; ModelOpt: float(weight_scale) * weight_scale_2),
/// so the product is the one f32 multiply both libraries do. Code 8 (sign, magnitude 0) is -0
/// when `negative_zero` (compressed-tensors: magnitude × -1) and +0 otherwise (ModelOpt's table).
void nvfp4_row(const std::byte* packed, size_t cols, const float* block_scales, bool negative_zero, float* dst);

/// One MXFP4 row as transformers' `convert_moe_packed_tensors` computes it in f32:
/// dst[col] = ldexp(e2m1(code col), exponents[col / 32] - 127) (exact: E8M0 255 scales a code to
/// 2^128 × value, i.e. ±inf for every nonzero code and ±0 for zero, as torch.ldexp does).
void mxfp4_row(const std::byte* packed, size_t cols, const uint8_t* exponents, float* dst);

}  // namespace amn::kernels::fp4
