// Operations shared by the x86 SIMD levels (AVX2, AVX-512): 16 packed bytes in an xmm register
// (the codes of 16 elements), the f16 scale conversion, and the output element tags. Included by
// an ISA translation unit inside its target region, after defining AMN_SIMD_NAMESPACE.

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

/// Lanes of every vector: elements produced per step.
inline constexpr size_t kLanes = 16;

/// Outputs of at least this many bytes, 64-byte aligned, are written with non-temporal stores.
inline constexpr size_t kStreamMinBytes = size_t{1} << 20;
inline constexpr size_t kStreamAlignment = 64;

/// Orders earlier non-temporal stores before later stores (and before another thread reads).
inline void fence_streams() { _mm_sfence(); }

/// Output element types of the kernels: bytes per element.
struct OutF32 {
  static constexpr size_t kBytes = 4;
};
struct OutBf16 {
  static constexpr size_t kBytes = 2;
};
struct OutF16 {
  static constexpr size_t kBytes = 2;
};

/// 16 bytes, one per element.
using U8x16 = __m128i;

inline U8x16 load16(const uint8_t* bytes) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)); }
/// 8 bytes into the low half, zeros above.
inline U8x16 load8(const uint8_t* bytes) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes)); }
/// 4 bytes into the low quarter, zeros above.
inline U8x16 load4(const uint8_t* bytes) {
  int32_t word;
  std::memcpy(&word, bytes, sizeof(word));
  return _mm_cvtsi32_si128(word);
}
/// Bytes 0..7 from `low`, 8..15 from `high` (little-endian).
inline U8x16 from_u64(uint64_t low, uint64_t high) {
  return _mm_set_epi64x(static_cast<int64_t>(high), static_cast<int64_t>(low));
}
/// Bytes 4k..4k+3 from word k (little-endian).
inline U8x16 from_u32(uint32_t word0, uint32_t word1, uint32_t word2, uint32_t word3) {
  return _mm_set_epi32(static_cast<int>(word3), static_cast<int>(word2), static_cast<int>(word1),
                       static_cast<int>(word0));
}
inline U8x16 splat_u8(uint8_t value) { return _mm_set1_epi8(static_cast<char>(value)); }
inline U8x16 bit_or(U8x16 left, U8x16 right) { return _mm_or_si128(left, right); }
/// Byte-wise subtraction modulo 256.
inline U8x16 sub_u8(U8x16 left, U8x16 right) { return _mm_sub_epi8(left, right); }
/// (byte >> shift) & mask in every byte, shift 0..7.
inline U8x16 bit_field(U8x16 bytes, int shift, uint8_t mask) {
  return _mm_and_si128(_mm_srl_epi16(bytes, _mm_cvtsi32_si128(shift)), splat_u8(mask));
}
/// (byte << shift) in every byte, shift 0..7 (bits shifted out of a byte are lost).
inline U8x16 shift_left_u8(U8x16 bytes, int shift) {
  const auto kept = static_cast<uint8_t>(0xff >> shift);
  return _mm_sll_epi16(_mm_and_si128(bytes, splat_u8(kept)), _mm_cvtsi32_si128(shift));
}
inline U8x16 low_nibbles(U8x16 bytes) { return bit_field(bytes, 0, 0x0f); }
inline U8x16 high_nibbles(U8x16 bytes) { return bit_field(bytes, 4, 0x0f); }
/// table[index] for every byte (indices 0..15), table of 16 bytes.
inline U8x16 lookup16(const int8_t* table, U8x16 indices) {
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table)), indices);
}
/// Byte j takes byte pattern[j] of `bytes`.
inline U8x16 shuffle(U8x16 bytes, U8x16 pattern) { return _mm_shuffle_epi8(bytes, pattern); }
/// Bytes 0..7 of `low` followed by bytes 0..7 of `high`.
inline U8x16 join_low_halves(U8x16 low, U8x16 high) { return _mm_unpacklo_epi64(low, high); }

/// IEEE half bits → float; the F16C conversion is exact and quiets NaNs as ggml does.
inline float f16_to_f32(uint16_t bits) { return _cvtsh_ss(bits); }

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
