// Dispatch from a DType to its quantiser (kernels/gguf/quant_*.cpp).
#include "kernels/quantize.hpp"

#include <cassert>
#include <span>

#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels {
namespace {

using gguf::Quantiser;

/// The quantisers of `isa`: the AVX2 build for AVX2 and above, where the build has it.
std::span<const Quantiser> quantisers(Isa isa) {
#if defined(__x86_64__)
  if (isa >= Isa::Avx2) return gguf::avx2::quantisers();
#endif
  (void)isa;
  return gguf::scalar::quantisers();
}

const Quantiser* find(DType type, Isa isa = active_isa()) {
  for (const auto& quantiser : quantisers(isa)) {
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
  quantize_rows_at(active_isa(), type, src, rows, n_per_row, imatrix, dst);
}

void quantize_rows_at(Isa isa, DType type, const float* src, size_t rows, size_t n_per_row, const float* imatrix,
                      std::byte* dst) {
  const Quantiser* quantiser = find(type, isa);
  assert(quantiser && n_per_row % info(type).block_elems == 0);
  assert(imatrix || !quantiser->needs_imatrix);
  quantiser->fn(src, dst, rows, n_per_row, imatrix);
}

}  // namespace amn::kernels
