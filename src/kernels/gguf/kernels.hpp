// Scalar reference kernels for every GGUF block type: `blocks` blocks from `src` (any alignment)
// to blocks × kElems floats at `dst`, bit-for-bit equal to ggml's dequantize_row_*.
#pragma once

#include <cstddef>

namespace amn::kernels::gguf {

/// Signature shared by every dequantisation kernel.
using DequantF32Fn = void (*)(const std::byte* src, size_t blocks, float* dst);

// legacy.cpp: one scale (and offset) per block.
void dequant_q4_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q4_0
void dequant_q4_1_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q4_1
void dequant_q5_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q5_0
void dequant_q5_1_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q5_1
void dequant_q8_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q8_0
void dequant_q8_1_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q8_1
void dequant_q1_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q1_0
void dequant_q2_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q2_0

// fp4.cpp: E2M1 codes with power-of-two (MXFP4) or UE4M3 (NVFP4) scales.
void dequant_mxfp4_ref(const std::byte* src, size_t blocks, float* dst);  ///< MXFP4
void dequant_nvfp4_ref(const std::byte* src, size_t blocks, float* dst);  ///< NVFP4

// ternary.cpp
void dequant_tq1_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< TQ1_0
void dequant_tq2_0_ref(const std::byte* src, size_t blocks, float* dst);  ///< TQ2_0

// k_quants.cpp
void dequant_q2_k_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q2_K
void dequant_q3_k_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q3_K
void dequant_q4_k_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q4_K
void dequant_q5_k_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q5_K
void dequant_q6_k_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q6_K
void dequant_q8_k_ref(const std::byte* src, size_t blocks, float* dst);  ///< Q8_K

// iq_quants.cpp
void dequant_iq2_xxs_ref(const std::byte* src, size_t blocks, float* dst);  ///< IQ2_XXS
void dequant_iq2_xs_ref(const std::byte* src, size_t blocks, float* dst);   ///< IQ2_XS
void dequant_iq2_s_ref(const std::byte* src, size_t blocks, float* dst);    ///< IQ2_S
void dequant_iq3_xxs_ref(const std::byte* src, size_t blocks, float* dst);  ///< IQ3_XXS
void dequant_iq3_s_ref(const std::byte* src, size_t blocks, float* dst);    ///< IQ3_S
void dequant_iq1_s_ref(const std::byte* src, size_t blocks, float* dst);    ///< IQ1_S
void dequant_iq1_m_ref(const std::byte* src, size_t blocks, float* dst);    ///< IQ1_M
void dequant_iq4_nl_ref(const std::byte* src, size_t blocks, float* dst);   ///< IQ4_NL
void dequant_iq4_xs_ref(const std::byte* src, size_t blocks, float* dst);   ///< IQ4_XS

}  // namespace amn::kernels::gguf
