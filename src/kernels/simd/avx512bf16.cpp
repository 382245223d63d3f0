// The AVX-512 + AVX512_BF16 kernel set: the AVX-512 kernels with bf16 narrowing through
// VCVTNE2PS2BF16.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 takes the `_mm512_undefined_*()` placeholders inside its own AVX-512 intrinsics for
// uninitialised values (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define AMN_SIMD_NAMESPACE avx512bf16
#define AMN_SIMD_HARDWARE_BF16
#define AMN_SIMD_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c,bmi2"
#define AMN_SIMD_VECTORS "kernels/simd/avx512.inl"
#define AMN_SIMD_KERNEL_SET kAvx512Bf16Kernels
#include "kernels/simd/level.inl"
