// Scalar quantisers for the GGUF block types, one per type, each equal byte for byte to ggml's
// `quantize_<type>` (ggml-quants.c) for the same rows and importance weights: with `imatrix`
// null, ggml's reference path (`quantize_row_<type>_ref` for the types that have one).
//
// The same sources are compiled once per ISA level, each into its own namespace
// (AMN_QUANT_LEVEL): `scalar` as they are, `avx2` through quant_avx2.hpp, so that the compiler
// vectorises the element-wise loops with identical results (no FMA contraction, no
// reassociation). quant_level.cpp lists each level's quantisers.
#pragma once

#include <cstddef>
#include <span>

#include "amn/dtype.hpp"

#ifndef AMN_QUANT_LEVEL
#define AMN_QUANT_LEVEL scalar
#endif

namespace amn::kernels::gguf {

/// Signature shared by every quantiser: `rows` rows of `n_per_row` floats → packed blocks.
using QuantizeFn = void (*)(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);

/// One block type's quantiser, and whether ggml refuses to run it without an importance matrix.
struct Quantiser {
  DType type;
  QuantizeFn fn;
  bool needs_imatrix;
};

namespace scalar {
/// The scalar build of every quantiser.
[[nodiscard]] std::span<const Quantiser> quantisers();
}  // namespace scalar
namespace avx2 {
/// The AVX2 build (x86-64 only; byte-identical to the scalar one).
[[nodiscard]] std::span<const Quantiser> quantisers();
}  // namespace avx2

namespace AMN_QUANT_LEVEL {

// quant_legacy.cpp: one scale (and offset) per block (Q1_0/Q2_0 included).
void quantize_q4_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q4_1(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q5_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q5_1(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q8_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q1_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q2_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);

// quant_k.cpp: K-quants (super-blocks of 256).
void quantize_q2_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q3_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q4_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q5_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_q6_k(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);

// quant_other.cpp: ternary and FP4 types.
void quantize_tq1_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_tq2_0(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_mxfp4(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_nvfp4(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);

// quant_iq.cpp: non-linear and grid (i-quant) types.
void quantize_iq4_nl(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq4_xs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq3_s(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq3_xxs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq2_s(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq2_xs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq2_xxs(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq1_s(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);
void quantize_iq1_m(const float* src, std::byte* dst, size_t rows, size_t n_per_row, const float* imatrix);

}  // namespace AMN_QUANT_LEVEL
}  // namespace amn::kernels::gguf
