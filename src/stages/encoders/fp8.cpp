// FP8 E4M3 weights in the compressed-tensors layout (format float-quantized): X.weight
// (F8_E4M3 [out, in]) and X.weight_scale in the weight's dtype: [1] per tensor, [out, 1] per
// output channel, [ceil(out / 128), ceil(in / 128)] per 128x128 block. The scales are those of
// llm-compressor's FP8 / FP8_DYNAMIC / FP8_BLOCK weight quantisation (max |x| of the group / 448).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "io/display.hpp"
#include "kernels/convert.hpp"
#include "kernels/fp8/encode.hpp"
#include "stages/encoders/encoders.hpp"

namespace amn::stages::encoders {
namespace {

namespace kf = kernels::fp8;

constexpr uint64_t kBlock = 128;
/// Elements read at a time by the whole-tensor absmax pass.
constexpr uint64_t kPassElems = 64 * 1024;

enum class Scheme : uint8_t { Tensor, Channel, Block };

uint64_t ceil_div(uint64_t value, uint64_t divisor) { return (value + divisor - 1) / divisor; }

float max_abs(const float* values, uint64_t count) {
  float largest = 0.0f;
  for (uint64_t idx = 0; idx < count; ++idx) largest = std::max(largest, std::fabs(values[idx]));
  return largest;
}

/// What the weight and its scales share: the scheme, and for a per-tensor scale the absmax of the
/// whole tensor, computed once by a first pass over that tensor alone (bounded reads).
class Fp8Weight {
 public:
  Fp8Weight(WeightInput weight, Scheme scheme) : weight_(std::move(weight)), scheme_(scheme) {}

  [[nodiscard]] const WeightInput& weight() const { return weight_; }
  [[nodiscard]] Scheme scheme() const { return scheme_; }
  /// Rows that share one row of scales.
  [[nodiscard]] uint64_t row_group() const { return scheme_ == Scheme::Block ? kBlock : 1; }
  /// Columns that share one scale.
  [[nodiscard]] uint64_t col_group() const { return scheme_ == Scheme::Block ? kBlock : weight_.cols; }
  [[nodiscard]] uint64_t scale_cols() const { return ceil_div(weight_.cols, col_group()); }

  /// Scales of the row group of `rows` rows starting at row `row_begin`: the tensor's one scale, or
  /// each column group's absmax over those rows, read one row at a time into `row_values`.
  void group_scales(io::TensorData& data, uint64_t row_begin, uint64_t rows, std::vector<float>& row_values,
                    float* scales) const {
    if (scheme_ == Scheme::Tensor) {
      scales[0] = kf::group_scale(weight_.dtype, tensor_absmax(data));
      return;
    }
    const uint64_t cols = weight_.cols;
    std::vector<float> largest(scale_cols(), 0.0f);
    for (uint64_t row = row_begin; row < row_begin + rows; ++row) {
      read_weight(data, weight_, row * cols, cols, row_values.data());
      for (uint64_t group = 0; group < scale_cols(); ++group) {
        const uint64_t col_begin = group * col_group();
        largest[group] = std::max(largest[group], max_abs(row_values.data() + col_begin, std::min(col_group(), cols - col_begin)));
      }
    }
    for (uint64_t group = 0; group < scale_cols(); ++group) scales[group] = kf::group_scale(weight_.dtype, largest[group]);
  }

 private:
  float tensor_absmax(io::TensorData& data) const {
    std::call_once(absmax_once_, [&] {
      std::vector<float> values;
      const uint64_t total = weight_.rows * weight_.cols;
      float largest = 0.0f;
      for (uint64_t begin = 0; begin < total; begin += kPassElems) {
        values.resize(std::min(kPassElems, total - begin));
        read_weight(data, weight_, begin, values.size(), values.data());
        largest = std::max(largest, max_abs(values.data(), values.size()));
      }
      absmax_ = largest;
    });
    return absmax_;
  }

  WeightInput weight_;
  Scheme scheme_;
  mutable std::once_flag absmax_once_;
  mutable float absmax_ = 0.0f;
};

/// The E4M3 weight (unit: one row group, row_group() rows) or its scales (unit: one row of scales).
class Fp8Source final : public EncodeSource {
 public:
  Fp8Source(std::shared_ptr<const Fp8Weight> shared, bool scales) : shared_(std::move(shared)), scales_(scales) {}

  [[nodiscard]] uint64_t unit_bytes() const override {
    const WeightInput& weight = shared_->weight();
    if (scales_) return shared_->scale_cols() * info(weight.dtype).block_bits / 8;
    return shared_->row_group() * weight.cols;
  }
  [[nodiscard]] uint64_t scratch_bytes() const override { return shared_->weight().cols * (sizeof(float) + 1); }

  /// Row by row: the group's scales first (a pass over its rows), then each row quantised, read
  /// again when the group has several (a 128-row block group holds one row at a time, not 128).
  void encode(io::TensorData& data, uint64_t first, uint64_t count, std::byte* dst) const override {
    const WeightInput& weight = shared_->weight();
    const uint64_t group_rows = shared_->row_group();
    thread_local std::vector<float> row_values;
    thread_local std::vector<float> scales;
    row_values.resize(weight.cols);
    scales.resize(shared_->scale_cols());
    for (uint64_t unit = first; unit < first + count; ++unit) {
      const uint64_t row_begin = unit * group_rows;
      if (row_begin >= weight.rows) break;
      const uint64_t rows = std::min(group_rows, weight.rows - row_begin);
      shared_->group_scales(data, row_begin, rows, row_values, scales.data());
      std::byte* out = dst + (unit - first) * unit_bytes();
      if (scales_) {
        kernels::store_f32(scales.data(), scales.size(), weight.dtype, out);
        continue;
      }
      for (uint64_t row = 0; row < rows; ++row) {
        // A one-row group (channel) still holds its row from the scale pass; a tensor scale read none.
        if (rows > 1 || shared_->scheme() == Scheme::Tensor) {
          read_weight(data, weight, (row_begin + row) * weight.cols, weight.cols, row_values.data());
        }
        kf::quantize_row(weight.dtype, row_values.data(), weight.cols, scales.data(), shared_->col_group(),
                         reinterpret_cast<uint8_t*>(out) + row * weight.cols);
      }
    }
  }

 private:
  std::shared_ptr<const Fp8Weight> shared_;
  bool scales_;
};

Scheme scheme_of(const std::string& name) {
  if (name == "tensor") return Scheme::Tensor;
  if (name == "block") return Scheme::Block;
  return Scheme::Channel;
}

}  // namespace

std::vector<EncodedTensor> encode_fp8(const WeightInput& weight, const std::string& scheme_name) {
  const Scheme scheme = scheme_of(scheme_name);
  auto shared = std::make_shared<const Fp8Weight>(weight, scheme);
  std::vector<int64_t> scale_shape = {1};
  if (scheme == Scheme::Channel) scale_shape = {static_cast<int64_t>(weight.rows), 1};
  if (scheme == Scheme::Block) {
    scale_shape = {static_cast<int64_t>(ceil_div(weight.rows, kBlock)), static_cast<int64_t>(ceil_div(weight.cols, kBlock))};
  }
  std::vector<EncodedTensor> out;
  out.push_back({weight.name, DType::F8_E4M3, {static_cast<int64_t>(weight.rows), static_cast<int64_t>(weight.cols)},
                 std::make_shared<Fp8Source>(shared, false)});
  out.push_back({weight.name + "_scale", weight.dtype, scale_shape, std::make_shared<Fp8Source>(shared, true)});
  return out;
}

std::string fp8_quantization_config(const std::string& scheme, const std::vector<std::string>& skip) {
  std::string ignore = "[\"lm_head\"";
  for (const auto& module : skip) ignore += ", " + io::json_string(module);  // an exact module name
  ignore += "]";
  const std::string block = scheme == "block" ? ", \"block_structure\": [128, 128]" : "";
  return "{\"config_groups\": {\"group_0\": {\"targets\": [\"Linear\"], \"weights\": {\"num_bits\": 8, \"type\": "
         "\"float\", \"symmetric\": true, \"group_size\": null, \"strategy\": \"" +
         scheme + "\", \"dynamic\": false" + block +
         "}, \"input_activations\": null, \"output_activations\": null, \"format\": null}}, \"quant_method\": "
         "\"compressed-tensors\", \"kv_cache_scheme\": null, \"format\": \"float-quantized\", \"quantization_status\": "
         "\"compressed\", \"global_compression_ratio\": null, \"ignore\": " +
         ignore + ", \"moe_sparsity_config\": null}";
}

}  // namespace amn::stages::encoders
