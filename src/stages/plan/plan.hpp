// The output plan: every output tensor, its dtype, what turns input bytes into output bytes,
// and (after layout) its final offset.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amn/amn.hpp"
#include "formats/formats.hpp"
#include "stages/open/model_dir.hpp"
#include "stages/schemes/schemes.hpp"
#include "stages/engine/source.hpp"

namespace amn::stages {

/// One output tensor and what writes its bytes.
struct PlannedTensor {
  size_t source = 0;           ///< index into Catalog::tensors (a scheme output's anchor)
  DType in_dtype = DType::F32; ///< the input tensor's dtype
  formats::OutTensor out;      ///< name, dtype, shape, nbytes, offset (after layout)
  std::shared_ptr<const TensorSource> producer;  ///< copy, cast, dequantise, quantise, encode
};

/// The whole output, decided before any data moves.
struct Plan {
  std::vector<PlannedTensor> tensors;
  std::string scheme;          ///< multi-tensor schemes dequantised ("" when none)
  /// KV pairs that replace the input's in a GGUF output, or in GGUF metadata carried into a
  /// safetensors output (llama-quantize's rule: the key is removed and appended after the
  /// others), e.g. general.file_type for the types written.
  std::vector<MetaEntry> gguf_updates;
  /// A model-directory output: how config.json and the side files change (model_dir.hpp). An
  /// encoder's plan sets `quantization_config` here.
  ConfigEdit config_edit;
  std::vector<std::string> warnings;  ///< for the person running it (the CLI prints them)
};

/// Chooses each tensor's output dtype and transform; refuses what the target cannot hold.
[[nodiscard]] Plan make_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits);

/// The planned output for input tensor `tensor_idx` turned into `to` (nullopt or the same type:
/// copied as is): a float cast, a GGUF dequantisation, or f32 rows quantised into a block type
/// (with `imatrix`, importance weights, when given). Refuses, naming the file and tensor, what amn
/// cannot convert.
[[nodiscard]] PlannedTensor plan_tensor_as(const Catalog& catalog, size_t tensor_idx, std::optional<DType> to,
                                           std::shared_ptr<const std::vector<float>> imatrix = {});

/// Sets `planned.out.nbytes`; refuses a type the target cannot hold or a size that overflows.
void size_output(PlannedTensor& planned, const std::string& file, Target target);

// ---- GGUF outputs (gguf_plan.cpp): llama.cpp's rules for what is narrowed or quantised ------

/// The type a GGUF output gives `tensor` under `--dtype to`: `to` for what llama-quantize would
/// quantise (2-D+ weights, not norms, ...), else the tensor's own type, except that 1-D float
/// tensors become F32 (llama.cpp's kernels need F32 norms; convert_hf_to_gguf.py writes them so).
[[nodiscard]] std::optional<DType> gguf_float_type(const Catalog& catalog, const Tensor& tensor, DType to);

/// general.quantization_version and general.file_type for a GGUF whose tensors were narrowed to
/// F32, F16 or BF16.
[[nodiscard]] std::vector<MetaEntry> gguf_file_type_updates(DType to);

/// The plan of `convert --quant`: every tensor typed as llama-quantize types it (quant_types.hpp),
/// in llama-quantize's tensor order, with the importance matrix's rows attached and the KV pairs
/// llama-quantize sets.
[[nodiscard]] Plan make_quant_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits);

/// The plan of `convert --to bnb-nf4|bnb-fp4|bnb-int8|fp8` (encoders/): every Linear weight
/// replaced by its encoded tensors where it stood, the rest kept, and config.json's
/// quantization_config set as the defining library writes it.
[[nodiscard]] Plan make_encode_plan(const Catalog& catalog, const ConvertOptions& options, const Limits& limits);

}  // namespace amn::stages
