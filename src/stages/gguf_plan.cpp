// GGUF outputs as llama.cpp writes them: which tensors a float --dtype narrows, and the whole
// plan of `convert --quant` (types chosen by quant_types, llama-quantize's tensor order, the
// importance matrix, the KV pairs it sets).
#include <algorithm>
#include <utility>

#include "stages/imatrix.hpp"
#include "stages/plan.hpp"
#include "stages/quant_types.hpp"

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
  std::vector<quant::TensorChoice> choices;
  try {
    choices = quant::choose_types(facts, refs, request);
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

namespace {

/// True when an integer value lies in its declared type's range (floats and others: true).
bool fits(const MetaValue& value) {
  const auto* unsigned_value = std::get_if<uint64_t>(&value.value);
  const auto* signed_value = std::get_if<int64_t>(&value.value);
  switch (value.type) {
    case MetaType::U8: return std::in_range<uint8_t>(*unsigned_value);
    case MetaType::U16: return std::in_range<uint16_t>(*unsigned_value);
    case MetaType::U32: return std::in_range<uint32_t>(*unsigned_value);
    case MetaType::I8: return std::in_range<int8_t>(*signed_value);
    case MetaType::I16: return std::in_range<int16_t>(*signed_value);
    case MetaType::I32: return std::in_range<int32_t>(*signed_value);
    default: return true;
  }
}

}  // namespace

MetaEntry parse_gguf_kv(const std::string& text) {
  static const std::pair<const char*, MetaType> kTypes[] = {
      {"u8", MetaType::U8},   {"i8", MetaType::I8},   {"u16", MetaType::U16}, {"i16", MetaType::I16},
      {"u32", MetaType::U32}, {"i32", MetaType::I32}, {"u64", MetaType::U64}, {"i64", MetaType::I64},
      {"f32", MetaType::F32}, {"f64", MetaType::F64}, {"bool", MetaType::Bool}, {"str", MetaType::String}};
  const auto usage = [&](const std::string& what) {
    throw Error(ErrorCode::Usage, "--gguf-kv '" + text + "': " + what + " (expected KEY=TYPE:VALUE, e.g. general.name=str:My model)");
  };
  const size_t equals = text.find('=');
  const size_t colon = equals == std::string::npos ? std::string::npos : text.find(':', equals);
  if (equals == 0 || colon == std::string::npos) usage("not KEY=TYPE:VALUE");
  const std::string type = text.substr(equals + 1, colon - equals - 1);
  const std::string value = text.substr(colon + 1);
  MetaEntry entry{text.substr(0, equals), MetaValue{}};
  const auto* found = std::find_if(std::begin(kTypes), std::end(kTypes), [&](const auto& item) { return type == item.first; });
  if (found == std::end(kTypes)) usage("unknown type '" + type + "'");
  entry.value.type = found->second;
  try {
    size_t used = 0;
    switch (entry.value.type) {
      case MetaType::String: entry.value.value = value; return entry;
      case MetaType::Bool:
        if (value != "true" && value != "false") usage("a bool is true or false");
        entry.value.value = value == "true";
        return entry;
      case MetaType::F32: case MetaType::F64: entry.value.value = std::stod(value, &used); break;
      case MetaType::I8: case MetaType::I16: case MetaType::I32: case MetaType::I64:
        entry.value.value = static_cast<int64_t>(std::stoll(value, &used));
        break;
      case MetaType::U8: case MetaType::U16: case MetaType::U32: case MetaType::U64:
        if (value.starts_with('-')) usage("a negative value for an unsigned type");
        entry.value.value = static_cast<uint64_t>(std::stoull(value, &used));
        break;
      case MetaType::Array: usage("arrays are not supported");
    }
    if (used != value.size() || !fits(entry.value)) usage("'" + value + "' is not a " + type);
  } catch (const std::logic_error&) {  // std::invalid_argument, std::out_of_range
    usage("'" + value + "' is not a " + type);
  }
  return entry;
}

}  // namespace amn
