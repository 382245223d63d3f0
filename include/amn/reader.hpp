// amn — reading one tensor, or a range of its rows, into a buffer the caller owns: as stored,
// cast to F32/F16/BF16, dequantised from a GGUF block type, or quantised into one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/dtype.hpp"
#include "amn/limits.hpp"

namespace amn {

/// Reads the tensors of a model opened with open_model() into caller-owned buffers.
///
/// Rows are ggml's: a tensor of shape [d0, ..., dn-1] (outermost first) has d0 × ... × dn-2
/// rows of dn-1 elements; a 1-D tensor is one row, a 0-D tensor one row of one element. The
/// target type `to` of a read is one of:
///   - the tensor's own dtype: the logical bytes as stored (row-major, little-endian; views,
///     fortran-order and big-endian inputs already normalised), any dtype;
///   - F32, F16 or BF16 from a float tensor (F64, F32, F16, BF16, F8_E4M3, F8_E5M2): exact
///     widening, round-to-nearest-even narrowing;
///   - F32, F16 or BF16 from a GGUF block type: ggml's dequantisation, bit for bit;
///   - a GGUF block type that kernels can quantise into, from a float or block tensor whose
///     rows are whole blocks of it: ggml_quantize_chunk's bytes (non-finite values refused).
/// Multi-tensor schemes (GPTQ, AWQ, BitsAndBytes, ...) are not decoded here: their tensors read
/// as stored; amn::convert with `dequantize` recovers them.
///
/// Errors throw amn::Error naming the file and the tensor: ErrorCode::Usage for a bad index, row
/// range, buffer size or importance vector; ErrorCode::Unsupported for a conversion amn cannot
/// do; Parse/Io/Limit for what the file itself causes.
///
/// read() is const and thread-safe: several threads may read through one reader at once. The
/// reader keeps its input files open until it is destroyed; it installs no signal handlers and
/// changes no process-wide setting.
class TensorReader {
 public:
  /// Opens the files of `catalog` (from open_model). The reader copies what it needs from
  /// `catalog`, which need not outlive it. `limits` can only tighten the built-in caps (they
  /// bound, e.g., an inflated NPZ member). Throws Error(Io) when a file cannot be opened.
  explicit TensorReader(const Catalog& catalog, const Limits& limits = {});
  ~TensorReader();
  /// Readers move; they do not copy (they own open files).
  TensorReader(TensorReader&& other) noexcept;
  /// Readers move; they do not copy (they own open files).
  TensorReader& operator=(TensorReader&& other) noexcept;
  TensorReader(const TensorReader&) = delete;
  TensorReader& operator=(const TensorReader&) = delete;

  /// The model's tensors, in file order; indices into this are the `tensor_idx` of every call.
  [[nodiscard]] const std::vector<Tensor>& tensors() const;
  /// The index of the tensor named `name`, or nullopt.
  [[nodiscard]] std::optional<size_t> find(std::string_view name) const;
  /// Number of rows of the tensor (see the class comment). Throws Error(Usage) for a bad index.
  [[nodiscard]] uint64_t rows(size_t tensor_idx) const;
  /// Elements per row of the tensor: its innermost dimension (1 for a 0-D tensor).
  [[nodiscard]] uint64_t row_elems(size_t tensor_idx) const;

  /// True when the tensor can be read as `to` (see the class comment for the rules).
  [[nodiscard]] bool can_read_as(size_t tensor_idx, DType to) const;

  /// Bytes that read() writes for rows [row_begin, row_begin + row_count) as `to`. Throws
  /// Error(Usage) for rows outside the tensor, Error(Unsupported) when the tensor cannot be read
  /// as `to` or the rows are not whole bytes / whole blocks of `to`.
  [[nodiscard]] uint64_t bytes_for(size_t tensor_idx, uint64_t row_begin, uint64_t row_count, DType to) const;
  /// Bytes that read() writes for the whole tensor as `to`.
  [[nodiscard]] uint64_t bytes_for(size_t tensor_idx, DType to) const;

  /// Writes rows [row_begin, row_begin + row_count) of the tensor, as `to`, into `dst`, which
  /// must be exactly bytes_for(tensor_idx, row_begin, row_count, to) bytes (no alignment
  /// needed). `importance`: only when `to` is a block type, ggml's importance weights (an
  /// imatrix entry): row_elems() floats for every row, or row_elems() × matrices floats for a
  /// tensor of rank ≥ 3 (one slice per [d-2, d-1] matrix, as llama-quantize uses for experts);
  /// required where kernels demand one (IQ2_XXS, IQ2_XS, IQ1_S). Memory beyond `dst` is
  /// bounded (a few MiB of scratch, or one f32 row when quantising). Throws Error as above.
  void read(size_t tensor_idx, uint64_t row_begin, uint64_t row_count, DType to, std::span<std::byte> dst,
            std::span<const float> importance = {}) const;
  /// Writes the whole tensor as `to` into `dst` (exactly bytes_for(tensor_idx, to) bytes).
  void read(size_t tensor_idx, DType to, std::span<std::byte> dst, std::span<const float> importance = {}) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace amn
