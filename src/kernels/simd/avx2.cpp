// The AVX2 (+ FMA, F16C, BMI2) kernel set.
#define AMN_SIMD_NAMESPACE avx2
#define AMN_SIMD_TARGET "avx2,fma,f16c,bmi2"
#define AMN_SIMD_VECTORS "kernels/simd/avx2.inl"
#define AMN_SIMD_KERNEL_SET kAvx2Kernels
#include "kernels/simd/level.inl"
