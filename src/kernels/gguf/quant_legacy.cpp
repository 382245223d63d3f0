// STUB: to be replaced by the real quantisers (see quant_kernels.hpp).
#include <stdexcept>

#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels::gguf {

void quantize_q4_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q4_0: not implemented"); }
void quantize_q4_1(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q4_1: not implemented"); }
void quantize_q5_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q5_0: not implemented"); }
void quantize_q5_1(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q5_1: not implemented"); }
void quantize_q8_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q8_0: not implemented"); }
void quantize_q1_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q1_0: not implemented"); }
void quantize_q2_0(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_q2_0: not implemented"); }

}  // namespace amn::kernels::gguf
