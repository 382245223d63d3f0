// The SIMD kernel sets: one per ISA level above scalar, each the same generic code (gguf/simd.inl,
// simd/narrow.inl) compiled for that level. Chosen once per process (kernels/isa.hpp); every
// kernel equals the scalar reference bit for bit.
#pragma once

#include <cstddef>

#include "amn/dtype.hpp"
#include "kernels/isa.hpp"

namespace amn::kernels::simd {

/// Dequantises `blocks` blocks at `src` (any alignment) to elements at `dst` (any alignment).
using DequantFn = void (*)(const std::byte* src, size_t blocks, std::byte* dst);
/// Narrows `count` floats at `src` to 2-byte elements at `dst` (any alignment).
using NarrowFn = void (*)(const float* src, size_t count, std::byte* dst);

/// The kernels of one ISA level.
struct KernelSet {
  /// The kernel dequantising GGUF block type `type` to `to` (F32, BF16 or F16), or nullptr.
  DequantFn (*dequant)(DType type, DType to);
  NarrowFn narrow_bf16;  ///< round to nearest even; NaN keeps its payload and gains the quiet bit
  NarrowFn narrow_f16;   ///< round to nearest even, overflow to ±inf, NaN kept quiet
};

#if defined(__x86_64__)
extern const KernelSet kAvx2Kernels;        ///< simd/avx2.cpp
extern const KernelSet kAvx512Kernels;      ///< simd/avx512.cpp
extern const KernelSet kAvx512Bf16Kernels;  ///< simd/avx512bf16.cpp
#endif

/// The kernel set of `isa`, or nullptr for Isa::Scalar (the reference kernels) and for levels
/// this build does not contain. Does not check that the CPU supports `isa`.
[[nodiscard]] const KernelSet* kernel_set(Isa isa);

}  // namespace amn::kernels::simd
