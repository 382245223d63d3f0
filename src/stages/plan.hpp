// The output plan: every output tensor, its dtype, what turns input bytes into output bytes,
// and (after layout) its final offset.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "stages/schemes/schemes.hpp"

namespace amn::stages {

/// How one tensor's bytes become output bytes.
enum class Transform : uint8_t {
  Copy,     ///< logical bytes unchanged
  Convert,  ///< plain float type narrowed/widened (kernels/convert)
  Dequant,  ///< GGUF block type dequantised to a float type (kernels/dequant)
  Rows,     ///< a multi-tensor scheme's RowSource produces f32 rows, narrowed to the out dtype
};

/// One output tensor and where it comes from.
struct PlannedTensor {
  size_t source = 0;           ///< index into Catalog::tensors
  DType in_dtype = DType::F32; ///< the input tensor's dtype
  formats::OutTensor out;      ///< name, dtype, shape, nbytes, offset (after layout)
  Transform transform = Transform::Copy;
  std::shared_ptr<const RowSource> rows;  ///< for Transform::Rows
};

/// The whole output, decided before any data moves.
struct Plan {
  std::vector<PlannedTensor> tensors;
  std::string scheme;          ///< multi-tensor schemes dequantised ("" when none)
};

/// Chooses each tensor's output dtype and transform; refuses what the target cannot hold.
[[nodiscard]] Plan make_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits);

}  // namespace amn::stages
