// f32 → bf16 / f16 narrowing of float arrays over 16-lane vectors, compiled per ISA level
// (included inside the target region of the simd/avx*.cpp translation units).

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

/// Narrows `count` floats at `src` into 2-byte `Out` elements at `dst`; the tail (count % 32)
/// goes through the scalar definition.
template <class Out>
void narrow(const float* src, size_t count, std::byte* dst) {
  const size_t vectorised = count / (2 * kLanes) * (2 * kLanes);
  {
    Writer<Out> out(dst, vectorised);
    for (size_t idx = 0; idx < vectorised; idx += 2 * kLanes) {
      out.put(load_f32(src + idx), load_f32(src + idx + kLanes));
    }
  }
  for (size_t idx = vectorised; idx < count; ++idx) {
    const uint16_t narrowed = std::is_same_v<Out, OutBf16> ? f32_to_bf16(src[idx]) : f32_to_f16(src[idx]);
    std::memcpy(dst + idx * Out::kBytes, &narrowed, sizeof(narrowed));
  }
}

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
