// The AVX2 (+ FMA, F16C, BMI2) kernel set: the generic SIMD kernels compiled for this level
// through a target region (no global -m flags), so only code inside the region uses the level's
// instructions.
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

#define AMN_SIMD_NAMESPACE avx2
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2")
#endif

#include "kernels/simd/x86.inl"
#include "kernels/simd/avx2.inl"
#include "kernels/simd/writer.inl"
#include "kernels/gguf/simd.inl"
#include "kernels/simd/narrow.inl"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace amn::kernels::simd {

const KernelSet kAvx2Kernels = {
    avx2::gguf_dequant,
    avx2::narrow<avx2::OutBf16>,
    avx2::narrow<avx2::OutF16>,
};

}  // namespace amn::kernels::simd
