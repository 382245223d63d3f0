// One kernel set: the generic SIMD kernels compiled for one instruction-set level inside a target
// region (no global -m flags), so only code inside the region uses the level's instructions.
// Each level's source defines these, then includes this file once:
//   AMN_SIMD_NAMESPACE   the level's namespace (avx2, avx512, avx512bf16)
//   AMN_SIMD_TARGET      its target attribute string ("avx2,fma,f16c,bmi2", ...)
//   AMN_SIMD_VECTORS     its vector operations ("kernels/simd/avx2.inl" or "kernels/simd/avx512.inl")
//   AMN_SIMD_KERNEL_SET  the name of the KernelSet it defines
// and AMN_SIMD_HARDWARE_BF16 when the level narrows to bf16 in hardware.
#include <immintrin.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/convert.hpp"
#include "kernels/gguf/blocks.hpp"
#include "kernels/gguf/scales.hpp"
#include "kernels/gguf/tables.hpp"
#include "kernels/simd/kernel_set.hpp"

#define AMN_SIMD_PRAGMA(text) _Pragma(#text)
#if defined(__clang__)
#define AMN_SIMD_PUSH(isa) AMN_SIMD_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
AMN_SIMD_PUSH(AMN_SIMD_TARGET)
#else
#define AMN_SIMD_PUSH(isa) AMN_SIMD_PRAGMA(GCC target(isa))
_Pragma("GCC push_options")
AMN_SIMD_PUSH(AMN_SIMD_TARGET)
#endif

#include "kernels/simd/x86.inl"
#include AMN_SIMD_VECTORS
#include "kernels/simd/writer.inl"
#include "kernels/gguf/simd.inl"
#include "kernels/simd/narrow.inl"

#if defined(__clang__)
_Pragma("clang attribute pop")
#else
_Pragma("GCC pop_options")
#endif

namespace amn::kernels::simd {

const KernelSet AMN_SIMD_KERNEL_SET = {
    AMN_SIMD_NAMESPACE::gguf_dequant,
    AMN_SIMD_NAMESPACE::narrow<AMN_SIMD_NAMESPACE::OutBf16>,
    AMN_SIMD_NAMESPACE::narrow<AMN_SIMD_NAMESPACE::OutF16>,
};

}  // namespace amn::kernels::simd
