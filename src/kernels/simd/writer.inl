// The writer every kernel emits its output through (included inside the target region of the
// simd/avx*.cpp translation units, after the ISA's vector operations).

namespace amn::kernels::simd::AMN_SIMD_NAMESPACE {

/// Writes consecutive pairs of vectors (32 elements; every block holds a multiple of 32) as
/// `Out` elements. A large output at an aligned address is streamed past the caches
/// (non-temporal stores, fenced when the writer ends): it is not read back soon, and streaming
/// saves reading each line before writing it.
template <class Out>
class Writer {
 public:
  Writer(std::byte* dst, size_t elems)
      : dst_(dst),
        stream_(elems * Out::kBytes >= kStreamMinBytes && reinterpret_cast<uintptr_t>(dst) % kStreamAlignment == 0) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() {
    if (stream_) fence_streams();
  }
  void put(F32x16 first, F32x16 second) {
    store_pair(Out{}, dst_, first, second, stream_);
    dst_ += 2 * kLanes * Out::kBytes;
  }

 private:
  std::byte* dst_;
  const bool stream_;
};

}  // namespace amn::kernels::simd::AMN_SIMD_NAMESPACE
