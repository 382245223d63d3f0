// Lookup tables that define the GGUF IQ and FP4 formats (values generated from ggml-common.h).
#pragma once

#include <array>
#include <cstdint>

namespace amn::kernels::gguf {

// Grids: each entry packs 8 (uint64) or 4 (uint32) byte-sized values, element j in byte j
// (little-endian order, as ggml reads them through a byte pointer).

/// IQ2_XXS grid: 256 patterns of 8 magnitudes from {8, 25, 43}.
extern const std::array<uint64_t, 256> kIq2xxsGrid;
/// IQ2_XS grid: 512 patterns of 8 magnitudes.
extern const std::array<uint64_t, 512> kIq2xsGrid;
/// IQ2_S grid: 1024 patterns of 8 magnitudes.
extern const std::array<uint64_t, 1024> kIq2sGrid;
/// IQ3_XXS grid: 256 patterns of 4 magnitudes.
extern const std::array<uint32_t, 256> kIq3xxsGrid;
/// IQ3_S grid: 512 patterns of 4 magnitudes.
extern const std::array<uint32_t, 512> kIq3sGrid;
/// IQ1_S / IQ1_M grid: 2048 patterns of 8 signed values from {-1, 0, 1} (bytes as int8).
extern const std::array<uint64_t, 2048> kIq1sGrid;
/// 7 stored sign bits → 8 sign bits (bit 7 makes the count of negative signs even).
extern const std::array<uint8_t, 128> kSignsIq2xs;
/// IQ4_NL / IQ4_XS: 4-bit code → int8 value.
extern const std::array<int8_t, 16> kValuesIq4nl;
/// E2M1 (FP4) code → twice its value, shared by MXFP4 and NVFP4.
extern const std::array<int8_t, 16> kValuesFp4;

/// Byte `elem` (0-based) of a packed grid entry.
[[nodiscard]] constexpr uint8_t grid_byte(uint64_t entry, unsigned elem) {
  return static_cast<uint8_t>(entry >> (8 * elem));
}

}  // namespace amn::kernels::gguf
