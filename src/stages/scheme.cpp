// Recognising a quantisation scheme from names, dtypes, shapes and metadata (report only).
#include <map>
#include <string_view>

#include "amn/amn.hpp"

namespace amn {
namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

const Tensor* find_tensor(const Catalog& catalog, const std::string& name) {
  for (const auto& tensor : catalog.tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

/// GPTQ packs along the input dim (qweight [in*bits/32, out]); AWQ along the output dim
/// (qweight [in, out/8]); scales are [groups, out] in both.
std::string gptq_or_awq(const Catalog& catalog, const Tensor& qweight) {
  std::string base = qweight.name.substr(0, qweight.name.size() - std::string_view(".qweight").size());
  const Tensor* scales = find_tensor(catalog, base + ".scales");
  if (find_tensor(catalog, base + ".g_idx")) return "GPTQ";
  if (scales && scales->shape.size() == 2 && qweight.shape.size() == 2) {
    if (qweight.shape[1] == scales->shape[1]) return "GPTQ";
    if (qweight.shape[1] * 8 == scales->shape[1]) return "AWQ";
  }
  return "GPTQ/AWQ";
}

/// "BitsAndBytes NF4" or "… FP4" for the weight whose quant_state tensor is `state_name`, with
/// " double-quant" when its absmax is itself quantised (a `nested_absmax` companion).
std::string bnb_4bit(const Catalog& catalog, const std::string& state_name, const std::string& type) {
  const std::string weight = state_name.substr(0, state_name.rfind(".quant_state."));
  return "BitsAndBytes " + type + (find_tensor(catalog, weight + ".nested_absmax") ? " double-quant" : "");
}

}  // namespace

std::string quant_scheme(const Catalog& catalog) {
  std::map<std::string, size_t> block_types;
  bool has_e4m3 = false, has_e5m2 = false, has_scale_inv = false;
  for (const auto& tensor : catalog.tensors) {
    const std::string& name = tensor.name;
    if (is_block_type(tensor.dtype)) ++block_types[std::string(info(tensor.dtype).name)];
    if (tensor.dtype == DType::F8_E4M3) has_e4m3 = true;
    if (tensor.dtype == DType::F8_E5M2) has_e5m2 = true;
    if (ends_with(name, ".weight_scale_inv")) has_scale_inv = true;
    if (ends_with(name, ".qweight")) return gptq_or_awq(catalog, tensor);
    if (ends_with(name, ".weight_packed")) return "compressed-tensors pack-quantized";
    if (ends_with(name, ".quant_state.bitsandbytes__nf4")) return bnb_4bit(catalog, name, "NF4");
    if (ends_with(name, ".quant_state.bitsandbytes__fp4")) return bnb_4bit(catalog, name, "FP4");
    if (ends_with(name, ".SCB")) return "BitsAndBytes INT8";
  }
  if (!block_types.empty()) {
    auto most = block_types.begin();
    for (auto it = block_types.begin(); it != block_types.end(); ++it) {
      if (it->second > most->second) most = it;
    }
    std::string scheme = "GGUF " + most->first;
    if (block_types.size() > 1) {
      scheme += " (mixed:";
      for (const auto& [type, count] : block_types) scheme += " " + type;
      scheme += ")";
    }
    return scheme;
  }
  if (has_e4m3 || has_e5m2) {
    std::string scheme = has_e4m3 ? "FP8 E4M3" : "FP8 E5M2";
    if (has_scale_inv) scheme += " block-wise";
    return scheme;
  }
  return "";
}

}  // namespace amn
