// Quantisation schemes that span several tensors (FP8 + scales, GPTQ, AWQ, BitsAndBytes,
// compressed-tensors): recognition from names, shapes, metadata and config files, and row
// sources that turn the companions into dequantised f32 rows inside the streaming engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/limits.hpp"
#include "io/tensor_data.hpp"

namespace amn::stages {

/// Produces rows of one dequantised output tensor as f32. A row is the output's shape[1..]
/// elements (one element for rank ≤ 1). Implementations read their inputs through `data`
/// (thread-safe) and call the pure kernels in src/kernels/; they must be callable concurrently.
class RowSource {
 public:
  virtual ~RowSource() = default;
  /// Writes rows [first, first + count) into dst (count × row elements). The values are the
  /// canonical library's f32 dequantisation, bit for bit.
  virtual void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const = 0;
};

/// One output tensor of a scheme: it takes the place of input tensor `anchor` in the output.
struct SchemeTensor {
  std::string name;               ///< e.g. "model.layers.0.mlp.down_proj.weight"
  std::vector<int64_t> shape;     ///< row-major output shape, e.g. [out, in]
  size_t anchor = 0;              ///< index into Catalog::tensors (e.g. the qweight)
  std::shared_ptr<const RowSource> source;
};

/// What one recogniser found.
struct SchemeMatch {
  std::string scheme;                 ///< e.g. "GPTQ 4-bit, group 128"
  std::vector<SchemeTensor> outputs;
  std::vector<size_t> consumed;       ///< input tensors that leave the output (anchors included)
};

/// What recognisers see: the catalog, tensor lookup by name, a reader for the small companion
/// tensors they must look inside (quant states, shapes), and the JSON text of config.json and
/// quantize_config.json found beside the (first) input file ("" when absent).
struct SchemeContext {
  const Catalog& catalog;
  Limits limits;
  std::map<std::string, size_t> by_name;
  std::string config_json;
  std::string quantize_config_json;
  std::string config_path;            ///< for error messages
  std::string quantize_config_path;

  /// The input file holding tensor `tensor_idx` (for error messages).
  [[nodiscard]] const std::string& file_of(size_t tensor_idx) const {
    return catalog.files[catalog.storages[catalog.tensors[tensor_idx].storage].file_index];
  }
  /// The reader for companion tensors, opened on first use.
  [[nodiscard]] io::TensorData& data() const {
    if (!reader_) reader_ = std::make_shared<io::TensorData>(catalog, limits);
    return *reader_;
  }
  /// Index of the tensor named `name`, if present.
  [[nodiscard]] std::optional<size_t> find(const std::string& name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? std::nullopt : std::optional<size_t>(it->second);
  }

  mutable std::shared_ptr<io::TensorData> reader_;
};

/// Builds the context for `catalog` (reads config.json / quantize_config.json beside the input;
/// its reader enforces `limits`).
[[nodiscard]] SchemeContext make_scheme_context(const Catalog& catalog, const Limits& limits = {});

/// A recogniser: nullopt when its scheme is absent; throws amn::Error (Unsupported or Parse,
/// naming file and tensors) when the scheme is present but cannot be dequantised correctly.
using Recogniser = std::optional<SchemeMatch> (*)(const SchemeContext&);

/// Every recogniser's match, merged. A tensor claimed by two schemes is an error.
[[nodiscard]] SchemeMatch recognise_schemes(const SchemeContext& context);

}  // namespace amn::stages
