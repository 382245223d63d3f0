// 16-lane int32 / float vectors on AVX-512 F/BW/VL/DQ: one zmm register each. Included by the
// AVX-512 translation unit inside its target region, after x86.inl.

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

struct I32x16 {
  __m512i lanes;
};
struct F32x16 {
  __m512 lanes;
};

/// Sign-extends 16 bytes to int32 lanes.
inline I32x16 widen_i8(U8x16 bytes) { return {_mm512_cvtepi8_epi32(bytes)}; }
/// Zero-extends 16 bytes to int32 lanes.
inline I32x16 widen_u8(U8x16 bytes) { return {_mm512_cvtepu8_epi32(bytes)}; }
inline I32x16 splat_i32(int32_t value) { return {_mm512_set1_epi32(value)}; }
/// Lane j = values[j].
inline I32x16 load_i32(const int32_t* values) { return {_mm512_loadu_si512(values)}; }
inline I32x16 operator&(I32x16 left, I32x16 right) { return {_mm512_and_si512(left.lanes, right.lanes)}; }
inline I32x16 operator-(I32x16 left, I32x16 right) { return {_mm512_sub_epi32(left.lanes, right.lanes)}; }
/// Low 32 bits of the product.
inline I32x16 operator*(I32x16 left, I32x16 right) { return {_mm512_mullo_epi32(left.lanes, right.lanes)}; }
/// Logical right shift of each lane by its own count.
inline I32x16 shift_right(I32x16 values, I32x16 counts) { return {_mm512_srlv_epi32(values.lanes, counts.lanes)}; }
template <int kCount>
inline I32x16 shift_right(I32x16 values) {
  return {_mm512_srli_epi32(values.lanes, kCount)};
}

inline F32x16 to_float(I32x16 values) { return {_mm512_cvtepi32_ps(values.lanes)}; }
inline F32x16 splat(float value) { return {_mm512_set1_ps(value)}; }
inline F32x16 operator*(F32x16 left, F32x16 right) { return {_mm512_mul_ps(left.lanes, right.lanes)}; }
inline F32x16 operator+(F32x16 left, F32x16 right) { return {_mm512_add_ps(left.lanes, right.lanes)}; }
inline F32x16 operator-(F32x16 left, F32x16 right) { return {_mm512_sub_ps(left.lanes, right.lanes)}; }
/// Lane j from `set` when bit j of `bits` is set, else from `clear`.
inline F32x16 select(uint16_t bits, F32x16 set, F32x16 clear) {
  return {_mm512_mask_blend_ps(bits, clear.lanes, set.lanes)};
}

/// Lane j with its sign bit flipped when bit j of `bits` is set.
inline F32x16 negate_where(uint16_t bits, F32x16 values) {
  const __m512i flipped = _mm512_mask_xor_epi32(_mm512_castps_si512(values.lanes), bits,
                                                _mm512_castps_si512(values.lanes), _mm512_set1_epi32(INT32_MIN));
  return {_mm512_castsi512_ps(flipped)};
}

/// Round to nearest even on the bits; a NaN keeps its top payload bits and gains the quiet bit.
inline __m256i to_bf16(__m512 values) {
  const __m512i bits = _mm512_castps_si512(values);
  const __m512i upper = _mm512_srli_epi32(bits, 16);
  const __m512i bias = _mm512_add_epi32(_mm512_and_si512(upper, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, bias), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(values, values, _CMP_UNORD_Q);
  const __m512i quiet = _mm512_or_si512(upper, _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
}

inline void store(OutF32, std::byte* dst, F32x16 values) { _mm512_storeu_ps(dst, values.lanes); }
inline void store(OutBf16, std::byte* dst, F32x16 values) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), to_bf16(values.lanes));
}
inline void store(OutF16, std::byte* dst, F32x16 values) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm512_cvtps_ph(values.lanes, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/// Lanes of 16 floats at `src` (any alignment).
inline F32x16 load_f32(const float* src) { return {_mm512_loadu_ps(src)}; }

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
