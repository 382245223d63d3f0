// f32 → bf16 / f16 narrowing of float arrays over 16-lane vectors, compiled per ISA level
// (included inside the target region of the simd/avx*.cpp translation units).

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

/// Narrows `count` floats at `src` into 2-byte `Out` elements at `dst`; the tail (count % 32)
/// goes through the scalar definition.
template <class Out>
void narrow(const float* src, size_t count, std::byte* dst) {
  size_t idx = 0;
  for (; idx + 2 * kLanes <= count; idx += 2 * kLanes) {
    store_pair(Out{}, dst + idx * Out::kBytes, load_f32(src + idx), load_f32(src + idx + kLanes));
  }
  for (; idx < count; ++idx) {
    const uint16_t narrowed = std::is_same_v<Out, OutBf16> ? f32_to_bf16(src[idx]) : f32_to_f16(src[idx]);
    std::memcpy(dst + idx * Out::kBytes, &narrowed, sizeof(narrowed));
  }
}

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
