// amn — caps on what an input may make amn allocate or count.
#pragma once

#include <algorithm>
#include <cstdint>

namespace amn {

/// Caps enforced by every reader before it allocates or loops. Each default is a built-in
/// ceiling; callers may only tighten them: open_model and convert use
/// `Limits{}.tightened(caller's limits)`. docs/security.md says what each one counts.
struct Limits {
  uint64_t max_header_bytes = 100'000'000;  ///< safetensors JSON header, NPY header, data.pkl
  uint64_t max_alloc = 1ull << 30;          ///< largest single buffer a reader allocates
  uint64_t max_total = 4ull << 30;          ///< heap one open allocates in all (charged, never refunded)
  uint64_t max_items = 10'000'000;          ///< tensors, KV pairs, array elements, ZIP members
  uint64_t max_string = 1ull << 24;         ///< one metadata string or name
  uint32_t max_dims = 16;                   ///< rank of a tensor
  uint32_t max_name = 4096;                 ///< tensor / member name bytes
  uint64_t max_ratio = 1000;                ///< DEFLATE inflated/compressed ratio
  uint32_t max_depth = 1000;                ///< pickle construction depth

  /// These limits with each cap lowered to `request`'s where that is smaller: a request can
  /// tighten a cap but never raise it.
  [[nodiscard]] constexpr Limits tightened(const Limits& request) const {
    Limits out = *this;
    out.max_header_bytes = std::min(max_header_bytes, request.max_header_bytes);
    out.max_alloc = std::min(max_alloc, request.max_alloc);
    out.max_total = std::min(max_total, request.max_total);
    out.max_items = std::min(max_items, request.max_items);
    out.max_string = std::min(max_string, request.max_string);
    out.max_dims = std::min(max_dims, request.max_dims);
    out.max_name = std::min(max_name, request.max_name);
    out.max_ratio = std::min(max_ratio, request.max_ratio);
    out.max_depth = std::min(max_depth, request.max_depth);
    return out;
  }
};

}  // namespace amn
