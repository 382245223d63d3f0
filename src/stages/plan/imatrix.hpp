// llama.cpp's importance matrix (the GGUF file `llama-imatrix` writes): per weight tensor, the
// mean squared activation of each input column, as llama-quantize feeds it to the quantisers.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "amn/limits.hpp"

namespace amn::stages {

/// A loaded importance matrix.
struct Imatrix {
  std::string path;
  /// Tensor name → ne[0] weights per matrix (ne[0] × experts for a 3-D tensor).
  std::map<std::string, std::shared_ptr<const std::vector<float>>> entries;
  std::vector<std::string> datasets;  ///< imatrix.datasets
  uint32_t chunk_count = 0;           ///< imatrix.chunk_count
};

/// Reads `path`: each `NAME.in_sum2` divided by its `NAME.counts` (rounded to an integer, per
/// expert; a zero count gives weights of 1), as llama-quantize does. Refuses, naming the file
/// and tensor, what llama-quantize refuses: no entries, a sum without counts, non-F32 data,
/// missing metadata, non-finite weights.
[[nodiscard]] Imatrix load_imatrix(const std::string& path, const Limits& limits);

}  // namespace amn::stages
