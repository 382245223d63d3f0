// GPTQ/AWQ common ground: quantisation config, method choice, column reads.
#include "stages/schemes/qweight.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

#include "amn/error.hpp"
#include "kernels/convert.hpp"

namespace amn::stages::qweight {
namespace {

constexpr std::string_view kQweightSuffix = ".qweight";
/// AWQ packs eight 4-bit output features per int32 word.
constexpr int64_t kAwqPerWord = 8;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char letter) { return static_cast<char>(std::tolower(letter)); });
  return text;
}

/// Reads the fields of a JSON quantisation config object.
QuantConfig from_json(const rapidjson::Value& object, const std::string& source) {
  QuantConfig config;
  config.source = source;
  auto member = [&](const char* name) -> const rapidjson::Value* {
    auto it = object.FindMember(name);
    return it == object.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
  };
  auto text = [&](std::initializer_list<const char*> names) -> std::optional<std::string> {
    for (const char* name : names) {
      if (const auto* value = member(name)) {
        if (!value->IsString()) fail_parse(source, std::string(name) + ": expected a string");
        return lower(value->GetString());
      }
    }
    return std::nullopt;
  };
  auto integer = [&](std::initializer_list<const char*> names) -> std::optional<int64_t> {
    for (const char* name : names) {
      if (const auto* value = member(name)) {
        if (!value->IsInt64()) fail_parse(source, std::string(name) + ": expected an integer");
        return value->GetInt64();
      }
    }
    return std::nullopt;
  };
  config.method = text({"quant_method"});
  config.bits = integer({"bits", "w_bit"});
  config.group_size = integer({"group_size", "q_group_size"});
  config.format = text({"checkpoint_format", "format", "version"});
  config.pack_dtype = text({"pack_dtype"});
  if (const auto* value = member("desc_act")) {
    if (!value->IsBool()) fail_parse(source, "desc_act: expected true or false");
    config.desc_act = value->GetBool();
  }
  if (const auto* value = member("dynamic")) config.dynamic = !value->IsObject() || value->MemberCount() > 0;
  return config;
}

/// The string value of safetensors __metadata__ key `key`, if present.
const std::string* meta_text(const Catalog& catalog, const std::string& key) {
  const MetaEntry* entry = catalog.find_meta(key);
  return entry ? std::get_if<std::string>(&entry->value.value) : nullptr;
}

/// The settings in the safetensors __metadata__, or nullopt when it declares none.
std::optional<QuantConfig> from_metadata(const SchemeContext& context) {
  const Catalog& catalog = context.catalog;
  if (!meta_text(catalog, "quant_method") && !meta_text(catalog, "bits") && !meta_text(catalog, "group_size") &&
      !meta_text(catalog, "checkpoint_format")) {
    return std::nullopt;
  }
  QuantConfig config;
  config.source = catalog.files.front() + ": __metadata__";
  auto integer = [&](const char* key) -> std::optional<int64_t> {
    const std::string* value = meta_text(catalog, key);
    if (!value) return std::nullopt;
    int64_t parsed = 0;
    auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), parsed);
    if (error != std::errc() || end != value->data() + value->size()) {
      fail_parse(catalog.files.front(), std::string("__metadata__ ") + key + ": " + io::quoted(*value) + " is not an integer");
    }
    return parsed;
  };
  if (const std::string* value = meta_text(catalog, "quant_method")) config.method = lower(*value);
  if (const std::string* value = meta_text(catalog, "checkpoint_format")) config.format = lower(*value);
  if (const std::string* value = meta_text(catalog, "desc_act")) {
    std::string flag = lower(*value);
    if (flag != "true" && flag != "false") {
      fail_parse(catalog.files.front(), "__metadata__ desc_act: " + io::quoted(*value) + " is not true or false");
    }
    config.desc_act = flag == "true";
  }
  config.bits = integer("bits");
  config.group_size = integer("group_size");
  return config;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

QuantConfig read_config(const SchemeContext& context) {
  if (context.quantize_config.present()) {
    return from_json(context.quantize_config.root(), context.quantize_config.path());
  }
  if (context.config.present()) {
    const rapidjson::Value& root = context.config.root();
    auto it = root.FindMember("quantization_config");
    if (it != root.MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsObject()) fail_parse(context.config.path(), "quantization_config: expected a JSON object");
      return from_json(it->value, context.config.path());
    }
  }
  if (auto config = from_metadata(context)) return *config;
  return {};
}

std::vector<std::string> bases(const SchemeContext& context) {
  std::vector<std::string> found;
  for (const auto& tensor : context.catalog.tensors) {
    if (ends_with(tensor.name, kQweightSuffix)) {
      found.push_back(tensor.name.substr(0, tensor.name.size() - kQweightSuffix.size()));
    }
  }
  return found;
}

Method method_of(const SchemeContext& context, const QuantConfig& config, const std::string& base) {
  if (config.method == "gptq") return Method::Gptq;
  if (config.method == "awq") return Method::Awq;
  if (config.method) {
    fail_unsupported(context.file_of(*context.find(base + ".qweight")),
                     "tensor " + io::quoted(base + ".qweight") + ": quant_method " + io::quoted(*config.method) + " in " + config.source +
                         " is not supported (amn reads gptq and awq)");
  }
  if (context.find(base + ".g_idx")) return Method::Gptq;
  auto qweight = context.find(base + ".qweight");
  auto scales = context.find(base + ".scales");
  if (qweight && scales) {
    const auto& qweight_shape = context.catalog.tensors[*qweight].shape;
    const auto& scales_shape = context.catalog.tensors[*scales].shape;
    if (qweight_shape.size() == 2 && scales_shape.size() == 2 && qweight_shape[1] != scales_shape[1] &&
        qweight_shape[1] <= INT64_MAX / kAwqPerWord && qweight_shape[1] * kAwqPerWord == scales_shape[1]) {
      return Method::Awq;
    }
  }
  return Method::Gptq;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t dim = 0; dim < shape.size(); ++dim) text += (dim ? ", " : "") + std::to_string(shape[dim]);
  return text + "]";
}

LayerTensors::LayerTensors(const SchemeContext& context, const std::string& base)
    : context_(context), base_(base), qweight_(*context.find(base + ".qweight")) {
  qzeros_ = companion("qzeros");
  scales_ = companion("scales");
  check_words(qweight_, "qweight");
  check_words(qzeros_, "qzeros");
  const Tensor& scales = tensor(scales_);
  const std::string type(info(scales.dtype).name);
  if (!info(scales.dtype).is_float) fail(name("scales") + " is " + type + "; expected a float type");
  if (scales.dtype != DType::F16 && scales.dtype != DType::BF16 && scales.dtype != DType::F32) {
    unsupported(name("scales") + " is " + type + "; amn reads F16, BF16 and F32 scales");
  }
  if (scales.shape.size() != 2) {
    fail(name("scales") + " has shape " + shape_text(scales.shape) + "; expected [groups, out]");
  }
  if (context.find(base + ".weight")) fail("both " + name("weight") + " and " + name("qweight") + " are present");
}

void LayerTensors::fail(const std::string& message) const { fail_parse(file(), message); }

void LayerTensors::unsupported(const std::string& message) const { fail_unsupported(file(), message); }

size_t LayerTensors::companion(const std::string& suffix) const {
  auto found = context_.find(base_ + "." + suffix);
  if (!found) fail(name(suffix) + " is missing (companion of " + name("qweight") + ")");
  return *found;
}

void LayerTensors::check_words(size_t tensor_idx, const std::string& suffix) const {
  const Tensor& packed = tensor(tensor_idx);
  const std::string type(info(packed.dtype).name);
  if (packed.dtype == DType::I8 || packed.dtype == DType::I16 || packed.dtype == DType::I64) {
    unsupported(name(suffix) + " is packed in " + type + " words; amn reads int32 words");
  }
  if (packed.dtype != DType::I32) fail(name(suffix) + " is " + type + "; expected I32");
  if (packed.shape.size() != 2) {
    fail(name(suffix) + " has shape " + shape_text(packed.shape) + "; expected 2 dimensions");
  }
}

uint64_t column_read_rows(uint64_t row_elems) {
  constexpr uint64_t kRowsBytes = 4ull << 20;
  constexpr uint64_t kMinRows = 8;
  return std::max(kMinRows, kRowsBytes / std::max<uint64_t>(1, row_elems * sizeof(float)));
}

void read_columns(io::TensorData& data, size_t tensor_idx, uint64_t rows, uint64_t cols, uint64_t elem_bytes,
                  uint64_t first, uint64_t count, std::byte* dst) {
  if (count == cols) {
    data.read(tensor_idx, 0, rows * cols * elem_bytes, dst);
    return;
  }
  for (uint64_t row_idx = 0; row_idx < rows; ++row_idx) {
    const uint64_t row_bytes = count * elem_bytes;
    data.read(tensor_idx, (row_idx * cols + first) * elem_bytes, row_bytes, dst + row_idx * row_bytes);
  }
}

std::vector<float> read_scales(io::TensorData& data, size_t tensor_idx, DType type, uint64_t rows, uint64_t cols,
                               uint64_t first, uint64_t count) {
  const uint64_t elem_bytes = info(type).block_bits / 8;
  std::vector<std::byte> raw(rows * count * elem_bytes);
  read_columns(data, tensor_idx, rows, cols, elem_bytes, first, count, raw.data());
  std::vector<float> scales(rows * count);
  kernels::convert_elements(type, raw.data(), scales.size(), DType::F32, reinterpret_cast<std::byte*>(scales.data()));
  return scales;
}

}  // namespace amn::stages::qweight
