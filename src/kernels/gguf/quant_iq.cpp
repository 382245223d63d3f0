// STUB: to be replaced by the real quantisers (see quant_kernels.hpp).
#include <stdexcept>

#include "kernels/gguf/quant_kernels.hpp"

namespace amn::kernels::gguf {

void quantize_iq4_nl(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq4_nl: not implemented"); }
void quantize_iq4_xs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq4_xs: not implemented"); }
void quantize_iq3_s(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq3_s: not implemented"); }
void quantize_iq3_xxs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq3_xxs: not implemented"); }
void quantize_iq2_s(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq2_s: not implemented"); }
void quantize_iq2_xs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq2_xs: not implemented"); }
void quantize_iq2_xxs(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq2_xxs: not implemented"); }
void quantize_iq1_s(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq1_s: not implemented"); }
void quantize_iq1_m(const float*, std::byte*, size_t, size_t, const float*) { throw std::logic_error("quantize_iq1_m: not implemented"); }

}  // namespace amn::kernels::gguf
