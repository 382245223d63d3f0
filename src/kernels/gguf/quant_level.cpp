// The quantisers of one ISA level (AMN_QUANT_LEVEL, see quant_kernels.hpp), one row per GGUF
// block type ggml_quantize_chunk makes; needs_imatrix as ggml_quantize_requires_imatrix.
#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels::gguf::AMN_QUANT_LEVEL {
namespace {

constexpr Quantiser kQuantisers[] = {
    {DType::Q4_0, quantize_q4_0, false},       {DType::Q4_1, quantize_q4_1, false},
    {DType::Q5_0, quantize_q5_0, false},       {DType::Q5_1, quantize_q5_1, false},
    {DType::Q8_0, quantize_q8_0, false},       {DType::Q2_K, quantize_q2_k, false},
    {DType::Q3_K, quantize_q3_k, false},       {DType::Q4_K, quantize_q4_k, false},
    {DType::Q5_K, quantize_q5_k, false},       {DType::Q6_K, quantize_q6_k, false},
    {DType::TQ1_0, quantize_tq1_0, false},     {DType::TQ2_0, quantize_tq2_0, false},
    {DType::MXFP4, quantize_mxfp4, false},     {DType::IQ4_NL, quantize_iq4_nl, false},
    {DType::IQ4_XS, quantize_iq4_xs, false},   {DType::IQ3_S, quantize_iq3_s, false},
    {DType::IQ3_XXS, quantize_iq3_xxs, false}, {DType::IQ2_S, quantize_iq2_s, false},
    {DType::IQ2_XS, quantize_iq2_xs, true},    {DType::IQ2_XXS, quantize_iq2_xxs, true},
    {DType::IQ1_S, quantize_iq1_s, true},      {DType::IQ1_M, quantize_iq1_m, false},
    {DType::Q1_0, quantize_q1_0, false},       {DType::Q2_0, quantize_q2_0, false},
    {DType::NVFP4, quantize_nvfp4, false},
};

}  // namespace

std::span<const Quantiser> quantisers() { return kQuantisers; }

}  // namespace amn::kernels::gguf::AMN_QUANT_LEVEL
