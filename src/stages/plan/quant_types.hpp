// amn — which GGUF type each tensor gets under a llama-quantize file type ("Q4_K_M", "IQ2_XS", ...).
//
// Pure functions, no I/O. They reproduce the choices of llama.cpp's llama-quantize
// (src/llama-quant.cpp and tools/quantize/quantize.cpp at llama.cpp 0c1e570): which tensors are
// quantised at all, the per-tensor mixture of each file type, `--pure`, the changes an
// importance matrix makes, the per-tensor overrides (--output-tensor-type, --token-embedding-type,
// --leave-output-tensor, --tensor-type) and the fallback when a row does not fill whole blocks.
// Tensor names are GGUF names ("blk.3.ffn_down.weight"); shapes are amn's (row-major, the last
// dimension is ggml's ne[0]).
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amn/catalog.hpp"
#include "amn/dtype.hpp"

namespace amn::quant {

/// A llama.cpp file type (enum llama_ftype); the value is what `general.file_type` holds.
enum class FileType : uint32_t {
  ALL_F32 = 0, MOSTLY_F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9,
  Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17,
  Q6_K = 18, IQ2_XXS = 19, IQ2_XS = 20, Q2_K_S = 21, IQ3_XS = 22, IQ3_XXS = 23, IQ1_S = 24, IQ4_NL = 25,
  IQ3_S = 26, IQ3_M = 27, IQ2_S = 28, IQ2_M = 29, IQ4_XS = 30, IQ1_M = 31, MOSTLY_BF16 = 32,
  TQ1_0 = 36, TQ2_0 = 37, MXFP4_MOE = 38, Q1_0 = 40, Q2_0 = 41,
};

/// One name llama-quantize accepts for its type argument.
struct FileTypeName {
  std::string_view name;  ///< as llama-quantize lists it ("Q4_K_M", alias "Q4_K", "COPY")
  FileType ftype;
};

/// Every name llama-quantize accepts, in its order (aliases Q3_K/Q4_K/Q5_K and COPY included).
[[nodiscard]] std::span<const FileTypeName> file_type_names();

/// What a parsed type argument asks for.
struct ParsedFileType {
  FileType ftype;
  std::string_view name;  ///< the listed spelling ("q4_k_m" -> "Q4_K_M"; "15" -> "Q4_K", listed first)
  bool copy = false;      ///< "COPY": every tensor is copied unchanged (file type then is the input's)
};

/// Parses a type argument as llama-quantize does: a listed name, case-insensitively, or a file
/// type number ("15"; the first listed name with that number). Throws Error(Usage) listing the
/// valid names.
[[nodiscard]] ParsedFileType parse_file_type(std::string_view text);

/// The canonical name of `ftype` ("Q4_K_M"; "F16"/"BF16"/"F32" for the float types).
[[nodiscard]] std::string_view file_type_name(FileType ftype);

/// The type most tensors get (llama.cpp's llama_ftype_get_default_type): Q4_K for Q4_K_M,
/// IQ2_XS for IQ2_S, IQ3_S for IQ3_XS/IQ3_M, MXFP4 for MXFP4_MOE, ...
[[nodiscard]] DType default_type(FileType ftype);

/// True when a tensor named `name` quantised to `type` under `ftype` must have importance-matrix
/// data (llama-quantize refuses without one): IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, and
/// Q2_K within a Q2_K_S file; never token_embd/per_layer_token_embd/output.
[[nodiscard]] bool tensor_needs_imatrix(std::string_view name, DType type, FileType ftype);

/// True for the types ggml cannot quantise at all without importance data (IQ2_XXS, IQ2_XS,
/// IQ1_S): llama-quantize aborts (GGML_ASSERT) on any such tensor the imatrix has no entry for —
/// token_embd always, output.weight unless llama-imatrix ran with --process-output — which
/// `--pure` with IQ2_XXS/IQ2_XS/IQ2_S/IQ1_S always hits.
[[nodiscard]] bool type_needs_imatrix_data(DType type);

/// True when some tensor of a typical model needs an imatrix under `ftype` (with `pure`): the
/// usage check before any tensor is known. choose_types() is exact for a given model.
[[nodiscard]] bool file_type_needs_imatrix(FileType ftype, bool pure);

/// The model facts the mixtures depend on. model_facts() reads them from GGUF metadata.
struct ModelFacts {
  std::string arch;         ///< general.architecture ("llama", "qwen2", "falcon", ...)
  uint32_t n_layer = 0;     ///< {arch}.block_count
  uint32_t n_expert = 0;    ///< {arch}.expert_count; 0 for a dense model
  uint32_t n_head = 0;      ///< {arch}.attention.head_count (layer 0 when per layer)
  uint32_t n_head_kv = 0;   ///< {arch}.attention.head_count_kv (layer 0; defaults to n_head)
  bool type_70b = false;    ///< llama.cpp sizes the model as LLM_TYPE_70B (attn_v gets more bits)
};

/// Facts from a GGUF catalog's metadata. Throws Error(Unsupported) when general.architecture or
/// {arch}.block_count is missing.
[[nodiscard]] ModelFacts model_facts(const Catalog& catalog);

/// Whether llama.cpp sizes a model with these facts as 70B (llama with 80 layers and grouped
/// KV heads; deci, olmo, qwen2 with 80 layers; jais2 with 68). `n_layer` excludes MTP layers.
[[nodiscard]] bool is_type_70b(std::string_view arch, uint32_t n_layer, uint32_t n_expert, uint32_t n_head,
                               uint32_t n_head_kv);

/// Parses a type for one tensor as llama-quantize's --output-tensor-type, --token-embedding-type
/// and --tensor-type do: a ggml type name, case-insensitively ("q8_0", "Q6_K", "f16"). Only the
/// types ggml can quantise into are accepted (F32, F16, BF16 and the block types but Q8_1/Q8_K).
/// Throws Error(Usage) naming `option`.
[[nodiscard]] DType parse_tensor_type(std::string_view text, std::string_view option);

/// One --tensor-type PATTERN=TYPE rule: TYPE for the tensors whose name `regex` matches somewhere
/// (std::regex_search, ECMAScript), PATTERN lower-cased first as llama-quantize does.
struct TensorTypeRule {
  std::regex regex;
  DType type;
};

/// Parses "PATTERN=TYPE" (split at the first '='). Throws Error(Usage) naming --tensor-type when
/// either side is empty, TYPE is not a parse_tensor_type() name or PATTERN is not a regex.
[[nodiscard]] TensorTypeRule parse_tensor_type_rule(std::string_view text);

/// How a conversion is asked to quantise.
struct QuantRequest {
  FileType ftype = FileType::Q8_0;
  bool pure = false;     ///< --pure: every quantised tensor gets default_type(ftype) (fallback still applies)
  bool imatrix = false;  ///< an importance matrix is supplied
  bool copy = false;     ///< COPY: nothing is quantised
};

/// llama-quantize's per-tensor overrides.
///
/// They take precedence as in llama-quantize: a tensor it does not quantise
/// (norms, ...; output.weight under `leave_output`) keeps its type; then `token_embd_type` for
/// token_embd/per_layer_token_embd (unless a rule names per_layer_token_embd) and `output_type`
/// for output.weight, as given, no fallback; then, when default_type(ftype) is a block type, the
/// first matching rule, with the row-size fallback and without the mixture (its counters do not
/// advance); else --pure or the mixture, where an embedding tied to the output takes
/// `output_type` (with the fallback). general.file_type stays `ftype` whatever the overrides.
struct TensorOverrides {
  std::optional<DType> output_type;      ///< --output-tensor-type
  std::optional<DType> token_embd_type;  ///< --token-embedding-type
  bool leave_output = false;             ///< --leave-output-tensor: output.weight is not quantised
  std::vector<TensorTypeRule> rules;     ///< --tensor-type, in the order given (the first match wins)
};

/// One tensor as the chooser sees it.
struct TensorRef {
  std::string_view name;
  std::span<const int64_t> shape;  ///< row-major; shape.back() is ggml's ne[0]
  DType dtype;                     ///< the type it is stored in now
};

/// The choice for one tensor.
struct TensorChoice {
  bool quantizable = false;  ///< llama-quantize considers it at all (2-D+ weights, not norms, ...)
  DType type = DType::F32;   ///< its type in the output (== the input dtype when not quantizable)
  /// The type the mixture asked for before the row-size fallback; differs from `type` exactly
  /// when llama-quantize warns "ncols N not divisible by B (required for type T)".
  DType wanted = DType::F32;
  bool fallback = false;       ///< the fallback applied (one warning line; counted in its summary)
  bool fallback_f16 = false;   ///< ... and even the fallback type did not fit: F16 ("unusual shape")
  bool needs_imatrix = false;  ///< tensor_needs_imatrix(name, type, ftype)
};

/// Whether llama-quantize quantises a tensor at all (tensor_allows_quantization): at least two
/// non-trivial dims, name ending in "weight", not a norm, not ffn_gate_inp, positional or
/// token-type embeddings, conv1d, RWKV small weights, T5 relative bias, vision/audio pieces, ...
[[nodiscard]] bool allows_quantization(std::string_view arch, std::string_view name,
                                       std::span<const int64_t> shape);

/// The order llama-quantize walks (and writes) the tensors: by layer number of a "blk.N." prefix
/// (tensors without one first), then by name (byte order). Returns indexes into `names`.
[[nodiscard]] std::vector<size_t> quantize_order(std::span<const std::string_view> names);

/// Each tensor's output type, in the order of `tensors`. The mixture counters (attn_v seen so
/// far, ...) advance in quantize_order(), as in llama-quantize. Throws Error(Unsupported) where
/// llama-quantize fails (no fallback for a type; bad layer number in an expert model; a row that
/// does not fill whole blocks of an --output-tensor-type/--token-embedding-type).
[[nodiscard]] std::vector<TensorChoice> choose_types(const ModelFacts& facts, std::span<const TensorRef> tensors,
                                                     const QuantRequest& request, const TensorOverrides& overrides = {});

}  // namespace amn::quant
