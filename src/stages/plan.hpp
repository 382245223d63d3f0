// The output plan: every output tensor, its dtype, what turns input bytes into output bytes,
// and (after layout) its final offset.
#pragma once

#include <cstddef>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/output.hpp"

namespace amn::stages {

/// How one tensor's bytes become output bytes.
enum class Transform : uint8_t {
  Copy,     ///< logical bytes unchanged
  Convert,  ///< plain float type narrowed/widened (kernels/convert)
};

/// One output tensor and where it comes from.
struct PlannedTensor {
  size_t source = 0;           ///< index into Catalog::tensors
  formats::OutTensor out;      ///< name, dtype, shape, nbytes, offset (after layout)
  Transform transform = Transform::Copy;
};

/// The whole output, decided before any data moves.
struct Plan {
  std::vector<PlannedTensor> tensors;
};

/// Chooses each tensor's output dtype and transform; refuses what the target cannot hold.
[[nodiscard]] Plan make_plan(const Catalog& catalog, const ConvertOptions& options);

/// Moves every planned tensor's bytes into `output` at its offset, in chunks of whole blocks.
void execute_plan(const Catalog& catalog, Plan& plan, io::OutputFile& output, const ConvertOptions& options,
                  const Limits& limits);

}  // namespace amn::stages
