// FP8 checkpoints: `X.weight` in F8_E4M3 / F8_E5M2 with `X.weight_scale` (per tensor, per output
// channel, or per block) or `X.weight_scale_inv` (DeepSeek-V3 blocks, block size from config.json
// `quantization_config.weight_block_size`, default 128×128). Dequantised as HF transformers'
// Fp8Dequantize does: `weight.to(float32) * scale.to(float32)` with the scale broadcast over its
// block. A compressed-tensors checkpoint (config.json quant_method "compressed-tensors",
// format float-quantized) is dequantised as compressed-tensors does it instead, in the scale's
// dtype: `weight.to(scale.dtype) * scale` (exact widening, then one rounding of the exact product
// to BF16/F16). Activation scales leave the output when they belong to FP8 weights:
// `X.input_scale` of an FP8 `X.weight`, `P.k_scale` / `P.v_scale` of an attention module P
// holding FP8 weights; a tensor named like them anywhere else (and `logit_scale`,
// `layer_scale`) is copied.
#include <rapidjson/document.h>

#include <array>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "kernels/convert.hpp"
#include "kernels/fp8/fp8.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

using BlockSize = std::array<int64_t, 2>;

constexpr BlockSize kDefaultBlock = {128, 128};  ///< DeepSeek-V3 / transformers default
constexpr std::array<std::string_view, 2> kScaleSuffixes = {"_scale", "_scale_inv"};
/// Activation scales of an FP8 module: quantisation inputs of the runtime, not of the weights.
constexpr std::string_view kInputScaleLeaf = "input_scale";
constexpr std::array<std::string_view, 2> kKvScaleLeaves = {"k_scale", "v_scale"};
constexpr std::string_view kWeightLeaf = "weight";

enum class Layout { Unscaled, PerTensor, PerChannel, Block };

/// How one FP8 tensor is scaled.
struct Fp8Layout {
  Layout layout = Layout::Unscaled;
  std::optional<size_t> scale;  ///< the scale tensor, unless Unscaled
  DType scale_type = DType::F32;
  BlockSize block = kDefaultBlock;
  int64_t grid_cols = 1;  ///< scale columns of a Block layout
  bool in_scale_type = false;  ///< compressed-tensors: the product is computed in scale_type
};

/// The scales a window of weight rows uses, widened to f32. Weight row `row` reads
/// `per_group` values starting at (row / rows_per_group - first_group) * per_group; each value
/// covers `block_cols` columns.
struct ScaleWindow {
  std::vector<float> values;
  uint64_t rows_per_group = 1;
  uint64_t first_group = 0;
  uint64_t per_group = 0;
  uint64_t block_cols = 0;

  [[nodiscard]] const float* for_row(uint64_t row) const {
    return values.data() + (row / rows_per_group - first_group) * per_group;
  }
};

/// Rows of one dequantised FP8 tensor (rank ≤ 1: one element per row).
class Fp8Rows final : public RowSource {
 public:
  Fp8Rows(size_t weight, DType type, uint64_t cols, const Fp8Layout& layout)
      : weight_(weight), type_(type), cols_(cols), layout_(layout) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    if (count == 0) return;
    std::vector<std::byte> weight(count * cols_);
    data.read(weight_, first * cols_, weight.size(), weight.data());
    const ScaleWindow scales = load_scales(data, first, count);
    for (uint64_t row = 0; row < count; ++row) {
      kernels::fp8::dequant_row(type_, weight.data() + row * cols_, cols_, scales.for_row(first + row), scales.block_cols,
                                dst + row * cols_);
    }
    if (layout_.in_scale_type && layout_.scale_type != DType::F32) round_to_scale_type(dst, count * cols_);
  }

 private:
  /// The scales of rows [first, first + count).
  ScaleWindow load_scales(io::TensorData& data, uint64_t first, uint64_t count) const {
    ScaleWindow window;
    window.block_cols = cols_;
    switch (layout_.layout) {
      case Layout::Unscaled:
        window.values.assign(1, 1.0f);
        break;
      case Layout::PerTensor:
        window.values = read_scales(data, 0, 1);
        break;
      case Layout::PerChannel:
        window.values = read_scales(data, first, count);
        window.first_group = first;
        window.per_group = 1;
        break;
      case Layout::Block: {
        window.rows_per_group = static_cast<uint64_t>(layout_.block[0]);
        window.first_group = first / window.rows_per_group;
        window.per_group = static_cast<uint64_t>(layout_.grid_cols);
        window.block_cols = static_cast<uint64_t>(layout_.block[1]);
        const uint64_t last_group = (first + count - 1) / window.rows_per_group;
        window.values = read_scales(data, window.first_group * window.per_group,
                                    (last_group - window.first_group + 1) * window.per_group);
        break;
      }
    }
    return window;
  }

  /// Rounds each f32 product to the scale's type (BF16/F16, nearest even) and widens it back: the
  /// product of two values of that type is exact in f32, so this is torch's product in that type.
  void round_to_scale_type(float* values, uint64_t count) const {
    std::vector<std::byte> narrow(count * (info(layout_.scale_type).block_bits / 8));
    kernels::convert_elements(DType::F32, reinterpret_cast<const std::byte*>(values), count, layout_.scale_type, narrow.data());
    kernels::convert_elements(layout_.scale_type, narrow.data(), count, DType::F32, reinterpret_cast<std::byte*>(values));
  }

  /// Scale values [first, first + count) as f32 (exact widening of F32/BF16/F16).
  std::vector<float> read_scales(io::TensorData& data, uint64_t first, uint64_t count) const {
    const uint64_t elem_bytes = info(layout_.scale_type).block_bits / 8;
    std::vector<std::byte> raw(count * elem_bytes);
    data.read(*layout_.scale, first * elem_bytes, raw.size(), raw.data());
    std::vector<float> scales(count);
    kernels::convert_elements(layout_.scale_type, raw.data(), count, DType::F32, reinterpret_cast<std::byte*>(scales.data()));
    return scales;
  }

  size_t weight_;
  DType type_;
  uint64_t cols_;
  Fp8Layout layout_;
};

bool is_fp8(DType type) { return type == DType::F8_E4M3 || type == DType::F8_E5M2; }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t dim = 0; dim < shape.size(); ++dim) text += (dim ? ", " : "") + std::to_string(shape[dim]);
  return text + "]";
}

/// The last dot-separated component of `name`, and everything before it ("" when none).
std::pair<std::string_view, std::string_view> split_leaf(std::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return {"", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

int64_t ceil_div(int64_t value, int64_t divisor) { return value / divisor + (value % divisor != 0); }

/// The block size of block-wise scales: `quantization_config.weight_block_size` (transformers'
/// FP8 config), else compressed-tensors' `config_groups.*.weights.block_structure`, else 128×128.
BlockSize block_size(const SchemeContext& context) {
  if (!context.config.present()) return kDefaultBlock;
  const rapidjson::Value& root = context.config.root();
  const std::string& config_path = context.config.path();
  auto quant = root.FindMember("quantization_config");
  if (quant == root.MemberEnd() || !quant->value.IsObject()) return kDefaultBlock;
  auto pair_of = [&](const rapidjson::Value& value, const std::string& field) {
    if (!value.IsArray() || value.Size() != 2 || !value[0].IsInt64() || !value[1].IsInt64() || value[0].GetInt64() <= 0 ||
        value[1].GetInt64() <= 0) {
      fail_parse(config_path, field + ": expected two positive integers");
    }
    return BlockSize{value[0].GetInt64(), value[1].GetInt64()};
  };
  if (auto size = quant->value.FindMember("weight_block_size"); size != quant->value.MemberEnd() && !size->value.IsNull()) {
    return pair_of(size->value, "quantization_config.weight_block_size");
  }
  auto groups = quant->value.FindMember("config_groups");
  if (groups == quant->value.MemberEnd() || !groups->value.IsObject()) return kDefaultBlock;
  std::optional<BlockSize> found;
  for (const auto& group : groups->value.GetObject()) {
    if (!group.value.IsObject()) continue;
    auto weights = group.value.FindMember("weights");
    if (weights == group.value.MemberEnd() || !weights->value.IsObject()) continue;
    auto structure = weights->value.FindMember("block_structure");
    if (structure == weights->value.MemberEnd() || structure->value.IsNull()) continue;
    std::string field = "quantization_config.config_groups." +
                        io::display({group.name.GetString(), group.name.GetStringLength()}) + ".weights.block_structure";
    BlockSize size = pair_of(structure->value, field);
    if (found && *found != size) fail_unsupported(config_path, field + ": config groups with different block sizes");
    found = size;
  }
  return found.value_or(kDefaultBlock);
}

/// Whether config.json says compressed-tensors made the checkpoint (its dequantisation computes
/// in the scale's dtype).
bool is_compressed_tensors(const SchemeContext& context) {
  if (!context.config.present()) return false;
  const rapidjson::Value& root = context.config.root();
  auto quant = root.FindMember("quantization_config");
  if (quant == root.MemberEnd() || !quant->value.IsObject()) return false;
  auto method = quant->value.FindMember("quant_method");
  return method != quant->value.MemberEnd() && method->value.IsString() &&
         std::string_view(method->value.GetString(), method->value.GetStringLength()) == "compressed-tensors";
}

/// Finds and checks the scale of FP8 tensor `weight_idx`. Throws naming both tensors when the
/// scale's dtype or shape fits no layout.
Fp8Layout layout_of(const SchemeContext& context, size_t weight_idx, std::optional<BlockSize>& block_cache) {
  const Tensor& weight = context.catalog.tensors[weight_idx];
  const std::string& file = context.file_of(weight_idx);
  Fp8Layout layout;
  std::string scale_name;
  for (std::string_view suffix : kScaleSuffixes) {
    auto found = context.find(weight.name + std::string(suffix));
    if (!found) continue;
    if (layout.scale) {
      fail_parse(file, "tensor " + io::quoted(weight.name) + " has two scales, " + io::quoted(scale_name) + " and " +
                           io::quoted(context.catalog.tensors[*found].name));
    }
    layout.scale = found;
    scale_name = context.catalog.tensors[*found].name;
  }
  if (!layout.scale) return layout;

  const Tensor& scale = context.catalog.tensors[*layout.scale];
  const std::string pair = "tensor " + io::quoted(scale_name) + " " + shape_text(scale.shape) + " (scale of " +
                           io::quoted(weight.name) + " " +
                           shape_text(weight.shape) + ")";
  layout.scale_type = scale.dtype;
  if (scale.dtype != DType::F32 && scale.dtype != DType::BF16 && scale.dtype != DType::F16) {
    fail_unsupported(context.file_of(*layout.scale), pair + " is " + std::string(info(scale.dtype).name) +
                                                         "; FP8 scales must be F32, BF16 or F16");
  }
  const uint64_t scale_elems = element_count(scale.shape).value_or(0);
  if (scale_elems == 1 && scale.shape.size() <= 2) {
    layout.layout = Layout::PerTensor;
    return layout;
  }
  if (weight.shape.size() != 2) {
    fail_unsupported(file, pair + ": per-channel and block scales need a 2-d weight");
  }
  const int64_t out = weight.shape[0];
  const int64_t in = weight.shape[1];
  if ((scale.shape.size() == 1 && scale.shape[0] == out) ||
      (scale.shape.size() == 2 && scale.shape[0] == out && scale.shape[1] == 1)) {
    layout.layout = Layout::PerChannel;
    return layout;
  }
  if (!block_cache) block_cache = block_size(context);
  layout.block = *block_cache;
  const std::vector<int64_t> grid = {ceil_div(out, layout.block[0]), ceil_div(in, layout.block[1])};
  if (scale.shape != grid) {
    fail_parse(context.file_of(*layout.scale),
               pair + " matches no FP8 scale layout: expected [] or [1] (per tensor), [" + std::to_string(out) + "] or [" +
                   std::to_string(out) + ", 1] (per channel), or " + shape_text(grid) + " (blocks of " +
                   std::to_string(layout.block[0]) + "×" + std::to_string(layout.block[1]) + ")");
  }
  layout.layout = Layout::Block;
  layout.grid_cols = grid[1];
  return layout;
}

std::string layout_name(const Fp8Layout& layout) {
  switch (layout.layout) {
    case Layout::Unscaled: return "unscaled";
    case Layout::PerTensor: return "per-tensor";
    case Layout::PerChannel: return "per-channel";
    case Layout::Block: return "block " + std::to_string(layout.block[0]) + "×" + std::to_string(layout.block[1]);
  }
  return "";
}

}  // namespace

std::optional<SchemeMatch> recognise_fp8(const SchemeContext& context) {
  const Catalog& catalog = context.catalog;
  SchemeMatch match;
  std::set<size_t> consumed;
  std::set<std::string> types, layouts;
  std::optional<BlockSize> block_cache;
  std::optional<bool> compressed_tensors_cache;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const Tensor& tensor = catalog.tensors[tensor_idx];
    if (!is_fp8(tensor.dtype) || context.claimed(tensor_idx)) continue;
    if (!compressed_tensors_cache) compressed_tensors_cache = is_compressed_tensors(context);
    const bool compressed_tensors = *compressed_tensors_cache;
    Fp8Layout layout = layout_of(context, tensor_idx, block_cache);
    layout.in_scale_type = compressed_tensors;
    // Rows of the last dimension (one element for rank <= 1): a stack of experts [E, out, in],
    // scaled per tensor or not at all (the only layouts beyond rank 2), is decoded a row at a
    // time rather than an expert at a time.
    const uint64_t cols = tensor.shape.size() >= 2 ? static_cast<uint64_t>(tensor.shape.back()) : 1;
    match.outputs.push_back(SchemeTensor{tensor.name, tensor.shape, tensor_idx,
                                         std::make_shared<Fp8Rows>(tensor_idx, tensor.dtype, cols, layout), cols});
    consumed.insert(tensor_idx);
    if (layout.scale) consumed.insert(*layout.scale);
    auto [module, leaf] = split_leaf(tensor.name);
    if (leaf == kWeightLeaf) {
      if (auto input_scale = context.find(std::string(module) + "." + std::string(kInputScaleLeaf))) {
        consumed.insert(*input_scale);
      }
    }
    types.insert(tensor.dtype == DType::F8_E4M3 ? "E4M3" : "E5M2");
    layouts.insert(layout_name(layout));
  }
  if (match.outputs.empty()) return std::nullopt;
  // A KV-cache scale `P.k_scale` / `P.v_scale` is a companion only of an attention module P that
  // holds FP8 weights (`P.q_proj.weight`, ...); elsewhere it is a tensor like any other, copied.
  std::set<std::string> fp8_names;
  for (const auto& output : match.outputs) fp8_names.insert(output.name);
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    auto [module, leaf] = split_leaf(catalog.tensors[tensor_idx].name);
    if (leaf != kKvScaleLeaves[0] && leaf != kKvScaleLeaves[1]) continue;
    const std::string inside = std::string(module) + ".";
    auto next = fp8_names.lower_bound(inside);
    if (next != fp8_names.end() && next->starts_with(inside)) consumed.insert(tensor_idx);
  }
  match.consumed.assign(consumed.begin(), consumed.end());
  match.scheme = "FP8";
  for (const auto& type : types) match.scheme += " " + type;
  std::string joined;
  for (const auto& layout : layouts) joined += (joined.empty() ? "" : ", ") + layout;
  match.scheme += " (" + joined + ")";
  return match;
}

}  // namespace amn::stages
