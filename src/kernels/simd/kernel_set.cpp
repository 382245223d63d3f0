// Lookup of the SIMD kernel set of an ISA level (kernels/simd/kernel_set.hpp).
#include "kernels/simd/kernel_set.hpp"

namespace amn::kernels::simd {

const KernelSet* kernel_set(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::Avx2) return &kAvx2Kernels;
  if (isa == Isa::Avx512) return &kAvx512Kernels;
  if (isa == Isa::Avx512Bf16) return &kAvx512Bf16Kernels;
#endif
  (void)isa;
  return nullptr;
}

}  // namespace amn::kernels::simd
