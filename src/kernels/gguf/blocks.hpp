// On-disk block layouts of every GGUF quantised type (ggml-common.h) and the scalar decoders
// their fields need. All fields are byte arrays: blocks may sit at any address and are read
// little-endian whatever the host.
//
// The kernels evaluate ggml's expressions in ggml's order (float products left to right). Every
// product that is followed by an addition (d · q + m, d · sc · q − dmin · m) is exact in float,
// so FMA contraction by the compiler cannot change a result.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/convert.hpp"

namespace amn::kernels::gguf {

/// Elements in a K-quant / IQ super-block (ggml QK_K).
inline constexpr size_t kSuperBlockElems = 256;

/// A little-endian uint16 stored at any alignment.
struct LeU16 {
  uint8_t bytes[2];
  [[nodiscard]] constexpr uint16_t value() const {
    return static_cast<uint16_t>(bytes[0] | (bytes[1] << 8));
  }
};

/// Reads a little-endian uint32 from 4 bytes.
[[nodiscard]] constexpr uint32_t load_le32(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | (static_cast<uint32_t>(bytes[1]) << 8) |
         (static_cast<uint32_t>(bytes[2]) << 16) | (static_cast<uint32_t>(bytes[3]) << 24);
}

/// A binary16 value (ggml_half) stored at any alignment.
struct Half {
  LeU16 bits;
  [[nodiscard]] float to_f32() const { return f16_to_f32(bits.value()); }
};

/// Copies block `block_idx` of a packed array of `Block`s (any alignment) into a local value.
template <class Block>
[[nodiscard]] inline Block load_block(const std::byte* src, size_t block_idx) {
  Block block;
  std::memcpy(&block, src + block_idx * sizeof(Block), sizeof(Block));
  return block;
}

// ---- one scale per block of 32 or fewer-bit codes -------------------------------------------

/// Q4_0: x = d · (q − 8); element j in the low nibble of qs[j], element j+16 in the high one.
struct BlockQ4_0 {
  static constexpr size_t kElems = 32;
  Half d;
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

/// Q4_1: x = d · q + m; nibbles as Q4_0.
struct BlockQ4_1 {
  static constexpr size_t kElems = 32;
  Half d;
  Half m;
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

/// Q5_0: x = d · (q − 16); low 4 bits as Q4_0, bit 4 of element j is bit j of qh (LE uint32).
struct BlockQ5_0 {
  static constexpr size_t kElems = 32;
  Half d;
  uint8_t qh[4];
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

/// Q5_1: x = d · q + m; bits as Q5_0.
struct BlockQ5_1 {
  static constexpr size_t kElems = 32;
  Half d;
  Half m;
  uint8_t qh[4];
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

/// Q8_0: x = d · q, q int8.
struct BlockQ8_0 {
  static constexpr size_t kElems = 32;
  Half d;
  int8_t qs[kElems];
};
static_assert(sizeof(BlockQ8_0) == 34);

/// Q8_1: x = d · q; s = d · Σq is only used by ggml's dot products.
struct BlockQ8_1 {
  static constexpr size_t kElems = 32;
  Half d;
  Half s;
  int8_t qs[kElems];
};
static_assert(sizeof(BlockQ8_1) == 36);

/// Q1_0: x = +d when bit j (LSB first) of the bitmap is set, else −d.
struct BlockQ1_0 {
  static constexpr size_t kElems = 128;
  Half d;
  uint8_t qs[kElems / 8];
};
static_assert(sizeof(BlockQ1_0) == 18);

/// Q2_0: x = d · (q − 1), q the 2-bit field j%4 (LSB first) of byte j/4.
struct BlockQ2_0 {
  static constexpr size_t kElems = 64;
  Half d;
  uint8_t qs[kElems / 4];
};
static_assert(sizeof(BlockQ2_0) == 18);

/// MXFP4: x = kValuesFp4[code] · 2^(e−128) (the table holds doubled E2M1 values); nibbles as Q4_0.
struct BlockMxfp4 {
  static constexpr size_t kElems = 32;
  uint8_t e;  // E8M0 shared exponent
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockMxfp4) == 17);

/// NVFP4: four sub-blocks of 16; sub-block s has UE4M3 scale d[s] and nibbles qs[8s .. 8s+7]
/// (element j low nibble, element j+8 high nibble).
struct BlockNvfp4 {
  static constexpr size_t kElems = 64;
  static constexpr size_t kSubElems = 16;
  uint8_t d[kElems / kSubElems];
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockNvfp4) == 36);

// ---- ternary -------------------------------------------------------------------------------

/// TQ1_0: x = d · (t − 1), trits t packed 5 per byte in qs (base 3, most significant trit
/// first, scaled to a fixed point byte) and 4 per byte in qh.
struct BlockTq1_0 {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t qs[(kElems - 4 * kElems / 64) / 5];
  uint8_t qh[kElems / 64];
  Half d;
};
static_assert(sizeof(BlockTq1_0) == 54);

/// TQ2_0: x = d · (q − 1), q 2-bit.
struct BlockTq2_0 {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t qs[kElems / 4];
  Half d;
};
static_assert(sizeof(BlockTq2_0) == 66);

// ---- K-quants: super-blocks of 256 with quantised sub-block scales ------------------------

/// Q2_K: 16 sub-blocks of 16; x = d · sc · q − dmin · m, sc/m the nibbles of scales[sub].
struct BlockQ2_K {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t scales[kElems / 16];
  uint8_t qs[kElems / 4];
  Half d;
  Half dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

/// Q3_K: 16 sub-blocks of 16; x = d · (sc − 32) · (q − 4·!hbit), sc 6-bit packed in 12 bytes.
struct BlockQ3_K {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t hmask[kElems / 8];
  uint8_t qs[kElems / 4];
  uint8_t scales[12];
  Half d;
};
static_assert(sizeof(BlockQ3_K) == 110);

/// Q4_K: 8 sub-blocks of 32; x = d · sc · q − dmin · m, sc/m 6-bit packed in 12 bytes.
struct BlockQ4_K {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  Half dmin;
  uint8_t scales[12];
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

/// Q5_K: as Q4_K with a fifth bit per element in qh.
struct BlockQ5_K {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  Half dmin;
  uint8_t scales[12];
  uint8_t qh[kElems / 8];
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

/// Q6_K: 16 sub-blocks of 16; x = d · sc · (q − 32), sc int8, q 4 low bits in ql + 2 in qh.
struct BlockQ6_K {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t ql[kElems / 2];
  uint8_t qh[kElems / 4];
  int8_t scales[kElems / 16];
  Half d;
};
static_assert(sizeof(BlockQ6_K) == 210);

/// Q8_K: x = d · q with a float32 d; bsums (int16 sums of 16 codes) serve dot products only.
struct BlockQ8_K {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t d[4];
  int8_t qs[kElems];
  uint8_t bsums[kElems / 16 * 2];
};
static_assert(sizeof(BlockQ8_K) == 292);

// ---- IQ types: codes index shared grids (tables.hpp) ---------------------------------------

/// IQ2_XXS: per 32 elements 8 bytes: 4 grid indices, then a LE uint32 holding 4×7 sign bits
/// and a 4-bit scale in bits 28..31.
struct BlockIq2Xxs {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  uint8_t qs[kElems / 4];
};
static_assert(sizeof(BlockIq2Xxs) == 66);

/// IQ2_XS: per 8 elements one LE uint16: 9-bit grid index, 7 sign bits; two 4-bit scales per 32.
struct BlockIq2Xs {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  LeU16 qs[kElems / 8];
  uint8_t scales[kElems / 32];
};
static_assert(sizeof(BlockIq2Xs) == 74);

/// IQ2_S: qs holds 32 grid index low bytes then 32 sign bytes; qh 2 high index bits per 8.
struct BlockIq2S {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  uint8_t qs[kElems / 4];
  uint8_t qh[kElems / 32];
  uint8_t scales[kElems / 32];
};
static_assert(sizeof(BlockIq2S) == 82);

/// IQ3_XXS: 64 grid indices (4 elements each), then per 32 elements a LE uint32 of 4×7 sign
/// bits and a 4-bit scale.
struct BlockIq3Xxs {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  uint8_t qs[3 * kElems / 8];
};
static_assert(sizeof(BlockIq3Xxs) == 98);

/// IQ3_S: 9-bit grid indices (low bytes qs, high bits qh), explicit sign bits, 4-bit scales.
struct BlockIq3S {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  uint8_t qs[kElems / 4];
  uint8_t qh[kElems / 32];
  uint8_t signs[kElems / 8];
  uint8_t scales[kElems / 64];
};
static_assert(sizeof(BlockIq3S) == 110);

/// IQ1_S: 11-bit grid indices (qs + 3 bits of qh), per 32 elements a LE uint16 qh with the
/// high index bits, a 3-bit scale and the sign of the ±1/8 shift.
struct BlockIq1S {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  uint8_t qs[kElems / 8];
  LeU16 qh[kElems / 32];
};
static_assert(sizeof(BlockIq1S) == 50);

/// IQ1_M: like IQ1_S with a shift sign per 8 elements and 3-bit scales per 16; the fp16
/// super-block scale is spread over the top nibbles of the four LE uint16 words of scales.
struct BlockIq1M {
  static constexpr size_t kElems = kSuperBlockElems;
  uint8_t qs[kElems / 8];
  uint8_t qh[kElems / 16];
  LeU16 scales[kElems / 64];
};
static_assert(sizeof(BlockIq1M) == 56);

/// IQ4_NL: x = d · kValuesIq4nl[code]; nibbles as Q4_0.
struct BlockIq4Nl {
  static constexpr size_t kElems = 32;
  Half d;
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockIq4Nl) == 18);

/// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (4 low bits in scales_l, 2 high in scales_h);
/// x = d · (sc − 32) · kValuesIq4nl[code].
struct BlockIq4Xs {
  static constexpr size_t kElems = kSuperBlockElems;
  Half d;
  LeU16 scales_h;
  uint8_t scales_l[kElems / 64];
  uint8_t qs[kElems / 2];
};
static_assert(sizeof(BlockIq4Xs) == 136);

}  // namespace amn::kernels::gguf
