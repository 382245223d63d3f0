// Quantisation schemes that span several tensors (FP8 + scales, GPTQ, AWQ, BitsAndBytes,
// compressed-tensors): recognition from names, shapes, metadata and config files, and row
// sources that turn the companions into dequantised f32 rows inside the streaming engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "amn/catalog.hpp"
#include "amn/limits.hpp"
#include "io/tensor_data.hpp"

namespace amn::stages {

/// A JSON file beside the weights (config.json, quantize_config.json). make_scheme_context only
/// notes where it is; the first recogniser that asks reads and parses it through the untrusted
/// JSON policy (io::read_json_file: at most io::kMaxSideJsonBytes, nested at most
/// io::kMaxJsonDepth deep, text and DOM charged to a heap budget of the context's limits), and
/// every later one gets the same document: each file is read and parsed at most once.
class SideJson {
 public:
  SideJson() = default;
  /// The file at `path`, read when first asked for under `limits`.
  [[nodiscard]] static SideJson file(std::string path, const Limits& limits);
  /// `text` standing for the contents of a file at `path` (unit tests, the fuzz target).
  [[nodiscard]] static SideJson text(std::string path, std::string text);

  /// Whether there is such a file.
  [[nodiscard]] bool present() const { return !path_.empty(); }
  /// Its path, for messages ("" when absent).
  [[nodiscard]] const std::string& path() const { return path_; }
  /// The parsed root object. Throws amn::Error naming the file when it is too large, nested too
  /// deep, not valid JSON, or not an object. Only when present().
  [[nodiscard]] const rapidjson::Value& root() const;

 private:
  std::string path_;
  std::optional<std::string> text_;  ///< set by text(); otherwise the file is read
  Limits limits_;
  mutable std::shared_ptr<const rapidjson::Document> parsed_;
};

/// Produces rows of one dequantised output tensor as f32. A row is the output's shape[1..]
/// elements (one element for rank ≤ 1). Implementations read their inputs through `data`
/// (thread-safe) and call the pure kernels in src/kernels/; they must be callable concurrently.
class RowSource {
 public:
  virtual ~RowSource() = default;
  /// Writes rows [first, first + count) into dst (count × row elements: SchemeTensor::row_elems).
  /// The values are the canonical library's f32 dequantisation, bit for bit.
  virtual void rows(io::TensorData& data, uint64_t first, uint64_t count, float* dst) const = 0;
  /// Rows worth producing in one call at least: a source reading column slices of its input
  /// (GPTQ's and AWQ's packed words) pays one read per input row whatever the count.
  [[nodiscard]] virtual uint64_t min_rows() const { return 1; }
};

/// One output tensor of a scheme: it takes the place of input tensor `anchor` in the output.
struct SchemeTensor {
  std::string name;               ///< e.g. "model.layers.0.mlp.down_proj.weight"
  std::vector<int64_t> shape;     ///< row-major output shape, e.g. [out, in]
  size_t anchor = 0;              ///< index into Catalog::tensors (e.g. the qweight)
  std::shared_ptr<const RowSource> source;
  /// Elements of one row of `source`, consecutive in the output; 0: every dimension after the
  /// first (one element for rank <= 1).
  uint64_t row_elems = 0;
};

/// What one recogniser found.
struct SchemeMatch {
  std::string scheme;                 ///< e.g. "GPTQ 4-bit, group 128"
  std::vector<SchemeTensor> outputs;
  std::vector<size_t> consumed;       ///< input tensors that leave the output (anchors included)
};

/// What recognisers see: the catalog, tensor lookup by name, a reader for the small companion
/// tensors they must look inside (quant states, shapes), and config.json and
/// quantize_config.json when they are beside the (first) input file, parsed on first use.
struct SchemeContext {
  const Catalog& catalog;
  Limits limits;
  std::map<std::string, size_t> by_name;
  SideJson config;             ///< config.json
  SideJson quantize_config;    ///< quantize_config.json

  /// The input file holding tensor `tensor_idx` (for error messages).
  [[nodiscard]] const std::string& file_of(size_t tensor_idx) const {
    return catalog.files[catalog.storages[catalog.tensors[tensor_idx].storage].file_index];
  }
  /// The reader for companion tensors, opened on first use.
  [[nodiscard]] io::TensorData& data() const {
    if (!reader_) reader_ = std::make_shared<io::TensorData>(catalog, limits);
    return *reader_;
  }
  /// Whether an earlier recogniser (kRecognisers order) took tensor `tensor_idx` as part of its
  /// scheme, e.g. an NVFP4 weight's F8_E4M3 block scales, which are not FP8 weights themselves.
  [[nodiscard]] bool claimed(size_t tensor_idx) const { return claimed_.contains(tensor_idx); }
  /// Index of the tensor named `name`, if present.
  [[nodiscard]] std::optional<size_t> find(const std::string& name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? std::nullopt : std::optional<size_t>(it->second);
  }

  mutable std::shared_ptr<io::TensorData> reader_;
  mutable std::set<size_t> claimed_;  ///< filled by recognise_schemes as each recogniser matches
};

/// Builds the context for `catalog` (notes config.json / quantize_config.json beside the input;
/// they and its reader enforce `limits`).
[[nodiscard]] SchemeContext make_scheme_context(const Catalog& catalog, const Limits& limits = {});

/// A recogniser: nullopt when its scheme is absent; throws amn::Error (Unsupported or Parse,
/// naming file and tensors) when the scheme is present but cannot be dequantised correctly.
using Recogniser = std::optional<SchemeMatch> (*)(const SchemeContext&);

/// Every recogniser's match, merged. A tensor claimed by two schemes is an error. A Conv1D
/// weight's output (is_conv1d_weight) is written transposed, [in, out], as the model holds it:
/// quantisers transpose it to nn.Linear's [out, in] first (transformers before bitsandbytes).
[[nodiscard]] SchemeMatch recognise_schemes(const SchemeContext& context);

/// Whether `name` is a transformers Conv1D weight (pytorch_utils.Conv1D, stored [in, out], the
/// transpose of nn.Linear's): config.json's model_type is gpt2, openai-gpt, imagegpt,
/// decision_transformer or clvp, and the module is c_attn, q_attn, c_proj or c_fc (their heads
/// are nn.Linear).
[[nodiscard]] bool is_conv1d_weight(const SchemeContext& context, const std::string& name);

}  // namespace amn::stages
