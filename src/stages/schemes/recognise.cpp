// Runs every scheme recogniser and merges their matches.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "amn/error.hpp"
#include "stages/schemes/schemes.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {
namespace {

constexpr uint64_t kMaxConfigBytes = 16u << 20;

/// The text of `dir/name`, or "" when it does not exist; refuses absurd sizes.
std::string read_config(const std::filesystem::path& dir, const char* name, std::string& path_out) {
  std::filesystem::path path = dir / name;
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return "";
  path_out = path.string();
  if (std::filesystem::file_size(path, error) > kMaxConfigBytes) fail_limit(path_out, "config file larger than 16 MiB");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

SchemeContext make_scheme_context(const Catalog& catalog, const Limits& limits) {
  SchemeContext context{catalog, limits, {}, "", "", "", "", nullptr};
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    context.by_name.emplace(catalog.tensors[tensor_idx].name, tensor_idx);
  }
  if (!catalog.files.empty()) {
    auto dir = std::filesystem::path(catalog.files.front()).parent_path();
    if (dir.empty()) dir = ".";
    context.config_json = read_config(dir, "config.json", context.config_path);
    context.quantize_config_json = read_config(dir, "quantize_config.json", context.quantize_config_path);
  }
  return context;
}

SchemeMatch recognise_schemes(const SchemeContext& context) {
  SchemeMatch merged;
  std::set<size_t> claimed;
  for (Recogniser recogniser : kRecognisers) {
    std::optional<SchemeMatch> match = recogniser(context);
    if (!match) continue;
    for (size_t tensor_idx : match->consumed) {
      if (!claimed.insert(tensor_idx).second) {
        fail_unsupported(context.file_of(tensor_idx), "tensor '" + context.catalog.tensors[tensor_idx].name +
                                                          "' is claimed by two quantisation schemes");
      }
    }
    merged.scheme += (merged.scheme.empty() ? "" : " + ") + match->scheme;
    for (auto& output : match->outputs) merged.outputs.push_back(std::move(output));
    merged.consumed.insert(merged.consumed.end(), match->consumed.begin(), match->consumed.end());
  }
  return merged;
}

}  // namespace amn::stages
