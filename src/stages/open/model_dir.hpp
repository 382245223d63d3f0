// Hugging Face model directories on the way out: the files beside the weights (config.json,
// tokenizer, generation config, chat template, README) carried into an output directory, with
// config.json edited to describe the weights written there.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "io/output.hpp"

namespace amn::stages {

/// The one rule for which files of a model directory hold weights (never copied beside a
/// conversion's output): what open_model reads (detect_format), a shard index
/// (`*.safetensors.index.json`, `*.bin.index.json`), and other frameworks' weights (`.h5`,
/// `.msgpack`, `.onnx`, `.ckpt`).
[[nodiscard]] bool is_weight_file(const std::filesystem::path& path);

/// How config.json and the side files change on their way into the output directory.
struct ConfigEdit {
  std::vector<std::string> remove;  ///< top-level keys dropped (remember: "quantization_config")
  /// Top-level key and the JSON text of its new value (`"\"bfloat16\""`, `{"quant_method": ...}`):
  /// replaces the key's value where it stands, else is appended. Applied after `remove`.
  std::vector<std::pair<std::string, std::string>> set;
  std::vector<std::string> skip_files;  ///< side files left behind (remember: "quantize_config.json")

  [[nodiscard]] bool empty() const { return remove.empty() && set.empty() && skip_files.empty(); }
};

/// The directory holding the first input file when it is a model directory (it holds a
/// config.json), else empty.
[[nodiscard]] std::filesystem::path model_directory(const Catalog& catalog);

/// The float type (F32, F16 or BF16) holding most elements of `written`, or none.
[[nodiscard]] std::optional<DType> dominant_float_type(const std::vector<formats::OutTensor>& written);

/// The edit that makes config.json describe `written` (the output tensors) when `retyped`
/// (remember or --dtype, which dequantise every scheme): `quantization_config` removed,
/// quantize_config.json / quant_config.json left behind, and `torch_dtype` and `dtype` (the names
/// of transformers 4.x and 5.x) set to the float type (F32/F16/BF16) holding most elements.
/// A lossless convert changes nothing.
[[nodiscard]] ConfigEdit config_edit_for(const std::vector<formats::OutTensor>& written, bool retyped);

/// `config.json` text rewritten under `edit`: numbers kept as written, strings re-escaped,
/// indented by 2. Parsed through the untrusted JSON policy (io/json.hpp); throws Error naming
/// `path` when it is not a JSON object.
[[nodiscard]] std::string edit_config_json(const std::string& path, std::string_view text, const ConfigEdit& edit);

/// The non-weight files of an output model directory, planned before anything is written.
struct ModelDirPlan {
  std::optional<std::string> config_text;  ///< the edited config.json; none: copied as it is
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> copies;  ///< side file → output path
  /// Every output path (config.json first), for existence checks and reports.
  [[nodiscard]] std::vector<std::string> targets(const std::filesystem::path& output_dir) const;
};

/// Plans the side files of `input_dir` (a model directory) for `output_dir`: config.json edited
/// by `edit` (copied as it is when the edit changes nothing), every other regular, non-hidden, non-weight file at its top level copied (except
/// `edit.skip_files`); subdirectories are not carried over. Reads and edits config.json now
/// (under `limits`), so a bad one fails before any output exists.
[[nodiscard]] ModelDirPlan plan_model_dir(const std::filesystem::path& input_dir, const std::filesystem::path& output_dir,
                                          const ConfigEdit& edit, const Limits& limits);

/// The side files written under temporary names (each an io::OutputFile): commit() makes them
/// appear, after the weights; destruction without commit leaves nothing.
class ModelDirOutput {
 public:
  ModelDirOutput(const ModelDirPlan& plan, const std::filesystem::path& output_dir, bool force);
  void commit();

 private:
  std::vector<std::unique_ptr<io::OutputFile>> files_;
};

}  // namespace amn::stages
