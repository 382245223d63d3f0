// compressed-tensors `pack-quantized` integer weights: unpacking pack_to_int32's dense bit
// stream, and dequantising as compressed-tensors' `dequantize` does, in the scale's dtype.
#pragma once

#include <cstddef>
#include <cstdint>

#include "amn/dtype.hpp"

namespace amn::kernels::compressed {

/// Unpacks `count` signed `bits`-bit values (1 ≤ bits ≤ 8) from `stream`: little-endian int32
/// words read as one LSB-first bit stream, value i at bit `first_bit + i * bits`, stored unsigned
/// with offset 2^(bits-1) (compressed-tensors' pack_to_int32 / unpack_from_int32).
void unpack(const std::byte* stream, uint64_t first_bit, size_t count, unsigned bits, int8_t* dst);

/// Dequantises one row: dst[col] = (q[col] - zeros[g]) * scales[g] with g = col / group_cols,
/// each operation rounded to `scale_type` (F32, BF16 or F16) as torch computes
/// `(x_q.to(scale.dtype) - zero_point.to(scale.dtype)) * scale`. `scales` are the stored scales
/// widened to f32 (exact); `zeros` is null for symmetric weights.
void dequant_row(const int8_t* q, size_t cols, const float* scales, const int8_t* zeros, size_t group_cols,
                 DType scale_type, float* dst);

}  // namespace amn::kernels::compressed
