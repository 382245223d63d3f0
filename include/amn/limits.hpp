// amn — caps on what an input may make amn allocate or count.
#pragma once

#include <cstdint>

namespace amn {

/// Caps enforced by every reader before it allocates or loops. Each default is a built-in
/// ceiling; callers may only tighten them.
struct Limits {
  uint64_t max_header_bytes = 100'000'000;  ///< safetensors JSON header, NPY header, data.pkl
  uint64_t max_alloc = 1ull << 30;          ///< largest single buffer a reader allocates
  uint64_t max_items = 10'000'000;          ///< tensors, KV pairs, array elements, ZIP members
  uint64_t max_string = 1ull << 24;         ///< one metadata string or name
  uint32_t max_dims = 16;                   ///< rank of a tensor
  uint32_t max_name = 4096;                 ///< tensor / member name bytes
  uint64_t max_ratio = 1000;                ///< DEFLATE inflated/compressed ratio
  uint32_t max_depth = 1000;                ///< pickle construction depth
};

}  // namespace amn
