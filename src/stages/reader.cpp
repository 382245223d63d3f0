// TensorReader: one tensor's rows into a caller's buffer, through io::TensorData and the kernels
// (kernels/convert.hpp for casts and dequantisation, kernels/quantize.hpp for block encoding).
#include "amn/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "amn/error.hpp"
#include "io/tensor_data.hpp"
#include "kernels/convert.hpp"
#include "kernels/dequant.hpp"
#include "kernels/quantize.hpp"

namespace amn {
namespace {

/// Input bytes decoded per step of a cast or dequantisation (and f32 bytes per quantisation
/// step, at least one row): enough to amortise a read, small enough to stay in cache.
constexpr uint64_t kScratchBytes = 4ull << 20;

/// How a tensor's stored bytes become the requested type.
enum class Route : uint8_t {
  None,      ///< amn cannot produce the requested type from this tensor
  Raw,       ///< the stored (logical) bytes
  Convert,   ///< float element cast (kernels::convert_elements)
  Dequant,   ///< GGUF block dequantisation (kernels::dequant_elements)
  Quantise,  ///< decode to f32 rows, then kernels::quantize_rows
};

bool is_float_target(DType to) { return to == DType::F32 || to == DType::F16 || to == DType::BF16; }

/// Whether a tensor of `from` decodes to f32 (the input side of quantisation).
bool decodes_to_f32(DType from) {
  return is_block_type(from) ? kernels::can_dequant(from) : kernels::can_convert(from, DType::F32);
}

Route route_for(DType from, DType to) {
  if (from == to) return Route::Raw;
  if (is_block_type(to)) return kernels::can_quantize(to) && decodes_to_f32(from) ? Route::Quantise : Route::None;
  if (!is_float_target(to)) return Route::None;
  if (is_block_type(from)) return kernels::can_dequant(from) ? Route::Dequant : Route::None;
  return kernels::can_convert(from, to) ? Route::Convert : Route::None;
}

std::string type_name(DType type) { return std::string(info(type).name); }

/// "[begin, end)" for messages.
std::string row_range(uint64_t row_begin, uint64_t row_count) {
  return "rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + row_count) + ")";
}

/// A read, resolved and checked: where its input lies and how many bytes it produces.
struct Resolved {
  Route route = Route::None;
  uint64_t elems = 0;      ///< elements read
  uint64_t in_offset = 0;  ///< logical byte offset of the first row in the tensor
  uint64_t in_bytes = 0;   ///< logical input bytes of the rows
  uint64_t out_bytes = 0;  ///< bytes written to the caller's buffer
};

}  // namespace

struct TensorReader::Impl {
  std::vector<std::string> files;
  std::vector<Tensor> tensors;
  std::vector<uint64_t> rows;       ///< per tensor
  std::vector<uint64_t> row_elems;  ///< per tensor
  std::vector<std::string> files_of;  ///< per tensor: the file holding its bytes, for messages
  std::unique_ptr<io::TensorData> data;

  /// "FILE: tensor 'NAME'", the start of every message about one tensor.
  [[nodiscard]] std::string where(size_t tensor_idx) const {
    return files_of[tensor_idx] + ": tensor '" + tensors[tensor_idx].name + "'";
  }

  void check_index(size_t tensor_idx) const {
    if (tensor_idx < tensors.size()) return;
    throw Error(ErrorCode::Usage, (files.empty() ? std::string("model") : files.front()) + ": tensor index " +
                                      std::to_string(tensor_idx) + " is out of range (the model has " +
                                      std::to_string(tensors.size()) + " tensors)");
  }

  [[nodiscard]] Resolved resolve(size_t tensor_idx, uint64_t row_begin, uint64_t row_count, DType to) const {
    check_index(tensor_idx);
    const Tensor& tensor = tensors[tensor_idx];
    const uint64_t total_rows = rows[tensor_idx];
    const uint64_t per_row = row_elems[tensor_idx];
    if (row_begin > total_rows || row_count > total_rows - row_begin) {
      throw Error(ErrorCode::Usage, where(tensor_idx) + ": " + row_range(row_begin, row_count) + " lie outside its " +
                                        std::to_string(total_rows) + " rows");
    }
    Resolved out;
    out.route = route_for(tensor.dtype, to);
    const std::string from_name = type_name(tensor.dtype);
    if (out.route == Route::None) {
      throw Error(ErrorCode::Unsupported, where(tensor_idx) + " is " + from_name + ", which amn cannot read as " +
                                              type_name(to));
    }
    out.elems = row_count * per_row;
    const auto offset = byte_size(tensor.dtype, row_begin * per_row);
    const auto in_bytes = byte_size(tensor.dtype, out.elems);
    if (!offset || !in_bytes) {
      const auto& facts = info(tensor.dtype);
      throw Error(ErrorCode::Unsupported,
                  where(tensor_idx) + ": " + row_range(row_begin, row_count) + " of " + std::to_string(per_row) +
                      " elements do not begin and end on whole " +
                      (facts.block_elems > 1 ? from_name + " blocks of " + std::to_string(facts.block_elems) + " elements"
                                             : std::string("bytes")));
    }
    out.in_offset = *offset;
    out.in_bytes = *in_bytes;
    if (out.route == Route::Quantise && per_row % info(to).block_elems != 0) {
      throw Error(ErrorCode::Unsupported, where(tensor_idx) + " has rows of " + std::to_string(per_row) +
                                              " elements, not a multiple of " + type_name(to) + "'s block of " +
                                              std::to_string(info(to).block_elems));
    }
    const auto out_bytes = byte_size(to, out.elems);
    if (!out_bytes) {
      throw Error(ErrorCode::Unsupported, where(tensor_idx) + ": " + row_range(row_begin, row_count) + " as " +
                                              type_name(to) + " do not fill whole bytes");
    }
    out.out_bytes = *out_bytes;
    return out;
  }

  /// Casts or dequantises the resolved input into `dst`, a bounded chunk at a time.
  void decode(size_t tensor_idx, const Resolved& plan, DType to, std::byte* dst) const {
    const DType from = tensors[tensor_idx].dtype;
    const auto& facts = info(from);
    const uint64_t in_unit = facts.block_bits / 8;  // one element (Convert) or one block (Dequant)
    const uint64_t out_unit = *byte_size(to, facts.block_elems);
    const uint64_t units = plan.in_bytes / in_unit;
    const uint64_t chunk_units = std::max<uint64_t>(1, kScratchBytes / in_unit);
    std::vector<std::byte> input(std::min(units, chunk_units) * in_unit);
    for (uint64_t unit = 0; unit < units; unit += chunk_units) {
      const uint64_t count = std::min(chunk_units, units - unit);
      data->read(tensor_idx, plan.in_offset + unit * in_unit, count * in_unit, input.data());
      if (plan.route == Route::Dequant) {
        kernels::dequant_elements(from, input.data(), count, to, dst + unit * out_unit);
      } else {
        kernels::convert_elements(from, input.data(), count, to, dst + unit * out_unit);
      }
    }
  }

  /// f32 values of rows [first, first + count) of the tensor into `values`.
  void rows_f32(size_t tensor_idx, uint64_t first, uint64_t count, std::vector<std::byte>& input, float* values) const {
    const DType from = tensors[tensor_idx].dtype;
    const uint64_t elems = count * row_elems[tensor_idx];
    const uint64_t offset = *byte_size(from, first * row_elems[tensor_idx]);
    const uint64_t len = *byte_size(from, elems);
    auto* out = reinterpret_cast<std::byte*>(values);
    if (from == DType::F32) {
      data->read(tensor_idx, offset, len, out);
      return;
    }
    input.resize(len);
    data->read(tensor_idx, offset, len, input.data());
    if (is_block_type(from)) {
      kernels::dequant_elements(from, input.data(), elems / info(from).block_elems, DType::F32, out);
    } else {
      kernels::convert_elements(from, input.data(), elems, DType::F32, out);
    }
  }

  /// Quantises rows [row_begin, row_begin + row_count) into `dst` (type `to`), a bounded number
  /// of rows at a time; each [d-2, d-1] matrix takes its own slice of per-matrix importance.
  void quantise(size_t tensor_idx, uint64_t row_begin, uint64_t row_count, DType to, std::span<const float> importance,
                std::byte* dst) const {
    const Tensor& tensor = tensors[tensor_idx];
    const uint64_t per_row = row_elems[tensor_idx];
    const uint64_t out_row = per_row / info(to).block_elems * info(to).block_bits / 8;
    const uint64_t matrix_rows = tensor.shape.size() >= 2 ? static_cast<uint64_t>(tensor.shape[tensor.shape.size() - 2]) : 1;
    const bool per_matrix = importance.size() > per_row;
    const uint64_t chunk_rows = std::max<uint64_t>(1, kScratchBytes / std::max<uint64_t>(1, per_row * sizeof(float)));
    std::vector<float> values(std::min(row_count, chunk_rows) * per_row);
    std::vector<std::byte> input;
    for (uint64_t done = 0; done < row_count;) {
      const uint64_t first = row_begin + done;
      const uint64_t count = std::min(chunk_rows, row_count - done);
      rows_f32(tensor_idx, first, count, input, values.data());
      for (uint64_t elem = 0; elem < count * per_row; ++elem) {
        if (!std::isfinite(values[elem])) {
          throw Error(ErrorCode::Unsupported, where(tensor_idx) + ": element " + std::to_string(elem % per_row) +
                                                  " of row " + std::to_string(first + elem / per_row) +
                                                  " is not finite; refusing to quantise it to " + type_name(to));
        }
      }
      for (uint64_t row = first; row < first + count;) {
        const uint64_t matrix = row / matrix_rows;
        const uint64_t run = std::min(first + count, (matrix + 1) * matrix_rows) - row;
        const float* weights = importance.empty() ? nullptr : importance.data() + (per_matrix ? matrix * per_row : 0);
        try {
          kernels::quantize_rows(to, values.data() + (row - first) * per_row, run, per_row, weights,
                                 dst + (row - row_begin) * out_row);
        } catch (const std::logic_error& error) {
          // quantisers still being written are stubs that throw logic_error
          throw Error(ErrorCode::Unsupported, where(tensor_idx) + ": quantisation to " + type_name(to) +
                                                  " is not available in this build (" + error.what() + ")");
        }
        row += run;
      }
      done += count;
    }
  }

  /// Refuses importance weights that do not fit the read.
  void check_importance(size_t tensor_idx, Route route, DType to, std::span<const float> importance) const {
    if (route != Route::Quantise) {
      if (!importance.empty()) {
        throw Error(ErrorCode::Usage, where(tensor_idx) + ": importance weights apply only when quantising, not when reading as " +
                                          type_name(to));
      }
      return;
    }
    if (importance.empty()) {
      if (kernels::quantize_needs_imatrix(to)) {
        throw Error(ErrorCode::Usage, where(tensor_idx) + ": quantisation to " + type_name(to) +
                                          " needs importance weights (an imatrix entry of " +
                                          std::to_string(row_elems[tensor_idx]) + " floats)");
      }
      return;
    }
    const Tensor& tensor = tensors[tensor_idx];
    const uint64_t per_row = row_elems[tensor_idx];
    if (importance.size() == per_row) return;
    if (tensor.shape.size() >= 3 && tensor.shape[tensor.shape.size() - 2] > 0) {
      const uint64_t matrices = rows[tensor_idx] / static_cast<uint64_t>(tensor.shape[tensor.shape.size() - 2]);
      if (importance.size() == per_row * matrices) return;
    }
    throw Error(ErrorCode::Usage, where(tensor_idx) + ": " + std::to_string(importance.size()) +
                                      " importance weights, expected " + std::to_string(per_row) +
                                      " (one per element of a row)" +
                                      (tensor.shape.size() >= 3 ? " or that many per matrix" : ""));
  }
};

TensorReader::TensorReader(const Catalog& catalog, const Limits& limits) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.files = catalog.files;
  impl.tensors = catalog.tensors;
  for (const Tensor& tensor : catalog.tensors) {
    std::string file = "model";
    if (tensor.storage < catalog.storages.size() && catalog.storages[tensor.storage].file_index < catalog.files.size()) {
      file = catalog.files[catalog.storages[tensor.storage].file_index];
    }
    impl.files_of.push_back(file);
    const auto shape = std::span<const int64_t>(tensor.shape);
    const uint64_t per_row = shape.empty() ? 1 : static_cast<uint64_t>(std::max<int64_t>(shape.back(), 0));
    const auto outer = element_count(shape.empty() ? shape : shape.first(shape.size() - 1));
    if (!outer) fail_parse(file, "tensor '" + tensor.name + "': its shape overflows");
    impl.row_elems.push_back(per_row);
    impl.rows.push_back(*outer);
  }
  // io::TensorData keeps its own copy of the catalog; it needs no metadata.
  Catalog tensors_only;
  tensors_only.format = catalog.format;
  tensors_only.files = catalog.files;
  tensors_only.file_sizes = catalog.file_sizes;
  tensors_only.storages = catalog.storages;
  tensors_only.tensors = catalog.tensors;
  impl.data = std::make_unique<io::TensorData>(tensors_only, Limits{}.tightened(limits));
}

TensorReader::~TensorReader() = default;
TensorReader::TensorReader(TensorReader&& other) noexcept = default;
TensorReader& TensorReader::operator=(TensorReader&& other) noexcept = default;

const std::vector<Tensor>& TensorReader::tensors() const { return impl_->tensors; }

std::optional<size_t> TensorReader::find(std::string_view name) const {
  const auto& tensors = impl_->tensors;
  for (size_t tensor_idx = 0; tensor_idx < tensors.size(); ++tensor_idx) {
    if (tensors[tensor_idx].name == name) return tensor_idx;
  }
  return std::nullopt;
}

uint64_t TensorReader::rows(size_t tensor_idx) const {
  impl_->check_index(tensor_idx);
  return impl_->rows[tensor_idx];
}

uint64_t TensorReader::row_elems(size_t tensor_idx) const {
  impl_->check_index(tensor_idx);
  return impl_->row_elems[tensor_idx];
}

bool TensorReader::can_read_as(size_t tensor_idx, DType to) const {
  impl_->check_index(tensor_idx);
  const DType from = impl_->tensors[tensor_idx].dtype;
  const Route route = route_for(from, to);
  if (route == Route::None) return false;
  if (route == Route::Quantise) return impl_->row_elems[tensor_idx] % info(to).block_elems == 0;
  return true;
}

uint64_t TensorReader::bytes_for(size_t tensor_idx, uint64_t row_begin, uint64_t row_count, DType to) const {
  return impl_->resolve(tensor_idx, row_begin, row_count, to).out_bytes;
}

uint64_t TensorReader::bytes_for(size_t tensor_idx, DType to) const { return bytes_for(tensor_idx, 0, rows(tensor_idx), to); }

void TensorReader::read(size_t tensor_idx, uint64_t row_begin, uint64_t row_count, DType to, std::span<std::byte> dst,
                        std::span<const float> importance) const {
  const Impl& impl = *impl_;
  const Resolved plan = impl.resolve(tensor_idx, row_begin, row_count, to);
  if (dst.size() != plan.out_bytes) {
    throw Error(ErrorCode::Usage, impl.where(tensor_idx) + ": " + row_range(row_begin, row_count) + " as " +
                                      type_name(to) + " take " + std::to_string(plan.out_bytes) +
                                      " bytes, but the buffer has " + std::to_string(dst.size()));
  }
  impl.check_importance(tensor_idx, plan.route, to, importance);
  if (plan.out_bytes == 0) return;
  switch (plan.route) {
    case Route::Raw:
      impl.data->read(tensor_idx, plan.in_offset, plan.in_bytes, dst.data());
      return;
    case Route::Convert:
    case Route::Dequant:
      impl.decode(tensor_idx, plan, to, dst.data());
      return;
    case Route::Quantise:
      impl.quantise(tensor_idx, row_begin, row_count, to, importance, dst.data());
      return;
    case Route::None:
      break;
  }
}

void TensorReader::read(size_t tensor_idx, DType to, std::span<std::byte> dst, std::span<const float> importance) const {
  read(tensor_idx, 0, rows(tensor_idx), to, dst, importance);
}

}  // namespace amn
