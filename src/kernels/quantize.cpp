// Dispatch from a DType to its quantiser (kernels/gguf/quant_*.cpp).
#include "kernels/quantize.hpp"

#include <cassert>

#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels {
namespace {

struct Quantiser {
  DType type;
  gguf::QuantizeFn fn;
  bool needs_imatrix;
};

constexpr Quantiser kQuantisers[] = {
    {DType::Q4_0, gguf::quantize_q4_0, false},       {DType::Q4_1, gguf::quantize_q4_1, false},
    {DType::Q5_0, gguf::quantize_q5_0, false},       {DType::Q5_1, gguf::quantize_q5_1, false},
    {DType::Q8_0, gguf::quantize_q8_0, false},       {DType::Q2_K, gguf::quantize_q2_k, false},
    {DType::Q3_K, gguf::quantize_q3_k, false},       {DType::Q4_K, gguf::quantize_q4_k, false},
    {DType::Q5_K, gguf::quantize_q5_k, false},       {DType::Q6_K, gguf::quantize_q6_k, false},
    {DType::TQ1_0, gguf::quantize_tq1_0, false},     {DType::TQ2_0, gguf::quantize_tq2_0, false},
    {DType::MXFP4, gguf::quantize_mxfp4, false},     {DType::IQ4_NL, gguf::quantize_iq4_nl, false},
    {DType::IQ4_XS, gguf::quantize_iq4_xs, false},   {DType::IQ3_S, gguf::quantize_iq3_s, false},
    {DType::IQ3_XXS, gguf::quantize_iq3_xxs, false}, {DType::IQ2_S, gguf::quantize_iq2_s, false},
    {DType::IQ2_XS, gguf::quantize_iq2_xs, true},    {DType::IQ2_XXS, gguf::quantize_iq2_xxs, true},
    {DType::IQ1_S, gguf::quantize_iq1_s, true},      {DType::IQ1_M, gguf::quantize_iq1_m, false},
    {DType::Q1_0, gguf::quantize_q1_0, false},       {DType::Q2_0, gguf::quantize_q2_0, false},
    {DType::NVFP4, gguf::quantize_nvfp4, false},
};

const Quantiser* find(DType type) {
  for (const auto& quantiser : kQuantisers) {
    if (quantiser.type == type) return &quantiser;
  }
  return nullptr;
}

}  // namespace

bool can_quantize(DType type) { return find(type) != nullptr; }

bool quantize_needs_imatrix(DType type) {
  const Quantiser* quantiser = find(type);
  return quantiser && quantiser->needs_imatrix;
}

void quantize_rows(DType type, const float* src, size_t rows, size_t n_per_row, const float* imatrix, std::byte* dst) {
  const Quantiser* quantiser = find(type);
  assert(quantiser && n_per_row % info(type).block_elems == 0);
  assert(imatrix || !quantiser->needs_imatrix);
  quantiser->fn(src, dst, rows, n_per_row, imatrix);
}

}  // namespace amn::kernels
