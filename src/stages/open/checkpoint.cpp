// Choosing the tensors of a checkpoint (checkpoint.hpp).
#include "stages/open/checkpoint.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <unordered_set>

#include "io/display.hpp"

namespace amn::stages {
namespace {

/// Keys under which training code conventionally saves a model's state dict: plain loops
/// (model, model_state_dict), Lightning (state_dict), DeepSpeed (module), EMA (model_ema, ema,
/// timm's state_dict_ema).
constexpr std::array<std::string_view, 7> kStateDictKeys = {"state_dict", "model_state_dict", "model", "module",
                                                            "model_ema",  "ema",              "state_dict_ema"};

/// The top-level keys of a PyTorch checkpoint that hold a state dict under a conventional name.
std::vector<std::string> conventional_keys(const Catalog& catalog) {
  std::vector<std::string> conventional;
  for (const auto& key : catalog.state_dicts) {
    if (std::find(kStateDictKeys.begin(), kStateDictKeys.end(), key) != kStateDictKeys.end()) conventional.push_back(key);
  }
  return conventional;
}

/// The key to read: --select, else the one conventional state dict of a PyTorch checkpoint.
std::string chosen_key(const Catalog& catalog, const TensorSelection& selection) {
  if (!selection.select.empty()) return selection.select;
  const std::vector<std::string> conventional = conventional_keys(catalog);
  return conventional.size() == 1 ? conventional.front() : std::string();
}

std::string where(const Catalog& catalog) { return catalog.files.empty() ? std::string("input") : catalog.files.front(); }

}  // namespace

void select_tensors(Catalog& catalog, const TensorSelection& selection) {
  const std::string key = chosen_key(catalog, selection);
  if (const auto conventional = conventional_keys(catalog); key.empty() && conventional.size() > 1) {
    // Read whole under prefixed names, which a model's load_state_dict(strict=True) refuses: say so
    std::string keys;
    for (const auto& name : conventional) keys += (keys.empty() ? "" : " and ") + io::quoted(name);
    catalog.description += ": state dicts under " + keys + " (read one with --select KEY)";
  }
  if (!key.empty()) {
    const std::string prefix = key + ".";
    std::map<std::string, size_t> left_out;  // top-level key -> tensors
    std::vector<Tensor> kept;
    for (auto& tensor : catalog.tensors) {
      if (tensor.name.starts_with(prefix)) {
        tensor.name.erase(0, prefix.size());
        kept.push_back(std::move(tensor));
      } else {
        ++left_out[tensor.name.substr(0, tensor.name.find('.'))];
      }
    }
    if (kept.empty()) {
      std::string keys;
      for (const auto& [top, count] : left_out) keys += (keys.empty() ? "" : ", ") + io::quoted(top);
      throw Error(ErrorCode::Usage, where(catalog) + ": --select " + io::quoted(key) + " names no tensors (top-level keys " +
                                        "holding tensors: " + (keys.empty() ? "none" : keys) + ")");
    }
    catalog.tensors = std::move(kept);
    for (const auto& [top, count] : left_out) {
      catalog.extras.emplace_back(top, "holds " + std::to_string(count) + " tensor(s), left out (not the state dict)");
    }
    catalog.description += ": the state dict under " + io::quoted(key);
  }
  if (!selection.strip_prefix.empty()) {
    for (auto& tensor : catalog.tensors) {
      if (!tensor.name.starts_with(selection.strip_prefix)) continue;
      if (tensor.name.size() == selection.strip_prefix.size()) {
        throw Error(ErrorCode::Usage, where(catalog) + ": --strip-prefix " + io::quoted(selection.strip_prefix) +
                                          " leaves tensor " + io::quoted(tensor.name) + " without a name");
      }
      tensor.name.erase(0, selection.strip_prefix.size());
    }
  }
  if (key.empty() && selection.strip_prefix.empty()) return;
  std::unordered_set<std::string_view> names;
  for (const auto& tensor : catalog.tensors) {
    if (!names.insert(tensor.name).second) {
      throw Error(ErrorCode::Usage, where(catalog) + ": two tensors are named " + io::quoted(tensor.name) +
                                        " after --select/--strip-prefix");
    }
  }
}

}  // namespace amn::stages
