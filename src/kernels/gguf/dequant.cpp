// Dispatch from a GGUF block DType to its dequantisation kernel (kernels/dequant.hpp): the SIMD
// kernel set of the chosen ISA level, or the scalar reference kernels.
#include "kernels/dequant.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/gguf/kernels.hpp"
#include "kernels/simd/kernel_set.hpp"

namespace amn::kernels {
namespace {

using gguf::DequantF32Fn;

constexpr size_t kBatchElems = 4096;  // reference path: f32 values narrowed per L1-sized batch

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

DequantF32Fn find_reference(DType type) {
  for (const auto& entry : kKernels) {
    if (entry.type == type) return entry.kernel;
  }
  return nullptr;
}

/// The reference kernel into f32, narrowed batch by batch through a thread-local buffer.
void dequant_reference(DType type, const std::byte* src, size_t blocks, DType to, std::byte* dst) {
  const DequantF32Fn kernel = find_reference(type);
  if (to == DType::F32) {
    kernel(src, blocks, reinterpret_cast<float*>(dst));
    return;
  }
  const size_t block_elems = info(type).block_elems;
  const size_t block_bytes = info(type).block_bits / 8;
  const size_t out_size = info(to).block_bits / 8;
  const size_t batch_blocks = std::max<size_t>(1, kBatchElems / block_elems);
  thread_local std::vector<float> batch;
  batch.resize(batch_blocks * block_elems);
  for (size_t done = 0; done < blocks; done += batch_blocks) {
    const size_t step = std::min(batch_blocks, blocks - done);
    kernel(src + done * block_bytes, step, batch.data());
    store_f32_with(Isa::Scalar, batch.data(), step * block_elems, to, dst + done * block_elems * out_size);
  }
}

}  // namespace

bool can_dequant(DType type) { return find_reference(type) != nullptr; }

void dequant_with(Isa isa, DType type, const std::byte* src, size_t blocks, DType to, std::byte* dst) {
  if (const simd::KernelSet* set = simd::kernel_set(isa)) {
    if (const simd::DequantFn kernel = set->dequant(type, to)) {
      kernel(src, blocks, dst);
      return;
    }
  }
  dequant_reference(type, src, blocks, to, dst);
}

}  // namespace amn::kernels
