// GGUF dequantisation over 16-lane vectors, written once and compiled per ISA level (included
// by the simd/avx*.cpp translation units inside their target regions, after the vector
// operations). Each kernel evaluates its reference kernel's float expressions in the same order
// (see blocks.hpp), so results are equal bit for bit; the output is narrowed in registers.
// Layout comments name element e of a block; "vector k" covers elements 16k .. 16k + 15.

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {
namespace {

using namespace gguf;

constexpr uint8_t kNibble = 0x0f;
constexpr uint8_t kTwoBits = 0x03;
constexpr uint8_t kOneBit = 0x01;
constexpr size_t kVectorsPerBlock32 = 32 / kLanes;           // 32-element blocks and sub-blocks
constexpr size_t kSubBlocks16 = kSuperBlockElems / kLanes;   // K-quant sub-blocks of 16
constexpr size_t kSubBlocks32 = kSuperBlockElems / 32;       // K-quant and IQ sub-blocks of 32
constexpr size_t kHalfBlockBytes = 32;  // Q2_K/Q3_K/Q6_K: bytes of a 128-element half per plane
constexpr size_t kGroupElems = 8;       // IQ: elements per grid entry / sign byte
constexpr size_t kGroupsPerSub = 32 / kGroupElems;

/// Unrolls the fixed-count loop that follows, so that sub-block offsets and shifts become
/// constants.
#define AMN_UNROLL _Pragma("GCC unroll 16")

/// Block `block_idx` of a packed array (blocks have alignment 1, so any address is valid).
template <class Block>
const Block& block_at(const std::byte* src, size_t block_idx) {
  return *reinterpret_cast<const Block*>(src + block_idx * sizeof(Block));
}

/// A block's f16 scale as float.
inline float scale_of(const Half& half) { return f16_to_f32(half.bits.value()); }

/// 16 codes → floats: signed or unsigned bytes.
inline F32x16 signed_values(U8x16 codes) { return to_float(widen_i8(codes)); }
inline F32x16 unsigned_values(U8x16 codes) { return to_float(widen_u8(codes)); }

// ---- one scale per block ------------------------------------------------------------------

template <class Out>
void q4_0(const std::byte* src, size_t blocks, std::byte* dst) {
  // vector 0: low nibbles of qs, vector 1: high nibbles; x = (q − 8) · d
  Writer<Out> out(dst, blocks * BlockQ4_0::kElems);
  const U8x16 zero_point = splat_u8(8);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ4_0>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    const U8x16 codes = load16(block.qs);
    out.put(signed_values(sub_u8(low_nibbles(codes), zero_point)) * scale,
            signed_values(sub_u8(high_nibbles(codes), zero_point)) * scale);
  }
}

template <class Out>
void q4_1(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockQ4_1::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ4_1>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    const F32x16 offset = splat(scale_of(block.m));
    const U8x16 codes = load16(block.qs);
    out.put(unsigned_values(low_nibbles(codes)) * scale + offset, unsigned_values(high_nibbles(codes)) * scale + offset);
  }
}

/// Q5 codes of vector `vector` (0 or 1): the nibbles | bit 4, which is bit e of the qh word.
inline U8x16 q5_codes(U8x16 nibbles, uint32_t high_bits, size_t vector) {
  constexpr uint8_t kBit4 = 0x10;
  const auto bits = static_cast<uint16_t>(high_bits >> (kLanes * vector));
  return bit_or(nibbles, keep_bytes(bits, splat_u8(kBit4)));
}

template <class Out>
void q5_0(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockQ5_0::kElems);
  const U8x16 zero_point = splat_u8(16);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ5_0>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    const uint32_t high_bits = load_le32(block.qh);
    const U8x16 codes = load16(block.qs);
    out.put(signed_values(sub_u8(q5_codes(low_nibbles(codes), high_bits, 0), zero_point)) * scale,
            signed_values(sub_u8(q5_codes(high_nibbles(codes), high_bits, 1), zero_point)) * scale);
  }
}

template <class Out>
void q5_1(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockQ5_1::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ5_1>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    const F32x16 offset = splat(scale_of(block.m));
    const uint32_t high_bits = load_le32(block.qh);
    const U8x16 codes = load16(block.qs);
    out.put(unsigned_values(q5_codes(low_nibbles(codes), high_bits, 0)) * scale + offset,
            unsigned_values(q5_codes(high_nibbles(codes), high_bits, 1)) * scale + offset);
  }
}

/// Q8_0 and Q8_1: int8 codes times the f16 scale.
template <class Out, class Block>
void q8(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * Block::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<Block>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    const auto* codes = reinterpret_cast<const uint8_t*>(block.qs);
    out.put(signed_values(load16(codes)) * scale, signed_values(load16(codes + kLanes)) * scale);
  }
}

template <class Out>
void q1_0(const std::byte* src, size_t blocks, std::byte* dst) {
  // vector k: bits of qs[2k], qs[2k + 1] select +d or −d
  Writer<Out> out(dst, blocks * BlockQ1_0::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ1_0>(src, block_idx);
    const float scale = scale_of(block.d);
    const F32x16 positive = splat(scale);
    const F32x16 negative = splat(-scale);
    AMN_UNROLL
    for (size_t vector = 0; vector < BlockQ1_0::kElems / kLanes; vector += 2) {
      uint16_t bits[2];
      std::memcpy(bits, block.qs + 2 * vector, sizeof(bits));  // little-endian: byte 2k is lanes 0..7
      out.put(select(bits[0], positive, negative), select(bits[1], positive, negative));
    }
  }
}

/// Shifts of the four 2-bit fields of a byte, for each of 4 bytes.
alignas(64) constexpr int32_t kTwoBitShifts[kLanes] = {0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6};

template <class Out>
void q2_0(const std::byte* src, size_t blocks, std::byte* dst) {
  // vector k: bytes 4k .. 4k + 3, each repeated 4 times, lane j shifted by 2 · (j % 4)
  constexpr size_t kBytesPerVector = kLanes / 4;
  Writer<Out> out(dst, blocks * BlockQ2_0::kElems);
  const U8x16 each_byte_4_times = from_u64(0x0101010100000000, 0x0303030302020202);
  const I32x16 shifts = load_i32(kTwoBitShifts);
  const I32x16 field_mask = splat_i32(kTwoBits);
  const I32x16 zero_point = splat_i32(1);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ2_0>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    F32x16 values[BlockQ2_0::kElems / kLanes];
    AMN_UNROLL
    for (size_t vector = 0; vector < BlockQ2_0::kElems / kLanes; ++vector) {
      const U8x16 bytes = shuffle(load4(block.qs + kBytesPerVector * vector), each_byte_4_times);
      const I32x16 codes = shift_right(widen_u8(bytes), shifts) & field_mask;
      values[vector] = to_float(codes - zero_point) * scale;
    }
    out.put(values[0], values[1]);
    out.put(values[2], values[3]);
  }
}

// ---- FP4 ----------------------------------------------------------------------------------

template <class Out>
void mxfp4(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockMxfp4::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockMxfp4>(src, block_idx);
    const F32x16 scale = splat(e8m0_half_to_f32(block.e));
    const U8x16 codes = load16(block.qs);
    out.put(signed_values(lookup16(kValuesFp4.data(), low_nibbles(codes))) * scale,
            signed_values(lookup16(kValuesFp4.data(), high_nibbles(codes))) * scale);
  }
}

template <class Out>
void nvfp4(const std::byte* src, size_t blocks, std::byte* dst) {
  // sub-block s = vector s: 8 bytes, low nibbles are its elements 0..7, high nibbles 8..15
  constexpr size_t kSubBlocks = BlockNvfp4::kElems / BlockNvfp4::kSubElems;
  constexpr size_t kSubBytes = BlockNvfp4::kSubElems / 2;
  Writer<Out> out(dst, blocks * BlockNvfp4::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockNvfp4>(src, block_idx);
    F32x16 values[kSubBlocks];
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks; ++sub) {
      const U8x16 codes = load8(block.qs + sub * kSubBytes);
      const U8x16 nibbles = join_low_halves(low_nibbles(codes), high_nibbles(codes));
      values[sub] = signed_values(lookup16(kValuesFp4.data(), nibbles)) * splat(ue4m3_half_to_f32(block.d[sub]));
    }
    out.put(values[0], values[1]);
    out.put(values[2], values[3]);
  }
}

// ---- ternary ------------------------------------------------------------------------------

/// TQ1_0 trits t − 1 of 16 bytes, lane j multiplied by 3^digit(j): ((byte · 3^digit) mod 256 · 3) >> 8.
inline I32x16 tq1_trits(U8x16 bytes, I32x16 multipliers) {
  const I32x16 shifted = (widen_u8(bytes) * multipliers) & splat_i32(0xff);
  return shift_right<8>(shifted * splat_i32(3)) - splat_i32(1);
}

/// 3^digit for the qh vector of TQ1_0 (lane = 4 · digit + byte).
alignas(64) constexpr int32_t kQhDigitMultipliers[kLanes] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};

template <class Out>
void tq1_0(const std::byte* src, size_t blocks, std::byte* dst) {
  // qs: a 32-byte then a 16-byte group, each unpacked digit by digit; then qh: 4 bytes × 4 digits
  constexpr size_t kWideGroup = 32;
  constexpr size_t kDigits = 5;
  constexpr int32_t kPowersOf3[kDigits] = {1, 3, 9, 27, 81};
  Writer<Out> out(dst, blocks * BlockTq1_0::kElems);
  const I32x16 qh_multipliers = load_i32(kQhDigitMultipliers);
  const U8x16 qh_bytes_4_times = from_u32(0x03020100, 0x03020100, 0x03020100, 0x03020100);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockTq1_0>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    AMN_UNROLL
    for (const int32_t power : kPowersOf3) {
      out.put(to_float(tq1_trits(load16(block.qs), splat_i32(power))) * scale,
              to_float(tq1_trits(load16(block.qs + kLanes), splat_i32(power))) * scale);
    }
    // the 16-byte group's 5 digits, then the qh vector
    F32x16 values[kDigits + 1];
    for (size_t digit = 0; digit < kDigits; ++digit) {
      values[digit] = to_float(tq1_trits(load16(block.qs + kWideGroup), splat_i32(kPowersOf3[digit]))) * scale;
    }
    values[kDigits] = to_float(tq1_trits(shuffle(load4(block.qh), qh_bytes_4_times), qh_multipliers)) * scale;
    out.put(values[0], values[1]);
    out.put(values[2], values[3]);
    out.put(values[4], values[5]);
  }
}

template <class Out>
void tq2_0(const std::byte* src, size_t blocks, std::byte* dst) {
  // per 32 bytes: 2-bit field f of byte b is element 32·f + b; x = (q − 1) · d
  constexpr size_t kGroupBytes = 32;
  constexpr int kFields = 4;
  Writer<Out> out(dst, blocks * BlockTq2_0::kElems);
  const U8x16 zero_point = splat_u8(1);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockTq2_0>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    AMN_UNROLL
    for (size_t group = 0; group < sizeof(block.qs); group += kGroupBytes) {
      const U8x16 first = load16(block.qs + group);
      const U8x16 second = load16(block.qs + group + kLanes);
      AMN_UNROLL
      for (int field = 0; field < kFields; ++field) {
        out.put(signed_values(sub_u8(bit_field(first, 2 * field, kTwoBits), zero_point)) * scale,
                signed_values(sub_u8(bit_field(second, 2 * field, kTwoBits), zero_point)) * scale);
      }
    }
  }
}

// ---- K-quants -----------------------------------------------------------------------------

/// Q2_K / Q3_K: the 2-bit codes of sub-block `sub` (16 elements): bytes 32·(s/8) + 16·(s%2)
/// .. +15 of qs, field (s % 8) / 2.
inline U8x16 k2_codes(const uint8_t* qs, size_t sub) {
  const U8x16 bytes = load16(qs + kHalfBlockBytes * (sub / 8) + kLanes * (sub % 2));
  return bit_field(bytes, static_cast<int>(2 * (sub % 8 / 2)), kTwoBits);
}

template <class Out>
void q2_k(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockQ2_K::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ2_K>(src, block_idx);
    // sub-block scales d · (sc & 15) and mins dmin · (sc >> 4), all 16 at once
    const U8x16 packed = load16(block.scales);
    const F32x16 sub_scales = splat(scale_of(block.d)) * unsigned_values(low_nibbles(packed));
    const F32x16 sub_mins = splat(scale_of(block.dmin)) * unsigned_values(high_nibbles(packed));
    F32x16 values[kSubBlocks16];
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks16; ++sub) {
      values[sub] = broadcast_lane(sub_scales, sub) * unsigned_values(k2_codes(block.qs, sub)) - broadcast_lane(sub_mins, sub);
    }
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks16; sub += 2) out.put(values[sub], values[sub + 1]);
  }
}

/// Shifts of the top 2 bits of Q3_K scale s: field s / 4 of byte 8 + s % 4.
alignas(64) constexpr int32_t kQ3HighShifts[kLanes] = {0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6};

/// d · (6-bit scale − 32) of all 16 Q3_K sub-blocks (the reference's q3_scale, vectorised): low
/// 4 bits the low nibbles of bytes 0..7 then their high nibbles, top 2 bits as kQ3HighShifts.
inline F32x16 q3_sub_scales(const uint8_t* packed, float scale) {
  constexpr int32_t kBias = 32;
  const U8x16 low_bytes = load8(packed);
  const I32x16 low = widen_u8(join_low_halves(low_nibbles(low_bytes), high_nibbles(low_bytes)));
  const U8x16 high_bytes = shuffle(load4(packed + 8), from_u32(0x03020100, 0x03020100, 0x03020100, 0x03020100));
  const I32x16 high = shift_right(widen_u8(high_bytes), load_i32(kQ3HighShifts)) & splat_i32(kTwoBits);
  return splat(scale) * to_float((low | shift_left<4>(high)) - splat_i32(kBias));
}

template <class Out>
void q3_k(const std::byte* src, size_t blocks, std::byte* dst) {
  // the high bit of sub-block s is bit s/2 of hmask[16·(s%2) + lane]; a clear bit subtracts 4:
  // code = (low | high << 2) − 4
  constexpr size_t kHmaskHalf = 16;
  Writer<Out> out(dst, blocks * BlockQ3_K::kElems);
  const U8x16 four = splat_u8(4);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ3_K>(src, block_idx);
    const F32x16 sub_scales = q3_sub_scales(block.scales, scale_of(block.d));
    F32x16 values[kSubBlocks16];
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks16; ++sub) {
      const U8x16 high = bit_field(load16(block.hmask + kHmaskHalf * (sub % 2)), static_cast<int>(sub / 2), kOneBit);
      const U8x16 codes = sub_u8(bit_or(k2_codes(block.qs, sub), shift_left_u8(high, 2)), four);
      values[sub] = broadcast_lane(sub_scales, sub) * signed_values(codes);
    }
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks16; sub += 2) out.put(values[sub], values[sub + 1]);
  }
}

/// Q4_K / Q5_K: nibbles of vector `vector` (0, 1) of sub-block `sub` (32 elements): low (s even)
/// or high (s odd) nibbles of qs[32·(s/2) + 16·vector ..].
inline U8x16 k4_nibbles(const uint8_t* qs, size_t sub, size_t vector) {
  const U8x16 bytes = load16(qs + 32 * (sub / 2) + kLanes * vector);
  return sub % 2 == 0 ? low_nibbles(bytes) : high_nibbles(bytes);
}

template <class Out>
void q4_k(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockQ4_K::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ4_K>(src, block_idx);
    const float scale = scale_of(block.d);
    const float min_scale = scale_of(block.dmin);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const ScaleMin packed = k4_scale_min(block.scales, sub);
      const F32x16 sub_scale = splat(scale * static_cast<float>(packed.scale));
      const F32x16 sub_min = splat(min_scale * static_cast<float>(packed.min));
      out.put(sub_scale * unsigned_values(k4_nibbles(block.qs, sub, 0)) - sub_min,
              sub_scale * unsigned_values(k4_nibbles(block.qs, sub, 1)) - sub_min);
    }
  }
}

template <class Out>
void q5_k(const std::byte* src, size_t blocks, std::byte* dst) {
  // bit 4 of lane l of sub-block s is bit s of qh[l]
  Writer<Out> out(dst, blocks * BlockQ5_K::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ5_K>(src, block_idx);
    const float scale = scale_of(block.d);
    const float min_scale = scale_of(block.dmin);
    const U8x16 high_bits[kVectorsPerBlock32] = {load16(block.qh), load16(block.qh + kLanes)};
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const ScaleMin packed = k4_scale_min(block.scales, sub);
      const F32x16 sub_scale = splat(scale * static_cast<float>(packed.scale));
      const F32x16 sub_min = splat(min_scale * static_cast<float>(packed.min));
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const U8x16 high = shift_left_u8(bit_field(high_bits[vector], static_cast<int>(sub), kOneBit), 4);
        values[vector] = sub_scale * unsigned_values(bit_or(k4_nibbles(block.qs, sub, vector), high)) - sub_min;
      }
      out.put(values[0], values[1]);
    }
  }
}

template <class Out>
void q6_k(const std::byte* src, size_t blocks, std::byte* dst) {
  // vector k: half h = k/8, quarter q = (k%8)/2, lanes from 16·(k%2): low nibble q/2 of
  // ql[64h + 32·(q%2) + lane], high 2-bit field q of qh[32h + lane]; code − 32, sub-block k
  constexpr size_t kHalfQlBytes = 64;
  Writer<Out> out(dst, blocks * BlockQ6_K::kElems);
  const U8x16 bias = splat_u8(32);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ6_K>(src, block_idx);
    // d · sc of all 16 sub-blocks at once (the reference's scale · sub_scale)
    const F32x16 sub_scales = splat(scale_of(block.d)) * signed_values(load16(reinterpret_cast<const uint8_t*>(block.scales)));
    F32x16 values[kSubBlocks16];
    AMN_UNROLL
    for (size_t vector = 0; vector < kSubBlocks16; ++vector) {
      const size_t half = vector / 8;
      const size_t quarter = vector % 8 / 2;
      const size_t first_lane = kLanes * (vector % 2);
      const U8x16 low = bit_field(load16(block.ql + kHalfQlBytes * half + 32 * (quarter % 2) + first_lane),
                                  static_cast<int>(4 * (quarter / 2)), kNibble);
      const U8x16 high = bit_field(load16(block.qh + kHalfBlockBytes * half + first_lane),
                                   static_cast<int>(2 * quarter), kTwoBits);
      const U8x16 codes = sub_u8(bit_or(low, shift_left_u8(high, 4)), bias);
      values[vector] = broadcast_lane(sub_scales, vector) * signed_values(codes);
    }
    AMN_UNROLL
    for (size_t vector = 0; vector < kSubBlocks16; vector += 2) out.put(values[vector], values[vector + 1]);
  }
}

template <class Out>
void q8_k(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockQ8_K::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockQ8_K>(src, block_idx);
    const F32x16 scale = splat(std::bit_cast<float>(load_le32(block.d)));
    const auto* codes = reinterpret_cast<const uint8_t*>(block.qs);
    AMN_UNROLL
    for (size_t vector = 0; vector < BlockQ8_K::kElems / kLanes; vector += 2) {
      out.put(scale * signed_values(load16(codes + kLanes * vector)),
              scale * signed_values(load16(codes + kLanes * (vector + 1))));
    }
  }
}

// ---- IQ: grid codes ------------------------------------------------------------------------
// Each vector is two groups of 8 elements: groups 2·vector and 2·vector + 1 of a 32-element
// sub-block.

/// Sign bytes of two groups as the 16 bits of a vector.
inline uint16_t sign_bits(uint8_t first, uint8_t second) { return static_cast<uint16_t>(first | (second << 8)); }

/// Sign byte of group `group` from the 4×7 stored sign bits of an IQ2_XXS / IQ3_XXS sub-block.
inline uint8_t packed_signs(uint32_t signs_and_scale, size_t group) {
  constexpr uint32_t kSevenBits = 0x7f;
  return kSignsIq2xs[(signs_and_scale >> (7 * group)) & kSevenBits];
}

/// Two groups from 8-value grid entries: ±(scale · grid), negated where the sign bit is set
/// (as the reference).
inline F32x16 signed_groups(uint64_t first, uint64_t second, uint16_t signs, float scale) {
  return negate_where(signs, splat(scale) * unsigned_values(from_u64(first, second)));
}

/// Two groups from four 4-value grid entries: ±(scale · grid).
inline F32x16 signed_quads(const uint32_t (&entries)[4], uint16_t signs, float scale) {
  const U8x16 values = from_u32(entries[0], entries[1], entries[2], entries[3]);
  return negate_where(signs, splat(scale) * unsigned_values(values));
}

/// The IQ2_XS / IQ2_S scale of a vector: low nibble of the sub-block's scale byte for the first
/// 16 elements, high nibble for the last 16.
inline float iq2_vector_scale(float scale, uint8_t scale_byte, size_t vector) {
  return iq2_scale(scale, (scale_byte >> (4 * vector)) & kNibble);
}

template <class Out>
void iq2_xxs(const std::byte* src, size_t blocks, std::byte* dst) {
  // per sub-block 8 bytes: 4 grid indices, then a LE uint32 of 4×7 sign bits and the scale
  constexpr size_t kSubBytes = 8;
  Writer<Out> out(dst, blocks * BlockIq2Xxs::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq2Xxs>(src, block_idx);
    const float scale = scale_of(block.d);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const uint8_t* grid_indices = block.qs + kSubBytes * sub;
      const uint32_t signs_and_scale = load_le32(grid_indices + 4);
      const float sub_scale = iq2_scale(scale, signs_and_scale >> 28);
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const size_t group = 2 * vector;
        const uint16_t signs = sign_bits(packed_signs(signs_and_scale, group), packed_signs(signs_and_scale, group + 1));
        values[vector] = signed_groups(kIq2xxsGrid[grid_indices[group]], kIq2xxsGrid[grid_indices[group + 1]], signs, sub_scale);
      }
      out.put(values[0], values[1]);
    }
  }
}

template <class Out>
void iq2_xs(const std::byte* src, size_t blocks, std::byte* dst) {
  // per group a LE uint16: 9-bit grid index, 7 sign bits
  constexpr unsigned kIndexBits = 9;
  constexpr unsigned kIndexMask = (1u << kIndexBits) - 1;
  Writer<Out> out(dst, blocks * BlockIq2Xs::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq2Xs>(src, block_idx);
    const float scale = scale_of(block.d);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const uint16_t first = block.qs[kGroupsPerSub * sub + 2 * vector].value();
        const uint16_t second = block.qs[kGroupsPerSub * sub + 2 * vector + 1].value();
        const uint16_t signs = sign_bits(kSignsIq2xs[first >> kIndexBits], kSignsIq2xs[second >> kIndexBits]);
        values[vector] = signed_groups(kIq2xsGrid[first & kIndexMask], kIq2xsGrid[second & kIndexMask], signs,
                                       iq2_vector_scale(scale, block.scales[sub], vector));
      }
      out.put(values[0], values[1]);
    }
  }
}

template <class Out>
void iq2_s(const std::byte* src, size_t blocks, std::byte* dst) {
  // 10-bit index of group g: low byte qs[g], bits 8..9 the 2-bit field g % 4 of qh[g / 4]; the
  // sign bytes follow the 32 index bytes
  constexpr size_t kSignsOffset = BlockIq2S::kElems / kGroupElems;
  Writer<Out> out(dst, blocks * BlockIq2S::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq2S>(src, block_idx);
    const float scale = scale_of(block.d);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const size_t group = kGroupsPerSub * sub + 2 * vector;
        const unsigned high = block.qh[sub] >> (4 * vector);
        const unsigned first = block.qs[group] | ((high & 0x3u) << 8);
        const unsigned second = block.qs[group + 1] | ((high & 0xcu) << 6);
        const uint16_t signs = sign_bits(block.qs[kSignsOffset + group], block.qs[kSignsOffset + group + 1]);
        values[vector] = signed_groups(kIq2sGrid[first], kIq2sGrid[second], signs,
                                       iq2_vector_scale(scale, block.scales[sub], vector));
      }
      out.put(values[0], values[1]);
    }
  }
}

template <class Out>
void iq3_xxs(const std::byte* src, size_t blocks, std::byte* dst) {
  // 64 grid indices (4 elements each), then per sub-block a LE uint32 of 4×7 sign bits and the scale
  constexpr size_t kIndexBytes = BlockIq3Xxs::kElems / 4;
  constexpr size_t kSubIndices = 32 / 4;
  Writer<Out> out(dst, blocks * BlockIq3Xxs::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq3Xxs>(src, block_idx);
    const float scale = scale_of(block.d);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const uint32_t signs_and_scale = load_le32(block.qs + kIndexBytes + 4 * sub);
      const float sub_scale = iq3xxs_scale(scale, signs_and_scale >> 28);
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const size_t group = 2 * vector;
        const uint8_t* indices = block.qs + kSubIndices * sub + 2 * group;
        const uint32_t entries[4] = {kIq3xxsGrid[indices[0]], kIq3xxsGrid[indices[1]], kIq3xxsGrid[indices[2]],
                                     kIq3xxsGrid[indices[3]]};
        const uint16_t signs = sign_bits(packed_signs(signs_and_scale, group), packed_signs(signs_and_scale, group + 1));
        values[vector] = signed_quads(entries, signs, sub_scale);
      }
      out.put(values[0], values[1]);
    }
  }
}

template <class Out>
void iq3_s(const std::byte* src, size_t blocks, std::byte* dst) {
  // 9-bit index i of a sub-block (8 per sub-block): low byte qs[8·sub + i], bit 8 = bit i of
  // qh[sub]; scale d · (2s + 1), s the nibble sub % 2 of scales[sub / 2]
  constexpr size_t kSubIndices = 32 / 4;
  Writer<Out> out(dst, blocks * BlockIq3S::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq3S>(src, block_idx);
    const float scale = scale_of(block.d);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const int scale_code = (block.scales[sub / 2] >> (4 * (sub % 2))) & kNibble;
      const float sub_scale = scale * static_cast<float>(1 + 2 * scale_code);
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const size_t group = 2 * vector;
        uint32_t entries[4];
        AMN_UNROLL
        for (size_t entry = 0; entry < 4; ++entry) {
          const size_t index = 2 * group + entry;
          const unsigned bit8 = (block.qh[sub] >> index) & 1u;
          entries[entry] = kIq3sGrid[block.qs[kSubIndices * sub + index] | (bit8 << 8)];
        }
        const uint16_t signs = sign_bits(block.signs[kGroupsPerSub * sub + group], block.signs[kGroupsPerSub * sub + group + 1]);
        values[vector] = signed_quads(entries, signs, sub_scale);
      }
      out.put(values[0], values[1]);
    }
  }
}

/// Two IQ1 groups: scale · (grid + shift), grid int8 in {-1, 0, 1}.
inline F32x16 shifted_groups(uint64_t first, uint64_t second, F32x16 shifts, float scale) {
  return splat(scale) * (signed_values(from_u64(first, second)) + shifts);
}

template <class Out>
void iq1_s(const std::byte* src, size_t blocks, std::byte* dst) {
  // qh[sub]: bits 3g..3g+2 = index bits 8..10 of group g, 12..14 = scale s (d · (2s + 1)),
  // 15 = sign of the shift
  Writer<Out> out(dst, blocks * BlockIq1S::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq1S>(src, block_idx);
    const float scale = scale_of(block.d);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const uint16_t high = block.qh[sub].value();
      const float sub_scale = scale * static_cast<float>(2 * ((high >> 12) & 7) + 1);
      const F32x16 shifts = splat((high & 0x8000u) ? -kIq1Shift : kIq1Shift);
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const size_t group = 2 * vector;
        const unsigned first = block.qs[kGroupsPerSub * sub + group] | (((high >> (3 * group)) & 7u) << 8);
        const unsigned second = block.qs[kGroupsPerSub * sub + group + 1] | (((high >> (3 * group + 3)) & 7u) << 8);
        values[vector] = shifted_groups(kIq1sGrid[first], kIq1sGrid[second], shifts, sub_scale);
      }
      out.put(values[0], values[1]);
    }
  }
}

template <class Out>
void iq1_m(const std::byte* src, size_t blocks, std::byte* dst) {
  // qh nibble per group: bits 0..2 = index bits 8..10, bit 3 = sign of the shift; two 3-bit
  // scales per sub-block (one per vector); the f16 scale is spread over the top nibbles of the
  // four scale words
  constexpr uint16_t kFirstGroupLanes = 0x00ff;
  Writer<Out> out(dst, blocks * BlockIq1M::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq1M>(src, block_idx);
    uint16_t words[4];
    AMN_UNROLL
    for (size_t word = 0; word < 4; ++word) words[word] = block.scales[word].value();
    const auto scale_bits = static_cast<uint16_t>((words[0] >> 12) | ((words[1] >> 8) & 0x00f0) |
                                                  ((words[2] >> 4) & 0x0f00) | (words[3] & 0xf000));
    const float scale = f16_to_f32(scale_bits);
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const unsigned scale_field = words[sub / 2] >> (6 * (sub % 2));
      F32x16 values[kVectorsPerBlock32];
      AMN_UNROLL
      for (size_t vector = 0; vector < kVectorsPerBlock32; ++vector) {
        const unsigned high = block.qh[kVectorsPerBlock32 * sub + vector];
        const unsigned first = block.qs[kGroupsPerSub * sub + 2 * vector] | ((high & 7u) << 8);
        const unsigned second = block.qs[kGroupsPerSub * sub + 2 * vector + 1] | (((high >> 4) & 7u) << 8);
        const F32x16 shifts = select(kFirstGroupLanes, splat((high & 0x08u) ? -kIq1Shift : kIq1Shift),
                                     splat((high & 0x80u) ? -kIq1Shift : kIq1Shift));
        const float sub_scale = scale * static_cast<float>(2 * ((scale_field >> (3 * vector)) & 7) + 1);
        values[vector] = shifted_groups(kIq1sGrid[first], kIq1sGrid[second], shifts, sub_scale);
      }
      out.put(values[0], values[1]);
    }
  }
}

// ---- IQ4: non-linear 4-bit ----------------------------------------------------------------

template <class Out>
void iq4_nl(const std::byte* src, size_t blocks, std::byte* dst) {
  Writer<Out> out(dst, blocks * BlockIq4Nl::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq4Nl>(src, block_idx);
    const F32x16 scale = splat(scale_of(block.d));
    const U8x16 codes = load16(block.qs);
    out.put(scale * signed_values(lookup16(kValuesIq4nl.data(), low_nibbles(codes))),
            scale * signed_values(lookup16(kValuesIq4nl.data(), high_nibbles(codes))));
  }
}

template <class Out>
void iq4_xs(const std::byte* src, size_t blocks, std::byte* dst) {
  // 6-bit sub-block scale: nibble sub % 2 of scales_l[sub / 2], top 2 bits field sub of scales_h
  constexpr int kBias = 32;
  Writer<Out> out(dst, blocks * BlockIq4Xs::kElems);
  for (size_t block_idx = 0; block_idx < blocks; ++block_idx) {
    const auto& block = block_at<BlockIq4Xs>(src, block_idx);
    const float scale = scale_of(block.d);
    const uint16_t scales_high = block.scales_h.value();
    AMN_UNROLL
    for (size_t sub = 0; sub < kSubBlocks32; ++sub) {
      const int low = (block.scales_l[sub / 2] >> (4 * (sub % 2))) & kNibble;
      const int high = (scales_high >> (2 * sub)) & kTwoBits;
      const F32x16 sub_scale = splat(scale * static_cast<float>((low | (high << 4)) - kBias));
      const U8x16 codes = load16(block.qs + kLanes * sub);
      out.put(sub_scale * signed_values(lookup16(kValuesIq4nl.data(), low_nibbles(codes))),
              sub_scale * signed_values(lookup16(kValuesIq4nl.data(), high_nibbles(codes))));
    }
  }
}

// ---- dispatch -----------------------------------------------------------------------------

struct DequantEntry {
  DType type;
  DequantFn to_f32;
  DequantFn to_bf16;
  DequantFn to_f16;
};

constexpr DequantEntry kDequantKernels[] = {
    {DType::Q4_0, q4_0<OutF32>, q4_0<OutBf16>, q4_0<OutF16>},
    {DType::Q4_1, q4_1<OutF32>, q4_1<OutBf16>, q4_1<OutF16>},
    {DType::Q5_0, q5_0<OutF32>, q5_0<OutBf16>, q5_0<OutF16>},
    {DType::Q5_1, q5_1<OutF32>, q5_1<OutBf16>, q5_1<OutF16>},
    {DType::Q8_0, q8<OutF32, BlockQ8_0>, q8<OutBf16, BlockQ8_0>, q8<OutF16, BlockQ8_0>},
    {DType::Q8_1, q8<OutF32, BlockQ8_1>, q8<OutBf16, BlockQ8_1>, q8<OutF16, BlockQ8_1>},
    {DType::Q2_K, q2_k<OutF32>, q2_k<OutBf16>, q2_k<OutF16>},
    {DType::Q3_K, q3_k<OutF32>, q3_k<OutBf16>, q3_k<OutF16>},
    {DType::Q4_K, q4_k<OutF32>, q4_k<OutBf16>, q4_k<OutF16>},
    {DType::Q5_K, q5_k<OutF32>, q5_k<OutBf16>, q5_k<OutF16>},
    {DType::Q6_K, q6_k<OutF32>, q6_k<OutBf16>, q6_k<OutF16>},
    {DType::Q8_K, q8_k<OutF32>, q8_k<OutBf16>, q8_k<OutF16>},
    {DType::IQ2_XXS, iq2_xxs<OutF32>, iq2_xxs<OutBf16>, iq2_xxs<OutF16>},
    {DType::IQ2_XS, iq2_xs<OutF32>, iq2_xs<OutBf16>, iq2_xs<OutF16>},
    {DType::IQ3_XXS, iq3_xxs<OutF32>, iq3_xxs<OutBf16>, iq3_xxs<OutF16>},
    {DType::IQ1_S, iq1_s<OutF32>, iq1_s<OutBf16>, iq1_s<OutF16>},
    {DType::IQ4_NL, iq4_nl<OutF32>, iq4_nl<OutBf16>, iq4_nl<OutF16>},
    {DType::IQ3_S, iq3_s<OutF32>, iq3_s<OutBf16>, iq3_s<OutF16>},
    {DType::IQ2_S, iq2_s<OutF32>, iq2_s<OutBf16>, iq2_s<OutF16>},
    {DType::IQ4_XS, iq4_xs<OutF32>, iq4_xs<OutBf16>, iq4_xs<OutF16>},
    {DType::IQ1_M, iq1_m<OutF32>, iq1_m<OutBf16>, iq1_m<OutF16>},
    {DType::TQ1_0, tq1_0<OutF32>, tq1_0<OutBf16>, tq1_0<OutF16>},
    {DType::TQ2_0, tq2_0<OutF32>, tq2_0<OutBf16>, tq2_0<OutF16>},
    {DType::MXFP4, mxfp4<OutF32>, mxfp4<OutBf16>, mxfp4<OutF16>},
    {DType::NVFP4, nvfp4<OutF32>, nvfp4<OutBf16>, nvfp4<OutF16>},
    {DType::Q1_0, q1_0<OutF32>, q1_0<OutBf16>, q1_0<OutF16>},
    {DType::Q2_0, q2_0<OutF32>, q2_0<OutBf16>, q2_0<OutF16>},
};

}  // namespace

/// The kernel dequantising `type` to `to` (F32, BF16, F16), or nullptr.
DequantFn gguf_dequant(DType type, DType to) {
  for (const auto& entry : kDequantKernels) {
    if (entry.type != type) continue;
    switch (to) {
      case DType::F32:
        return entry.to_f32;
      case DType::BF16:
        return entry.to_bf16;
      case DType::F16:
        return entry.to_f16;
      default:
        return nullptr;
    }
  }
  return nullptr;
}

#undef AMN_UNROLL

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
