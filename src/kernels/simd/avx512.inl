// 16-lane int32 / float vectors on AVX-512 F/BW/VL/DQ: one zmm register each. Included by the
// AVX-512 translation units inside their target region, after x86.inl; with
// AMN_SIMD_HARDWARE_BF16 defined (AVX512_BF16), bf16 narrowing uses the conversion instruction.

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

struct I32x16 {
  __m512i lanes;
};
struct F32x16 {
  __m512 lanes;
};

/// Byte j of `bytes` where bit j of `bits` is set, else 0.
inline U8x16 keep_bytes(uint16_t bits, U8x16 bytes) { return _mm_maskz_mov_epi8(bits, bytes); }

/// Sign-extends 16 bytes to int32 lanes.
inline I32x16 widen_i8(U8x16 bytes) { return {_mm512_cvtepi8_epi32(bytes)}; }
/// Zero-extends 16 bytes to int32 lanes.
inline I32x16 widen_u8(U8x16 bytes) { return {_mm512_cvtepu8_epi32(bytes)}; }
inline I32x16 splat_i32(int32_t value) { return {_mm512_set1_epi32(value)}; }
/// Lane j = values[j].
inline I32x16 load_i32(const int32_t* values) { return {_mm512_loadu_si512(values)}; }
inline I32x16 operator&(I32x16 left, I32x16 right) { return {_mm512_and_si512(left.lanes, right.lanes)}; }
inline I32x16 operator|(I32x16 left, I32x16 right) { return {_mm512_or_si512(left.lanes, right.lanes)}; }
inline I32x16 operator-(I32x16 left, I32x16 right) { return {_mm512_sub_epi32(left.lanes, right.lanes)}; }
/// Low 32 bits of the product.
inline I32x16 operator*(I32x16 left, I32x16 right) { return {_mm512_mullo_epi32(left.lanes, right.lanes)}; }
/// Logical right shift of each lane by its own count.
inline I32x16 shift_right(I32x16 values, I32x16 counts) { return {_mm512_srlv_epi32(values.lanes, counts.lanes)}; }
template <int kCount>
inline I32x16 shift_right(I32x16 values) {
  return {_mm512_srli_epi32(values.lanes, kCount)};
}
template <int kCount>
inline I32x16 shift_left(I32x16 values) {
  return {_mm512_slli_epi32(values.lanes, kCount)};
}

inline F32x16 to_float(I32x16 values) { return {_mm512_cvtepi32_ps(values.lanes)}; }
inline F32x16 splat(float value) { return {_mm512_set1_ps(value)}; }
inline F32x16 operator*(F32x16 left, F32x16 right) { return {_mm512_mul_ps(left.lanes, right.lanes)}; }
inline F32x16 operator+(F32x16 left, F32x16 right) { return {_mm512_add_ps(left.lanes, right.lanes)}; }
inline F32x16 operator-(F32x16 left, F32x16 right) { return {_mm512_sub_ps(left.lanes, right.lanes)}; }
/// Every lane = lane `lane` of `values`.
inline F32x16 broadcast_lane(F32x16 values, size_t lane) {
  return {_mm512_permutexvar_ps(_mm512_set1_epi32(static_cast<int>(lane)), values.lanes)};
}
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

/// bf16 of each lane, before packing: its high 16 bits are the result. Round to nearest even
/// adds 0x7fff plus the result's lowest bit; a NaN keeps its top payload bits and gains the
/// quiet bit (bit 22, bit 6 of the result).
inline __m512i bf16_in_high_half(__m512 values) {
  const __m512i bits = _mm512_castps_si512(values);
  const __m512i lowest_kept = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lowest_kept, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan = _mm512_cmp_ps_mask(values, values, _CMP_UNORD_Q);
  return _mm512_mask_or_epi32(rounded, nan, bits, _mm512_set1_epi32(0x00400000));
}

/// 64 bytes at `dst`; non-temporal when `stream` (then `dst` is 64-byte aligned).
inline void store64(std::byte* dst, __m512i bytes, bool stream) {
  if (stream) {
    _mm512_stream_si512(reinterpret_cast<__m512i*>(dst), bytes);
  } else {
    _mm512_storeu_si512(dst, bytes);
  }
}

inline void store_pair(OutF32, std::byte* dst, F32x16 first, F32x16 second, bool stream) {
  store64(dst, _mm512_castps_si512(first.lanes), stream);
  store64(dst + sizeof(__m512), _mm512_castps_si512(second.lanes), stream);
}
inline void store_pair(OutBf16, std::byte* dst, F32x16 first, F32x16 second, bool stream) {
#if defined(AMN_SIMD_HARDWARE_BF16)
  // VCVTNE2PS2BF16 rounds to nearest even and quiets NaNs as we do, but flushes subnormal
  // inputs to zero: vectors holding one take the integer path below
  constexpr int kSubnormal = 0x20;  // VFPCLASSPS category
  if ((_mm512_fpclass_ps_mask(first.lanes, kSubnormal) | _mm512_fpclass_ps_mask(second.lanes, kSubnormal)) == 0) {
    store64(dst, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(second.lanes, first.lanes)), stream);
    return;
  }
#endif
  // one permute gathers the high halves of both vectors' 32 lanes
  const __m512i high_halves = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29,
                                               27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  store64(dst, _mm512_permutex2var_epi16(bf16_in_high_half(first.lanes), high_halves, bf16_in_high_half(second.lanes)),
          stream);
}
inline void store_pair(OutF16, std::byte* dst, F32x16 first, F32x16 second, bool stream) {
  constexpr int kRounding = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m512i low = _mm512_castsi256_si512(_mm512_cvtps_ph(first.lanes, kRounding));
  store64(dst, _mm512_inserti64x4(low, _mm512_cvtps_ph(second.lanes, kRounding), 1), stream);
}

/// Lanes of 16 floats at `src` (any alignment).
inline F32x16 load_f32(const float* src) { return {_mm512_loadu_ps(src)}; }

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
