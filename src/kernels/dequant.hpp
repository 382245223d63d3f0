// Dequantisation of GGUF block types to float32, bit-for-bit equal to ggml's own `to_float`.
#pragma once

#include <cstddef>

#include "amn/dtype.hpp"

namespace amn::kernels {

/// True when dequant_f32 handles `type` (every GGUF block type).
[[nodiscard]] bool can_dequant(DType type);

/// Dequantises `blocks` blocks of `type` from `src` into `dst` (blocks × block_elems values).
/// `src` needs no alignment. The result equals ggml's `dequantize_row_*` bit for bit.
/// Precondition: can_dequant(type).
void dequant_f32(DType type, const std::byte* src, size_t blocks, float* dst);

}  // namespace amn::kernels
