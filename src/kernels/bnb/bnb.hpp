// BitsAndBytes dequantisation: 4-bit NF4/FP4 codes with per-block absmax (optionally double
// quantised as 8-bit codes of a dynamic map), and LLM.int8 rows with one scale per row. Scalar
// references, bit-for-bit equal to bitsandbytes' reference decoders in f32.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace amn::kernels::bnb {

/// The two 4-bit code books.
enum class Code4 : uint8_t { Nf4, Fp4 };

/// Entries of a 4-bit code book (one per nibble value).
inline constexpr size_t kCode4Entries = 16;
/// Entries of the 8-bit map that double quantisation uses for absmax.
inline constexpr size_t kCode8Entries = 256;

/// The f32 value of each nibble, as bitsandbytes' kernels decode it. FP4 nibble 0b1000 is -0.0
/// (sign bit over a zero magnitude), as in its CUDA decoder.
[[nodiscard]] const std::array<float, kCode4Entries>& code4_table(Code4 code);

/// Dequantises `count` 4-bit elements starting at flat element `first` of a packed tensor:
/// element e is nibble (e % 2 == 0 ? high : low) of byte e / 2, times the absmax of block
/// e / blocksize. `packed` points at byte first / 2; `absmax` at the absmax of block
/// first / blocksize. out[i] = table[nibble] * absmax (one f32 multiply).
void dequant_4bit_ref(Code4 code, const uint8_t* packed, uint64_t first, uint64_t count, const float* absmax,
                      uint64_t blocksize, float* dst);

/// Recovers `count` double-quantised absmax values starting at absmax index `first`:
/// out[i] = (code8[codes[i]] * nested_absmax[nested block]) + offset, two f32 roundings in that
/// order (bitsandbytes' dequantize_blockwise, then `absmax += offset`). `codes` points at code
/// `first`; `nested_absmax` at the entry of nested block first / nested_blocksize.
void dequant_nested_absmax_ref(const uint8_t* codes, uint64_t first, uint64_t count, const float* code8,
                               const float* nested_absmax, uint64_t nested_blocksize, float offset, float* dst);

/// Dequantises LLM.int8 rows: out[r][c] = (float(q[r][c]) * row_scale[r]) * f32(1/127), the
/// operation order of bitsandbytes' int8_vectorwise_dequant.
void dequant_int8_rows_ref(const int8_t* quantised, const float* row_scale, uint64_t rows, uint64_t cols, float* dst);

}  // namespace amn::kernels::bnb
