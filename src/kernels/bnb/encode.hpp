// BitsAndBytes encoders: 4-bit NF4/FP4 blocks with an f32 absmax each, and LLM.int8 rows with one
// f32 scale per row. Scalar references, byte-identical to bitsandbytes 0.50's CPU quantisers
// (the torch ops `quantize_4bit` and `int8_vectorwise_quant` of its default backend).
#pragma once

#include <array>
#include <cstdint>

#include "kernels/bnb/bnb.hpp"

namespace amn::kernels::bnb {

/// Quantises `count` consecutive elements (starting at a block boundary) into 4-bit codes:
/// blocks of `blocksize`, each with absmax = max |x| and codes = bucketize(clamp(x * f32(1/absmax),
/// -1, 1)) over the midpoints of the sorted code book (a value on a midpoint takes the lower
/// code). When `count` is not a multiple of `blocksize` the last block is the tensor's partial
/// tail, which bitsandbytes treats apart: absmax clamped to at least 1e-38 and x / absmax
/// divided. Codes are packed two per byte, the earlier element in the high nibble; an odd count
/// pads the last byte's low nibble with the code of 0. Writes ceil(count / 2) bytes to `packed`
/// and ceil(count / blocksize) values to `absmax`. Inputs must be finite.
void quantize_4bit_ref(Code4 code, const float* src, uint64_t count, uint64_t blocksize, uint8_t* packed, float* absmax);

/// Only the absmax values quantize_4bit_ref would write (the X.absmax companion).
void absmax_4bit_ref(const float* src, uint64_t count, uint64_t blocksize, float* absmax);

/// bitsandbytes' signed 8-bit dynamic map (create_dynamic_map(): 256 values in [-0.993, 1], sorted),
/// the code book of double quantisation; computed as torch computes it in float32 (linspace with
/// fused multiply-adds).
[[nodiscard]] const std::array<float, kCode8Entries>& dynamic_map();

/// torch's `Tensor.mean()` of a contiguous f32 vector on CPU with `threads` intra-op threads:
/// its cascade sum (lanes of 8, four interleaved rows, levels of 16+ items; inputs of 32768 or
/// more split in one chunk per thread, the chunks' sums added) divided by `count`.
[[nodiscard]] float torch_mean(const float* values, uint64_t count, unsigned threads);

/// bitsandbytes' native CPU quantize_blockwise (0.50) over the dynamic map: blocks of `blocksize`,
/// absmax = max |x|, code = the entry nearest x * f32(1 / absmax) as its 65536-step table
/// resolves it (so not always the nearest: 0 lands on 2.1e-5); an all-zero block gives code 0.
/// Writes `count` codes and ceil(count / blocksize) absmax values.
void quantize_blockwise_8bit_ref(const float* src, uint64_t count, uint64_t blocksize, uint8_t* codes, float* absmax);

/// LLM.int8 rows, as bitsandbytes' Int8Params quantises a weight: each value first rounded to
/// f16 (the weight is moved to float16), scale[r] = max |row| and
/// q = round_half_even(x * (f32(1 / scale) * 127)) as int8 (torch's
/// `127.0 / scale`); an all-zero row gives zeros (scale 0).
/// Inputs must be finite and within f16's range.
void quantize_int8_rows_ref(const float* src, uint64_t rows, uint64_t cols, int8_t* quantised, float* row_scale);

}  // namespace amn::kernels::bnb
