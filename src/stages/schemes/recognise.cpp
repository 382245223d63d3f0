// Runs every scheme recogniser and merges their matches; the side files they share.
#include <algorithm>
#include <array>
#include <filesystem>
#include <set>
#include <string_view>
#include <vector>

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

namespace {

/// Rows of the transpose of `inner`'s [rows, cols] output: output row j is inner column j, read
/// by passes of whole inner rows (at most kPassElems elements held at a time).
class TransposedRows final : public RowSource {
 public:
  TransposedRows(std::shared_ptr<const RowSource> inner, uint64_t rows, uint64_t cols)
      : inner_(std::move(inner)), rows_(rows), cols_(cols) {}

  void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const override {
    constexpr uint64_t kPassElems = uint64_t{1} << 18;
    const uint64_t pass_rows = std::max<uint64_t>(1, kPassElems / cols_);
    thread_local std::vector<float> pass;
    for (uint64_t top = 0; top < rows_; top += pass_rows) {
      const uint64_t taken = std::min(pass_rows, rows_ - top);
      pass.resize(taken * cols_);
      inner_->rows(data, top, taken, pass.data());
      for (uint64_t out_row = 0; out_row < count; ++out_row) {
        for (uint64_t row = 0; row < taken; ++row) dst[out_row * rows_ + top + row] = pass[row * cols_ + first + out_row];
      }
    }
  }

 private:
  std::shared_ptr<const RowSource> inner_;
  uint64_t rows_;
  uint64_t cols_;
};

constexpr std::array<std::string_view, 5> kConv1dModelTypes = {"gpt2", "openai-gpt", "imagegpt", "decision_transformer",
                                                               "clvp"};
constexpr std::array<std::string_view, 4> kConv1dModules = {"c_attn", "q_attn", "c_proj", "c_fc"};

}  // namespace

bool is_conv1d_weight(const SchemeContext& context, const std::string& name) {
  constexpr std::string_view kSuffix = ".weight";
  if (!name.ends_with(kSuffix) || !context.config.present()) return false;
  const std::string_view module = std::string_view(name).substr(0, name.size() - kSuffix.size());
  const std::string_view last = module.substr(module.rfind('.') + 1);  // npos + 1 == 0: the whole name
  if (std::find(kConv1dModules.begin(), kConv1dModules.end(), last) == kConv1dModules.end()) return false;
  const rapidjson::Value& root = context.config.root();
  const auto type = root.FindMember("model_type");
  if (type == root.MemberEnd() || !type->value.IsString()) return false;
  const std::string_view model_type(type->value.GetString(), type->value.GetStringLength());
  return std::find(kConv1dModelTypes.begin(), kConv1dModelTypes.end(), model_type) != kConv1dModelTypes.end();
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
    for (auto& output : match->outputs) {
      if (output.shape.size() == 2 && is_conv1d_weight(context, output.name)) {
        const auto rows = static_cast<uint64_t>(output.shape[0]), cols = static_cast<uint64_t>(output.shape[1]);
        output.source = std::make_shared<TransposedRows>(std::move(output.source), rows, cols);
        output.shape = {output.shape[1], output.shape[0]};
      }
      merged.outputs.push_back(std::move(output));
    }
    merged.consumed.insert(merged.consumed.end(), match->consumed.begin(), match->consumed.end());
  }
  return merged;
}

}  // namespace amn::stages
