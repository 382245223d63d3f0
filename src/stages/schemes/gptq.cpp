// GPTQ checkpoints (AutoGPTQ, GPTQModel, optimum): X.qweight [in × bits / 32, out] int32,
// X.qzeros [groups, out × bits / 32] int32, X.scales [groups, out] float and, usually,
// X.g_idx [in] (act-order); 2, 3, 4 or 8 bits; checkpoint_format "gptq" (v1: zero-points stored
// minus one) or "gptq_v2". Settings come from quantize_config.json, config.json's
// quantization_config or the safetensors __metadata__, else from the shapes when only one reading
// fits. Each layer becomes X.weight [out, in], dequantised as GPTQModel's TorchLinear does.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "kernels/gptq/gptq.hpp"
#include "stages/schemes/qweight.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

namespace gptq = kernels::gptq;
using qweight::shape_text;

constexpr uint64_t kWordBytes = 4;
constexpr unsigned kCandidateBits[] = {2, 3, 4, 8};
/// GPTQModel's planar layouts (5, 6, 7 bits, and 3 bits under "gptq_p").
constexpr int64_t kPlanarBits[] = {5, 6, 7};

/// One GPTQ layer, validated.
struct Layer {
  std::string base;
  std::string file;                 ///< the file holding X.qweight, for messages
  size_t qweight = 0, qzeros = 0, scales = 0;
  std::optional<size_t> g_idx;
  DType scales_type = DType::F16;
  DType g_idx_type = DType::I32;
  uint64_t in = 0, out = 0, groups = 0;
  uint64_t group_size = 0;          ///< input features per group when there is no g_idx
  uint64_t qweight_rows = 0, zero_words = 0;
  unsigned bits = 0;
  bool v1 = true;
};

/// Rows of one dequantised GPTQ weight [out, in]: output feature f is column f of qweight.
class GptqRows final : public RowSource {
 public:
  explicit GptqRows(Layer layer) : layer_(std::move(layer)) {}

  [[nodiscard]] uint64_t min_rows() const override { return qweight::column_read_rows(layer_.in); }

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    const Layer& layer = layer_;
    std::vector<int32_t> g_idx = read_g_idx(data);

    std::vector<uint32_t> rows_major(layer.qweight_rows * count);
    qweight::read_columns(data, layer.qweight, layer.qweight_rows, layer.out, kWordBytes, first, count,
                          reinterpret_cast<std::byte*>(rows_major.data()));
    std::vector<uint32_t> qweight = transpose(rows_major, layer.qweight_rows, count);

    // The qzeros words that hold features [first, first + count) in every group row.
    const uint64_t first_word = first * layer.bits / gptq::kWordBits;
    const uint64_t words = gptq::words_for(first + count, layer.bits) - first_word;
    std::vector<uint32_t> zero_words(layer.groups * words);
    qweight::read_columns(data, layer.qzeros, layer.groups, layer.zero_words, kWordBytes, first_word, words,
                          reinterpret_cast<std::byte*>(zero_words.data()));
    std::vector<int32_t> zeros(layer.groups * count);
    for (uint64_t group = 0; group < layer.groups; ++group) {
      gptq::zero_points(zero_words.data() + group * words, first, count, layer.bits, layer.v1,
                        zeros.data() + group * count);
    }

    std::vector<float> scales =
        qweight::read_scales(data, layer.scales, layer.scales_type, layer.groups, layer.out, first, count);

    gptq::Window window;
    window.qweight = qweight.data();
    window.zeros = zeros.data();
    window.scales = scales.data();
    window.g_idx = g_idx.data();
    window.groups = layer.groups;
    window.count = count;
    window.in_features = layer.in;
    window.qweight_rows = layer.qweight_rows;
    window.bits = layer.bits;
    window.scale_type = layer.scales_type;
    gptq::dequant_window_ref(window, dst);
  }

 private:
  /// [rows][cols] → [cols][rows], in square tiles so both sides stay in cache.
  static std::vector<uint32_t> transpose(const std::vector<uint32_t>& matrix, uint64_t rows, uint64_t cols) {
    constexpr uint64_t kTile = 32;
    std::vector<uint32_t> out(matrix.size());
    for (uint64_t row_tile = 0; row_tile < rows; row_tile += kTile) {
      for (uint64_t col_tile = 0; col_tile < cols; col_tile += kTile) {
        for (uint64_t row = row_tile; row < std::min(row_tile + kTile, rows); ++row) {
          for (uint64_t col = col_tile; col < std::min(col_tile + kTile, cols); ++col) {
            out[col * rows + row] = matrix[row * cols + col];
          }
        }
      }
    }
    return out;
  }

  /// Each input feature's group: X.g_idx (checked against the group count), else i / group_size.
  std::vector<int32_t> read_g_idx(io::TensorData& data) const {
    const Layer& layer = layer_;
    std::vector<int32_t> g_idx(layer.in);
    if (!layer.g_idx) {
      for (uint64_t in_idx = 0; in_idx < layer.in; ++in_idx) {
        g_idx[in_idx] = static_cast<int32_t>(in_idx / layer.group_size);
      }
      return g_idx;
    }
    auto check = [&](uint64_t in_idx, int64_t group) {
      if (group < 0 || static_cast<uint64_t>(group) >= layer.groups) {
        fail_parse(layer.file, "tensor " + io::quoted(layer.base + ".g_idx") + " entry " + std::to_string(in_idx) + " is " +
                                   std::to_string(group) + ", outside the " + std::to_string(layer.groups) +
                                   " groups of " + io::quoted(layer.base + ".scales"));
      }
      g_idx[in_idx] = static_cast<int32_t>(group);
    };
    if (layer.g_idx_type == DType::I64) {
      std::vector<int64_t> raw(layer.in);
      data.read(*layer.g_idx, 0, layer.in * sizeof(int64_t), reinterpret_cast<std::byte*>(raw.data()));
      for (uint64_t in_idx = 0; in_idx < layer.in; ++in_idx) check(in_idx, raw[in_idx]);
    } else {
      data.read(*layer.g_idx, 0, layer.in * sizeof(int32_t), reinterpret_cast<std::byte*>(g_idx.data()));
      for (uint64_t in_idx = 0; in_idx < layer.in; ++in_idx) check(in_idx, g_idx[in_idx]);
    }
    return g_idx;
  }

  Layer layer_;
};

/// Validates one layer's tensors against each other and the config.
class LayerCheck {
 public:
  LayerCheck(const SchemeContext& context, const qweight::QuantConfig& config, const std::string& base)
      : tensors_(context, base), config_(config), g_idx_(context.find(base + ".g_idx")) {}

  Layer run() {
    Layer layer;
    layer.base = tensors_.base();
    layer.file = tensors_.file();
    layer.qweight = tensors_.qweight();
    layer.qzeros = tensors_.qzeros();
    layer.scales = tensors_.scales();
    layer.g_idx = g_idx_;
    const Tensor& qweight = tensors_.tensor(layer.qweight);
    const Tensor& qzeros = tensors_.tensor(layer.qzeros);
    const Tensor& scales = tensors_.tensor(layer.scales);
    layer.scales_type = scales.dtype;
    layer.out = dim(qweight, 1);
    layer.qweight_rows = dim(qweight, 0);
    if (layer.out == 0 || layer.qweight_rows == 0) fail(name("qweight") + " is empty");
    if (layer.g_idx) {
      check_g_idx(layer);
    } else if (config_.desc_act.value_or(false)) {
      fail("desc_act is set in " + config_.source + " but " + name("g_idx") + " is missing");
    }
    layer.bits = bits(layer, dim(qzeros, 1));
    if (!layer.g_idx) {
      if (layer.qweight_rows * gptq::kWordBits % layer.bits != 0) {
        fail(name("qweight") + " has " + std::to_string(layer.qweight_rows) + " rows, which hold no whole number of " +
             std::to_string(layer.bits) + "-bit codes");
      }
      layer.in = layer.qweight_rows * gptq::kWordBits / layer.bits;
    }
    const uint64_t want_rows = gptq::words_for(layer.in, layer.bits);
    if (want_rows != layer.qweight_rows) {
      fail(name("qweight") + " has shape " + shape_text(qweight.shape) + " but " + name("g_idx") + " " +
           shape_text({static_cast<int64_t>(layer.in)}) + " with " + std::to_string(layer.bits) + " bits needs " +
           std::to_string(want_rows) + " rows");
    }
    groups(layer, dim(scales, 0));
    layer.zero_words = gptq::words_for(layer.out, layer.bits);
    const auto groups = static_cast<int64_t>(layer.groups);
    const std::vector<int64_t> want_scales = {groups, static_cast<int64_t>(layer.out)};
    if (scales.shape != want_scales) {
      fail(name("scales") + " has shape " + shape_text(scales.shape) + " but " + name("qweight") + " " +
           shape_text(qweight.shape) + " needs " + shape_text(want_scales));
    }
    const std::vector<int64_t> want_zeros = {groups, static_cast<int64_t>(layer.zero_words)};
    if (qzeros.shape != want_zeros) {
      fail(name("qzeros") + " has shape " + shape_text(qzeros.shape) + " but " + name("qweight") + " " +
           shape_text(qweight.shape) + " with " + std::to_string(layer.bits) + " bits needs " + shape_text(want_zeros));
    }
    layer.v1 = v1();
    return layer;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { tensors_.fail(message); }
  [[nodiscard]] std::string name(const char* suffix) const { return tensors_.name(suffix); }
  static uint64_t dim(const Tensor& tensor, size_t axis) { return static_cast<uint64_t>(tensor.shape[axis]); }

  /// X.g_idx: 1-D I32 or I64, one entry per input feature.
  void check_g_idx(Layer& layer) const {
    const Tensor& g_idx = tensors_.tensor(*layer.g_idx);
    if (g_idx.shape.size() != 1) fail(name("g_idx") + " has shape " + shape_text(g_idx.shape) + "; expected [in]");
    if (g_idx.dtype != DType::I32 && g_idx.dtype != DType::I64) {
      fail(name("g_idx") + " is " + std::string(info(g_idx.dtype).name) + "; expected I32 or I64");
    }
    layer.g_idx_type = g_idx.dtype;
    layer.in = dim(g_idx, 0);
    if (layer.in == 0) fail(name("g_idx") + " is empty");
  }

  /// The code width: the config's, else the only width the shapes allow.
  unsigned bits(const Layer& layer, uint64_t zero_cols) const {
    if (config_.bits) {
      const int64_t bits = *config_.bits;
      for (int64_t planar : kPlanarBits) {
        if (bits == planar) {
          tensors_.unsupported(name("qweight") + ": " + std::to_string(bits) +
                               "-bit GPTQ (GPTQModel's planar layout) is not supported");
        }
      }
      if (bits < 0 || !gptq::supported_bits(static_cast<unsigned>(bits))) {
        fail(name("qweight") + ": bits " + std::to_string(bits) + " in " + config_.source +
             " is not one of 2, 3, 4, 8");
      }
      return static_cast<unsigned>(bits);
    }
    std::vector<unsigned> fits;
    for (unsigned bits : kCandidateBits) {
      bool rows_fit = layer.g_idx ? gptq::words_for(layer.in, bits) == layer.qweight_rows
                                  : layer.qweight_rows * gptq::kWordBits % bits == 0;
      if (rows_fit && gptq::words_for(layer.out, bits) == zero_cols) fits.push_back(bits);
    }
    if (fits.size() != 1) {
      fail(name("qweight") + " " + shape_text(tensors_.tensor(layer.qweight).shape) + " and " + name("qzeros") + " " +
           shape_text(tensors_.tensor(layer.qzeros).shape) +
           (fits.empty() ? " fit no GPTQ bit width" : " fit several bit widths") +
           "; add quantize_config.json with \"bits\"");
    }
    return fits.front();
  }

  /// The number of groups (and, without g_idx, the group size).
  void groups(Layer& layer, uint64_t scale_rows) const {
    if (config_.group_size) {
      const int64_t group_size = *config_.group_size;
      if (group_size == 0 || group_size < -1) {
        fail(name("qweight") + ": group_size " + std::to_string(group_size) + " in " + config_.source + " is invalid");
      }
      layer.group_size = group_size == -1 ? layer.in : static_cast<uint64_t>(group_size);
      layer.groups = (layer.in + layer.group_size - 1) / layer.group_size;
      return;
    }
    layer.groups = scale_rows;
    if (layer.g_idx) return;
    if (scale_rows != 1) {
      fail(name("scales") + " has " + std::to_string(scale_rows) + " groups and there is no " + name("g_idx") +
           ": the group size is unknown; add quantize_config.json with \"group_size\"");
    }
    layer.group_size = layer.in;
  }

  /// True for checkpoint_format "gptq" (the default), false for "gptq_v2".
  bool v1() const {
    if (!config_.format || *config_.format == "gptq") return true;
    if (*config_.format == "gptq_v2") return false;
    tensors_.unsupported(name("qweight") + ": checkpoint format " + io::quoted(*config_.format) + " in " + config_.source +
                         " is not supported (amn reads gptq and gptq_v2)");
  }

  qweight::LayerTensors tensors_;
  const qweight::QuantConfig& config_;
  std::optional<size_t> g_idx_;
};

}  // namespace

std::optional<SchemeMatch> recognise_gptq(const SchemeContext& context) {
  std::vector<std::string> bases = qweight::bases(context);
  if (bases.empty()) return std::nullopt;
  const qweight::QuantConfig config = qweight::read_config(context);
  SchemeMatch match;
  std::set<std::string> kinds;
  for (const auto& base : bases) {
    if (qweight::method_of(context, config, base) != qweight::Method::Gptq) continue;
    if (config.dynamic) {
      fail_unsupported(context.file_of(*context.find(base + ".qweight")),
                       "tensor " + io::quoted(base + ".qweight") + ": GPTQModel per-module overrides (\"dynamic\" in " +
                           config.source + ") are not supported");
    }
    Layer layer = LayerCheck(context, config, base).run();
    kinds.insert(std::to_string(layer.bits) + "-bit" + (layer.v1 ? "" : " v2"));
    match.consumed.insert(match.consumed.end(), {layer.qweight, layer.qzeros, layer.scales});
    if (layer.g_idx) match.consumed.push_back(*layer.g_idx);
    SchemeTensor output;
    output.name = base + ".weight";
    output.shape = {static_cast<int64_t>(layer.out), static_cast<int64_t>(layer.in)};
    output.anchor = layer.qweight;
    output.source = std::make_shared<GptqRows>(std::move(layer));
    match.outputs.push_back(std::move(output));
  }
  if (match.outputs.empty()) return std::nullopt;
  match.scheme = "GPTQ";
  for (const auto& kind : kinds) match.scheme += (match.scheme == "GPTQ" ? " " : ", ") + kind;
  if (config.group_size) {
    match.scheme += *config.group_size == -1 ? ", one group" : ", group " + std::to_string(*config.group_size);
  }
  return match;
}

}  // namespace amn::stages
