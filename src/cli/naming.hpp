// Default output names: a conversion's output is named after its input, with the input's
// quantisation suffix replaced by what the conversion makes ("Llama-3-8B-Q4_K_M.gguf" ->
// "Llama-3-8B-bf16.safetensors", "model-gptq-4bit/" -> "model-bf16/"). One rule, used by
// `remember`/`convert` without -o and by `amn batch` for every model.
#pragma once

#include <filesystem>
#include <string>

#include "amn/amn.hpp"

namespace amn::cli {

/// What a conversion makes, as far as its output's name goes.
struct OutputKind {
  std::string ext;    ///< ".safetensors" or ".gguf"
  std::string label;  ///< replaces the quantisation suffix ("bf16", "Q4_K_M"); "" keeps the name (lossless)
};

/// The kind of output `options` make: remember -> its --dtype (default bf16), convert --quant T
/// -> T, convert --dtype D -> D, a lossless convert -> no label.
[[nodiscard]] OutputKind output_kind(const ConvertOptions& options);

/// `stem` without its trailing quantisation words (Q4_K_M, IQ4_XS, gptq, awq, 4bit, int8, fp8,
/// nf4, bf16, w4a16, ...; each after '-', '_' or '.'); "model" when nothing else is left.
[[nodiscard]] std::string strip_quant_suffix(const std::string& stem);

/// The output name for a model named `name` (a file name, or a directory's name when
/// `directory`): a file gets `STEM-LABEL.EXT`; a directory gets `NAME-LABEL/` for safetensors
/// (a model directory) and `NAME-LABEL.gguf` for GGUF. Split and shard numbers
/// (`-00001-of-00003`) are dropped.
[[nodiscard]] std::string output_name(const std::string& name, bool directory, const OutputKind& kind);

/// The default output of `input` (a file, a directory, an index.json, a split part): beside it,
/// named by output_name. A directory output ends in '/'. Standard input (`-`) and `ollama:NAME:TAG`
/// go into the current directory (`model-bf16.safetensors`, `NAME-TAG-bf16.safetensors`).
[[nodiscard]] std::string default_output(const std::string& input, const OutputKind& kind);

}  // namespace amn::cli
