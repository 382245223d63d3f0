// Runs every scheme recogniser and merges their matches; the side files they share.
#include <filesystem>
#include <set>

#include "amn/error.hpp"
#include "io/budget.hpp"
#include "io/display.hpp"
#include "io/file.hpp"
#include "io/json.hpp"
#include "stages/schemes/schemes.hpp"
#include "stages/schemes/recognisers.hpp"

namespace amn::stages {

SideJson SideJson::file(std::string path, const Limits& limits) {
  SideJson side;
  side.path_ = std::move(path);
  side.limits_ = limits;
  return side;
}

SideJson SideJson::text(std::string path, std::string text) {
  SideJson side;
  side.path_ = std::move(path);
  side.text_ = std::move(text);
  return side;
}

const rapidjson::Value& SideJson::root() const {
  if (!parsed_) {
    io::HeapBudget budget(limits_);
    auto document = std::make_shared<rapidjson::Document>(
        text_ ? io::parse_json(path_, *text_, "") : io::read_json_file(path_, io::kMaxSideJsonBytes, ""));
    if (!document->IsObject()) fail_parse(path_, "expected a JSON object");
    parsed_ = std::move(document);
  }
  return *parsed_;
}

SchemeContext make_scheme_context(const Catalog& catalog, const Limits& limits) {
  SchemeContext context{catalog, limits, {}, {}, {}, nullptr, {}};
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    context.by_name.emplace(catalog.tensors[tensor_idx].name, tensor_idx);
  }
  if (!catalog.files.empty() && !io::is_stdin(catalog.files.front())) {  // standard input has no side files
    auto dir = std::filesystem::path(catalog.files.front()).parent_path();
    if (dir.empty()) dir = ".";
    auto side_file = [&](const char* name) {
      std::error_code error;
      const std::filesystem::path path = dir / name;
      return std::filesystem::is_regular_file(path, error) ? SideJson::file(path.string(), limits) : SideJson();
    };
    context.config = side_file("config.json");
    context.quantize_config = side_file("quantize_config.json");
  }
  return context;
}

SchemeMatch recognise_schemes(const SchemeContext& context) {
  SchemeMatch merged;
  std::set<size_t>& claimed = context.claimed_;
  for (Recogniser recogniser : kRecognisers) {
    std::optional<SchemeMatch> match = recogniser(context);
    if (!match) continue;
    for (size_t tensor_idx : match->consumed) {
      if (!claimed.insert(tensor_idx).second) {
        fail_unsupported(context.file_of(tensor_idx), "tensor " + io::quoted(context.catalog.tensors[tensor_idx].name) +
                                                          " is claimed by two quantisation schemes");
      }
    }
    merged.scheme += (merged.scheme.empty() ? "" : " + ") + match->scheme;
    for (auto& output : match->outputs) merged.outputs.push_back(std::move(output));
    merged.consumed.insert(merged.consumed.end(), match->consumed.begin(), match->consumed.end());
  }
  return merged;
}

}  // namespace amn::stages
