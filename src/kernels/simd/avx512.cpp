// The AVX-512 (F, BW, VL, DQ) kernel set.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 takes the `_mm512_undefined_*()` placeholders inside its own AVX-512 intrinsics for
// uninitialised values (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define AMN_SIMD_NAMESPACE avx512
#define AMN_SIMD_TARGET "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,bmi2"
#define AMN_SIMD_VECTORS "kernels/simd/avx512.inl"
#define AMN_SIMD_KERNEL_SET kAvx512Kernels
#include "kernels/simd/level.inl"
