// Dequantisation of GGUF block types, bit-for-bit equal to ggml's own `to_float` (and its
// round-to-nearest-even narrowing for BF16 / F16 outputs).
#pragma once

#include <cstddef>

#include "amn/dtype.hpp"
#include "kernels/isa.hpp"

namespace amn::kernels {

/// True when the GGUF dequantisers handle `type` (every GGUF block type); dequant_elements
/// (kernels/convert.hpp) runs them on the process's ISA level, equal to ggml's `dequantize_row_*`
/// bit for bit.
[[nodiscard]] bool can_dequant(DType type);

/// Dequantises `blocks` blocks of `type` into `to` (F32, BF16 or F16) with the kernels of ISA
/// level `isa`: Isa::Scalar runs the reference kernels and narrows in cache-sized batches, the
/// SIMD levels narrow in registers. Every level gives the same bytes. `src` and `dst` need no
/// alignment. Preconditions: can_dequant(type), isa_supported(isa).
void dequant_with(Isa isa, DType type, const std::byte* src, size_t blocks, DType to, std::byte* dst);

}  // namespace amn::kernels
