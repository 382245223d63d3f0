// Default output names (naming.hpp).
#include "cli/naming.hpp"

#include <regex>

namespace amn::cli {
namespace fs = std::filesystem;

OutputKind output_kind(const ConvertOptions& options) {
  OutputKind kind;
  kind.ext = options.target == Target::Gguf ? ".gguf" : ".safetensors";
  if (!options.quant.empty()) {
    kind.label = options.quant;
  } else if (!options.encode.empty()) {
    kind.label = options.encode == "fp8" ? "fp8-" + options.fp8_scheme : options.encode;
  } else if (options.dtype || options.dequantize) {
    kind.label = std::string(info(options.dtype.value_or(DType::BF16)).name);
    for (auto& letter : kind.label) letter = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
  }
  return kind;
}

std::string strip_quant_suffix(const std::string& stem) {
  // One quantisation word at the end of the name, after a separator: llama.cpp type names,
  // float widths, and the scheme names model hubs put in repository names.
  static const std::regex kQuantWord(
      "(^|[-_.])("
      "[it]?q[0-9]+(_[a-z0-9]+)*|mxfp4(_moe)?|"
      "b?fp?(8|16|32|64)|f8(_e4m3|_e5m2)?|e4m3|e5m2|fp8[-_]dynamic|"
      "gptq|awq|bnb|nf4|fp4|int[2348]|[0-9]+bits?|w[0-9]+a[0-9]+|quantized|gguf"
      ")$",
      std::regex::icase | std::regex::optimize);
  std::string name = stem;
  std::smatch match;
  while (std::regex_search(name, match, kQuantWord)) name.resize(static_cast<size_t>(match.position(0)));
  return name.empty() ? "model" : name;
}

std::string output_name(const std::string& name, bool directory, const OutputKind& kind) {
  static const std::regex kSplit("-[0-9]{5}-of-[0-9]{5}$");
  std::string stem = name;
  if (!directory) {
    const std::string ext = fs::path(name).extension().string();
    if (!ext.empty()) stem.resize(stem.size() - ext.size());
  }
  stem = std::regex_replace(stem, kSplit, "");
  if (!kind.label.empty()) stem = strip_quant_suffix(stem) + "-" + kind.label;
  if (directory && kind.ext == ".safetensors") return stem + "/";
  return stem + kind.ext;
}

std::string default_output(const std::string& input, const OutputKind& kind) {
  // Standard input and the Ollama store have no place beside them: the current directory.
  if (input == "-") return output_name("model", false, kind);
  if (input.starts_with("ollama:")) {
    std::string name = input.substr(std::string("ollama:").size());
    for (auto& letter : name) letter = letter == '/' || letter == ':' ? '-' : letter;
    return output_name(fs::path(name).filename().string() + ".gguf", false, kind);
  }
  fs::path path = fs::path(input).lexically_normal();
  if (path.has_filename() && path.filename().string().ends_with(".index.json")) path = path.parent_path();
  std::error_code error;
  const bool directory = fs::is_directory(path, error);
  if (!path.has_filename()) path = path.parent_path();  // "dir/" -> "dir"
  if (path.empty() || path.filename() == "." || path.filename() == "..") path = fs::absolute(path).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();
  return (path.parent_path() / output_name(path.filename().string(), directory, kind)).string();
}

}  // namespace amn::cli
