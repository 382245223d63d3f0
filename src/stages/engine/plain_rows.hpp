// f32 rows of one plain input tensor (a float type, or a GGUF block type dequantised as ggml
// does), so that the engine can encode them into a GGUF block type.
#pragma once

#include <cstdint>

#include "amn/catalog.hpp"
#include "stages/schemes/schemes.hpp"

namespace amn::stages {

/// Rows of input tensor `tensor_idx`, decoded to f32: a float type exactly (kernels/convert), a
/// block type through ggml's dequantisation (kernels/dequant).
class PlainRows final : public RowSource {
 public:
  /// `row_elems` is the tensor's innermost dimension (a whole number of blocks for block types).
  PlainRows(size_t tensor_idx, DType dtype, uint64_t row_elems)
      : tensor_idx_(tensor_idx), dtype_(dtype), row_elems_(row_elems) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override;

 private:
  size_t tensor_idx_;
  DType dtype_;
  uint64_t row_elems_;
};

}  // namespace amn::stages
