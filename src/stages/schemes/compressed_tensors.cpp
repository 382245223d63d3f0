// compressed-tensors `pack-quantized` checkpoints (written by llm-compressor, loaded by vLLM):
// `X.weight_packed` (int32 words holding 4- or 8-bit integers along the input dim),
// `X.weight_scale` ([out, groups], F32/BF16/F16), optional `X.weight_zero_point` (packed along the
// output dim) and `X.weight_shape` ([out, in]). Channel and group strategies, symmetric or not;
// config.json's `quantization_config.config_groups` is checked against the tensors. Dequantised as
// compressed-tensors' PackedQuantizationCompressor.decompress does, in the scale's dtype.
#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "amn/error.hpp"
#include "io/display.hpp"
#include "kernels/compressed/pack_quantized.hpp"
#include "kernels/convert.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

constexpr std::string_view kPackedSuffix = ".weight_packed";
constexpr uint64_t kWordBits = 32;
constexpr uint64_t kWordBytes = 4;
/// Widths whose packing is the same in every compressed-tensors release (a field never spans
/// two words); 3-, 5-, 6- and 7-bit layouts changed between releases.
constexpr unsigned kSupportedBits[] = {4, 8};
/// Fields one word holds at the narrowest supported width.
constexpr int64_t kMaxFieldsPerWord = kWordBits / kSupportedBits[0];

/// One config group's weight arguments (`quantization_config.config_groups.<name>.weights`).
struct GroupArgs {
  std::string name;
  int64_t num_bits = 0;
  bool symmetric = true;
  std::string strategy;
  int64_t group_size = 0;
};

/// What the companions of one packed weight say.
struct PackedModule {
  size_t packed = 0;
  size_t scale = 0;
  std::optional<size_t> zero_point;
  size_t shape = 0;
  int64_t out = 0;
  int64_t in = 0;
  int64_t groups = 0;
  unsigned bits = 0;
};

/// Rows of one dequantised pack-quantized weight [out, in].
class PackedRows final : public RowSource {
 public:
  PackedRows(const PackedModule& module, DType scale_type) : module_(module), scale_type_(scale_type) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    if (count == 0) return;
    const auto in = static_cast<uint64_t>(module_.in);
    const auto groups = static_cast<uint64_t>(module_.groups);
    const uint64_t row_bytes = words_per_row() * kWordBytes;
    std::vector<std::byte> packed(count * row_bytes);
    data.read(module_.packed, first * row_bytes, packed.size(), packed.data());

    const uint64_t scale_bytes = info(scale_type_).block_bits / 8;
    std::vector<std::byte> raw_scales(count * groups * scale_bytes);
    data.read(module_.scale, first * groups * scale_bytes, raw_scales.size(), raw_scales.data());
    std::vector<float> scales(count * groups);
    kernels::convert_elements(scale_type_, raw_scales.data(), scales.size(), DType::F32,
                              reinterpret_cast<std::byte*>(scales.data()));

    std::vector<int8_t> zeros;
    if (module_.zero_point) zeros = read_zeros(data, first, count);

    std::vector<int8_t> values(in);
    for (uint64_t row = 0; row < count; ++row) {
      kernels::compressed::unpack(packed.data() + row * row_bytes, 0, in, module_.bits, values.data());
      kernels::compressed::dequant_row(values.data(), in, scales.data() + row * groups,
                                       zeros.empty() ? nullptr : zeros.data() + row * groups, in / groups, scale_type_,
                                       dst + row * in);
    }
  }

 private:
  [[nodiscard]] uint64_t words_per_row() const {
    return (static_cast<uint64_t>(module_.in) * module_.bits + kWordBits - 1) / kWordBits;
  }

  /// Zero points of rows [first, first + count) as [count, groups]. They are packed along the
  /// output dim: column g of the [ceil(out*bits/32), groups] words is one bit stream over rows.
  std::vector<int8_t> read_zeros(io::TensorData& data, uint64_t first, uint64_t count) const {
    const auto groups = static_cast<uint64_t>(module_.groups);
    const uint64_t word_first = first * module_.bits / kWordBits;
    const uint64_t word_last = ((first + count) * module_.bits - 1) / kWordBits;
    const uint64_t word_rows = word_last - word_first + 1;
    std::vector<std::byte> words(word_rows * groups * kWordBytes);
    data.read(*module_.zero_point, word_first * groups * kWordBytes, words.size(), words.data());
    std::vector<std::byte> column(word_rows * kWordBytes);
    std::vector<int8_t> column_zeros(count);
    std::vector<int8_t> zeros(count * groups);
    for (uint64_t group = 0; group < groups; ++group) {
      for (uint64_t word = 0; word < word_rows; ++word) {
        std::memcpy(column.data() + word * kWordBytes, words.data() + (word * groups + group) * kWordBytes, kWordBytes);
      }
      kernels::compressed::unpack(column.data(), first * module_.bits - word_first * kWordBits, count, module_.bits,
                                  column_zeros.data());
      for (uint64_t row = 0; row < count; ++row) zeros[row * groups + group] = column_zeros[row];
    }
    return zeros;
  }

  PackedModule module_;
  DType scale_type_;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t dim = 0; dim < shape.size(); ++dim) text += (dim ? ", " : "") + std::to_string(shape[dim]);
  return text + "]";
}

/// The pack-quantized integer config groups of config.json (empty when there is no
/// compressed-tensors config).
std::vector<GroupArgs> config_groups(const SchemeContext& context) {
  std::vector<GroupArgs> result;
  if (!context.config.present()) return result;
  const rapidjson::Value& root = context.config.root();
  const std::string& config_path = context.config.path();
  auto quant = root.FindMember("quantization_config");
  if (quant == root.MemberEnd() || !quant->value.IsObject()) return result;
  auto text_of = [](const rapidjson::Value& object, const char* key) -> std::string {
    auto member = object.FindMember(key);
    return member != object.MemberEnd() && member->value.IsString() ? member->value.GetString() : "";
  };
  if (text_of(quant->value, "quant_method") != "compressed-tensors") return result;
  const std::string model_format = text_of(quant->value, "format");
  auto groups = quant->value.FindMember("config_groups");
  if (groups == quant->value.MemberEnd() || !groups->value.IsObject()) return result;
  for (const auto& group : groups->value.GetObject()) {
    if (!group.value.IsObject()) continue;
    std::string format = text_of(group.value, "format");
    if ((format.empty() ? model_format : format) != "pack-quantized") continue;
    auto weights = group.value.FindMember("weights");
    if (weights == group.value.MemberEnd() || !weights->value.IsObject()) continue;
    const rapidjson::Value& args = weights->value;
    const std::string field = "quantization_config.config_groups." +
                              io::display({group.name.GetString(), group.name.GetStringLength()}) + ".weights";
    GroupArgs parsed;
    parsed.name = group.name.GetString();
    auto bits = args.FindMember("num_bits");
    if (bits == args.MemberEnd() || !bits->value.IsInt64()) fail_parse(config_path, field + ".num_bits: expected an integer");
    parsed.num_bits = bits->value.GetInt64();
    if (auto symmetric = args.FindMember("symmetric"); symmetric != args.MemberEnd() && symmetric->value.IsBool()) {
      parsed.symmetric = symmetric->value.GetBool();
    }
    parsed.strategy = text_of(args, "strategy");
    if (auto size = args.FindMember("group_size"); size != args.MemberEnd() && size->value.IsInt64()) {
      parsed.group_size = size->value.GetInt64();
    }
    if (std::string type = text_of(args, "type"); !type.empty() && type != "int") {
      fail_unsupported(config_path, field + ".type: pack-quantized weights of type " + io::quoted(type) +
                                                "' are not supported (only int)");
    }
    result.push_back(parsed);
  }
  return result;
}

/// True when config group `args` describes `module` (bits, symmetry, strategy and group size).
bool fits(const GroupArgs& args, const PackedModule& module, unsigned bits) {
  if (args.num_bits != bits || args.symmetric != !module.zero_point) return false;
  if (args.strategy == "channel") return module.groups == 1;
  if (args.strategy == "group") return args.group_size > 0 && args.group_size * module.groups == module.in;
  return false;
}

/// Reads the [out, in] held by `X.weight_shape` (I64 or I32, shape [2]).
std::array<int64_t, 2> read_weight_shape(const SchemeContext& context, io::TensorData& data, size_t shape_idx) {
  const Tensor& tensor = context.catalog.tensors[shape_idx];
  if ((tensor.dtype != DType::I64 && tensor.dtype != DType::I32) || tensor.shape != std::vector<int64_t>{2}) {
    fail_parse(context.file_of(shape_idx), "tensor " + io::quoted(tensor.name) + " is " + std::string(info(tensor.dtype).name) + " " +
                                              shape_text(tensor.shape) + "; expected I64 or I32 [2] holding [out, in]");
  }
  std::array<int64_t, 2> values{};
  if (tensor.dtype == DType::I64) {
    data.read(shape_idx, 0, sizeof(values), reinterpret_cast<std::byte*>(values.data()));
  } else {
    std::array<int32_t, 2> narrow{};
    data.read(shape_idx, 0, sizeof(narrow), reinterpret_cast<std::byte*>(narrow.data()));
    values = {narrow[0], narrow[1]};
  }
  return values;
}

/// Checks the companions of the packed weight `packed_idx` and works out its bit width.
PackedModule check_module(const SchemeContext& context, io::TensorData& data, size_t packed_idx,
                          const std::vector<GroupArgs>& groups) {
  const Tensor& packed = context.catalog.tensors[packed_idx];
  const std::string& file = context.file_of(packed_idx);
  const std::string prefix = packed.name.substr(0, packed.name.size() - kPackedSuffix.size());
  const std::string what = "tensor " + io::quoted(packed.name) + " " + shape_text(packed.shape);
  auto companion = [&](const char* leaf) { return context.find(prefix + "." + leaf); };
  auto require = [&](const char* leaf) {
    auto found = companion(leaf);
    if (!found) fail_parse(file, what + ": its companion " + io::quoted(prefix + "." + leaf) + " is missing");
    return *found;
  };

  if (packed.dtype != DType::I32) {
    fail_unsupported(file, what + " is " + std::string(info(packed.dtype).name) +
                               "; only int32-packed integer weights and U8 NVFP4 (recognised first) are supported");
  }
  if (packed.shape.size() != 2) fail_unsupported(file, what + ": only 2-d packed weights are supported");
  if (companion("weight_g_idx")) fail_unsupported(file, what + ": activation-ordered weights (weight_g_idx) are not supported");
  if (companion("weight")) fail_parse(file, what + ": " + io::quoted(prefix + ".weight") + " is present as well");

  PackedModule module;
  module.packed = packed_idx;
  module.shape = require("weight_shape");
  module.scale = require("weight_scale");
  module.zero_point = companion("weight_zero_point");
  auto [out, in] = read_weight_shape(context, data, module.shape);
  const std::string shape_name = context.catalog.tensors[module.shape].name;
  // Bounding `in` by what the packed row can hold keeps `in * bits` from overflowing below.
  if (out != packed.shape[0] || in <= 0 || in > packed.shape[1] * kMaxFieldsPerWord) {
    fail_parse(file, what + " does not fit " + io::quoted(shape_name) + " = [" + std::to_string(out) + ", " + std::to_string(in) + "]");
  }
  module.out = out;
  module.in = in;

  const Tensor& scale = context.catalog.tensors[module.scale];
  const std::string scale_what =
      "tensor " + io::quoted(scale.name) + " " + shape_text(scale.shape) + " (scale of " + io::quoted(packed.name) + ")";
  if (scale.dtype != DType::F32 && scale.dtype != DType::BF16 && scale.dtype != DType::F16) {
    fail_unsupported(context.file_of(module.scale), scale_what + " is " + std::string(info(scale.dtype).name) +
                                                        "; scales must be F32, BF16 or F16");
  }
  if (scale.shape.size() != 2) {
    fail_unsupported(context.file_of(module.scale), scale_what + ": only channel and group strategies ([out, groups]) are supported");
  }
  module.groups = scale.shape[1];
  if (scale.shape[0] != out || module.groups <= 0 || in % module.groups != 0) {
    fail_parse(context.file_of(module.scale), scale_what + " does not fit the weight [" + std::to_string(out) + ", " +
                                                  std::to_string(in) + "]: expected [out, in / group_size]");
  }

  // The bit width: the packed row holds ceil(in * bits / 32) words; config groups must agree.
  std::vector<unsigned> widths;
  for (unsigned bits : kSupportedBits) {
    if ((static_cast<uint64_t>(in) * bits + kWordBits - 1) / kWordBits == static_cast<uint64_t>(packed.shape[1])) {
      widths.push_back(bits);
    }
  }
  const std::string described = what + " (weight [" + std::to_string(out) + ", " + std::to_string(in) + "], " + io::quoted(scale.name) +
                                " " + shape_text(scale.shape) + (module.zero_point ? ", a zero point)" : ", no zero point)");
  if (widths.empty()) fail_parse(file, described + " fits neither 4- nor 8-bit packing");
  if (!groups.empty()) {
    std::erase_if(widths, [&](unsigned bits) {
      return std::none_of(groups.begin(), groups.end(), [&](const GroupArgs& args) { return fits(args, module, bits); });
    });
    if (widths.empty()) fail_parse(file, described + " matches no pack-quantized config group of " + context.config.path());
  }
  if (widths.size() > 1) fail_parse(file, described + " fits both 4- and 8-bit packing; config.json must say which");
  module.bits = widths.front();

  if (module.zero_point) {
    const Tensor& zero = context.catalog.tensors[*module.zero_point];
    const std::vector<int64_t> expected = {static_cast<int64_t>((static_cast<uint64_t>(out) * module.bits + kWordBits - 1) / kWordBits),
                                           module.groups};
    if (zero.dtype != DType::I32 || zero.shape != expected) {
      fail_parse(context.file_of(*module.zero_point), "tensor " + io::quoted(zero.name) + " is " + std::string(info(zero.dtype).name) +
                                                          " " + shape_text(zero.shape) + "; expected I32 " +
                                                          shape_text(expected) + " (zero points of " + io::quoted(packed.name) +
                                                          " packed along the output dim)");
    }
  }
  return module;
}

}  // namespace

std::optional<SchemeMatch> recognise_compressed_tensors(const SchemeContext& context) {
  const Catalog& catalog = context.catalog;
  std::vector<size_t> packed;
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    if (catalog.tensors[tensor_idx].name.ends_with(kPackedSuffix) && !context.claimed(tensor_idx)) packed.push_back(tensor_idx);
  }
  if (packed.empty()) return std::nullopt;

  const std::vector<GroupArgs> groups = config_groups(context);
  io::TensorData& data = context.data();
  SchemeMatch match;
  std::set<unsigned> widths;
  for (size_t packed_idx : packed) {
    PackedModule module = check_module(context, data, packed_idx, groups);
    const Tensor& tensor = catalog.tensors[packed_idx];
    std::string name = tensor.name.substr(0, tensor.name.size() - kPackedSuffix.size()) + ".weight";
    match.outputs.push_back(SchemeTensor{name, {module.out, module.in}, packed_idx,
                                         std::make_shared<PackedRows>(module, catalog.tensors[module.scale].dtype)});
    match.consumed.insert(match.consumed.end(), {packed_idx, module.scale, module.shape});
    if (module.zero_point) match.consumed.push_back(*module.zero_point);
    widths.insert(module.bits);
  }
  match.scheme = "compressed-tensors pack-quantized";
  for (unsigned bits : widths) match.scheme += " int" + std::to_string(bits);
  return match;
}

}  // namespace amn::stages
