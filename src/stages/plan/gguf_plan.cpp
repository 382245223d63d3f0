// GGUF outputs as llama.cpp writes them: which tensors a float --dtype narrows, and the whole
// plan of `convert --quant` (types chosen by quant_types, llama-quantize's tensor order, the
// importance matrix, the KV pairs it sets).
#include <algorithm>
#include <set>
#include <utility>

#include "formats/typed_metadata.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/json.hpp"
#include "stages/plan/imatrix.hpp"
#include "stages/plan/plan.hpp"
#include "stages/plan/quant_types.hpp"

namespace amn::stages {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  ///< GGML_QNT_VERSION

MetaEntry meta_u32(const std::string& key, uint64_t value) {
  return MetaEntry{key, MetaValue{MetaType::U32, MetaType::U8, value}};
}

MetaEntry meta_string(const std::string& key, const std::string& value) {
  return MetaEntry{key, MetaValue{MetaType::String, MetaType::U8, value}};
}

/// general.architecture of a GGUF input, or "" (a Hugging Face checkpoint, whose tensor names
/// llama.cpp's rules do not know; a safetensors copy of GGUF metadata holds only strings).
std::string architecture(const Catalog& catalog) {
  if (catalog.format != Format::Gguf) return "";
  const MetaEntry* entry = catalog.find_meta("general.architecture");
  const auto* text = entry ? std::get_if<std::string>(&entry->value.value) : nullptr;
  return text ? *text : "";
}

std::vector<MetaEntry> file_type_updates(quant::FileType ftype) {
  return {meta_u32("general.quantization_version", kQuantizationVersion),
          meta_u32("general.file_type", static_cast<uint32_t>(ftype))};
}

/// The KV pairs llama-quantize adds when it is given an importance matrix.
std::vector<MetaEntry> imatrix_updates(const Imatrix& imatrix) {
  constexpr size_t kMaxText = 127;  // llama-quantize copies into a 128-byte field
  std::vector<MetaEntry> updates{meta_string("quantize.imatrix.file", imatrix.path.substr(0, kMaxText))};
  if (!imatrix.datasets.empty()) {
    updates.push_back(meta_string("quantize.imatrix.dataset", imatrix.datasets.front().substr(0, kMaxText)));
  }
  updates.push_back(meta_u32("quantize.imatrix.entries_count", imatrix.entries.size()));
  if (imatrix.chunk_count > 0) updates.push_back(meta_u32("quantize.imatrix.chunks_count", imatrix.chunk_count));
  return updates;
}

/// The imatrix entry of a tensor, checked to hold ne[0] weights per matrix (a mismatch is an
/// error, except for the token embedding, which llama-quantize then quantises without one).
std::shared_ptr<const std::vector<float>> entry_for(const Imatrix& imatrix, const Tensor& tensor) {
  auto entry = imatrix.entries.find(tensor.name);
  if (entry == imatrix.entries.end()) return nullptr;
  const auto& shape = tensor.shape;
  const uint64_t ne0 = static_cast<uint64_t>(shape.back());
  const uint64_t matrices = shape.size() >= 3 ? static_cast<uint64_t>(shape[shape.size() - 3]) : 1;
  if (entry->second->size() == ne0 * matrices) return entry->second;
  if (tensor.name == "token_embd.weight" || tensor.name == "per_layer_token_embd.weight") return nullptr;
  fail_parse(imatrix.path, "imatrix entry '" + tensor.name + "' holds " + std::to_string(entry->second->size()) +
                               " weights; the tensor needs " + std::to_string(ne0 * matrices) +
                               " (an imatrix made for another model?)");
}

/// The importance weights of a tensor quantised to a block type; refused when its type cannot
/// do without them.
std::shared_ptr<const std::vector<float>> weights_for(const Imatrix* imatrix, const Tensor& tensor,
                                                      const quant::TensorChoice& choice, const std::string& file) {
  auto weights = imatrix ? entry_for(*imatrix, tensor) : nullptr;
  if (weights || !(choice.needs_imatrix || quant::type_needs_imatrix_data(choice.type))) return weights;
  fail_unsupported(imatrix ? imatrix->path : file,
                   "tensor '" + tensor.name + "' needs importance-matrix data to be quantised to " +
                       std::string(info(choice.type).name) +
                       (imatrix ? ", and the imatrix has no usable entry for it" : "; pass --imatrix FILE (from llama-imatrix)"));
}

/// A one-line summary of the tensors whose rows do not fill the wanted type's blocks.
std::string fallback_warning(const Catalog& catalog, const std::vector<quant::TensorChoice>& choices) {
  size_t count = 0;
  std::string first;
  for (size_t idx = 0; idx < choices.size(); ++idx) {
    if (!choices[idx].fallback) continue;
    if (count++ == 0) {
      first = catalog.tensors[idx].name + " " + std::string(info(choices[idx].wanted).name) + " -> " +
              std::string(info(choices[idx].type).name);
    }
  }
  if (count == 0) return "";
  return std::to_string(count) + " tensor(s) have rows that do not fill the wanted type's blocks and fall back as "
                                 "llama-quantize does (e.g. " + first + ")";
}

/// The type of a tensor that llama.cpp does not quantise: its own, except that a 1-D tensor
/// (a norm, a bias) becomes F32, which llama.cpp's kernels need and convert_hf_to_gguf.py writes.
std::optional<DType> kept_type(const Tensor& tensor) {
  const bool decodable = info(tensor.dtype).is_float || is_block_type(tensor.dtype);
  if (tensor.shape.size() <= 1 && decodable && tensor.dtype != DType::F32) return DType::F32;
  return std::nullopt;
}

/// The per-tensor overrides `options` ask for; throws Error(Usage) for a bad one.
quant::TensorOverrides tensor_overrides(const ConvertOptions& options) {
  quant::TensorOverrides overrides;
  if (!options.output_tensor_type.empty()) {
    overrides.output_type = quant::parse_tensor_type(options.output_tensor_type, "--output-tensor-type");
  }
  if (!options.token_embedding_type.empty()) {
    overrides.token_embd_type = quant::parse_tensor_type(options.token_embedding_type, "--token-embedding-type");
  }
  overrides.leave_output = options.leave_output_tensor;
  for (const auto& text : options.tensor_types) overrides.rules.push_back(quant::parse_tensor_type_rule(text));
  return overrides;
}

}  // namespace

std::optional<DType> gguf_float_type(const Catalog& catalog, const Tensor& tensor, DType to) {
  if (quant::allows_quantization(architecture(catalog), tensor.name, tensor.shape)) return to;
  return kept_type(tensor);
}

std::vector<MetaEntry> gguf_file_type_updates(DType to) {
  switch (to) {
    case DType::F32: return file_type_updates(quant::FileType::ALL_F32);
    case DType::F16: return file_type_updates(quant::FileType::MOSTLY_F16);
    case DType::BF16: return file_type_updates(quant::FileType::MOSTLY_BF16);
    default: throw std::logic_error("gguf_file_type_updates: not a float --dtype");
  }
}

Plan make_quant_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits) {
  const quant::ParsedFileType parsed = quant::parse_file_type(options.quant);
  const std::string& first_file = catalog.files.front();
  Plan plan;
  quant::ModelFacts facts;
  facts.arch = architecture(catalog);
  if (facts.arch.empty()) {
    plan.warnings.push_back(first_file + " has no general.architecture: the GGUF keeps its tensor names and llama.cpp "
                                         "will refuse to load it (amn does not map Hugging Face architectures yet)");
  } else {
    facts = quant::model_facts(catalog);
  }
  std::optional<Imatrix> imatrix;
  if (!options.imatrix.empty()) imatrix = load_imatrix(options.imatrix, limits);

  std::vector<quant::TensorRef> refs;
  std::vector<std::string_view> names;
  for (const auto& tensor : catalog.tensors) {
    refs.push_back(quant::TensorRef{tensor.name, tensor.shape, tensor.dtype});
    names.push_back(tensor.name);
  }
  const quant::QuantRequest request{parsed.ftype, options.pure, imatrix.has_value(), parsed.copy};
  const quant::TensorOverrides overrides = tensor_overrides(options);
  std::vector<quant::TensorChoice> choices;
  try {
    choices = quant::choose_types(facts, refs, request, overrides);
  } catch (const Error& error) {  // the chooser sees names, not files
    throw Error(error.code(), first_file + ": " + error.what());
  }
  for (size_t tensor_idx : quant::quantize_order(names)) {
    const Tensor& tensor = catalog.tensors[tensor_idx];
    const std::string& file = catalog.files[catalog.storages[tensor.storage].file_index];
    const auto& choice = choices[tensor_idx];
    std::optional<DType> to = choice.quantizable ? choice.type : parsed.copy ? std::nullopt : kept_type(tensor);
    std::shared_ptr<const std::vector<float>> weights;
    if (to && is_block_type(*to) && *to != tensor.dtype) weights = weights_for(imatrix ? &*imatrix : nullptr, tensor, choice, file);
    PlannedTensor planned = plan_tensor_as(catalog, tensor_idx, to, std::move(weights));
    size_output(planned, file, Target::Gguf);
    plan.tensors.push_back(std::move(planned));
  }
  if (!parsed.copy) plan.gguf_updates = file_type_updates(parsed.ftype);
  if (imatrix) {
    auto updates = imatrix_updates(*imatrix);
    plan.gguf_updates.insert(plan.gguf_updates.end(), updates.begin(), updates.end());
  }
  plan.gguf_updates.insert(plan.gguf_updates.end(), options.gguf_kv.begin(), options.gguf_kv.end());
  if (auto warning = fallback_warning(catalog, choices); !warning.empty()) plan.warnings.push_back(warning);
  return plan;
}

}  // namespace amn::stages

namespace amn {

MetaEntry parse_gguf_kv(const std::string& text) {
  const auto usage = [&](const std::string& what) {
    throw Error(ErrorCode::Usage, "--gguf-kv '" + text + "': " + what + " (expected KEY=TYPE:VALUE, e.g. general.name=str:My model)");
  };
  const size_t equals = text.find('=');
  const size_t colon = equals == std::string::npos ? std::string::npos : text.find(':', equals);
  if (equals == 0 || colon == std::string::npos) usage("not KEY=TYPE:VALUE");
  const std::string type = text.substr(equals + 1, colon - equals - 1);
  const std::string value = text.substr(colon + 1);
  const std::optional<MetaType> scalar = formats::scalar_type(type);
  if (!scalar) usage("unknown type '" + type + "'");
  std::optional<MetaValue> parsed = formats::parse_scalar(*scalar, value);
  if (!parsed) usage("'" + value + "' is not a " + type);
  return MetaEntry{text.substr(0, equals), std::move(*parsed)};
}

std::vector<MetaEntry> read_gguf_metadata(const std::string& path) {
  io::HeapBudget budget(Limits{});
  const rapidjson::Document root = io::read_json_file(path, io::kMaxSideJsonBytes, "");
  const auto refuse = [&](const std::string& what) { fail_parse(path, what); };
  if (!root.IsObject()) refuse("expected a JSON object of KEY: \"TYPE:VALUE\" or KEY: [\"TYPE\", VALUE...]");
  std::vector<MetaEntry> entries;
  std::set<std::string> keys;
  for (const auto& member : root.GetObject()) {
    const std::string key(member.name.GetString(), member.name.GetStringLength());
    const std::string field = "key " + io::quoted(key);
    if (key.empty()) refuse("an empty key");
    if (!keys.insert(key).second) refuse(field + ": given twice");
    const auto scalar_of = [&](const rapidjson::Value& value, std::optional<MetaType> type) -> MetaValue {
      if (!value.IsString()) refuse(field + ": expected a string");
      std::string text(value.GetString(), value.GetStringLength());
      if (!type) {  // "TYPE:VALUE"
        const size_t colon = text.find(':');
        type = colon == std::string::npos ? std::nullopt : formats::scalar_type(std::string_view(text).substr(0, colon));
        if (!type) refuse(field + ": " + io::quoted(text) + " is not TYPE:VALUE (TYPE u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str)");
        text.erase(0, colon + 1);
      }
      std::optional<MetaValue> parsed = formats::parse_scalar(*type, text);
      if (!parsed) refuse(field + ": " + io::quoted(text) + " is not a " + formats::scalar_type_name(*type));
      return *parsed;
    };
    if (!member.value.IsArray()) {
      entries.push_back(MetaEntry{key, scalar_of(member.value, std::nullopt)});
      continue;
    }
    const auto& items = member.value.GetArray();
    const std::optional<MetaType> elem_type =
        items.Empty() || !items[0].IsString() ? std::nullopt : formats::scalar_type({items[0].GetString(), items[0].GetStringLength()});
    if (!elem_type) refuse(field + ": an array starts with its element type (u8 ... f64, bool, str)");
    MetaValue array{MetaType::Array, *elem_type, std::vector<MetaValue>{}};
    auto& elems = std::get<std::vector<MetaValue>>(array.value);
    for (rapidjson::SizeType item_idx = 1; item_idx < items.Size(); ++item_idx) elems.push_back(scalar_of(items[item_idx], elem_type));
    entries.push_back(MetaEntry{key, std::move(array)});
  }
  return entries;
}

}  // namespace amn
