// The tensor sources (source.hpp): copy, element cast or block dequantisation, and rows (a
// scheme's or a plain tensor's, decoded to f32) narrowed to a float type or quantised.
#include "stages/engine/source.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "amn/error.hpp"
#include "kernels/convert.hpp"
#include "kernels/dequant.hpp"
#include "kernels/quantize.hpp"
#include "stages/engine/plain_rows.hpp"

namespace amn::stages {
namespace {

/// Bytes `elems` elements of `type` take (whole blocks).
uint64_t bytes_of(DType type, uint64_t elems) {
  const auto& facts = info(type);
  return elems / facts.block_elems * facts.block_bits / 8;
}

/// The logical bytes, unchanged; a unit is one byte.
class CopySource final : public TensorSource {
 public:
  explicit CopySource(size_t tensor_idx) : tensor_idx_(tensor_idx) {}
  uint64_t unit_bytes() const override { return 1; }
  uint64_t scratch_bytes() const override { return 0; }
  void units(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst, SourceScratch&) const override {
    data.read(tensor_idx_, first, count, dst);
  }
  SourceKind kind() const override { return SourceKind::Copied; }

 private:
  size_t tensor_idx_;
};

/// A float element cast (kernels/convert) or a GGUF block dequantised to a float type
/// (kernels/dequant); a unit is one input element or block.
class ElementSource final : public TensorSource {
 public:
  ElementSource(size_t tensor_idx, DType from, DType to)
      : tensor_idx_(tensor_idx), from_(from), to_(to), in_unit_(info(from).block_bits / 8) {}
  uint64_t unit_bytes() const override { return bytes_of(to_, info(from_).block_elems); }
  uint64_t scratch_bytes() const override { return in_unit_; }
  void units(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst,
             SourceScratch& scratch) const override {
    scratch.input.resize(count * in_unit_);
    data.read(tensor_idx_, first * in_unit_, scratch.input.size(), scratch.input.data());
    if (is_block_type(from_)) {
      kernels::dequant_elements(from_, scratch.input.data(), count, to_, dst);
    } else {
      kernels::convert_elements(from_, scratch.input.data(), count, to_, dst);
    }
  }
  SourceKind kind() const override { return is_block_type(from_) ? SourceKind::Dequantised : SourceKind::Cast; }

 private:
  size_t tensor_idx_;
  DType from_;
  DType to_;
  uint64_t in_unit_;
};

/// f32 rows from a RowSource, narrowed to a float type or quantised into a block type (each
/// [d-2, d-1] matrix of a 3-D tensor with its own slice of per-matrix importance weights); a
/// unit is one row.
class RowsSource final : public TensorSource {
 public:
  struct Params {
    std::shared_ptr<const RowSource> rows;
    uint64_t row_elems = 0;
    uint64_t matrix_rows = 1;  ///< rows per matrix (importance slices)
    DType to = DType::F32;
    SourceKind kind = SourceKind::Dequantised;
    std::string where;  ///< "FILE: tensor 'NAME'", for messages
    std::shared_ptr<const std::vector<float>> imatrix;
  };
  explicit RowsSource(Params params) : p_(std::move(params)) {}
  uint64_t unit_bytes() const override { return bytes_of(p_.to, p_.row_elems); }
  // the f32 row, and as much again for the input bytes it decodes from
  uint64_t scratch_bytes() const override { return 2 * p_.row_elems * sizeof(float); }
  uint64_t min_units() const override { return p_.rows->min_rows(); }
  void units(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst,
             SourceScratch& scratch) const override {
    scratch.rows.resize(count * p_.row_elems);
    p_.rows->rows(data, first, count, scratch.rows.data());
    if (is_block_type(p_.to)) {
      quantise(first, count, scratch.rows.data(), dst);
    } else {
      kernels::store_f32(scratch.rows.data(), count * p_.row_elems, p_.to, dst);
    }
  }
  SourceKind kind() const override { return p_.kind; }

 private:
  void quantise(uint64_t first, uint64_t count, const float* rows, std::byte* dst) const {
    for (uint64_t elem = 0; elem < count * p_.row_elems; ++elem) {
      if (!std::isfinite(rows[elem])) {
        throw Error(ErrorCode::Unsupported, p_.where + ": element " + std::to_string(elem % p_.row_elems) + " of row " +
                                                std::to_string(first + elem / p_.row_elems) +
                                                " is not finite; refusing to quantise it to " +
                                                std::string(info(p_.to).name));
      }
    }
    const uint64_t row_bytes = unit_bytes();
    const std::vector<float>* imatrix = p_.imatrix.get();
    for (uint64_t row = first; row < first + count;) {
      const uint64_t matrix = row / p_.matrix_rows;
      const uint64_t run = std::min(first + count, (matrix + 1) * p_.matrix_rows) - row;
      const float* weights = nullptr;
      if (imatrix) weights = imatrix->data() + (imatrix->size() > p_.row_elems ? matrix * p_.row_elems : 0);
      kernels::quantize_rows(p_.to, rows + (row - first) * p_.row_elems, run, p_.row_elems, weights,
                             dst + (row - first) * row_bytes);
      row += run;
    }
  }

  Params p_;
};

/// Elements of one row of a scheme's output: everything but the first dimension (one element for
/// rank <= 1, as RowSource promises).
uint64_t scheme_row_elems(const std::vector<int64_t>& shape) {
  uint64_t elems = 1;
  for (size_t dim = 1; dim < shape.size(); ++dim) elems *= static_cast<uint64_t>(shape[dim]);
  return elems;
}

}  // namespace

void fill_range(const TensorSource& source, io::TensorData& data, uint64_t begin, uint64_t end, std::byte* dst,
                SourceScratch& scratch) {
  const uint64_t unit = source.unit_bytes();
  const uint64_t per_unit = source.scratch_bytes();
  const uint64_t strip = per_unit == 0 ? std::numeric_limits<uint64_t>::max()
                                       : std::max({uint64_t{1}, kStripBytes / per_unit, source.min_units()});
  for (uint64_t pos = begin; pos < end;) {
    const uint64_t skip = pos % unit;
    if (skip != 0 || end - pos < unit) {  // a unit cut by an edge of the range
      scratch.unit.resize(unit);
      source.units(data, pos / unit, 1, scratch.unit.data(), scratch);
      const uint64_t take = std::min(unit - skip, end - pos);
      std::memcpy(dst + (pos - begin), scratch.unit.data() + skip, take);
      pos += take;
      continue;
    }
    const uint64_t count = std::min(strip, (end - pos) / unit);
    source.units(data, pos / unit, count, dst + (pos - begin), scratch);
    pos += count * unit;
  }
}

std::optional<SourceKind> plain_kind(DType from, DType to) {
  if (from == to) return SourceKind::Copied;
  if (is_block_type(to)) {
    const bool decodes = is_block_type(from) ? kernels::can_dequant(from) : kernels::can_convert(from, DType::F32);
    return decodes && kernels::can_quantize(to) ? std::optional(SourceKind::Quantised) : std::nullopt;
  }
  if (is_block_type(from)) return kernels::can_dequant(from) ? std::optional(SourceKind::Dequantised) : std::nullopt;
  return kernels::can_convert(from, to) ? std::optional(SourceKind::Cast) : std::nullopt;
}

std::shared_ptr<const TensorSource> plain_source(size_t tensor_idx, DType from, const std::vector<int64_t>& shape,
                                                 DType to, std::string where,
                                                 std::shared_ptr<const std::vector<float>> imatrix) {
  const auto kind = plain_kind(from, to);
  if (!kind) throw std::logic_error("plain_source: no kernel for this conversion");
  switch (*kind) {
    case SourceKind::Copied: return std::make_shared<CopySource>(tensor_idx);
    case SourceKind::Cast:
    case SourceKind::Dequantised: return std::make_shared<ElementSource>(tensor_idx, from, to);
    case SourceKind::Quantised: {
      const uint64_t row = shape.empty() ? 1 : static_cast<uint64_t>(shape.back());
      RowsSource::Params params;
      params.rows = std::make_shared<PlainRows>(tensor_idx, from, row);
      params.row_elems = row;
      params.matrix_rows = shape.size() >= 2 ? static_cast<uint64_t>(shape[shape.size() - 2]) : 1;
      params.to = to;
      params.kind = SourceKind::Quantised;
      params.where = std::move(where);
      params.imatrix = std::move(imatrix);
      return std::make_shared<RowsSource>(std::move(params));
    }
    case SourceKind::Encoded: break;
  }
  throw std::logic_error("plain_source: not a plain conversion");
}

std::shared_ptr<const TensorSource> scheme_source(std::shared_ptr<const RowSource> rows,
                                                  const std::vector<int64_t>& shape, DType to, uint64_t row_elems) {
  RowsSource::Params params;
  params.rows = std::move(rows);
  params.row_elems = row_elems != 0 ? row_elems : scheme_row_elems(shape);
  params.to = to;
  return std::make_shared<RowsSource>(std::move(params));
}

}  // namespace amn::stages
