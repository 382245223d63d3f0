// Quantisation into GGUF block types, byte-for-byte equal to ggml's `ggml_quantize_chunk` (the
// function llama-quantize calls for every tensor).
#pragma once

#include <cstddef>

#include "amn/dtype.hpp"
#include "kernels/isa.hpp"

namespace amn::kernels {

/// True when quantize_rows handles `type`.
[[nodiscard]] bool can_quantize(DType type);

/// True when ggml refuses to quantise `type` without an importance matrix
/// (ggml_quantize_requires_imatrix).
[[nodiscard]] bool quantize_needs_imatrix(DType type);

/// Quantises `rows` rows of `n_per_row` floats from `src` into `dst` (rows × n_per_row /
/// block_elems blocks). `imatrix` holds n_per_row importance weights, or is null. The bytes equal
/// ggml_quantize_chunk(type, src, dst, 0, rows, n_per_row, imatrix).
/// Preconditions: can_quantize(type), n_per_row a multiple of the block size, imatrix given when
/// quantize_needs_imatrix(type).
/// Runs the quantisers of the process's ISA level (kernels/isa.hpp): the AVX2 build of the same
/// source on AVX2 machines, byte-identical to the scalar one.
void quantize_rows(DType type, const float* src, size_t rows, size_t n_per_row, const float* imatrix, std::byte* dst);

/// quantize_rows with the quantisers of `isa` (scalar, or the AVX2 build for AVX2 and above),
/// whatever the process uses; `isa` must be supported (isa_supported).
void quantize_rows_at(Isa isa, DType type, const float* src, size_t rows, size_t n_per_row, const float* imatrix,
                      std::byte* dst);

}  // namespace amn::kernels
