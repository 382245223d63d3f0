// STUB: to be replaced by the real quantisers (see quant_kernels.hpp).
#include <stdexcept>

#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels::gguf {

void quantize_tq1_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_tq1_0: not implemented"); }
void quantize_tq2_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_tq2_0: not implemented"); }
void quantize_mxfp4(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_mxfp4: not implemented"); }
void quantize_nvfp4(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_nvfp4: not implemented"); }

}  // namespace amn::kernels::gguf
