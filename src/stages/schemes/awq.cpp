// AWQ checkpoints in AutoAWQ's GEMM layout: X.qweight [in, out / 8] int32 and X.qzeros
// [groups, out / 8] int32 (4-bit codes in the nibble order [0, 2, 4, 6, 1, 3, 5, 7], zero-points
// stored as they are), X.scales [groups, out] float. Settings come from config.json's
// quantization_config (quant_method "awq", version "gemm"), quantize_config.json or the
// safetensors __metadata__; without them the group size is in / groups. Each layer becomes
// X.weight [out, in], dequantised as AutoAWQ's dequantize_gemm does.
#include <memory>
#include <string>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "kernels/awq/awq.hpp"
#include "stages/schemes/qweight.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

namespace awq = kernels::awq;
using qweight::shape_text;

constexpr uint64_t kWordBytes = 4;

/// One AWQ layer, validated.
struct Layer {
  size_t qweight = 0, qzeros = 0, scales = 0;
  DType scales_type = DType::F16;
  uint64_t in = 0, out = 0, groups = 0, group_size = 0;
};

/// Rows of one dequantised AWQ weight [out, in]: output feature f is nibble column f of qweight.
class AwqRows final : public RowSource {
 public:
  explicit AwqRows(const Layer& layer) : layer_(layer) {}

  [[nodiscard]] uint64_t min_rows() const override { return qweight::column_read_rows(layer_.in); }

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    const Layer& layer = layer_;
    const uint64_t row_words = layer.out / awq::kPerWord;
    const uint64_t first_word = first / awq::kPerWord;
    const uint64_t words = (first + count + awq::kPerWord - 1) / awq::kPerWord - first_word;
    std::vector<uint32_t> qweight(layer.in * words);
    qweight::read_columns(data, layer.qweight, layer.in, row_words, kWordBytes, first_word, words,
                          reinterpret_cast<std::byte*>(qweight.data()));
    std::vector<uint32_t> qzeros(layer.groups * words);
    qweight::read_columns(data, layer.qzeros, layer.groups, row_words, kWordBytes, first_word, words,
                          reinterpret_cast<std::byte*>(qzeros.data()));
    std::vector<float> scales =
        qweight::read_scales(data, layer.scales, layer.scales_type, layer.groups, layer.out, first, count);

    awq::Window window;
    window.qweight = qweight.data();
    window.qzeros = qzeros.data();
    window.scales = scales.data();
    window.words = words;
    window.first = first;
    window.count = count;
    window.in_features = layer.in;
    window.group_size = layer.group_size;
    window.scale_type = layer.scales_type;
    awq::dequant_window_ref(window, dst);
  }

 private:
  Layer layer_;
};

/// Validates one layer's tensors against each other and the config.
Layer check_layer(const SchemeContext& context, const qweight::QuantConfig& config, const std::string& base) {
  const qweight::LayerTensors tensors(context, base);
  auto name = [&](const char* suffix) { return tensors.name(suffix); };
  Layer layer;
  layer.qweight = tensors.qweight();
  layer.qzeros = tensors.qzeros();
  layer.scales = tensors.scales();
  const Tensor& qweight = tensors.tensor(layer.qweight);
  const Tensor& qzeros = tensors.tensor(layer.qzeros);
  const Tensor& scales = tensors.tensor(layer.scales);
  layer.scales_type = scales.dtype;
  if (config.bits && *config.bits != awq::kBits) {
    tensors.unsupported(name("qweight") + ": " + std::to_string(*config.bits) + "-bit AWQ in " + config.source +
                        " is not supported (AutoAWQ's GEMM layout is 4-bit)");
  }
  if (config.format && *config.format != "gemm") {
    tensors.unsupported(name("qweight") + ": AWQ version " + io::quoted(*config.format) + " in " + config.source +
                        " is not supported (amn reads gemm)");
  }
  layer.in = static_cast<uint64_t>(qweight.shape[0]);
  layer.out = static_cast<uint64_t>(scales.shape[1]);
  layer.groups = static_cast<uint64_t>(scales.shape[0]);
  const auto row_words = static_cast<uint64_t>(qweight.shape[1]);
  if (layer.in == 0 || row_words == 0 || layer.groups == 0) {
    tensors.fail(name("qweight") + " or " + name("scales") + " is empty");
  }
  if (row_words * awq::kPerWord != layer.out) {
    tensors.fail(name("qweight") + " has shape " + shape_text(qweight.shape) + " but " + name("scales") + " " +
                 shape_text(scales.shape) + " needs " + std::to_string(layer.out) + " / 8 columns");
  }
  const std::vector<int64_t> want_zeros = {scales.shape[0], qweight.shape[1]};
  if (qzeros.shape != want_zeros) {
    tensors.fail(name("qzeros") + " has shape " + shape_text(qzeros.shape) + " but " + name("qweight") + " " +
                 shape_text(qweight.shape) + " and " + name("scales") + " " + shape_text(scales.shape) + " need " +
                 shape_text(want_zeros));
  }
  if (config.group_size) {
    const int64_t group_size = *config.group_size;
    if (group_size == 0 || group_size < -1) {
      tensors.fail(name("qweight") + ": group_size " + std::to_string(group_size) + " in " + config.source +
                   " is invalid");
    }
    layer.group_size = group_size == -1 ? layer.in : static_cast<uint64_t>(group_size);
  } else {
    layer.group_size = layer.in / layer.groups;
  }
  if (layer.group_size == 0 || layer.group_size * layer.groups != layer.in) {
    tensors.fail(name("scales") + " has " + std::to_string(layer.groups) + (layer.groups == 1 ? " group" : " groups") +
                 " but " + name("qweight") + " has " + std::to_string(layer.in) + " input features" +
                 (config.group_size ? " and group_size is " + std::to_string(*config.group_size) : std::string()));
  }
  return layer;
}

}  // namespace

std::optional<SchemeMatch> recognise_awq(const SchemeContext& context) {
  std::vector<std::string> bases = qweight::bases(context);
  if (bases.empty()) return std::nullopt;
  const qweight::QuantConfig config = qweight::read_config(context);
  SchemeMatch match;
  for (const auto& base : bases) {
    if (qweight::method_of(context, config, base) != qweight::Method::Awq) continue;
    Layer layer = check_layer(context, config, base);
    match.consumed.insert(match.consumed.end(), {layer.qweight, layer.qzeros, layer.scales});
    SchemeTensor output;
    output.name = base + ".weight";
    output.shape = {static_cast<int64_t>(layer.out), static_cast<int64_t>(layer.in)};
    output.anchor = layer.qweight;
    output.source = std::make_shared<AwqRows>(layer);
    match.outputs.push_back(std::move(output));
  }
  if (match.outputs.empty()) return std::nullopt;
  match.scheme = "AWQ 4-bit GEMM";
  if (config.group_size) match.scheme += ", group " + std::to_string(*config.group_size);
  return match;
}

}  // namespace amn::stages
