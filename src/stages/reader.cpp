// TensorReader: one tensor's rows into a caller's buffer, through the same tensor sources the
// engine runs (stages/engine/source.hpp: copy, cast, dequantise, quantise).
#include "amn/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "amn/error.hpp"
#include "io/tensor_data.hpp"
#include "kernels/quantize.hpp"
#include "stages/engine/source.hpp"

namespace amn {
namespace {

using stages::SourceKind;

/// How a tensor of `from` is read as `to`: a plain source (stages::plain_kind) with a float or
/// block target; nullopt when amn cannot.
std::optional<SourceKind> route_for(DType from, DType to) {
  if (from != to && !is_block_type(to) && !(to == DType::F32 || to == DType::F16 || to == DType::BF16)) return std::nullopt;
  return stages::plain_kind(from, to);
}

std::string type_name(DType type) { return std::string(info(type).name); }

/// "[begin, end)" for messages.
std::string row_range(uint64_t row_begin, uint64_t row_count) {
  return "rows [" + std::to_string(row_begin) + ", " + std::to_string(row_begin + row_count) + ")";
}

/// A read, resolved and checked: where its input lies and how many bytes it produces.
struct Resolved {
  SourceKind route = SourceKind::Copied;
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
    const auto route = route_for(tensor.dtype, to);
    const std::string from_name = type_name(tensor.dtype);
    if (!route) {
      throw Error(ErrorCode::Unsupported, where(tensor_idx) + " is " + from_name + ", which amn cannot read as " +
                                              type_name(to));
    }
    out.route = *route;
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
    if (out.route == SourceKind::Quantised && per_row % info(to).block_elems != 0) {
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

  /// Refuses importance weights that do not fit the read.
  void check_importance(size_t tensor_idx, SourceKind route, DType to, std::span<const float> importance) const {
    if (route != SourceKind::Quantised) {
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
  const auto route = route_for(from, to);
  if (!route) return false;
  if (*route == SourceKind::Quantised) return impl_->row_elems[tensor_idx] % info(to).block_elems == 0;
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
  const Tensor& tensor = impl.tensors[tensor_idx];
  std::shared_ptr<const std::vector<float>> weights;
  if (!importance.empty()) weights = std::make_shared<const std::vector<float>>(importance.begin(), importance.end());
  const auto source = stages::plain_source(tensor_idx, tensor.dtype, tensor.shape, to, impl.where(tensor_idx), weights);
  const uint64_t begin = *byte_size(to, row_begin * impl.row_elems[tensor_idx]);
  stages::SourceScratch scratch;
  stages::fill_range(*source, *impl.data, begin, begin + plan.out_bytes, dst.data(), scratch);
}

void TensorReader::read(size_t tensor_idx, DType to, std::span<std::byte> dst, std::span<const float> importance) const {
  read(tensor_idx, 0, rows(tensor_idx), to, dst, importance);
}

}  // namespace amn
