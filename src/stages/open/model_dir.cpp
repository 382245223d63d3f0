// Hugging Face model directories on the way out (model_dir.hpp).
#include "stages/open/model_dir.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "io/budget.hpp"
#include "io/file.hpp"
#include "io/json.hpp"

namespace amn::stages {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kConfigName = "config.json";
constexpr size_t kCopyChunkBytes = 1u << 20;

/// The parse has validated the UTF-8 of every string (rapidjson 1.1's PrettyWriter cannot take
/// kWriteValidateEncodingFlag).
using PrettyJson = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

/// Replays SAX events into a writer, numbers as the text they were read as (the parse keeps them
/// raw: no double round trip changes `1e-06` or a 64-bit id). The top-level object's keys pass
/// through `edit`: removed or replaced keys skip their value; keys to set that never appeared
/// are appended before the closing brace.
class ConfigRewriter {
 public:
  ConfigRewriter(PrettyJson& out, const ConfigEdit& edit) : out_(out), edit_(edit) {}

  bool Null() { return scalar([&] { return out_.Null(); }); }
  bool Bool(bool flag) { return scalar([&] { return out_.Bool(flag); }); }
  bool Int(int number) { return scalar([&] { return out_.Int(number); }); }
  bool Uint(unsigned number) { return scalar([&] { return out_.Uint(number); }); }
  bool Int64(int64_t number) { return scalar([&] { return out_.Int64(number); }); }
  bool Uint64(uint64_t number) { return scalar([&] { return out_.Uint64(number); }); }
  bool Double(double number) { return scalar([&] { return out_.Double(number); }); }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    return scalar([&] { return out_.RawValue(text, length, rapidjson::kNumberType); });
  }
  bool String(const char* text, rapidjson::SizeType length, bool) {
    return scalar([&] { return out_.String(text, length); });
  }
  bool Key(const char* text, rapidjson::SizeType length, bool) {
    if (skip_depth_ > 0) return true;
    if (depth_ != 1) return out_.Key(text, length);
    const std::string key(text, length);
    if (std::find(edit_.remove.begin(), edit_.remove.end(), key) != edit_.remove.end()) {
      skip_next_ = true;
      return true;
    }
    auto replaced = std::find_if(edit_.set.begin(), edit_.set.end(), [&](const auto& entry) { return entry.first == key; });
    if (replaced != edit_.set.end()) {
      skip_next_ = true;
      done_.insert(key);
      return out_.Key(text, length) && replay(replaced->second);
    }
    return out_.Key(text, length);
  }
  bool StartObject() { return open(true, [&] { return out_.StartObject(); }); }
  bool StartArray() { return open(false, [&] { return out_.StartArray(); }); }
  bool EndObject(rapidjson::SizeType) {
    if (skip_depth_ > 0) return --skip_depth_, true;
    if (--depth_ == 0 && root_is_object) {
      for (const auto& [key, value] : edit_.set) {
        if (done_.count(key) == 0 && !(out_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())) && replay(value))) {
          return false;
        }
      }
    }
    return out_.EndObject();
  }
  bool EndArray(rapidjson::SizeType) {
    if (skip_depth_ > 0) return --skip_depth_, true;
    --depth_;
    return out_.EndArray();
  }

  bool root_is_object = false;

 private:
  template <class Emit>
  bool scalar(Emit emit) {
    if (skip_depth_ > 0) return true;
    if (skip_next_) return skip_next_ = false, true;
    return emit();
  }
  template <class Emit>
  bool open(bool object, Emit emit) {
    if (skip_depth_ > 0 || skip_next_) {
      skip_next_ = false;
      ++skip_depth_;
      return true;
    }
    if (depth_++ == 0) root_is_object = object;
    return emit();
  }

  /// Writes a value given as JSON text (ours, from ConfigEdit::set) through the same writer.
  bool replay(const std::string& json) {
    ConfigEdit none;
    ConfigRewriter nested(out_, none);
    nested.depth_ = 2;  // never the top level: keys pass through
    rapidjson::Reader reader;
    rapidjson::StringStream stream(json.c_str());
    return !reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(stream, nested).IsError();
  }

  PrettyJson& out_;
  const ConfigEdit& edit_;
  std::set<std::string> done_;
  uint32_t depth_ = 0;
  uint32_t skip_depth_ = 0;
  bool skip_next_ = false;
};

bool ends_with(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Copies `from` into `out` in bounded chunks.
void copy_into(const fs::path& from, io::OutputFile& out) {
  const io::File file(from.string());
  std::vector<char> buffer(std::min<uint64_t>(kCopyChunkBytes, file.size()));
  for (uint64_t offset = 0; offset < file.size(); offset += buffer.size()) {
    const size_t len = std::min<uint64_t>(buffer.size(), file.size() - offset);
    file.read_exact(offset, buffer.data(), len);
    out.write_at(offset, buffer.data(), len);
  }
}

}  // namespace

bool is_weight_file(const fs::path& path) {
  static constexpr std::array<std::string_view, 6> kOtherWeights = {".safetensors.index.json", ".bin.index.json", ".h5",
                                                                    ".msgpack", ".onnx", ".ckpt"};
  const std::string name = path.filename().string();
  for (auto suffix : kOtherWeights) {
    if (ends_with(name, suffix)) return true;
  }
  return detect_format(path.string()).has_value();
}

fs::path model_directory(const Catalog& catalog) {
  if (catalog.files.empty() || io::is_stdin(catalog.files.front())) return {};  // standard input has no directory
  fs::path dir = fs::path(catalog.files.front()).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code error;
  return fs::is_regular_file(dir / kConfigName, error) ? dir : fs::path();
}

std::optional<DType> dominant_float_type(const std::vector<formats::OutTensor>& written) {
  std::map<DType, uint64_t> elements;
  for (const auto& tensor : written) {
    if (tensor.dtype == DType::F32 || tensor.dtype == DType::F16 || tensor.dtype == DType::BF16) {
      elements[tensor.dtype] += element_count(tensor.shape).value_or(0);
    }
  }
  if (elements.empty()) return std::nullopt;
  return std::max_element(elements.begin(), elements.end(),
                          [](const auto& left, const auto& right) { return left.second < right.second; })
      ->first;
}

ConfigEdit config_edit_for(const std::vector<formats::OutTensor>& written, bool retyped) {
  ConfigEdit edit;
  if (!retyped) return edit;
  edit.remove.push_back("quantization_config");
  edit.skip_files = {"quantize_config.json", "quant_config.json"};
  static const std::map<DType, const char*> kTorchNames = {
      {DType::F32, "float32"}, {DType::F16, "float16"}, {DType::BF16, "bfloat16"}};
  const std::optional<DType> most = dominant_float_type(written);
  if (!most) return edit;
  const std::string value = std::string("\"") + kTorchNames.at(*most) + "\"";
  edit.set = {{"torch_dtype", value}, {"dtype", value}};
  return edit;
}

std::string edit_config_json(const std::string& path, std::string_view text, const ConfigEdit& edit) {
  rapidjson::StringBuffer buffer;
  PrettyJson writer(buffer);
  writer.SetIndent(' ', 2);
  ConfigRewriter rewriter(writer, edit);
  rapidjson::MemoryStream stream(text.data(), text.size());
  io::JsonParse outcome = io::parse_json_sax<rapidjson::kParseNumbersAsStringsFlag>(stream, rewriter, path, "");
  if (outcome.result.IsError()) io::fail_json(path, "", outcome);
  if (!rewriter.root_is_object) fail_parse(path, "expected a JSON object");
  if (auto trailing = io::trailing_data(text, stream.Tell())) {
    fail_parse(path, "data after the JSON object at offset " + std::to_string(*trailing));
  }
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::vector<std::string> ModelDirPlan::targets(const fs::path& output_dir) const {
  std::vector<std::string> paths;
  if (config_text) paths.push_back((output_dir / kConfigName).string());
  for (const auto& [from, to] : copies) paths.push_back(to.string());
  return paths;
}

ModelDirPlan plan_model_dir(const fs::path& input_dir, const fs::path& output_dir, const ConfigEdit& edit,
                            const Limits& limits) {
  ModelDirPlan plan;
  if (!edit.empty()) {
    io::HeapBudget budget(limits);
    const io::File file((input_dir / kConfigName).string());
    const auto bytes = io::read_json_bytes(file, io::kMaxSideJsonBytes, "");
    plan.config_text = edit_config_json(file.path(), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), edit);
  }
  for (const auto& entry : fs::directory_iterator(input_dir)) {
    const std::string name = entry.path().filename().string();
    std::error_code error;
    if (name.starts_with('.') || (name == kConfigName && plan.config_text) || !fs::is_regular_file(entry.path(), error)) {
      continue;
    }
    if (is_weight_file(entry.path())) continue;
    if (std::find(edit.skip_files.begin(), edit.skip_files.end(), name) != edit.skip_files.end()) continue;
    plan.copies.emplace_back(entry.path(), output_dir / name);
  }
  std::sort(plan.copies.begin(), plan.copies.end());
  return plan;
}

ModelDirOutput::ModelDirOutput(const ModelDirPlan& plan, const fs::path& output_dir, bool force) {
  if (plan.config_text) {
    files_.push_back(std::make_unique<io::OutputFile>((output_dir / kConfigName).string(), force));
    files_.back()->write_at(0, plan.config_text->data(), plan.config_text->size());
  }
  for (const auto& [from, to] : plan.copies) {
    files_.push_back(std::make_unique<io::OutputFile>(to.string(), force));
    copy_into(from, *files_.back());
  }
}

void ModelDirOutput::commit() {
  for (auto& file : files_) file->commit();
}

}  // namespace amn::stages
