// The AVX-512 + AVX512_BF16 kernel set: the AVX-512 kernels with bf16 narrowing through
// VCVTNE2PS2BF16, compiled through a target region (no global -m flags), so only code inside the
// region uses the level's instructions.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 takes the `_mm512_undefined_*()` placeholders inside its own AVX-512 intrinsics for
// uninitialised values (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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

#define AMN_SIMD_NAMESPACE avx512bf16
#define AMN_SIMD_HARDWARE_BF16
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c,bmi2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c,bmi2")
#endif

#include "kernels/simd/x86.inl"
#include "kernels/simd/avx512.inl"
#include "kernels/simd/writer.inl"
#include "kernels/gguf/simd.inl"
#include "kernels/simd/narrow.inl"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace amn::kernels::simd {

const KernelSet kAvx512Bf16Kernels = {
    avx512bf16::gguf_dequant,
    avx512bf16::narrow<avx512bf16::OutBf16>,
    avx512bf16::narrow<avx512bf16::OutF16>,
};

}  // namespace amn::kernels::simd
