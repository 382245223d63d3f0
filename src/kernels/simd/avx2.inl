// 16-lane int32 / float vectors on AVX2 (+ FMA, F16C): two ymm registers each, lanes 0..7 in
// `low`. Included by the AVX2 translation unit inside its target region, after x86.inl.

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

struct I32x16 {
  __m256i low;
  __m256i high;
};
struct F32x16 {
  __m256 low;
  __m256 high;
};

/// Byte j of `bytes` where bit j of `bits` is set, else 0.
inline U8x16 keep_bytes(uint16_t bits, U8x16 bytes) {
  const U8x16 spread = _mm_shuffle_epi8(_mm_cvtsi32_si128(bits), _mm_set_epi64x(0x0101010101010101, 0));
  const U8x16 lane_bit = _mm_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(spread, lane_bit), lane_bit), bytes);
}

/// Sign-extends 16 bytes to int32 lanes.
inline I32x16 widen_i8(U8x16 bytes) {
  return {_mm256_cvtepi8_epi32(bytes), _mm256_cvtepi8_epi32(_mm_unpackhi_epi64(bytes, bytes))};
}
/// Zero-extends 16 bytes to int32 lanes.
inline I32x16 widen_u8(U8x16 bytes) {
  return {_mm256_cvtepu8_epi32(bytes), _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(bytes, bytes))};
}
inline I32x16 splat_i32(int32_t value) { return {_mm256_set1_epi32(value), _mm256_set1_epi32(value)}; }
/// Lane j = values[j].
inline I32x16 load_i32(const int32_t* values) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(values)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + 8))};
}
inline I32x16 operator&(I32x16 left, I32x16 right) {
  return {_mm256_and_si256(left.low, right.low), _mm256_and_si256(left.high, right.high)};
}
inline I32x16 operator|(I32x16 left, I32x16 right) {
  return {_mm256_or_si256(left.low, right.low), _mm256_or_si256(left.high, right.high)};
}
inline I32x16 operator-(I32x16 left, I32x16 right) {
  return {_mm256_sub_epi32(left.low, right.low), _mm256_sub_epi32(left.high, right.high)};
}
/// Low 32 bits of the product.
inline I32x16 operator*(I32x16 left, I32x16 right) {
  return {_mm256_mullo_epi32(left.low, right.low), _mm256_mullo_epi32(left.high, right.high)};
}
/// Logical right shift of each lane by its own count.
inline I32x16 shift_right(I32x16 values, I32x16 counts) {
  return {_mm256_srlv_epi32(values.low, counts.low), _mm256_srlv_epi32(values.high, counts.high)};
}
template <int kCount>
inline I32x16 shift_right(I32x16 values) {
  return {_mm256_srli_epi32(values.low, kCount), _mm256_srli_epi32(values.high, kCount)};
}
template <int kCount>
inline I32x16 shift_left(I32x16 values) {
  return {_mm256_slli_epi32(values.low, kCount), _mm256_slli_epi32(values.high, kCount)};
}

inline F32x16 to_float(I32x16 values) { return {_mm256_cvtepi32_ps(values.low), _mm256_cvtepi32_ps(values.high)}; }
inline F32x16 splat(float value) { return {_mm256_set1_ps(value), _mm256_set1_ps(value)}; }
inline F32x16 operator*(F32x16 left, F32x16 right) {
  return {_mm256_mul_ps(left.low, right.low), _mm256_mul_ps(left.high, right.high)};
}
inline F32x16 operator+(F32x16 left, F32x16 right) {
  return {_mm256_add_ps(left.low, right.low), _mm256_add_ps(left.high, right.high)};
}
inline F32x16 operator-(F32x16 left, F32x16 right) {
  return {_mm256_sub_ps(left.low, right.low), _mm256_sub_ps(left.high, right.high)};
}
/// Every lane = lane `lane` of `values`.
inline F32x16 broadcast_lane(F32x16 values, size_t lane) {
  constexpr size_t kHalfLanes = 8;
  const __m256 half = lane < kHalfLanes ? values.low : values.high;
  const __m256 broadcast = _mm256_permutevar8x32_ps(half, _mm256_set1_epi32(static_cast<int>(lane % kHalfLanes)));
  return {broadcast, broadcast};
}
/// All-ones in lane j when bit j of `bits` is set.
inline __m256 lane_mask(uint32_t bits) {
  const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), lane_bit), lane_bit));
}
/// Lane j from `set` when bit j of `bits` is set, else from `clear`.
inline F32x16 select(uint16_t bits, F32x16 set, F32x16 clear) {
  return {_mm256_blendv_ps(clear.low, set.low, lane_mask(bits & 0xffu)),
          _mm256_blendv_ps(clear.high, set.high, lane_mask(bits >> 8))};
}

/// Lane j with its sign bit flipped when bit j of `bits` is set.
inline F32x16 negate_where(uint16_t bits, F32x16 values) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  return {_mm256_xor_ps(values.low, _mm256_and_ps(lane_mask(bits & 0xffu), sign_bit)),
          _mm256_xor_ps(values.high, _mm256_and_ps(lane_mask(bits >> 8), sign_bit))};
}

/// Round to nearest even on the bits; a NaN keeps its top payload bits and gains the quiet bit.
/// The result (≤ 0xffff) stays in 32-bit lanes.
inline __m256i to_bf16_lanes(__m256 values) {
  const __m256i bits = _mm256_castps_si256(values);
  const __m256i upper = _mm256_srli_epi32(bits, 16);
  const __m256i bias = _mm256_add_epi32(_mm256_and_si256(upper, _mm256_set1_epi32(1)), _mm256_set1_epi32(0x7fff));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, bias), 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(values, values, _CMP_UNORD_Q));
  const __m256i quiet = _mm256_or_si256(upper, _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(rounded, quiet, nan);
}

/// 16 lanes as bf16: packus interleaves 128-bit halves ([low 0-3, high 0-3, low 4-7, high 4-7]),
/// the permute restores the order.
inline __m256i to_bf16(F32x16 values) {
  const __m256i packed = _mm256_packus_epi32(to_bf16_lanes(values.low), to_bf16_lanes(values.high));
  return _mm256_permute4x64_epi64(packed, 0xd8);
}

/// 32 bytes at `dst`; non-temporal when `stream` (then `dst` is 32-byte aligned).
inline void store32(std::byte* dst, __m256i bytes, bool stream) {
  if (stream) {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst), bytes);
  } else {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), bytes);
  }
}

inline void store_pair(OutF32, std::byte* dst, F32x16 first, F32x16 second, bool stream) {
  store32(dst, _mm256_castps_si256(first.low), stream);
  store32(dst + sizeof(__m256), _mm256_castps_si256(first.high), stream);
  store32(dst + 2 * sizeof(__m256), _mm256_castps_si256(second.low), stream);
  store32(dst + 3 * sizeof(__m256), _mm256_castps_si256(second.high), stream);
}
inline void store_pair(OutBf16, std::byte* dst, F32x16 first, F32x16 second, bool stream) {
  store32(dst, to_bf16(first), stream);
  store32(dst + sizeof(__m256i), to_bf16(second), stream);
}
/// 16 lanes as f16, round to nearest even.
inline __m256i to_f16(F32x16 values) {
  constexpr int kRounding = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  return _mm256_set_m128i(_mm256_cvtps_ph(values.high, kRounding), _mm256_cvtps_ph(values.low, kRounding));
}

inline void store_pair(OutF16, std::byte* dst, F32x16 first, F32x16 second, bool stream) {
  store32(dst, to_f16(first), stream);
  store32(dst + sizeof(__m256i), to_f16(second), stream);
}

/// Lanes of 16 floats at `src` (any alignment).
inline F32x16 load_f32(const float* src) { return {_mm256_loadu_ps(src), _mm256_loadu_ps(src + 8)}; }

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
