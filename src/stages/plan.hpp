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
  Rows,     ///< a RowSource produces f32 rows (a multi-tensor scheme's, or PlainRows), then
            ///< narrowed to a float out dtype or quantised to a GGUF block type (kernels/quantize)
};

/// One output tensor and where it comes from.
struct PlannedTensor {
  size_t source = 0;           ///< index into Catalog::tensors
  DType in_dtype = DType::F32; ///< the input tensor's dtype
  formats::OutTensor out;      ///< name, dtype, shape, nbytes, offset (after layout)
  Transform transform = Transform::Copy;
  std::shared_ptr<const RowSource> rows;  ///< for Transform::Rows
  /// Importance weights for quantising a Rows tensor into a block type: ne[0] floats, or ne[0]
  /// per matrix of a 3-D tensor (experts); null for none.
  std::shared_ptr<const std::vector<float>> imatrix;
};

/// Elements per unit of a Rows tensor: one ggml row (the innermost dimension) when it is
/// quantised into a block type, else the output's shape[1..] (everything for rank ≤ 1).
[[nodiscard]] uint64_t row_unit_elems(const PlannedTensor& planned);

/// The whole output, decided before any data moves.
struct Plan {
  std::vector<PlannedTensor> tensors;
  std::string scheme;          ///< multi-tensor schemes dequantised ("" when none)
};

/// Chooses each tensor's output dtype and transform; refuses what the target cannot hold.
[[nodiscard]] Plan make_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits);

}  // namespace amn::stages
