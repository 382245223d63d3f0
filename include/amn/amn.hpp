// amn — public entry points: open a model, read its tensors, convert it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "amn/catalog.hpp"
#include "amn/dtype.hpp"
#include "amn/error.hpp"
#include "amn/limits.hpp"

namespace amn {

/// The library version string ("0.1.0").
[[nodiscard]] const char* version();

/// Reads the headers of FILE or DIR (shards, `model.safetensors.index.json`, GGUF splits) and
/// returns the catalog. Never reads tensor data. Throws Error.
[[nodiscard]] Catalog open_model(const std::string& path, const Limits& limits = {});

/// Detects the format of one file by extension, then by magic bytes; nullopt if unknown.
[[nodiscard]] std::optional<Format> detect_format(const std::string& path);

/// Output container for convert/remember.
enum class Target : uint8_t { Safetensors, Gguf };

/// Options for convert/remember.
struct ConvertOptions {
  Target target = Target::Safetensors;
  std::optional<DType> dtype;   ///< narrow/widen float tensors to this (F32/F16/BF16); none = keep
  bool force = false;           ///< replace an existing output
  uint64_t chunk_bytes = 8u << 20;  ///< bytes of one unit of work
};

/// What convert wrote.
struct ConvertResult {
  std::string output;
  uint64_t tensors = 0;
  uint64_t bytes_written = 0;
};

/// Writes `catalog` to `output` in the target format. The output appears atomically under its
/// final name or not at all. Throws Error.
ConvertResult convert(const Catalog& catalog, const std::string& output, const ConvertOptions& options,
                      const Limits& limits = {});

}  // namespace amn

namespace amn {

/// The quantisation scheme recognisable from tensor names, dtypes, shapes and metadata
/// ("GGUF Q4_K", "GPTQ", "AWQ", "FP8 E4M3", "BitsAndBytes NF4", ...), or "" for none.
[[nodiscard]] std::string quant_scheme(const Catalog& catalog);

}  // namespace amn
