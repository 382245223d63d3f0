// FP4 E2M1 checkpoints (kernels/fp4):
// - NVFP4 as compressed-tensors writes it (`nvfp4-pack-quantized`, llm-compressor's NVFP4A16 and
//   NVFP4): U8 `X.weight_packed` [out, in/2], F8_E4M3 `X.weight_scale` [out, in/16], F32
//   `X.weight_global_scale` [1], and for NVFP4 an activation `X.input_global_scale`. Dequantised
//   as NVFP4PackedCompressor.decompress: code * (float(weight_scale) / weight_global_scale).
// - NVFP4 as NVIDIA ModelOpt exports it (`nvidia/*-NVFP4`): U8 `X.weight` [out, in/2], F8_E4M3
//   `X.weight_scale` [out, in/16], F32 `X.weight_scale_2` (one value) and an activation
//   `X.input_scale`. Dequantised as NVFP4QTensor.dequantize: code * (float(weight_scale) *
//   weight_scale_2), its code table giving +0 for the negative zero code.
// - MXFP4 as gpt-oss ships its MoE experts: U8 `X_blocks` [E, out, in/32, 16] and U8 `X_scales`
//   [E, out, in/32] (E8M0 exponents). Dequantised as transformers' convert_moe_packed_tensors into
//   `X` [E, in, out] (the experts' weights transposed, as transformers' GptOss modules hold them).
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "kernels/convert.hpp"
#include "kernels/fp4/fp4.hpp"
#include "stages/schemes/qweight.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

using kernels::fp4::kMxfp4Block;
using kernels::fp4::kNvfp4Block;

constexpr std::string_view kPackedLeaf = ".weight_packed";  ///< compressed-tensors
constexpr std::string_view kWeightLeaf = ".weight";         ///< ModelOpt
constexpr std::string_view kBlocksSuffix = "_blocks";       ///< gpt-oss MXFP4
constexpr std::string_view kScalesSuffix = "_scales";
constexpr uint64_t kMxfp4BlockBytes = kMxfp4Block / 2;

/// Where an NVFP4 weight's per-tensor factor comes from, and how it applies.
enum class Nvfp4Layout { CompressedTensors, ModelOpt };

/// One NVFP4 weight and its companions.
struct Nvfp4Module {
  size_t packed = 0;
  size_t scale = 0;
  size_t tensor_scale = 0;  ///< weight_global_scale (divides) or weight_scale_2 (multiplies)
  Nvfp4Layout layout = Nvfp4Layout::CompressedTensors;
  uint64_t out = 0;
  uint64_t in = 0;
};

/// Rows of one dequantised NVFP4 weight [out, in].
class Nvfp4Rows final : public RowSource {
 public:
  Nvfp4Rows(const Nvfp4Module& module, float tensor_scale) : module_(module), tensor_scale_(tensor_scale) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    if (count == 0) return;
    const uint64_t row_bytes = module_.in / 2;
    const uint64_t groups = module_.in / kNvfp4Block;
    std::vector<std::byte> packed(count * row_bytes);
    data.read(module_.packed, first * row_bytes, packed.size(), packed.data());
    std::vector<std::byte> raw_scales(count * groups);
    data.read(module_.scale, first * groups, raw_scales.size(), raw_scales.data());
    std::vector<float> scales(raw_scales.size());
    kernels::convert_elements(DType::F8_E4M3, raw_scales.data(), scales.size(), DType::F32,
                              reinterpret_cast<std::byte*>(scales.data()));
    for (float& scale : scales) {
      scale = module_.layout == Nvfp4Layout::CompressedTensors ? scale / tensor_scale_ : scale * tensor_scale_;
    }
    for (uint64_t row = 0; row < count; ++row) {
      kernels::fp4::nvfp4_row(packed.data() + row * row_bytes, module_.in, scales.data() + row * groups,
                              module_.layout == Nvfp4Layout::CompressedTensors, dst + row * module_.in);
    }
  }

 private:
  Nvfp4Module module_;
  float tensor_scale_;
};

/// Rows of a dequantised gpt-oss expert stack [E, in, out], each row a band of block columns: the
/// inputs [32 g b, 32 g (b + 1)) of one expert for every output (32 g × out elements, consecutive
/// in the output), g columns a band. A band takes g blocks and g exponents in a row from each
/// output's packed row, so a worker holds a band (at most kBandBytes of f32) rather than a whole
/// expert (66 MB of f32 for gpt-oss-120b).
class Mxfp4Rows final : public RowSource {
 public:
  Mxfp4Rows(size_t blocks, size_t scales, uint64_t out, uint64_t in)
      : blocks_(blocks), scales_(scales), out_(out), columns_(in / kMxfp4Block), band_(band_columns(columns_, out)) {}

  [[nodiscard]] uint64_t row_elems() const { return band_ * kMxfp4Block * out_; }

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    const uint64_t bands = columns_ / band_;  // per expert
    const uint64_t band_inputs = band_ * kMxfp4Block;
    std::vector<std::byte> packed(band_ * kMxfp4BlockBytes);
    std::vector<uint8_t> exponents(band_);
    std::vector<float> tile(kTileOutputs * band_inputs);  // [output][input] of kTileOutputs outputs
    for (uint64_t row = first; row < first + count; ++row) {
      const uint64_t expert = row / bands;
      const uint64_t column = (row % bands) * band_;
      float* target = dst + (row - first) * row_elems();
      for (uint64_t out_begin = 0; out_begin < out_; out_begin += kTileOutputs) {
        const uint64_t outputs = std::min(kTileOutputs, out_ - out_begin);
        for (uint64_t out_idx = 0; out_idx < outputs; ++out_idx) {
          const uint64_t block = (expert * out_ + out_begin + out_idx) * columns_ + column;
          data.read(blocks_, block * kMxfp4BlockBytes, packed.size(), packed.data());
          data.read(scales_, block, band_, reinterpret_cast<std::byte*>(exponents.data()));
          kernels::fp4::mxfp4_row(packed.data(), band_inputs, exponents.data(), tile.data() + out_idx * band_inputs);
        }
        // Transposed a tile at a time, so the output is written in runs of kTileOutputs.
        for (uint64_t in_idx = 0; in_idx < band_inputs; ++in_idx) {
          for (uint64_t out_idx = 0; out_idx < outputs; ++out_idx) {
            target[in_idx * out_ + out_begin + out_idx] = tile[out_idx * band_inputs + in_idx];
          }
        }
      }
    }
  }

 private:
  /// f32 bytes of a band at most (unless one column is larger).
  static constexpr uint64_t kBandBytes = 4ull << 20;
  /// Outputs decoded before they are transposed into the band.
  static constexpr uint64_t kTileOutputs = 64;

  /// The most block columns, dividing `columns`, whose band fits kBandBytes (at least 1).
  static uint64_t band_columns(uint64_t columns, uint64_t out) {
    uint64_t best = 1;
    for (uint64_t band = 1; band <= columns; ++band) {
      if (columns % band == 0 && band * kMxfp4Block * out * sizeof(float) <= kBandBytes) best = band;
    }
    return best;
  }

  size_t blocks_, scales_;
  uint64_t out_, columns_, band_;
};

/// The one f32 value of a per-tensor scale (F32, one element).
float read_one_f32(const SchemeContext& context, size_t tensor_idx, const std::string& of) {
  const Tensor& tensor = context.catalog.tensors[tensor_idx];
  if (tensor.dtype != DType::F32 || element_count(tensor.shape).value_or(0) != 1) {
    fail_unsupported(context.file_of(tensor_idx), "tensor " + io::quoted(tensor.name) + " is " +
                                                      std::string(info(tensor.dtype).name) + " " + qweight::shape_text(tensor.shape) +
                                                      "; the per-tensor scale of " + io::quoted(of) + " must be one F32 value");
  }
  float value = 0;
  context.data().read(tensor_idx, 0, sizeof(value), reinterpret_cast<std::byte*>(&value));
  return value;
}

/// Checks the packed codes and block scales of an NVFP4 weight and fills out/in.
void check_nvfp4(const SchemeContext& context, Nvfp4Module& module) {
  const Tensor& packed = context.catalog.tensors[module.packed];
  const Tensor& scale = context.catalog.tensors[module.scale];
  const std::string what = "tensor " + io::quoted(packed.name) + " " + qweight::shape_text(packed.shape) + " (NVFP4 codes) with " +
                           io::quoted(scale.name) + " " + std::string(info(scale.dtype).name) + " " +
                           qweight::shape_text(scale.shape);
  if (packed.shape.size() != 2) fail_unsupported(context.file_of(module.packed), what + ": only 2-d weights are supported");
  module.out = static_cast<uint64_t>(packed.shape[0]);
  module.in = static_cast<uint64_t>(packed.shape[1]) * 2;
  if (scale.dtype != DType::F8_E4M3 || scale.shape.size() != 2 || static_cast<uint64_t>(scale.shape[0]) != module.out ||
      static_cast<uint64_t>(scale.shape[1]) * kNvfp4Block != module.in) {
    fail_unsupported(context.file_of(module.scale), what + ": expected F8_E4M3 scales [" + std::to_string(module.out) + ", " +
                                                        std::to_string(module.in / kNvfp4Block) +
                                                        "] (one per 16 codes; other FP4 groupings, e.g. MXFP4's 32, are not supported)");
  }
}

/// compressed-tensors' NVFP4 weight `X.weight_packed` (U8), if `packed_idx` is one.
std::optional<Nvfp4Module> compressed_tensors_module(const SchemeContext& context, size_t packed_idx) {
  const Tensor& packed = context.catalog.tensors[packed_idx];
  if (!packed.name.ends_with(kPackedLeaf) || packed.dtype != DType::U8) return std::nullopt;
  const std::string prefix = packed.name.substr(0, packed.name.size() - kPackedLeaf.size());
  const std::string& file = context.file_of(packed_idx);
  auto require = [&](const char* leaf) {
    auto found = context.find(prefix + "." + leaf);
    if (!found) fail_parse(file, "tensor " + io::quoted(packed.name) + " (NVFP4): its companion " + io::quoted(prefix + "." + leaf) + " is missing");
    return *found;
  };
  if (context.find(prefix + ".weight_zero_point")) {
    fail_unsupported(file, "tensor " + io::quoted(packed.name) + ": asymmetric NVFP4 (weight_zero_point) is not supported");
  }
  Nvfp4Module module;
  module.packed = packed_idx;
  module.scale = require("weight_scale");
  module.tensor_scale = require("weight_global_scale");
  module.layout = Nvfp4Layout::CompressedTensors;
  const Tensor& global = context.catalog.tensors[module.tensor_scale];
  if (global.shape != std::vector<int64_t>{1}) {  // a 0-d scale would change torch's arithmetic (bf16, not f32)
    fail_unsupported(context.file_of(module.tensor_scale), "tensor " + io::quoted(global.name) + " " + qweight::shape_text(global.shape) +
                                                               ": expected shape [1], as compressed-tensors writes it");
  }
  return module;
}

/// ModelOpt's NVFP4 weight `X.weight` (U8 with `X.weight_scale_2`), if `weight_idx` is one.
std::optional<Nvfp4Module> modelopt_module(const SchemeContext& context, size_t weight_idx) {
  const Tensor& weight = context.catalog.tensors[weight_idx];
  if (!weight.name.ends_with(kWeightLeaf) || weight.dtype != DType::U8) return std::nullopt;
  const std::string prefix = weight.name.substr(0, weight.name.size() - kWeightLeaf.size());
  auto scale_2 = context.find(prefix + ".weight_scale_2");
  if (!scale_2) return std::nullopt;
  auto scale = context.find(prefix + ".weight_scale");
  if (!scale) {
    fail_parse(context.file_of(weight_idx), "tensor " + io::quoted(weight.name) + " (ModelOpt NVFP4): its companion " +
                                                io::quoted(prefix + ".weight_scale") + " is missing");
  }
  return Nvfp4Module{weight_idx, *scale, *scale_2, Nvfp4Layout::ModelOpt, 0, 0};
}

}  // namespace

std::optional<SchemeMatch> recognise_nvfp4(const SchemeContext& context) {
  const Catalog& catalog = context.catalog;
  SchemeMatch match;
  bool compressed = false, modelopt = false;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    std::optional<Nvfp4Module> module = compressed_tensors_module(context, tensor_idx);
    if (!module) module = modelopt_module(context, tensor_idx);
    if (!module) continue;
    check_nvfp4(context, *module);
    const Tensor& anchor = catalog.tensors[tensor_idx];
    const bool is_ct = module->layout == Nvfp4Layout::CompressedTensors;
    const std::string prefix = anchor.name.substr(0, anchor.name.size() - (is_ct ? kPackedLeaf : kWeightLeaf).size());
    const float tensor_scale = read_one_f32(context, module->tensor_scale, anchor.name);
    match.outputs.push_back(SchemeTensor{prefix + ".weight", {static_cast<int64_t>(module->out), static_cast<int64_t>(module->in)},
                                         tensor_idx, std::make_shared<Nvfp4Rows>(*module, tensor_scale)});
    match.consumed.insert(match.consumed.end(), {tensor_idx, module->scale, module->tensor_scale});
    // The activation scale belongs to this quantised module (a companion because the weight is).
    if (auto input = context.find(prefix + (is_ct ? ".input_global_scale" : ".input_scale"))) match.consumed.push_back(*input);
    (is_ct ? compressed : modelopt) = true;
  }
  if (match.outputs.empty()) return std::nullopt;
  match.scheme = compressed && modelopt ? "NVFP4 (compressed-tensors + ModelOpt)"
                                        : (compressed ? "compressed-tensors NVFP4" : "ModelOpt NVFP4");
  return match;
}

std::optional<SchemeMatch> recognise_mxfp4(const SchemeContext& context) {
  const Catalog& catalog = context.catalog;
  SchemeMatch match;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    const Tensor& blocks = catalog.tensors[tensor_idx];
    if (!blocks.name.ends_with(kBlocksSuffix) || blocks.dtype != DType::U8) continue;
    const std::string base = blocks.name.substr(0, blocks.name.size() - kBlocksSuffix.size());
    auto scales_idx = context.find(base + std::string(kScalesSuffix));
    if (!scales_idx) continue;  // not an MXFP4 pair: copied as it is
    const Tensor& scales = catalog.tensors[*scales_idx];
    const std::string what = "tensor " + io::quoted(blocks.name) + " " + qweight::shape_text(blocks.shape) + " with " +
                             io::quoted(scales.name) + " " + std::string(info(scales.dtype).name) + " " +
                             qweight::shape_text(scales.shape);
    const std::vector<int64_t>& shape = blocks.shape;
    if (shape.size() != 4 || shape[3] != static_cast<int64_t>(kMxfp4BlockBytes) || scales.dtype != DType::U8 ||
        scales.shape != std::vector<int64_t>(shape.begin(), shape.end() - 1)) {
      fail_unsupported(context.file_of(tensor_idx), what + ": expected U8 blocks [experts, out, in/32, 16] and U8 scales "
                                                           "[experts, out, in/32] (gpt-oss MXFP4)");
    }
    const auto out = static_cast<uint64_t>(shape[1]);
    const auto in = static_cast<uint64_t>(shape[2]) * kMxfp4Block;
    auto rows = std::make_shared<Mxfp4Rows>(tensor_idx, *scales_idx, out, in);
    const uint64_t row_elems = rows->row_elems();
    match.outputs.push_back(SchemeTensor{base, {shape[0], static_cast<int64_t>(in), shape[1]}, tensor_idx, std::move(rows),
                                         row_elems});
    match.consumed.insert(match.consumed.end(), {tensor_idx, *scales_idx});
  }
  if (match.outputs.empty()) return std::nullopt;
  match.scheme = "MXFP4 (gpt-oss experts)";
  return match;
}

}  // namespace amn::stages
