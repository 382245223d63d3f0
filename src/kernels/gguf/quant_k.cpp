// STUB: to be replaced by the real quantisers (see quant_kernels.hpp).
#include <stdexcept>

#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels::gguf {

void quantize_q2_k(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q2_k: not implemented"); }
void quantize_q3_k(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q3_k: not implemented"); }
void quantize_q4_k(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q4_k: not implemented"); }
void quantize_q5_k(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q5_k: not implemented"); }
void quantize_q6_k(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q6_k: not implemented"); }

}  // namespace amn::kernels::gguf
