// Dispatch from a GGUF block DType to its dequantisation kernel (kernels/dequant.hpp).
#include "kernels/dequant.hpp"

#include <array>

#include "kernels/gguf/kernels.hpp"

namespace amn::kernels {
namespace {

using gguf::DequantF32Fn;

struct KernelEntry {
  DType type;
  DequantF32Fn kernel;
};

constexpr std::array kKernels = {
    KernelEntry{DType::Q4_0, gguf::dequant_q4_0_ref},
    KernelEntry{DType::Q4_1, gguf::dequant_q4_1_ref},
    KernelEntry{DType::Q5_0, gguf::dequant_q5_0_ref},
    KernelEntry{DType::Q5_1, gguf::dequant_q5_1_ref},
    KernelEntry{DType::Q8_0, gguf::dequant_q8_0_ref},
    KernelEntry{DType::Q8_1, gguf::dequant_q8_1_ref},
    KernelEntry{DType::Q2_K, gguf::dequant_q2_k_ref},
    KernelEntry{DType::Q3_K, gguf::dequant_q3_k_ref},
    KernelEntry{DType::Q4_K, gguf::dequant_q4_k_ref},
    KernelEntry{DType::Q5_K, gguf::dequant_q5_k_ref},
    KernelEntry{DType::Q6_K, gguf::dequant_q6_k_ref},
    KernelEntry{DType::Q8_K, gguf::dequant_q8_k_ref},
    KernelEntry{DType::IQ2_XXS, gguf::dequant_iq2_xxs_ref},
    KernelEntry{DType::IQ2_XS, gguf::dequant_iq2_xs_ref},
    KernelEntry{DType::IQ3_XXS, gguf::dequant_iq3_xxs_ref},
    KernelEntry{DType::IQ1_S, gguf::dequant_iq1_s_ref},
    KernelEntry{DType::IQ4_NL, gguf::dequant_iq4_nl_ref},
    KernelEntry{DType::IQ3_S, gguf::dequant_iq3_s_ref},
    KernelEntry{DType::IQ2_S, gguf::dequant_iq2_s_ref},
    KernelEntry{DType::IQ4_XS, gguf::dequant_iq4_xs_ref},
    KernelEntry{DType::IQ1_M, gguf::dequant_iq1_m_ref},
    KernelEntry{DType::TQ1_0, gguf::dequant_tq1_0_ref},
    KernelEntry{DType::TQ2_0, gguf::dequant_tq2_0_ref},
    KernelEntry{DType::MXFP4, gguf::dequant_mxfp4_ref},
    KernelEntry{DType::NVFP4, gguf::dequant_nvfp4_ref},
    KernelEntry{DType::Q1_0, gguf::dequant_q1_0_ref},
    KernelEntry{DType::Q2_0, gguf::dequant_q2_0_ref},
};

DequantF32Fn find_kernel(DType type) {
  for (const auto& entry : kKernels) {
    if (entry.type == type) return entry.kernel;
  }
  return nullptr;
}

}  // namespace

bool can_dequant(DType type) { return find_kernel(type) != nullptr; }

void dequant_f32(DType type, const std::byte* src, size_t blocks, float* dst) {
  find_kernel(type)(src, blocks, dst);
}

}  // namespace amn::kernels
