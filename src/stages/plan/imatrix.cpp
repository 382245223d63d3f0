// Loading llama.cpp's GGUF importance matrix through amn's own GGUF reader.
#include "stages/plan/imatrix.hpp"

#include <cmath>
#include <cstring>

#include "amn/amn.hpp"
#include "io/tensor_data.hpp"

namespace amn::stages {
namespace {

constexpr std::string_view kSums = ".in_sum2";
constexpr std::string_view kCounts = ".counts";

/// The f32 values of tensor `tensor_idx`.
std::vector<float> read_f32(const Catalog& catalog, io::TensorData& data, size_t tensor_idx) {
  const Tensor& tensor = catalog.tensors[tensor_idx];
  if (tensor.dtype != DType::F32) {
    fail_parse(catalog.files[0], "imatrix tensor '" + tensor.name + "' is " + std::string(info(tensor.dtype).name) +
                                     ", not F32");
  }
  std::vector<std::byte> bytes = data.read_all(tensor_idx);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

/// Sums over counts, per expert: sums hold ne0 × experts values, counts one per expert.
std::vector<float> mean_squares(const std::string& file, const std::string& name, const std::vector<float>& sums,
                                const std::vector<float>& counts) {
  if (counts.empty() || sums.size() % counts.size() != 0) {
    fail_parse(file, "imatrix entry '" + name + "': " + std::to_string(sums.size()) + " sums do not split into " +
                         std::to_string(counts.size()) + " experts");
  }
  const size_t ne0 = sums.size() / counts.size();
  std::vector<float> weights(sums.size());
  for (size_t expert = 0; expert < counts.size(); ++expert) {
    const auto count = static_cast<float>(std::lround(counts[expert]));
    for (size_t col = 0; col < ne0; ++col) {
      float& weight = weights[expert * ne0 + col];
      weight = count > 0.0f ? sums[expert * ne0 + col] / count : 1.0f;
      if (!std::isfinite(weight)) fail_parse(file, "imatrix entry '" + name + "' holds a non-finite value");
    }
  }
  return weights;
}

}  // namespace

Imatrix load_imatrix(const std::string& path, const Limits& limits) {
  Catalog catalog = open_model(path, limits);
  if (catalog.format != Format::Gguf) {
    fail_unsupported(path, "not a GGUF importance matrix (llama-imatrix's legacy .dat format is not read; "
                           "convert it with llama-imatrix --in-file FILE --output-format gguf)");
  }
  Imatrix imatrix;
  imatrix.path = path;
  const MetaEntry* datasets = catalog.find_meta("imatrix.datasets");
  const MetaEntry* chunk_count = catalog.find_meta("imatrix.chunk_count");
  if (!datasets || !chunk_count || !catalog.find_meta("imatrix.chunk_size")) {
    fail_parse(path, "missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)");
  }
  if (const auto* list = std::get_if<std::vector<MetaValue>>(&datasets->value.value)) {
    for (const auto& item : *list) {
      if (const auto* text = std::get_if<std::string>(&item.value)) imatrix.datasets.push_back(*text);
    }
  }
  if (const auto* count = std::get_if<uint64_t>(&chunk_count->value.value)) imatrix.chunk_count = static_cast<uint32_t>(*count);

  std::map<std::string, std::pair<int64_t, int64_t>> pairs;  // name → (sums, counts) tensor indices
  for (size_t tensor_idx = 0; tensor_idx < catalog.tensors.size(); ++tensor_idx) {
    std::string name = catalog.tensors[tensor_idx].name;
    if (name.ends_with(kSums)) {
      pairs.try_emplace(name.substr(0, name.size() - kSums.size()), -1, -1).first->second.first = static_cast<int64_t>(tensor_idx);
    } else if (name.ends_with(kCounts)) {
      pairs.try_emplace(name.substr(0, name.size() - kCounts.size()), -1, -1).first->second.second = static_cast<int64_t>(tensor_idx);
    }
  }
  if (pairs.empty()) fail_parse(path, "no importance data (no NAME.in_sum2 / NAME.counts tensors)");
  io::TensorData data(catalog, limits);
  for (const auto& [name, indices] : pairs) {
    if (indices.first < 0 || indices.second < 0) fail_parse(path, "imatrix entry '" + name + "': sums and counts do not pair up");
    auto sums = read_f32(catalog, data, static_cast<size_t>(indices.first));
    auto counts = read_f32(catalog, data, static_cast<size_t>(indices.second));
    imatrix.entries[name] = std::make_shared<const std::vector<float>>(mean_squares(path, name, sums, counts));
  }
  return imatrix;
}

}  // namespace amn::stages
